// Package status is "migrator status": the live view of a campaign, from its files and
// from squeue.
package status

import (
	"time"

	"migrator/cmd/cli"
)

// Cmd is "migrator status CAMPAIGN [--json] [--watch]".
type Cmd struct {
	Campaign string        `arg:"" help:"Campaign directory." type:"path"`
	JSON     bool          `name:"json" help:"Print the status as JSON."`
	Watch    bool          `help:"Refresh the view until interrupted."`
	Interval time.Duration `default:"10s" help:"Refresh interval for --watch."`
}

// Run prints the status.
func (c *Cmd) Run(env *cli.Env) error {
	return cli.ErrNotImplemented
}
