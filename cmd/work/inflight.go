package work

import (
	"sync"
	"sync/atomic"

	"migrator/checkpoint"
	"migrator/migrate"
)

// inFlight passes records on to the checkpoint and counts the files in flight the way
// status counts them from the checkpoint: lfs migrate was started on them in this run (an
// attempt record) and their outcome is not recorded yet. That is the one meaning of "in
// flight" in migrator's output (README, "Files in flight").
type inFlight struct {
	migrate.Recorder
	mu   sync.Mutex
	open map[uint64]struct{}
	n    atomic.Int64
}

func newInFlight(r migrate.Recorder) *inFlight {
	return &inFlight{Recorder: r, open: map[uint64]struct{}{}}
}

// AppendAttempt records an attempt; the file is in flight from now on.
func (f *inFlight) AppendAttempt(a *checkpoint.Attempt) error {
	if err := f.Recorder.AppendAttempt(a); err != nil {
		return err
	}
	f.mu.Lock()
	if _, ok := f.open[a.Index]; !ok {
		f.open[a.Index] = struct{}{}
		f.n.Add(1)
	}
	f.mu.Unlock()
	return nil
}

// Append records an outcome; the file is no longer in flight.
func (f *inFlight) Append(r *checkpoint.Record) error {
	if err := f.Recorder.Append(r); err != nil {
		return err
	}
	f.mu.Lock()
	if _, ok := f.open[r.Index]; ok {
		delete(f.open, r.Index)
		f.n.Add(-1)
	}
	f.mu.Unlock()
	return nil
}

// Files is how many files are in flight now.
func (f *inFlight) Files() int64 { return f.n.Load() }
