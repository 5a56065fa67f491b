package e2e

import (
	"bytes"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"migrator/checkpoint"
	"migrator/durable"
	"migrator/launch"
	"migrator/lfssim"
	"migrator/manifest"
)

// procsWith returns the pids of live processes (not zombies) whose command line contains
// s: the campaign's tasks name the campaign directory.
func procsWith(s string) []int {
	ents, _ := os.ReadDir("/proc")
	var pids []int
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil || pid == os.Getpid() {
			continue
		}
		cmdline, err := os.ReadFile(filepath.Join("/proc", e.Name(), "cmdline"))
		if err != nil || !bytes.Contains(cmdline, []byte(s)) {
			continue
		}
		stat, _ := os.ReadFile(filepath.Join("/proc", e.Name(), "stat"))
		if i := bytes.LastIndexByte(stat, ')'); i > 0 && len(stat) > i+2 && (stat[i+2] == 'Z' || stat[i+2] == 'X') {
			continue
		}
		pids = append(pids, pid)
	}
	return pids
}

// startMigrator starts migrator without waiting for it, in its own process group (so the
// test can signal that process alone).
func (e *env) startMigrator(args ...string) (*exec.Cmd, *strings.Builder) {
	e.t.Helper()
	cmd := exec.Command(e.migrator, args...)
	cmd.Env = append(os.Environ(), e.simEnv...)
	var stderr strings.Builder
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		e.t.Fatal(err)
	}
	return cmd, &stderr
}

// kill -9 of "plan --scheduler local" while its tasks run leaves no "migrator work" (nor
// lfs) process behind; the rerun finishes the campaign.
func TestPlanLocalKilledLeavesNoOrphans(t *testing.T) {
	// Two shards of 150 files at 40 ms each, one at a time: a task runs for 6 s, longer
	// than the test waits for the killed plan's tasks to go.
	e := newEnv(t, "LFS_SIM_LATENCY=40ms")
	e.mktree(lfssim.TreeOptions{Files: 300, Seed: 21, SourceShare: 1})
	before := e.snapshot()
	sel := e.selected(before)
	args := e.planArgs("--scheduler", "local", "--shard-files", "150", "--array-throttle", "2", "--workers", "1")
	plan, _ := e.startMigrator(args...)
	waitFor(t, "local tasks to start", func() bool {
		locks, _ := filepath.Glob(filepath.Join(e.camp, "checkpoints", "shard-*.lock"))
		return len(locks) >= 2
	})
	tasks := procsWith(e.camp)
	var children int
	for _, pid := range tasks {
		if pid != plan.Process.Pid {
			children++
		}
	}
	if children < 2 {
		t.Fatalf("only %d task processes found running", children)
	}
	plan.Process.Signal(syscall.SIGKILL)
	plan.Wait()
	deadline := time.Now().Add(3 * time.Second)
	for {
		left := procsWith(e.camp)
		left = append(left, procsWith(e.tree)...) // lfs-sim children name the files
		if len(left) == 0 {
			break
		}
		if time.Now().After(deadline) {
			for _, pid := range left {
				syscall.Kill(pid, syscall.SIGKILL)
			}
			t.Fatalf("processes %v of the killed plan still run", left)
		}
		time.Sleep(20 * time.Millisecond)
	}
	r := e.mustRun(0, args...)
	if !strings.Contains(r.stderr, "already planned") {
		t.Errorf("the rerun did not resume the campaign: %s", r.stderr)
	}
	e.checkMigrated(before, e.snapshot(), sel)
	if st := e.status(); st.Files.Migrated != uint64(len(sel)) || !st.Files.Balanced() {
		t.Errorf("status %+v, want %d migrated", st.Files, len(sel))
	}
}

// Two retries at once: the second exits 6 naming the first, which makes the one new round.
func TestRetryOneAtATime(t *testing.T) {
	e := newEnv(t, "LFS_SIM_LATENCY=20ms")
	e.mktree(lfssim.TreeOptions{Files: 200, Seed: 22, SourceShare: 1})
	before := e.snapshot()
	sel := e.selected(before)
	e.plan("--shard-files", "50")
	first, firstErr := e.startMigrator("retry", e.camp, "--scheduler", "local")
	waitFor(t, "the first retry to take the campaign lock", func() bool {
		_, err := os.Stat(filepath.Join(e.camp, launch.CampaignLock))
		return err == nil
	})
	r := e.run("retry", e.camp, "--scheduler", "local")
	if r.code != 6 || !strings.Contains(r.stderr, "holds the campaign") || !strings.Contains(r.stderr, fmt.Sprintf("pid %d", first.Process.Pid)) ||
		strings.Count(r.stderr, "\n") != 1 {
		t.Errorf("second retry: exit %d, %q; want 6 and one line naming pid %d", r.code, r.stderr, first.Process.Pid)
	}
	if err := first.Wait(); err != nil {
		t.Fatalf("first retry: %v\n%s", err, firstErr)
	}
	if got, _ := filepath.Glob(filepath.Join(e.camp, "rounds", "*")); len(got) != 1 || filepath.Base(got[0]) != "001" {
		t.Errorf("rounds: %v, want only 001", got)
	}
	e.checkMigrated(before, e.snapshot(), sel)
	// The lock is gone with its holder: the next retry runs (and finds nothing to do).
	if r := e.mustRun(0, "retry", e.camp, "--scheduler", "local"); !strings.Contains(r.stderr, "nothing to retry") {
		t.Errorf("third retry: %s", r.stderr)
	}
}

// retry killed with SIGKILL at random moments (building its round, between rounds, while
// its tasks run), then run again until it ends: the campaign completes, every round
// directory is whole, and nothing temporary is left.
func TestRetryKilledAndRerun(t *testing.T) {
	// Four migrations at once, 20 ms each: a whole run takes 3 s, longer than all kills.
	e := newEnv(t, "LFS_SIM_LATENCY=20ms")
	e.mktree(lfssim.TreeOptions{Files: 600, Seed: 23, SourceShare: 1, HostileEvery: 15})
	before := e.snapshot()
	sel := e.selected(before)
	e.plan("--shard-files", "100", "--array-throttle", "2", "--workers", "2")
	rng := rand.New(rand.NewPCG(23, 23))
	kills, midRound := 0, 0
	for i := 0; i < 12; i++ {
		cmd, _ := e.startMigrator("retry", e.camp, "--scheduler", "local")
		wait := rng.IntN(600)
		if i%2 == 0 {
			wait = 5 + rng.IntN(40) // while it builds its round
		}
		time.Sleep(time.Duration(wait) * time.Millisecond)
		cmd.Process.Signal(syscall.SIGKILL)
		if err := cmd.Wait(); err != nil {
			kills++
		}
		if tmp, _ := filepath.Glob(filepath.Join(e.camp, "rounds", durable.TempPrefix+"*")); len(tmp) > 0 {
			midRound++
		}
		// Every round that exists is whole: an index, and shards that match it.
		rounds, _ := filepath.Glob(filepath.Join(e.camp, "rounds", "[0-9][0-9][0-9]"))
		for _, rd := range rounds {
			idx, err := manifest.ReadIndex(filepath.Join(rd, "manifests"))
			if err != nil {
				t.Fatalf("after kill %d: %s is not whole: %v", i, rd, err)
			}
			for _, s := range idx.Shards {
				if err := manifest.Verify(filepath.Join(rd, "manifests", s.File), s.SHA256); err != nil {
					t.Fatalf("after kill %d: %v", i, err)
				}
			}
		}
	}
	for i := 0; ; i++ {
		r := e.run("retry", e.camp, "--scheduler", "local")
		if r.code != 0 {
			t.Fatalf("retry after the kills: exit %d: %s", r.code, r.stderr)
		}
		if strings.Contains(r.stderr, "nothing to retry") {
			break
		}
		if i > 5 {
			t.Fatal("retry never ends")
		}
	}
	ents, _ := os.ReadDir(filepath.Join(e.camp, "rounds"))
	for _, en := range ents {
		if durable.IsTemp(en.Name()) {
			t.Errorf("left behind: rounds/%s", en.Name())
		}
	}
	e.checkMigrated(before, e.snapshot(), sel)
	e.mustRun(0, "collect", e.camp)
	if st := e.status(); st.Files.Migrated != uint64(len(sel)) || !st.Files.Balanced() || st.Files.Pending != 0 {
		t.Errorf("status %+v, want %d migrated", st.Files, len(sel))
	}
	t.Logf("%d of 12 retries killed, %d while building a round; %d rounds", kills, midRound, len(ents))
	if kills < 10 {
		t.Errorf("only %d kills landed: the test does not test much", kills)
	}
}

// A holder stopped (SIGSTOP) for long, its lock's mtime an hour old or an hour in the future
// (clock skew): a second task on the same host never steals the lock of a live process, and
// the holder, continued, finishes the shard.
func TestWorkStoppedHolderKeepsItsLock(t *testing.T) {
	e := newEnv(t, "LFS_SIM_LATENCY=20ms")
	e.mktree(lfssim.TreeOptions{Files: 150, Seed: 24, SourceShare: 1})
	before := e.snapshot()
	sel := e.selected(before)
	e.plan("--workers", "1")
	lock := filepath.Join(e.camp, "checkpoints", checkpoint.LockName(0))
	holder, holderErr := e.startMigrator("work", e.camp, "--shard", "0")
	waitFor(t, "the holder to take its lock", func() bool { _, err := os.Stat(lock); return err == nil })
	holder.Process.Signal(syscall.SIGSTOP)
	for _, skew := range []time.Duration{time.Hour, -time.Hour} {
		ts := time.Now().Add(-skew)
		os.Chtimes(lock, ts, ts)
		r := e.run("work", e.camp, "--shard", "0")
		if r.code != 6 || !strings.Contains(r.stderr, fmt.Sprintf("pid %d", holder.Process.Pid)) || !strings.Contains(r.stderr, "alive on this host") {
			t.Errorf("lock touched %v ago: second task exit %d: %s", skew, r.code, r.stderr)
		}
	}
	holder.Process.Signal(syscall.SIGCONT)
	if err := holder.Wait(); err != nil {
		t.Fatalf("holder: %v\n%s", err, holderErr)
	}
	e.checkMigrated(before, e.snapshot(), sel)
}

// A log damaged in the middle (what two writers at once could leave) blocks nothing:
// collect reports the shard as damaged, the next run sets the log aside and rebuilds it,
// re-checks the files whose records were lost, and the campaign completes.
func TestWorkDamagedLogIsSetAside(t *testing.T) {
	e := newEnv(t)
	e.mktree(lfssim.TreeOptions{Files: 120, Seed: 25, SourceShare: 1})
	before := e.snapshot()
	sel := e.selected(before)
	e.plan("--shard-files", "1000", "--workers", "1")
	e.mustRun(0, "work", e.camp, "--shard", "0")
	log := filepath.Join(e.camp, "checkpoints", checkpoint.LogName(0))
	fi, _ := os.Stat(log)
	flipByte(t, log, fi.Size()/2)
	r := e.mustRun(0, "collect", e.camp)
	if !strings.Contains(r.stdout, "round 0 shard 0: checkpoint") || !strings.Contains(r.stdout, "middle") {
		t.Errorf("collect does not report the damage:\n%s", r.stdout)
	}
	if st := e.status(); st.Shards[0].Damaged == "" || st.Files.Pending == 0 || !st.Files.Balanced() {
		t.Errorf("status of the damaged shard: %+v %+v", st.Shards[0], st.Files)
	}
	r = e.mustRun(0, "work", e.camp, "--shard", "0")
	if !strings.Contains(r.stderr, "set the damaged log aside") {
		t.Errorf("work on a damaged log: %s", r.stderr)
	}
	aside := checkpoint.SetAsideLogs(filepath.Join(e.camp, "checkpoints"), 0)
	if len(aside) != 1 {
		t.Fatalf("set aside: %v", aside)
	}
	e.mustRun(0, "collect", e.camp)
	st := e.status()
	if st.Shards[0].Damaged != "" || len(st.Shards[0].SetAside) != 1 || st.Files.Pending != 0 || st.Files.Failed != 0 ||
		st.Files.Migrated+st.Files.Skipped != uint64(len(sel)) || !st.Files.Balanced() {
		t.Errorf("after the rebuild: %+v %+v", st.Shards[0], st.Files)
	}
	e.checkMigrated(before, e.snapshot(), sel)
}

// A holder on "another node" (its lock says so) stalls, its whole process group stopped
// with SIGSTOP, for longer than the stale age; a second task watches the lock, takes it and
// runs the shard to the end; then the holder is continued. The woken holder stops at its
// next ownership check (exit 6) and appends no run end; every file is intact and off the
// sources; at most one file (the one call it had under way, with one worker) is migrated
// twice; and collect reports the shard complete.
func TestWorkLockTakenFromStalledHolderElsewhere(t *testing.T) {
	e := newEnv(t, "LFS_SIM_LATENCY=20ms", "MIGRATOR_LOCK_STALE_AFTER=2s")
	e.mktree(lfssim.TreeOptions{Files: 150, Seed: 26, SourceShare: 1})
	before := e.snapshot()
	sel := e.selected(before)
	e.plan("--workers", "1", "--batch", "1")
	lock := filepath.Join(e.camp, "checkpoints", checkpoint.LockName(0))
	a := exec.Command(e.migrator, "work", e.camp, "--shard", "0")
	a.Env = append(os.Environ(), e.simEnv...)
	a.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	var aErr strings.Builder
	a.Stderr = &aErr
	if err := a.Start(); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the holder to take its lock", func() bool { _, err := os.Stat(lock); return err == nil })
	time.Sleep(300 * time.Millisecond) // a few files in
	syscall.Kill(-a.Process.Pid, syscall.SIGSTOP)
	// Make the lock say it was taken on another node, its heartbeat an hour old by that
	// node's clock (same file: the holder still owns it).
	data, _ := os.ReadFile(lock)
	host, _ := os.Hostname()
	os.WriteFile(lock, bytes.Replace(data, []byte(`"host":"`+host+`"`), []byte(`"host":"elsewhere"`), 1), 0o600)
	old := time.Now().Add(-time.Hour)
	os.Chtimes(lock, old, old)

	t0 := time.Now()
	r := e.run("work", e.camp, "--shard", "0")
	if r.code != 0 {
		syscall.Kill(-a.Process.Pid, syscall.SIGKILL)
		t.Fatalf("second task: exit %d: %s", r.code, r.stderr)
	}
	if took := time.Since(t0); took < 2*time.Second {
		t.Errorf("the lock was taken after %v, before it was watched for the stale age", took)
	}
	syscall.Kill(-a.Process.Pid, syscall.SIGCONT)
	a.Wait()
	if code := a.ProcessState.ExitCode(); code != 6 || !strings.Contains(aErr.String(), "lock was broken") {
		t.Errorf("woken holder: exit %d: %s", code, aErr.String())
	}
	after := e.snapshot()
	twice := 0
	for p, b := range before {
		a := after[p]
		if b.Ino != a.Ino || b.SHA256 != a.SHA256 || !b.MTime.Equal(a.MTime) || b.Mode != a.Mode {
			t.Errorf("%q changed: %+v -> %+v", p, b, a)
		}
		if _, ok := sel[b.Ino]; !ok {
			continue
		}
		switch {
		case e.sources.ContainsAny(a.OSTs):
			t.Errorf("%q is still on a source OST", p)
		case a.Gen == b.Gen+2:
			twice++
		case a.Gen != b.Gen+1:
			t.Errorf("%q migrated %d times", p, a.Gen-b.Gen)
		}
	}
	if twice > 1 {
		t.Errorf("%d files migrated twice; the stalled holder had one call under way", twice)
	}
	e.mustRun(0, "collect", e.camp)
	if st := e.status(); st.Files.Migrated+st.Files.Skipped != uint64(len(sel)) || st.Files.Pending != 0 || st.Files.Failed != 0 || st.Shards[0].Damaged != "" {
		t.Errorf("status %+v, shard %+v", st.Files, st.Shards[0])
	}
	t.Logf("%d file(s) migrated a second time by the woken holder's last call", twice)
}
