package e2e

import (
	"testing"
	"time"

	"migrator/campaign"
	"migrator/internal/slurmtest"
	"migrator/slurm"
)

func requireSlurm(t *testing.T) *slurm.Client { return slurmtest.Require(t) }

// waitCollect waits until the campaign's array job and its collect job have left the queue.
func waitCollect(t *testing.T, c *slurm.Client, e *env, job string) {
	t.Helper()
	ids := []string{job}
	subs, _ := campaign.Dir{Root: e.camp}.Submissions()
	for _, s := range subs {
		if s.Kind == "collect" && s.Depend == "afterany:"+job {
			ids = append(ids, s.JobID)
		}
	}
	slurmtest.Wait(t, c, 3*time.Minute, ids...)
}
