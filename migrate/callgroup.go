package migrate

import "sync"

// Calls that start together are checked together (see "Trust model" in the README).
//
// Right before an lfs migrate call, bind re-reads each file's identity and HSM state, and
// attempt makes the attempt records durable. Done per call, that is one lfs hsm_state
// exec (plus one lfs path2fid where the FID cannot be read from a file handle) and one
// fsync for every lfs migrate exec: with one file per call, three execs per file.
//
// So the workers that reach that point while another one is in it form a group, as a
// group commit does: when the running group is done, one of the waiting workers binds
// every file of every call of the next group at once (one walk per file, one lfs
// path2fid and one lfs hsm_state for all of them, a second walk per file), appends their
// attempt records and makes them durable with one fsync, and then every call of the
// group starts. Nothing is asked earlier than before: the HSM state a call relies on was
// read by the one lfs hsm_state that precedes it, with only the second walks, one fsync
// and the ownership check in between, as for a call on its own. A group never waits for
// more members than have already arrived, so a worker alone binds alone.
//
// Why the HSM state is not read further ahead (say, for the next files a worker will
// take): lfs migrate never looks at it, and the copy's first read of a file released in
// the meantime restores it from the archive (see lfs/LUSTRE.md, the migrate row); and a
// release cannot be held off by keeping the file open for reading: from MDS 2.15
// (LU-13668) mdt_object_open_lock() refuses the exclusive lease that ll_hsm_release()
// takes only when another opener has the file open for write, which migrator must never
// do to a file that may be released. The check must stay right before the call.

// callGroup is the lfs migrate calls of workers that are bound together.
type callGroup struct {
	units [][]*item
	ready [][]*item // per unit: its files bound and recorded as attempted
	done  chan struct{}
}

// grouping is whether a group is being run (gbusy) and the one forming (gnext).
type grouping struct {
	gmu   sync.Mutex
	gcond *sync.Cond
	gbusy bool
	gnext *callGroup
}

// bindGroup returns the files of u that may be given to lfs migrate now: bound (bind.go),
// their attempts counted and their attempt records durable. It binds u together with the
// units of the other workers that reach it while a group is running.
func (t *task) bindGroup(u []*item) []*item {
	t.gmu.Lock()
	defer t.gmu.Unlock()
	if t.gnext == nil {
		t.gnext = &callGroup{done: make(chan struct{})}
	}
	g := t.gnext
	k := len(g.units)
	g.units = append(g.units, u)
	for {
		select {
		case <-g.done:
			return g.ready[k]
		default:
		}
		if !t.gbusy {
			// g is not done and not taken: it is the forming group. Run it.
			run := t.gnext
			t.gbusy, t.gnext = true, nil
			t.gmu.Unlock()
			t.runGroup(run)
			t.gmu.Lock()
			t.gbusy = false
			close(run.done)
			t.gcond.Broadcast()
			continue
		}
		t.gcond.Wait()
	}
}

// runGroup binds every file of the group's calls at once and records them as attempted
// with one fsync.
func (t *task) runGroup(g *callGroup) {
	g.ready = make([][]*item, len(g.units))
	var all []*item
	unit := map[*item]int{}
	for k, u := range g.units {
		for _, it := range u {
			unit[it] = k
		}
		all = append(all, u...)
	}
	if t.fatalErr() != nil || t.interrupted() {
		t.drop(all...)
		return
	}
	b := t.bind(all)
	if len(b) == 0 {
		return
	}
	for _, it := range b {
		it.attempts++
	}
	if !t.attempt(b) {
		t.drop(b...)
		return
	}
	for _, it := range b {
		k := unit[it]
		g.ready[k] = append(g.ready[k], it)
	}
}
