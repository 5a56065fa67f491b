package e2e

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"migrator/campaign"
	"migrator/lfssim"
)

// A campaign path holding sbatch filename-pattern symbols (%j, %%, %A) gets its task and
// collect logs in its own logs/, through the real sbatch: #SBATCH --output escapes them.
func TestPercentInCampaignPathOnSlurm(t *testing.T) {
	c := requireSlurm(t)
	e := newEnv(t)
	e.camp = filepath.Join(e.root, "c%j%%x%A")
	e.mktree(lfssim.TreeOptions{Files: 100, Seed: 51, SourceShare: 1})
	before := e.snapshot()
	sel := e.selected(before)
	r := e.mustRun(0, e.planArgs("--shard-files", "50", "--time", "10")...)
	job := strings.TrimSpace(r.stdout)
	waitCollect(t, c, e, job)
	e.checkMigrated(before, e.snapshot(), sel)
	subs, err := campaign.Dir{Root: e.camp}.Submissions()
	if err != nil || len(subs) != 2 {
		t.Fatalf("submissions %+v, %v", subs, err)
	}
	for _, name := range []string{job + "_0.out", job + "_1.out", "collect-" + subs[1].JobID + ".out"} {
		b, err := os.ReadFile(filepath.Join(e.camp, "logs", name))
		if err != nil || len(b) == 0 {
			logs, _ := filepath.Glob(filepath.Join(e.root, "*", "logs", "*"))
			t.Errorf("log %s: %v (logs found: %q)", name, err, logs)
		}
	}
	if st := e.status(); st.Files.Migrated != uint64(len(sel)) {
		t.Errorf("status %+v", st.Files)
	}
}
