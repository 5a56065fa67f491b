// Package triage says, for every unfinished shard of a campaign, what is happening to it
// (running, queued, waiting in the local runner, superseded by a later round, failed, ...)
// and what to do next, with advice that is always safe to follow: a shard a later round
// took over is never sent back to run, which would count its files twice. It reads the
// campaign's figures (package report) and what the caller learnt of its tasks: the shard
// locks held, Slurm's queue and the submissions.
package triage

import (
	"fmt"
	"path/filepath"

	"migrator/campaign"
	"migrator/checkpoint"
	"migrator/distscan"
	"migrator/report"
)

// States of an unfinished shard (Shard.State).
const (
	Running        = "running"         // its lock is held: a task works on it now
	Queued         = "queued"          // Slurm has its array task queued (pending or held) or starting
	WaitingLocal   = "waiting-local"   // the local runner runs other shards of its round and will get to it
	NeverRan       = "never-ran"       // it runs with the local scheduler, which stopped before it
	NeverSubmitted = "never-submitted" // its round was planned but not submitted to Slurm (--no-submit)
	NotQueued      = "not-queued"      // its round's array is no longer in the queue, and it never ran
	Superseded     = "superseded"      // a later round took its unfinished files over: nothing to run here
	Failed         = "failed"          // its last run ended with an error or stopped early
	Interrupted    = "interrupted"     // its last run was stopped by a signal (scancel, time limit, Ctrl-C)
	Died           = "died"            // its last run ended without a word (killed, node lost)
)

// Shard is an unfinished shard: what is happening to it, and the way on.
type Shard struct {
	Round int    `json:"round"`
	Shard int    `json:"shard"`
	Done  uint64 `json:"done"`
	Files uint64 `json:"files"`
	State string `json:"state"`
	// Detail says more about the state in words (where it runs, how its last run ended).
	Detail string `json:"detail,omitempty"`
	// Next is what to do about it, if anything ("" while it runs or waits its turn).
	Next string `json:"next,omitempty"`
	// SupersededBy is the round that holds its files now (Superseded).
	SupersededBy int `json:"superseded_by,omitempty"`
}

// Key names a shard of a round.
type Key struct{ Round, Shard int }

// Facts are what the caller knows of the campaign's tasks besides its files.
type Facts struct {
	Dir  campaign.Dir
	Spec *campaign.Spec
	// Running are the shards a live task holds the lock of, each with where and how it
	// runs, in words.
	Running map[Key]string
	// Queued are the shards Slurm has an array task queued or running for, each with its
	// state in words. Round campaign.RoundUnrecorded (an array piped into sbatch by hand,
	// whose first task has not recorded it yet) stands for the latest round: plan and
	// retry --emit-script print the latest round's script.
	Queued map[Key]string
	// Arrays are the campaign's array jobs, recorded or found in the queue.
	Arrays []campaign.Submission
}

// Unfinished lists the shards of st with files neither migrated, skipped nor failed (a dry
// run's would-migrate files count as done), in st's order, each with its state and advice.
func Unfinished(st *report.Status, f Facts) []Shard {
	out := []Shard{}
	latest := -1
	if n := len(st.Rounds); n > 0 {
		latest = st.Rounds[n-1].Round
	}
	roundOf := func(r int) int {
		if r == campaign.RoundUnrecorded {
			return latest
		}
		return r
	}
	queued := map[Key]string{}
	for k, s := range f.Queued {
		queued[Key{roundOf(k.Round), k.Shard}] = s
	}
	busy := map[int]bool{} // rounds with a shard running
	for k := range f.Running {
		busy[k.Round] = true
	}
	submitted := map[int]string{} // round -> its latest array job
	for _, a := range f.Arrays {
		if a.Kind != "collect" {
			submitted[roundOf(a.Round)] = a.JobID
		}
	}
	root := f.Dir.Root
	retry := "migrator retry " + root
	localRound := map[int]bool{} // rounds run by the local runner
	// sealWasToSubmit reports whether round 0 comes from a distributed scan whose seal was
	// to submit it (read once, when a shard of round 0 was never submitted).
	var toSubmit *bool
	sealWasToSubmit := func() bool {
		if toSubmit == nil {
			p, err := distscan.ReadPlan(f.Dir)
			b := err == nil && p.Then == distscan.ThenSubmit
			toSubmit = &b
		}
		return *toSubmit
	}
	for _, s := range st.Shards {
		if s.Files.Pending-s.Files.WouldMigrate == 0 {
			continue
		}
		u := Shard{Round: s.Round, Shard: s.Shard, Files: s.Files.Planned,
			Done: s.Files.Migrated + s.Files.Skipped + s.Files.Failed + s.Files.WouldMigrate}
		k := Key{s.Round, s.Shard}
		local, known := localRound[s.Round]
		if !known {
			local = f.Spec.Slurm.Scheduler == "local" && s.Round == 0 || ranLocally(f.Dir, s.Round)
			localRound[s.Round] = local
		}
		var rerun string
		switch {
		case f.Spec.DryRun: // nothing to retry in a dry run
			rerun = fmt.Sprintf("migrator work %s --shard %d", root, s.Shard)
		case local && s.Round == 0:
			rerun = fmt.Sprintf("rerun the same migrator plan command, or %s --scheduler local", retry)
		case local:
			rerun = retry + " --scheduler local"
		default:
			rerun = fmt.Sprintf("migrator work %s --round %d --shard %d, or %s", root, s.Round, s.Shard, retry)
		}
		where, isRunning := f.Running[k]
		how, isQueued := queued[k]
		switch {
		case s.Round < latest:
			u.State, u.SupersededBy = Superseded, latest
			u.Detail = fmt.Sprintf("superseded by round %d, which holds its unfinished files now", latest)
		case isRunning:
			u.State, u.Detail = Running, where
		case isQueued:
			u.State, u.Detail = Queued, how
		case s.Runs > 0 && s.LastRun == checkpoint.RunInterrupted.String():
			u.State, u.Next = Interrupted, rerun
			u.Detail = fmt.Sprintf("its last run, on %s, was interrupted", s.Host)
		case s.Runs > 0 && s.LastRun == "":
			u.State, u.Next = Died, rerun
			u.Detail = fmt.Sprintf("its last run, on %s, ended without a word (killed, or its node was lost)", s.Host)
		case s.Runs > 0:
			u.State, u.Next = Failed, rerun
			u.Detail = fmt.Sprintf("its last run, on %s, ended: %s", s.Host, s.LastRun)
		case local && busy[s.Round]:
			u.State, u.Detail = WaitingLocal, "waiting in the local runner"
		case local:
			u.State, u.Next = NeverRan, rerun
			u.Detail = "never ran: the local run stopped before it"
			if !ranLocally(f.Dir, s.Round) { // planned with --no-submit, say: no run yet
				u.Detail = "never ran: no local run of its round has started"
			}
		case submitted[s.Round] != "":
			u.State, u.Next = NotQueued, rerun
			u.Detail = fmt.Sprintf("never ran, and its array job %s is no longer in the queue", submitted[s.Round])
		default:
			u.State = NeverSubmitted
			u.Detail = fmt.Sprintf("never submitted: round %d was not submitted to Slurm", s.Round)
			u.Next = "rerun the same migrator plan command without --no-submit"
			switch {
			case s.Round > 0:
				u.Next = retry + " (it submits a round that never ran)"
			case sealWasToSubmit():
				// The seal wrote round 0 and was stopped (cancelled, say) before its sbatch:
				// the way on the seal's log and cancel give.
				u.Detail = "never submitted: the distributed scan's seal wrote round 0 and stopped before submitting it"
				u.Next = retry
			}
		}
		out = append(out, u)
	}
	return out
}

// ranLocally reports whether the local runner ran round n: it leaves logs/local-N-K.out.
func ranLocally(d campaign.Dir, n int) bool {
	m, _ := filepath.Glob(filepath.Join(d.Logs(), fmt.Sprintf("local-%d-*.out", n)))
	return len(m) > 0
}
