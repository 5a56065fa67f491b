// Package slurmtest gives integration tests the project's single-node Slurm (started by
// ci/slurm.sh up). Without it they skip with the reason, unless MIGRATOR_REQUIRE_SLURM=1
// (set by make test when it brought Slurm up), in which case they fail.
package slurmtest

import (
	"context"
	"os"
	"os/exec"
	"sync"
	"testing"
	"time"

	"migrator/slurm"
)

var (
	once   sync.Once
	reason string
)

// Require returns a client for the test Slurm, or skips (or fails) the test.
func Require(t testing.TB) *slurm.Client {
	t.Helper()
	once.Do(func() {
		reason = Unavailable(os.Getenv, exec.LookPath, func() error {
			ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
			defer cancel()
			return slurm.New().Ping(ctx)
		})
	})
	if reason != "" {
		if os.Getenv("MIGRATOR_REQUIRE_SLURM") == "1" {
			t.Fatal(reason)
		}
		t.Skip(reason)
	}
	return slurm.New()
}

// Commands are the Slurm clients the tests run.
var Commands = []string{"sbatch", "squeue", "scontrol", "scancel"}

// Unavailable says why the tests cannot use Slurm ("" if they can): its commands are not
// installed, SLURM_CONF is not set, or the controller does not answer ping. The checks
// that cost nothing come first.
func Unavailable(getenv func(string) string, lookPath func(string) (string, error), ping func() error) string {
	for _, name := range Commands {
		if _, err := lookPath(name); err != nil {
			return "Slurm's commands are not installed (" + name + ": " + err.Error() + "): install them with ci/slurm.sh install"
		}
	}
	if getenv("SLURM_CONF") == "" {
		return "SLURM_CONF is not set: run the tests with make test, which starts Slurm with ci/slurm.sh up"
	}
	if err := ping(); err != nil {
		return "Slurm is not reachable (" + err.Error() + "): start it with ci/slurm.sh up"
	}
	return ""
}

// Wait polls squeue until none of the jobs is queued or running, or the timeout passes.
func Wait(t testing.TB, c *slurm.Client, timeout time.Duration, jobIDs ...string) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		tasks, err := c.Tasks(context.Background(), jobIDs...)
		if err != nil {
			t.Fatal(err)
		}
		if len(tasks) == 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("jobs %v still in the queue after %v: %+v", jobIDs, timeout, tasks)
		}
		time.Sleep(200 * time.Millisecond)
	}
}
