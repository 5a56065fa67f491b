package lfssim_test

import (
	"context"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/google/go-cmp/cmp"

	"migrator/lfs"
)

// lfs fid2path (lustre/utils/lfs.c, lfs_fid2path): every name of each FID, in argument
// order, under the mount point; an unknown FID is ENOENT and the others still answer.
func TestContractFIDToPath(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	var files []string
	for _, n := range hostileNames {
		files = append(files, e.file(filepath.Join("d", n), "x", 0))
	}
	link := filepath.Join(e.dir, "other", "hardlink")
	os.MkdirAll(filepath.Dir(link), 0o755)
	if err := os.Link(files[0], link); err != nil {
		t.Fatal(err)
	}
	gone := e.file("gone", "x", 1)
	fr, err := e.c.PathToFID(ctx, append(append([]string{}, files...), gone))
	if err != nil {
		t.Fatal(err)
	}
	var fids []lfs.FID
	for _, r := range fr {
		fids = append(fids, r.FID)
	}
	os.Remove(gone)
	// A directory renamed after the FIDs were taken: the names follow it.
	moved := filepath.Join(e.dir, "renamed")
	if err := os.Rename(filepath.Join(e.dir, "d"), moved); err != nil {
		t.Fatal(err)
	}
	for _, nul := range []bool{true, false} {
		res, err := e.c.FIDToPath(ctx, e.dir, fids, nul)
		if err != nil {
			t.Fatalf("nul=%v: %v", nul, err)
		}
		for i, n := range hostileNames {
			want := []string{filepath.Join(moved, n)}
			if i == 0 {
				want = []string{link, filepath.Join(moved, n)}
			}
			got := slices.Clone(res[i].Paths)
			slices.Sort(got)
			if res[i].Err != nil || !cmp.Equal(got, want) {
				t.Errorf("nul=%v %q: got %q (%v), want %q", nul, n, got, res[i].Err, want)
			}
		}
		last := res[len(res)-1]
		if !last.Gone() || len(last.Paths) != 0 {
			t.Errorf("nul=%v removed file: %+v, want ENOENT", nul, last)
		}
	}
	// Alone, and when every FID is unknown.
	res, err := e.c.FIDToPath(ctx, e.dir, fids[len(fids)-1:], true)
	if err != nil || !res[0].Gone() {
		t.Errorf("alone: %+v %v", res, err)
	}
}

// A root that is not in a Lustre filesystem fails the whole call, not each FID.
func TestContractFIDToPathBadRoot(t *testing.T) {
	e := newEnv(t)
	_, err := e.c.FIDToPath(context.Background(), filepath.Join(e.dir, "no-such-dir"), []lfs.FID{{Seq: 0x200000400, Oid: 1}}, true)
	if err == nil {
		t.Fatal("no error for a root that does not exist")
	}
}

// lfs df -i (lfs.c, showdf): one line per OST with Inodes, IUsed, IFree.
func TestContractDFInodes(t *testing.T) {
	e := newEnv(t)
	ts, err := e.c.DFInodes(context.Background(), e.dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(ts) == 0 {
		t.Fatal("no OST lines")
	}
	for _, x := range ts {
		if x.Total == 0 || x.Used+x.Free > x.Total+1 {
			t.Errorf("%+v: inconsistent counts", x)
		}
	}
}
