package lfssim_test

import (
	"context"
	"os"
	"path/filepath"
	"testing"

	"migrator/lfs"
	"migrator/lfssim"
)

// lfs migrate follows symbolic links: migrate_open_files() (lfs.c) opens the operand with
// open(name, O_RDWR | O_NOATIME | O_DIRECT), without O_NOFOLLOW, and everything after reads
// the opened file (llapi_layout_get_by_fd()). So a symlink operand, or a symlink to a
// directory on its path, migrates the file it leads to, and restores it when released.
func TestContractMigrateFollowsSymlinks(t *testing.T) {
	e := newEnv(t, "LFS_SIM_NOCREATE=1")
	e.simOnly() // Restored is the simulator's record
	cases := []struct {
		name     string
		released bool
		operand  func(target string) string
	}{
		{"last component", false, func(target string) string {
			l := filepath.Join(e.dir, "link-"+filepath.Base(target))
			must(t, os.Symlink(target, l))
			return l
		}},
		{"directory on the way", false, func(target string) string {
			l := filepath.Join(e.dir, "dirlink-"+filepath.Base(target))
			must(t, os.Symlink(filepath.Dir(target), l))
			return filepath.Join(l, filepath.Base(target))
		}},
		{"released target", true, func(target string) string {
			l := filepath.Join(e.dir, "link-released")
			must(t, os.Symlink(target, l))
			return l
		}},
	}
	for i, tc := range cases {
		t.Run(tc.name, func(t *testing.T) { // e.lfs and e.file fail the parent test
			target := e.file(filepath.Join("real"+itoa(i), "f"), "data", 1)
			if tc.released {
				cfg, err := lfssim.ConfigFromEnv(func(k string) string { return map[string]string{"LFS_SIM_OSTS": "8"}[k] })
				must(t, err)
				must(t, lfssim.Release(cfg, target, 1))
			}
			op := tc.operand(target)
			res, err := e.c.Migrate(context.Background(), lfs.MigrateOptions{}, []string{op})
			if err != nil || res[0].Status != lfs.MigrateOK {
				t.Fatalf("migrate %s: %+v, %v", op, res, err)
			}
			l, err := e.c.GetLayout(context.Background(), target)
			must(t, err)
			if l.OnAny(lfs.OSTList{1}) {
				t.Errorf("the target is still on OST 1: %v", l.OSTs())
			}
			if r, _ := lfssim.Restored(target); r != tc.released {
				t.Errorf("restored = %v, want %v", r, tc.released)
			}
		})
	}
}

// MOUNT/.lustre/fid/FID names the file by FID (obf_lookup() in mdd_device.c), for migrate
// and hsm_state, when the tree's root holds .lustre/fid; a FID with no file is ENOENT.
func TestContractDotLustreFID(t *testing.T) {
	e := newEnv(t, "LFS_SIM_NOCREATE=1")
	e.simOnly()
	must(t, os.MkdirAll(filepath.Join(e.dir, ".lustre", "fid"), 0o755))
	p := e.file("d/f", "data", 1)
	fid, err := lfssim.FIDOf(p)
	must(t, err)
	op := filepath.Join(e.dir, ".lustre", "fid", fid.String())
	hs, err := e.c.HSMStates(context.Background(), []string{op})
	if err != nil || hs[0].Err != nil {
		t.Fatalf("hsm_state %s: %+v %v", op, hs, err)
	}
	res, err := e.c.Migrate(context.Background(), lfs.MigrateOptions{}, []string{op})
	if err != nil || res[0].Status != lfs.MigrateOK {
		t.Fatalf("migrate %s: %+v, %v", op, res, err)
	}
	if l, _ := e.c.GetLayout(context.Background(), p); l.OnAny(lfs.OSTList{1}) {
		t.Errorf("still on OST 1: %v", l.OSTs())
	}
	gone := filepath.Join(e.dir, ".lustre", "fid", lfs.FID{Seq: 0x200000400, Oid: 0xfffffff}.String())
	res, err = e.c.Migrate(context.Background(), lfs.MigrateOptions{}, []string{gone})
	if err != nil || res[0].Status != lfs.MigrateFailed || res[0].Class() != lfs.ClassVanished {
		t.Errorf("migrate of a FID with no file: %+v, %v", res, err)
	}
	names, err := e.c.FIDToPath(context.Background(), e.dir, []lfs.FID{fid}, false)
	if err != nil || len(names[0].Paths) != 1 || names[0].Paths[0] != p {
		t.Errorf("fid2path lists %+v (%v); want only %s, not the .lustre tree", names, err, p)
	}
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}
