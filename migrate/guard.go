package migrate

import "sync/atomic"

// Ownership: a task writes its shard's log and runs lfs migrate only while it holds the
// shard's lock. Another task may break the lock of a holder it took for dead (a node cut
// off, a process stopped for longer than the stale age), and the holder may wake up later.
// So the engine asks Options.Owned before every batch of checks (check), every batch of
// verifications (verify), every batch of attempt records and right before every lfs
// migrate call: a holder that lost its lock stops within the one call it had started.
// checkpoint.Lock.Check costs an open and two fstats (a few microseconds locally; one
// metadata round trip on a network filesystem), next to the fork and exec of an lfs call.

// owns reports whether the task still owns its shard; if not, the task stops with the
// owner's error (checkpoint.ErrLockLost) and the caller must drop its items.
func (t *task) owns() bool {
	if t.o.Owned == nil {
		return true
	}
	if err := t.o.Owned(); err != nil {
		t.fail(err)
		return false
	}
	return true
}

// intent counts the batches of attempt records: appended (under recMu) and known synced.
type intent struct {
	appended uint64
	synced   atomic.Uint64
}

// syncIntent returns once the attempt batch numbered seq is durable. Group commit: one
// fsync covers every batch appended before it began, fsyncs of several workers run at once
// (sharing the filesystem's journal commit), and appends are never held up by them.
func (t *task) syncIntent(seq uint64) error {
	if t.synced.Load() >= seq {
		return nil
	}
	t.recMu.Lock()
	upto := t.appended
	t.recMu.Unlock()
	if err := t.rec.Sync(); err != nil {
		return err
	}
	for {
		cur := t.synced.Load()
		if cur >= upto || t.synced.CompareAndSwap(cur, upto) {
			return nil
		}
	}
}
