package launch

import (
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"migrator/campaign"
)

func TestResources(t *testing.T) {
	type res struct {
		CPUs                   int
		Mem                    string
		CollectCPUs            int
		CollectMem             string
		JobLines, CollectLines []string
	}
	for _, tc := range []struct {
		name    string
		workers int
		slurm   campaign.Slurm
		want    res
	}{
		{"derived from 8 workers", 8, campaign.Slurm{},
			res{8, "768M", 4, "256M", []string{"--cpus-per-task=8", "--mem=768M"}, []string{"--cpus-per-task=4", "--mem=256M"}}},
		{"one worker", 1, campaign.Slurm{},
			res{1, "208M", 4, "256M", []string{"--cpus-per-task=1", "--mem=208M"}, []string{"--cpus-per-task=4", "--mem=256M"}}},
		{"overridden by the campaign", 8, campaign.Slurm{CPUsPerTask: 2, MemMiB: 4096},
			res{2, "4096M", 4, "256M", []string{"--cpus-per-task=2", "--mem=4096M"}, []string{"--cpus-per-task=4", "--mem=256M"}}},
		{"an --sbatch-arg wins", 8, campaign.Slurm{SbatchArgs: []string{"--mem-per-cpu=1G", "--cpus-per-task=3"}},
			res{0, "", 0, "", []string{"--mem-per-cpu=1G", "--cpus-per-task=3"}, []string{"--mem-per-cpu=1G", "--cpus-per-task=3"}}},
		{"--memory is not --mem", 2, campaign.Slurm{SbatchArgs: []string{"--memory-bind=local"}},
			res{2, "288M", 4, "256M", []string{"--cpus-per-task=2", "--mem=288M", "--memory-bind=local"}, []string{"--cpus-per-task=4", "--mem=256M", "--memory-bind=local"}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			spec := &campaign.Spec{ID: "c-x", Request: campaign.Request{Work: campaign.Work{Workers: tc.workers}, Slurm: tc.slurm}}
			spec.Slurm.Throttle = 4
			var got res
			got.CPUs, got.Mem = Resources(spec)
			got.CollectCPUs, got.CollectMem = CollectResources(spec)
			r := Round{Dir: campaign.Dir{Root: "/c/drain"}, Spec: spec, Shards: 3, Exe: "/bin/migrator", By: "plan"}
			job, err := JobScript(r)
			if err != nil {
				t.Fatal(err)
			}
			coll, err := CollectScript(r)
			if err != nil {
				t.Fatal(err)
			}
			got.JobLines, got.CollectLines = resourceLines(string(job)), resourceLines(string(coll))
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
		})
	}
}

// resourceLines are a script's #SBATCH options about CPUs and memory, in order.
func resourceLines(script string) []string {
	var out []string
	for _, l := range strings.Split(script, "\n") {
		if o, ok := strings.CutPrefix(l, "#SBATCH "); ok && (strings.HasPrefix(o, "--cpus") || strings.HasPrefix(o, "--mem")) {
			out = append(out, o)
		}
	}
	return out
}
