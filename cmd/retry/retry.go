// Package retry is "migrator retry": a new round of the campaign over the files that
// failed with a retryable error.
package retry

import "migrator/cmd/cli"

// Cmd is "migrator retry CAMPAIGN [--scheduler slurm|local]".
type Cmd struct {
	Campaign  string `arg:"" help:"Campaign directory." type:"path"`
	Scheduler string `enum:"slurm,local" default:"slurm" help:"slurm: submit a new job array over the retry manifests; local: run it here, in the foreground. One of: ${enum}."`
	NoSubmit  bool   `name:"no-submit" help:"Write the round's manifests and job script, print the sbatch command, submit nothing."`
}

// Run starts the retry round.
func (c *Cmd) Run(env *cli.Env) error { return cli.ErrNotImplemented }
