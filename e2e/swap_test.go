package e2e

import (
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"migrator/lfssim"
)

// Issue 18, end to end: during work, after its batch was checked, the second planned file's
// path is swapped (lfs-sim's LFS_SIM_SWAP, before the first lfs migrate process ends, so
// before the second file's call) for a file outside the scan paths, a hard link of an
// excluded file, or (its directory) a link to a directory outside. The other file is not
// migrated, work prints the alarm and exits 3, status counts the failure as swapped, and
// verify lists the planned file, still on its source OST, as swapped. A hard link renamed
// over the planned file removed it (its last name): verify then finds the excluded file
// under the planned name, in scope and not in the campaign (exit 3).
//
// Where the filesystem has .lustre/fid (made at the tree's root here), work gives lfs
// migrate each file by FID, and the swap is also made inside the second file's own lfs
// migrate process, before it opens the file (the window the binding leaves): the checked
// file is migrated wherever it went, the other file is not touched, and the swap is found
// after the call (so verify finds nothing of the planned file left).
func TestWorkSwapIsAnAlarm(t *testing.T) {
	cases := []struct {
		name   string
		kind   string
		target func(e *env) (swapped, victim string) // swapped: what LFS_SIM_SWAP_PATH names
		verify int                                   // verify's exit code
		sweep  map[string]uint64                     // verify's classes
		// sweepFID is verify's classes when the swap is made inside the call, by FID.
		sweepFID map[string]uint64
	}{
		{"file to a symlink outside", "symlink", func(e *env) (string, string) {
			return filepath.Join(e.tree, "d", "f1"), e.sourceFile(filepath.Join(e.root, "outside", "o"))
		}, 0, map[string]uint64{"swapped": 1}, map[string]uint64{}},
		{"file to a hard link of an excluded file", "link", func(e *env) (string, string) {
			return filepath.Join(e.tree, "d", "f1"), e.sourceFile(filepath.Join(e.tree, "excl", "x"))
		}, 3, map[string]uint64{"not-in-campaign": 1}, map[string]uint64{"not-in-campaign": 1}},
		{"directory to a symlink outside", "symlink", func(e *env) (string, string) {
			v := e.sourceFile(filepath.Join(e.root, "outside", "d", "f1"))
			return filepath.Join(e.tree, "d"), filepath.Dir(v)
		}, 0, map[string]uint64{"swapped": 1}, map[string]uint64{}},
		{"directory to a symlink outside, to a released file", "symlink", func(e *env) (string, string) {
			v := e.sourceFile(filepath.Join(e.root, "outside", "d", "f1"))
			if err := lfssim.Release(e.cfg, v, 1); err != nil {
				e.t.Fatal(err)
			}
			return filepath.Join(e.tree, "d"), filepath.Dir(v)
		}, 0, map[string]uint64{"swapped": 1}, map[string]uint64{}},
	}
	for _, mode := range []struct {
		name  string
		byFID bool
		at    int
	}{{"by path, swap before the call", false, 1}, {"by FID, swap inside the call", true, 2}} {
		for _, tc := range cases {
			t.Run(mode.name+"/"+tc.name, func(t *testing.T) {
				e := newEnv(t)
				if mode.byFID {
					if err := os.MkdirAll(filepath.Join(e.tree, ".lustre", "fid"), 0o755); err != nil {
						t.Fatal(err)
					}
				}
				f0 := e.sourceFile(filepath.Join(e.tree, "a", "f0"))
				f1 := e.sourceFile(filepath.Join(e.tree, "d", "f1"))
				if err := os.MkdirAll(filepath.Join(e.tree, "excl"), 0o755); err != nil {
					t.Fatal(err)
				}
				swapped, target := tc.target(e)
				victim := target
				if fi, err := os.Stat(target); err == nil && fi.IsDir() {
					victim = filepath.Join(target, "f1")
				}
				before, err := lfssim.Layout(e.cfg, victim)
				if err != nil {
					t.Fatal(err)
				}
				e.plan("--exclude", filepath.Join(e.tree, "excl"))
				var planned []string
				for _, en := range e.manifests(0) {
					planned = append(planned, en.Path)
				}
				if diff := cmp.Diff([]string{f0, f1}, planned); diff != "" {
					t.Fatalf("planned (-want +got):\n%s", diff)
				}
				e.simEnv = append(e.simEnv, "LFS_SIM_SWAP="+tc.kind+":"+strconv.Itoa(mode.at), "LFS_SIM_SWAP_PATH="+swapped,
					"LFS_SIM_SWAP_TARGET="+target, "LFS_SIM_SWAP_COUNT="+filepath.Join(e.root, "migrate-calls"))
				r := e.mustRun(3, "work", e.camp, "--shard", "0", "--workers", "1", "--batch", "1")
				if byFID := strings.Contains(r.stderr, "lfs migrate is given each file by FID"); byFID != mode.byFID {
					t.Errorf("work gave lfs migrate files by FID: %v, want %v\n%s", byFID, mode.byFID, r.stderr)
				}
				if !strings.Contains(r.stderr, "ALARM swapped: \""+f1+"\"") {
					t.Errorf("work's log has no alarm for %s:\n%s", f1, r.stderr)
				}
				after, err := lfssim.Layout(e.cfg, victim)
				if err != nil {
					t.Fatal(err)
				}
				if diff := cmp.Diff(before, after); diff != "" {
					t.Errorf("%s was migrated (-before +after):\n%s", victim, diff)
				}
				if restored, err := lfssim.Restored(victim); err != nil || restored {
					t.Errorf("%s was restored from the archive (%v, %v)", victim, restored, err)
				}
				e.mustRun(0, "collect", e.camp, "--sweep", "never")
				if r := e.run("status", e.camp); !strings.Contains(r.stdout, "ALARM:   1 planned path(s) swapped") {
					t.Errorf("status (exit %d) shows no alarm:\n%s%s", r.code, r.stdout, r.stderr)
				}
				st := e.status()
				if st.FailedByClass["swapped"] != 1 || st.Files.Migrated != 1 {
					t.Errorf("status: %+v, failed by class %v", st.Files, st.FailedByClass)
				}
				wantSweep := tc.sweep
				if mode.byFID {
					wantSweep = tc.sweepFID
				}
				s := e.verify(tc.verify)
				if diff := cmp.Diff(wantSweep, nonzeroClasses(s)); diff != "" {
					t.Errorf("verify classes (-want +got):\n%s", diff)
				}
			})
		}
	}
}
