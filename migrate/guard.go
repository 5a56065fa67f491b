package migrate

import "sync"

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

// intent counts the batches of attempt records: appended (under recMu) and known synced
// (under syncMu).
type intent struct {
	appended uint64
	syncMu   sync.Mutex
	synced   uint64
}

// syncIntent returns once the attempt batch numbered seq is durable. Group commit: one
// fsync at a time, covering every batch appended before it began, so a worker that waited
// for another one's fsync is often covered by it; appends are never held up by an fsync.
// (Concurrent fsyncs instead, measured with strace: 2,973 fsyncs for 3,000 one-file calls,
// against 2,327 to 2,525 this way.)
func (t *task) syncIntent(seq uint64) error {
	t.syncMu.Lock()
	defer t.syncMu.Unlock()
	if t.synced >= seq {
		return nil
	}
	t.recMu.Lock()
	upto := t.appended
	t.recMu.Unlock()
	if err := t.rec.Sync(); err != nil {
		return err
	}
	t.synced = upto
	return nil
}
