package migrate

import (
	"errors"
	"os"
	"path/filepath"
	"syscall"
	"testing"

	"migrator/lfs"
)

// walkNoFollow accepts only a path of real directories ending in a regular file.
func TestWalkNoFollow(t *testing.T) {
	root := t.TempDir()
	real := filepath.Join(root, "a", "b", "f")
	must(t, os.MkdirAll(filepath.Dir(real), 0o755))
	must(t, os.WriteFile(real, []byte("x"), 0o644))
	must(t, os.Symlink(filepath.Join(root, "a"), filepath.Join(root, "dirlink")))
	must(t, os.Symlink(real, filepath.Join(root, "a", "b", "filelink")))
	must(t, syscall.Mkfifo(filepath.Join(root, "a", "fifo"), 0o644))
	cases := []struct {
		path    string
		swapped bool
		gone    bool
	}{
		{real, false, false},
		{filepath.Join(root, "dirlink", "b", "f"), true, false},
		{filepath.Join(root, "a", "b", "filelink"), true, false},
		{filepath.Join(root, "a", "fifo"), true, false},
		{filepath.Join(root, "a", "b", "f", "x"), true, false}, // a file where a directory was
		{filepath.Join(root, "a", "b"), true, false},           // a directory where the file was
		{root + "/a/../a/b/f", true, false},
		{"a/b/f", true, false},
		{filepath.Join(root, "a", "gone"), false, true},
		{filepath.Join(root, "gone", "b", "f"), false, true},
	}
	st, err := os.Stat(real)
	must(t, err)
	for _, c := range cases {
		w, err := walkNoFollow(c.path)
		switch {
		case c.swapped != errors.Is(err, errSwapped), c.gone != lfs.IsGone(err):
			t.Errorf("%s: %v; want swapped %v, gone %v", c.path, err, c.swapped, c.gone)
		case err == nil && w.ino != st.Sys().(*syscall.Stat_t).Ino:
			t.Errorf("%s: inode %d, want %d", c.path, w.ino, st.Sys().(*syscall.Stat_t).Ino)
		}
	}
}
