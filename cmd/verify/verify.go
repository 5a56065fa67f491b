// Package verify is "migrator verify": the sweep that proves a campaign drained its OSTs
// (package sweep), printed for people or as JSON.
package verify

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"
	"time"

	"migrator/campaign"
	"migrator/cmd/cli"
	"migrator/progress"
	"migrator/report"
	"migrator/scan"
	"migrator/sweep"
)

// Cmd is "migrator verify CAMPAIGN [--json] [--path P ...]".
type Cmd struct {
	Campaign string   `arg:"" help:"Campaign directory." type:"path"`
	JSON     bool     `name:"json" help:"Print the sweep's figures as JSON on stdout instead of the summary."`
	Paths    []string `name:"path" help:"Sweep this absolute path instead of the scan paths (repeatable), e.g. the whole mount to find what else keeps the OSTs busy; files outside the scan paths count as outside, not unaccounted."`
	Workers  int      `default:"4" help:"lfs find processes at once."`
}

// Validate checks the paths.
func (c *Cmd) Validate() error {
	for _, p := range c.Paths {
		if !filepath.IsAbs(p) {
			return fmt.Errorf("--path %q: want an absolute path", p)
		}
	}
	return nil
}

// Run sweeps and reports. Exit 0 only when nothing on a source OST is unaccounted for.
func (c *Cmd) Run(env *cli.Env) error {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	d := campaign.Dir{Root: c.Campaign}
	spec, err := d.Load()
	if err != nil {
		return cli.BadInput(err)
	}
	for _, p := range c.Paths {
		if fi, err := os.Stat(p); err != nil || !fi.IsDir() {
			return cli.BadInputf("--path %s: not a directory", p)
		}
	}
	var st scan.Stats
	start := time.Now()
	rep := progress.Start(ctx, progress.Options{Out: env.Stderr, Terminal: progress.IsTerminal(env.Stderr), Prefix: "sweep"}, func() string {
		el := time.Since(start)
		return fmt.Sprintf("%d files on source OSTs found, %d dirs listed, subtrees %d/%d, %s",
			st.Files.Load(), st.DirsListed.Load(), st.UnitsDone.Load(), st.Units.Load(), el.Round(time.Second))
	})
	s, err := sweep.Campaign(ctx, d, spec, sweep.Options{Paths: c.Paths, Workers: c.Workers, Stats: &st})
	rep.Stop()
	if err != nil {
		return err
	}
	if c.JSON {
		enc := json.NewEncoder(env.Stdout)
		enc.SetIndent("", "  ")
		if err := enc.Encode(s); err != nil {
			return err
		}
	} else {
		report.WriteSweepHuman(env.Stdout, s)
		if s.Unaccounted > 0 {
			fmt.Fprintf(env.Stdout, "unaccounted files: %s (a manifest); drain them with: migrator plan %s --update\n",
				filepath.Join(d.Reports(), s.Manifest), d.Root)
		}
	}
	if s.Unaccounted > 0 {
		return cli.WithCode(cli.ExitIncomplete, fmt.Errorf("%d files on source OSTs are unaccounted for", s.Unaccounted))
	}
	return nil
}
