package migrate

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
