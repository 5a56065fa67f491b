package e2e

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"migrator/lfssim"
)

// plan derives the job scripts' CPUs and memory from --workers, takes --cpus-per-task and
// --mem instead, lets an --sbatch-arg win, and refuses a negative count.
func TestJobResources(t *testing.T) {
	e := newEnv(t)
	e.mktree(lfssim.TreeOptions{Files: 20, SourceShare: 1})
	for i, tc := range []struct {
		args         []string
		job, collect []string
	}{
		{[]string{"--workers", "4"}, []string{"--cpus-per-task=4", "--mem=448M"}, []string{"--cpus-per-task=4", "--mem=256M"}},
		{[]string{"--workers", "4", "--cpus-per-task", "2", "--mem", "1.5G"}, []string{"--cpus-per-task=2", "--mem=1536M"}, []string{"--cpus-per-task=4", "--mem=256M"}},
		{[]string{"--workers", "4", "--sbatch-arg=--mem=0"}, []string{"--cpus-per-task=4", "--mem=0"}, []string{"--cpus-per-task=4", "--mem=0"}},
	} {
		camp := e.camp + string(rune('a'+i))
		args := append([]string{"plan", camp, "--osts", e.sources.String(), "--scan-path", e.tree, "--lfs", e.sim, "--no-submit"}, tc.args...)
		e.mustRun(0, args...)
		for name, want := range map[string][]string{"job.sbatch": tc.job, "collect.sbatch": tc.collect} {
			data, err := os.ReadFile(filepath.Join(camp, name))
			if err != nil {
				t.Fatal(err)
			}
			var got []string
			for _, l := range strings.Split(string(data), "\n") {
				if o, ok := strings.CutPrefix(l, "#SBATCH "); ok && (strings.HasPrefix(o, "--cpus") || strings.HasPrefix(o, "--mem")) {
					got = append(got, o)
				}
			}
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("plan %v: %s (-want +got):\n%s", tc.args, name, diff)
			}
		}
	}
	r := e.run("plan", e.camp+"z", "--osts", e.sources.String(), "--scan-path", e.tree, "--lfs", e.sim, "--no-submit", "--cpus-per-task", "-1")
	if r.code != 2 || !strings.Contains(r.stderr, "--cpus-per-task") {
		t.Errorf("--cpus-per-task -1: exit %d, %s", r.code, r.stderr)
	}
	if _, err := os.Stat(e.camp + "z"); err == nil {
		t.Error("a refused plan created its campaign directory")
	}
}
