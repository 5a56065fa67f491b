package plan

import (
	"context"
	"errors"
	"fmt"
	"os"
	"time"

	"github.com/dustin/go-humanize"

	"migrator/campaign"
	"migrator/checkpoint"
	"migrator/cmd/cli"
	"migrator/fidindex"
	"migrator/launch"
	"migrator/manifest"
	"migrator/planner"
	"migrator/sweep"
)

// validateUpdate refuses, with --update, every flag that would change what the campaign
// selects or how it migrates: a top-up round uses the campaign's own settings.
func (c *Cmd) validateUpdate() error {
	var given []string
	check := func(name string, set bool) {
		if set {
			given = append(given, "--"+name)
		}
	}
	check("osts", len(c.OSTs.OSTList) > 0)
	check("scan-path", len(c.ScanPath) > 0)
	check("exclude", len(c.Exclude) > 0)
	check("min-size", c.MinSize != 0)
	check("max-size", c.MaxSize != 0)
	check("uid", c.UID != "")
	check("gid", c.GID != "")
	check("pool", c.Pool != "")
	check("mtime", len(c.MTime) > 0)
	check("stripe-count", c.StripeCount != 0)
	check("stripe-size", c.StripeSize != 0)
	check("target-pool", c.TargetPool != "")
	check("target-osts", len(c.TargetOSTs.OSTList) > 0)
	check("mode", c.Mode != "nonblock")
	check("bandwidth", c.Bandwidth != 0)
	check("batch", c.Batch != 0)
	check("file-timeout", c.FileTimeout != 0)
	check("max-attempts", c.MaxAttempts != 5)
	check("shard-files", c.ShardFiles != 100000)
	check("shard-bytes", c.ShardBytes != 1<<40)
	check("find-threads", c.FindThreads != 0)
	check("workers", c.Workers != 8)
	check("dry-run", c.DryRun)
	check("partition", c.Partition != "")
	check("account", c.Account != "")
	check("qos", c.QOS != "")
	check("time", c.Time != "24:00:00")
	check("array-throttle", c.ArrayThrottle != 16)
	check("sbatch-arg", len(c.SbatchArg) > 0)
	check("template-dir", c.TemplateDir != "")
	check("group", c.Group != "")
	if len(given) > 0 {
		return fmt.Errorf("--update uses the campaign's own selection and settings; it takes only --scheduler, --no-submit, --emit-script and --scan-workers, not %v", given)
	}
	if c.ScanWorkers < 1 {
		return fmt.Errorf("--scan-workers must be positive")
	}
	return nil
}

// runUpdate makes and launches a top-up round: the latest round's retry set plus every
// file a sweep finds on a source OST that no round will handle.
func (c *Cmd) runUpdate(ctx context.Context, env *cli.Env) error {
	d := campaign.Dir{Root: c.Campaign}
	spec, err := d.Load()
	if err != nil {
		return cli.BadInput(err)
	}
	if spec.DryRun {
		return cli.BadInputf("campaign %s is a dry run: there is nothing to top up; to run it for real: migrator plan %s --go", spec.ID, d.Root)
	}
	// One round at a time, with retry: held until the round is submitted, or has run here.
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
		return cli.BadInputf("campaign %s has no planned round: run migrator plan without --update first", d.Root)
	}
	latest := rounds[len(rounds)-1]
	local := c.Scheduler == "local"
	if err := launch.CheckRoundOver(ctx, env.Stderr, d, spec, latest, local); err != nil {
		return err
	}
	out := env.Stderr
	var n int
	var idx manifest.Index
	if latest > 0 && launch.NeverRan(d, latest) {
		n = latest
		if idx, err = manifest.ReadIndex(d.Round(n).Manifests); err != nil {
			return cli.BadInput(err)
		}
		fmt.Fprintf(out, "round %d was prepared but never ran; launching it\n", n)
	} else {
		l, so, err := sweep.Setup(ctx, spec)
		if err != nil {
			return cli.BadInput(err)
		}
		so.Workers = c.ScanWorkers
		start := time.Now()
		var added uint64
		var found uint64
		n, idx, err = planner.TopUpRound(ctx, d, spec, func(write func(*manifest.Entry) error) ([]manifest.Origin, error) {
			var taken []manifest.Origin
			so.Take = func(e *manifest.Entry, from *manifest.Origin) error {
				added++
				if from != nil {
					taken = append(taken, *from)
				}
				return write(e)
			}
			s, err := sweep.Run(ctx, l, d, spec, so)
			if s != nil {
				found = s.OnSource
			}
			return taken, err
		})
		if errors.Is(err, manifest.ErrCorrupt) || errors.Is(err, checkpoint.ErrCorrupt) || errors.Is(err, fidindex.ErrCorrupt) {
			return cli.BadInput(err)
		}
		if err != nil {
			return err
		}
		if len(idx.Shards) == 0 {
			fmt.Fprintf(out, "nothing to top up: the sweep (%s) found %d files on the source OSTs, all pending in round %d or excluded\n",
				time.Since(start).Round(time.Second), found, latest)
			return nil
		}
		fmt.Fprintf(out, "round %d: %d files, %s in %d shards: %d found by the sweep (%s) that no round handles, %d from round %d's retry set\n",
			n, idx.Files, humanize.IBytes(idx.Bytes), len(idx.Shards), added, time.Since(start).Round(time.Second), idx.Files-added, latest)
	}
	spec.Slurm.Scheduler = c.Scheduler
	round := launch.Round{Dir: d, Spec: spec, N: n, Shards: len(idx.Shards), Exe: env.Exe, Version: env.Version, By: "plan --update"}
	again := launch.CommandLine(os.Args[0], "plan", d.Root, "--update", "--scheduler", c.Scheduler)
	return launch.Start(ctx, round, launch.How{Emit: c.Emit, NoSubmit: c.NoSubmit, Local: local,
		Progress: c.Progress, Continue: again, Resubmit: again, Out: out, Stdout: env.Stdout})
}
