package migrate

import (
	"context"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"migrator/checkpoint"
	"migrator/lfs"
)

// groupTask is a task on the fake lfs whose groups a test runs by hand.
func groupTask(t *testing.T, n, workers int) (*task, *fakeLFS, []*item, *memRecorder) {
	f, es, sel := setup(t, n)
	rec := &memRecorder{recs: map[uint64]checkpoint.Record{}, attempts: map[uint64]int{}}
	var st Stats
	tk := newTask(context.Background(), context.Background(), f, State{Done: checkpoint.NewDone(uint64(n))}, rec,
		Options{Selection: sel, Workers: workers}, &st)
	items := make([]*item, n)
	for i := range es {
		items[i] = &item{idx: uint64(i), e: es[i]}
	}
	tk.inflight = n
	return tk, f, items, rec
}

// groupOutcome is what a test compares of a record.
type groupOutcome struct {
	Outcome   checkpoint.Outcome
	Reason    checkpoint.SkipReason
	Class     lfs.Class
	Errno     syscall.Errno
	Retryable bool
}

func outcomes(rec *memRecorder) map[uint64]groupOutcome {
	out := map[uint64]groupOutcome{}
	for i, r := range rec.recs {
		out[i] = groupOutcome{r.Outcome, r.Reason, r.Class, r.Errno, r.Retryable}
	}
	return out
}

// One group binds the files of all its calls with one lfs hsm_state and one lfs path2fid,
// and makes all their attempt records durable with one fsync; each file is still judged on
// its own: a released one is skipped, one whose HSM state is unknown is failed, one whose
// path names another FID is an alarm, and none of them is attempted.
func TestGroupBindsItsCallsTogether(t *testing.T) {
	tk, f, it, rec := groupTask(t, 5, 5)
	f.released = map[string]bool{it[1].e.Path: true}
	f.hsmErr = map[string]error{it[2].e.Path: &lfs.FileError{Path: it[2].e.Path, Errno: syscall.EIO}}
	f.files[it[3].e.Path].fid = lfs.FID{Seq: 0x200000400, Oid: 999} // another file at its path
	g := &callGroup{units: [][]*item{{it[0]}, {it[1]}, {it[2]}, {it[3]}, {it[4]}}}
	tk.runGroup(g)

	want := [][]*item{{it[0]}, nil, nil, nil, {it[4]}}
	if diff := cmp.Diff(want, g.ready, cmp.AllowUnexported(item{})); diff != "" {
		t.Errorf("calls ready (-want +got):\n%s", diff)
	}
	all := []string{it[0].e.Path, it[1].e.Path, it[2].e.Path, it[3].e.Path, it[4].e.Path}
	if diff := cmp.Diff([][]string{all}, f.hsmAsked); diff != "" {
		t.Errorf("lfs hsm_state calls (-want +got):\n%s", diff)
	}
	if f.p2fCalls != 1 || rec.syncs != 1 {
		t.Errorf("%d lfs path2fid calls and %d fsyncs for the group; want 1 and 1", f.p2fCalls, rec.syncs)
	}
	for _, i := range []uint64{0, 4} {
		if !rec.durable(i) {
			t.Errorf("entry %d is ready for lfs migrate without a durable attempt record", i)
		}
	}
	for _, i := range []uint64{1, 2, 3} {
		if rec.attempts[i] != 0 {
			t.Errorf("entry %d was recorded as attempted", i)
		}
	}
	wantRecs := map[uint64]groupOutcome{
		1: {Outcome: checkpoint.Skipped, Reason: checkpoint.SkipReleased},
		2: {Outcome: checkpoint.Failed, Class: lfs.Classify(syscall.EIO), Errno: syscall.EIO, Retryable: true},
		3: {Outcome: checkpoint.Failed, Class: lfs.ClassSwapped},
	}
	if diff := cmp.Diff(wantRecs, outcomes(rec)); diff != "" {
		t.Errorf("records (-want +got):\n%s", diff)
	}
}

// A call that waits for the group ahead of it is checked after the wait, not when its
// worker took it: a file released, or whose path was swapped, while the group ahead was
// being bound is never given to lfs migrate. The calls that arrived meanwhile are bound
// together (one lfs hsm_state for them all).
func TestCallWaitingForAGroupIsCheckedAfterTheWait(t *testing.T) {
	tk, f, it, rec := groupTask(t, 4, 4)
	got, release, done := bindBehindAHeldGroup(t, tk, f, it)
	// Taken by their workers, waiting for their group: now 1 is released and 2 swapped.
	f.mu.Lock()
	f.released = map[string]bool{it[1].e.Path: true}
	f.files[it[2].e.Path].fid = lfs.FID{Seq: 0x200000400, Oid: 999}
	f.mu.Unlock()
	release()
	<-done

	want := [][]*item{{it[0]}, nil, nil, {it[3]}}
	if diff := cmp.Diff(want, got, cmp.AllowUnexported(item{})); diff != "" {
		t.Errorf("calls ready (-want +got):\n%s", diff)
	}
	wantAsked := [][]string{{it[0].e.Path}, {it[1].e.Path, it[2].e.Path, it[3].e.Path}}
	if diff := cmp.Diff(wantAsked, f.hsmAsked, cmpopts.SortSlices(func(a, b string) bool { return a < b })); diff != "" {
		t.Errorf("lfs hsm_state calls (-want +got):\n%s", diff)
	}
	if rec.syncs != 2 {
		t.Errorf("%d fsyncs for two groups; want 2", rec.syncs)
	}
	wantRecs := map[uint64]groupOutcome{
		1: {Outcome: checkpoint.Skipped, Reason: checkpoint.SkipReleased},
		2: {Outcome: checkpoint.Failed, Class: lfs.ClassSwapped},
	}
	if diff := cmp.Diff(wantRecs, outcomes(rec)); diff != "" {
		t.Errorf("records (-want +got):\n%s", diff)
	}
}

// Through Run with several workers: every file given to lfs migrate has its attempt record
// durable when its call starts, each is migrated once, and calls that wait together share
// their checks (fewer bind-time lfs hsm_state calls and fsyncs than lfs migrate calls).
func TestGroupedCallsThroughRun(t *testing.T) {
	f, es, sel := setup(t, 24)
	var rec *memRecorder
	idx := map[string]uint64{}
	for i, e := range es {
		idx[e.Path] = uint64(i)
	}
	var calls int
	var mu sync.Mutex
	f.migrate = func(f *fakeLFS, files []string) ([]lfs.MigrateResult, error) {
		mu.Lock()
		calls++
		for _, p := range files {
			if !rec.durable(idx[p]) {
				t.Errorf("%s: lfs migrate started before its attempt record was durable", p)
			}
		}
		mu.Unlock()
		time.Sleep(10 * time.Millisecond)
		res := make([]lfs.MigrateResult, len(files))
		for i, p := range files {
			f.move(p)
			res[i].Status = lfs.MigrateOK
		}
		return res, nil
	}
	f.hsmHook = func([]string) { time.Sleep(5 * time.Millisecond) } // an exec's time: others arrive meanwhile
	rec = &memRecorder{recs: map[uint64]checkpoint.Record{}, attempts: map[uint64]int{}}
	var st Stats
	err := Run(context.Background(), context.Background(), f, &memSource{es: es},
		State{Done: checkpoint.NewDone(uint64(len(es)))}, rec,
		Options{Selection: sel, Workers: 4, Batch: 1, RetryBase: time.Millisecond}, &st)
	if err != nil {
		t.Fatal(err)
	}
	for i := range es {
		if r := rec.recs[uint64(i)]; r.Outcome != checkpoint.Migrated || rec.attempts[uint64(i)] != 1 {
			t.Errorf("entry %d: %v (%s), %d attempts; want migrated once", i, r.Outcome, r.Message, rec.attempts[uint64(i)])
		}
	}
	// The first hsm_state call is the check of the whole batch; the others are the binds.
	binds := len(f.hsmAsked) - 1
	if calls != len(es) || binds >= calls {
		t.Errorf("%d lfs migrate calls, %d bind-time lfs hsm_state calls; want %d calls and fewer binds (4 workers, calls of 10 ms, binds of 5 ms)",
			calls, binds, len(es))
	}
	if rec.syncs > binds {
		t.Errorf("%d fsyncs for %d groups", rec.syncs, binds)
	}
}

// bindBehindAHeldGroup starts four calls of one file each (it[0] to it[3]): the first binds
// a group of its own, which is held in lfs hsm_state; the other three arrive meanwhile and
// wait behind it, bound together as the next group, when it returns. release lets the held
// group go on; done is closed once every call returned, got[k] being what call k may give
// to lfs migrate.
func bindBehindAHeldGroup(t *testing.T, tk *task, f *fakeLFS, it []*item) (got [][]*item, release func(), done <-chan struct{}) {
	t.Helper()
	entered, hold := make(chan struct{}), make(chan struct{})
	var once sync.Once
	f.hsmHook = func([]string) { once.Do(func() { close(entered); <-hold }) }
	got = make([][]*item, 4)
	var wg sync.WaitGroup
	start := func(k int) {
		wg.Add(1)
		go func() { defer wg.Done(); got[k] = tk.bindGroup([]*item{it[k]}) }()
	}
	start(0)
	<-entered
	for k := 1; k < 4; k++ {
		start(k)
	}
	waitFor(t, func() bool {
		tk.gmu.Lock()
		defer tk.gmu.Unlock()
		return tk.gnext != nil && len(tk.gnext.units) == 3
	})
	finished := make(chan struct{})
	go func() { wg.Wait(); close(finished) }()
	return got, func() { close(hold) }, finished
}

func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	for end := time.Now().Add(10 * time.Second); time.Now().Before(end); time.Sleep(time.Millisecond) {
		if cond() {
			return
		}
	}
	t.Fatal("timed out waiting")
}
