// Package treelfs is an lfs stand-in for package tests that need no simulator process: it
// serves an ordinary directory tree in-process, every regular file on OST 1 with its inode
// number as its FID. It is not a model of Lustre (package lfssim is); only tests use it.
package treelfs

import (
	"context"
	"io/fs"
	"path/filepath"
	"syscall"

	"migrator/lfs"
)

// LFS is lfs over a real tree: every regular file is on OST 1, its FID its inode.
type LFS struct{}

// Find walks each root and calls fn with every regular file.
func (LFS) Find(_ context.Context, roots []string, _ lfs.FindOptions, fn func(string) error) error {
	for _, r := range roots {
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

// FindAmong says every file matches.
func (LFS) FindAmong(_ context.Context, files []string, _ lfs.FindOptions) ([]bool, error) {
	m := make([]bool, len(files))
	for i := range m {
		m[i] = true
	}
	return m, nil
}

// FileInfoOn describes each file that exists: FID from its inode, on OST 1.
func (LFS) FileInfoOn(_ context.Context, files []string, _ lfs.OSTList) ([]lfs.FileInfoResult, error) {
	res := make([]lfs.FileInfoResult, len(files))
	for i, f := range files {
		var st syscall.Stat_t
		if err := syscall.Lstat(f, &st); err != nil {
			continue
		}
		res[i] = lfs.FileInfoResult{OK: true, Info: lfs.FileInfo{FID: lfs.FID{Seq: 0x200000400, Oid: uint32(st.Ino)},
			Size: uint64(st.Size), Nlink: uint32(st.Nlink), OSTs: []uint32{1}}}
	}
	return res, nil
}

// FileInfoCompat is FileInfoOn.
func (t LFS) FileInfoCompat(ctx context.Context, files []string, osts lfs.OSTList) ([]lfs.FileInfoResult, error) {
	return t.FileInfoOn(ctx, files, osts)
}

// Version, DF and PoolMembers answer nothing: the tests that use LFS do not ask.
func (LFS) Version(context.Context) (lfs.Version, error)                     { return lfs.Version{}, nil }
func (LFS) DF(context.Context, string) ([]lfs.TargetSpace, error)            { return nil, nil }
func (LFS) PoolMembers(context.Context, string, string) (lfs.OSTList, error) { return nil, nil }
