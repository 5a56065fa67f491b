package migrate

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/google/go-cmp/cmp"

	"migrator/campaign"
	"migrator/checkpoint"
	"migrator/internal/testbin"
	"migrator/lfs"
	"migrator/lfssim"
	"migrator/manifest"
)

func TestMain(m *testing.M) {
	code := m.Run()
	testbin.Cleanup()
	os.Exit(code)
}

// hookLFS is the real client on lfs-sim, with a hook run at the start of every lfs migrate
// call: it makes a swap race deterministic.
type hookLFS struct {
	*lfs.Client
	mu     sync.Mutex
	calls  int
	before func(call int, files []string)
}

func (h *hookLFS) Migrate(ctx context.Context, o lfs.MigrateOptions, files []string) ([]lfs.MigrateResult, error) {
	h.mu.Lock()
	h.calls++
	n := h.calls
	h.mu.Unlock()
	if h.before != nil {
		h.before(n, files)
	}
	return h.Client.Migrate(ctx, o, files)
}

// Issue 18: during a running task, after its batch was checked (the swap is made while
// lfs migrate runs on the first file, before the second's call), the second file's path
// is swapped for another file. That file is never migrated (nor restored), the entry is
// failed with class swapped (not retryable), and the task counts a failure (work exits
// non-zero on it).
func TestSwapAfterCheckNeverMigratesAnotherFile(t *testing.T) {
	bin := testbin.Build(t, "cmd/lfs-sim")
	env := []string{"LFS_SIM_OSTS=4", "LFS_SIM_NOCREATE=1"}
	cfg, err := lfssim.ConfigFromEnv(func(k string) string {
		for _, kv := range env {
			if v, ok := strings.CutPrefix(kv, k+"="); ok {
				return v
			}
		}
		return ""
	})
	if err != nil {
		t.Fatal(err)
	}
	write := func(t *testing.T, p string) {
		t.Helper()
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte("data of "+filepath.Base(p)), 0o644); err != nil {
			t.Fatal(err)
		}
		if err := lfssim.SetLayout(p, lfssim.PlainLayout(1)); err != nil {
			t.Fatal(err)
		}
	}
	must := func(t *testing.T, err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	type tree struct{ scan, d, f0, f1, outside, excl string }
	cases := []struct {
		name string
		// prepare makes the file the swap brings in; swap makes it (after the check).
		prepare func(t *testing.T, tr tree) (victim string)
		swap    func(t *testing.T, tr tree, victim string)
		release bool
	}{
		{"file replaced by a symlink to a file outside the scan paths",
			func(t *testing.T, tr tree) string { p := filepath.Join(tr.outside, "o"); write(t, p); return p },
			func(t *testing.T, tr tree, victim string) {
				must(t, os.Remove(tr.f1))
				must(t, os.Symlink(victim, tr.f1))
			}, false},
		{"file renamed over by a hard link of an excluded file",
			func(t *testing.T, tr tree) string { p := filepath.Join(tr.excl, "x"); write(t, p); return p },
			func(t *testing.T, tr tree, victim string) {
				tmp := filepath.Join(tr.d, ".tmp")
				must(t, os.Link(victim, tmp))
				must(t, os.Rename(tmp, tr.f1))
			}, false},
		{"directory replaced by a symlink to a directory outside",
			func(t *testing.T, tr tree) string { p := filepath.Join(tr.outside, "d", "f1"); write(t, p); return p },
			func(t *testing.T, tr tree, victim string) {
				must(t, os.Rename(tr.d, tr.d+".old"))
				must(t, os.Symlink(filepath.Dir(victim), tr.d))
			}, false},
		{"directory replaced by a symlink to a directory outside with a released file",
			func(t *testing.T, tr tree) string {
				p := filepath.Join(tr.outside, "d", "f1")
				write(t, p)
				must(t, lfssim.Release(cfg, p, 1))
				return p
			},
			func(t *testing.T, tr tree, victim string) {
				must(t, os.Rename(tr.d, tr.d+".old"))
				must(t, os.Symlink(filepath.Dir(victim), tr.d))
			}, true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			root := t.TempDir()
			tr := tree{scan: filepath.Join(root, "scan"), outside: filepath.Join(root, "outside")}
			tr.d = filepath.Join(tr.scan, "d")
			tr.f0, tr.f1 = filepath.Join(tr.d, "f0"), filepath.Join(tr.d, "f1")
			tr.excl = filepath.Join(tr.scan, "excl")
			write(t, tr.f0)
			write(t, tr.f1)
			victim := tc.prepare(t, tr)
			victimLayout, err := lfssim.Layout(cfg, victim)
			must(t, err)
			var es []manifest.Entry
			for _, p := range []string{tr.f0, tr.f1} {
				fid, err := lfssim.FIDOf(p)
				must(t, err)
				es = append(es, manifest.Entry{Path: p, FID: fid, Size: 10, OSTs: []uint32{1}})
			}
			sel := campaign.Selection{OSTs: "1", ScanPaths: []campaign.Path{campaign.Path(tr.scan)},
				Excludes: []campaign.Path{campaign.Path(tr.excl)}}
			h := &hookLFS{Client: lfs.New(bin).WithEnv(env...)}
			h.before = func(call int, files []string) {
				if call == 1 { // the batch is checked; f1's turn comes next
					tc.swap(t, tr, victim)
				}
			}
			var alarms []string
			var mu sync.Mutex
			rec := &memRecorder{recs: map[uint64]checkpoint.Record{}, attempts: map[uint64]int{}}
			var st Stats
			o := Options{Selection: sel, Workers: 1, OnSwap: func(p, msg string) {
				mu.Lock()
				alarms = append(alarms, p)
				mu.Unlock()
			}}
			if err := Run(context.Background(), context.Background(), h, &memSource{es: es},
				State{Done: checkpoint.NewDone(2)}, rec, o, &st); err != nil {
				t.Fatal(err)
			}

			got, err := lfssim.Layout(cfg, victim)
			must(t, err)
			if diff := cmp.Diff(victimLayout, got); diff != "" {
				t.Errorf("the swapped-in file %s was migrated (-before +after):\n%s", victim, diff)
			}
			if restored, err := lfssim.Restored(victim); err != nil || restored {
				t.Errorf("the swapped-in file was restored from the archive (%v, %v)", restored, err)
			}
			if tc.release {
				hs, err := h.HSMStates(context.Background(), []string{victim})
				if err != nil || hs[0].Err != nil || !hs[0].State.Released() {
					t.Errorf("the swapped-in file is no longer released: %+v %v", hs, err)
				}
			}
			r1 := rec.recs[1]
			want := checkpoint.Record{Outcome: checkpoint.Failed, Class: lfs.ClassSwapped}
			if diff := cmp.Diff(want, checkpoint.Record{Outcome: r1.Outcome, Class: r1.Class, Retryable: r1.Retryable}); diff != "" {
				t.Errorf("entry 1 (-want +got):\n%s\n%s", diff, r1.Message)
			}
			if r0 := rec.recs[0]; r0.Outcome != checkpoint.Migrated {
				t.Errorf("entry 0, not swapped: %v %s", r0.Outcome, r0.Message)
			}
			if st.Swapped.Load() != 1 || st.Failed.Load() != 1 {
				t.Errorf("swapped %d, failed %d; want 1 and 1 (work exits non-zero on failures)", st.Swapped.Load(), st.Failed.Load())
			}
			if diff := cmp.Diff([]string{tr.f1}, alarms); diff != "" {
				t.Errorf("alarms (-want +got):\n%s", diff)
			}
		})
	}
}
