// Package retry is "migrator retry": a new round of the campaign over the files that
// failed with a retryable error or were left pending (a cancelled array, say).
package retry

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"

	"github.com/dustin/go-humanize"

	"migrator/campaign"
	"migrator/checkpoint"
	"migrator/cmd/cli"
	"migrator/launch"
	"migrator/manifest"
	"migrator/metrics"
	"migrator/planner"
	"migrator/progress"
	"migrator/slurm"
)

// Cmd is "migrator retry CAMPAIGN [--scheduler slurm|local]".
type Cmd struct {
	Campaign  string `arg:"" help:"Campaign directory." type:"path"`
	Scheduler string `enum:"slurm,local" default:"slurm" help:"slurm: submit a new job array over the retry manifests; local: run it here, in the foreground. One of: ${enum}."`
	NoSubmit  bool   `name:"no-submit" help:"Write the round's manifests and job script, print the sbatch command, submit nothing."`
	Emit      bool   `name:"emit-script" help:"Like --no-submit, but write the round's array job script to stdout, for: migrator retry CAMPAIGN --emit-script | sbatch"`

	TextfileDir string `name:"textfile-dir" type:"path" placeholder:"DIR" help:"node_exporter's textfile collector directory for the campaign's live metrics (as plan's --textfile-dir); kept in the campaign."`
}

// Run starts the retry round.
func (c *Cmd) Run(env *cli.Env) error {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	d := campaign.Dir{Root: c.Campaign}
	spec, err := d.Load()
	if err != nil {
		return cli.BadInput(err)
	}
	if c.TextfileDir != "" {
		if err := metrics.CheckDir(c.TextfileDir); err != nil {
			return cli.BadInput(err)
		}
		if err := metrics.Keep(d, spec, campaign.Monitoring{TextfileDir: c.TextfileDir}); err != nil {
			return err
		}
	}
	if spec.DryRun {
		return cli.BadInputf("campaign %s is a dry run: there is nothing to retry; plan a real campaign", spec.ID)
	}
	rounds, err := d.Rounds()
	if err != nil {
		return err
	}
	if len(rounds) == 0 {
		return cli.BadInputf("campaign %s has no planned round", d.Root)
	}
	latest := rounds[len(rounds)-1]
	if err := checkOver(ctx, env, d, spec, latest, c.Scheduler == "local"); err != nil {
		return err
	}
	out := env.Stderr
	var n int
	var idx manifest.Index
	if latest > 0 && neverRan(d, latest) {
		// A retry round that was made but never ran (its submission failed, say): run it.
		n = latest
		if idx, err = manifest.ReadIndex(d.Round(n).Manifests); err != nil {
			return cli.BadInput(err)
		}
		fmt.Fprintf(out, "round %d was prepared but never ran; launching it\n", n)
	} else {
		n, idx, err = planner.NextRound(ctx, d, spec)
		if err != nil {
			return err
		}
		if len(idx.Shards) == 0 {
			fmt.Fprintf(out, "nothing to retry: round %d has no retryable failures and nothing pending\n", latest)
			return nil
		}
		fmt.Fprintf(out, "round %d: %s, %s in %s (the retryable failures and pending files of round %d)\n",
			n, progress.Plural(idx.Files, "file"), humanize.IBytes(idx.Bytes), progress.Plural(len(idx.Shards), "shard"), latest)
	}
	spec.Slurm.Scheduler = c.Scheduler
	round := launch.Round{Dir: d, Spec: spec, N: n, Shards: len(idx.Shards), Exe: env.Exe, Version: env.Version, By: "retry"}
	script, err := launch.WriteScripts(round)
	if err != nil {
		return err
	}
	switch {
	case c.Emit:
		fmt.Fprintf(out, "round %d job script on stdout (also in %s)\n", n, d.Round(n).JobScript)
		_, err := env.Stdout.Write(script)
		return err
	case c.NoSubmit:
		fmt.Fprintf(out, "not submitted; to submit:\n")
		fmt.Fprintln(env.Stdout, launch.SbatchCommands(round))
		return nil
	case c.Scheduler == "local":
		return launch.RunLocalReport(ctx, env.Stderr, round, spec.Slurm.Throttle)
	}
	arrayID, collectID, err := launch.Slurm(ctx, slurm.New(), round)
	if err != nil {
		return fmt.Errorf("%w (round %d is prepared; rerun migrator retry to submit it)", err, n)
	}
	fmt.Fprintf(out, "submitted round %d as job array %s (%d tasks) and collect job %s (afterany:%s)\n",
		n, arrayID, round.Shards, collectID, arrayID)
	fmt.Fprintln(env.Stdout, arrayID)
	return nil
}

// checkOver refuses to retry while a task of the latest round may still run, or an array
// submitted by hand may still start: its files would be in two rounds at once.
func checkOver(ctx context.Context, env *cli.Env, d campaign.Dir, spec *campaign.Spec, round int, local bool) error {
	ckpt := d.Round(round).Checkpoints
	locks, _ := filepath.Glob(filepath.Join(ckpt, "shard-*.lock"))
	for _, l := range locks {
		if info, age, err := checkpoint.ReadLock(l); err == nil && !checkpoint.HolderGone(info, age) {
			return fmt.Errorf("round %d is still running (%s is held by pid %d on %s); wait for it, or migrator cancel first",
				round, filepath.Base(l), info.PID, info.Host)
		}
	}
	subs, err := d.Submissions()
	if err != nil {
		return err
	}
	extra, err := launch.Unrecorded(ctx, slurm.New(), d, spec, subs)
	switch {
	case err != nil && !local:
		return fmt.Errorf("asking Slurm whether an array of the campaign submitted by hand is queued: %w", err)
	case err != nil:
		fmt.Fprintf(env.Stderr, "warning: could not ask Slurm whether an array of this campaign submitted by hand is queued (%v); make sure none is\n", cli.OneLine(err))
	}
	for _, s := range extra {
		if s.Kind == "array" {
			return fmt.Errorf("job %s, an array of this campaign submitted by hand, is queued and has not started; wait for it, or migrator cancel first", s.JobID)
		}
	}
	var ids []string
	for _, s := range subs {
		if s.Kind == "array" && s.Round == round {
			ids = append(ids, s.JobID)
		}
	}
	if len(ids) == 0 {
		return nil
	}
	tasks, err := slurm.New().Tasks(ctx, ids...)
	if err != nil {
		return fmt.Errorf("asking Slurm whether round %d is over: %w", round, err)
	}
	if len(tasks) > 0 {
		return fmt.Errorf("round %d still has %d array tasks queued or running (job %s); wait for them, or migrator cancel first",
			round, len(tasks), tasks[0].ArrayJobID)
	}
	return nil
}

// neverRan reports whether no task of the round ever started (no checkpoint log).
func neverRan(d campaign.Dir, round int) bool {
	logs, _ := filepath.Glob(filepath.Join(d.Round(round).Checkpoints, "shard-*.log"))
	return len(logs) == 0
}
