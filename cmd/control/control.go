// Package control holds the thin wrappers over Slurm that steer a running campaign:
// pause, resume, cancel and throttle. The tool runs no daemon of its own.
package control

import (
	"migrator/cmd/cli"
)

// PauseCmd is "migrator pause CAMPAIGN": hold the pending array tasks.
type PauseCmd struct {
	Campaign string `arg:"" help:"Campaign directory." type:"path"`
	Now      bool   `help:"Also stop the running tasks: they get SIGTERM, finish their current files, checkpoint and are requeued held."`
}

// Run pauses the campaign.
func (c *PauseCmd) Run(env *cli.Env) error { return cli.ErrNotImplemented }

// ResumeCmd is "migrator resume CAMPAIGN": release the held tasks.
type ResumeCmd struct {
	Campaign string `arg:"" help:"Campaign directory." type:"path"`
}

// Run resumes the campaign.
func (c *ResumeCmd) Run(env *cli.Env) error { return cli.ErrNotImplemented }

// CancelCmd is "migrator cancel CAMPAIGN": scancel the array and its collect job.
type CancelCmd struct {
	Campaign string `arg:"" help:"Campaign directory." type:"path"`
}

// Run cancels the campaign.
func (c *CancelCmd) Run(env *cli.Env) error { return cli.ErrNotImplemented }

// ThrottleCmd is "migrator throttle CAMPAIGN N": change how many tasks run at once.
type ThrottleCmd struct {
	Campaign string `arg:"" help:"Campaign directory." type:"path"`
	N        int    `arg:"" help:"Most array tasks running at once (scontrol update ArrayTaskThrottle=N); 0 removes the limit."`
}

// Run changes the throttle.
func (c *ThrottleCmd) Run(env *cli.Env) error { return cli.ErrNotImplemented }
