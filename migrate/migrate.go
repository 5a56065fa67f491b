// Package migrate is the engine of one array task: it takes a shard's entries that the
// checkpoint does not list as done, re-checks each file, migrates what still needs it with
// a pool of lfs migrate processes, verifies where each file ended up, and hands every
// outcome to the checkpoint.
//
// It is a pipeline, so that the --workers lfs migrate processes stay busy whatever the
// shard's size:
//
//	feeder ── batches of 1024 ─► checkers ── units of 1 (or --batch) ──► migrators ──► verifier
//	  ▲ (entries not done, and retries that are due)                        │              │
//	  └────────────────────── busy files, files back on a source OST ◄──────┴──────────────┘
//
// Every check is batched across files, because one exec per lfs call is the cost that
// dominates: one "lfs find FILE... --printf" answers "same FID?" and "still on a source
// OST?" for a batch of files before their migrations (two calls on clients older than
// 2.15), and one more verifies where they ended up after.
package migrate

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"migrator/campaign"
	"migrator/checkpoint"
	"migrator/lfs"
	"migrator/manifest"
)

// LFS is what a task needs from the lfs command.
type LFS interface {
	FileInfoOn(ctx context.Context, files []string, sources lfs.OSTList) ([]lfs.FileInfoResult, error)
	FileInfoCompat(ctx context.Context, files []string, osts lfs.OSTList) ([]lfs.FileInfoResult, error)
	HSMStates(ctx context.Context, files []string) ([]lfs.HSMResult, error)
	Migrate(ctx context.Context, opts lfs.MigrateOptions, files []string) ([]lfs.MigrateResult, error)
	FIDToPath(ctx context.Context, root string, fids []lfs.FID, nul bool) ([]lfs.FIDPathResult, error)
	PathToFID(ctx context.Context, files []string) ([]lfs.FIDResult, error)
}

// Source yields a shard's entries in order; Next returns io.EOF at the end.
type Source interface {
	Next(e *manifest.Entry) error
}

// Recorder takes outcomes and attempts; calls are serialised by the engine.
type Recorder interface {
	Append(r *checkpoint.Record) error
	AppendAttempt(a *checkpoint.Attempt) error
	// Sync makes every record appended before it durable. The engine calls it after the
	// attempt records of an lfs migrate call and before the call starts (durable intent),
	// outside the serialisation of the appends: it must be safe to call concurrently.
	Sync() error
}

// State is what the checkpoint says about the shard before this run.
type State struct {
	Done      *checkpoint.Done // entries with an outcome
	Attempted *checkpoint.Done // entries lfs migrate was run on (may be nil)
}

// Options control a task.
type Options struct {
	Selection campaign.Selection // sources, scan paths, excludes
	Target    lfs.MigrateOptions
	DryRun    bool
	Workers   int // lfs migrate processes at once
	// Batch is files per lfs migrate call; 1 migrates one file per call. Batching needs an
	// explicit target layout; names with a newline always go alone.
	Batch int
	// CheckBatch is files per check and verify call (default 1024): each costs one lfs call.
	CheckBatch  int
	FileTimeout time.Duration // per lfs migrate of one file; 0: none
	MaxAttempts int           // for busy or changing files (default 5)
	RetryBase   time.Duration // first backoff for them (default 2 s, doubling, at most 2 min)
	// StreakLimit is how many failures in a row with the same errno, on distinct files,
	// stop the task (0: never). See noteStreak for what counts.
	StreakLimit int
	// NoPrintf is set for lfs clients older than 2.15, which lack find --printf.
	NoPrintf bool
	// FIDPrint0 is set for lfs clients that take fid2path --print0 (2.16 and later).
	FIDPrint0 bool
	// Owned, if set, says whether this task still owns the shard (its lock); see guard.go.
	Owned func() error
	// OnSwap, if set, is told of every file recorded as swapped (bind.go), with the
	// manifest's path and what was found: an alarm for the task's log. Calls may be
	// concurrent.
	OnSwap func(path, msg string)
	// FIDRoot, if set, is the mount point of the filesystem, whose .lustre/fid lfs migrate
	// is given each file through (MOUNT/.lustre/fid/FID: the checked file, whatever its
	// path names by then); see FIDRootOf and bind.go. Empty: the walked path.
	FIDRoot string
}

func (o *Options) defaults() {
	if o.Workers < 1 {
		o.Workers = 1
	}
	if o.Batch < 1 || !o.Target.ExplicitLayout() {
		o.Batch = 1
	}
	if o.CheckBatch < 1 {
		o.CheckBatch = 1024
	}
	if o.MaxAttempts < 1 {
		o.MaxAttempts = 5
	}
	if o.RetryBase <= 0 {
		o.RetryBase = 2 * time.Second
	}
}

// Stats are a task's counters, safe to read while it runs.
type Stats struct {
	Done       atomic.Int64 // entries with an outcome in this run
	Migrated   atomic.Int64
	Skipped    atomic.Int64
	Failed     atomic.Int64
	Would      atomic.Int64
	Bytes      atomic.Int64 // migrated bytes
	Retries    atomic.Int64 // busy or changed files put back for later
	InFlight   atomic.Int64 // lfs migrate calls running
	LFSCalls   atomic.Int64
	Interrupts atomic.Int64 // files whose migration was cut short by a signal (left pending)
	Swapped    atomic.Int64 // files whose path was swapped after their check: alarms (bind.go)
}

// Errors that stop a task early. The entries they concern stay pending.
var (
	ErrNoSpace     = errors.New("the target OSTs are out of space or quota")
	ErrErrorStreak = errors.New("too many identical failures in a row")
)

// verifyEvery bounds how long a migrated file waits for its verification and outcome
// record when files are slow, so progress and checkpoints stay current.
const verifyEvery = 2 * time.Second

// checkers is how many check batches are prepared at once: one in lfs, one being queued.
const checkers = 2

// Run processes the entries of src that the state does not list as done. stop ends the
// feeding of new work: migrations already running finish (their lfs processes are
// cancelled only when kill is) and are verified and recorded. It returns nil when every
// entry was handled (or stop was called), ErrNoSpace or ErrErrorStreak when it stopped to
// protect the filesystem, or the first fatal error.
func Run(stop, kill context.Context, l LFS, src Source, state State, rec Recorder, o Options, st *Stats) error {
	t := newTask(stop, kill, l, state, rec, o, st)
	o = t.o

	checkCh := make(chan []*item)
	readyCh := make(chan []*item, o.Workers)
	verifyCh := make(chan *item, o.CheckBatch)
	var cw, mw sync.WaitGroup
	for range checkers {
		cw.Add(1)
		go func() {
			defer cw.Done()
			for b := range checkCh {
				t.check(b, readyCh)
			}
		}()
	}
	for range o.Workers {
		mw.Add(1)
		go func() {
			defer mw.Done()
			for u := range readyCh {
				t.migrateUnit(u, verifyCh)
			}
		}()
	}
	verified := make(chan struct{})
	go func() {
		defer close(verified)
		t.verifier(verifyCh)
	}()

	feedErr := t.feed(src, checkCh)
	close(checkCh)
	cw.Wait()
	close(readyCh)
	mw.Wait()
	close(verifyCh)
	<-verified
	if feedErr != nil {
		return feedErr
	}
	return t.fatalErr()
}

func newTask(stop, kill context.Context, l LFS, state State, rec Recorder, o Options, st *Stats) *task {
	o.defaults()
	if state.Attempted == nil {
		state.Attempted = checkpoint.NewDone(0)
	}
	t := &task{l: l, o: o, st: st, state: state, rec: rec, sources: o.Selection.SourceOSTs(), stop: stop, kill: kill,
		real: o.Selection.Resolved()}
	t.cond = sync.NewCond(&t.mu)
	t.gcond = sync.NewCond(&t.gmu)
	return t
}

type item struct {
	idx      uint64
	e        manifest.Entry
	attempts uint32
	spent    time.Duration
	due      time.Time // for retries
	moves    int       // times it was found again by FID under another name in this run
	op       string    // e.Path as bind walked it (the scan path's own symlinks resolved)
	arg      string    // what lfs migrate was given: op, or FIDRoot/.lustre/fid/FID
}

// maxMoves bounds how often one file is followed to a new name in a run: a file renamed
// faster than it can be checked is failed (retryable), not chased forever.
const maxMoves = 8

type task struct {
	l       LFS
	o       Options
	st      *Stats
	state   State
	sources lfs.OSTList
	real    campaign.Selection // the selection with symlinks in its paths resolved (fid2path prints real paths)
	stop    context.Context
	kill    context.Context

	recMu sync.Mutex // serialises rec
	rec   Recorder

	intent // attempt batches appended and synced (guard.go)

	grouping // lfs migrate calls bound together (callgroup.go)

	mu        sync.Mutex
	cond      *sync.Cond // signalled when inflight drops or a retry is queued
	retries   []*item    // put back, not yet due or not yet taken
	inflight  int        // items handed out by the feeder and not yet recorded, put back or dropped
	fatal     error
	streakErr syscall.Errno
	streak    map[uint64]bool // the entries of the current streak
}

func (t *task) fail(err error) {
	t.mu.Lock()
	if t.fatal == nil {
		t.fatal = err
	}
	t.cond.Broadcast()
	t.mu.Unlock()
}

func (t *task) fatalErr() error {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.fatal
}

// settled marks n items as out of the pipeline (recorded, put back or dropped).
func (t *task) settled(n int) {
	t.mu.Lock()
	t.inflight -= n
	t.cond.Broadcast()
	t.mu.Unlock()
}

// drop leaves items pending, unrecorded: the task is stopping, or lfs could not be asked.
func (t *task) drop(items ...*item) { t.settled(len(items)) }

// feed hands out batches: entries not yet done from src, and retries when they are due.
// It ends when both are exhausted and nothing is in the pipeline (which could put more
// back), or when the task stops.
func (t *task) feed(src Source, out chan<- []*item) error {
	size := t.o.CheckBatch
	srcDone := false
	var idx uint64
	for {
		if t.stop.Err() != nil || t.fatalErr() != nil {
			return nil
		}
		b := t.dueRetries(size)
		for !srcDone && len(b) < size {
			var e manifest.Entry
			err := src.Next(&e)
			if err == io.EOF {
				srcDone = true
				break
			}
			if err != nil {
				return err
			}
			i := idx
			idx++
			if !t.state.Done.Has(i) {
				b = append(b, &item{idx: i, e: e})
			}
		}
		if len(b) > 0 {
			t.mu.Lock()
			t.inflight += len(b)
			t.mu.Unlock()
			select {
			case out <- b:
				continue
			case <-t.stop.Done():
				t.drop(b...)
				return nil
			}
		}
		if !srcDone {
			continue
		}
		// Only retries can remain: wait for one to be due, or for the pipeline to settle.
		t.mu.Lock()
		if len(t.retries) == 0 && t.inflight == 0 {
			t.mu.Unlock()
			return nil
		}
		wake := time.AfterFunc(t.nextDue(), func() { t.mu.Lock(); t.cond.Broadcast(); t.mu.Unlock() })
		stopWake := context.AfterFunc(t.stop, func() { t.mu.Lock(); t.cond.Broadcast(); t.mu.Unlock() })
		t.cond.Wait()
		t.mu.Unlock()
		wake.Stop()
		stopWake()
	}
}

// nextDue is how long until the earliest retry is due (called with t.mu held).
func (t *task) nextDue() time.Duration {
	d := time.Minute
	for _, it := range t.retries {
		d = min(d, time.Until(it.due))
	}
	return max(d, time.Millisecond)
}

func (t *task) dueRetries(n int) []*item {
	t.mu.Lock()
	defer t.mu.Unlock()
	var b []*item
	now := time.Now()
	keep := t.retries[:0]
	for _, it := range t.retries {
		if len(b) < n && !it.due.After(now) {
			b = append(b, it)
		} else {
			keep = append(keep, it)
		}
	}
	t.retries = keep
	return b
}

// retryLater puts an item back, due after a backoff that doubles with its attempts.
func (t *task) retryLater(it *item) {
	backoff := t.o.RetryBase << min(it.attempts-1, 6)
	it.due = time.Now().Add(min(backoff, 2*time.Minute))
	t.st.Retries.Add(1)
	t.mu.Lock()
	t.retries = append(t.retries, it)
	t.inflight--
	t.cond.Broadcast()
	t.mu.Unlock()
}

// record appends an item's outcome to the checkpoint.
func (t *task) record(it *item, r checkpoint.Record) {
	r.Index = it.idx
	r.Attempts = it.attempts
	r.Duration = it.spent
	r.Time = time.Now()
	if r.Bytes == 0 {
		r.Bytes = it.e.Size
	}
	switch r.Outcome {
	case checkpoint.Migrated:
		t.st.Migrated.Add(1)
		t.st.Bytes.Add(int64(r.Bytes))
	case checkpoint.Skipped:
		t.st.Skipped.Add(1)
	case checkpoint.Failed:
		t.st.Failed.Add(1)
	case checkpoint.WouldMigrate:
		t.st.Would.Add(1)
	}
	t.st.Done.Add(1)
	t.recMu.Lock()
	err := t.rec.Append(&r)
	t.recMu.Unlock()
	if err != nil {
		t.fail(err)
	}
	t.noteStreak(it, r.Outcome, r.Errno, r.Message)
	t.settled(1)
}

// attempt records that lfs migrate is about to run on the items.
func (t *task) attempt(b []*item) bool {
	now := time.Now()
	var err error
	t.recMu.Lock()
	if !t.owns() {
		t.recMu.Unlock()
		return false
	}
	for _, it := range b {
		if err = t.rec.AppendAttempt(&checkpoint.Attempt{Index: it.idx, Time: now}); err != nil {
			break
		}
	}
	t.appended++
	seq := t.appended
	t.recMu.Unlock()
	if err == nil {
		err = t.syncIntent(seq) // on disk before lfs migrate starts
	}
	if err != nil {
		t.fail(err)
		return false
	}
	return true
}

// noteStreak stops the task after StreakLimit failures in a row with the same errno on
// distinct files, in this run: the filesystem has likely gone away, and failing every
// remaining file would only hide that. "In a row" is in the order lfs answered: a file
// lfs migrate reports as moved (before its batched verification), or any other outcome
// but a failure, ends the streak. A failure that repeats the errno the file failed with
// in an earlier round neither counts nor ends it: a retry round is made of earlier
// failures, and seeing them fail again says nothing about the filesystem.
func (t *task) noteStreak(it *item, outcome checkpoint.Outcome, errno syscall.Errno, msg string) {
	if t.o.StreakLimit <= 0 {
		return
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	if outcome != checkpoint.Failed {
		t.streak = nil
		return
	}
	if prev, ok := it.e.FailedBefore(); ok && prev == errno {
		return
	}
	if errno != t.streakErr || t.streak == nil {
		t.streakErr, t.streak = errno, map[uint64]bool{}
	}
	t.streak[it.idx] = true
	if len(t.streak) >= t.o.StreakLimit && t.fatal == nil {
		t.fatal = fmt.Errorf("%w: %d files failed with %s (%s); the guard is plan --max-error-streak (work --max-error-streak for one run; 0: off)",
			ErrErrorStreak, len(t.streak), lfs.ErrnoName(errno), msg)
	}
}

func skip(reason checkpoint.SkipReason) checkpoint.Record {
	return checkpoint.Record{Outcome: checkpoint.Skipped, Reason: reason}
}

// interrupted reports whether the task is being stopped.
func (t *task) interrupted() bool { return t.kill.Err() != nil || t.stop.Err() != nil }

// stoppedBySignal reports whether an lfs call failed because lfs was sent SIGTERM or
// SIGINT: scancel signals every process of a task, children included, often before the
// task itself has reacted, so this is an interruption even when the task is not (yet)
// stopping.
func stoppedBySignal(err error) bool {
	var xe *lfs.ExitError
	return errors.As(err, &xe) && xe.Code < 0 && (xe.Signal == syscall.SIGTERM || xe.Signal == syscall.SIGINT)
}

// check re-checks a batch and queues what still needs migrating, in units of one file or
// of Batch files.
func (t *task) check(b []*item, ready chan<- []*item) {
	if t.fatalErr() != nil || t.interrupted() || !t.owns() {
		t.drop(b...)
		return
	}
	var lost []*item
	cands := t.layoutCheck(t.lstatCheck(b, &lost), &lost)
	for len(lost) > 0 {
		found := t.relocate(lost)
		lost = nil
		cands = append(cands, t.layoutCheck(t.lstatCheck(found, &lost), &lost)...)
	}
	if t.o.DryRun {
		for _, it := range cands {
			t.record(it, checkpoint.Record{Outcome: checkpoint.WouldMigrate})
		}
		return
	}
	var unit []*item
	for _, it := range cands {
		if t.o.Batch == 1 || strings.IndexByte(it.e.Path, '\n') >= 0 {
			ready <- []*item{it}
			continue
		}
		unit = append(unit, it)
		if len(unit) == t.o.Batch {
			ready <- unit
			unit = nil
		}
	}
	if len(unit) > 0 {
		ready <- unit
	}
}

// lstatCheck is the cheap local check: the path still exists, is a regular file (never a
// symlink, device, FIFO or socket), and is in scope and not excluded. A path that is gone
// or names something else goes to lost, to be looked for by FID.
func (t *task) lstatCheck(b []*item, lost *[]*item) []*item {
	var out []*item
	for _, it := range b {
		p := it.e.Path
		if !t.inScope(p) {
			t.record(it, skip(checkpoint.SkipExcluded))
			continue
		}
		fi, err := os.Lstat(p)
		switch {
		case lfs.IsGone(err), err == nil && !fi.Mode().IsRegular():
			*lost = append(*lost, it)
		case err != nil:
			t.recordErr(it, "lstat", err)
		default:
			out = append(out, it)
		}
	}
	return out
}

// recordErr records a failure of a local check.
func (t *task) recordErr(it *item, what string, err error) {
	var e syscall.Errno
	var xe *lfs.ExitError
	if !errors.As(err, &e) && errors.As(err, &xe) {
		e = xe.Errno()
	}
	c := lfs.Classify(e)
	t.record(it, checkpoint.Record{Outcome: checkpoint.Failed, Class: c, Errno: e, Retryable: c.Retryable(),
		Message: what + ": " + err.Error()})
}

func paths(b []*item) []string {
	ps := make([]string, len(b))
	for i, it := range b {
		ps[i] = it.e.Path
	}
	return ps
}

// fileState is what the batched layout check found for one file.
type fileState struct {
	ok       bool // exists and is a regular file
	fid      lfs.FID
	onSource bool
	err      error // lfs failed on a file that is still there
}

// states asks lfs about files: FID and whether any object is on a source OST.
func (t *task) states(b []*item) ([]fileState, error) {
	ps := paths(b)
	t.st.LFSCalls.Add(1)
	var infos []lfs.FileInfoResult
	var err error
	if t.o.NoPrintf {
		infos, err = t.l.FileInfoCompat(t.kill, ps, t.sources)
	} else {
		infos, err = t.l.FileInfoOn(t.kill, ps, t.sources)
	}
	if err != nil {
		return nil, err
	}
	states := make([]fileState, len(b))
	for i, r := range infos {
		states[i] = fileState{ok: r.OK, fid: r.Info.FID, onSource: t.sources.ContainsAny(r.Info.OSTs), err: r.Err}
	}
	return states, nil
}

// layoutCheck keeps the files that are still the same file (FID) and still have an object
// on a source OST, and are not HSM-released (never trigger a restore from the archive).
// A file no longer at its path, or whose path names another file, goes to lost.
func (t *task) layoutCheck(b []*item, lost *[]*item) []*item {
	if len(b) == 0 {
		return nil
	}
	states, err := t.states(b)
	if err != nil {
		t.lfsFailed(err)
		t.drop(b...)
		return nil
	}
	var out, off []*item
	for i, it := range b {
		s := states[i]
		switch {
		case s.err != nil:
			t.recordErr(it, "lfs find", s.err)
		case !s.ok:
			t.recheckLost(it, lost)
		case s.fid != it.e.FID:
			*lost = append(*lost, it)
		case !s.onSource && (t.state.Attempted.Has(it.idx) || it.e.Flags&manifest.EntryAttempted != 0):
			// An earlier run (of this shard, or of an earlier round) moved it and was stopped
			// before recording so.
			t.record(it, checkpoint.Record{Outcome: checkpoint.Migrated, Message: "completed by an earlier run"})
		case !s.onSource && it.attempts > 0:
			// This run moved it, and it was renamed before the verification saw it.
			t.record(it, checkpoint.Record{Outcome: checkpoint.Migrated})
		case !s.onSource:
			off = append(off, it)
		default:
			out = append(out, it)
		}
	}
	// HSM-released files are skipped, whatever their layout seems to say: a released layout
	// has no objects, yet what lfs find makes of its stripe slots is not defined (see
	// lfs/LUSTRE.md), and lfs migrate of one restores it from the archive. lfs hsm_state
	// says so for every file, in one call for the batch; a released file is never attempted.
	if len(out)+len(off) > 0 {
		cand := append(append([]*item(nil), out...), off...)
		hs, err := t.l.HSMStates(t.kill, paths(cand))
		if err != nil {
			t.lfsFailed(err)
			t.drop(cand...)
			return nil
		}
		keep := out[:0:0]
		for i, it := range cand {
			switch {
			case hs[i].Err == nil && hs[i].State.Released():
				t.record(it, skip(checkpoint.SkipReleased))
			case hs[i].Err != nil && i < len(out):
				// Not known not to be released: never attempted, failed for a later round.
				if _, err := os.Lstat(it.e.Path); lfs.IsGone(err) {
					t.record(it, skip(checkpoint.SkipGone))
				} else {
					t.recordErr(it, "lfs hsm_state", hs[i].Err)
				}
			case i >= len(out):
				t.record(it, skip(checkpoint.SkipOffSource))
			default:
				keep = append(keep, it)
			}
		}
		out = keep
	}
	return out
}

// recheckLost looks again at a file lfs no longer saw as a regular file: gone from its
// path, or replaced by something that is not a regular file, it goes to lost.
func (t *task) recheckLost(it *item, lost *[]*item) {
	fi, err := os.Lstat(it.e.Path)
	switch {
	case lfs.IsGone(err), err == nil && !fi.Mode().IsRegular():
		*lost = append(*lost, it)
	case err != nil:
		t.recordErr(it, "lstat", err)
	default:
		// A regular file lfs could not describe: let the migration say why.
		t.recordErr(it, "lfs find", syscall.EIO)
	}
}

// lfsFailed handles an lfs call that failed as a whole: when the task is being stopped it
// is an interruption (the files stay pending); otherwise it stops the task.
func (t *task) lfsFailed(err error) {
	if t.interrupted() || stoppedBySignal(err) {
		return
	}
	t.fail(fmt.Errorf("lfs failed: %w", err))
}

// migrateUnit runs lfs migrate on one unit and passes what lfs reported (or could not
// attribute) to the verifier.
func (t *task) migrateUnit(u []*item, verify chan<- *item) {
	if t.fatalErr() != nil || t.interrupted() {
		t.drop(u...)
		return
	}
	for _, it := range t.migrate(u) {
		verify <- it
	}
}

// migrate runs one lfs migrate call; failures are handled here.
func (t *task) migrate(b []*item) []*item {
	if b = t.bindGroup(b); len(b) == 0 { // bound, attempts recorded and durable (callgroup.go)
		return nil
	}
	ctx := t.kill
	if t.o.FileTimeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, t.o.FileTimeout*time.Duration(len(b)))
		defer cancel()
	}
	// A stop, a tripped streak guard or a lost lock while the group was checked: no call
	// starts (its attempt records are written; a rerun reads them as for a lost lock).
	if t.fatalErr() != nil || t.interrupted() || !t.owns() {
		t.drop(b...)
		return nil
	}
	start := time.Now()
	t.st.InFlight.Add(1)
	t.st.LFSCalls.Add(1)
	ops := make([]string, len(b))
	for i, it := range b {
		ops[i] = it.arg
	}
	res, err := t.l.Migrate(ctx, t.o.Target, ops)
	t.st.InFlight.Add(-1)
	spent := time.Since(start) / time.Duration(len(b))
	for _, it := range b {
		it.spent += spent
	}
	if err != nil {
		var xe *lfs.ExitError
		switch {
		case t.interrupted():
			// Our own stop: the files stay pending, their originals intact.
			t.st.Interrupts.Add(int64(len(b)))
			t.drop(b...)
		case ctx.Err() != nil:
			// Our per-file timeout stopped it (with SIGTERM, like scancel would).
			for _, it := range b {
				t.failed(it, lfs.MigrateResult{Status: lfs.MigrateFailed, Errno: syscall.ETIMEDOUT,
					Reason: fmt.Sprintf("timed out after %v", t.o.FileTimeout)}, lfs.ClassRetryLater)
			}
		case stoppedBySignal(err):
			// scancel reached lfs before it reached us: interrupted, not failed.
			t.st.Interrupts.Add(int64(len(b)))
			t.drop(b...)
		case errors.As(err, &xe) && xe.Code < 0:
			// Killed by something else (the OOM killer, an admin): try again later.
			for _, it := range b {
				t.failed(it, lfs.MigrateResult{Status: lfs.MigrateFailed, Errno: syscall.EINTR,
					Reason: "lfs migrate was killed by " + xe.Signal.String()}, lfs.ClassRetryLater)
			}
		default:
			t.fail(fmt.Errorf("lfs migrate: %w", err))
			t.drop(b...)
		}
		return nil
	}
	var reported []*item
	for i, it := range b {
		switch r := res[i]; r.Status {
		case lfs.MigrateOK:
			t.noteStreak(it, checkpoint.Migrated, 0, "") // lfs moved it: the streak ends now, not at the verify
			reported = append(reported, it)
		case lfs.MigrateUnknown:
			reported = append(reported, it)
		default:
			t.failed(it, r, r.Class())
		}
	}
	return reported
}

// failed handles a failure lfs reported for one file.
func (t *task) failed(it *item, r lfs.MigrateResult, class lfs.Class) {
	msg := r.Reason
	if r.Errno != 0 {
		msg += ": " + lfs.Strerror(r.Errno)
	}
	switch class {
	case lfs.ClassRetryLater:
		if it.attempts < uint32(t.o.MaxAttempts) {
			t.retryLater(it)
			return
		}
	case lfs.ClassVanished:
		// Renamed or removed under lfs: the check finds it again by FID, or says it is gone.
		// Unless its path now leads elsewhere: a swap during the call (a file renamed over
		// the checked one, which the rename removed).
		if msg := t.swappedNow(it); msg != "" {
			t.swapped(it, msg)
			return
		}
		if it.attempts < uint32(t.o.MaxAttempts) {
			t.requeue(it)
			return
		}
	case lfs.ClassNoSpace:
		// Not recorded: the file stays pending for a later run, when there is room.
		t.fail(fmt.Errorf("%w: %s", ErrNoSpace, msg))
		t.drop(it)
		return
	}
	t.record(it, checkpoint.Record{Outcome: checkpoint.Failed, Class: class, Errno: r.Errno,
		Retryable: class.Retryable(), Message: msg})
}

// verifier gathers migrated files and verifies them CheckBatch at a time, or sooner: when
// the oldest has waited verifyEvery, or when nothing else is in flight (the end of the
// shard, or only retries left), so no file waits for others that will not come.
func (t *task) verifier(in <-chan *item) {
	var pending []*item
	var oldest time.Time
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for {
		select {
		case it, ok := <-in:
			if !ok {
				t.verify(pending)
				return
			}
			if len(pending) == 0 {
				oldest = time.Now()
			}
			pending = append(pending, it)
			if len(pending) >= t.o.CheckBatch {
				t.verify(pending)
				pending = nil
			}
		case <-tick.C:
			if len(pending) > 0 && (time.Since(oldest) >= verifyEvery || t.onlyVerifying(len(pending))) {
				t.verify(pending)
				pending = nil
			}
		}
	}
}

// onlyVerifying reports whether the n items waiting for verification are all that is in
// flight.
func (t *task) onlyVerifying(n int) bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.inflight == n
}

// verify checks where files lfs reported (or could not attribute) ended up: off every
// source OST and still the same file, or it is not a success.
func (t *task) verify(b []*item) {
	if len(b) == 0 {
		return
	}
	if !t.owns() {
		t.drop(b...) // migrated but unrecorded: the attempt records let the new owner count them
		return
	}
	states, err := t.states(b)
	if err != nil {
		t.lfsFailed(err)
		t.drop(b...) // migrated but unrecorded: the attempt records let a rerun count them
		return
	}
	for i, it := range b {
		s := states[i]
		if msg := swappedAfter(it); msg != "" {
			t.swapped(it, msg)
			continue
		}
		switch {
		case s.ok && s.fid != it.e.FID:
			// lfs migrate was given a path that names another file now: swapped during the
			// call (or replaced by a rename since, which cannot be told apart).
			t.swapped(it, fmt.Sprintf("after lfs migrate: %q names %v, not the checked %v", it.e.Path, s.fid, it.e.FID))
		case s.err != nil:
			t.recordErr(it, "lfs find", s.err)
		case !s.ok:
			// Renamed (or removed) since lfs migrate ran: the check finds it by FID again
			// and, off the sources, records it as migrated by this run.
			t.requeue(it)
		case !s.onSource:
			t.record(it, checkpoint.Record{Outcome: checkpoint.Migrated})
		case it.attempts < uint32(t.o.MaxAttempts):
			t.retryLater(it) // lfs did not say, or the new objects landed on a source OST again
		default:
			t.record(it, checkpoint.Record{Outcome: checkpoint.Failed, Class: lfs.ClassOther, Retryable: true,
				Message: "still has an object on a source OST after lfs migrate (is object creation stopped on the source OSTs? lctl set_param osp.*.max_create_count=0 on the MDS)"})
		}
	}
}

// requeue puts an item back at once: it goes through the check again, which looks for it
// by FID.
func (t *task) requeue(it *item) {
	it.due = time.Now()
	t.mu.Lock()
	t.retries = append(t.retries, it)
	t.inflight--
	t.cond.Broadcast()
	t.mu.Unlock()
}

// relocate looks for lost files by FID (one batched lfs fid2path): a file still inside
// the scan paths and outside the excludes is returned under its current name (any of its
// names, for a hard-linked file) to be checked again; one found only outside them is
// skipped as moved-out, noting whether it still has an object on a source OST; one whose
// FID no longer exists is gone. A file is known by its FID; its name is only where it was
// last seen.
func (t *task) relocate(lost []*item) []*item {
	if len(lost) == 0 {
		return nil
	}
	fids := make([]lfs.FID, len(lost))
	for i, it := range lost {
		fids[i] = it.e.FID
	}
	t.st.LFSCalls.Add(1)
	res, err := t.l.FIDToPath(t.kill, fidRoot(t.o.Selection), fids, t.o.FIDPrint0)
	if err != nil {
		t.lfsFailed(err)
		t.drop(lost...)
		return nil
	}
	var found, out []*item
	for i, it := range lost {
		r := res[i]
		switch {
		case r.Gone():
			t.record(it, skip(checkpoint.SkipGone))
		case r.Err != nil:
			t.recordErr(it, "lfs fid2path", r.Err)
		case it.moves >= maxMoves:
			t.record(it, checkpoint.Record{Outcome: checkpoint.Failed, Class: lfs.ClassRetryLater, Retryable: true,
				Message: fmt.Sprintf("renamed %d times while being migrated", it.moves)})
		default:
			it.moves++
			in := ""
			for _, p := range r.Paths {
				if t.inScope(p) {
					in = p
					break
				}
			}
			if in != "" {
				it.e.Path = in
				found = append(found, it)
				continue
			}
			if len(r.Paths) == 0 {
				t.recordErr(it, "lfs fid2path", syscall.EIO)
				continue
			}
			it.e.Path = r.Paths[0]
			out = append(out, it)
		}
	}
	if len(out) > 0 {
		states, err := t.states(out)
		if err != nil {
			t.lfsFailed(err)
			t.drop(out...)
			return found
		}
		for i, it := range out {
			s := states[i]
			r := skip(checkpoint.SkipMovedOut)
			// Unsure (lfs failed, or it moved again) counts as still there: the sweep decides.
			r.OnSource = s.err != nil || !s.ok || s.fid != it.e.FID || s.onSource
			t.record(it, r)
		}
	}
	return found
}

// inScope reports whether path is inside a scan path and outside every exclude, as given
// or with symbolic links in them resolved.
func (t *task) inScope(path string) bool {
	return t.o.Selection.InScope(path) && !t.o.Selection.Excluded(path) || t.real.InScope(path) && !t.real.Excluded(path)
}

// fidRoot is the path lfs fid2path is given to find the filesystem: any path in it will
// do, so the first scan path that still exists, or its nearest existing ancestor (a scan
// path itself may have been renamed or removed).
func fidRoot(sel campaign.Selection) string {
	for _, p := range sel.ScanPaths {
		if fi, err := os.Stat(string(p)); err == nil && fi.IsDir() {
			return string(p)
		}
	}
	p := string(sel.ScanPaths[0])
	for p != "/" {
		p = filepath.Dir(p)
		if fi, err := os.Stat(p); err == nil && fi.IsDir() {
			return p
		}
	}
	return p
}
