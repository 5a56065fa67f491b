package e2e

import (
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"migrator/campaign"
	"migrator/lfssim"
	"migrator/manifest"
)

// A mode never changes silently: a re-plan that differs in anything is refused, naming
// every difference; a dry run becomes real only with plan --go, which reuses its manifests
// and never counts its would-migrate records as done.
func TestPlanModesAreExplicit(t *testing.T) {
	e := newEnv(t)
	e.mktree(lfssim.TreeOptions{Files: 300, Seed: 31})
	before := e.snapshot()
	sel := e.selected(before)
	dry := e.planArgs("--dry-run", "--scheduler", "local", "--shard-files", "100")
	e.mustRun(0, dry...)
	e.checkMigrated(before, e.snapshot(), nil)
	if st := e.status(); !st.DryRun || st.Files.WouldMigrate != uint64(len(sel)) {
		t.Fatalf("dry run: %+v", st.Files)
	}

	// The same command without --dry-run: refused, and it says how to go real.
	r := e.mustRun(2, e.planArgs("--scheduler", "local", "--shard-files", "100")...)
	for _, want := range []string{"--dry-run true → false", "migrator plan " + e.camp + " --go"} {
		if !strings.Contains(r.stderr, want) {
			t.Errorf("re-plan without --dry-run: stderr lacks %q:\n%s", want, r.stderr)
		}
	}
	// Every differing setting is named, old → new.
	r = e.mustRun(2, e.planArgs("--dry-run", "--scheduler", "local", "--shard-files", "100", "--time", "12:00:00", "--workers", "3")...)
	for _, want := range []string{"--time 24:00:00 → 12:00:00", "--workers 8 → 3"} {
		if !strings.Contains(r.stderr, want) {
			t.Errorf("re-plan with other settings: stderr lacks %q:\n%s", want, r.stderr)
		}
	}
	if strings.Count(r.stderr, "\n") != 1 {
		t.Errorf("refusal is not one line:\n%s", r.stderr)
	}
	e.checkMigrated(before, e.snapshot(), nil)

	// --go with the plan's own arguments but another setting: refused too.
	e.mustRun(2, append(e.planArgs("--scheduler", "local", "--shard-files", "99"), "--go")...)
	// --go: a new round over what the dry run would migrate, run here (scheduler local).
	r = e.mustRun(0, "plan", e.camp, "--go")
	if !strings.Contains(r.stderr, "is real now: round 1") {
		t.Errorf("plan --go said:\n%s", r.stderr)
	}
	e.checkMigrated(before, e.snapshot(), sel)
	spec, err := campaign.Dir{Root: e.camp}.Load()
	if err != nil || spec.DryRun {
		t.Fatalf("campaign.json after --go: dry_run %v, %v", spec != nil && spec.DryRun, err)
	}
	st := e.status()
	if st.DryRun || st.Files.Migrated != uint64(len(sel)) || st.Files.WouldMigrate != 0 || st.Files.Pending != 0 || !st.Files.Balanced() {
		t.Errorf("after --go: dry_run %v, files %+v, want %d migrated", st.DryRun, st.Files, len(sel))
	}
	if len(e.manifests(1)) != len(sel) {
		t.Errorf("round 1 holds %d entries, want the dry run's %d", len(e.manifests(1)), len(sel))
	}
	// Once real, --go has nothing to do, and the dry run has nothing left to retry.
	e.mustRun(2, "plan", e.camp, "--go")
	if r := e.mustRun(0, "retry", e.camp, "--scheduler", "local"); !strings.Contains(r.stderr, "nothing to retry") {
		t.Errorf("retry after --go: %s", r.stderr)
	}
	if _, err := os.Stat(filepath.Join(e.camp, "rounds", "002")); err == nil {
		t.Errorf("retry made a round with nothing in it")
	}
}

// Failures that are not retryable can be retried by class once the admin fixed the cause,
// including those an earlier round left behind; "nothing to retry" says what remains.
func TestRetryFailedByClass(t *testing.T) {
	e := newEnv(t, "LFS_SIM_FAIL_EVERY=4", "LFS_SIM_FAIL_ERRNO=EACCES")
	e.mktree(lfssim.TreeOptions{Files: 200, Seed: 32})
	before := e.snapshot()
	sel := e.selected(before)
	e.mustRun(0, e.planArgs("--no-submit", "--shard-files", "60", "--scheduler", "local")...)
	e.mustRun(3, "work", e.camp, "--shard", "0") // the other shards stay pending
	// Default: the pending shards, not shard 0's permission failures.
	r := e.mustRun(3, "retry", e.camp, "--scheduler", "local")
	if !strings.Contains(r.stderr, "round 1:") {
		t.Fatalf("retry: %s", r.stderr)
	}
	failed := e.status().FailedByClass["permission"]
	if failed == 0 {
		t.Fatalf("no permission failures to work with: %+v", e.status().FailedByClass)
	}
	r = e.mustRun(0, "retry", e.camp, "--scheduler", "local")
	want := "nothing to retry: nothing is pending and no failure is selected by --failed retryable; still failed: " +
		itoa(failed) + " permission (--failed permission)"
	if !strings.Contains(r.stderr, want) {
		t.Errorf("nothing to retry: stderr lacks %q:\n%s", want, r.stderr)
	}
	e.mustRun(2, "retry", e.camp, "--failed", "permision")
	// The admin fixes the permissions.
	e.simEnv = append(e.simEnv, "LFS_SIM_FAIL_EVERY=0")
	r = e.mustRun(0, "retry", e.camp, "--scheduler", "local", "--failed", "permission")
	if !strings.Contains(r.stderr, "round 2: "+itoa(failed)+" files") {
		t.Errorf("retry --failed permission took other than the %d failures of rounds 0 and 1:\n%s", failed, r.stderr)
	}
	e.checkMigrated(before, e.snapshot(), sel)
	st := e.status()
	if st.Files.Migrated != uint64(len(sel)) || st.Files.Failed != 0 || !st.Files.Balanced() {
		t.Errorf("after retry --failed permission: %+v", st.Files)
	}
}

func itoa(n uint64) string { return strconv.FormatUint(n, 10) }

// The streak guard is the campaign's setting: --max-error-streak 0 turns it off, and a
// task then fails every file instead of stopping.
func TestMaxErrorStreakOff(t *testing.T) {
	e := newEnv(t, "LFS_SIM_FAIL_EVERY=1", "LFS_SIM_FAIL_ERRNO=EIO")
	e.mktree(lfssim.TreeOptions{Files: 120, Seed: 33, SourceShare: 1})
	sel := e.selected(e.snapshot())
	e.plan("--workers", "1", "--max-error-streak", "0")
	spec, err := campaign.Dir{Root: e.camp}.Load()
	if err != nil || spec.Work.ErrorStreak() != 0 {
		t.Fatalf("campaign.json: streak %v, %v", spec.Work.MaxErrorStreak, err)
	}
	e.mustRun(3, "work", e.camp, "--shard", "0")
	e.mustRun(0, "collect", e.camp)
	if st := e.status(); st.Files.Failed != uint64(len(sel)) || st.FailedByClass["io"] != uint64(len(sel)) {
		t.Errorf("files %+v, by class %v; want all %d failed as io", st.Files, st.FailedByClass, len(sel))
	}
	// A retry round of those failures, with a guard of 10 for this run: every file fails
	// again with its earlier EIO, which does not count, so the run goes to the end.
	e.mustRun(0, "retry", e.camp, "--no-submit", "--scheduler", "local")
	e.mustRun(3, "work", e.camp, "--round", "1", "--shard", "0", "--max-error-streak", "10")
}

// Preflight refuses, before the scan and with one line each, what would make a wrong or
// doomed campaign; nothing is created.
func TestPlanPreflight(t *testing.T) {
	e := newEnv(t, "LFS_SIM_POOLS=fast=4-7;srcs=2,3;mixed=0-3")
	e.mktree(lfssim.TreeOptions{Files: 40, Seed: 34})
	noSlurm := t.TempDir() // a PATH without Slurm's commands
	tests := []struct {
		name string
		args []string
		env  []string
		want string
	}{
		{"exclude missing", []string{"--exclude", filepath.Join(e.tree, "no-such-project"), "--no-submit"}, nil, "no-such-project: no such file or directory"},
		{"exclude outside", []string{"--exclude", e.root, "--no-submit"}, nil, "is under no --scan-path"},
		{"campaign inside", []string{"--no-submit"}, nil, "is inside a scan path"},
		{"pool missing", []string{"--target-pool", "fsat", "--no-submit"}, nil, "target pool fsat does not exist in simfs"},
		{"pool of sources", []string{"--target-pool", "srcs", "--no-submit"}, nil, "holds only source OSTs (2,3)"},
		{"stripes beyond pool", []string{"--target-pool", "fast", "--stripe-count", "5", "--no-submit"}, nil, "--stripe-count 5 is more than the 4 OSTs"},
		{"time", []string{"--time", "2days", "--no-submit"}, nil, `--time "2days": want minutes`},
		{"no slurm", nil, []string{"PATH=" + noSlurm}, "Slurm does not answer"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			camp := filepath.Join(e.root, "c-"+strings.ReplaceAll(tt.name, " ", "-"))
			if tt.name == "campaign inside" {
				camp = filepath.Join(e.tree, "campaign")
			}
			saved := e.simEnv
			e.simEnv = append(append([]string{}, e.simEnv...), tt.env...)
			defer func() { e.simEnv = saved }()
			args := append([]string{"plan", camp, "--osts", "2,3", "--scan-path", e.tree, "--lfs", e.sim}, tt.args...)
			r := e.mustRun(2, args...)
			lines := strings.Split(strings.TrimSpace(r.stderr), "\n")
			last := lines[len(lines)-1]
			if !strings.Contains(last, tt.want) {
				t.Errorf("stderr's last line %q lacks %q", last, tt.want)
			}
			if strings.Contains(r.stderr, "planned campaign") || strings.Contains(r.stderr, "campaign:    ") {
				t.Errorf("it scanned first:\n%s", r.stderr)
			}
			if _, err := os.Stat(filepath.Join(camp, campaign.SpecFile)); err == nil {
				t.Errorf("a campaign was created")
			}
		})
	}
	// A pool with some source OSTs is a warning; a campaign directory under an exclude is fine.
	excl := filepath.Join(e.tree, "admin")
	os.Mkdir(excl, 0o755)
	r := e.mustRun(0, "plan", filepath.Join(excl, "camp"), "--osts", "2,3", "--scan-path", e.tree, "--exclude", excl,
		"--lfs", e.sim, "--target-pool", "mixed", "--no-submit")
	if !strings.Contains(r.stderr, "warning: target pool simfs.mixed holds source OSTs 2,3") {
		t.Errorf("no warning about the sources in the pool:\n%s", r.stderr)
	}
}

// More shards than Slurm's MaxArraySize: they are cut again to fit, every file kept once.
func TestPlanFitsMaxArraySize(t *testing.T) {
	e := newEnv(t)
	e.mktree(lfssim.TreeOptions{Files: 200, Seed: 35, SourceShare: 1})
	sel := e.selected(e.snapshot())
	bin := t.TempDir()
	script := "#!/bin/sh\n[ \"$1 $2\" = \"show config\" ] || exit 1\nprintf 'Configuration data as of now\\nMaxArraySize            = 4\\n'\n"
	if err := os.WriteFile(filepath.Join(bin, "scontrol"), []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	e.simEnv = append(e.simEnv, "PATH="+bin+":"+os.Getenv("PATH"))
	r := e.mustRun(0, e.planArgs("--no-submit", "--shard-files", "10")...)
	want := "more than Slurm's MaxArraySize (4) allows in one array: cut again into 4 shards"
	if !strings.Contains(r.stderr, want) {
		t.Errorf("stderr lacks %q:\n%s", want, r.stderr)
	}
	e.checkSelection(e.manifests(0), sel, e.snapshot())
	if _, err := os.Stat(filepath.Join(e.camp, "manifests.unsized")); err == nil {
		t.Errorf("the old manifests were left behind")
	}
}

// A retry round with more shards than MaxArraySize is cut again to fit too.
func TestRetryFitsMaxArraySize(t *testing.T) {
	e := newEnv(t)
	e.mktree(lfssim.TreeOptions{Files: 200, Seed: 39, SourceShare: 1})
	sel := e.selected(e.snapshot())
	bin := t.TempDir()
	for name, script := range map[string]string{
		"scontrol": "#!/bin/sh\n[ \"$1 $2\" = \"show config\" ] || exit 1\nprintf 'MaxArraySize            = 3\\n'\n",
		"squeue":   "#!/bin/sh\nexit 0\n", // nothing queued
	} {
		if err := os.WriteFile(filepath.Join(bin, name), []byte(script), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	e.mustRun(0, e.planArgs("--no-submit", "--scheduler", "local", "--shard-files", "10")...) // local: no limit
	made := len(e.manifestsIndex(0))
	if made <= 3 {
		t.Fatalf("plan made %d shards, want more than 3", made)
	}
	e.simEnv = append(e.simEnv, "PATH="+bin+":"+os.Getenv("PATH"))
	r := e.mustRun(0, "retry", e.camp, "--scheduler", "slurm", "--no-submit") // every file is pending
	if !strings.Contains(r.stderr, "round 1 had "+strconv.Itoa(made)+" shards, more than Slurm's MaxArraySize (3) allows in one array: cut again into 3") {
		t.Errorf("retry:\n%s", r.stderr)
	}
	if n := len(e.manifestsIndex(1)); n != 3 {
		t.Errorf("round 1 has %d shards, want 3", n)
	}
	e.checkSelection(e.manifests(1), sel, e.snapshot())
}

// manifestsIndex reads a round's manifest index's shards.
func (e *env) manifestsIndex(round int) []manifest.ShardIndex {
	e.t.Helper()
	idx, err := manifest.ReadIndex(campaign.Dir{Root: e.camp}.Round(round).Manifests)
	if err != nil {
		e.t.Fatal(err)
	}
	return idx.Shards
}

// On Slurm: a dry-run array, then plan --go submits round 1 over what it would migrate,
// and every selected file is migrated exactly once.
func TestPlanGoOnSlurm(t *testing.T) {
	c := requireSlurm(t)
	e := newEnv(t)
	e.mktree(lfssim.TreeOptions{Files: 200, Seed: 40})
	before := e.snapshot()
	sel := e.selected(before)
	r := e.mustRun(0, e.planArgs("--dry-run", "--shard-files", "50", "--time", "10")...)
	waitCollect(t, c, e, strings.TrimSpace(r.stdout))
	e.checkMigrated(before, e.snapshot(), nil)
	r = e.mustRun(0, "plan", e.camp, "--go")
	job := strings.TrimSpace(r.stdout)
	if !strings.Contains(r.stderr, "submitted round 1 as job array "+job) {
		t.Fatalf("plan --go:\n%s", r.stderr)
	}
	waitCollect(t, c, e, job)
	e.checkMigrated(before, e.snapshot(), sel)
	if st := e.status(); st.DryRun || st.Files.Migrated != uint64(len(sel)) || !st.Files.Balanced() {
		t.Errorf("after --go on Slurm: %+v", st.Files)
	}
}
