package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"migrator/checkpoint"
	"migrator/lfssim"
	"migrator/manifest"
	"migrator/report"
)

// extremePaths adds files whose paths test the limits: 255-byte components full of hostile
// bytes, and a path of about 4,000 bytes.
func (e *env) extremePaths() []string {
	e.t.Helper()
	comp := func(i int, fill byte) string {
		head := fmt.Sprintf("%02d-\n\t\"'\\ \xff-", i)
		return head + strings.Repeat(string(fill), 255-len(head))
	}
	var files []string
	dir := filepath.Join(e.tree, "extreme")
	for i := 0; i < 15; i++ { // 15 components of 255 bytes: a path of about 3,900 bytes
		dir = filepath.Join(dir, comp(i, 'd'))
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		e.t.Fatal(err)
	}
	for i := 0; i < 3; i++ {
		p := filepath.Join(dir, fmt.Sprintf("f%d", i))
		if i == 2 {
			p = filepath.Join(filepath.Dir(dir), comp(99, 'f'))
		}
		if err := os.WriteFile(p, lfssim.Content(p, 1000), 0o644); err != nil {
			e.t.Fatal(err)
		}
		lfssim.SetLayout(p, lfssim.PlainLayout(2))
		files = append(files, p)
	}
	return files
}

// killRunningTask SIGKILLs the work process of a running task (found through its shard
// lock); its lfs children die with it. Slurm records the task as failed and does not
// requeue it: its files stay pending for a retry.
func (e *env) killRunningTask(rng *rand.Rand) bool {
	locks, _ := filepath.Glob(filepath.Join(e.camp, "checkpoints", "shard-*.lock"))
	if len(locks) == 0 {
		return false
	}
	info, _, err := checkpoint.ReadLock(locks[rng.IntN(len(locks))])
	if err != nil || info.PID <= 0 {
		return false
	}
	return syscall.Kill(info.PID, syscall.SIGKILL) == nil
}

// Chaos on a real Slurm while a campaign runs: tasks killed with SIGKILL at random, a second
// task started by hand on a running shard, files busy or held open for write, files deleted,
// renamed or replaced by symlinks between plan and work, a plan killed midway, hostile and
// 4,000-byte names; then retry rounds until nothing is left. Not one file is lost or
// damaged, every selected file is migrated exactly once, and the reports are exact.
func TestChaosOnSlurm(t *testing.T) {
	t.Parallel()
	e := newEnv(t, "LFS_SIM_LATENCY=30ms", "MIGRATOR_RETRY_BASE=100ms")
	c := *requireSlurm(t)
	c.Env = append(c.Env, e.simEnv...)
	e.mktree(lfssim.TreeOptions{Files: 2500, Seed: 40, HostileEvery: 7, LinkEvery: 40, SpecialEvery: 50})
	e.extremePaths()
	rng := rand.New(rand.NewPCG(40, 40))

	// A plan killed midway, then the real one.
	args := e.planArgs("--shard-files", "150", "--array-throttle", "6", "--workers", "3", "--max-attempts", "20", "--time", "10")
	cmd := exec.Command(e.migrator, append(args[:len(args):len(args)], "--no-submit")...)
	cmd.Env = append(os.Environ(), e.simEnv...)
	cmd.Start()
	time.Sleep(150 * time.Millisecond)
	cmd.Process.Kill()
	cmd.Wait()

	// Files change between plan and work. Only single-link files, so the expectations
	// are simple: deleted ones, and ones whose name now holds a symlink, are "gone";
	// renamed ones are found by FID and migrated under their new names.
	pre := e.snapshot()
	var single []string
	for p, s := range pre {
		if s.Mode.IsRegular() && s.Nlink == 1 && e.sources.ContainsAny(s.OSTs) && len(filepath.Base(p)) < 200 {
			single = append(single, p)
		}
	}
	slices.Sort(single) // map order is random; the shuffle below is seeded
	e.mustRun(0, append(args[:len(args):len(args)], "--no-submit")...)
	rng.Shuffle(len(single), func(i, j int) { single[i], single[j] = single[j], single[i] })
	deleted, renamed, symlinked, busy := single[0:10], single[10:20], single[20:30], single[30:40]
	check := func(err error) {
		if err != nil {
			t.Fatal(err)
		}
	}
	for _, p := range deleted {
		check(os.Remove(p))
	}
	renamedTo := map[string]bool{}
	for _, p := range renamed {
		check(os.Rename(p, p+".renamed"))
		renamedTo[p+".renamed"] = true
	}
	for i, p := range symlinked {
		check(os.Remove(p))
		check(os.Symlink(single[100+i], p))
	}
	for _, p := range busy {
		lfssim.MarkBusy(p, true)
	}
	held, err := os.OpenFile(single[40], os.O_WRONLY|os.O_APPEND, 0)
	if err != nil {
		t.Fatal(err)
	}
	before := e.snapshot()
	sel := e.selected(before)
	for _, names := range sel {
		for _, n := range names {
			delete(renamedTo, n)
		}
	}
	if len(renamedTo) != 0 {
		t.Fatalf("renamed files not expected to be migrated: %v", renamedTo)
	}
	r := e.mustRun(0, args...) // the same plan again: planned already, now submitted
	job := strings.TrimSpace(r.stdout)

	// Chaos while the array runs: from its first running task until it is over, or six
	// tasks were killed.
	ctx := context.Background()
	waitFor(t, "a task to take its shard", func() bool {
		locks, _ := filepath.Glob(filepath.Join(e.camp, "checkpoints", "shard-*.lock"))
		return len(locks) > 0
	})
	kills, doubles := 0, 0
	deadline := time.Now().Add(time.Minute)
	for kills < 6 && time.Now().Before(deadline) {
		if tasks, err := c.Tasks(ctx, job); err == nil && len(tasks) == 0 {
			break
		}
		time.Sleep(time.Duration(300+rng.IntN(700)) * time.Millisecond)
		switch rng.IntN(3) {
		case 0, 1:
			if e.killRunningTask(rng) {
				kills++
			}
		case 2:
			tasks, _ := c.Tasks(ctx, job)
			for _, tk := range tasks {
				if tk.State == "RUNNING" {
					// Refused (6) while the array task holds the shard; if that task was
					// killed or had not started, this one works the shard itself, and its
					// busy files may run out of attempts (3), which a retry round redoes.
					r := e.run("work", e.camp, "--shard", strconv.Itoa(tk.TaskID))
					if r.code == 6 {
						doubles++
					} else if r.code != 0 && r.code != 3 {
						t.Errorf("a second task on shard %d: exit %d: %s", tk.TaskID, r.code, r.stderr)
					}
					break
				}
			}
		}
	}
	for _, p := range busy {
		lfssim.MarkBusy(p, false)
	}
	held.Close()
	waitCollect(t, &c, e, job)
	t.Logf("chaos: %d tasks killed, %d second tasks refused", kills, doubles)
	if kills < 2 {
		t.Errorf("only %d tasks were killed while the array ran: the test tested little", kills)
	}

	// Retry rounds until nothing is left.
	for round := 1; ; round++ {
		st := e.statusNow()
		if st.Files.Pending == 0 && st.Files.Failed == 0 {
			break
		}
		if round > 6 {
			t.Fatalf("still not done after %d retry rounds: %+v", round-1, st.Files)
		}
		r := e.mustRun(0, "retry", e.camp)
		waitCollect(t, &c, e, strings.TrimSpace(r.stdout))
	}
	e.checkMigrated(before, e.snapshot(), sel)
	st := e.statusNow()
	want := report.Counts{Planned: st.Files.Planned, Migrated: uint64(len(sel)), Skipped: 20}
	if st.Files != want || st.SkippedByReason["gone"] != 20 || st.SkippedByReason["not-regular"] != 0 {
		t.Errorf("final status %+v (want %+v), skipped %v", st.Files, want, st.SkippedByReason)
	}
	promtoolFile(t, filepath.Join(e.camp, "reports", "status.prom"))
	e.drained()
}

// statusNow runs collect and returns its status.
func (e *env) statusNow() *report.Status {
	e.t.Helper()
	r := e.mustRun(0, "collect", e.camp, "--json")
	var st report.Status
	if err := json.Unmarshal([]byte(r.stdout), &st); err != nil {
		e.t.Fatal(err)
	}
	return &st
}

// A task reaching its time limit gets USR1 from --signal, checkpoints, and requeues itself;
// a task an admin requeues by hand (scontrol requeue) gets SIGTERM and checkpoints; both
// continue from their checkpoints when Slurm runs them again.
func TestTimeLimitAndRequeueOnSlurm(t *testing.T) {
	t.Parallel()
	// Shard 0 needs about 65 s with 2 workers: more than its 1-minute limit. Shard 1 (100
	// files, about 20 s) is requeued by hand after 5 s and fits in its second run.
	e := newEnv(t, "LFS_SIM_LATENCY=430ms")
	c := *requireSlurm(t)
	e.mktree(lfssim.TreeOptions{Files: 400, Seed: 41, SourceShare: 1})
	before := e.snapshot()
	sel := e.selected(before)
	if len(sel) != 400 {
		t.Fatalf("%d files selected", len(sel))
	}
	r := e.mustRun(0, e.planArgs("--shard-files", "300", "--workers", "2", "--time", "1")...)
	job := strings.TrimSpace(r.stdout)
	ctx := context.Background()
	waitFor(t, "both tasks to run", func() bool { ts, _ := c.Tasks(ctx, job); return running(ts) == 2 })
	time.Sleep(5 * time.Second)
	if err := c.Requeue(ctx, job+"_1", false); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(8 * time.Minute)
	for {
		ts, _ := c.Tasks(ctx, job)
		if len(ts) == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("still queued: %+v", ts)
		}
		time.Sleep(2 * time.Second)
	}
	waitCollect(t, &c, e, job)
	log0, _ := os.ReadFile(filepath.Join(e.camp, "logs", job+"_0.out"))
	if !strings.Contains(string(log0), "USR1") || !strings.Contains(string(log0), "requeued "+job+"_0") {
		t.Errorf("task 0 log:\n%s", log0)
	}
	for k := 0; k < 2; k++ {
		var restarts []int
		checkpoint.Read(checkpoint.LogPath(filepath.Join(e.camp, "checkpoints"), k),
			checkpoint.Header{Campaign: e.spec().ID, Shard: k, Entries: []uint64{300, 100}[k], ShardSHA256: e.shardSHA(0, k)},
			checkpoint.Visitor{RunStart: func(s *checkpoint.RunStart) error { restarts = append(restarts, s.Restart); return nil }})
		if len(restarts) < 2 || restarts[len(restarts)-1] < 1 {
			t.Errorf("shard %d ran %d times, restart counts %v: want a requeued run", k, len(restarts), restarts)
		}
	}
	e.checkMigrated(before, e.snapshot(), sel)
	if st := e.status(); st.Files.Migrated != uint64(len(sel)) || !st.Files.Balanced() {
		t.Errorf("status %+v", st.Files)
	}
	e.drained()
}

// The campaign's disk fills up: the task stops with a clear error naming the checkpoint,
// nothing is lost, and once there is room a rerun completes the shard with exact reports.
func TestCheckpointDiskFull(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("mounting a small tmpfs needs root")
	}
	e := newEnv(t)
	e.camp = filepath.Join(e.root, "small")
	os.Mkdir(e.camp, 0o700)
	if out, err := exec.Command("mount", "-t", "tmpfs", "-o", "size=4m,mode=0700", "tmpfs", e.camp).CombinedOutput(); err != nil {
		t.Skipf("cannot mount a tmpfs: %v %s", err, out)
	}
	t.Cleanup(func() { exec.Command("umount", "-l", e.camp).Run() })
	e.mktree(lfssim.TreeOptions{Files: 3000, Seed: 42, SourceShare: 1, MaxSize: 2048})
	before := e.snapshot()
	sel := e.selected(before)
	e.plan()
	var sfs syscall.Statfs_t
	syscall.Statfs(e.camp, &sfs)
	free := int64(sfs.Bavail) * sfs.Bsize
	filler := filepath.Join(e.camp, "filler")
	os.WriteFile(filler, make([]byte, free-48<<10), 0o600) // leave room for about 700 records
	r := e.run("work", e.camp, "--shard", "0")
	if r.code == 0 || !strings.Contains(r.stderr, "no space left on device") || !strings.Contains(r.stderr, checkpoint.LogName(0)) {
		t.Fatalf("work on a full disk: exit %d: %s", r.code, r.stderr)
	}
	os.Remove(filler)
	e.mustRun(0, "work", e.camp, "--shard", "0")
	e.checkMigrated(before, e.snapshot(), sel)
	if st := e.statusNow(); st.Files.Migrated != uint64(len(sel)) || st.Files.Skipped != 0 || !st.Files.Balanced() {
		t.Errorf("status %+v", st.Files)
	}
	e.drained()
}

// collect killed at any moment leaves the previous reports or the new ones, never a torn
// one: every report on disk is whole.
func TestCollectKilled(t *testing.T) {
	e := newEnv(t)
	e.mktree(lfssim.TreeOptions{Files: 4000, Seed: 43, SourceShare: 0.8})
	shards := e.plan("--shard-files", "200")
	e.workAll(shards / 2)
	e.mustRun(0, "collect", e.camp)
	rng := rand.New(rand.NewPCG(43, 43))
	for i := 0; i < 20; i++ {
		cmd := exec.Command(e.migrator, "collect", e.camp)
		cmd.Start()
		time.Sleep(time.Duration(rng.IntN(60)) * time.Millisecond)
		cmd.Process.Kill()
		cmd.Wait()
		var st report.Status
		data, err := os.ReadFile(filepath.Join(e.camp, "reports", report.StatusJSON))
		if err != nil || json.Unmarshal(data, &st) != nil || !st.Files.Balanced() {
			t.Fatalf("status.json after a killed collect: %v\n%s", err, data)
		}
		if _, err := manifest.ReadIndex(filepath.Join(e.camp, "reports", "retry")); err != nil {
			t.Fatalf("retry manifests after a killed collect: %v", err)
		}
	}
	e.mustRun(0, "collect", e.camp)
	// Half the shards ran: every file still on a source OST is pending, none unaccounted.
	if s := e.verify(0); s.Classes[report.ClassPending] != s.OnSource || s.OnSource == 0 {
		t.Errorf("sweep of a half-done campaign: %+v", s)
	}
}

// Bad input to every command: one line naming what and where, exit code 2.
func TestBadInputEverywhere(t *testing.T) {
	e := newEnv(t)
	e.mktree(lfssim.TreeOptions{Files: 50, Seed: 44})
	notCamp := e.root
	tests := []struct {
		args []string
		msg  string
	}{
		{[]string{"collect", notCamp}, "not a campaign"},
		{[]string{"status", notCamp}, "not a campaign"},
		{[]string{"pause", notCamp}, "not a campaign"},
		{[]string{"resume", notCamp}, "not a campaign"},
		{[]string{"cancel", notCamp}, "not a campaign"},
		{[]string{"throttle", notCamp, "4"}, "not a campaign"},
		{[]string{"retry", notCamp}, "not a campaign"},
		{[]string{"work", notCamp, "--shard", "0"}, "not a campaign"},
		{[]string{"verify", notCamp}, "not a campaign"},
		{[]string{"verify", notCamp, "--path", "relative"}, "absolute"},
		{[]string{"plan", notCamp, "--update"}, "not a campaign"},
		{[]string{"plan", notCamp, "--update", "--exclude", e.tree}, "takes only"},
		{[]string{"plan", notCamp, "--scan-path", e.tree}, "required"},
		{[]string{"throttle", notCamp, "--", "-1"}, "N must be"},
		{[]string{"plan", e.camp + "x", "--osts", "2", "--scan-path", e.tree, "--lfs", e.sim, "--shard-files", "0"}, "must be positive"},
		{[]string{"plan", e.camp + "y", "--osts", "2", "--scan-path", e.tree, "--lfs", e.sim, "--sbatch-arg=-N2", "--no-submit"}, "long form"},
		{[]string{"plan", e.camp + "w", "--osts", "2", "--scan-path", e.tree, "--lfs", e.sim, "--sbatch-arg=--job-name=x", "--no-submit"}, "the scripts set it"},
		{[]string{"plan", e.camp + "z", "--osts", "2", "--scan-path", e.tree, "--lfs", e.sim, "--find-threads=-1"}, "--find-threads -1"},
	}
	for _, tt := range tests {
		r := e.run(tt.args...)
		if r.code != 2 || strings.Count(r.stderr, "\n") != 1 || !strings.Contains(r.stderr, tt.msg) {
			t.Errorf("%v: exit %d, stderr %q; want 2 and one line with %q", tt.args, r.code, r.stderr, tt.msg)
		}
		if tt.args[0] == "plan" {
			if _, err := os.Stat(filepath.Join(tt.args[1], "campaign.json")); err == nil {
				t.Errorf("%v created a campaign", tt.args)
			}
		}
	}
	// A campaign that ran locally has no Slurm job to control (TestLocalCampaignControls
	// proves Slurm is not even asked); a dry run has nothing to retry.
	e.mustRun(0, e.planArgs("--scheduler", "local", "--dry-run")...)
	for _, tt := range []struct {
		args []string
		msg  string
	}{{[]string{"pause", e.camp}, "runs with the local scheduler"}, {[]string{"retry", e.camp}, "dry run"}, {[]string{"plan", e.camp, "--update"}, ""}} {
		if r := e.run(tt.args...); r.code != 2 || strings.Count(r.stderr, "\n") != 1 || !strings.Contains(r.stderr, tt.msg) {
			t.Errorf("%v: exit %d, stderr %q; want 2 and one line with %q", tt.args, r.code, r.stderr, tt.msg)
		}
	}
	if r := e.run("work", e.camp, "--shard", "0", "--round", "3"); r.code != 2 || !strings.Contains(r.stderr, "index") {
		t.Errorf("work on a round that does not exist: %d %s", r.code, r.stderr)
	}
}

// drained ends a scenario that ran to the end: verify finds nothing on the source OSTs
// (exit 0), so the reports' "0 left" is measured, not assumed.
func (e *env) drained() {
	e.t.Helper()
	if s := e.verify(0); s.OnSource != 0 || s.Unaccounted != 0 {
		e.t.Errorf("verify after the campaign: %d files on source OSTs, %d unaccounted: %v", s.OnSource, s.Unaccounted, s.Classes)
	}
}
