// Package report is "migrator report": the campaign as one self-contained HTML page for
// people. It only reads the campaign, so anyone who may read it (plan --group) can run it.
package report

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"migrator/campaign"
	"migrator/checkpoint"
	"migrator/cmd/cli"
	"migrator/durable"
	"migrator/htmlreport"
	"migrator/manifest"
)

// Cmd is "migrator report CAMPAIGN --html FILE".
type Cmd struct {
	Campaign string `arg:"" help:"Campaign directory." type:"path"`
	HTML     string `name:"html" required:"" placeholder:"FILE" help:"Write the report to FILE, one HTML page that loads nothing from anywhere (- for stdout)."`
	Top      int    `default:"10" help:"Rows of the slowest and largest files and of the commonest failure messages."`
	Workers  int    `default:"4" help:"Shards read at once."`
}

// Run reads the campaign and writes the page.
func (c *Cmd) Run(env *cli.Env) error {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	d := campaign.Dir{Root: c.Campaign}
	spec, err := d.LoadToRead() // a group member may read it (plan --group)
	if err != nil {
		return cli.BadInput(err)
	}
	r, err := htmlreport.Build(ctx, d, spec, htmlreport.Options{Workers: c.Workers, Top: c.Top})
	if err != nil {
		if errors.Is(err, manifest.ErrCorrupt) || errors.Is(err, checkpoint.ErrCorrupt) {
			return cli.BadInput(err)
		}
		return err
	}
	var page bytes.Buffer
	if err := htmlreport.Render(&page, r); err != nil {
		return err
	}
	if c.HTML == "-" {
		_, err = env.Stdout.Write(page.Bytes())
		return err
	}
	if err := durable.WriteFile(c.HTML, page.Bytes(), 0o644); err != nil {
		return err
	}
	fmt.Fprintf(env.Stderr, "report: %s (%d bytes)\n", c.HTML, page.Len())
	return nil
}
