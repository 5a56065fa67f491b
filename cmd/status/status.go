// Package status is "migrator status": the live view of a campaign, from its files (what
// is done, by whom it is being done) and from squeue (what Slurm has queued or running).
package status

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"time"

	"migrator/campaign"
	"migrator/checkpoint"
	"migrator/cmd/cli"
	"migrator/distscan"
	"migrator/launch"
	"migrator/progress"
	"migrator/report"
	"migrator/slurm"
	"migrator/triage"
)

// Cmd is "migrator status CAMPAIGN [--json] [--watch]".
type Cmd struct {
	Campaign string        `arg:"" help:"Campaign directory." type:"path"`
	JSON     bool          `name:"json" help:"Print the status as JSON."`
	Watch    bool          `help:"Refresh the view until interrupted (or the campaign is done)."`
	Interval time.Duration `default:"10s" help:"Refresh interval for --watch."`
	Shards   int           `default:"40" help:"Most unfinished shards listed in the human view."`
}

// View is what status shows: collect's figures plus who is working on what.
type View struct {
	*report.Status
	Jobs    []JobView   `json:"jobs"`
	Running []ShardView `json:"running"` // shards whose lock is held: in progress here or in Slurm
	Tasks   []TaskView  `json:"tasks"`   // array tasks Slurm has queued or running
	// Unfinished are the shards with files neither migrated, skipped nor failed, each with
	// what is happening to it and what to do.
	Unfinished           []triage.Shard `json:"unfinished"`
	RecentFilesPerSecond float64        `json:"recent_files_per_second,omitempty"`
	// Scan is the campaign's distributed scan (plan --scan-tasks), if it has one.
	Scan *ScanView `json:"scan,omitempty"`
}

// ScanView is a distributed scan: how far its units are (from its files) and, until it is
// sealed, what to do about it.
type ScanView struct {
	distscan.Progress
	// Next is what to do when nothing runs or waits for the scan and it is not sealed.
	Next string `json:"next,omitempty"`
}

// JobView is one of the campaign's Slurm jobs.
type JobView struct {
	JobID   string `json:"job_id"`
	Kind    string `json:"kind"`
	Round   int    `json:"round"` // campaign.RoundUnrecorded (-1): submitted by hand, not started yet
	Running int    `json:"running"`
	Pending int    `json:"pending"`
	Held    int    `json:"held"`
	InQueue bool   `json:"in_queue"`
}

// TaskView is one array task in the queue.
type TaskView struct {
	Job    string `json:"job_id"`
	Round  int    `json:"round"`
	Shard  int    `json:"shard"`
	State  string `json:"state"`
	Reason string `json:"reason,omitempty"`
	Node   string `json:"node,omitempty"`
	// ElapsedSeconds is how long it has run, from squeue's [days-]hours:minutes:seconds.
	ElapsedSeconds float64 `json:"elapsed_seconds"`
}

// ShardView is a shard a task is working on now, from its lock.
type ShardView struct {
	Round int    `json:"round"`
	Shard int    `json:"shard"`
	Host  string `json:"host"`
	PID   int    `json:"pid"`
	Job   string `json:"job,omitempty"`
	// HeartbeatAgeSeconds is how long ago the task last touched its lock.
	HeartbeatAgeSeconds float64 `json:"heartbeat_age_seconds"`
	// InFlight counts the files lfs migrate was started on whose outcome is not recorded
	// yet (the checkpoint's attempt records without an outcome): the one meaning of "in
	// flight" in migrator's output.
	InFlight uint64 `json:"in_flight"`
	Done     uint64 `json:"done"`
	Files    uint64 `json:"files"`
}

// Run prints the status, once or until interrupted.
func (c *Cmd) Run(env *cli.Env) error {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	d := campaign.Dir{Root: c.Campaign}
	spec, err := d.LoadToRead() // a group member may read it (plan --group)
	if err != nil {
		return cli.BadInput(err)
	}
	term := progress.IsTerminal(env.Stdout)
	var prev *View
	var prevAt time.Time
	for {
		v, err := look(ctx, d, spec)
		if err != nil {
			return err
		}
		if prev != nil {
			handled := func(s *report.Status) uint64 { return s.Files.Migrated + s.Files.Skipped + s.Files.Failed }
			v.RecentFilesPerSecond = float64(handled(v.Status)-handled(prev.Status)) / time.Since(prevAt).Seconds()
		}
		if c.Watch && term && !c.JSON {
			fmt.Fprint(env.Stdout, "\033[H\033[2J") // redraw in place
		}
		if c.JSON {
			enc := json.NewEncoder(env.Stdout)
			if !c.Watch {
				enc.SetIndent("", "  ")
			} // --watch: one document per line, for tools that read a stream of them
			if err := enc.Encode(v); err != nil {
				return err
			}
		} else {
			c.human(env.Stdout, v)
		}
		if !c.Watch || finished(v) {
			return nil
		}
		prev, prevAt = v, time.Now()
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(c.Interval):
		}
	}
}

// finished reports whether nothing is left to watch: every file is handled (in a dry run,
// found to be migrated or not), and no task runs or waits in Slurm's queue.
func finished(v *View) bool {
	if v.Scan != nil && !v.Scan.Sealed && v.Scan.Next == "" { // the scan runs, or waits its turn
		return false
	}
	return v.Files.Pending-v.Files.WouldMigrate == 0 && len(v.Running) == 0 && len(v.Tasks) == 0
}

// look gathers the view: the campaign's files first (always available), then Slurm's
// queue when the campaign was submitted (a Slurm that does not answer is an error).
func look(ctx context.Context, d campaign.Dir, spec *campaign.Spec) (*View, error) {
	st, err := report.Collect(ctx, d, spec, report.Options{})
	if err != nil {
		return nil, cli.BadInput(err)
	}
	v := &View{Status: st, Jobs: []JobView{}, Running: []ShardView{}, Tasks: []TaskView{}}
	byShard := map[[2]int]report.ShardStatus{}
	for _, s := range st.Shards {
		byShard[[2]int{s.Round, s.Shard}] = s
	}
	for _, r := range st.Rounds {
		dir := d.Round(r.Round).Checkpoints
		for k := 0; k < r.Shards; k++ {
			info, age, err := checkpoint.ReadLock(checkpoint.LockPath(dir, k))
			if err != nil || checkpoint.HolderGone(info, age) {
				continue // nobody holds it, or its holder died without releasing it
			}
			s := byShard[[2]int{r.Round, k}]
			v.Running = append(v.Running, ShardView{Round: r.Round, Shard: k, Host: info.Host, PID: info.PID, Job: info.Job,
				HeartbeatAgeSeconds: age.Round(time.Second).Seconds(), InFlight: s.Attempted, Files: s.Files.Planned,
				Done: s.Files.Migrated + s.Files.Skipped + s.Files.Failed})
		}
	}
	subs, err := d.Submissions()
	if err != nil {
		return nil, err
	}
	if spec.Slurm.Scheduler != "local" {
		// A script piped into sbatch by hand is recorded only once a task started. If Slurm
		// does not answer here, the recorded jobs' query below says so.
		if extra, err := launch.Unrecorded(ctx, slurm.New(), d, spec, subs); err == nil {
			subs = append(subs, extra...)
		}
	}
	arrays, collects := campaign.Jobs(subs)
	all := append(append([]campaign.Submission{}, arrays...), collects...)
	defer func() { v.Unfinished = unfinished(d, spec, v, arrays) }()
	if pr, err := distscan.ReadProgress(d); err == nil {
		v.Scan = &ScanView{Progress: pr}
		defer func() { scanNext(d, v) }()
	}
	if len(all) == 0 {
		return v, nil
	}
	var ids []string
	round := map[string]int{}
	for _, s := range all {
		ids = append(ids, s.JobID)
		round[s.JobID] = s.Round
	}
	tasks, err := slurm.New().Tasks(ctx, ids...)
	if err != nil {
		return nil, fmt.Errorf("asking Slurm about jobs %s: %w", strings.Join(ids, ","), err)
	}
	counts := map[string]*JobView{}
	for _, s := range all {
		counts[s.JobID] = &JobView{JobID: s.JobID, Kind: s.Kind, Round: s.Round}
	}
	for _, t := range tasks {
		j := counts[t.ArrayJobID]
		if j == nil {
			continue
		}
		j.InQueue = true
		switch {
		case t.State == "RUNNING" || t.State == "COMPLETING":
			j.Running++
		case t.Held():
			j.Held++
		default:
			j.Pending++
		}
		if j.Kind == "array" && t.TaskID >= 0 {
			v.Tasks = append(v.Tasks, TaskView{Job: t.ArrayJobID, Round: round[t.ArrayJobID], Shard: t.TaskID,
				State: t.State, Reason: t.Reason, Node: t.Node, ElapsedSeconds: t.ElapsedTime().Seconds()})
		}
	}
	for _, s := range all {
		v.Jobs = append(v.Jobs, *counts[s.JobID])
	}
	return v, nil
}

// scanNext says what to do about a distributed scan that is not sealed when no job of it
// is queued or running and no unit is being scanned: it stopped (cancelled, or its jobs
// lost) and must be continued.
func scanNext(d campaign.Dir, v *View) {
	if v.Scan.Sealed || v.Scan.Scanning > 0 {
		return
	}
	for _, j := range v.Jobs {
		if j.InQueue && (j.Kind == campaign.KindScan || j.Kind == campaign.KindSeal) {
			return
		}
	}
	v.Scan.Next = launch.ContinueScan(d) // what cancel, plan and retry say too
}

// unfinished triages the unfinished shards from the view's locks and queue.
func unfinished(d campaign.Dir, spec *campaign.Spec, v *View, arrays []campaign.Submission) []triage.Shard {
	var migrate []campaign.Submission // not the scan array: it migrates no shard
	for _, a := range arrays {
		if a.Kind != campaign.KindScan {
			migrate = append(migrate, a)
		}
	}
	f := triage.Facts{Dir: d, Spec: spec, Arrays: migrate, Running: map[triage.Key]string{}, Queued: map[triage.Key]string{}}
	for _, r := range v.Running {
		f.Running[triage.Key{Round: r.Round, Shard: r.Shard}] = fmt.Sprintf("running on %s (pid %d, heartbeat %s ago), %s in flight",
			r.Host, r.PID, (time.Duration(r.HeartbeatAgeSeconds) * time.Second).String(), progress.Plural(r.InFlight, "file"))
	}
	for _, t := range v.Tasks {
		how := strings.ToLower(t.State)
		if t.Node != "" {
			how += " on " + t.Node + " for " + (time.Duration(t.ElapsedSeconds) * time.Second).String()
		} else if t.Reason != "" && t.Reason != "None" {
			how += " (" + t.Reason + ")"
		}
		f.Queued[triage.Key{Round: t.Round, Shard: t.Shard}] = how
	}
	return triage.Unfinished(v.Status, f)
}

func (c *Cmd) human(w io.Writer, v *View) {
	report.WriteHuman(w, v.Status, nil)
	if v.RecentFilesPerSecond > 0 {
		fmt.Fprintf(w, "recent rate: %.1f files/s\n", v.RecentFilesPerSecond)
	}
	if v.Scan != nil {
		writeScan(w, v)
	}
	for _, j := range v.Jobs {
		writeJob(w, j)
	}
	type group struct {
		u    triage.Shard // the first of a run of shards in the same state, with the run's sums
		last int          // the last shard of the run
	}
	var groups []group
	var lines []string
	superseded := map[int]int{} // round -> shards superseded
	by := map[int]int{}
	for _, u := range v.Unfinished {
		if u.State == triage.Superseded {
			superseded[u.Round]++
			by[u.Round] = u.SupersededBy
			continue
		}
		// Shards next to each other in the same state with the same advice share a line.
		if n := len(groups); n > 0 {
			g := &groups[n-1]
			if g.u.Round == u.Round && g.u.State == u.State && g.u.Detail == u.Detail && g.u.Next == u.Next && g.last+1 == u.Shard {
				g.last, g.u.Done, g.u.Files = u.Shard, g.u.Done+u.Done, g.u.Files+u.Files
				continue
			}
		}
		groups = append(groups, group{u: u, last: u.Shard})
	}
	for _, g := range groups {
		shards := strconv.Itoa(g.u.Shard)
		if g.last != g.u.Shard {
			shards += "-" + strconv.Itoa(g.last)
		}
		line := fmt.Sprintf("  %5d %7s  %7d/%-7d  %s", g.u.Round, shards, g.u.Done, g.u.Files, g.u.Detail)
		if g.u.Next != "" {
			line += " (next: " + g.u.Next + ")"
		}
		lines = append(lines, line)
	}
	if len(lines) > 0 {
		fmt.Fprintf(w, "unfinished shards:\n  round   shard       done/files    state\n")
		for i, l := range lines {
			if i == c.Shards {
				fmt.Fprintf(w, "  … and %d more\n", len(lines)-i)
				break
			}
			fmt.Fprintln(w, l)
		}
	}
	var rounds []int
	for r := range superseded {
		rounds = append(rounds, r)
	}
	sort.Ints(rounds)
	for _, r := range rounds {
		fmt.Fprintf(w, "round %d: %s superseded by round %d, which holds their unfinished files now: nothing to run for them\n",
			r, progress.Plural(superseded[r], "shard"), by[r])
	}
}

// writeScan says where the distributed scan is: its units, and while it is not sealed,
// what its jobs are doing (the job lines follow) or how to continue it.
func writeScan(w io.Writer, v *View) {
	sc := v.Scan
	if sc.Sealed {
		fmt.Fprintf(w, "distributed scan: sealed (%d units, %d tasks)\n", sc.Units, sc.Tasks)
		return
	}
	line := fmt.Sprintf("scanning: %d of %d units done, %d being scanned", sc.Done, sc.Units, sc.Scanning)
	if sc.Stale > 0 {
		line += fmt.Sprintf(", %d claimed by tasks that died (scanned again by the next task or the seal)", sc.Stale)
	}
	var seal []string
	for _, j := range v.Jobs {
		if j.Kind != campaign.KindSeal || !j.InQueue {
			continue
		}
		switch {
		case j.Running > 0:
			seal = append(seal, "seal job "+j.JobID+" running")
		case j.Held > 0:
			seal = append(seal, "seal job "+j.JobID+" held")
		default:
			seal = append(seal, "seal job "+j.JobID+" waiting for the scan")
		}
	}
	if len(seal) > 0 {
		line += "; " + strings.Join(seal, ", ")
	}
	fmt.Fprintln(w, line)
	if sc.Next != "" {
		fmt.Fprintf(w, "the scan is stopped (nothing of it is queued or running); the units done are kept; continue it with: %s\n", sc.Next)
		// A seal that ran and did not seal says why in its log (a unit it could not scan,
		// a damaged part), or was cancelled.
		var last string
		for _, j := range v.Jobs {
			if j.Kind == campaign.KindSeal {
				last = j.JobID
			}
		}
		if last != "" {
			fmt.Fprintf(w, "seal job %s ended without sealing: if it was not cancelled, %s says why\n", last, filepath.Join("logs", "seal-"+last+".out"))
		}
	}
}

// writeJob is one job's line: in the queue, or no longer.
func writeJob(w io.Writer, j JobView) {
	if !j.InQueue {
		fmt.Fprintf(w, "%s job %s (%s): no longer in the queue\n", j.Kind, j.JobID, campaign.RoundLabel(j.Round))
		return
	}
	fmt.Fprintf(w, "%s job %s (%s): %d running, %d pending, %d held\n", j.Kind, j.JobID, campaign.RoundLabel(j.Round), j.Running, j.Pending, j.Held)
}
