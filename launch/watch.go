package launch

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/dustin/go-humanize"

	"migrator/campaign"
	"migrator/durable"
	"migrator/report"
	"migrator/templates"
)

// watch follows a local round from the campaign's own files: every few seconds it reads
// the round's checkpoints (report.Collect) for the files handled, and counts the tasks
// that ended. Reading costs what collect costs, so it waits five times as long as the
// last read took, at least 2 s.
type watch struct {
	r       Round
	planned atomic.Int64
	handled atomic.Int64 // migrated + skipped + failed + would migrate, this round
	moved   atomic.Int64 // bytes migrated, this round
	would   atomic.Int64
	failed  atomic.Int64
	ended   atomic.Int64 // tasks
	mu      sync.Mutex
	next    time.Time
	busy    bool
}

func newWatch(r Round) *watch {
	w := &watch{r: r}
	w.poll()
	return w
}

// poll refreshes the figures in the background when they are due.
func (w *watch) poll() {
	w.mu.Lock()
	if w.busy || time.Now().Before(w.next) {
		w.mu.Unlock()
		return
	}
	w.busy = true
	w.mu.Unlock()
	go func() {
		t0 := time.Now()
		st, err := report.Collect(context.Background(), w.r.Dir, w.r.Spec, report.Options{Workers: 1})
		if err == nil {
			for _, rs := range st.Rounds {
				if rs.Round == w.r.N {
					f := rs.Files
					w.planned.Store(int64(f.Planned))
					w.handled.Store(int64(f.Migrated + f.Skipped + f.Failed + f.WouldMigrate))
					w.would.Store(int64(f.WouldMigrate))
					w.failed.Store(int64(f.Failed))
					w.moved.Store(int64(rs.Bytes.Migrated))
				}
			}
		}
		w.mu.Lock()
		w.busy = false
		w.next = time.Now().Add(max(2*time.Second, 5*time.Since(t0)))
		w.mu.Unlock()
	}()
}

func (w *watch) exited(LocalResult) {
	w.ended.Add(1)
	w.mu.Lock()
	w.next = time.Time{} // read again at the next update
	w.mu.Unlock()
}

func (w *watch) total() int64 { w.poll(); return max(w.planned.Load(), 1) }
func (w *watch) done() int64  { return w.handled.Load() }

func (w *watch) status() string {
	w.poll()
	s := fmt.Sprintf("%d/%d shards ended, %d/%d files", w.ended.Load(), w.r.Shards, w.handled.Load(), w.planned.Load())
	if w.r.Spec.DryRun {
		s += fmt.Sprintf(", %d would migrate", w.would.Load())
	} else {
		s += fmt.Sprintf(", %s moved", humanize.IBytes(uint64(w.moved.Load())))
	}
	if f := w.failed.Load(); f > 0 {
		s += fmt.Sprintf(", %d failed", f)
	}
	return s
}

// printSummary prints what collect wrote (reports/status.json), and for a dry run what
// would be migrated, files and bytes per source OST.
func printSummary(out io.Writer, r Round) {
	data, err := os.ReadFile(filepath.Join(r.Dir.Reports(), report.StatusJSON))
	if err != nil {
		fmt.Fprintf(out, "no summary: %v\n", err)
		return
	}
	var st report.Status
	if err := json.Unmarshal(data, &st); err != nil {
		fmt.Fprintf(out, "no summary: %s: %v\n", report.StatusJSON, err)
		return
	}
	report.WriteHuman(out, &st, nil)
	if st.DryRun {
		fmt.Fprintf(out, "would migrate: %s\n", wouldByOST(st.WouldMigrateByOST))
	}
}

func wouldByOST(m map[string]report.FilesBytes) string {
	var osts []int
	for k := range m {
		if n, err := strconv.Atoi(k); err == nil {
			osts = append(osts, n)
		}
	}
	sort.Ints(osts)
	var parts []string
	for _, o := range osts {
		fb := m[strconv.Itoa(o)]
		parts = append(parts, fmt.Sprintf("OST%d %d files, %s", o, fb.Files, humanize.IBytes(fb.Bytes)))
	}
	if len(parts) == 0 {
		return "nothing"
	}
	return strings.Join(parts, "; ")
}

// RunLockFile is, in the campaign directory, the lock a local run holds.
const RunLockFile = "local-run.lock"

// LockRun takes the campaign's local-run lock: one local runner at a time per campaign,
// so that a second one says so instead of racing the first for every shard's lock. It is
// flock(2) on CAMPAIGN/local-run.lock (local runs are on one host; the kernel drops the
// lock when its holder dies, even by SIGKILL); the file says who holds it. The checkpoint
// package's lock files serve cluster-wide locks; this one needs none of that.
func LockRun(d campaign.Dir) (unlock func(), err error) {
	path := filepath.Join(d.Root, RunLockFile)
	f, err := durable.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, err
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		who, _ := io.ReadAll(io.LimitReader(f, 512))
		f.Close()
		if errors.Is(err, syscall.EWOULDBLOCK) {
			holder := strings.TrimSpace(string(who))
			if holder == "" {
				holder = "another process"
			}
			return nil, exitError{6, fmt.Errorf("another local run of this campaign holds it (%s, %s); wait for it, or stop it with Ctrl-C", holder, path)}
		}
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	host, _ := os.Hostname()
	f.Truncate(0)
	f.WriteAt([]byte(fmt.Sprintf("pid %d on %s since %s\n", os.Getpid(), host, time.Now().Format(time.DateTime))), 0)
	return func() { f.Close() }, nil
}

// CommandLine renders args as a shell command to copy: words that need no quoting as they
// are, the others single-quoted.
func CommandLine(args ...string) string {
	q := make([]string, len(args))
	for i, a := range args {
		q[i] = a
		if a == "" || strings.Trim(a, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_./:=,+%@-") != "" {
			q[i] = templates.ShellQuote(a)
		}
	}
	return strings.Join(q, " ")
}
