package scan

import (
	"fmt"
	"os"
	"path/filepath"
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
