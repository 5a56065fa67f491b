package scan

import (
	"context"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"

	"github.com/google/go-cmp/cmp"

	"migrator/lfs"
	"migrator/manifest"
)

// vanishLFS is lfs over a real tree in which a directory is removed by a user as soon as
// the first lfs find starts: lfs find over a missing operand fails with ENOENT ("failed
// for", lfs_find() in lfs.c), as over a dangling symlink.
type vanishLFS struct {
	remove string // removed at the first Find
	done   bool
}

func (v *vanishLFS) Find(_ context.Context, roots []string, o lfs.FindOptions, fn func(string) error) error {
	if !v.done {
		v.done = true
		os.RemoveAll(v.remove)
	}
	for _, r := range roots {
		if _, err := os.Stat(r); err != nil {
			return &lfs.ExitError{Args: []string{"find", r}, Code: int(syscall.ENOENT), Stderr: "lfs: failed for '" + r + "': No such file or directory"}
		}
		err := filepath.WalkDir(r, func(p string, d fs.DirEntry, err error) error {
			if err == nil && d.Type().IsRegular() {
				return fn(p)
			}
			return err
		})
		if err != nil {
			return err
		}
	}
	return nil
}

func (v *vanishLFS) FindAmong(_ context.Context, files []string, o lfs.FindOptions) ([]bool, error) {
	m := make([]bool, len(files))
	for i := range m {
		m[i] = true
	}
	return m, nil
}

func (v *vanishLFS) FileInfoOn(_ context.Context, files []string, _ lfs.OSTList) ([]lfs.FileInfoResult, error) {
	res := make([]lfs.FileInfoResult, len(files))
	for i := range files {
		res[i] = lfs.FileInfoResult{OK: true, Info: lfs.FileInfo{FID: lfs.FID{Seq: 0x200000400, Oid: uint32(i + 1)}, Nlink: 1, OSTs: []uint32{2}}}
	}
	return res, nil
}

func (v *vanishLFS) FileInfoCompat(context.Context, []string, lfs.OSTList) ([]lfs.FileInfoResult, error) {
	panic("unused")
}

// A subtree removed between the split and its own lfs find holds nothing to drain: the scan
// goes on without it instead of failing the plan after its retries.
func TestSubtreeRemovedBeforeItsFind(t *testing.T) {
	dir := t.TempDir()
	for _, f := range []string{"a/f1", "b/f2", "c/f3"} {
		p := filepath.Join(dir, f)
		os.MkdirAll(filepath.Dir(p), 0o755)
		os.WriteFile(p, nil, 0o644)
	}
	v := &vanishLFS{remove: filepath.Join(dir, "c")}
	var got []string
	var st Stats
	err := Run(context.Background(), v, Options{Roots: []string{dir}, Find: lfs.FindOptions{OSTs: lfs.OSTList{2}}, Units: 3,
		Workers: 1, SpoolDir: t.TempDir(), RetryWait: 1}, &st, func(es []manifest.Entry) error {
		for _, e := range es {
			got = append(got, strings.TrimPrefix(e.Path, dir))
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]string{"/a/f1", "/b/f2"}, got); diff != "" {
		t.Errorf("entries (-want +got):\n%s", diff)
	}
}

// churnLFS is lfs over a busy tree: every walk of failDir meets a subdirectory removed
// under it, and lfs find exits with ENOENT after printing what it saw
// (llapi_semantic_traverse() keeps the first error). Walks of anything below succeed.
type churnLFS struct {
	vanishLFS
	failDir string
	walks   []string
}

func (c *churnLFS) Find(ctx context.Context, roots []string, o lfs.FindOptions, fn func(string) error) error {
	c.walks = append(c.walks, roots...)
	if err := c.vanishLFS.Find(ctx, roots, o, fn); err != nil {
		return err
	}
	if roots[0] == c.failDir {
		return &lfs.ExitError{Args: []string{"find", roots[0]}, Code: int(syscall.ENOENT),
			Stderr: "lfs find: llapi_semantic_traverse: Failed to open '" + c.failDir + "/tmp.123': No such file or directory (2)"}
	}
	return nil
}

// A subtree in which some directory vanishes during every walk (a busy filesystem) is
// scanned piecewise, its files as loose files and each subdirectory on its own, instead of
// failing the plan after its retries.
func TestSubtreeWithChurnIsScannedPiecewise(t *testing.T) {
	dir := t.TempDir()
	for _, f := range []string{"f1", "sub/f2", "sub/deeper/f3", "z/f4"} {
		p := filepath.Join(dir, f)
		os.MkdirAll(filepath.Dir(p), 0o755)
		os.WriteFile(p, nil, 0o644)
	}
	c := &churnLFS{vanishLFS: vanishLFS{done: true}, failDir: dir}
	var got []string
	var st Stats
	err := Run(context.Background(), c, Options{Roots: []string{dir}, Find: lfs.FindOptions{OSTs: lfs.OSTList{2}}, Units: 1,
		Workers: 1, SpoolDir: t.TempDir(), RetryWait: 1}, &st, func(es []manifest.Entry) error {
		for _, e := range es {
			got = append(got, strings.TrimPrefix(e.Path, dir))
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	slices.Sort(got)
	if diff := cmp.Diff([]string{"/f1", "/sub/deeper/f3", "/sub/f2", "/z/f4"}, got); diff != "" {
		t.Errorf("entries (-want +got):\n%s", diff)
	}
}
