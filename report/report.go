// Package report merges a campaign's manifests and checkpoints into its status: how many
// files and bytes were planned, migrated, skipped (by reason), failed (by class) and are
// still pending, per shard, per round and for the campaign; which failures there are; and
// which files a retry round would take. It streams every shard (in parallel) and keeps
// one byte per entry of the shards being read, whatever the campaign's size.
//
// Accounting across rounds: a retry round's manifest is exactly the retryable failures
// and pending entries of the round before it, so those entries count in the later round
// and not in the earlier one. A top-up round (plan --update) holds that retry set too, plus
// entries flagged manifest.EntryAdded, which count as newly planned, and entries that take
// over earlier rounds' (listed in its supersedes file), which count there no more. Hence,
// always:
// migrated + skipped + failed + pending = planned, for every shard, every round, and the
// campaign.
package report

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"sync"
	"syscall"
	"time"

	"migrator/campaign"
	"migrator/checkpoint"
	"migrator/lfs"
	"migrator/manifest"
)

// Counts are files or bytes by state. WouldMigrate (dry runs) is a part of Pending.
type Counts struct {
	Planned      uint64 `json:"planned"`
	Migrated     uint64 `json:"migrated"`
	Skipped      uint64 `json:"skipped"`
	Failed       uint64 `json:"failed"`
	Pending      uint64 `json:"pending"`
	WouldMigrate uint64 `json:"would_migrate"`
}

func (c *Counts) add(o Counts) {
	c.Planned += o.Planned
	c.Migrated += o.Migrated
	c.Skipped += o.Skipped
	c.Failed += o.Failed
	c.Pending += o.Pending
	c.WouldMigrate += o.WouldMigrate
}

// Balanced reports whether migrated + skipped + failed + pending = planned.
func (c Counts) Balanced() bool {
	return c.Migrated+c.Skipped+c.Failed+c.Pending == c.Planned
}

// Status is a campaign's status: status.json.
type Status struct {
	Campaign  string    `json:"campaign"`
	Generated time.Time `json:"generated"`
	DryRun    bool      `json:"dry_run"`
	// ScanUnfinished is true while the campaign has no round: its scan (a distributed
	// scan's tasks and seal, or the plan's own scan) has not written round 0's manifests.
	// The files to migrate are not known then: every count below is zero, the files left
	// per source OST are not given, and nothing of it may be read as progress or as an
	// OST drained.
	ScanUnfinished  bool              `json:"scan_unfinished,omitempty"`
	Files           Counts            `json:"files"`
	Bytes           Counts            `json:"bytes"`
	SkippedByReason map[string]uint64 `json:"skipped_by_reason"`
	FailedByClass   map[string]uint64 `json:"failed_by_class"`
	// SourceOSTsRemaining counts, per source OST, the files with an object on it that are
	// failed or pending, or moved out of the scan paths while still on it: an estimate from
	// the records (Sweep measures).
	SourceOSTsRemaining map[string]uint64 `json:"source_osts_remaining"`
	FirstActivity       *time.Time        `json:"first_activity,omitempty"`
	LastActivity        *time.Time        `json:"last_activity,omitempty"`
	FilesPerSecond      float64           `json:"files_per_second"`
	BytesPerSecond      float64           `json:"bytes_per_second"`
	// ETASeconds is pending files over the rate, given only while a shard runs (its lock
	// is held): with nothing running, a rate from the past says nothing about the end.
	ETASeconds float64 `json:"eta_seconds,omitempty"`
	// RunningShards counts the shards whose lock a live task holds.
	RunningShards int           `json:"running_shards"`
	Rounds        []RoundStatus `json:"rounds"`
	Shards        []ShardStatus `json:"shards"`
	// LateRuns counts runs of a superseded round's shards that started after the later
	// round took their files over (a task or a "work --round" run by hand, by an older
	// migrator that allowed it). Their outcomes are not counted: the later round accounts
	// for those files.
	LateRuns int `json:"late_runs,omitempty"`
	// Inconsistency, if not empty, says that the counts do not add up, with the numbers,
	// and what to do. The figures above are still everything the campaign's files say.
	Inconsistency string `json:"inconsistency,omitempty"`
	// MovedOutOnSource counts the files skipped as moved out of the scan paths while they
	// still had an object on a source OST: outside what a sweep of the scan paths sees.
	MovedOutOnSource uint64 `json:"moved_out_on_source"`
	// Sweep is the last verify sweep (reports/verify.json), if there was one: what is
	// really left on the source OSTs, where SourceOSTsRemaining is the records' estimate.
	Sweep *Sweep `json:"sweep,omitempty"`
	// SweepError says why reports/verify.json could not be read (run migrator verify again).
	SweepError string `json:"sweep_error,omitempty"`

	// Events counts what the checkpoints record, every record once: monotonic counts,
	// for rates (Prometheus counters), unlike the states above.
	Events Events `json:"events"`

	// WouldMigrateByOST counts, per source OST, the files a dry run would migrate that
	// have an object on it, and their bytes.
	WouldMigrateByOST map[string]FilesBytes `json:"would_migrate_by_ost,omitempty"`
}

// FilesBytes is a count of files and their bytes.
type FilesBytes struct {
	Files uint64 `json:"files"`
	Bytes uint64 `json:"bytes"`
}

// Events are counts of checkpoint records of every round and shard, late runs included:
// they only grow while the campaign runs, since the logs are append-only.
type Events struct {
	// Outcomes counts outcome records by outcome ("migrated", "skipped", "failed",
	// "would-migrate"). A file failed in one round and migrated in the next counts in both.
	Outcomes map[string]uint64 `json:"outcomes"`
	// MigratedBytes sums the sizes recorded with the migrated outcomes.
	MigratedBytes uint64 `json:"migrated_bytes"`
	// Attempts counts lfs migrate starts (attempt records).
	Attempts uint64 `json:"attempts"`
	// Runs counts work runs (run-start records).
	Runs uint64 `json:"runs"`
}

func (e *Events) add(o Events) {
	for k, v := range o.Outcomes {
		e.Outcomes[k] += v
	}
	e.MigratedBytes += o.MigratedBytes
	e.Attempts += o.Attempts
	e.Runs += o.Runs
}

// eventOutcomes are the outcomes Events.Outcomes always lists, zero or not.
var eventOutcomes = []checkpoint.Outcome{checkpoint.Migrated, checkpoint.Skipped, checkpoint.Failed, checkpoint.WouldMigrate}

// RoundStatus is one round's counts (before superseding by later rounds).
type RoundStatus struct {
	Round  int    `json:"round"`
	Shards int    `json:"shards"`
	Files  Counts `json:"files"`
	Bytes  Counts `json:"bytes"`
	// Superseded are this round's retryable failures and pending entries that a later
	// round took over; they count there.
	SupersededFiles uint64 `json:"superseded_files"`
}

// ShardStatus is one shard's counts and activity.
type ShardStatus struct {
	Round   int        `json:"round"`
	Shard   int        `json:"shard"`
	Files   Counts     `json:"files"`
	Bytes   Counts     `json:"bytes"`
	First   *time.Time `json:"first_activity,omitempty"`
	Last    *time.Time `json:"last_activity,omitempty"`
	Runs    int        `json:"runs"`
	LastRun string     `json:"last_run,omitempty"` // how the last run ended, if it ended cleanly
	Host    string     `json:"host,omitempty"`     // where the last run ran
	Torn    int64      `json:"torn_bytes,omitempty"`
	// Attempted counts pending entries that lfs migrate was started on: the files in
	// flight while the shard's task runs.
	Attempted uint64 `json:"attempted_pending"`
	// LateRuns are runs that started after a later round superseded this one; see
	// Status.LateRuns.
	LateRuns int `json:"late_runs,omitempty"`
	// Damaged says where the shard's log is damaged in the middle (two writers at once):
	// its valid records are counted, the entries whose records were lost are pending, and
	// the shard's next run sets the log aside and rebuilds it.
	Damaged string `json:"damaged,omitempty"`
	// SetAside are the damaged logs of this shard that a run set aside (file names in the
	// round's checkpoints directory), kept for inspection.
	SetAside []string `json:"set_aside,omitempty"`
}

// Failure is a failed file, for failures.jsonl.
type Failure struct {
	Round     int           `json:"round"`
	Shard     int           `json:"shard"`
	Index     uint64        `json:"index"`
	Path      campaign.Path `json:"path"`
	Size      uint64        `json:"size"`
	UID       uint32        `json:"uid"`
	Class     string        `json:"class"`
	Errno     int           `json:"errno"`
	ErrnoName string        `json:"errno_name,omitempty"`
	Message   string        `json:"message"`
	Attempts  uint32        `json:"attempts"`
	Retryable bool          `json:"retryable"`
	Time      time.Time     `json:"time"`
}

// Options control Collect.
type Options struct {
	Workers int // shards read at once (default 4)
	// Failure, if set, is called for every failed file of the campaign (not superseded).
	Failure func(Failure) error
	// Retry, if set, is called for every file a retry round of the latest round would take:
	// its retryable failures, and its pending entries when RetryPending is set.
	Retry        func(manifest.Entry) error
	RetryPending bool
	// Take selects the failures Retry is called for (nil: the retryable ones): those of the
	// latest round, and those of earlier rounds that no later round took over.
	Take *campaign.Takeover
	// Entry, if set, is called for every manifest entry the campaign's figures count (the
	// entries no later round took over: together they are the planned files, each once),
	// with its state and the record that decided it. Reports that break the figures down
	// further (by OST over time, slowest files) use it, so they add up to the same totals.
	Entry func(Accounted) error
}

// Accounted is one entry as the campaign's figures count it; see Options.Entry.
type Accounted struct {
	Round int
	Shard int
	Index uint64
	Entry *manifest.Entry // valid only during the call
	// State is "migrated", "skipped", "failed", "pending" or "would_migrate" (a part of
	// pending, as in Counts).
	State string
	// Time and Duration are those of the outcome record: zero for pending entries.
	Time     time.Time
	Duration time.Duration
}

var stateNames = map[uint8]string{statePending: "pending", stateMigrated: "migrated", stateSkipped: "skipped",
	stateFailed: "failed", stateWould: "would_migrate"}

// Collect reads every round and shard of the campaign.
func Collect(ctx context.Context, d campaign.Dir, spec *campaign.Spec, o Options) (*Status, error) {
	if o.Workers < 1 {
		o.Workers = 4
	}
	rounds, err := d.Rounds()
	if err != nil {
		return nil, err
	}
	st := &Status{Campaign: spec.ID, Generated: time.Now().UTC().Truncate(time.Second), DryRun: spec.DryRun,
		SkippedByReason: map[string]uint64{}, FailedByClass: map[string]uint64{}, SourceOSTsRemaining: map[string]uint64{},
		Events: Events{Outcomes: map[string]uint64{}}}
	for _, o := range eventOutcomes {
		st.Events.Outcomes[o.String()] = 0
	}
	for _, r := range checkpoint.SkipReasons() {
		st.SkippedByReason[r.String()] = 0
	}
	for c := lfs.ClassOther; c <= lfs.LastClass; c++ {
		st.FailedByClass[c.String()] = 0
	}
	// Before round 0 nothing is known of what is on the source OSTs: no zero per OST,
	// which would read as drained.
	st.ScanUnfinished = len(rounds) == 0
	for _, o := range spec.Selection.SourceOSTs() {
		if !st.ScanUnfinished {
			st.SourceOSTsRemaining[strconv.Itoa(int(o))] = 0
		}
	}
	latest := -1
	if len(rounds) > 0 {
		latest = rounds[len(rounds)-1]
	}
	takenOver, err := readSupersedes(d, rounds)
	if err != nil {
		return nil, err
	}
	var mu sync.Mutex // guards st and serialises the callbacks
	for ri, r := range rounds {
		rd := d.Round(r)
		idx, err := manifest.ReadIndex(rd.Manifests)
		if err != nil {
			return nil, err
		}
		if idx.Campaign != spec.ID || idx.Round != r {
			return nil, fmt.Errorf("%s: manifest index of campaign %s round %d, not %s round %d", rd.Manifests, idx.Campaign, idx.Round, spec.ID, r)
		}
		// Is this round superseded by the next? Then its retryable failures and pending
		// entries count in the next round instead.
		// Failures are taken over by any later round whose takeover selects them.
		superseded := ri+1 < len(rounds)
		var cutoff time.Time
		if superseded {
			cutoff = supersededAt(d.Round(rounds[ri+1]))
		}
		var later []campaign.Takeover
		for _, n := range rounds[ri+1:] {
			t, err := d.LoadTakeover(n)
			if err != nil {
				return nil, err
			}
			later = append(later, t)
		}
		rs := RoundStatus{Round: r, Shards: len(idx.Shards)}
		aside := checkpoint.SetAsideByShard(rd.Checkpoints) // one listing per round
		err = forEachShard(ctx, idx.Shards, o.Workers, func(s manifest.ShardIndex) error {
			ss, err := readShard(rd, spec, idx, s, superseded, cutoff, later, r == latest, takenOver[[2]int{r, s.Shard}], o, &mu, st)
			if err != nil {
				return err
			}
			ss.SetAside = aside[s.Shard]
			mu.Lock()
			st.Shards = append(st.Shards, ss.ShardStatus)
			st.LateRuns += ss.LateRuns
			st.Events.add(ss.events)
			if ss.running {
				st.RunningShards++
			}
			rs.Files.add(ss.Files)
			rs.Bytes.add(ss.Bytes)
			rs.SupersededFiles += ss.supersededFiles
			st.Files.add(ss.campaignFiles)
			st.Bytes.add(ss.campaignBytes)
			st.MovedOutOnSource += ss.movedOutOnSource
			mu.Unlock()
			return nil
		})
		if err != nil {
			return nil, err
		}
		st.Rounds = append(st.Rounds, rs)
	}
	sort.Slice(st.Shards, func(i, j int) bool {
		a, b := st.Shards[i], st.Shards[j]
		return a.Round < b.Round || a.Round == b.Round && a.Shard < b.Shard
	})
	st.rates()
	// The sweep is a report of its own, rewritten by the next verify: a damaged one is said,
	// never a reason not to report.
	if st.Sweep, err = ReadSweep(d); err != nil {
		st.SweepError = err.Error()
	}
	if !st.Files.Balanced() || !st.Bytes.Balanced() {
		st.Inconsistency = inconsistency(st)
	}
	return st, nil
}

// ErrInconsistent is matched by the error a caller makes of Status.Inconsistency.
var ErrInconsistent = errors.New("the counts do not add up")

// inconsistency describes counts that do not add up, with the numbers and a way out. The
// report is still written: refusing it would leave the admin with nothing at all.
func inconsistency(st *Status) string {
	f := st.Files
	sum := f.Migrated + f.Skipped + f.Failed + f.Pending
	diff := fmt.Sprintf("%d more than", sum-f.Planned)
	if sum < f.Planned {
		diff = fmt.Sprintf("%d fewer than", f.Planned-sum)
	}
	return fmt.Sprintf("%s: migrated %d + skipped %d + failed %d + pending %d = %d files, %s the %d planned "+
		"(bytes: %d counted, %d planned). The figures are what the campaign's files say; a shard may have been run "+
		"after a later round took it over, on a clock that disagrees with the file server's. No file is at risk: "+
		"migrator retry and collect go on working, and a new campaign planned over the same OSTs recounts from the "+
		"filesystem what is still on them",
		ErrInconsistent, f.Migrated, f.Skipped, f.Failed, f.Pending, sum, diff, f.Planned,
		st.Bytes.Migrated+st.Bytes.Skipped+st.Bytes.Failed+st.Bytes.Pending, st.Bytes.Planned)
}

// supersededAt is when round rd was made, which superseded the round before it: the time
// its manifest index was written (once, renamed into place). A zero time if unknown.
func supersededAt(rd campaign.Round) time.Time {
	fi, err := os.Stat(filepath.Join(rd.Manifests, manifest.IndexFile))
	if err != nil {
		return time.Time{}
	}
	return fi.ModTime()
}

func (st *Status) rates() {
	for _, s := range st.Shards {
		if s.First != nil && (st.FirstActivity == nil || s.First.Before(*st.FirstActivity)) {
			t := *s.First
			st.FirstActivity = &t
		}
		if s.Last != nil && (st.LastActivity == nil || s.Last.After(*st.LastActivity)) {
			t := *s.Last
			st.LastActivity = &t
		}
	}
	if st.FirstActivity == nil {
		return
	}
	el := st.LastActivity.Sub(*st.FirstActivity).Seconds()
	if el < 1 {
		el = 1
	}
	handled := float64(st.Files.Migrated + st.Files.Skipped + st.Files.Failed)
	st.FilesPerSecond = handled / el
	st.BytesPerSecond = float64(st.Bytes.Migrated) / el
	if st.FilesPerSecond > 0 && st.Files.Pending > 0 && st.RunningShards > 0 {
		st.ETASeconds = float64(st.Files.Pending) / st.FilesPerSecond
	}
}

func forEachShard(ctx context.Context, shards []manifest.ShardIndex, workers int, fn func(manifest.ShardIndex) error) error {
	ch := make(chan manifest.ShardIndex)
	var wg sync.WaitGroup
	var once sync.Once
	var first error
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for s := range ch {
				if err := fn(s); err != nil {
					once.Do(func() { first = err; cancel() })
				}
			}
		}()
	}
	for _, s := range shards {
		select {
		case ch <- s:
		case <-ctx.Done():
		}
		if ctx.Err() != nil {
			break
		}
	}
	close(ch)
	wg.Wait()
	if first != nil {
		return first
	}
	return ctx.Err()
}

// Entry states, one byte per entry while a shard is read: the state in bits 0-2, a reason
// or class in bits 3-6, and the attempted bit.
const (
	statePending uint8 = iota
	stateMigrated
	stateSkipped // + reason<<3
	stateFailed  // + class<<3; details in the failures map
	stateWould
	attemptedBit uint8 = 0x80 // lfs migrate was started on the entry
	// movedOutOnSource is the sub-code of a moved-out skip whose file still had an object on
	// a source OST: it counts as left there.
	movedOutOnSource uint8 = 15
)

type shardResult struct {
	ShardStatus
	running                      bool // a live task holds the shard's lock
	supersededFiles              uint64
	campaignFiles, campaignBytes Counts
	movedOutOnSource             uint64
	events                       Events
}

// readShard reads one shard's checkpoint into a byte per entry, then streams its manifest.
// For a superseded round, runs that started after cutoff (when the next round was made) are
// left out: the next round took their entries over and counts them.
func readShard(rd campaign.Round, spec *campaign.Spec, idx manifest.Index, s manifest.ShardIndex,
	superseded bool, cutoff time.Time, later []campaign.Takeover, latest bool, toppedUp map[uint64]struct{},
	o Options, mu *sync.Mutex, st *Status) (*shardResult, error) {
	res := &shardResult{ShardStatus: ShardStatus{Round: rd.N, Shard: s.Shard}, events: Events{Outcomes: map[string]uint64{}}}
	states := make([]uint8, s.Files)
	fails := map[uint64]checkpoint.Record{}
	var times, durs []int64 // per entry, only for Options.Entry
	if o.Entry != nil {
		times, durs = make([]int64, s.Files), make([]int64, s.Files)
	}
	var first, last time.Time
	note := func(t time.Time) {
		if first.IsZero() || t.Before(first) {
			first = t
		}
		if t.After(last) {
			last = t
		}
	}
	hdr := checkpoint.Header{Campaign: spec.ID, Round: rd.N, Shard: s.Shard, Entries: s.Files, ShardSHA256: s.SHA256}
	late := false // the run being read started after the round was superseded
	info, err := checkpoint.Read(checkpoint.LogPath(rd.Checkpoints, s.Shard), hdr, checkpoint.Visitor{
		Outcome: func(r *checkpoint.Record) error {
			res.events.Outcomes[r.Outcome.String()]++
			if r.Outcome == checkpoint.Migrated {
				res.events.MigratedBytes += r.Bytes
			}
			if late {
				return nil
			}
			note(r.Time)
			if times != nil {
				times[r.Index], durs[r.Index] = r.Time.UnixNano(), int64(r.Duration)
			}
			switch r.Outcome {
			case checkpoint.Migrated:
				states[r.Index] = stateMigrated
			case checkpoint.Skipped:
				sub := uint8(r.Reason) & 15
				if r.Reason == checkpoint.SkipMovedOut && r.OnSource {
					sub = movedOutOnSource
				}
				states[r.Index] = stateSkipped | sub<<3
			case checkpoint.WouldMigrate:
				states[r.Index] = stateWould
			case checkpoint.Failed:
				states[r.Index] = stateFailed | (uint8(r.Class)&15)<<3
				fails[r.Index] = *r
				return nil
			}
			delete(fails, r.Index)
			return nil
		},
		Attempt: func(a *checkpoint.Attempt) error {
			res.events.Attempts++
			if !late {
				states[a.Index] |= attemptedBit
			}
			return nil
		},
		RunStart: func(r *checkpoint.RunStart) error {
			res.events.Runs++
			if late = superseded && !cutoff.IsZero() && r.Time.After(cutoff); late {
				res.LateRuns++
				return nil
			}
			note(r.Time)
			res.Runs++
			res.Host = r.Host
			res.LastRun = ""
			return nil
		},
		RunEnd: func(r *checkpoint.RunEnd) error {
			if !late {
				note(r.Time)
				res.LastRun = r.Status.String()
			}
			return nil
		},
	})
	var damage *checkpoint.DamageError
	switch {
	case errors.As(err, &damage):
		res.Damaged = damage.Error()
	case err != nil && !errors.Is(err, os.ErrNotExist):
		return nil, err
	}
	res.Torn = info.Torn
	if li, age, err := checkpoint.ReadLock(checkpoint.LockPath(rd.Checkpoints, s.Shard)); err == nil && !checkpoint.HolderGone(li, age) {
		res.running = true
	}
	if !first.IsZero() {
		res.First, res.Last = &first, &last
	}

	r, err := manifest.OpenIndexed(rd.Manifests, s)
	if err != nil {
		return nil, err
	}
	defer r.Close()
	if h := r.Header(); h.Campaign != idx.Campaign || h.Round != idx.Round || h.Shard != s.Shard {
		return nil, fmt.Errorf("%s: shard header says campaign %s round %d shard %d", s.File, h.Campaign, h.Round, h.Shard)
	}
	local := map[string]uint64{}
	localWould := map[string]FilesBytes{}
	localReasons := map[string]uint64{}
	localClasses := map[string]uint64{}
	var e manifest.Entry
	for i := uint64(0); ; i++ {
		if err := r.Next(&e); err == io.EOF {
			break
		} else if err != nil {
			return nil, err
		}
		code := states[i]
		state, sub := code&7, (code>>3)&15
		if state == statePending && code&attemptedBit != 0 {
			res.Attempted++
		}
		var retryable, failedTaken bool
		if state == stateFailed {
			retryable = fails[i].Retryable
			for _, t := range later {
				failedTaken = failedTaken || t.Takes(lfs.Class(sub), retryable)
			}
		}
		// Counted in this round's own figures.
		res.Files.Planned++
		res.Bytes.Planned += e.Size
		tally(&res.Files, &res.Bytes, state, e.Size)
		// For the campaign, the plan's entries are what is planned; a later round's
		// entries re-handle some of them, which that round's earlier self stops counting.
		// A top-up round's added entries (plan --update) are planned anew.
		if rd.N == 0 || e.Flags&manifest.EntryAdded != 0 {
			res.campaignFiles.Planned++
			res.campaignBytes.Planned += e.Size
		}
		takenOver := superseded && (state == statePending || state == stateWould) || failedTaken
		if _, ok := toppedUp[i]; ok {
			takenOver = true // a later top-up round took it over (its supersedes file)
		}
		if takenOver {
			res.supersededFiles++
			continue
		}
		tally(&res.campaignFiles, &res.campaignBytes, state, e.Size)
		if o.Entry != nil {
			a := Accounted{Round: rd.N, Shard: s.Shard, Index: i, Entry: &e, State: stateNames[state]}
			if state != statePending && times[i] != 0 {
				a.Time, a.Duration = time.Unix(0, times[i]).UTC(), time.Duration(durs[i])
			}
			mu.Lock()
			err := o.Entry(a)
			mu.Unlock()
			if err != nil {
				return nil, err
			}
		}
		switch state {
		case stateSkipped:
			reason := checkpoint.SkipReason(sub)
			if sub == movedOutOnSource {
				reason = checkpoint.SkipMovedOut
				res.movedOutOnSource++
			}
			localReasons[reason.String()]++
		case stateFailed:
			localClasses[lfs.Class(sub).String()]++
		}
		if state == statePending || state == stateWould || state == stateFailed || state == stateSkipped && sub == movedOutOnSource {
			for _, ost := range e.OSTs {
				local[strconv.Itoa(int(ost))]++
			}
		}
		if state == stateWould {
			for _, ost := range e.OSTs {
				fb := localWould[strconv.Itoa(int(ost))]
				fb.Files++
				fb.Bytes += e.Size
				localWould[strconv.Itoa(int(ost))] = fb
			}
		}
		if state == stateFailed && o.Failure != nil {
			f := fails[i]
			mu.Lock()
			err := o.Failure(Failure{Round: rd.N, Shard: s.Shard, Index: i, Path: campaign.Path(e.Path), Size: e.Size,
				UID: e.UID, Class: f.Class.String(), Errno: int(f.Errno), ErrnoName: errnoName(f.Errno), Message: f.Message,
				Attempts: f.Attempts, Retryable: f.Retryable, Time: f.Time.UTC()})
			mu.Unlock()
			if err != nil {
				return nil, err
			}
		}
		take := retryable
		if o.Take != nil && state == stateFailed {
			take = o.Take.Takes(lfs.Class(sub), retryable)
		}
		wantRetry := state == stateFailed && take || latest && o.RetryPending && (state == statePending || state == stateWould)
		if wantRetry && o.Retry != nil {
			if code&attemptedBit != 0 {
				e.Flags |= manifest.EntryAttempted
			}
			if state == stateFailed {
				e.SetFailedBefore(fails[i].Errno) // its task's streak guard expects it to fail the same way again
			}
			e.Flags &^= manifest.EntryAdded // planned once, by the round that added it
			mu.Lock()
			err := o.Retry(e)
			mu.Unlock()
			if err != nil {
				return nil, err
			}
		}
	}
	if res.Files.Planned != s.Files {
		return nil, fmt.Errorf("%s: %d entries, the index says %d", s.File, res.Files.Planned, s.Files)
	}
	mu.Lock()
	for k, v := range local {
		st.SourceOSTsRemaining[k] += v
	}
	for k, v := range localWould {
		if st.WouldMigrateByOST == nil {
			st.WouldMigrateByOST = map[string]FilesBytes{}
		}
		fb := st.WouldMigrateByOST[k]
		fb.Files += v.Files
		fb.Bytes += v.Bytes
		st.WouldMigrateByOST[k] = fb
	}
	for k, v := range localReasons {
		st.SkippedByReason[k] += v
	}
	for k, v := range localClasses {
		st.FailedByClass[k] += v
	}
	mu.Unlock()
	return res, nil
}

// readSupersedes reads the top-up rounds' supersedes files: the entries of earlier rounds
// each took over, by round and shard.
func readSupersedes(d campaign.Dir, rounds []int) (map[[2]int]map[uint64]struct{}, error) {
	out := map[[2]int]map[uint64]struct{}{}
	for _, r := range rounds {
		idx, err := manifest.ReadIndex(d.Round(r).Manifests)
		if err != nil {
			return nil, err
		}
		origins, err := manifest.ReadSupersedes(d.Round(r).Manifests, idx)
		if err != nil {
			return nil, err
		}
		for _, o := range origins {
			if o.Round >= r {
				return nil, fmt.Errorf("%s: round %d cannot take over round %d", d.Round(r).Manifests, r, o.Round)
			}
			k := [2]int{o.Round, o.Shard}
			if out[k] == nil {
				out[k] = map[uint64]struct{}{}
			}
			out[k][o.Index] = struct{}{}
		}
	}
	return out, nil
}

// tally adds one entry of size to the state counts of files and bytes (not to Planned).
// Would-migrate is pending.
func tally(files, bytes *Counts, state uint8, size uint64) {
	switch state {
	case stateMigrated:
		files.Migrated++
		bytes.Migrated += size
	case stateSkipped:
		files.Skipped++
		bytes.Skipped += size
	case stateFailed:
		files.Failed++
		bytes.Failed += size
	case stateWould:
		files.Pending++
		bytes.Pending += size
		files.WouldMigrate++
		bytes.WouldMigrate += size
	default:
		files.Pending++
		bytes.Pending += size
	}
}

func errnoName(e syscall.Errno) string {
	if e == 0 {
		return ""
	}
	return lfs.ErrnoName(e)
}
