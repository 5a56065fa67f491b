package migrate

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"

	"migrator/checkpoint"
	"migrator/lfs"
)

// Durable intent: when an lfs migrate call starts, the attempt record of every file passed
// to it is synced, in batches and one file at a time.
func TestAttemptsSyncedBeforeMigrate(t *testing.T) {
	for _, batch := range []int{1, 5} {
		t.Run(fmt.Sprintf("batch %d", batch), func(t *testing.T) {
			f, es, sel := setup(t, 20)
			idx := map[string]uint64{}
			for i, e := range es {
				idx[e.Path] = uint64(i)
			}
			var bad atomic.Int64
			recCh := make(chan *memRecorder, 1)
			f.migrate = func(f *fakeLFS, files []string) ([]lfs.MigrateResult, error) {
				r := <-recCh
				recCh <- r
				for _, p := range files {
					if !r.durable(idx[p]) {
						bad.Add(1)
					}
					f.move(p)
				}
				return make([]lfs.MigrateResult, len(files)), nil
			}
			rec := &memRecorder{recs: map[uint64]checkpoint.Record{}, attempts: map[uint64]int{}}
			recCh <- rec
			o := Options{Selection: sel, Workers: 3, Batch: batch, Target: lfs.MigrateOptions{StripeCount: 1}}
			var st Stats
			if err := Run(context.Background(), context.Background(), f, &memSource{es: es}, State{Done: checkpoint.NewDone(20)}, rec, o, &st); err != nil {
				t.Fatal(err)
			}
			if bad.Load() != 0 {
				t.Errorf("%d files were passed to lfs migrate before their attempt record was synced", bad.Load())
			}
			if len(rec.recs) != 20 || f.calls == 0 || batch > 1 && f.calls >= 20 {
				t.Errorf("%d outcomes, %d calls", len(rec.recs), f.calls)
			}
		})
	}
}

// A task whose lfs migrate calls moved files and that died before recording them (kill -9:
// no outcome, no run end) leaves attempt records that a fresh reader sees; the rerun records
// those files as migrated, not as skipped off-source as if someone else had moved them.
func TestCrashAfterMigrateThenRerun(t *testing.T) {
	f, es, sel := setup(t, 8)
	path := filepath.Join(t.TempDir(), checkpoint.LogName(0))
	hdr := checkpoint.Header{Campaign: "c", Shard: 0, Entries: uint64(len(es)), ShardSHA256: strings.Repeat("0", 64)}
	w, _, err := checkpoint.OpenWriter(path, hdr, checkpoint.WriterOptions{}, checkpoint.Visitor{})
	if err != nil {
		t.Fatal(err)
	}
	kill, crash := context.WithCancel(context.Background())
	var seen atomic.Int64
	f.migrate = func(f *fakeLFS, files []string) ([]lfs.MigrateResult, error) {
		// A fresh reader sees the attempt of every file of this call.
		att := map[uint64]bool{}
		checkpoint.Read(path, hdr, checkpoint.Visitor{Attempt: func(a *checkpoint.Attempt) error { att[a.Index] = true; return nil }})
		for _, p := range files {
			for i, e := range es {
				if e.Path == p && att[uint64(i)] {
					seen.Add(1)
				}
			}
			f.move(p)
		}
		crash() // the node dies with the call done and nothing recorded
		return nil, &lfs.ExitError{Code: -1, Signal: 9}
	}
	var st Stats
	Run(context.Background(), kill, f, &memSource{es: es}, State{Done: checkpoint.NewDone(8)}, w,
		Options{Selection: sel, Workers: 2}, &st)
	if n := f.calls; seen.Load() != int64(n) || n == 0 {
		t.Fatalf("a fresh reader saw the attempts of %d of the %d files passed to lfs migrate", seen.Load(), n)
	}
	moved := f.calls
	// kill -9: the descriptor goes away without a run end or a final sync.
	w = nil

	done, attempted := checkpoint.NewDone(8), checkpoint.NewDone(8)
	w2, _, err := checkpoint.OpenWriter(path, hdr, checkpoint.WriterOptions{}, checkpoint.Visitor{
		Outcome: func(r *checkpoint.Record) error { done.Add(r.Index); return nil },
		Attempt: func(a *checkpoint.Attempt) error { attempted.Add(a.Index); return nil },
	})
	if err != nil {
		t.Fatal(err)
	}
	f.migrate = func(f *fakeLFS, files []string) ([]lfs.MigrateResult, error) {
		for _, p := range files {
			f.move(p)
		}
		return make([]lfs.MigrateResult, len(files)), nil
	}
	if err := Run(context.Background(), context.Background(), f, &memSource{es: es}, State{Done: done, Attempted: attempted}, w2,
		Options{Selection: sel, Workers: 2}, &st); err != nil {
		t.Fatal(err)
	}
	w2.Close()
	earlier := 0
	checkpoint.Read(path, hdr, checkpoint.Visitor{Outcome: func(r *checkpoint.Record) error {
		switch {
		case r.Outcome == checkpoint.Skipped:
			t.Errorf("entry %d: skipped %s after the crash", r.Index, r.Reason)
		case r.Message == "completed by an earlier run":
			earlier++
		}
		return nil
	}})
	if earlier != moved {
		t.Errorf("%d files recorded as completed by the crashed run, want %d", earlier, moved)
	}
}

// A task whose lock is broken while an lfs migrate call runs (another task took it for
// dead) starts no lfs migrate call after that one, and stops with ErrLockLost.
func TestLostOwnershipStopsWithinOneCall(t *testing.T) {
	f, es, sel := setup(t, 40)
	var lost, after atomic.Bool
	owned := func() error {
		if lost.Load() {
			return fmt.Errorf("%w: test", checkpoint.ErrLockLost)
		}
		return nil
	}
	f.migrate = func(f *fakeLFS, files []string) ([]lfs.MigrateResult, error) {
		if lost.Load() {
			after.Store(true)
		}
		if f.calls == 3 {
			lost.Store(true) // broken while this call runs
		}
		for _, p := range files {
			f.move(p)
		}
		return make([]lfs.MigrateResult, len(files)), nil
	}
	rec, err := run(t, f, es, sel, Options{Workers: 1, Owned: owned}, State{})
	if !errors.Is(err, checkpoint.ErrLockLost) {
		t.Fatalf("Run = %v, want ErrLockLost", err)
	}
	if after.Load() || f.calls != 3 {
		t.Errorf("%d lfs migrate calls; the lock was lost during the third", f.calls)
	}
	if len(rec.recs) >= len(es) {
		t.Errorf("%d outcomes: the task did not stop", len(rec.recs))
	}
}
