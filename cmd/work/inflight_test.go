package work

import (
	"testing"

	"migrator/checkpoint"
)

type nopRecorder struct{}

func (nopRecorder) Append(*checkpoint.Record) error         { return nil }
func (nopRecorder) AppendAttempt(*checkpoint.Attempt) error { return nil }
func (nopRecorder) Sync() error                             { return nil }

// In flight: an attempt recorded and no outcome after it, as status reads the checkpoint.
func TestInFlight(t *testing.T) {
	f := newInFlight(nopRecorder{})
	steps := []struct {
		attempt bool
		index   uint64
		want    int64
	}{
		{true, 1, 1}, {true, 2, 2}, {true, 3, 3},
		{true, 2, 3},  // a retry of a file still in flight (put back, tried again)
		{false, 2, 2}, // its outcome
		{false, 9, 2}, // an outcome without an attempt (skipped before lfs migrate)
		{false, 1, 1}, {false, 3, 0},
		{false, 3, 0}, // never below zero
	}
	for i, s := range steps {
		if s.attempt {
			f.AppendAttempt(&checkpoint.Attempt{Index: s.index})
		} else {
			f.Append(&checkpoint.Record{Index: s.index})
		}
		if got := f.Files(); got != s.want {
			t.Errorf("step %d: %d in flight, want %d", i, got, s.want)
		}
	}
}
