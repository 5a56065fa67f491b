// Package retry is "migrator retry": a new round of the campaign over the files that
// failed with a retryable error or were left pending (a cancelled array, say).
package retry

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/dustin/go-humanize"

	"migrator/campaign"
	"migrator/cmd/cli"
	"migrator/distscan"
	"migrator/launch"
	"migrator/lfs"
	"migrator/manifest"
	"migrator/metrics"
	"migrator/planner"
	"migrator/progress"
	"migrator/report"
	"migrator/slurm"
)

// Cmd is "migrator retry CAMPAIGN [--scheduler slurm|local]".
type Cmd struct {
	Campaign  string `arg:"" help:"Campaign directory." type:"path"`
	Scheduler string `placeholder:"slurm|local" help:"slurm: submit a new job array over the retry manifests; local: run it here, in the foreground. One of: slurm, local. Default: the campaign's (plan --scheduler)."`
	NoSubmit  bool   `name:"no-submit" help:"Write the round's manifests and job script, print the sbatch command, submit nothing."`
	Emit      bool   `name:"emit-script" help:"Like --no-submit, but write the round's array job script to stdout, for: migrator retry CAMPAIGN --emit-script | sbatch"`

	Failed      string        `default:"retryable" placeholder:"retryable|all|CLASS,..." help:"Which failed files to take, besides the pending ones: retryable, all, or failure classes (other, retry-later, vanished, no-space, permission, io), comma-separated; e.g. permission after fixing the permissions."`
	Progress    time.Duration `default:"30s" help:"With --scheduler local: interval of the progress lines when stderr is not a terminal (on one, a live bar)."`
	TextfileDir string        `name:"textfile-dir" type:"path" placeholder:"DIR" help:"node_exporter's textfile collector directory for the campaign's live metrics (as plan's --textfile-dir); kept in the campaign."`
}

// Validate checks --scheduler and --failed.
func (c *Cmd) Validate() error {
	if c.Scheduler != "" && c.Scheduler != "slurm" && c.Scheduler != "local" {
		return fmt.Errorf("--scheduler %q: want slurm or local", c.Scheduler)
	}
	_, err := campaign.ParseFailed(c.Failed)
	return err
}

// Run starts the retry round.
func (c *Cmd) Run(env *cli.Env) (err error) {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	defer func() { // a signal ends the command with one line saying how to go on, not "context canceled"
		if err != nil && ctx.Err() != nil && cli.ExitCode(err) != cli.ExitInterrupted {
			err = cli.WithCode(cli.ExitInterrupted, fmt.Errorf("interrupted; to continue: %s", launch.CommandLine(os.Args...)))
		}
	}()
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
	if spec.DryRun && !unsealedScan(d) { // a dry run's distributed scan is continued like any
		return cli.BadInputf("campaign %s is a dry run: there is nothing to retry; to run it for real: migrator plan %s --go", spec.ID, d.Root)
	}
	// One round at a time: held until the round is submitted, or has run here.
	lock, err := launch.LockCampaign(d)
	if err != nil {
		return err // another holder: exit 6 (cli.ExitCode)
	}
	defer lock.Release()
	rounds, err := d.Rounds()
	if err != nil {
		return err
	}
	if len(rounds) == 0 {
		if p, err := distscan.ReadPlan(d); err == nil { // a distributed scan, not sealed
			if c.Scheduler == "" {
				c.Scheduler = spec.Slurm.Scheduler
			}
			return c.resumeScan(ctx, env, d, spec, p)
		}
		return cli.BadInputf("campaign %s has no planned round", d.Root)
	}
	latest := rounds[len(rounds)-1]
	if c.Scheduler == "" { // a scheduler other than the campaign's only when asked for by name
		c.Scheduler = spec.Slurm.Scheduler
	}
	if c.Scheduler == "local" && !c.NoSubmit && !c.Emit {
		// Another local run of the campaign says so first (exit 6), as a rerun of the plan
		// does; the run below takes the lock for good.
		unlock, err := launch.LockRun(d)
		if err != nil {
			return err
		}
		unlock()
	}
	if err := launch.CheckRoundOver(ctx, env.Stderr, d, spec, latest, c.Scheduler == "local"); err != nil {
		return err
	}
	out := env.Stderr
	var maxShards int
	if c.Scheduler == "slurm" {
		sc := slurm.New()
		sc.Timeout = 20 * time.Second
		m, warn, err := launch.SlurmPreflight(ctx, sc, !c.NoSubmit && !c.Emit)
		if err != nil {
			return cli.BadInput(err)
		}
		if warn != "" {
			fmt.Fprintf(out, "warning: %s\n", warn)
		}
		maxShards = m
	}
	var n int
	var idx manifest.Index
	if latest > 0 && launch.NeverRan(d, latest) {
		// A retry round that was made but never ran (its submission failed, say): run it.
		n = latest
		if idx, err = manifest.ReadIndex(d.Round(n).Manifests); err != nil {
			return cli.BadInput(err)
		}
		fmt.Fprintf(out, "round %d was prepared but never ran; launching it\n", n)
	} else {
		take, _ := campaign.ParseFailed(c.Failed)
		var st *report.Status
		n, idx, st, err = planner.NextRound(ctx, d, spec, take)
		if err != nil {
			return err
		}
		if len(idx.Shards) == 0 {
			fmt.Fprintf(out, "nothing to retry: nothing is pending and no failure is selected by --failed %s%s\n", take.Failed, stillFailed(st))
			return nil
		}
		fmt.Fprintf(out, "round %d: %s, %s in %s (the pending files of round %d and the failures --failed %s selects)\n",
			n, progress.Plural(idx.Files, "file"), humanize.IBytes(idx.Bytes), progress.Plural(len(idx.Shards), "shard"), latest, take.Failed)
	}
	if maxShards > 0 && len(idx.Shards) > maxShards {
		made := len(idx.Shards)
		if idx, err = planner.Reshard(d, d.Round(n), idx, maxShards); err != nil {
			return err
		}
		fmt.Fprintf(out, "warning: round %d had %d shards, more than Slurm's MaxArraySize (%d) allows in one array: cut again into %s\n",
			n, made, maxShards, progress.Plural(len(idx.Shards), "shard"))
	}
	spec.Slurm.Scheduler = c.Scheduler
	round := launch.Round{Dir: d, Spec: spec, N: n, Shards: len(idx.Shards), Exe: env.Exe, Version: env.Version, By: "retry"}
	return launch.Start(ctx, round, launch.How{Emit: c.Emit, NoSubmit: c.NoSubmit, Local: c.Scheduler == "local",
		Progress: c.Progress, Continue: launch.CommandLine(os.Args...), Resubmit: "rerunning migrator retry", Out: out, Stdout: env.Stdout})
}

// stillFailed lists, for "nothing to retry", the failures that remain by class, each with
// the flag that would take them.
func stillFailed(st *report.Status) string {
	if st == nil || st.Files.Failed == 0 {
		return ""
	}
	var parts []string
	for c := lfs.ClassOther; c <= lfs.LastClass; c++ {
		if n := st.FailedByClass[c.String()]; n > 0 {
			parts = append(parts, fmt.Sprintf("%d %s (--failed %s)", n, c, c))
		}
	}
	return fmt.Sprintf("; still failed: %s (or --failed all; see %s)", strings.Join(parts, ", "), filepath.Join("reports", report.FailuresFile))
}
