package migrate

import (
	"context"
	"errors"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"migrator/checkpoint"
	"migrator/lfs"
)

// Calls waiting for the group ahead of them when the task is told to stop (stop or kill),
// loses its shard lock, or trips a guard are never stuck and never started: their worker
// gets nothing to migrate, no attempt record is written for them and they are dropped
// (pending), whatever the group ahead does.
func TestCallsWaitingForAGroupWhenTheTaskStops(t *testing.T) {
	errLost := errors.New("lock lost")
	cases := []struct {
		name  string
		event func(stop, kill context.CancelFunc, lost *atomic.Bool, tk *task)
	}{
		{"stop", func(stop, _ context.CancelFunc, _ *atomic.Bool, _ *task) { stop() }},
		{"kill", func(_, kill context.CancelFunc, _ *atomic.Bool, _ *task) { kill() }},
		{"lock lost", func(_, _ context.CancelFunc, lost *atomic.Bool, _ *task) { lost.Store(true) }},
		{"guard tripped", func(_, _ context.CancelFunc, _ *atomic.Bool, tk *task) { tk.fail(ErrErrorStreak) }},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			f, es, sel := setup(t, 4)
			stop, cancelStop := context.WithCancel(context.Background())
			kill, cancelKill := context.WithCancel(context.Background())
			defer cancelStop()
			defer cancelKill()
			var lost atomic.Bool
			owned := func() error {
				if lost.Load() {
					return errLost
				}
				return nil
			}
			rec := &memRecorder{recs: map[uint64]checkpoint.Record{}, attempts: map[uint64]int{}}
			var st Stats
			tk := newTask(stop, kill, f, State{Done: checkpoint.NewDone(4)}, rec,
				Options{Selection: sel, Workers: 4, Owned: owned}, &st)
			tk.inflight = 4
			it := make([]*item, 4)
			for i := range es {
				it[i] = &item{idx: uint64(i), e: es[i]}
			}
			got, release, done := bindBehindAHeldGroup(t, tk, f, it)
			tc.event(cancelStop, cancelKill, &lost, tk)
			release()
			select {
			case <-done:
			case <-time.After(10 * time.Second):
				t.Fatal("a worker is stuck waiting for its group")
			}
			for k := 1; k < 4; k++ {
				if got[k] != nil || rec.attempts[uint64(k)] != 0 {
					t.Errorf("call %d, waiting when the task stopped: given %v to migrate, %d attempt records", k, got[k], rec.attempts[uint64(k)])
				}
				if _, ok := rec.recs[uint64(k)]; ok {
					t.Errorf("call %d, waiting when the task stopped, was recorded: %+v", k, rec.recs[uint64(k)])
				}
			}
			tk.mu.Lock()
			inflight := tk.inflight
			tk.mu.Unlock()
			if want := len(got[0]); inflight != want { // the group ahead's file stays in flight if it was bound
				t.Errorf("%d items in flight; want %d (the waiting calls dropped)", inflight, want)
			}
		})
	}
}

// A group of calls of several files each (--batch): each call gets back exactly its own
// bound files, in its order, with one lfs hsm_state for the group.
func TestGroupOfBatchedCallsKeepsEachCallsFiles(t *testing.T) {
	tk, f, it, rec := groupTask(t, 6, 3)
	f.released = map[string]bool{it[1].e.Path: true}
	f.files[it[4].e.Path].fid = lfs.FID{Seq: 0x200000400, Oid: 999}
	g := &callGroup{units: [][]*item{{it[2], it[1], it[0]}, {it[3]}, {it[5], it[4]}}}
	tk.runGroup(g)
	want := [][]*item{{it[2], it[0]}, {it[3]}, {it[5]}}
	if diff := cmp.Diff(want, g.ready, cmp.AllowUnexported(item{})); diff != "" {
		t.Errorf("calls ready (-want +got):\n%s", diff)
	}
	if len(f.hsmAsked) != 1 || len(f.hsmAsked[0]) != 6 || rec.syncs != 1 {
		t.Errorf("lfs hsm_state calls %q, %d fsyncs; want one of 6 files and one fsync", f.hsmAsked, rec.syncs)
	}
	for _, i := range []uint64{0, 2, 3, 5} {
		if !rec.durable(i) {
			t.Errorf("entry %d is ready without a durable attempt record", i)
		}
	}
}

// syncFailRecorder is a memRecorder whose Sync fails.
type syncFailRecorder struct{ *memRecorder }

func (syncFailRecorder) Sync() error { return errors.New("fsync: EIO") }

// When the group's attempt records cannot be appended or made durable, none of its calls
// starts, its files stay pending (dropped) and the task stops with the error.
func TestGroupWhoseAttemptRecordsFailStartsNoCall(t *testing.T) {
	for _, name := range []string{"append", "fsync"} {
		t.Run(name, func(t *testing.T) {
			f, es, sel := setup(t, 3)
			mem := &memRecorder{recs: map[uint64]checkpoint.Record{}, attempts: map[uint64]int{}}
			var rec Recorder = mem
			if name == "append" {
				mem.fail = errors.New("write: EIO")
			} else {
				rec = syncFailRecorder{mem}
			}
			var st Stats
			tk := newTask(context.Background(), context.Background(), f, State{Done: checkpoint.NewDone(3)}, rec,
				Options{Selection: sel, Workers: 3}, &st)
			tk.inflight = 3
			g := &callGroup{}
			for i := range es {
				g.units = append(g.units, []*item{{idx: uint64(i), e: es[i]}})
			}
			tk.runGroup(g)
			if diff := cmp.Diff(make([][]*item, 3), g.ready, cmp.AllowUnexported(item{})); diff != "" {
				t.Errorf("calls ready (-want +got):\n%s", diff)
			}
			if tk.fatalErr() == nil || tk.inflight != 0 {
				t.Errorf("task error %v, %d in flight; want the error and all dropped", tk.fatalErr(), tk.inflight)
			}
		})
	}
}
