package migrate

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"migrator/campaign"
	"migrator/checkpoint"
	"migrator/lfs"
	"migrator/manifest"
)

// fakeLFS is a scripted filesystem: files with a FID and OSTs, and a migrate function the
// test controls.
type fakeLFS struct {
	mu      sync.Mutex
	files   map[string]*fakeFile
	migrate func(f *fakeLFS, files []string) ([]lfs.MigrateResult, error)
	calls   int
	// released are HSM-released files: lfs hsm_state says so, whatever FileInfo shows.
	released map[string]bool
	// hsmErr are files lfs hsm_state fails on.
	hsmErr map[string]error

	fid2path int      // FIDToPath calls
	migrated []string // paths moveAll migrated

	hsmAsked [][]string           // the files of each HSMStates call, in order
	p2fCalls int                  // PathToFID calls
	hsmHook  func(files []string) // if set, run at the start of every HSMStates call
}

type fakeFile struct {
	fid  lfs.FID
	osts []uint32
}

func (f *fakeLFS) FileInfoOn(_ context.Context, files []string, _ lfs.OSTList) ([]lfs.FileInfoResult, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	out := make([]lfs.FileInfoResult, len(files))
	for i, p := range files {
		if ff, ok := f.files[p]; ok {
			out[i] = lfs.FileInfoResult{OK: true, Info: lfs.FileInfo{FID: ff.fid, OSTs: ff.osts}}
		}
	}
	return out, nil
}

func (f *fakeLFS) FileInfoCompat(context.Context, []string, lfs.OSTList) ([]lfs.FileInfoResult, error) {
	panic("unused")
}

func (f *fakeLFS) HSMStates(_ context.Context, files []string) ([]lfs.HSMResult, error) {
	if f.hsmHook != nil {
		f.hsmHook(files)
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	f.hsmAsked = append(f.hsmAsked, append([]string(nil), files...))
	res := make([]lfs.HSMResult, len(files))
	for i, p := range files {
		if f.released[p] {
			res[i].State.Flags = lfs.HSExists | lfs.HSArchived | lfs.HSReleased
		}
		res[i].Err = f.hsmErr[p]
	}
	return res, nil
}

func (f *fakeLFS) Migrate(_ context.Context, _ lfs.MigrateOptions, files []string) ([]lfs.MigrateResult, error) {
	f.mu.Lock()
	f.calls++
	f.mu.Unlock()
	return f.migrate(f, files)
}

// move puts a file on OST 7 (off the sources, which are 1 and 2).
func (f *fakeLFS) move(p string) {
	f.mu.Lock()
	f.files[p].osts = []uint32{7}
	f.mu.Unlock()
}

type memSource struct {
	es []manifest.Entry
	i  int
}

func (s *memSource) Next(e *manifest.Entry) error {
	if s.i == len(s.es) {
		return io.EOF
	}
	*e = s.es[s.i]
	s.i++
	return nil
}

type memRecorder struct {
	mu       sync.Mutex
	recs     map[uint64]checkpoint.Record
	attempts map[uint64]int
	synced   map[uint64]int // attempts as of the last Sync
	syncs    int            // Sync calls
	fail     error
}

func (r *memRecorder) Sync() error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.syncs++
	if r.synced == nil {
		r.synced = map[uint64]int{}
	}
	for k, v := range r.attempts {
		r.synced[k] = v
	}
	return nil
}

// durable reports whether entry i's attempts are all synced.
func (r *memRecorder) durable(i uint64) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.attempts[i] > 0 && r.synced[i] == r.attempts[i]
}

func (r *memRecorder) Append(rec *checkpoint.Record) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.fail != nil {
		return r.fail
	}
	r.recs[rec.Index] = *rec
	return nil
}

func (r *memRecorder) AppendAttempt(a *checkpoint.Attempt) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.fail != nil {
		return r.fail
	}
	r.attempts[a.Index]++
	return nil
}

// setup makes n real files (for lstat) known to the fake lfs, on source OST 1.
func setup(t *testing.T, n int) (*fakeLFS, []manifest.Entry, campaign.Selection) {
	dir := t.TempDir()
	f := &fakeLFS{files: map[string]*fakeFile{}}
	var es []manifest.Entry
	for i := 0; i < n; i++ {
		p := filepath.Join(dir, fmt.Sprintf("f%03d", i))
		os.WriteFile(p, []byte("x"), 0o644)
		fid := lfs.FID{Seq: 0x200000400, Oid: uint32(i + 1)}
		f.files[p] = &fakeFile{fid: fid, osts: []uint32{1}}
		es = append(es, manifest.Entry{Path: p, FID: fid, Size: 1, OSTs: []uint32{1}})
	}
	return f, es, campaign.Selection{OSTs: "1-2", ScanPaths: []campaign.Path{campaign.Path(dir)}}
}

func run(t *testing.T, f *fakeLFS, es []manifest.Entry, sel campaign.Selection, o Options, state State) (*memRecorder, error) {
	rec := &memRecorder{recs: map[uint64]checkpoint.Record{}, attempts: map[uint64]int{}}
	if state.Done == nil {
		state.Done = checkpoint.NewDone(uint64(len(es)))
	}
	o.Selection = sel
	if o.RetryBase == 0 {
		o.RetryBase = time.Millisecond
	}
	var st Stats
	err := Run(context.Background(), context.Background(), f, &memSource{es: es}, state, rec, o, &st)
	return rec, err
}

// lfs aborted a batch after a vanished file and said nothing about the rest (it had
// really migrated one of them): every file is verified, none is lost or counted twice.
func TestUnattributedBatchIsVerified(t *testing.T) {
	f, es, sel := setup(t, 20)
	f.migrate = func(f *fakeLFS, files []string) ([]lfs.MigrateResult, error) {
		res := make([]lfs.MigrateResult, len(files))
		for i, p := range files {
			switch {
			case len(files) > 1 && i == 2: // migrated, but lfs's output was lost
				f.move(p)
			case len(files) > 1 && i > 2: // aborted: untouched, unknown
			default:
				f.move(p)
				res[i].Status = lfs.MigrateOK
			}
		}
		return res, nil
	}
	rec, err := run(t, f, es, sel, Options{Target: lfs.MigrateOptions{StripeCount: 1}, Batch: 8, Workers: 2}, State{})
	if err != nil {
		t.Fatal(err)
	}
	for i := range es {
		if r := rec.recs[uint64(i)]; r.Outcome != checkpoint.Migrated {
			t.Errorf("entry %d: %+v", i, r)
		}
	}
}

// Files whose lfs migrate was cut short by the task being stopped are not recorded: they
// stay pending, to be redone, never failed.
func TestInterruptedIsNotRecorded(t *testing.T) {
	f, es, sel := setup(t, 10)
	kill, cancel := context.WithCancel(context.Background())
	f.migrate = func(f *fakeLFS, files []string) ([]lfs.MigrateResult, error) {
		if f.calls > 3 {
			cancel() // scancel arrives
			return nil, &lfs.ExitError{Code: -1, Signal: syscall.SIGTERM}
		}
		f.move(files[0])
		return []lfs.MigrateResult{{Status: lfs.MigrateOK}}, nil
	}
	rec := &memRecorder{recs: map[uint64]checkpoint.Record{}, attempts: map[uint64]int{}}
	var st Stats
	err := Run(kill, kill, f, &memSource{es: es}, State{Done: checkpoint.NewDone(10)}, rec,
		Options{Selection: sel, Workers: 1, CheckBatch: 4}, &st)
	if err != nil {
		t.Fatal(err)
	}
	if len(rec.recs) != 3 || st.Interrupts.Load() != 1 {
		t.Errorf("recorded %d outcomes (want 3), %d interrupts", len(rec.recs), st.Interrupts.Load())
	}
	for _, r := range rec.recs {
		if r.Outcome != checkpoint.Migrated {
			t.Errorf("%+v", r)
		}
	}
}

// A file still on a source OST after lfs migrate reported success (object creation was not
// stopped there) is tried again, and fails with an explanation after the last attempt.
func TestStillOnSourceAfterMigrate(t *testing.T) {
	f, es, sel := setup(t, 3)
	f.migrate = func(f *fakeLFS, files []string) ([]lfs.MigrateResult, error) {
		return []lfs.MigrateResult{{Status: lfs.MigrateOK}}, nil // "migrated", onto OST 1 again
	}
	rec, err := run(t, f, es, sel, Options{Workers: 1, MaxAttempts: 3}, State{})
	if err != nil {
		t.Fatal(err)
	}
	for i := range es {
		r := rec.recs[uint64(i)]
		if r.Outcome != checkpoint.Failed || r.Attempts != 3 || !r.Retryable || rec.attempts[uint64(i)] != 3 {
			t.Errorf("entry %d: %+v, %d attempts recorded", i, r, rec.attempts[uint64(i)])
		}
	}
	if f.calls != 9 {
		t.Errorf("%d lfs migrate calls, want 9", f.calls)
	}
}

// A file an earlier run attempted and that is now off the sources counts as migrated.
func TestAttemptedAndOffSourceIsMigrated(t *testing.T) {
	f, es, sel := setup(t, 4)
	f.move(es[0].Path)
	f.move(es[1].Path)
	attempted := checkpoint.NewDone(4)
	attempted.Add(0)
	f.migrate = func(f *fakeLFS, files []string) ([]lfs.MigrateResult, error) {
		f.move(files[0])
		return []lfs.MigrateResult{{Status: lfs.MigrateOK}}, nil
	}
	rec, err := run(t, f, es, sel, Options{Workers: 1}, State{Attempted: attempted})
	if err != nil {
		t.Fatal(err)
	}
	if r := rec.recs[0]; r.Outcome != checkpoint.Migrated || r.Message != "completed by an earlier run" {
		t.Errorf("attempted: %+v", r)
	}
	if r := rec.recs[1]; r.Outcome != checkpoint.Skipped || r.Reason != checkpoint.SkipOffSource {
		t.Errorf("moved by someone else: %+v", r)
	}
	if f.calls != 2 {
		t.Errorf("%d lfs migrate calls, want 2", f.calls)
	}
}

// A checkpoint that cannot be written (full disk) stops the task with that error.
func TestCheckpointWriteFailureIsFatal(t *testing.T) {
	f, es, sel := setup(t, 50)
	f.migrate = func(f *fakeLFS, files []string) ([]lfs.MigrateResult, error) {
		f.move(files[0])
		return []lfs.MigrateResult{{Status: lfs.MigrateOK}}, nil
	}
	rec := &memRecorder{recs: map[uint64]checkpoint.Record{}, attempts: map[uint64]int{}, fail: syscall.ENOSPC}
	var st Stats
	err := Run(context.Background(), context.Background(), f, &memSource{es: es}, State{Done: checkpoint.NewDone(50)}, rec,
		Options{Selection: sel, Workers: 2}, &st)
	if !errors.Is(err, syscall.ENOSPC) {
		t.Errorf("Run = %v, want ENOSPC", err)
	}
	if f.calls > 2 {
		t.Errorf("%d lfs migrate calls after the checkpoint failed", f.calls)
	}
}

// scancel signals lfs before the task itself reacts: those files are interrupted, not
// failed, and the task goes on until its own signal arrives.
func TestLFSKilledBySIGTERMIsInterrupted(t *testing.T) {
	f, es, sel := setup(t, 6)
	f.migrate = func(f *fakeLFS, files []string) ([]lfs.MigrateResult, error) {
		if f.calls%2 == 0 {
			return nil, &lfs.ExitError{Code: -1, Signal: syscall.SIGTERM}
		}
		if f.calls == 5 {
			return nil, &lfs.ExitError{Code: -1, Signal: syscall.SIGKILL} // the OOM killer: retried
		}
		f.move(files[0])
		return []lfs.MigrateResult{{Status: lfs.MigrateOK}}, nil
	}
	rec, err := run(t, f, es, sel, Options{Workers: 1, MaxAttempts: 2}, State{})
	if err != nil {
		t.Fatalf("Run = %v, want no error", err)
	}
	for _, r := range rec.recs {
		if r.Outcome == checkpoint.Failed && r.Class != lfs.ClassRetryLater {
			t.Errorf("%+v", r)
		}
	}
	if n := len(rec.recs); n >= 6 {
		t.Errorf("%d outcomes recorded; the interrupted files must stay pending", n)
	}
}

// A released file is skipped as hsm-released and never given to lfs migrate (which would
// restore it), also when its description still shows it on a source OST: what lfs find
// prints for a released layout is not defined. Never failed, never retryable.
func TestReleasedIsNeverAttempted(t *testing.T) {
	f, es, sel := setup(t, 4)
	f.released = map[string]bool{es[1].Path: true, es[2].Path: true}
	f.move(es[2].Path) // released and described off the sources
	var given []string
	f.migrate = func(f *fakeLFS, files []string) ([]lfs.MigrateResult, error) {
		given = append(given, files...)
		res := make([]lfs.MigrateResult, len(files))
		for i, p := range files {
			f.move(p)
			res[i].Status = lfs.MigrateOK
		}
		return res, nil
	}
	rec, err := run(t, f, es, sel, Options{Workers: 1, Batch: 4}, State{})
	if err != nil {
		t.Fatal(err)
	}
	for _, i := range []uint64{1, 2} {
		if r := rec.recs[i]; r.Outcome != checkpoint.Skipped || r.Reason != checkpoint.SkipReleased || r.Retryable || rec.attempts[i] != 0 {
			t.Errorf("released entry %d: %+v, %d attempts", i, r, rec.attempts[i])
		}
	}
	if diff := cmp.Diff([]string{es[0].Path, es[3].Path}, given); diff != "" {
		t.Errorf("files given to lfs migrate (-want +got):\n%s", diff)
	}
}

// A file whose HSM state lfs could not read may be released: it is never given to lfs
// migrate (which would restore it from the archive), but failed, retryable, for a later
// round to ask again.
func TestUnknownHSMStateIsNeverAttempted(t *testing.T) {
	f, es, sel := setup(t, 3)
	f.released = map[string]bool{es[1].Path: true}
	f.hsmErr = map[string]error{es[1].Path: &lfs.FileError{Path: es[1].Path, Errno: syscall.EIO}}
	var given []string
	f.migrate = func(f *fakeLFS, files []string) ([]lfs.MigrateResult, error) {
		given = append(given, files...)
		res := make([]lfs.MigrateResult, len(files))
		for i, p := range files {
			f.move(p)
			res[i].Status = lfs.MigrateOK
		}
		return res, nil
	}
	rec, err := run(t, f, es, sel, Options{Workers: 1, Batch: 3}, State{})
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]string{es[0].Path, es[2].Path}, given); diff != "" {
		t.Errorf("files given to lfs migrate (-want +got):\n%s", diff)
	}
	if r := rec.recs[1]; r.Outcome != checkpoint.Failed || !r.Retryable || r.Errno != syscall.EIO || rec.attempts[1] != 0 {
		t.Errorf("entry with unknown HSM state: %+v, %d attempts; want failed, retryable, EIO, never attempted", r, rec.attempts[1])
	}
}

// PathToFID answers from the fake's names, like lfs path2fid.
func (f *fakeLFS) PathToFID(_ context.Context, files []string) ([]lfs.FIDResult, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.p2fCalls++
	out := make([]lfs.FIDResult, len(files))
	for i, p := range files {
		if ff, ok := f.files[p]; ok {
			out[i].FID = ff.fid
		} else {
			out[i].Err = &lfs.FileError{Path: p, Errno: syscall.ENOENT}
		}
	}
	return out, nil
}
