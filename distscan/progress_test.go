package distscan

import (
	"context"
	"encoding/json"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/google/go-cmp/cmp"

	"migrator/campaign"
	"migrator/checkpoint"
	"migrator/lfs"
	"migrator/manifest"
)

// stopLFS cancels the task's context during its n-th lfs find, as SIGTERM does (scancel,
// pause --now's requeue): the unit in progress is left without a part.
type stopLFS struct {
	treeLFS
	n      *int
	cancel context.CancelFunc
}

func (s stopLFS) Find(ctx context.Context, roots []string, o lfs.FindOptions, fn func(string) error) error {
	if *s.n--; *s.n == 0 {
		s.cancel()
		return ctx.Err()
	}
	return s.treeLFS.Find(ctx, roots, o, fn)
}

// ReadProgress counts what status shows: units done, being scanned by a live task, claimed
// by a dead one; and a task stopped mid-unit leaves that unit unclaimed and without a part
// (nothing half-published), to be scanned whole by the next task, which skips the rest.
func TestProgress(t *testing.T) {
	d, spec, _ := setup(t)
	if _, err := ReadProgress(campaign.Dir{Root: t.TempDir()}); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("ReadProgress of a campaign without a distributed scan: %v, want ErrNotExist", err)
	}
	pr, err := ReadProgress(d)
	if diff := cmp.Diff(Progress{Tasks: 2, Units: 6}, pr); err != nil || diff != "" {
		t.Fatalf("before any task: %v (-want +got):\n%s", err, diff)
	}
	me := checkpoint.CurrentHolder(func(string) string { return "" })
	ctx, cancel := context.WithCancel(context.Background())
	n := 3
	var st Stats
	err = RunTask(ctx, stopLFS{n: &n, cancel: cancel}, d, spec, TaskOptions{Task: 0, Holder: me}, &st)
	if !errors.Is(err, context.Canceled) || st.Scanned != 2 {
		t.Fatalf("task stopped in its third unit: %v, %d scanned; want context.Canceled after 2", err, st.Scanned)
	}
	if tmps, _ := filepath.Glob(filepath.Join(partsDir(d), ".tmp-*")); len(tmps) > 0 {
		t.Errorf("a stopped task left temporary parts: %v", tmps)
	}
	pr, _ = ReadProgress(d)
	if diff := cmp.Diff(Progress{Tasks: 2, Units: 6, Done: 2}, pr); diff != "" {
		t.Errorf("after a task stopped mid-unit (-want +got):\n%s", diff)
	}
	// A live claim (this process) and a dead one (a process that has exited).
	held, err := checkpoint.AcquireLock(claimFile(d, 5), me, checkpoint.LockOptions{})
	if err != nil {
		t.Fatal(err)
	}
	dead := exec.Command("true")
	if err := dead.Run(); err != nil {
		t.Fatal(err)
	}
	h := me
	h.PID, h.PIDStart, h.Token = dead.ProcessState.Pid(), 0, "dead"
	lock, _ := json.Marshal(h)
	if err := os.WriteFile(claimFile(d, 3), append(lock, '\n'), 0o600); err != nil {
		t.Fatal(err)
	}
	pr, _ = ReadProgress(d)
	if diff := cmp.Diff(Progress{Tasks: 2, Units: 6, Done: 2, Scanning: 1, Stale: 1}, pr); diff != "" {
		t.Errorf("with a live and a dead claim (-want +got):\n%s", diff)
	}
	// The next task scans the rest but the unit held, breaking the dead claim, and rescans
	// nothing done.
	before := map[int]os.FileInfo{}
	for k := 0; k < 6; k++ {
		if fi, err := os.Stat(PartDir(d, k)); err == nil {
			before[k] = fi
		}
	}
	st = Stats{}
	if err := RunTask(context.Background(), treeLFS{}, d, spec, TaskOptions{Task: 1, Holder: me}, &st); err != nil {
		t.Fatal(err)
	}
	if st.Scanned != 3 || st.Done != 2 || st.Busy != 1 {
		t.Errorf("the next task: %d scanned, %d done, %d busy; want 3, 2, 1", st.Scanned, st.Done, st.Busy)
	}
	for k, fi := range before {
		if now, err := os.Stat(PartDir(d, k)); err != nil || !os.SameFile(fi, now) {
			t.Errorf("unit %d, done before, was published again", k)
		}
	}
	held.Release()
	pr, _ = ReadProgress(d)
	if diff := cmp.Diff(Progress{Tasks: 2, Units: 6, Done: 5}, pr); diff != "" {
		t.Errorf("after the next task (-want +got):\n%s", diff)
	}
	// Sealed once round 0's index exists.
	if err := os.MkdirAll(d.Round(0).Manifests, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(d.Round(0).Manifests, manifest.IndexFile), []byte("{}"), 0o600); err != nil {
		t.Fatal(err)
	}
	if pr, _ = ReadProgress(d); !pr.Sealed {
		t.Errorf("with round 0's index: %+v, want sealed", pr)
	}
}
