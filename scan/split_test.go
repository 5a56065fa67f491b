package scan

import (
	"fmt"
	"os"
	"path/filepath"
	"syscall"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func mkfiles(t *testing.T, dir string, n int) {
	t.Helper()
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	for i := range n {
		if err := os.WriteFile(filepath.Join(dir, fmt.Sprintf("f%05d", i)), nil, 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

// A small directory is listed and split; a huge one is handed whole to lfs find, so its
// names are never held in memory, unless an exclude inside forces a split.
func TestSplitHugeDirectory(t *testing.T) {
	root := t.TempDir()
	small, huge := filepath.Join(root, "small"), filepath.Join(root, "huge")
	mkfiles(t, small, 3)
	mkfiles(t, filepath.Join(small, "sub"), 1)
	mkfiles(t, huge, maxSplitEntries+1)
	mkfiles(t, filepath.Join(huge, "sub"), 1)

	type got struct {
		Dirs  []string
		Loose int
	}
	run := func(excludes ...string) got {
		units, loose, err := split([]string{root}, excludes, 100, &Stats{})
		if err != nil {
			t.Fatal(err)
		}
		var g got
		for _, u := range units {
			g.Dirs = append(g.Dirs, u.dir)
		}
		g.Loose = len(loose)
		return g
	}
	// Everything small is listed down to its files (the target of 100 units is far away).
	want := got{Dirs: []string{huge}, Loose: 4}
	if diff := cmp.Diff(want, run()); diff != "" {
		t.Errorf("split (-want +got):\n%s", diff)
	}
	// Excluding huge/sub means huge must be listed: its files become loose, sub is left out.
	want = got{Loose: 4 + maxSplitEntries + 1}
	if diff := cmp.Diff(want, run(filepath.Join(huge, "sub"))); diff != "" {
		t.Errorf("split with an exclude in the huge directory (-want +got):\n%s", diff)
	}
}

// Only regular files become lfs find operands: lfs find opens each operand
// (llapi_semantic_traverse()) and a dangling symlink fails the call with ENOENT. A scan
// path that is a symlink to a directory is followed under its own name, as lfs find
// follows a symlinked operand; one to anything else is refused.
func TestSplitOperandsAreRegularFiles(t *testing.T) {
	base := t.TempDir()
	real := filepath.Join(base, "real")
	mkfiles(t, real, 2)
	mkfiles(t, filepath.Join(real, "sub"), 1)
	for name, target := range map[string]string{"dangling": "nowhere", "tofile": "f00000", "todir": "sub"} {
		if err := os.Symlink(filepath.Join(real, target), filepath.Join(real, name)); err != nil {
			t.Fatal(err)
		}
	}
	if err := syscall.Mkfifo(filepath.Join(real, "fifo"), 0o644); err != nil {
		t.Fatal(err)
	}
	link := filepath.Join(base, "link")
	if err := os.Symlink(real, link); err != nil {
		t.Fatal(err)
	}
	for _, root := range []string{real, link} {
		units, loose, err := split([]string{root}, nil, 100, &Stats{})
		if err != nil {
			t.Fatal(err)
		}
		want := []string{root + "/f00000", root + "/f00001", root + "/sub/f00000"}
		if diff := cmp.Diff(want, loose); diff != "" || len(units) != 0 {
			t.Errorf("split %s: units %v, loose (-want +got):\n%s", root, units, diff)
		}
	}
	// Few units wanted: the symlinked root is handed to lfs find whole, by its own name.
	units, _, err := split([]string{link}, nil, 1, &Stats{})
	if err != nil || len(units) != 1 || units[0].dir != link {
		t.Errorf("split %s into one unit: %+v, %v", link, units, err)
	}
	for _, bad := range []string{filepath.Join(real, "dangling"), filepath.Join(real, "tofile")} {
		if _, _, err := split([]string{bad}, nil, 100, &Stats{}); err == nil {
			t.Errorf("scan path %s was accepted", bad)
		}
	}
}
