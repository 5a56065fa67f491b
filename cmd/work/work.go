// Package work is "migrator work": one array task, migrating the files of one shard.
package work

import (
	"time"

	"migrator/cmd/cli"
)

// Cmd is "migrator work CAMPAIGN [--shard K]".
type Cmd struct {
	Campaign string `arg:"" help:"Campaign directory." type:"path"`

	Shard       int           `default:"-1" env:"SLURM_ARRAY_TASK_ID" help:"Shard to migrate (default: this array task's index, $SLURM_ARRAY_TASK_ID)."`
	Workers     int           `help:"Concurrent lfs migrate processes (default: the campaign's --workers)."`
	Batch       int           `help:"Files per lfs migrate call (default: the campaign's; 1 disables batching)."`
	FileTimeout time.Duration `name:"file-timeout" help:"Give up on one lfs migrate after this long (default: the campaign's)."`
	Grace       time.Duration `default:"60s" help:"After SIGTERM, how long in-flight lfs migrate processes may finish before they are stopped."`
}

// Run migrates the shard.
func (c *Cmd) Run(env *cli.Env) error {
	return cli.ErrNotImplemented
}
