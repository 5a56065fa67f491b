package durable

import (
	"os"
	"path/filepath"
	"syscall"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// In a group-readable directory new files and directories are group-readable, whatever
// the umask; in a private one they stay private. Nothing is ever group-writable.
func TestGroupReadableFollowsDirectory(t *testing.T) {
	old := syscall.Umask(0o077) // the strictest usual umask must not undo the sharing
	defer syscall.Umask(old)
	for _, c := range []struct {
		dirMode        os.FileMode
		file, dir, log os.FileMode
	}{
		{0o700, 0o600, 0o700, 0o600},
		{0o755, 0o600, 0o700, 0o600}, // readable, but not shared (no set-group-ID bit)
		{0o750 | os.ModeSetgid, 0o640, 0o750 | os.ModeSetgid, 0o640},
	} {
		root := filepath.Join(t.TempDir(), "c")
		if err := os.Mkdir(root, 0o700); err != nil {
			t.Fatal(err)
		}
		if err := os.Chmod(root, c.dirMode); err != nil {
			t.Fatal(err)
		}
		if err := WriteFile(filepath.Join(root, "f"), []byte("x"), 0o600); err != nil {
			t.Fatal(err)
		}
		if err := MkdirAll(filepath.Join(root, "a", "b"), 0o700); err != nil {
			t.Fatal(err)
		}
		f, err := OpenFile(filepath.Join(root, "a", "b", "log"), os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o600)
		if err != nil {
			t.Fatal(err)
		}
		f.Close()
		tmp, err := MkdirTemp(root, "t.")
		if err != nil {
			t.Fatal(err)
		}
		mode := func(p string) os.FileMode {
			fi, err := os.Stat(p)
			if err != nil {
				t.Fatal(err)
			}
			return fi.Mode() & (os.ModePerm | os.ModeSetgid)
		}
		got := []os.FileMode{mode(filepath.Join(root, "f")), mode(filepath.Join(root, "a")), mode(filepath.Join(root, "a", "b")),
			mode(filepath.Join(root, "a", "b", "log")), mode(tmp)}
		want := []os.FileMode{c.file, c.dir, c.dir, c.log, c.dir}
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("in a %v directory (-want +got):\n%s", c.dirMode, diff)
		}
	}
}
