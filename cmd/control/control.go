// Package control holds the thin wrappers over Slurm that steer a running campaign:
// pause, resume, cancel and throttle. The tool runs no daemon of its own: each command
// finds the campaign's jobs in submissions.jsonl, asks squeue which are still queued or
// running, tells Slurm what to do, and prints it in Slurm's words.
package control

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"migrator/campaign"
	"migrator/cmd/cli"
	"migrator/launch"
	"migrator/slurm"
)

// jobs is what Slurm still holds of a campaign.
type jobs struct {
	arrays   []campaign.Submission // array jobs with tasks queued or running
	collects []campaign.Submission // collect jobs still queued or running
	tasks    []slurm.Task
}

// localAdvice is the advice each command gives for a campaign that runs with the local
// scheduler: there is no Slurm job to steer, so it says what does the same thing there.
// %[1]s is the campaign directory.
var localAdvice = map[string]string{
	"pause": "stop the local run with Ctrl-C (its running shards checkpoint first), " +
		"then continue it later by rerunning the same migrator plan command, or with: migrator retry %[1]s --scheduler local",
	"resume": "nothing is held: continue a stopped local run by rerunning the same migrator plan command, or with: migrator retry %[1]s --scheduler local",
	"cancel": "stop the local run with Ctrl-C, or kill -TERM its migrator plan (or retry) process; its running shards checkpoint first",
	"throttle": "it runs --array-throttle shards at once: stop it with Ctrl-C and rerun the same migrator plan command " +
		"with another --array-throttle to change that",
}

// live finds the campaign's jobs that are still in the queue. cmd names the command, for
// the advice to a local campaign.
func live(ctx context.Context, c *slurm.Client, root, cmd string) (*jobs, error) {
	d := campaign.Dir{Root: root}
	spec, err := d.Load()
	if err != nil {
		return nil, cli.BadInput(err)
	}
	subs, err := d.Submissions()
	if err != nil {
		return nil, err
	}
	// A campaign planned with --scheduler local and never submitted to Slurm since (a retry
	// round may have been) has no Slurm job: Slurm is not asked, and need not be installed.
	if spec.Slurm.Scheduler == "local" && len(subs) == 0 {
		return nil, cli.BadInputf("campaign %s runs with the local scheduler, not Slurm, so there is no job to %s: "+localAdvice[cmd], root, cmd)
	}
	// A script piped into sbatch by hand is in submissions.jsonl only once a task started.
	extra, serr := launch.Unrecorded(ctx, c, d, spec, subs)
	arrays, collects := campaign.Jobs(append(subs, extra...))
	if len(arrays) == 0 && len(collects) == 0 {
		if serr != nil {
			return nil, fmt.Errorf("asking Slurm for the campaign's jobs: %w", serr)
		}
		return nil, cli.BadInputf("campaign %s has no Slurm job: it was not submitted, or ran with the local scheduler", root)
	}
	var ids []string
	for _, s := range append(append([]campaign.Submission{}, arrays...), collects...) {
		ids = append(ids, s.JobID)
	}
	tasks, err := c.Tasks(ctx, ids...)
	if err != nil {
		return nil, fmt.Errorf("asking Slurm: %w", err)
	}
	in := map[string]bool{}
	for _, t := range tasks {
		in[t.ArrayJobID] = true
	}
	j := &jobs{tasks: tasks}
	for _, s := range arrays {
		if in[s.JobID] {
			j.arrays = append(j.arrays, s)
		}
	}
	for _, s := range collects {
		if in[s.JobID] {
			j.collects = append(j.collects, s)
		}
	}
	if len(j.arrays) == 0 && len(j.collects) == 0 {
		var all []string
		for _, s := range arrays {
			all = append(all, s.JobID)
		}
		return nil, fmt.Errorf("no job of the campaign is queued or running (its arrays: %s); finished jobs leave squeue", strings.Join(all, ", "))
	}
	return j, nil
}

// summary describes an array job's tasks as squeue lists them.
func summary(tasks []slurm.Task, job string) string {
	var running, held, pending []int
	for _, t := range tasks {
		if t.ArrayJobID != job || t.TaskID < 0 {
			continue
		}
		switch {
		case t.State == "RUNNING" || t.State == "COMPLETING":
			running = append(running, t.TaskID)
		case t.Held():
			held = append(held, t.TaskID)
		default:
			pending = append(pending, t.TaskID)
		}
	}
	var parts []string
	for _, p := range []struct {
		what string
		ids  []int
	}{{"running", running}, {"held", held}, {"pending", pending}} {
		if len(p.ids) > 0 {
			parts = append(parts, fmt.Sprintf("%d %s (%s_[%s])", len(p.ids), p.what, job, slurm.FormatRange(p.ids)))
		}
	}
	if len(parts) == 0 {
		return "no tasks left in the queue"
	}
	return strings.Join(parts, ", ")
}

func client() *slurm.Client { return slurm.New() }

func ctx() (context.Context, context.CancelFunc) {
	return context.WithTimeout(context.Background(), 2*time.Minute)
}

// after re-reads the queue to show the effect of a command.
func after(c *slurm.Client, out io.Writer, j *jobs) {
	cx, cancel := ctx()
	defer cancel()
	var ids []string
	for _, s := range j.arrays {
		ids = append(ids, s.JobID)
	}
	tasks, err := c.Tasks(cx, ids...)
	if err != nil {
		return
	}
	for _, s := range j.arrays {
		fmt.Fprintf(out, "job %s (%s): %s\n", s.JobID, label(s), summary(tasks, s.JobID))
	}
}

// label names a job's part in the campaign for people.
func label(s campaign.Submission) string {
	switch s.Kind {
	case campaign.KindScan:
		return "scan array of the distributed scan"
	case campaign.KindSeal:
		return "seal job of the distributed scan"
	}
	return campaign.RoundLabel(s.Round)
}

// seals are the seal jobs of a distributed scan among j's single jobs, each with its task
// as squeue lists it (pending, held or running).
func (j *jobs) seals() []slurm.Task {
	var out []slurm.Task
	for _, s := range j.collects {
		if s.Kind != campaign.KindSeal {
			continue
		}
		for _, t := range j.tasks {
			if t.ArrayJobID == s.JobID {
				out = append(out, t)
				break
			}
		}
	}
	return out
}

// PauseCmd is "migrator pause CAMPAIGN": hold the pending array tasks.
type PauseCmd struct {
	Campaign string `arg:"" help:"Campaign directory." type:"path"`
	Now      bool   `help:"Also stop the running tasks: they get SIGTERM, finish their current files, checkpoint and are requeued held."`
}

// Run pauses the campaign.
func (c *PauseCmd) Run(env *cli.Env) error {
	cx, cancel := ctx()
	defer cancel()
	sc := client()
	j, err := live(cx, sc, c.Campaign, "pause")
	if err != nil {
		return err
	}
	for _, s := range j.arrays {
		if err := sc.Hold(cx, s.JobID); err != nil {
			return err
		}
		if s.Kind == campaign.KindScan {
			fmt.Fprintf(env.Stdout, "scontrol hold %s: pending scan tasks held; running ones go on (pause --now stops them)\n", s.JobID)
		} else {
			fmt.Fprintf(env.Stdout, "scontrol hold %s: pending tasks held; running tasks finish their shards\n", s.JobID)
		}
		if c.Now {
			if err := requeueRunning(cx, sc, j.tasks, s.JobID, env.Stdout); err != nil {
				return err
			}
		}
	}
	// The seal job of a distributed scan: held, it neither merges the parts nor submits the
	// round until resumed; stopped (--now), it runs again from the start once released.
	for _, t := range j.seals() {
		if t.State == "RUNNING" {
			if c.Now {
				if err := sc.Requeue(cx, t.ArrayJobID, true); err != nil {
					return err
				}
				fmt.Fprintf(env.Stdout, "scontrol requeuehold %s: the running seal job stopped and held; it runs again, from the start, once resumed\n", t.ArrayJobID)
			} else {
				fmt.Fprintf(env.Stdout, "seal job %s is running: it finishes (and submits the round); pause --now stops it\n", t.ArrayJobID)
			}
			continue
		}
		if err := sc.Hold(cx, t.ArrayJobID); err != nil {
			return err
		}
		fmt.Fprintf(env.Stdout, "scontrol hold %s: seal job held\n", t.ArrayJobID)
	}
	after(sc, env.Stdout, j)
	return nil
}

// requeueRunning requeues the running tasks of a job held: Slurm sends them SIGTERM, they
// checkpoint, and they wait in the queue until released.
func requeueRunning(cx context.Context, sc *slurm.Client, tasks []slurm.Task, job string, out io.Writer) error {
	var ids []int
	for _, t := range tasks {
		if t.ArrayJobID == job && t.TaskID >= 0 && t.State == "RUNNING" {
			id := fmt.Sprintf("%s_%d", job, t.TaskID)
			if err := sc.Requeue(cx, id, true); err != nil {
				return err
			}
			ids = append(ids, t.TaskID)
		}
	}
	if len(ids) > 0 {
		fmt.Fprintf(out, "scontrol requeuehold %s_[%s]: running tasks stopped (they checkpoint on SIGTERM) and held\n", job, slurm.FormatRange(ids))
	}
	return nil
}

// ResumeCmd is "migrator resume CAMPAIGN": release the held tasks.
type ResumeCmd struct {
	Campaign string `arg:"" help:"Campaign directory." type:"path"`
}

// Run resumes the campaign.
func (c *ResumeCmd) Run(env *cli.Env) error {
	cx, cancel := ctx()
	defer cancel()
	sc := client()
	j, err := live(cx, sc, c.Campaign, "resume")
	if err != nil {
		return err
	}
	for _, s := range j.arrays {
		if err := sc.Release(cx, s.JobID); err != nil {
			return err
		}
		fmt.Fprintf(env.Stdout, "scontrol release %s: held tasks released\n", s.JobID)
	}
	for _, t := range j.seals() {
		if t.Held() {
			if err := sc.Release(cx, t.ArrayJobID); err != nil {
				return err
			}
			fmt.Fprintf(env.Stdout, "scontrol release %s: seal job released\n", t.ArrayJobID)
		}
	}
	after(sc, env.Stdout, j)
	return nil
}

// CancelCmd is "migrator cancel CAMPAIGN": scancel the array and its collect job.
type CancelCmd struct {
	Campaign string `arg:"" help:"Campaign directory." type:"path"`
}

// Run cancels the campaign's jobs. Running tasks get SIGTERM and checkpoint; the campaign
// can be continued later with migrator retry.
func (c *CancelCmd) Run(env *cli.Env) error {
	cx, cancel := ctx()
	defer cancel()
	sc := client()
	j, err := live(cx, sc, c.Campaign, "cancel")
	if err != nil {
		return err
	}
	var ids []string
	scanning := false
	for _, s := range j.arrays {
		ids = append(ids, s.JobID)
		scanning = scanning || s.Kind == campaign.KindScan
		fmt.Fprintf(env.Stdout, "job %s (%s): %s\n", s.JobID, label(s), summary(j.tasks, s.JobID))
	}
	for _, s := range j.collects {
		ids = append(ids, s.JobID)
		scanning = scanning || s.Kind == campaign.KindSeal
	}
	if err := sc.Cancel(cx, ids...); err != nil {
		return err
	}
	if scanning {
		// The advice status gives for the scan from now on, word for word.
		fmt.Fprintf(env.Stdout, "scancel %s: cancelled; the distributed scan keeps the units its tasks finished (a unit cut short is scanned again). Continue later with: %s\n",
			strings.Join(ids, " "), launch.ContinueScan(campaign.Dir{Root: c.Campaign}))
		return nil
	}
	fmt.Fprintf(env.Stdout, "scancel %s: cancelled; running tasks checkpoint on SIGTERM. Continue later with: migrator retry %s\n",
		strings.Join(ids, " "), c.Campaign)
	return nil
}

// ThrottleCmd is "migrator throttle CAMPAIGN N": change how many tasks run at once.
type ThrottleCmd struct {
	Campaign string `arg:"" help:"Campaign directory." type:"path"`
	N        int    `arg:"" help:"Most array tasks running at once (scontrol update ArrayTaskThrottle=N); 0 removes the limit."`
}

// Validate checks N.
func (c *ThrottleCmd) Validate() error {
	if c.N < 0 {
		return errors.New("N must be 0 (no limit) or more")
	}
	return nil
}

// Run changes the throttle, live.
func (c *ThrottleCmd) Run(env *cli.Env) error {
	cx, cancel := ctx()
	defer cancel()
	sc := client()
	j, err := live(cx, sc, c.Campaign, "throttle")
	if err != nil {
		return err
	}
	if len(j.arrays) == 0 {
		return fmt.Errorf("no array job of the campaign is queued or running")
	}
	for _, s := range j.arrays {
		if err := sc.SetThrottle(cx, s.JobID, c.N); err != nil {
			return err
		}
		fmt.Fprintf(env.Stdout, "scontrol update JobId=%s ArrayTaskThrottle=%d: done\n", s.JobID, c.N)
	}
	after(sc, env.Stdout, j)
	return nil
}
