package checkpoint

import (
	"errors"
	"os"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"
)

// A creator slower than the stale age between writing its temporary file and linking it
// (stopped by Slurm's suspend, stalled on an NFS server, or on a Lustre client whose clock
// is behind) has that file tidied away by a contested take beside it. It must then see
// the lock as taken or take it afresh: never fail with an error that is not ErrLocked
// (work would not exit 6, distscan would abort its task, collect would fail). Here tidy
// runs with a stale age of a nanosecond, so any creator is that slow.
func TestCreatorOutlivedByTidy(t *testing.T) {
	path := filepath.Join(t.TempDir(), "shard.lock")
	var stop atomic.Bool
	done := make(chan struct{})
	go func() {
		defer close(done)
		for !stop.Load() {
			tidy(path, LockOptions{StaleAfter: time.Nanosecond})
		}
	}()
	defer func() { stop.Store(true); <-done }()
	me := CurrentHolder(os.Getenv)
	deadline := time.Now().Add(3 * time.Second)
	n := 0
	for time.Now().Before(deadline) {
		l, err := AcquireLock(path, me, quick)
		n++
		if err != nil {
			if !errors.Is(err, ErrLocked) {
				t.Fatalf("take %d: %v", n, err)
			}
			continue
		}
		l.Release()
	}
	t.Logf("%d takes", n)
}
