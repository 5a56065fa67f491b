package planner

import (
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"migrator/campaign"
)

func TestChanges(t *testing.T) {
	streak := 7
	base := campaign.Request{
		Selection: campaign.Selection{OSTs: "2,3", ScanPaths: []campaign.Path{"/fs/a"}, Excludes: []campaign.Path{}},
		Target:    campaign.Target{Mode: "nonblock"},
		Work:      campaign.Work{Workers: 8, MaxAttempts: 5, ShardFiles: 100, ShardBytes: 1 << 40},
		LFS:       "/usr/bin/lfs", DryRun: true,
		Slurm: campaign.Slurm{Scheduler: "slurm", Time: "24:00:00", Throttle: 16},
	}
	tests := []struct {
		name   string
		change func(r *campaign.Request)
		want   []string
	}{
		{"same", func(r *campaign.Request) {}, nil},
		{"mode", func(r *campaign.Request) { r.DryRun = false }, []string{"--dry-run true → false"}},
		{"several, in campaign.json order", func(r *campaign.Request) {
			r.Selection.Excludes = []campaign.Path{"/fs/a/frozen", "/fs/a/x y"}
			r.Target.Pool = "fast"
			r.Work.FileTimeout = campaign.Duration(90 * time.Second)
			r.Slurm.Scheduler = "local"
			r.Slurm.SbatchArgs = []string{"--mem=2G"}
		}, []string{`--exclude (none) → /fs/a/frozen,"/fs/a/x y"`, `--target-pool "" → fast`, "--file-timeout 0s → 1m30s",
			"--scheduler slurm → local", "--sbatch-arg (none) → --mem=2G"}},
		{"streak: unset is the default", func(r *campaign.Request) { r.Work.MaxErrorStreak = &streak }, []string{"--max-error-streak 50 → 7"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := base
			r.Selection.Excludes = append([]campaign.Path{}, base.Selection.Excludes...)
			tt.change(&r)
			if d := cmp.Diff(tt.want, Changes(base, r)); d != "" {
				t.Errorf("Changes (-want +got):\n%s", d)
			}
		})
	}
}
