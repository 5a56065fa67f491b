package report

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/dustin/go-humanize"

	"migrator/campaign"
	"migrator/checkpoint"
	"migrator/durable"
	"migrator/manifest"
	"migrator/progress"
)

// Files written into reports/.
const (
	StatusJSON   = "status.json"
	StatusProm   = "status.prom"
	FailuresFile = "failures.jsonl"
	RetryDir     = "retry"
)

// TopFailure is a kind of failure and how many files had it.
type TopFailure struct {
	Class   string `json:"class"`
	Errno   string `json:"errno,omitempty"`
	Message string `json:"message"`
	Files   uint64 `json:"files"`
}

// Written is what WriteReports produced.
type Written struct {
	Status      *Status
	TopFailures []TopFailure
	Retry       manifest.Index // retryable failures of the latest round, as a manifest
}

// WriteReports collects the campaign and writes reports/: status.json, status.prom,
// failures.jsonl and the retry manifests (reports/retry/). Every file is replaced whole,
// so a reader never sees a half-written report, and a crash leaves the previous ones.
func WriteReports(ctx context.Context, d campaign.Dir, spec *campaign.Spec, workers int) (*Written, error) {
	dir := d.Reports()
	if err := durable.MkdirAll(dir, 0o700); err != nil {
		return nil, err
	}
	lock, err := lockReports(ctx, dir)
	if err != nil {
		return nil, err
	}
	defer lock.Release()
	ff, err := durable.Create(filepath.Join(dir, FailuresFile), 0o600)
	if err != nil {
		return nil, err
	}
	defer ff.Abort()
	fw := bufio.NewWriterSize(ff, 256<<10)
	enc := json.NewEncoder(fw)
	top := map[TopFailure]uint64{}

	retryLink := filepath.Join(dir, RetryDir)
	if err := removeStaleRetries(retryLink); err != nil {
		return nil, err
	}
	retryDir, err := durable.MkdirTemp(dir, RetryDir+".")
	if err != nil {
		return nil, err
	}
	published := false
	defer func() {
		if !published {
			os.RemoveAll(retryDir)
		}
	}()
	rounds, err := d.Rounds()
	if err != nil {
		return nil, err
	}
	next := 1
	if len(rounds) > 0 {
		next = rounds[len(rounds)-1] + 1
	}
	rw, err := manifest.NewWriter(manifest.WriterOptions{Dir: retryDir, Campaign: spec.ID, Round: next,
		MaxFiles: spec.Work.ShardFiles, MaxBytes: spec.Work.ShardBytes})
	if err != nil {
		return nil, err
	}
	st, err := Collect(ctx, d, spec, Options{Workers: workers,
		Failure: func(f Failure) error {
			key := TopFailure{Class: f.Class, Errno: f.ErrnoName, Message: f.Message}
			if _, ok := top[key]; ok || len(top) < 10000 {
				top[key]++
			}
			return enc.Encode(f)
		},
		Retry: func(e manifest.Entry) error { return rw.Write(&e) },
	})
	if err != nil {
		rw.Abort()
		return nil, err
	}
	if err := fw.Flush(); err != nil {
		return nil, err
	}
	if err := ff.Commit(); err != nil {
		return nil, err
	}
	ridx, err := rw.Close()
	if err != nil {
		return nil, err
	}
	// reports/retry is a symbolic link to the latest complete retry.XXXX directory, switched
	// in one rename: killed at any moment, collect leaves the old set or the new one whole.
	old, err := durable.PublishDir(retryLink, retryDir)
	if err != nil {
		return nil, err
	}
	published = true
	if old != "" {
		if err := os.RemoveAll(old); err != nil {
			return nil, err
		}
	}

	w := &Written{Status: st, Retry: ridx, TopFailures: topFailures(top, 10)}
	if err := WriteStatus(d, st); err != nil {
		return nil, err
	}
	return w, nil
}

// WriteStatus writes reports/status.json and reports/status.prom, each replaced whole.
func WriteStatus(d campaign.Dir, st *Status) error {
	dir := d.Reports()
	data, err := json.MarshalIndent(st, "", "  ")
	if err != nil {
		return err
	}
	if err := durable.WriteFile(filepath.Join(dir, StatusJSON), append(data, '\n'), 0o644); err != nil {
		return err
	}
	var prom strings.Builder
	WriteProm(&prom, st)
	return durable.WriteFile(filepath.Join(dir, StatusProm), []byte(prom.String()), 0o644)
}

// CollectLock is the lock file that lets one collect at a time write reports/.
const CollectLock = "collect.lock"

// lockReports takes reports/collect.lock, waiting while another live collect holds it (the
// dependent collect job and one run by hand may meet), and breaking it if its holder died.
func lockReports(ctx context.Context, dir string) (*checkpoint.Lock, error) {
	path := filepath.Join(dir, CollectLock)
	for {
		lock, err := checkpoint.AcquireLock(path, checkpoint.CurrentHolder(os.Getenv), checkpoint.LockOptions{})
		if !errors.Is(err, checkpoint.ErrLocked) {
			return lock, err
		}
		select {
		case <-ctx.Done():
			return nil, fmt.Errorf("waiting for another collect: %w", err)
		case <-time.After(250 * time.Millisecond):
		}
	}
}

// removeStaleRetries removes the retry.XXXX directories that link does not point at: left
// by a collect that was killed before it published them, or before it removed the old one.
// Only call it holding the collect lock.
func removeStaleRetries(link string) error {
	dir := filepath.Dir(link)
	current, _ := os.Readlink(link)
	ents, err := os.ReadDir(dir)
	if err != nil {
		return err
	}
	base := filepath.Base(link)
	for _, e := range ents {
		name := e.Name()
		if (strings.HasPrefix(name, base+".") || durable.IsTempOf(name, base)) && name != current {
			if err := os.RemoveAll(filepath.Join(dir, name)); err != nil {
				return err
			}
		}
	}
	return nil
}

func topFailures(m map[TopFailure]uint64, n int) []TopFailure {
	var out []TopFailure
	for k, v := range m {
		k.Files = v
		out = append(out, k)
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].Files != out[j].Files {
			return out[i].Files > out[j].Files
		}
		return out[i].Message < out[j].Message
	})
	if len(out) > n {
		out = out[:n]
	}
	return out
}

// ScanUnfinishedLine is what the human summary says instead of its figures while the
// campaign's scan has not written round 0 (Status.ScanUnfinished).
const ScanUnfinishedLine = "no files planned yet: the scan has not written round 0, so the files to migrate are not known and none is migrated"

// WriteHuman prints the summary an admin reads: a bar, counts, rate, ETA, failure reasons
// and the files left per source OST.
func WriteHuman(w io.Writer, st *Status, top []TopFailure) {
	f, b := st.Files, st.Bytes
	dry := ""
	if st.DryRun {
		dry = " (dry run)"
	}
	fmt.Fprintf(w, "campaign %s%s, %s\n", st.Campaign, dry, st.Generated.Local().Format(time.DateTime))
	if st.ScanUnfinished {
		// No bar, no counts, no files left per OST: with nothing planned they would read
		// as a campaign done (100 % of 0 files) and its OSTs drained.
		fmt.Fprintln(w, ScanUnfinishedLine)
		return
	}
	handled, verb := f.Migrated+f.Skipped+f.Failed, "handled"
	if st.DryRun { // a dry run is done with a file once it was checked: would migrate
		handled, verb = handled+f.WouldMigrate, "checked"
	}
	pct := 100.0
	if f.Planned > 0 {
		pct = 100 * float64(handled) / float64(f.Planned)
	}
	fmt.Fprintf(w, "%s %5.1f%% of %s %s\n", bar(pct, 40), pct, progress.Plural(f.Planned, "file"), verb)
	fmt.Fprintf(w, "files:   %d planned, %d migrated, %d skipped, %d failed, %d pending", f.Planned, f.Migrated, f.Skipped, f.Failed, f.Pending)
	if f.WouldMigrate > 0 {
		fmt.Fprintf(w, " (%d would migrate)", f.WouldMigrate)
	}
	fmt.Fprintln(w)
	fmt.Fprintf(w, "bytes:   %s planned, %s migrated, %s skipped, %s failed, %s pending\n",
		humanize.IBytes(b.Planned), humanize.IBytes(b.Migrated), humanize.IBytes(b.Skipped), humanize.IBytes(b.Failed), humanize.IBytes(b.Pending))
	if st.FirstActivity != nil {
		eta := "" // only while something runs: a past rate says nothing about an idle campaign
		if st.RunningShards > 0 {
			eta = "; ETA -"
			if st.ETASeconds > 0 {
				eta = "; ETA " + (time.Duration(st.ETASeconds) * time.Second).Round(time.Second).String()
			}
		}
		fmt.Fprintf(w, "rate:    %.1f files/s, %s/s; last activity %s%s\n", st.FilesPerSecond,
			humanize.IBytes(uint64(st.BytesPerSecond)), st.LastActivity.Local().Format(time.DateTime), eta)
	}
	if f.Skipped > 0 {
		fmt.Fprintf(w, "skipped: %s\n", nonzero(st.SkippedByReason))
	}
	if f.Failed > 0 {
		fmt.Fprintf(w, "failed:  %s\n", nonzero(st.FailedByClass))
		if n := st.FailedByClass["swapped"]; n > 0 {
			fmt.Fprintf(w, "ALARM:   %d planned path(s) swapped for another file during work (class swapped in %s; see the trust model)\n", n, FailuresFile)
		}
		for _, t := range top {
			fmt.Fprintf(w, "  %6d  %-11s %s\n", t.Files, t.Class, t.Message)
		}
	}
	fmt.Fprintln(w, leftLine(st))
	for _, s := range st.Shards {
		if s.Damaged != "" {
			fmt.Fprintf(w, "round %d shard %d: %s; its next run sets the log aside and rebuilds it\n", s.Round, s.Shard, s.Damaged)
		}
		if len(s.SetAside) > 0 {
			fmt.Fprintf(w, "round %d shard %d: damaged checkpoint set aside and rebuilt from its valid records: %s\n", s.Round, s.Shard, strings.Join(s.SetAside, ", "))
		}
	}
	for _, r := range st.Rounds {
		fmt.Fprintf(w, "round %d: %s, %s: %d migrated, %d skipped, %d failed, %d pending; %d taken over by a later round\n",
			r.Round, progress.Plural(r.Shards, "shard"), progress.Plural(r.Files.Planned, "file"),
			r.Files.Migrated, r.Files.Skipped, r.Files.Failed, r.Files.Pending, r.SupersededFiles)
	}
	if st.LateRuns > 0 {
		var where []string
		for _, s := range st.Shards {
			if s.LateRuns > 0 && len(where) < 5 {
				where = append(where, fmt.Sprintf("round %d shard %d", s.Round, s.Shard))
			}
		}
		fmt.Fprintf(w, "note: %s of shards a later round had taken over (%s) not counted: the later round accounts for their files\n",
			progress.Plural(st.LateRuns, "run"), strings.Join(where, ", "))
	}
	if st.Inconsistency != "" {
		fmt.Fprintf(w, "inconsistency: %s\n", st.Inconsistency)
	}
}

func bar(pct float64, width int) string {
	n := min(max(int(pct/100*float64(width)), 0), width) // counts that do not add up may pass 100 %
	return "[" + strings.Repeat("#", n) + strings.Repeat(".", width-n) + "]"
}

func nonzero(m map[string]uint64) string {
	var parts []string
	for k, v := range m {
		if v > 0 {
			parts = append(parts, fmt.Sprintf("%s %d", k, v))
		}
	}
	sort.Strings(parts)
	return strings.Join(parts, ", ")
}

func byOST(m map[string]uint64) string {
	type kv struct {
		ost int
		n   uint64
	}
	var l []kv
	for k, v := range m {
		var o int
		fmt.Sscan(k, &o)
		l = append(l, kv{o, v})
	}
	sort.Slice(l, func(i, j int) bool { return l[i].ost < l[j].ost })
	var parts []string
	for _, e := range l {
		parts = append(parts, fmt.Sprintf("OST%d %d", e.ost, e.n))
	}
	if len(parts) == 0 {
		return "none"
	}
	return strings.Join(parts, ", ")
}
