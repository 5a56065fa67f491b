package triage

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"migrator/campaign"
	"migrator/distscan"
	"migrator/report"
)

// Every state an unfinished shard can be in, told apart, each with advice that is safe to
// follow (none for a superseded shard, or one that runs or waits its turn).
func TestUnfinishedStates(t *testing.T) {
	shard := func(round, k int, runs int, lastRun, host string) report.ShardStatus {
		return report.ShardStatus{Round: round, Shard: k, Runs: runs, LastRun: lastRun, Host: host,
			Files: report.Counts{Planned: 10, Migrated: 4, Pending: 6}}
	}
	type want struct {
		Round, Shard int
		State, Next  string
	}
	tests := []struct {
		name      string
		scheduler string
		dryRun    bool
		localLogs bool   // the local runner left logs/local-1-*.out
		scanThen  string // a distributed scan's plan.json with this Then
		shards    []report.ShardStatus
		running   []Key
		queued    []Key
		arrays    []campaign.Submission
		want      []want
	}{
		{name: "slurm round, in all its states", scheduler: "slurm",
			shards: []report.ShardStatus{shard(0, 0, 0, "", ""), shard(1, 0, 1, "", "n1"), shard(1, 1, 0, "", ""),
				shard(1, 2, 1, "interrupted", "n1"), shard(1, 3, 2, "", "n2"), shard(1, 4, 1, "stopped: error streak", "n3"),
				shard(1, 5, 0, "", ""), {Round: 1, Shard: 6, Files: report.Counts{Planned: 3, Migrated: 3}}},
			running: []Key{{1, 0}},
			queued:  []Key{{1, 1}},
			arrays:  []campaign.Submission{{Round: 0, Kind: "array", JobID: "11"}, {Round: 1, Kind: "array", JobID: "12"}},
			want: []want{{0, 0, Superseded, ""}, {1, 0, Running, ""}, {1, 1, Queued, ""},
				{1, 2, Interrupted, "migrator work C --round 1 --shard 2, or migrator retry C"},
				{1, 3, Died, "migrator work C --round 1 --shard 3, or migrator retry C"},
				{1, 4, Failed, "migrator work C --round 1 --shard 4, or migrator retry C"},
				{1, 5, NotQueued, "migrator work C --round 1 --shard 5, or migrator retry C"}}},
		{name: "piped into sbatch by hand, not recorded yet", scheduler: "slurm",
			shards: []report.ShardStatus{shard(0, 0, 0, "", ""), shard(0, 1, 0, "", "")},
			queued: []Key{{campaign.RoundUnrecorded, 0}},
			arrays: []campaign.Submission{{Round: campaign.RoundUnrecorded, Kind: "array", JobID: "13"}},
			want:   []want{{0, 0, Queued, ""}, {0, 1, NotQueued, "migrator work C --round 0 --shard 1, or migrator retry C"}}},
		{name: "planned, never submitted", scheduler: "slurm",
			shards: []report.ShardStatus{shard(0, 0, 0, "", "")},
			want:   []want{{0, 0, NeverSubmitted, "rerun the same migrator plan command without --no-submit"}}},
		// A distributed scan's seal cancelled after it wrote round 0, before its sbatch:
		// the way on is the one the seal's log and cancel give.
		{name: "sealed, the seal stopped before submitting", scheduler: "slurm", scanThen: distscan.ThenSubmit,
			shards: []report.ShardStatus{shard(0, 0, 0, "", "")},
			want:   []want{{0, 0, NeverSubmitted, "migrator retry C"}}},
		{name: "sealed, planned with --no-submit", scheduler: "slurm", scanThen: distscan.ThenNoSubmit,
			shards: []report.ShardStatus{shard(0, 0, 0, "", "")},
			want:   []want{{0, 0, NeverSubmitted, "rerun the same migrator plan command without --no-submit"}}},
		{name: "retry round never submitted", scheduler: "slurm",
			shards: []report.ShardStatus{shard(0, 0, 1, "finished", "n1"), shard(1, 0, 0, "", "")},
			arrays: []campaign.Submission{{Round: 0, Kind: "array", JobID: "11"}},
			want:   []want{{0, 0, Superseded, ""}, {1, 0, NeverSubmitted, "migrator retry C (it submits a round that never ran)"}}},
		{name: "local runner at work", scheduler: "local",
			shards:  []report.ShardStatus{shard(0, 0, 0, "", ""), shard(0, 1, 1, "", "h"), shard(0, 2, 1, "failed", "h")},
			running: []Key{{0, 1}},
			want: []want{{0, 0, WaitingLocal, ""}, {0, 1, Running, ""},
				{0, 2, Failed, "rerun the same migrator plan command, or migrator retry C --scheduler local"}}},
		{name: "local runner stopped", scheduler: "local",
			shards: []report.ShardStatus{shard(0, 0, 1, "interrupted", "h"), shard(0, 1, 0, "", "")},
			want: []want{{0, 0, Interrupted, "rerun the same migrator plan command, or migrator retry C --scheduler local"},
				{0, 1, NeverRan, "rerun the same migrator plan command, or migrator retry C --scheduler local"}}},
		{name: "local retry round of a slurm campaign", scheduler: "slurm", localLogs: true,
			shards: []report.ShardStatus{shard(0, 0, 1, "finished", "n"), shard(1, 0, 0, "", "")},
			arrays: []campaign.Submission{{Round: 0, Kind: "array", JobID: "11"}},
			want:   []want{{0, 0, Superseded, ""}, {1, 0, NeverRan, "migrator retry C --scheduler local"}}},
		{name: "dry run: would-migrate files are done", scheduler: "local", dryRun: true,
			shards: []report.ShardStatus{{Round: 0, Shard: 0, Runs: 1, LastRun: "finished", Files: report.Counts{Planned: 5, Skipped: 1, Pending: 4, WouldMigrate: 4}},
				{Round: 0, Shard: 1, Runs: 1, Host: "h", LastRun: "interrupted", Files: report.Counts{Planned: 5, Pending: 5, WouldMigrate: 2}}},
			want: []want{{0, 1, Interrupted, "migrator work C --shard 1"}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			root := t.TempDir()
			d := campaign.Dir{Root: root}
			if tt.localLogs {
				os.MkdirAll(d.Logs(), 0o700)
				os.WriteFile(filepath.Join(d.Logs(), "local-1-0.out"), nil, 0o600)
			}
			spec := &campaign.Spec{Request: campaign.Request{DryRun: tt.dryRun, Slurm: campaign.Slurm{Scheduler: tt.scheduler}}}
			if tt.scanThen != "" {
				tree := t.TempDir()
				os.Mkdir(filepath.Join(tree, "a"), 0o755)
				spec := &campaign.Spec{ID: "c-test", Request: campaign.Request{Selection: campaign.Selection{ScanPaths: []campaign.Path{campaign.Path(tree)}}}}
				if _, err := distscan.Prepare(d, spec, distscan.Plan{Tasks: 2, Workers: 1, Then: tt.scanThen}); err != nil {
					t.Fatal(err)
				}
			}
			st := &report.Status{Shards: tt.shards}
			seen := map[int]bool{}
			for _, s := range tt.shards {
				if !seen[s.Round] {
					st.Rounds = append(st.Rounds, report.RoundStatus{Round: s.Round})
					seen[s.Round] = true
				}
			}
			f := Facts{Dir: d, Spec: spec, Arrays: tt.arrays, Running: map[Key]string{}, Queued: map[Key]string{}}
			for _, k := range tt.running {
				f.Running[k] = "running somewhere"
			}
			for _, k := range tt.queued {
				f.Queued[k] = "pending (JobHeldUser)"
			}
			var got []want
			for _, u := range Unfinished(st, f) {
				next := u.Next
				if next != "" {
					next = strings.ReplaceAll(next, root, "C")
				}
				got = append(got, want{u.Round, u.Shard, u.State, next})
				if u.Detail == "" {
					t.Errorf("round %d shard %d (%s): no detail", u.Round, u.Shard, u.State)
				}
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
		})
	}
}
