// Package testbin builds the project's commands for tests that exec them, once per test
// process. Call Cleanup from TestMain to remove them.
package testbin

import (
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"sync"
	"testing"
)

var (
	mu    sync.Mutex
	dir   string
	built = map[string]string{}
)

// Build compiles the main package at pkg (a path relative to the module root, such as
// "cmd/lfs-sim") and returns the binary's path. The name of the binary is the last element
// of pkg. A failed build fails the test.
func Build(t testing.TB, pkg string) string {
	t.Helper()
	mu.Lock()
	defer mu.Unlock()
	if p, ok := built[pkg]; ok {
		return p
	}
	if dir == "" {
		d, err := os.MkdirTemp("", "migrator-testbin-")
		if err != nil {
			t.Fatal(err)
		}
		dir = d
	}
	out := filepath.Join(dir, filepath.Base(pkg))
	cmd := exec.Command("go", "build", "-o", out, "./"+pkg)
	cmd.Dir = ModuleRoot(t)
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build ./%s: %v\n%s", pkg, err, b)
	}
	built[pkg] = out
	return out
}

// Dir returns the directory holding built binaries ("" before the first Build), for tests
// that put them on PATH.
func Dir() string {
	mu.Lock()
	defer mu.Unlock()
	return dir
}

// Cleanup removes every binary built by this process.
func Cleanup() {
	mu.Lock()
	defer mu.Unlock()
	if dir != "" {
		os.RemoveAll(dir)
		dir = ""
		built = map[string]string{}
	}
}

// ModuleRoot returns the repository's root directory.
func ModuleRoot(t testing.TB) string {
	_, file, _, ok := runtime.Caller(0)
	if !ok {
		t.Fatal("cannot locate the module root")
	}
	return filepath.Clean(filepath.Join(filepath.Dir(file), "..", ".."))
}
