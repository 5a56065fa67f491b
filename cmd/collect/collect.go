// Package collect is "migrator collect": merge every shard's checkpoint into the
// campaign's reports and retry manifests.
package collect

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"migrator/campaign"
	"migrator/checkpoint"
	"migrator/cmd/cli"
	"migrator/manifest"
	"migrator/metrics"
	"migrator/progress"
	"migrator/report"
	"migrator/sweep"
)

// Cmd is "migrator collect CAMPAIGN [--json]".
type Cmd struct {
	Campaign string `arg:"" help:"Campaign directory." type:"path"`
	JSON     bool   `name:"json" help:"Print the status as JSON on stdout instead of the human summary."`
	Emit     bool   `name:"emit-script" help:"Only write the collect job script to stdout, for: migrator collect CAMPAIGN --emit-script | sbatch --dependency=afterany:JOBID"`
	Workers  int    `default:"4" help:"Shards read at once."`
	Sweep    string `enum:"auto,always,never" default:"auto" help:"Run the verify sweep (an lfs find over the scan paths) after collecting: auto when the campaign claims to be finished (nothing pending, nothing failed), always, or never. One of: ${enum}."`
}

// Run collects the campaign. It is safe while tasks are still writing: it reads each log
// up to its last complete record.
func (c *Cmd) Run(env *cli.Env) error {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	d := campaign.Dir{Root: c.Campaign}
	spec, err := d.Load()
	if err != nil {
		return cli.BadInput(err)
	}
	if c.Emit {
		script, err := os.ReadFile(d.CollectScript())
		if err != nil {
			return cli.BadInput(fmt.Errorf("no collect script: %w (it is written by plan)", err))
		}
		_, err = env.Stdout.Write(script)
		return err
	}
	w, err := report.WriteReports(ctx, d, spec, c.Workers)
	if err != nil {
		if errors.Is(err, manifest.ErrCorrupt) || errors.Is(err, checkpoint.ErrCorrupt) {
			return cli.BadInput(err)
		}
		return err
	}
	// A failed sweep fails the job, but only once the collect is done and its summary
	// printed: the reports then keep the last sweep, or the labelled estimate.
	var sweepErr error
	if c.Sweep == "always" || c.Sweep == "auto" && finished(w.Status) {
		fmt.Fprintf(env.Stderr, "nothing pending or failed: sweeping the scan paths to verify (migrator verify)\n")
		s, err := sweep.Campaign(ctx, d, spec, sweep.Options{})
		if err != nil {
			sweepErr = fmt.Errorf("verify sweep: %w (run migrator verify %s once the cause is fixed)", err, d.Root)
			fmt.Fprintf(env.Stderr, "warning: %v\n", cli.OneLine(sweepErr))
		} else {
			w.Status.Sweep = s
			if err := report.WriteStatus(d, w.Status); err != nil {
				return err
			}
		}
	}
	if dir := spec.Monitoring.TextfileDir; dir != "" {
		if err := metrics.Write(dir, w.Status, spec); err != nil {
			fmt.Fprintf(env.Stderr, "warning: live metrics: %v\n", cli.OneLine(err))
		}
	}
	if c.JSON {
		enc := json.NewEncoder(env.Stdout)
		enc.SetIndent("", "  ")
		if err := enc.Encode(w.Status); err != nil {
			return err
		}
	} else {
		report.WriteHuman(env.Stdout, w.Status, w.TopFailures)
		fmt.Fprintf(env.Stdout, "reports: %s (status.json, status.prom, failures.jsonl; retry manifests of %s in retry/)\n",
			d.Reports(), progress.Plural(w.Retry.Files, "file"))
	}
	if sweepErr != nil {
		return sweepErr
	}
	if w.Status.Inconsistency != "" {
		// Reported in full, and written to reports/; the exit code still tells a script.
		return fmt.Errorf("%s (the reports are written with these figures, in %s)", w.Status.Inconsistency, d.Reports())
	}
	return nil
}

// finished reports whether the campaign's records claim it is done: something was planned,
// nothing is pending or failed, and it is not a dry run.
func finished(st *report.Status) bool {
	return !st.DryRun && st.Files.Planned > 0 && st.Files.Pending == 0 && st.Files.Failed == 0
}
