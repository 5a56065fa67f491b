// Package metrics keeps a campaign's live Prometheus textfile, DIR/migrator-<campaign>.prom,
// for node_exporter's textfile collector, while its tasks run.
//
// The choice: a periodic collect, not per-task files merged later. Every work task of a
// campaign with a textfile directory runs a Refresher. About every CheckEvery it looks at
// the file's age; when the file is older than Every, the task takes the campaign's
// reports/metrics.lock (a lock file like a shard's, without waiting: another task is
// refreshing it then), collects the whole campaign exactly as collect does (report.Collect,
// every checkpoint through checkpoint's reader, up to its last complete record), renders
// it with report.WriteProm (the renderer of collect's status.prom) and replaces the file
// atomically: a temporary file in DIR, fsynced, chmod 0644 and renamed, so that a
// node_exporter running as another user reads it and never sees half of one. One task at
// a time does it for the whole campaign, so the cost is one collect per Every, whatever
// the number of tasks; a task also refreshes it when it ends, after releasing its shard,
// and collect writes it too, so the file's last state is the campaign's final one.
//
// A collect reads every manifest and checkpoint: 1.3 s for a million entries on a 2-core
// machine, 2.4 million entries a second in BENCHMARKS.md. The refreshes are spaced to
// keep their cost bounded: the next one comes no sooner than Duty times what the last one
// took (recorded in reports/metrics.json), so the tasks of the campaign spend at most a
// tenth of one task's time on it; up to a few million files that is every Every, and the
// file of a 100-million-file campaign is minutes old rather than seconds.
//
// The file is the same as status.prom (the same figures, from the same Status), with
// migrator_report_timestamp_seconds as its freshness: alert when it is old while
// migrator_running_shards says tasks run (see monitoring/).
package metrics

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"migrator/campaign"
	"migrator/checkpoint"
	"migrator/durable"
	"migrator/report"
)

// Defaults of a Refresher.
const (
	// Every is how old the file may get before a task refreshes it: with CheckEvery, the
	// file is never more than about 40 s (plus one collect) old while tasks run.
	Every = 30 * time.Second
	// CheckEvery is how often a task looks at the file's age.
	CheckEvery = 10 * time.Second
	// Lock is the lock file, in the campaign's reports/, of the task that refreshes.
	Lock = "metrics.lock"
)

// FileName is the textfile of campaign id in the textfile directory.
func FileName(id string) string { return "migrator-" + id + ".prom" }

// Path is the textfile of the campaign spec in dir.
func Path(dir string, spec *campaign.Spec) string { return filepath.Join(dir, FileName(spec.ID)) }

// CheckDir refuses a textfile directory that is not an existing directory, for plan and
// retry to say so before anything runs.
func CheckDir(dir string) error {
	if !filepath.IsAbs(dir) {
		return fmt.Errorf("textfile directory %q: not an absolute path", dir)
	}
	st, err := os.Stat(dir)
	if err != nil {
		return fmt.Errorf("textfile directory: %w", err)
	}
	if !st.IsDir() {
		return fmt.Errorf("textfile directory %s: not a directory", dir)
	}
	return nil
}

// Write renders st into the campaign's textfile in dir, atomically, mode 0644.
func Write(dir string, st *report.Status, spec *campaign.Spec) error {
	var b strings.Builder
	report.WriteProm(&b, st)
	f, err := durable.Create(Path(dir, spec), 0o644)
	if err != nil {
		return err
	}
	defer f.Abort()
	if err := f.Chmod(0o644); err != nil { // whatever the umask: node_exporter is another user
		return err
	}
	if _, err := io.WriteString(f, b.String()); err != nil {
		return err
	}
	return f.Commit()
}

// Refresh collects the campaign and rewrites its textfile in dir.
func Refresh(ctx context.Context, d campaign.Dir, spec *campaign.Spec, dir string) error {
	st, err := report.Collect(ctx, d, spec, report.Options{Workers: 2})
	if err != nil {
		return err
	}
	return Write(dir, st, spec)
}

// Options configure a Refresher.
type Options struct {
	Dir        string        // the textfile directory
	Every      time.Duration // default Every
	CheckEvery time.Duration // default CheckEvery
	Holder     checkpoint.LockInfo
	Log        io.Writer // where problems are said, once each (a task's log)
}

// Refresher keeps the textfile fresh while a task runs. Problems (a missing directory, a
// damaged checkpoint) are said once on Log and never stop the task.
type Refresher struct {
	d      campaign.Dir
	spec   *campaign.Spec
	o      Options
	cancel context.CancelFunc
	done   chan struct{}
	mu     sync.Mutex
	said   map[string]bool
}

// Start starts refreshing in the background until Stop.
func Start(d campaign.Dir, spec *campaign.Spec, o Options) *Refresher {
	if o.Every <= 0 {
		o.Every = Every
	}
	if o.CheckEvery <= 0 {
		o.CheckEvery = CheckEvery
	}
	if o.Log == nil {
		o.Log = io.Discard
	}
	ctx, cancel := context.WithCancel(context.Background())
	r := &Refresher{d: d, spec: spec, o: o, cancel: cancel, done: make(chan struct{}), said: map[string]bool{}}
	go func() {
		defer close(r.done)
		t := time.NewTicker(o.CheckEvery)
		defer t.Stop()
		for {
			r.tick(ctx, time.Time{})
			select {
			case <-ctx.Done():
				return
			case <-t.C:
			}
		}
	}()
	return r
}

// Stop stops the background refreshes, then refreshes once more, waiting up to wait for
// another task's refresh to end: called once the task released its shard, it leaves the
// file saying so. A refresh that another task started after that does as well, and then
// this one is not needed (the tasks of an array that end together make one or two, not
// one each).
func (r *Refresher) Stop(wait time.Duration) {
	released := time.Now()
	r.cancel()
	<-r.done
	ctx, cancel := context.WithTimeout(context.Background(), wait)
	defer cancel()
	r.tick(ctx, released)
}

// tick refreshes the file if it is older than its interval, unless another task holds the
// lock. With since set, it refreshes unless a refresh started after since, waiting for the
// lock until ctx ends.
func (r *Refresher) tick(ctx context.Context, since time.Time) {
	path := Path(r.o.Dir, r.spec)
	force := !since.IsZero()
	if !force && r.fresh(path) {
		return
	}
	lockPath := filepath.Join(r.d.Reports(), Lock)
	var lock *checkpoint.Lock
	for {
		var err error
		lock, err = checkpoint.AcquireLock(lockPath, r.o.Holder, checkpoint.LockOptions{})
		if err == nil {
			break
		}
		if !errors.Is(err, checkpoint.ErrLocked) {
			r.say("metrics: %v", err)
			return
		}
		if !force || r.lastCost().Started.After(since) {
			return // another task is refreshing it, or did after since
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(200 * time.Millisecond):
		}
	}
	defer lock.Release()
	if !force && r.fresh(path) || force && r.lastCost().Started.After(since) { // refreshed while we took the lock
		return
	}
	t0 := time.Now()
	if err := Refresh(ctx, r.d, r.spec, r.o.Dir); err != nil {
		if ctx.Err() == nil {
			r.say("metrics: %s: %v", path, err)
		}
		return
	}
	// What the refresh cost, for the next refresher (another task, perhaps elsewhere).
	data, _ := json.Marshal(cost{Seconds: time.Since(t0).Seconds(), Started: t0.UTC()})
	if err := durable.WriteFile(filepath.Join(r.d.Reports(), CostFile), data, 0o600); err != nil {
		r.say("metrics: %v", err)
	}
}

// CostFile, in the campaign's reports/, says how long the last refresh took.
const CostFile = "metrics.json"

type cost struct {
	Seconds float64   `json:"collect_seconds"`
	Started time.Time `json:"started"` // when the refresh began
}

// lastCost reads CostFile; a missing or unreadable one is a zero cost.
func (r *Refresher) lastCost() cost {
	var c cost
	if data, err := os.ReadFile(filepath.Join(r.d.Reports(), CostFile)); err == nil {
		json.Unmarshal(data, &c)
	}
	return c
}

// Duty bounds the share of time the campaign's tasks spend refreshing the textfile: a
// refresh that took s seconds is followed by the next one no sooner than Duty × s later.
const Duty = 10

// interval is how old the textfile may get before the next refresh: Every, or Duty times
// what the last refresh took, whichever is longer.
func interval(every time.Duration, last float64) time.Duration {
	return max(every, time.Duration(Duty*last*float64(time.Second)))
}

func (r *Refresher) fresh(path string) bool {
	st, err := os.Stat(path)
	if err != nil {
		return false
	}
	return time.Since(st.ModTime()) < interval(r.o.Every, r.lastCost().Seconds)
}

// say writes a problem once.
func (r *Refresher) say(format string, args ...any) {
	msg := fmt.Sprintf(format, args...)
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.said[msg] {
		return
	}
	r.said[msg] = true
	fmt.Fprintf(r.o.Log, "%s: %s (the migration goes on)\n", time.Now().Format(time.DateTime), msg)
}

// Keep records m in the campaign (campaign.json) when it names a textfile directory that
// the campaign does not have yet: plan and retry take --textfile-dir for a campaign
// planned without it, or to move it. Tasks read it from campaign.json.
func Keep(d campaign.Dir, spec *campaign.Spec, m campaign.Monitoring) error {
	if m.TextfileDir == "" || spec.Monitoring == m {
		return nil
	}
	spec.Monitoring = m
	return d.Save(spec)
}
