package e2e

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"migrator/campaign"
	"migrator/launch"
	"migrator/lfssim"
	"migrator/manifest"
	"migrator/slurm"
)

// A tree with hostile names, hard links, symlinks and FIFOs: the manifests hold exactly the
// regular files with an object on a source OST, each inode once.
func TestPlanSelectsExactly(t *testing.T) {
	e := newEnv(t)
	st := e.mktree(lfssim.TreeOptions{Files: 3000, Seed: 1, HostileEvery: 15, LinkEvery: 20, SpecialEvery: 25,
		DanglingEvery: 13, KindsEvery: 17, ReleasedEvery: 19})
	snap := e.snapshot()
	want := e.selected(snap)
	if len(want) < 1000 || st.HardLinks == 0 || st.Symlinks == 0 {
		t.Fatalf("tree too small to mean anything: %+v, %d selected", st, len(want))
	}
	r := e.mustRun(0, e.planArgs("--no-submit", "--shard-files", "500")...)
	if !strings.Contains(r.stdout, "sbatch --parsable") {
		t.Errorf("--no-submit printed %q", r.stdout)
	}
	entries := e.manifests(0)
	e.checkSelection(entries, want, snap)
	// The plan printed back what it resolved, before running.
	for _, s := range []string{"source OSTs: 2,3 (simfs-OST0002 … simfs-OST0003)", "scan path:   " + e.tree, "lfs migrate -n FILE"} {
		if !strings.Contains(r.stderr, s) {
			t.Errorf("plan output lacks %q:\n%s", s, r.stderr)
		}
	}
	// Planning again finds the campaign planned and changes nothing.
	idx1, _ := manifest.ReadIndex(filepath.Join(e.camp, "manifests"))
	r = e.mustRun(0, e.planArgs("--no-submit", "--shard-files", "500")...)
	idx2, _ := manifest.ReadIndex(filepath.Join(e.camp, "manifests"))
	if !strings.Contains(r.stderr, "already planned") || idx1.Shards[0].SHA256 != idx2.Shards[0].SHA256 {
		t.Errorf("replan: %s", r.stderr)
	}
	// Nothing in the tree was touched by planning.
	e.checkMigrated(snap, e.snapshot(), nil)
}

// Excludes are subtree-correct and apply below the scan paths, not only to them.
func TestPlanExcludes(t *testing.T) {
	e := newEnv(t)
	for _, p := range []string{"a/foo/x", "a/foo/deep/er/z", "a/foobar/y", "a/fo", "b/c/d/e/f/g", "b/c/d/e/keep"} {
		full := filepath.Join(e.tree, p)
		os.MkdirAll(filepath.Dir(full), 0o755)
		os.WriteFile(full, []byte(p), 0o644)
		lfssim.SetLayout(full, lfssim.PlainLayout(2))
	}
	snap := e.snapshot()
	excl := []string{filepath.Join(e.tree, "a/foo"), filepath.Join(e.tree, "b/c/d/e/f")}
	e.mustRun(0, e.planArgs("--no-submit", "--exclude", excl[0], "--exclude", excl[1]+"/")...)
	want := e.selected(snap, excl...)
	var names []string
	for _, n := range want {
		names = append(names, strings.TrimPrefix(n[0], e.tree+"/"))
	}
	if len(want) != 3 {
		t.Errorf("selected %v", names)
	}
	e.checkSelection(e.manifests(0), want, snap)
}

func TestPlanFilters(t *testing.T) {
	e := newEnv(t)
	e.mktree(lfssim.TreeOptions{Files: 600, Seed: 2, MaxSize: 8192})
	// Give a third of the files another owner.
	i := 0
	filepath.Walk(e.tree, func(p string, fi os.FileInfo, err error) error {
		if fi.Mode().IsRegular() {
			if i%3 == 0 {
				os.Chown(p, 4242, 4242)
			}
			i++
		}
		return nil
	})
	snap := e.snapshot()
	e.mustRun(0, e.planArgs("--no-submit", "--min-size", "1k", "--max-size", "6k", "--uid", "4242")...)
	want := map[uint64][]string{}
	for ino, names := range e.selected(snap) {
		s := snap[names[0]]
		fi, _ := os.Stat(names[0])
		if s.UID == 4242 && fi.Size() >= 1024 && fi.Size() <= 6144 {
			want[ino] = names
		}
	}
	if len(want) < 10 {
		t.Fatalf("only %d files match the filters", len(want))
	}
	e.checkSelection(e.manifests(0), want, snap)
}

// --find-threads reaches lfs find on a 2.17 client, and is left out with a warning on an
// older one, which would refuse it; either way the selection is exact.
func TestPlanFindThreads(t *testing.T) {
	for _, tc := range []struct {
		version string
		passed  bool
	}{{"2.17.0", true}, {"2.16.0", false}} {
		t.Run(tc.version, func(t *testing.T) {
			e := newEnv(t, "LFS_SIM_VERSION="+tc.version)
			e.mktree(lfssim.TreeOptions{Files: 400, Seed: 4})
			snap := e.snapshot()
			// A wrapper that logs every lfs command line, then runs the simulator.
			argv := filepath.Join(e.root, "argv.log")
			wrapper := filepath.Join(e.root, "lfs")
			script := fmt.Sprintf("#!/bin/sh\nprintf '%%s\\n' \"$*\" >> '%s'\nexec '%s' \"$@\"\n", argv, e.sim)
			if err := os.WriteFile(wrapper, []byte(script), 0o755); err != nil {
				t.Fatal(err)
			}
			r := e.mustRun(0, e.planArgs("--no-submit", "--find-threads", "3", "--lfs", wrapper)...)
			e.checkSelection(e.manifests(0), e.selected(snap), snap)
			log, err := os.ReadFile(argv)
			if err != nil {
				t.Fatal(err)
			}
			var finds, threaded int
			for line := range strings.Lines(string(log)) {
				if strings.HasPrefix(line, "find ") && strings.Contains(line, " -0") {
					finds++
					if strings.Contains(line, "--threads 3") {
						threaded++
					}
				}
			}
			want := 0
			if tc.passed {
				want = finds
			}
			warned := strings.Contains(r.stderr, "--find-threads 3 ignored")
			if finds == 0 || threaded != want || warned == tc.passed {
				t.Errorf("lfs %s: %d of %d finds got --threads 3, warned %v\n%s", tc.version, threaded, finds, warned, r.stderr)
			}
		})
	}
}

// Bad input: a one-line error naming what and where, exit code 2, and no campaign.
func TestPlanBadInput(t *testing.T) {
	e := newEnv(t)
	e.mktree(lfssim.TreeOptions{Files: 20, Seed: 3})
	other := filepath.Join(e.root, "other")
	os.MkdirAll(other, 0o700)
	os.WriteFile(filepath.Join(other, "something"), nil, 0o600)
	open := filepath.Join(e.root, "open")
	os.Mkdir(open, 0o777)
	os.Chmod(open, 0o777)
	treeLink := filepath.Join(e.root, "tree-link") // a symlinked scan path
	os.Symlink(e.tree, treeLink)
	sub, _ := os.ReadDir(e.tree)
	tests := []struct {
		name string
		camp string
		args []string
		env  []string
		msg  string
	}{
		{"missing scan path", "", []string{"--osts", "2", "--scan-path", e.tree + "/nope"}, nil, "no such file or directory"},
		{"relative scan path", "", []string{"--osts", "2", "--scan-path", "fs"}, nil, `"fs" is not absolute`},
		{"ambiguous OST list", "", []string{"--osts", "02", "--scan-path", e.tree}, nil, "ambiguous"},
		{"OST not in the filesystem", "", []string{"--osts", "2,12", "--scan-path", e.tree}, nil, "OST 12 is not in the filesystem"},
		{"missing lfs", "", []string{"--osts", "2", "--scan-path", e.tree, "--lfs", "/nonexistent/lfs"}, nil, "/nonexistent/lfs"},
		{"old client without a layout", "", []string{"--osts", "2", "--scan-path", e.tree}, []string{"LFS_SIM_VERSION=2.15.2"}, "older than 2.16"},
		{"bandwidth on an old client", "", []string{"--osts", "2", "--scan-path", e.tree, "--stripe-count", "1", "--bandwidth", "100"}, []string{"LFS_SIM_VERSION=2.15.2"}, "no lfs migrate --bandwidth"},
		{"not a campaign", other, []string{"--osts", "2", "--scan-path", e.tree}, nil, "is not empty"},
		{"writable by others", open, []string{"--osts", "2", "--scan-path", e.tree}, nil, "writable by group or others"},
		{"path a job script cannot carry", filepath.Join(e.root, "with space"), []string{"--osts", "2", "--scan-path", e.tree}, nil, "cannot carry"},
		{"target is a source", "", []string{"--osts", "2", "--scan-path", e.tree, "--target-osts", "2"}, nil, "also a source"},
		{"exclude under no scan path", "", []string{"--osts", "2", "--scan-path", e.tree, "--exclude", other}, nil, "under no --scan-path"},
		// Overlapping scan paths would list every file in both twice (FIDs are compared only
		// for files with several links).
		{"nested scan paths", "", []string{"--osts", "2", "--scan-path", e.tree, "--scan-path", filepath.Join(e.tree, sub[0].Name())}, nil, "overlap"},
		{"a scan path and a symlink to it", "", []string{"--osts", "2", "--scan-path", e.tree, "--scan-path", treeLink}, nil, "overlap"},
		// Excludes match the names found, which keep the symlink's name: one written under
		// the real path would leave nothing out.
		{"exclude under the real path of a symlinked scan path", "", []string{"--osts", "2", "--scan-path", treeLink,
			"--exclude", filepath.Join(e.tree, sub[0].Name())}, nil, "under no --scan-path"},
	}
	// A scan path on another filesystem (here a tmpfs; in life, a symlink into another
	// Lustre filesystem), where the same OST indices name other OSTs.
	if shm, err := os.MkdirTemp("/dev/shm", "migrator-e2e-"); err == nil {
		t.Cleanup(func() { os.RemoveAll(shm) })
		a, _ := os.Stat(e.tree)
		b, _ := os.Stat(shm)
		if a.Sys().(*syscall.Stat_t).Dev != b.Sys().(*syscall.Stat_t).Dev {
			shmLink := filepath.Join(e.root, "shm-link")
			os.Symlink(shm, shmLink)
			tests = append(tests, struct {
				name string
				camp string
				args []string
				env  []string
				msg  string
			}{"scan path on another filesystem", "", []string{"--osts", "2", "--scan-path", e.tree, "--scan-path", shmLink}, nil, "another filesystem"})
		}
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			camp := tt.camp
			if camp == "" {
				camp = filepath.Join(e.root, "c-"+strings.ReplaceAll(tt.name, " ", "-"))
			}
			args := append([]string{"plan", camp, "--no-submit"}, tt.args...)
			if !strings.Contains(strings.Join(tt.args, " "), "--lfs") {
				args = append(args, "--lfs", e.sim)
			}
			e2 := *e
			e2.simEnv = append(append([]string{}, e.simEnv...), tt.env...)
			r := e2.run(args...)
			if r.code != 2 {
				t.Errorf("exit %d, want 2; stderr %s", r.code, r.stderr)
			}
			if lines := strings.Split(strings.TrimSpace(r.stderr), "\n"); !strings.Contains(lines[len(lines)-1], tt.msg) {
				t.Errorf("last line of stderr %q does not contain %q", lines[len(lines)-1], tt.msg)
			}
			if _, err := os.Stat(filepath.Join(camp, campaign.SpecFile)); err == nil {
				t.Errorf("a campaign was created in %s", camp)
			}
		})
	}
	// A campaign directory that holds a different campaign is refused.
	e.mustRun(0, e.planArgs("--no-submit")...)
	r := e.run("plan", e.camp, "--osts", "3", "--scan-path", e.tree, "--lfs", e.sim, "--no-submit")
	if r.code != 2 || !strings.Contains(r.stderr, "different settings") {
		t.Errorf("replan with other OSTs: %d %s", r.code, r.stderr)
	}
}

// What a plan killed before it wrote campaign.json leaves (a temporary campaign.json, the
// empty directories of the layout) does not stop the next plan; anything more does.
func TestPlanAfterAKillBeforeCampaignJSON(t *testing.T) {
	e := newEnv(t)
	e.mktree(lfssim.TreeOptions{Files: 20, Seed: 3, SourceShare: 1})
	os.Mkdir(e.camp, 0o700)
	for _, d := range []string{"manifests", "checkpoints", "logs", "reports"} {
		os.Mkdir(filepath.Join(e.camp, d), 0o700)
	}
	tmp := filepath.Join(e.camp, ".tmp-campaign.json.0123456789ab")
	os.WriteFile(tmp, []byte(`{"format": 1, "id": "c-half`), 0o600)
	stray := filepath.Join(e.camp, "checkpoints", "shard-000000.log")
	os.WriteFile(stray, []byte("x"), 0o600)
	if r := e.run(e.planArgs("--no-submit")...); r.code != 2 || !strings.Contains(r.stderr, "(it holds checkpoints)") {
		t.Errorf("plan over a checkpoint that is not ours: exit %d: %s", r.code, r.stderr)
	}
	os.Remove(stray)
	e.mustRun(0, e.planArgs("--no-submit")...)
	if _, err := os.Stat(tmp); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("the temporary campaign.json is still there: %v", err)
	}
	if got := len(e.manifests(0)); got != 20 {
		t.Errorf("%d files planned, want 20", got)
	}
}

// plan killed with SIGKILL at any moment, then run again, ends with the same selection as
// an uninterrupted plan, and never leaves a campaign that work could run half-planned.
func TestPlanKilledAndRerun(t *testing.T) {
	e := newEnv(t)
	e.mktree(lfssim.TreeOptions{Files: 20000, Seed: 4, LinkEvery: 50, MaxSize: 1024})
	snap := e.snapshot()
	want := e.selected(snap)
	args := e.planArgs("--no-submit", "--shard-files", "1000", "--scan-workers", "2")
	// How long an uninterrupted plan takes (in another directory): kills land within it.
	t0 := time.Now()
	ref := *e
	ref.camp = filepath.Join(e.root, "reference")
	ref.mustRun(0, ref.planArgs("--no-submit", "--shard-files", "1000", "--scan-workers", "2")...)
	span := time.Since(t0)
	rng := rand.New(rand.NewPCG(4, 4))
	midway := 0
	for i := 0; i < 15; i++ {
		cmd := exec.Command(e.migrator, args...)
		cmd.Env = append(os.Environ(), e.simEnv...)
		cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		time.Sleep(time.Duration(rng.Int64N(int64(span))))
		syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
		cmd.Wait()
		// Whatever is there now is either fully planned or not runnable at all.
		if _, err := manifest.ReadIndex(filepath.Join(e.camp, "manifests")); err == nil {
			e.checkSelection(e.manifests(0), want, snap)
			os.RemoveAll(e.camp) // start over, so the next kill can land mid-plan again
		} else {
			midway++
			if r := e.run("work", e.camp, "--shard", "0"); r.code != 2 {
				t.Fatalf("work ran on a half-planned campaign: %d %s", r.code, r.stderr)
			}
		}
	}
	e.mustRun(0, args...)
	e.checkSelection(e.manifests(0), want, snap)
	t.Logf("an uninterrupted plan takes %v; %d of 15 kills left a half-planned campaign, which the rerun completed", span.Round(time.Millisecond), midway)
	if midway < 3 {
		t.Errorf("only %d kills landed before the plan finished: the test does not test much", midway)
	}
}

// With the local scheduler, plan runs every shard here and collects: the whole tree ends
// up off the source OSTs, unchanged in every other way, and the report matches. Also with
// a 2.14 client, which has no lfs find --printf (and needs an explicit layout): plan
// describes files and work checks them another way, to the same result.
func TestPlanLocalRunsToTheEnd(t *testing.T) {
	for _, tc := range []struct {
		version string
		extra   []string
		warning string
	}{
		{"2.16.0", nil, "running"},
		{"2.14.0", []string{"--stripe-count", "1"}, "has no find --printf"},
	} {
		t.Run(tc.version, func(t *testing.T) {
			e := newEnv(t, "LFS_SIM_VERSION="+tc.version)
			e.mktree(lfssim.TreeOptions{Files: 1500, Seed: 5, HostileEvery: 10, LinkEvery: 30, SpecialEvery: 40,
				DanglingEvery: 11, KindsEvery: 13, ReleasedEvery: 17})
			before := e.snapshot()
			sel := e.selected(before)
			r := e.mustRun(0, e.planArgs(append([]string{"--scheduler", "local", "--shard-files", "200", "--array-throttle", "3"}, tc.extra...)...)...)
			e.checkMigrated(before, e.snapshot(), sel)
			st := e.status()
			if st.Files.Planned != uint64(len(sel)) || st.Files.Migrated != uint64(len(sel)) || !st.Files.Balanced() || st.Files.Failed != 0 {
				t.Errorf("status %+v, want %d planned and migrated", st.Files, len(sel))
			}
			if !strings.Contains(r.stderr, tc.warning) {
				t.Errorf("stderr lacks %q: %s", tc.warning, r.stderr)
			}
		})
	}
}

// With Slurm, plan submits a real job array (it shows in squeue) and a collect job that
// runs after it; the campaign completes.
func TestPlanSlurmArray(t *testing.T) {
	c := requireSlurm(t)
	e := newEnv(t)
	e.mktree(lfssim.TreeOptions{Files: 800, Seed: 6, HostileEvery: 10})
	before := e.snapshot()
	sel := e.selected(before)
	r := e.mustRun(0, e.planArgs("--shard-files", "100", "--array-throttle", "4", "--time", "10")...)
	job := strings.TrimSpace(r.stdout)
	tasks, err := c.Tasks(context.Background(), job)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("squeue right after submission: %d lines for job %s", len(tasks), job)
	if len(tasks) == 0 {
		// Possible only if all 8 tasks already finished; the logs then prove they ran.
		if logs, _ := filepath.Glob(filepath.Join(e.camp, "logs", job+"_*.out")); len(logs) == 0 {
			t.Fatalf("job %s is neither in squeue nor has logs", job)
		}
	}
	waitCollect(t, c, e, job)
	e.checkMigrated(before, e.snapshot(), sel)
	st := e.status()
	if st.Files.Migrated != uint64(len(sel)) || !st.Files.Balanced() {
		t.Errorf("status %+v", st.Files)
	}
	subs, _ := campaign.Dir{Root: e.camp}.Submissions()
	if len(subs) != 2 || subs[0].JobID != job || subs[1].Depend != "afterany:"+job {
		t.Errorf("submissions %+v", subs)
	}
}

// plan killed while it submits, then run again, ends with one array and one collect job:
// killed between sbatch and recording the array (the array is queued, unrecorded), the
// rerun finds it in squeue and submits nothing; killed before the collect job, the rerun
// submits only the collect job.
func TestPlanRerunFinishesASubmission(t *testing.T) {
	c := requireSlurm(t)
	e := newEnv(t)
	e.mktree(lfssim.TreeOptions{Files: 100, Seed: 7})
	args := e.planArgs("--shard-files", "50", "--sbatch-arg=--hold") // held: nothing runs
	ctx := context.Background()
	job := strings.TrimSpace(e.mustRun(0, args...).stdout)
	d := campaign.Dir{Root: e.camp}
	subs, _ := d.Submissions()
	if len(subs) != 2 {
		t.Fatalf("submissions %+v", subs)
	}
	name := launch.JobName(d, e.spec())
	defer func() { // every job of this campaign, recorded or not
		jobs, _ := c.Named(ctx, name, name+"-collect")
		for _, j := range jobs {
			if j.WorkDir == e.camp {
				c.Cancel(ctx, j.JobID)
			}
		}
	}()

	// Killed before the collect job: only the array is recorded.
	c.Cancel(ctx, subs[1].JobID)
	line, _ := json.Marshal(subs[0])
	os.WriteFile(filepath.Join(e.camp, campaign.SubmissionsFile), append(line, '\n'), 0o600)
	r := e.mustRun(0, args...)
	subs, _ = d.Submissions()
	if !strings.Contains(r.stderr, "its collect job was missing") || len(subs) != 2 || subs[1].Depend != "afterany:"+job {
		t.Fatalf("rerun without a collect job: %s\nsubmissions %+v", r.stderr, subs)
	}

	// Killed between sbatch and the record: nothing is recorded, the jobs are queued.
	os.Remove(filepath.Join(e.camp, campaign.SubmissionsFile))
	r = e.mustRun(0, args...)
	if !strings.Contains(r.stderr, "already submitted as job "+job+" (queued, not recorded yet") {
		t.Errorf("rerun with the array unrecorded: %s", r.stderr)
	}
	jobs, err := c.Named(ctx, name, name+"-collect")
	if err != nil {
		t.Fatal(err)
	}
	var ours []slurm.NamedJob
	for _, j := range jobs {
		if j.WorkDir == e.camp {
			ours = append(ours, j)
		}
	}
	if len(ours) != 2 || ours[0].JobID == ours[1].JobID || (ours[0].JobID != job && ours[1].JobID != job) {
		t.Errorf("queued: %+v, want the array %s and one collect job", ours, job)
	}
	if subs, _ := d.Submissions(); len(subs) != 0 {
		t.Errorf("submissions %+v", subs)
	}
}

// A subtree whose lfs find keeps failing is retried, then fails the plan with its error:
// no partial plan is ever presented as complete.
func TestPlanFailingSubtree(t *testing.T) {
	e := newEnv(t, "LFS_SIM_FIND_FAIL=/top/d05")
	// A wide tree, so the scan splits it into directory subtrees for lfs find.
	for d := 0; d < 100; d++ {
		dir := filepath.Join(e.tree, "top", fmt.Sprintf("d%03d", d), "sub")
		os.MkdirAll(dir, 0o755)
		for f := 0; f < 5; f++ {
			p := filepath.Join(dir, fmt.Sprintf("f%d", f))
			os.WriteFile(p, []byte("x"), 0o644)
			lfssim.SetLayout(p, lfssim.PlainLayout(2))
		}
	}
	r := e.run(e.planArgs("--no-submit", "--scan-workers", "2")...)
	if r.code == 0 || !strings.Contains(r.stderr, "failed 3 times") || !strings.Contains(r.stderr, "Input/output error") ||
		!strings.Contains(r.stderr, "/top/d05") {
		t.Fatalf("exit %d: %s", r.code, r.stderr)
	}
	if _, err := manifest.ReadIndex(filepath.Join(e.camp, "manifests")); err == nil {
		t.Error("a plan with an unscannable subtree wrote a manifest index")
	}
	if r := e.run("work", e.camp, "--shard", "0"); r.code != 2 {
		t.Errorf("work ran a failed plan: %d", r.code)
	}
}

// A file that lfs find cannot check (here one met while splitting the scan paths, checked
// in a batch of loose files) is not taken for "not on a source OST": the plan fails.
func TestPlanFailingFile(t *testing.T) {
	e := newEnv(t, "LFS_SIM_FIND_FAIL=unreadable")
	for _, n := range []string{"a", "unreadable\nfile", "z"} {
		p := filepath.Join(e.tree, n)
		os.MkdirAll(e.tree, 0o755)
		os.WriteFile(p, []byte("x"), 0o644)
		lfssim.SetLayout(p, lfssim.PlainLayout(2))
	}
	r := e.run(e.planArgs("--no-submit")...)
	lines := strings.Split(strings.TrimSpace(r.stderr), "\n")
	last := lines[len(lines)-1]
	if r.code != 1 || !strings.Contains(last, "failed 3 times") || !strings.Contains(last, `unreadable\nfile"`) ||
		!strings.Contains(last, "exit status 5") {
		t.Fatalf("exit %d: %s", r.code, r.stderr)
	}
	if _, err := manifest.ReadIndex(filepath.Join(e.camp, "manifests")); err == nil {
		t.Error("a plan with an unreadable file wrote a manifest index")
	}
}

// Preflight compares the bytes to move with the free space lfs df shows on the other OSTs.
func TestPlanSpaceWarning(t *testing.T) {
	avail := "LFS_SIM_AVAIL_KB=0=1,1=1,4=1,5=1,6=1,7=1" // every target OST nearly full
	e := newEnv(t, avail)
	e.mktree(lfssim.TreeOptions{Files: 300, Seed: 51})
	r := e.mustRun(0, e.planArgs("--no-submit")...)
	if !strings.Contains(r.stderr, "warning:") || !strings.Contains(r.stderr, "free on the other OSTs: the targets may fill up") {
		t.Errorf("no space warning:\n%s", r.stderr)
	}
	e2 := newEnv(t)
	e2.mktree(lfssim.TreeOptions{Files: 300, Seed: 51})
	if r := e2.mustRun(0, e2.planArgs("--no-submit")...); strings.Contains(r.stderr, "may fill up") {
		t.Errorf("space warning with room to spare:\n%s", r.stderr)
	}
}
