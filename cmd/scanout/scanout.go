// Package scanout is the distributed scan's commands: "migrator scan-task" (one task of
// the scan array) and "migrator seal" (the job after it), both hidden: plan --scan-tasks
// writes the scripts that run them.
package scanout

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"strconv"
	"syscall"
	"time"

	"github.com/dustin/go-humanize"

	"migrator/campaign"
	"migrator/checkpoint"
	"migrator/cmd/cli"
	"migrator/distscan"
	"migrator/launch"
	"migrator/lfs"
	"migrator/planner"
	"migrator/slurm"
)

// ScanTaskCmd is "migrator scan-task CAMPAIGN --task N".
type ScanTaskCmd struct {
	Campaign string `arg:"" type:"path" help:"Campaign directory planned with --scan-tasks."`
	Task     int    `default:"-1" help:"Task number, 0 to tasks-1 (default: $SLURM_ARRAY_TASK_ID)."`
}

// Run scans the task's units, then any other left undone.
func (c *ScanTaskCmd) Run(env *cli.Env) error {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	task := c.Task
	if task < 0 {
		n, err := strconv.Atoi(env.Getenv("SLURM_ARRAY_TASK_ID"))
		if err != nil || n < 0 {
			return cli.BadInputf("no --task, and SLURM_ARRAY_TASK_ID is %q", env.Getenv("SLURM_ARRAY_TASK_ID"))
		}
		task = n
	}
	d := campaign.Dir{Root: c.Campaign}
	spec, err := d.Load()
	if err != nil {
		return cli.BadInput(err)
	}
	p, err := distscan.ReadPlan(d)
	if err != nil {
		return cli.BadInput(err)
	}
	if task >= p.Tasks {
		return cli.BadInputf("--task %d: the scan has %d tasks (0-%d)", task, p.Tasks, p.Tasks-1)
	}
	start := time.Now()
	var st distscan.Stats
	err = distscan.RunTask(ctx, lfs.New(spec.LFS), d, spec, distscan.TaskOptions{Task: task,
		Holder: checkpoint.CurrentHolder(env.Getenv)}, &st)
	fmt.Fprintf(env.Stderr, "scan task %d: %d units scanned, %d already done, %d held by other tasks; %d files, %s, %d hard-link duplicates left out, in %s\n",
		task, st.Scanned, st.Done, st.Busy, st.Scan.Files.Load(), humanize.IBytes(uint64(st.Scan.Bytes.Load())),
		st.Scan.HardLinks.Load(), time.Since(start).Round(time.Millisecond))
	return err
}

// SealCmd is "migrator seal CAMPAIGN".
type SealCmd struct {
	Campaign string `arg:"" type:"path" help:"Campaign directory planned with --scan-tasks."`
}

// Run seals the scan, then submits the migrate round or stops as plan.json says.
func (c *SealCmd) Run(env *cli.Env) error {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	d := campaign.Dir{Root: c.Campaign}
	spec, err := d.Load()
	if err != nil {
		return cli.BadInput(err)
	}
	start := time.Now()
	res, err := Seal(ctx, env, d, spec)
	if err != nil {
		return err
	}
	out := env.Stderr
	idx := res.Index
	if res.Resumed {
		fmt.Fprintf(out, "campaign %s was already sealed: %d files in %d shards\n", spec.ID, idx.Files, len(idx.Shards))
	} else {
		fmt.Fprintf(out, "sealed campaign %s: %d files, %s in %d shards from %d units (%d scanned by the seal), %d hard-link duplicates across parts left out, in %s\n",
			spec.ID, idx.Files, humanize.IBytes(idx.Bytes), len(idx.Shards), len(res.Plan.Units), res.Task.Scanned,
			res.Merge.HardLinks, time.Since(start).Round(time.Millisecond))
	}
	if res.Plan.Then == distscan.ThenLocal {
		return nil
	}
	round := launch.Round{Dir: d, Spec: res.Spec, N: 0, Shards: len(idx.Shards), Exe: env.Exe, Version: env.Version, By: "plan"}
	if _, err := launch.WriteScripts(round); err != nil {
		return err
	}
	if round.Shards == 0 {
		fmt.Fprintf(out, "nothing to migrate\n")
		return nil
	}
	if res.Plan.Then == distscan.ThenNoSubmit {
		fmt.Fprintf(out, "not submitted; to submit:\n")
		fmt.Fprintln(env.Stdout, launch.SbatchCommands(round))
		return nil
	}
	// Stopped (scancel, pause --now) once sealed but before submitting: say how to go on,
	// not what the interrupted squeue or sbatch said.
	interrupted := func() error {
		return cli.WithCode(cli.ExitInterrupted, fmt.Errorf("interrupted after sealing campaign %s, before round 0 was submitted; continue with: migrator retry %s",
			spec.ID, d.Root))
	}
	if ctx.Err() != nil {
		return interrupted()
	}
	subs, err := d.Submissions()
	if err != nil {
		return err
	}
	if prev, ok := campaign.LatestArray(subs, 0); ok { // a seal run again after it submitted
		fmt.Fprintf(out, "already submitted as job %s; see migrator status %s\n", prev.JobID, d.Root)
		return nil
	}
	sc := slurm.New()
	// Killed between sbatch and recording the array: it is queued under the campaign's name.
	queued, err := launch.Unrecorded(ctx, sc, d, res.Spec, subs)
	if err != nil && ctx.Err() != nil {
		return interrupted()
	}
	if err != nil {
		return fmt.Errorf("asking Slurm whether this campaign is already queued: %w", err)
	}
	for _, q := range queued {
		if q.Kind == "array" {
			fmt.Fprintf(out, "already submitted as job %s (queued, not recorded yet: its first task records it); see migrator status %s\n", q.JobID, d.Root)
			return nil
		}
	}
	arrayID, collectID, err := launch.Slurm(ctx, sc, round)
	if err != nil && arrayID == "" && ctx.Err() != nil {
		return interrupted()
	}
	if err != nil {
		return err
	}
	fmt.Fprintf(out, "submitted job array %s (%d tasks) and collect job %s (afterany:%s)\n", arrayID, round.Shards, collectID, arrayID)
	fmt.Fprintln(env.Stdout, arrayID)
	return nil
}

// Seal runs planner.Seal for the campaign in d with its lfs client (its bad input is exit
// 2 by cli.ExitCode).
func Seal(ctx context.Context, env *cli.Env, d campaign.Dir, spec *campaign.Spec) (*planner.SealResult, error) {
	return planner.Seal(ctx, lfs.New(spec.LFS), d, checkpoint.CurrentHolder(env.Getenv))
}
