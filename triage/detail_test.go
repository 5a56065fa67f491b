package triage

import (
	"os"
	"path/filepath"
	"testing"

	"migrator/campaign"
	"migrator/report"
)

// A local campaign planned with --no-submit never ran at all: status said "the local run
// stopped before it" of a run that never was.
func TestNeverRanSaysWhetherARunWas(t *testing.T) {
	for _, ran := range []bool{false, true} {
		d := campaign.Dir{Root: t.TempDir()}
		if ran {
			os.MkdirAll(d.Logs(), 0o700)
			os.WriteFile(filepath.Join(d.Logs(), "local-0-1.out"), nil, 0o600)
		}
		spec := &campaign.Spec{Request: campaign.Request{Slurm: campaign.Slurm{Scheduler: "local"}}}
		st := &report.Status{Rounds: []report.RoundStatus{{Round: 0}},
			Shards: []report.ShardStatus{{Round: 0, Shard: 0, Files: report.Counts{Planned: 3, Pending: 3}}}}
		u := Unfinished(st, Facts{Dir: d, Spec: spec, Running: map[Key]string{}, Queued: map[Key]string{}})
		want := map[bool]string{false: "never ran: no local run of its round has started", true: "never ran: the local run stopped before it"}[ran]
		if len(u) != 1 || u[0].State != NeverRan || u[0].Detail != want {
			t.Errorf("ran %v: %+v, want detail %q", ran, u, want)
		}
	}
}
