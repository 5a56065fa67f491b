package status

import (
	"encoding/json"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"migrator/campaign"
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
		localLogs bool // the local runner left logs/local-1-*.out
		shards    []report.ShardStatus
		running   []ShardView
		tasks     []TaskView
		arrays    []campaign.Submission
		want      []want
	}{
		{name: "slurm round, in all its states", scheduler: "slurm",
			shards: []report.ShardStatus{shard(0, 0, 0, "", ""), shard(1, 0, 1, "", "n1"), shard(1, 1, 0, "", ""),
				shard(1, 2, 1, "interrupted", "n1"), shard(1, 3, 2, "", "n2"), shard(1, 4, 1, "stopped: error streak", "n3"),
				shard(1, 5, 0, "", ""), {Round: 1, Shard: 6, Files: report.Counts{Planned: 3, Migrated: 3}}},
			running: []ShardView{{Round: 1, Shard: 0, Host: "n1", PID: 7}},
			tasks:   []TaskView{{Job: "12", Round: 1, Shard: 1, State: "PENDING", Reason: "JobHeldUser"}},
			arrays:  []campaign.Submission{{Round: 0, Kind: "array", JobID: "11"}, {Round: 1, Kind: "array", JobID: "12"}},
			want: []want{{0, 0, StateSuperseded, ""}, {1, 0, StateRunning, ""}, {1, 1, StateQueued, ""},
				{1, 2, StateInterrupted, "migrator work C --round 1 --shard 2, or migrator retry C"},
				{1, 3, StateDied, "migrator work C --round 1 --shard 3, or migrator retry C"},
				{1, 4, StateFailed, "migrator work C --round 1 --shard 4, or migrator retry C"},
				{1, 5, StateNotQueued, "migrator work C --round 1 --shard 5, or migrator retry C"}}},
		{name: "piped into sbatch by hand, not recorded yet", scheduler: "slurm",
			shards: []report.ShardStatus{shard(0, 0, 0, "", ""), shard(0, 1, 0, "", "")},
			tasks:  []TaskView{{Job: "13", Round: campaign.RoundUnrecorded, Shard: 0, State: "PENDING"}},
			arrays: []campaign.Submission{{Round: campaign.RoundUnrecorded, Kind: "array", JobID: "13"}},
			want:   []want{{0, 0, StateQueued, ""}, {0, 1, StateNotQueued, "migrator work C --round 0 --shard 1, or migrator retry C"}}},
		{name: "planned, never submitted", scheduler: "slurm",
			shards: []report.ShardStatus{shard(0, 0, 0, "", "")},
			want:   []want{{0, 0, StateNeverSubmitted, "rerun the same migrator plan command without --no-submit"}}},
		{name: "retry round never submitted", scheduler: "slurm",
			shards: []report.ShardStatus{shard(0, 0, 1, "finished", "n1"), shard(1, 0, 0, "", "")},
			arrays: []campaign.Submission{{Round: 0, Kind: "array", JobID: "11"}},
			want:   []want{{0, 0, StateSuperseded, ""}, {1, 0, StateNeverSubmitted, "migrator retry C (it submits a round that never ran)"}}},
		{name: "local runner at work", scheduler: "local",
			shards:  []report.ShardStatus{shard(0, 0, 0, "", ""), shard(0, 1, 1, "", "h"), shard(0, 2, 1, "failed", "h")},
			running: []ShardView{{Round: 0, Shard: 1, Host: "h", PID: 9}},
			want: []want{{0, 0, StateWaitingLocal, ""}, {0, 1, StateRunning, ""},
				{0, 2, StateFailed, "rerun the same migrator plan command, or migrator retry C --scheduler local"}}},
		{name: "local runner stopped", scheduler: "local",
			shards: []report.ShardStatus{shard(0, 0, 1, "interrupted", "h"), shard(0, 1, 0, "", "")},
			want: []want{{0, 0, StateInterrupted, "rerun the same migrator plan command, or migrator retry C --scheduler local"},
				{0, 1, StateNeverRan, "rerun the same migrator plan command, or migrator retry C --scheduler local"}}},
		{name: "local retry round of a slurm campaign", scheduler: "slurm", localLogs: true,
			shards: []report.ShardStatus{shard(0, 0, 1, "finished", "n"), shard(1, 0, 0, "", "")},
			arrays: []campaign.Submission{{Round: 0, Kind: "array", JobID: "11"}},
			want:   []want{{0, 0, StateSuperseded, ""}, {1, 0, StateNeverRan, "migrator retry C --scheduler local"}}},
		{name: "dry run: would-migrate files are done", scheduler: "local", dryRun: true,
			shards: []report.ShardStatus{{Round: 0, Shard: 0, Runs: 1, LastRun: "finished", Files: report.Counts{Planned: 5, Skipped: 1, Pending: 4, WouldMigrate: 4}},
				{Round: 0, Shard: 1, Runs: 1, Host: "h", LastRun: "interrupted", Files: report.Counts{Planned: 5, Pending: 5, WouldMigrate: 2}}},
			want: []want{{0, 1, StateInterrupted, "migrator work C --shard 1"}}},
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
			st := &report.Status{Shards: tt.shards}
			seen := map[int]bool{}
			for _, s := range tt.shards {
				if !seen[s.Round] {
					st.Rounds = append(st.Rounds, report.RoundStatus{Round: s.Round})
					seen[s.Round] = true
				}
			}
			v := &View{Status: st, Running: tt.running, Tasks: tt.tasks}
			var got []want
			for _, u := range unfinished(d, spec, v, tt.arrays) {
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

// Durations in status --json are numbers of seconds, never Go duration strings.
func TestJSONDurationsAreSeconds(t *testing.T) {
	v := View{Status: &report.Status{ETASeconds: 90}, Jobs: []JobView{}, Unfinished: []UnfinishedView{},
		Running: []ShardView{{Round: 1, Shard: 2, Host: "n1", PID: 3, HeartbeatAgeSeconds: 4, InFlight: 5}},
		Tasks:   []TaskView{{Job: "7", Shard: 2, State: "RUNNING", Node: "n1", ElapsedSeconds: 62}}}
	data, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	var m struct {
		Running []map[string]any `json:"running"`
		Tasks   []map[string]any `json:"tasks"`
		ETA     any              `json:"eta_seconds"`
	}
	if err := json.Unmarshal(data, &m); err != nil {
		t.Fatal(err)
	}
	for what, got := range map[string]any{"heartbeat_age_seconds": m.Running[0]["heartbeat_age_seconds"],
		"elapsed_seconds": m.Tasks[0]["elapsed_seconds"], "eta_seconds": m.ETA} {
		if _, ok := got.(float64); !ok {
			t.Errorf("%s is %T (%v), want a number", what, got, got)
		}
	}
	if regexp.MustCompile(`"[0-9.]+(ns|µs|ms|s|m|h)"|"[0-9]+:[0-9]{2}"`).Match(data) {
		t.Errorf("a duration written as a string:\n%s", data)
	}
}
