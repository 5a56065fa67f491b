package distscan

import (
	"context"
	"errors"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"migrator/checkpoint"
	"migrator/lfs"
	"migrator/manifest"
)

// probeLFS is treeLFS that watches its lfs find runs: how many run at once (at most), and
// how many times each subtree was found. Each find prints its paths, then waits until
// barrier finds run at once (or barrierWait has passed), then latency (a slow MDS), unless
// the context ends first. A subtree in fail fails every time.
type probeLFS struct {
	treeLFS
	latency     time.Duration
	barrier     int
	barrierWait time.Duration
	fail        map[string]bool

	mu      sync.Mutex
	running int
	most    int
	finds   map[string]int
}

func newProbe(latency time.Duration) *probeLFS {
	return &probeLFS{latency: latency, barrierWait: 5 * time.Second, finds: map[string]int{}}
}

func (p *probeLFS) Find(ctx context.Context, roots []string, o lfs.FindOptions, fn func(string) error) error {
	p.mu.Lock()
	p.running++
	p.most = max(p.most, p.running)
	for _, r := range roots {
		p.finds[r]++
	}
	fail := p.fail[roots[0]]
	p.mu.Unlock()
	defer func() { p.mu.Lock(); p.running--; p.mu.Unlock() }()
	if fail {
		return errors.New("simulated lfs find failure")
	}
	if err := p.treeLFS.Find(ctx, roots, o, fn); err != nil {
		return err
	}
	for deadline := time.Now().Add(p.barrierWait); time.Now().Before(deadline); time.Sleep(5 * time.Millisecond) {
		p.mu.Lock()
		met := p.most >= p.barrier
		p.mu.Unlock()
		if met {
			break
		}
	}
	select {
	case <-time.After(p.latency):
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

func (p *probeLFS) stats() (most int, finds map[string]int) {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.most, p.finds
}

var me = checkpoint.CurrentHolder(func(string) string { return "" })

// With Workers 4 a task runs 4 lfs find at once, never more, scans each unit exactly once,
// and its parts merge to the same entries, in the same order, as those of a task that
// scans one unit at a time (Workers 1); its Stats sum the units' counters.
func TestTaskWorkersMatchSerial(t *testing.T) {
	tree := setupTree(t)
	const latency = 400 * time.Millisecond
	run := func(workers int, barrier int) ([]manifest.Entry, *Stats, *probeLFS, time.Duration) {
		t.Helper()
		d, spec, p := newCampaign(t, tree, workers)
		if len(p.Units) != 6 {
			t.Fatalf("%d units, want the 6 directories", len(p.Units))
		}
		probe := newProbe(latency)
		probe.barrier = barrier
		st := new(Stats)
		start := time.Now()
		if err := RunTask(context.Background(), probe, d, spec, TaskOptions{Task: 0, Holder: me}, st); err != nil {
			t.Fatalf("workers %d: %v", workers, err)
		}
		took := time.Since(start)
		all, ms, err := merged(t, d, spec)
		if err != nil {
			t.Fatalf("workers %d: %v", workers, err)
		}
		if len(all) != 18 || ms.HardLinks != 5 {
			t.Errorf("workers %d: merged %d entries, %d hard-link duplicates; want 18 and 5", workers, len(all), ms.HardLinks)
		}
		_, finds := probe.stats()
		for _, u := range p.Units {
			if n := finds[string(u.Dir)]; n != 1 {
				t.Errorf("workers %d: %s found %d times, want once", workers, u.Dir, n)
			}
		}
		return all, st, probe, took
	}
	serial, sst, sprobe, stook := run(1, 0)
	par, pst, pprobe, ptook := run(4, 4)
	t.Logf("6 units, %s per lfs find: one at a time %s, 4 workers %s", latency, stook.Round(time.Millisecond), ptook.Round(time.Millisecond))
	if most, _ := sprobe.stats(); most != 1 {
		t.Errorf("Workers 1: %d lfs find at once, want 1", most)
	}
	if most, _ := pprobe.stats(); most != 4 {
		t.Errorf("Workers 4: %d lfs find at once, want 4", most)
	}
	if diff := cmp.Diff(serial, par); diff != "" {
		t.Errorf("merged entries, Workers 1 vs 4 (-serial +parallel):\n%s", diff)
	}
	for _, c := range []struct {
		name string
		st   *Stats
	}{{"Workers 1", sst}, {"Workers 4", pst}} {
		if c.st.Scanned != 6 || c.st.Done != 0 || c.st.Busy != 0 || c.st.Scan.Units.Load() != 6 || c.st.Scan.UnitsDone.Load() != 6 {
			t.Errorf("%s: %d scanned, %d done, %d busy, scan units %d/%d; want all 6 scanned", c.name,
				c.st.Scanned, c.st.Done, c.st.Busy, c.st.Scan.UnitsDone.Load(), c.st.Scan.Units.Load())
		}
	}
	// Hard links are left out only within a unit here (each link is in another directory's
	// part): the merge drops the 5 second names, the task's counters do not.
	if sst.Scan.Files.Load() != 23 || pst.Scan.Files.Load() != 23 || pst.Scan.Bytes.Load() != sst.Scan.Bytes.Load() {
		t.Errorf("scan counters: files %d and %d, bytes %d and %d; want 23 files each, the same bytes",
			sst.Scan.Files.Load(), pst.Scan.Files.Load(), sst.Scan.Bytes.Load(), pst.Scan.Bytes.Load())
	}
	// Two rounds of 4 at once against 6 one after another.
	if ptook > stook*3/4 {
		t.Errorf("4 workers took %s, one at a time %s: no faster", ptook, stook)
	}
}

// Two tasks of 3 workers each, running side by side, share the units: each is scanned once
// (by one task), the other task counting it done or busy, and the parts merge whole.
func TestTasksWorkersSideBySide(t *testing.T) {
	d, spec, p := newCampaign(t, setupTree(t), 3)
	probe := newProbe(100 * time.Millisecond)
	var st [2]Stats
	var errs [2]error
	var wg sync.WaitGroup
	for task := range 2 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[task] = RunTask(context.Background(), probe, d, spec, TaskOptions{Task: task, Holder: me}, &st[task])
		}()
	}
	wg.Wait()
	for task := range 2 {
		if errs[task] != nil {
			t.Fatalf("task %d: %v", task, errs[task])
		}
		if n := st[task].Scanned + st[task].Done + st[task].Busy; n != 6 {
			t.Errorf("task %d: %d scanned, %d done, %d busy: %d units, want 6", task, st[task].Scanned, st[task].Done, st[task].Busy, n)
		}
	}
	if st[0].Scanned+st[1].Scanned != 6 {
		t.Errorf("tasks scanned %d and %d units, want 6 in all", st[0].Scanned, st[1].Scanned)
	}
	_, finds := probe.stats()
	for _, u := range p.Units {
		if n := finds[string(u.Dir)]; n != 1 {
			t.Errorf("%s found %d times, want once", u.Dir, n)
		}
	}
	all, ms, err := merged(t, d, spec)
	if err != nil || len(all) != 18 || ms.HardLinks != 5 {
		t.Errorf("merged: %v, %d entries, %d hard-link duplicates; want 18 and 5", err, len(all), ms.HardLinks)
	}
}

// A unit that fails stops the whole task: the error names it, the units being scanned
// beside it are dropped (not waited out), none not yet started is started, and no part is
// published, half or whole, nor a claim left. The next task scans everything.
func TestTaskWorkerErrorStops(t *testing.T) {
	d, spec, p := newCampaign(t, setupTree(t), 4)
	bad := string(p.Units[2].Dir)
	probe := newProbe(time.Minute) // the others print their paths, then hang
	probe.fail = map[string]bool{bad: true}
	var st Stats
	start := time.Now()
	err := RunTask(context.Background(), probe, d, spec, TaskOptions{Task: 0, Holder: me}, &st)
	took := time.Since(start)
	if err == nil || !strings.HasPrefix(err.Error(), "unit 2 (") || !strings.Contains(err.Error(), bad) ||
		!strings.Contains(err.Error(), "simulated lfs find failure") {
		t.Fatalf("task with unit 2 failing: %v; want an error naming unit 2 and %s", err, bad)
	}
	if took > 20*time.Second {
		t.Errorf("the task took %s to stop: the units beside the failed one were waited out", took)
	}
	if st.Scanned != 0 {
		t.Errorf("%d units scanned, want none (the others were stopped)", st.Scanned)
	}
	_, finds := probe.stats()
	for _, k := range []int{3, 5} { // task 0's order: 0 2 4 1 3 5; 4 at once
		if n := finds[string(p.Units[k].Dir)]; n != 0 {
			t.Errorf("unit %d started after unit 2 failed", k)
		}
	}
	for k := range p.Units {
		if Done(d, k) {
			t.Errorf("unit %d published by a task stopped by a failure", k)
		}
	}
	if tmps, _ := filepath.Glob(filepath.Join(partsDir(d), ".tmp-*")); len(tmps) > 0 {
		t.Errorf("the failed task left temporary parts: %v", tmps)
	}
	if pr, err := ReadProgress(d); err != nil || pr.Done != 0 || pr.Scanning != 0 || pr.Stale != 0 {
		t.Errorf("after the failed task: %+v, %v; want nothing done, no claim left", pr, err)
	}
	st = Stats{}
	if err := RunTask(context.Background(), treeLFS{}, d, spec, TaskOptions{Task: 1, Holder: me}, &st); err != nil || st.Scanned != 6 {
		t.Fatalf("the next task: %v, %d scanned; want all 6", err, st.Scanned)
	}
	if all, _, err := merged(t, d, spec); err != nil || len(all) != 18 {
		t.Errorf("merged after the next task: %v, %d entries; want 18", err, len(all))
	}
}

// A cancelled task (SIGTERM) with several units in progress drops them all, publishes
// nothing half, releases its claims, and returns context.Canceled.
func TestTaskWorkersCancelled(t *testing.T) {
	d, spec, _ := newCampaign(t, setupTree(t), 4)
	probe := newProbe(time.Minute)
	probe.barrier = 4
	ctx, cancel := context.WithCancel(context.Background())
	go func() { // once 4 run at once (or after 10 s: the test fails)
		for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(5 * time.Millisecond) {
			if most, _ := probe.stats(); most == 4 {
				break
			}
		}
		cancel()
	}()
	var st Stats
	err := RunTask(ctx, probe, d, spec, TaskOptions{Task: 0, Holder: me}, &st)
	most, _ := probe.stats()
	if !errors.Is(err, context.Canceled) || st.Scanned != 0 || most != 4 {
		t.Fatalf("cancelled with %d units in progress: %v, %d scanned; want 4 in progress, context.Canceled, none scanned", most, err, st.Scanned)
	}
	if tmps, _ := filepath.Glob(filepath.Join(partsDir(d), ".tmp-*")); len(tmps) > 0 {
		t.Errorf("a cancelled task left temporary parts: %v", tmps)
	}
	if pr, err := ReadProgress(d); err != nil || pr.Done != 0 || pr.Scanning != 0 || pr.Stale != 0 {
		t.Errorf("after the cancelled task: %+v, %v; want nothing done, no claim left", pr, err)
	}
}

// A plan.json without workers (0: written before they were recorded) scans one unit at a time.
func TestTaskWorkersZero(t *testing.T) {
	d, spec, _ := newCampaign(t, setupTree(t), 0)
	if p, err := ReadPlan(d); err != nil || p.Workers != 0 {
		t.Fatalf("plan.json: workers %d, %v; want 0", p.Workers, err)
	}
	probe := newProbe(20 * time.Millisecond)
	var st Stats
	if err := RunTask(context.Background(), probe, d, spec, TaskOptions{Task: 0, Holder: me}, &st); err != nil || st.Scanned != 6 {
		t.Fatalf("%v, %d scanned; want all 6", err, st.Scanned)
	}
	if most, _ := probe.stats(); most != 1 {
		t.Errorf("%d lfs find at once, want 1", most)
	}
}
