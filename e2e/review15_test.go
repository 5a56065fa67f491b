package e2e

import (
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"migrator/lfssim"
)

// Rerunning a local plan's command (what its Ctrl-C line says to run) after a later round
// took its files over ran every shard of round 0, each refused as superseded: a screen of
// "exit 2, bad input" lines and exit 2 with nothing done. The plan now refuses at once,
// naming the command that continues, and following it finishes the campaign. Likewise
// after plan --go, whose campaign.json then matches the real plan's command line.
func TestPlanRerunAfterALaterRound(t *testing.T) {
	for _, tc := range []struct {
		name  string
		setup func(e *env) []string // returns the plan command line an admin reruns
	}{
		{"retry", func(e *env) []string {
			args := e.planArgs("--scheduler", "local", "--shard-files", "50")
			e.mustRun(0, append(args, "--no-submit")...)
			e.mustRun(0, "work", e.camp, "--shard", "0")
			e.mustRun(0, "retry", e.camp, "--scheduler", "local", "--no-submit") // round 1, prepared
			return args
		}},
		{"go", func(e *env) []string {
			args := e.planArgs("--scheduler", "local", "--shard-files", "50")
			e.mustRun(0, append(args, "--dry-run", "--no-submit")...)
			e.mustRun(0, "plan", e.camp, "--go", "--no-submit") // round 1, prepared
			return args
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t)
			e.mktree(lfssim.TreeOptions{Files: 300, Seed: 151})
			before := e.snapshot()
			sel := e.selected(before)
			args := tc.setup(e)
			started := len(e.startedShards(0))

			r := e.run(args...)
			if r.code != 2 || !strings.Contains(r.stderr, "round 1") || !strings.Contains(r.stderr, "retry "+e.camp+" --scheduler local") ||
				strings.Contains(r.stderr, "bad input: migrator work") {
				t.Errorf("plan rerun after round 1 was made: exit %d\n%s", r.code, r.stderr)
			}
			if n := len(e.startedShards(0)); n != started {
				t.Errorf("the plan rerun ran %d shards of round 0, superseded", n-started)
			}
			e.mustRun(0, "retry", e.camp, "--scheduler", "local") // the advice
			e.checkMigrated(before, e.snapshot(), sel)
			if st := e.status(); !st.Files.Balanced() || st.Files.Migrated != uint64(len(sel)) || st.Inconsistency != "" {
				t.Errorf("final status %+v %q", st.Files, st.Inconsistency)
			}
		})
	}
}

// retry while a local run still runs the latest round: it is refused (the files would be
// in two rounds), and the advice must be one a local campaign takes. It said "or migrator
// cancel first", which a local campaign refuses (exit 2: it has no Slurm job).
func TestRetryWhileALocalRunRuns(t *testing.T) {
	e := newEnv(t, "LFS_SIM_LATENCY=300ms")
	e.mktree(lfssim.TreeOptions{Files: 40, Seed: 152, SourceShare: 1})
	args := e.planArgs("--scheduler", "local", "--shard-files", "10", "--array-throttle", "1", "--workers", "1", "--batch", "1")
	cmd, _ := e.started(args...)
	waitForText(t, filepath.Join(e.camp, "logs", "local-0-0.out"), "shard 0 of campaign")
	r := e.run("retry", e.camp, "--scheduler", "slurm", "--no-submit")
	if r.code == 0 || !strings.Contains(r.stderr, "still running") || strings.Contains(r.stderr, "migrator cancel") ||
		!strings.Contains(r.stderr, "Ctrl-C") {
		t.Errorf("retry during a local run: exit %d, %q", r.code, r.stderr)
	}
	// A second local run, as README says: exit 6, naming the holder of local-run.lock (it
	// exited 1 with the shard lock's message).
	r = e.run("retry", e.camp, "--scheduler", "local")
	if r.code != 6 || !strings.Contains(r.stderr, "local-run.lock") {
		t.Errorf("retry --scheduler local during a local run: exit %d, %q", r.code, r.stderr)
	}
	if c := e.run("cancel", e.camp); c.code != 2 {
		t.Errorf("cancel of a local campaign: exit %d %q", c.code, c.stderr)
	}
	syscall.Kill(-cmd.Process.Pid, syscall.SIGINT)
	if code := exitCode(cmd.Wait()); code != 5 {
		t.Errorf("the interrupted local run exited %d, want 5", code)
	}
}

// MaxArraySize at its edges: 1 (one task per array) cuts the campaign into one shard, and
// says so in English; 0 (arrays disabled) with --no-submit plans, but warns that the
// printed sbatch command will be refused (it said nothing).
func TestMaxArraySizeEdges(t *testing.T) {
	e := newEnv(t)
	e.mktree(lfssim.TreeOptions{Files: 100, Seed: 153, SourceShare: 1})
	bin := t.TempDir()
	e.simEnv = append(e.simEnv, "PATH="+bin+":"+os.Getenv("PATH"))
	for _, tc := range []struct{ max, want string }{
		{"1", "cut again into 1 shard of up to"},
		{"0", "warning: Slurm has job arrays disabled (MaxArraySize = 0"},
	} {
		script := "#!/bin/sh\n[ \"$1 $2\" = \"show config\" ] || exit 1\nprintf 'MaxArraySize            = " + tc.max + "\\n'\n"
		if err := os.WriteFile(filepath.Join(bin, "scontrol"), []byte(script), 0o755); err != nil {
			t.Fatal(err)
		}
		e.camp = filepath.Join(e.root, "c"+tc.max)
		r := e.mustRun(0, e.planArgs("--no-submit", "--shard-files", "10")...)
		if !strings.Contains(r.stderr, tc.want) {
			t.Errorf("MaxArraySize %s: stderr lacks %q:\n%s", tc.max, tc.want, r.stderr)
		}
	}
}

// retry without --scheduler takes the campaign's scheduler: on a local campaign it
// defaulted to slurm, so README's plain "migrator retry CAMPAIGN" submitted the round to
// Slurm where there is one (a mode switch nobody asked for by name), and was refused where
// there is none. --scheduler given by name still chooses.
func TestRetryKeepsTheCampaignsScheduler(t *testing.T) {
	e := newEnv(t)
	e.mktree(lfssim.TreeOptions{Files: 100, Seed: 154})
	before := e.snapshot()
	sel := e.selected(before)
	bin := t.TempDir() // a Slurm that would take any array: sbatch records that it was asked
	asked := filepath.Join(e.root, "sbatch-asked")
	for name, script := range map[string]string{
		"sbatch":   "#!/bin/sh\ntouch " + asked + "\necho 999\n",
		"squeue":   "#!/bin/sh\nexit 0\n",
		"scontrol": "#!/bin/sh\nprintf 'MaxArraySize            = 1001\\n'\n",
	} {
		if err := os.WriteFile(filepath.Join(bin, name), []byte(script), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	e.simEnv = append(e.simEnv, "PATH="+bin+":"+os.Getenv("PATH"))
	e.mustRun(0, e.planArgs("--scheduler", "local", "--no-submit", "--shard-files", "20")...)
	r := e.mustRun(0, "retry", e.camp)
	if _, err := os.Stat(asked); err == nil {
		t.Fatalf("retry of a local campaign asked sbatch:\n%s", r.stderr)
	}
	e.checkMigrated(before, e.snapshot(), sel)
	if st := e.status(); !st.Files.Balanced() || st.Files.Migrated != uint64(len(sel)) {
		t.Errorf("final status %+v", st.Files)
	}
}

// throttle on a local campaign says: stop it and rerun the same plan command with another
// --array-throttle. That rerun was refused ("planned with different settings:
// --array-throttle 2 → 4"). For a local campaign the throttle is how many shards this run
// runs at once, so a rerun may name another; every other setting must still match.
func TestLocalRerunWithAnotherThrottle(t *testing.T) {
	e := newEnv(t)
	e.mktree(lfssim.TreeOptions{Files: 100, Seed: 155})
	before := e.snapshot()
	sel := e.selected(before)
	e.mustRun(0, e.planArgs("--scheduler", "local", "--no-submit", "--shard-files", "20", "--array-throttle", "1")...)
	if r := e.mustRun(2, "throttle", e.camp, "3"); !strings.Contains(r.stderr, "with another --array-throttle") {
		t.Fatalf("throttle's advice changed: %s", r.stderr)
	}
	r := e.mustRun(0, e.planArgs("--scheduler", "local", "--shard-files", "20", "--array-throttle", "3")...)
	if !strings.Contains(r.stderr, "3 at once") {
		t.Errorf("the rerun does not run 3 at once:\n%s", r.stderr)
	}
	e.checkMigrated(before, e.snapshot(), sel)
	// Anything else still differs by name.
	r = e.mustRun(2, e.planArgs("--scheduler", "local", "--shard-files", "30", "--array-throttle", "3")...)
	if !strings.Contains(r.stderr, "--shard-files 20 → 30") || strings.Contains(r.stderr, "array-throttle") {
		t.Errorf("a rerun with another --shard-files: %s", r.stderr)
	}
}

// A local campaign never needs Slurm: retry and plan --go of one, on a machine without
// Slurm's commands, printed "warning: could not ask Slurm whether an array of this
// campaign submitted by hand is queued (slurm command not found: squeue ...)" every time.
func TestLocalRoundsWithoutSlurmSayNothingOfIt(t *testing.T) {
	e := newEnv(t)
	e.mktree(lfssim.TreeOptions{Files: 100, Seed: 156})
	e.simEnv = append(e.simEnv, "PATH="+t.TempDir()) // nothing on PATH: no Slurm
	e.mustRun(0, e.planArgs("--scheduler", "local", "--dry-run", "--shard-files", "30")...)
	r := e.mustRun(0, "plan", e.camp, "--go")
	r2 := e.mustRun(0, "retry", e.camp)
	for _, out := range []string{r.stderr, r2.stderr} {
		if strings.Contains(out, "squeue") || strings.Contains(out, "warning") { // the test's own name says Slurm
			t.Errorf("a local campaign's round speaks of Slurm:\n%s", out)
		}
	}
}

// plan CAMPAIGN --go takes every setting from campaign.json; a setting given with it
// alone (not the plan's whole command line, which must match) was silently ignored:
// "--go --scheduler slurm" ran the round locally. It is refused, named, with nothing done.
func TestPlanGoRefusesSettingsItWouldIgnore(t *testing.T) {
	e := newEnv(t)
	e.mktree(lfssim.TreeOptions{Files: 60, Seed: 157})
	e.mustRun(0, e.planArgs("--scheduler", "local", "--dry-run", "--no-submit", "--shard-files", "1000")...)
	for _, extra := range [][]string{{"--scheduler", "slurm"}, {"--time=1:00:00"}, {"--workers", "2", "--no-submit"}} {
		r := e.run(append([]string{"plan", e.camp, "--go"}, extra...)...)
		name, _, _ := strings.Cut(extra[0], "=")
		if r.code != 2 || !strings.Contains(r.stderr, name) || strings.Count(r.stderr, "\n") != 1 {
			t.Errorf("plan --go %v: exit %d, %q", extra, r.code, r.stderr)
		}
	}
	if _, err := os.Stat(filepath.Join(e.camp, "rounds", "001")); err == nil {
		t.Fatal("a refused --go made round 1")
	}
	r := e.mustRun(0, "plan", e.camp, "--go", "--no-submit")
	if !strings.Contains(r.stderr, "in 1 shard\n") {
		t.Errorf("plan --go: %s", r.stderr)
	}
}
