package launch

import (
	"context"
	"errors"
	"fmt"
	"io"
	"path/filepath"
	"strings"

	"migrator/campaign"
	"migrator/checkpoint"
	"migrator/slurm"
)

// CheckRoundOver refuses to start a new round (migrator retry, plan --go) while a task of
// round may still run, or an array submitted by hand may still start: its files would be
// in two rounds at once. local: a Slurm that does not answer is only a warning.
func CheckRoundOver(ctx context.Context, warn io.Writer, d campaign.Dir, spec *campaign.Spec, round int, local bool) error {
	ckpt := d.Round(round).Checkpoints
	locks, _ := filepath.Glob(filepath.Join(ckpt, "shard-*.lock"))
	for _, l := range locks {
		if info, age, err := checkpoint.ReadLock(l); err == nil && !checkpoint.HolderGone(info, age) {
			// A local campaign has no Slurm job for migrator cancel, which refuses it.
			stop := "migrator cancel first"
			if spec.Slurm.Scheduler == "local" {
				stop = fmt.Sprintf("stop the local run first (Ctrl-C where it runs, or kill -TERM its migrator plan or retry process; "+
					"if that is gone, kill -TERM %d on %s, the task itself, which checkpoints)", info.PID, info.Host)
			}
			return fmt.Errorf("round %d is still running (%s is held by pid %d on %s); wait for it, or %s",
				round, filepath.Base(l), info.PID, info.Host, stop)
		}
	}
	subs, err := d.Submissions()
	if err != nil {
		return err
	}
	extra, err := Unrecorded(ctx, slurm.New(), d, spec, subs)
	switch {
	case err != nil && !local:
		return fmt.Errorf("asking Slurm whether an array of the campaign submitted by hand is queued: %w", err)
	case errors.Is(err, slurm.ErrNoSlurm):
		// Run here, by a local runner, where Slurm is not even installed: nobody queued
		// an array from here, and a local campaign must not speak of Slurm.
	case err != nil:
		fmt.Fprintf(warn, "warning: could not ask Slurm whether an array of this campaign submitted by hand is queued (%v); make sure none is\n", strings.ReplaceAll(err.Error(), "\n", " "))
	}
	for _, s := range extra {
		if s.Kind == "array" {
			return fmt.Errorf("job %s, an array of this campaign submitted by hand, is queued and has not started; wait for it, or migrator cancel first", s.JobID)
		}
	}
	var ids []string
	for _, s := range subs {
		if s.Kind == "array" && s.Round == round {
			ids = append(ids, s.JobID)
		}
	}
	if len(ids) == 0 {
		return nil
	}
	tasks, err := slurm.New().Tasks(ctx, ids...)
	if err != nil {
		return fmt.Errorf("asking Slurm whether round %d is over: %w", round, err)
	}
	if len(tasks) > 0 {
		return fmt.Errorf("round %d still has %d array tasks queued or running (job %s); wait for them, or migrator cancel first",
			round, len(tasks), tasks[0].ArrayJobID)
	}
	return nil
}

// SlurmPreflight asks Slurm, before a plan scans anything, whether it can take the
// campaign's arrays: the controller answers (scontrol show config), and how many tasks an
// array may have (MaxArraySize; task indices stay below it). submit says whether this run
// submits (else a Slurm that does not answer is only a warning). It returns the most
// shards an array can have (0: unknown), and a warning.
func SlurmPreflight(ctx context.Context, sc *slurm.Client, submit bool) (maxShards int, warning string, err error) {
	n, err := sc.MaxArraySize(ctx)
	switch {
	case err != nil && submit:
		return 0, "", fmt.Errorf("Slurm does not answer (%s): nothing was scanned; run the shards here with --scheduler local, or plan with --no-submit and submit later",
			strings.ReplaceAll(err.Error(), "\n", " "))
	case err != nil:
		return 0, fmt.Sprintf("cannot ask Slurm for MaxArraySize (%s): an array of more shards than it allows will be refused by sbatch", strings.ReplaceAll(err.Error(), "\n", " ")), nil
	case n == 0 && submit:
		return 0, "", fmt.Errorf("Slurm has job arrays disabled (MaxArraySize = 0 in scontrol show config): run the shards here with --scheduler local")
	case n == 0:
		return 0, "Slurm has job arrays disabled (MaxArraySize = 0 in scontrol show config): sbatch will refuse the array; run the shards here with --scheduler local", nil
	}
	return n, "", nil
}

// NeverRan reports whether no task of the round ever started (it has no checkpoint log):
// a round prepared by retry or plan --update and killed before it ran is launched again,
// not followed by another.
func NeverRan(d campaign.Dir, round int) bool {
	logs, _ := filepath.Glob(filepath.Join(d.Round(round).Checkpoints, "shard-*.log"))
	return len(logs) == 0
}
