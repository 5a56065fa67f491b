package e2e

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"migrator/lfssim"
)

// The quirks of the real lfs that once broke migrator (lfs/LUSTRE.md), in one tree:
// dangling symlinks beside the files (llapi_semantic_traverse() fails the whole lfs find on
// one), files striped over 300 OSTs with the source OST last (lfs find --printf cuts their
// record at 1023 bytes, FORMATTED_BUF_LEN), PFL with an uninstantiated -c -1 component and
// DoM (their %Lo runs on until cut), FLR mirrors, HSM-released files that lfs find -O may
// still select, and a scan path that is a symlink to the tree. plan, work and collect with
// the local scheduler drain it: every selected file off the sources, contents intact,
// released files never touched, nothing failed.
func TestHostileLayoutsDrain(t *testing.T) {
	e := newEnv(t, "LFS_SIM_OSTS=400")
	st := e.mktree(lfssim.TreeOptions{Files: 700, Seed: 13, HostileEvery: 9, SourceShare: 0.7, LinkEvery: 50,
		SpecialEvery: 40, DanglingEvery: 5, WideEvery: 23, KindsEvery: 7, ReleasedEvery: 11})
	if st.Dangling < 50 || st.Wide < 10 || st.Kinds < 30 || st.Released < 20 {
		t.Fatalf("tree too tame: %+v", st)
	}
	link := filepath.Join(e.root, "link-to-fs")
	if err := os.Symlink(e.tree, link); err != nil {
		t.Fatal(err)
	}
	before := e.snapshot()
	sel := e.selected(before)
	var released []string
	for p, s := range before {
		if s.Release {
			released = append(released, p)
		}
	}
	args := e.planArgs("--scheduler", "local", "--shard-files", "150", "--array-throttle", "2")
	for i, a := range args {
		if a == e.tree {
			args[i] = link // the scan path is the symlink
		}
	}
	r := e.mustRun(0, args...)
	e.checkMigrated(before, e.snapshot(), sel)
	stat := e.status()
	if stat.Files.Planned != uint64(len(sel)) || stat.Files.Migrated != uint64(len(sel)) || stat.Files.Failed != 0 ||
		!stat.Files.Balanced() {
		t.Errorf("status %+v, want %d planned and migrated, none failed\n%s", stat.Files, len(sel), r.stderr)
	}
	for _, p := range released {
		if restored, _ := lfssim.Restored(p); restored {
			t.Errorf("released file %q was restored", p)
		}
	}
	for _, en := range e.manifests(0) {
		if !strings.HasPrefix(en.Path, link+"/") {
			t.Errorf("manifest path %q is not under the scan path as given", en.Path)
			break
		}
	}
}

// OST lists are read as lfs find reads them (setup_indexes(), llapi_uuid_match()) or
// refused with exit 2 before anything is written: a range of names once drained OST 13
// alone, and a name of another filesystem was accepted.
func TestPlanOSTNames(t *testing.T) {
	for _, tc := range []struct {
		osts string
		code int
		msg  string
	}{
		{osts: "simfs-OST0002,simfs-OST0003_UUID", code: 0},
		{osts: "simfs-OST0002-simfs-OST0003", code: 2, msg: "no ranges of names"},
		{osts: "fs2-OST0002", code: 2, msg: "OST fs2-OST0002 is not a target of this filesystem (simfs"},
		{osts: "simfs-OST02", code: 2, msg: "4 lowercase hex digits"},
		{osts: "0x2-0x3", code: 2, msg: "only decimal ranges"},
		{osts: "simfs-OST0002", code: 2, msg: "--target-osts: OST other-OST0005 is not a target"},
	} {
		t.Run(tc.osts, func(t *testing.T) {
			e := newEnv(t)
			e.mktree(lfssim.TreeOptions{Files: 20, Seed: 3})
			args := []string{"plan", e.camp, "--osts", tc.osts, "--scan-path", e.tree, "--lfs", e.sim, "--no-submit"}
			if strings.HasPrefix(tc.msg, "--target-osts") {
				args = append(args, "--target-osts", "other-OST0005")
				tc.msg = strings.TrimPrefix(tc.msg, "--target-osts: ")
			}
			r := e.run(args...)
			if r.code != tc.code || !strings.Contains(r.stderr, tc.msg) {
				t.Errorf("--osts %s: exit %d, want %d with %q\n%s", tc.osts, r.code, tc.code, tc.msg, r.stderr)
			}
			if _, err := os.Stat(filepath.Join(e.camp, "campaign.json")); (err == nil) != (tc.code == 0) {
				t.Errorf("--osts %s: campaign.json written: %v", tc.osts, err == nil)
			}
		})
	}
}
