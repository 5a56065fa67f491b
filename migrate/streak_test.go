package migrate

import (
	"errors"
	"syscall"
	"testing"

	"migrator/checkpoint"
	"migrator/lfs"
)

// failing makes lfs migrate fail with errno for the files fails selects (by position in
// the shard) and move the others.
func failing(f *fakeLFS, pos map[string]int, fails func(i int) syscall.Errno) func(*fakeLFS, []string) ([]lfs.MigrateResult, error) {
	return func(f *fakeLFS, files []string) ([]lfs.MigrateResult, error) {
		out := make([]lfs.MigrateResult, len(files))
		for i, p := range files {
			if e := fails(pos[p]); e != 0 {
				out[i] = lfs.MigrateResult{Status: lfs.MigrateFailed, Errno: e, Reason: "cannot open source file"}
				continue
			}
			f.move(p)
			out[i] = lfs.MigrateResult{Status: lfs.MigrateOK}
		}
		return out, nil
	}
}

func TestErrorStreak(t *testing.T) {
	tests := []struct {
		name       string
		n          int
		limit      int
		failedWith syscall.Errno // earlier round's errno of every entry (a retry round), or 0
		fails      func(i int) syscall.Errno
		wantStreak bool
		wantFailed int // when the task runs to the end
	}{
		{"a fifth EACCES among successes never trips", 1000, 50, 0,
			func(i int) syscall.Errno { return map[bool]syscall.Errno{true: syscall.EACCES}[i%5 == 0] }, false, 200},
		{"fifty identical in a row on distinct files trip", 120, 50, 0,
			func(i int) syscall.Errno { return syscall.EACCES }, true, 0},
		{"0 turns the guard off", 120, 0, 0,
			func(i int) syscall.Errno { return syscall.EACCES }, false, 120},
		{"a retry round of 60 earlier failures, the first few now succeed", 60, 50, syscall.EACCES,
			func(i int) syscall.Errno { return map[bool]syscall.Errno{true: syscall.EACCES}[i >= 5] }, false, 55},
		{"a retry round whose files now fail another way trips", 60, 50, syscall.EACCES,
			func(i int) syscall.Errno { return syscall.EIO }, true, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f, es, sel := setup(t, tt.n)
			pos := map[string]int{}
			for i := range es {
				pos[es[i].Path] = i
				if tt.failedWith != 0 {
					es[i].SetFailedBefore(tt.failedWith)
				}
			}
			f.migrate = failing(f, pos, tt.fails)
			rec, err := run(t, f, es, sel, Options{Workers: 8, StreakLimit: tt.limit}, State{})
			if got := errors.Is(err, ErrErrorStreak); got != tt.wantStreak {
				t.Fatalf("streak stop %v (err %v), want %v", got, err, tt.wantStreak)
			}
			if tt.wantStreak {
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			failed := 0
			for _, r := range rec.recs {
				if r.Outcome == checkpoint.Failed {
					failed++
				}
			}
			if failed != tt.wantFailed || len(rec.recs) != tt.n {
				t.Errorf("%d failed of %d recorded, want %d of %d", failed, len(rec.recs), tt.wantFailed, tt.n)
			}
		})
	}
}
