// Package collect is "migrator collect": merge every shard's checkpoint into the
// campaign's reports and retry manifests.
package collect

import "migrator/cmd/cli"

// Cmd is "migrator collect CAMPAIGN [--json]".
type Cmd struct {
	Campaign string `arg:"" help:"Campaign directory." type:"path"`
	JSON     bool   `name:"json" help:"Print the status as JSON on stdout instead of the human summary."`
}

// Run collects the campaign.
func (c *Cmd) Run(env *cli.Env) error {
	return cli.ErrNotImplemented
}
