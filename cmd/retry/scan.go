package retry

import (
	"context"
	"errors"
	"fmt"
	"os"

	"migrator/campaign"
	"migrator/checkpoint"
	"migrator/cmd/cli"
	"migrator/distscan"
	"migrator/launch"
	"migrator/lfs"
	"migrator/planner"
	"migrator/slurm"
)

// resumeScan continues a distributed scan (plan --scan-tasks) that has not been sealed:
// cancelled, its jobs lost, or a local run stopped. With Slurm it submits the scan array
// and seal job again (unless one of them is still queued); here, it runs the scan tasks and
// the seal, then round 0. Units already scanned are kept, not scanned again.
func (c *Cmd) resumeScan(ctx context.Context, env *cli.Env, d campaign.Dir, spec *campaign.Spec, p distscan.Plan) error {
	out := env.Stderr
	if c.NoSubmit || c.Emit {
		return cli.BadInputf("campaign %s's distributed scan is not sealed yet: there is no round to write a script for; continue the scan with: %s", spec.ID, launch.ContinueScan(d))
	}
	local := c.Scheduler == "local"
	if !local && p.Then == distscan.ThenLocal {
		// Without --scheduler, retry takes the campaign's: the advice status gives.
		return cli.BadInputf("campaign %s was planned with --scheduler local, so its seal submits nothing: continue its scan here with: %s", spec.ID, launch.ContinueScan(d))
	}
	pr, err := distscan.ReadProgress(d)
	if err != nil {
		return err
	}
	round := launch.Round{Dir: d, Spec: spec, Exe: env.Exe, Version: env.Version, By: "retry"}
	if !local {
		scanID, sealID, err := launch.ResumeScan(ctx, slurm.New(), round, p.Tasks, out)
		if err != nil {
			return err
		}
		if scanID != "" && sealID != "" {
			fmt.Fprintf(out, "continuing the distributed scan of campaign %s (%d of %d units done, kept): submitted scan array %s (%d tasks) and seal job %s (afterany:%s); watch it with migrator status %s\n",
				spec.ID, pr.Done, pr.Units, scanID, p.Tasks, sealID, scanID, d.Root)
			fmt.Fprintln(env.Stdout, scanID)
		}
		return nil
	}
	// Here: no scan job of the campaign may still be queued in Slurm (a campaign planned for
	// Slurm and continued here), or two would scan at once.
	subs, err := d.Submissions()
	if err != nil {
		return err
	}
	queued, err := launch.QueuedScan(ctx, slurm.New(), d, spec, subs)
	switch {
	case err != nil && !errors.Is(err, slurm.ErrNoSlurm) && len(subs) > 0:
		return fmt.Errorf("asking Slurm whether the campaign's scan is still queued: %w", err)
	case len(queued) > 0:
		return cli.BadInputf("the campaign's %s job %s is still queued or running: wait for it, or migrator cancel %s first", queued[0].Kind, queued[0].JobID, d.Root)
	}
	fmt.Fprintf(out, "continuing the distributed scan of campaign %s here: %d of %d units done (kept), %d tasks\n", spec.ID, pr.Done, pr.Units, p.Tasks)
	if err := launch.LocalScanTasks(ctx, round, p.Tasks, out); err != nil {
		return err
	}
	res, err := planner.Seal(ctx, lfs.New(spec.LFS), d, checkpoint.CurrentHolder(env.Getenv))
	if err != nil {
		return err // planner.ErrBadInput: exit 2 (cli.ExitCode)
	}
	fmt.Fprintf(out, "sealed campaign %s: %d files in %d shards (the seal scanned %d units itself)\n", spec.ID, res.Index.Files, len(res.Index.Shards), res.Task.Scanned)
	round.Shards, round.Spec = len(res.Index.Shards), res.Spec
	if round.Shards == 0 {
		if _, err := launch.WriteScripts(round); err != nil {
			return err
		}
		fmt.Fprintf(out, "nothing to migrate\n")
		return nil
	}
	round.Spec.Slurm.Scheduler = "local"
	return launch.Start(ctx, round, launch.How{Local: true, Progress: c.Progress,
		Continue: launch.CommandLine(os.Args...), Resubmit: "rerunning migrator retry", Out: out, Stdout: env.Stdout})
}

// unsealedScan reports whether the campaign has a distributed scan not sealed yet.
func unsealedScan(d campaign.Dir) bool {
	pr, err := distscan.ReadProgress(d)
	return err == nil && !pr.Sealed
}
