package e2e

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"migrator/checkpoint"
	"migrator/internal/slurmtest"
	"migrator/internal/testbin"
	"migrator/lfssim"
	"migrator/slurm"
)

// requireCluster returns the slurm.conf of ci/cluster.sh's three-node cluster, starting it
// (and stopping it when the test ends) unless it already runs. Without root, Slurm's
// daemons or iproute2 the test skips, unless MIGRATOR_REQUIRE_CLUSTER=1 (set by ci/test.sh
// where it can be made), in which case it fails.
func requireCluster(t *testing.T) string {
	t.Helper()
	unavailable := func(why string) {
		t.Helper()
		if os.Getenv("MIGRATOR_REQUIRE_CLUSTER") == "1" {
			t.Fatal(why)
		}
		t.Skip(why)
	}
	if os.Geteuid() != 0 {
		unavailable("the three-node cluster needs root (network namespaces, slurmd)")
	}
	for _, name := range append([]string{"ip", "nsenter", "unshare", "sinfo"}, slurmtest.Commands...) {
		if _, err := exec.LookPath(name); err != nil {
			unavailable("the three-node cluster needs " + name + " (ci/slurm.sh install): " + err.Error())
		}
	}
	for _, d := range []string{"/usr/sbin/slurmctld", "/usr/sbin/slurmd", "/usr/sbin/munged"} {
		if _, err := os.Stat(d); err != nil {
			unavailable("the three-node cluster needs " + d + " (ci/slurm.sh install)")
		}
	}
	script := filepath.Join(testbin.ModuleRoot(t), "ci", "cluster.sh")
	if exec.Command(script, "status").Run() != nil {
		out, err := exec.Command(script, "up").CombinedOutput()
		if err != nil {
			exec.Command(script, "down").Run()
			unavailable("ci/cluster.sh up: " + err.Error() + "\n" + string(out))
		}
		t.Cleanup(func() {
			if out, err := exec.Command(script, "down").CombinedOutput(); err != nil {
				t.Errorf("ci/cluster.sh down: %v\n%s", err, out)
			}
		})
	}
	env, err := exec.Command(script, "env").Output()
	if err != nil {
		t.Fatal(err)
	}
	return strings.TrimPrefix(strings.TrimSpace(string(env)), "export SLURM_CONF=")
}

// A node dies under a running campaign: on ci/cluster.sh's three nodes, six tasks run two
// per node; node2 is killed (its slurmd and every process of its tasks, SIGKILL). Slurm
// marks it down and requeues its two tasks, which run again on the survivors and continue
// from their checkpoints, taking over the locks of their dead incarnations. The campaign
// completes: every selected file is migrated exactly once (the simulator's layout
// generation), the reports balance, verify exits 0, and the checkpoints show that no shard
// had two live writers.
func TestNodeFailureOnCluster(t *testing.T) {
	t.Parallel()
	conf := requireCluster(t)
	start := time.Now()
	// About 40 s of work per shard with 2 workers; a lock unseen for 10 s is stale (the
	// requeued task also knows its dead incarnation by its restart count, at once).
	e := newEnv(t, "LFS_SIM_LATENCY=700ms", "SLURM_CONF="+conf, "MIGRATOR_LOCK_STALE_AFTER=10s")
	c := slurm.New()
	c.Env = []string{"SLURM_CONF=" + conf}
	e.mktree(lfssim.TreeOptions{Files: 6 * 120, Seed: 17, SourceShare: 1})
	before := e.snapshot()
	sel := e.selected(before)
	if len(sel) != 6*120 {
		t.Fatalf("%d files selected, want %d", len(sel), 6*120)
	}
	r := e.mustRun(0, e.planArgs("--shard-files", "120", "--workers", "2")...)
	job := strings.TrimSpace(r.stdout)

	// Wait until all six tasks hold their shards, on all three nodes, and have made
	// progress; then kill node2.
	holders := func() map[int]string {
		h := map[int]string{}
		locks, _ := filepath.Glob(filepath.Join(e.camp, "checkpoints", "shard-*.lock"))
		for _, l := range locks {
			if info, _, err := checkpoint.ReadLock(l); err == nil && info.Task >= 0 {
				h[info.Task] = info.Host
			}
		}
		return h
	}
	var held map[int]string
	waitFor(t, "six tasks on three nodes", func() bool {
		held = holders()
		hosts := map[string]bool{}
		for _, h := range held {
			hosts[h] = true
		}
		return len(held) == 6 && len(hosts) == 3
	})
	var victims []int
	for task, host := range held {
		if host == "node2" {
			victims = append(victims, task)
		}
	}
	slices.Sort(victims)
	if len(victims) == 0 {
		t.Fatalf("no task runs on node2: %v", held)
	}
	// Mid-run: each of node2's tasks has recorded a few outcomes.
	waitFor(t, "node2's tasks to make progress", func() bool {
		for _, k := range victims {
			if n, _ := e.nodeRuns(k); len(n) == 0 || n[0].outcomes < 5 {
				return false
			}
		}
		return true
	})
	script := filepath.Join(testbin.ModuleRoot(t), "ci", "cluster.sh")
	if out, err := exec.Command(script, "kill", "node2").CombinedOutput(); err != nil {
		t.Fatalf("ci/cluster.sh kill node2: %v\n%s", err, out)
	}
	killed := time.Now() // kill returns once no process is left in node2's namespace
	t.Logf("node2 killed %v after the start, under tasks %v", killed.Sub(start).Round(time.Second), victims)

	// An admin does not wait for Slurm: once the lock of node2's last task is 11 s old
	// (its holder missed its heartbeats), they run that shard by hand here, a different
	// host and no Slurm task. It must judge the lock stale (10 s untouched, then 10 s
	// watched, MIGRATOR_LOCK_STALE_AFTER) and finish the shard; the requeued Slurm task of
	// that shard, held meanwhile, then finds it done.
	byHand := victims[len(victims)-1]
	handDone := make(chan result, 1)
	go func() {
		lock := checkpoint.LockPath(filepath.Join(e.camp, "checkpoints"), byHand)
		for {
			info, age, err := checkpoint.ReadLock(lock)
			if err != nil || info.Host != "node2" || age >= 11*time.Second {
				break
			}
			time.Sleep(200 * time.Millisecond)
		}
		cmd := exec.Command(e.migrator, "work", e.camp, "--shard", strconv.Itoa(byHand))
		cmd.Env = append(os.Environ(), e.simEnv...)
		var out strings.Builder
		cmd.Stdout, cmd.Stderr = &out, &out
		err := cmd.Run()
		handDone <- result{code: exitCode(err), stderr: out.String()}
	}()

	// Slurm notices: node2 goes down.
	deadline := time.Now().Add(90 * time.Second)
	for {
		sinfo := exec.Command("sinfo", "-h", "-N", "-n", "node2", "-o", "%T")
		sinfo.Env = append(os.Environ(), "SLURM_CONF="+conf)
		out, _ := sinfo.Output()
		if strings.HasPrefix(strings.TrimSpace(string(out)), "down") {
			t.Logf("node2 down %v after the kill", time.Since(killed).Round(time.Second))
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("node2 is %q 90 s after it was killed, not down", out)
		}
		time.Sleep(time.Second)
	}
	// The requeued task of the shard run by hand waits (held) until that run is over, so
	// that the run by hand, not Slurm's restart, is what takes the dead task's lock.
	ctx := context.Background()
	handTask := job + "_" + strconv.Itoa(byHand)
	if err := c.Hold(ctx, handTask); err != nil {
		t.Errorf("holding %s: %v", handTask, err)
	}
	if r := <-handDone; r.code != 0 {
		t.Errorf("work --shard %d by hand: exit %d\n%s", byHand, r.code, r.stderr)
	}
	if err := c.Release(ctx, handTask); err != nil {
		t.Errorf("releasing %s: %v", handTask, err)
	}
	waitCollect(t, c, e, job)
	t.Logf("campaign done %v after the start", time.Since(start).Round(time.Second))

	// Every selected file migrated exactly once, nothing else touched; exact reports.
	e.checkMigrated(before, e.snapshot(), sel)
	if st := e.status(); st.Files.Migrated != uint64(len(sel)) || st.Files.Pending != 0 || st.Files.Failed != 0 || !st.Files.Balanced() {
		t.Errorf("status %+v, want %d migrated", st.Files, len(sel))
	}
	e.drained()

	// The checkpoints: each log reads cleanly and records each entry's outcome once. The
	// killed node's shards were killed mid-run and ran again elsewhere, as a later restart,
	// which started only after every process of node2 was dead and after the last record
	// of node2's run: no shard had two live writers.
	for k := 0; k < 6; k++ {
		runs, err := e.nodeRuns(k)
		if err != nil {
			t.Errorf("shard %d: %v", k, err)
			continue
		}
		var hosts []string
		total := 0
		for _, r := range runs {
			hosts = append(hosts, r.Host)
			total += r.outcomes
		}
		if total != 120 {
			t.Errorf("shard %d: %d outcomes, want 120 (one per entry)", k, total)
		}
		if !slices.Contains(victims, k) {
			if len(runs) != 1 || runs[0].Host == "node2" {
				t.Errorf("shard %d (not on node2) ran on %v", k, hosts)
			}
			continue
		}
		if len(runs) < 2 || runs[0].Host != "node2" || runs[0].outcomes == 0 || runs[0].outcomes >= 120 {
			t.Errorf("shard %d (killed on node2) ran on %v, want node2 (mid-run) then a survivor", k, hosts)
			continue
		}
		here, _ := os.Hostname()
		if k == byHand {
			// The run by hand took the lock from node2's dead task only after it was
			// stale: at least 10 s untouched (less the last heartbeat's 1.7 s before the
			// kill) and 10 s watched; any later run (the requeued task) found nothing to do.
			hand := runs[1]
			if hand.Host != here || hand.Task != -1 || hand.Time.Before(killed.Add(18*time.Second)) || hand.outcomes+runs[0].outcomes != 120 {
				t.Errorf("shard %d: run by hand on %s, task %d, at %v (node2 killed at %v), %d outcomes",
					k, hand.Host, hand.Task, hand.Time, killed, hand.outcomes)
			}
			for _, r := range runs[2:] {
				if r.outcomes != 0 || r.Restart < 1 {
					t.Errorf("shard %d: a run after the one by hand, on %s, restart %d, %d outcomes", k, r.Host, r.Restart, r.outcomes)
				}
			}
			t.Logf("shard %d: %d outcomes on node2, then %d by hand %v after the kill (runs on %v)",
				k, runs[0].outcomes, hand.outcomes, hand.Time.Sub(killed).Round(time.Second), hosts)
			continue
		}
		for i, r := range runs[1:] {
			if r.Host == "node2" || r.Restart < 1 || r.Time.Before(killed.Truncate(time.Second)) || r.Time.Before(runs[i].last) {
				t.Errorf("shard %d: a run after node2's on %s, restart %d, at %v (node2 killed at %v, its last record at %v)",
					k, r.Host, r.Restart, r.Time, killed, runs[i].last)
			}
		}
		t.Logf("shard %d: %d outcomes on node2, then %d on %v", k, runs[0].outcomes, 120-runs[0].outcomes, hosts[1:])
	}
	if left, _ := filepath.Glob(filepath.Join(e.camp, "checkpoints", "shard-*.lock*")); len(left) != 0 {
		t.Errorf("locks left behind: %v", left)
	}
	t.Logf("node-failure test took %v", time.Since(start).Round(time.Second))
}

// nodeRun is one run of a shard's task, from its checkpoint log.
type nodeRun struct {
	checkpoint.RunStart
	outcomes int       // outcomes it recorded
	last     time.Time // when it recorded its last one
}

// nodeRuns reads shard k's checkpoint log (round 0) run by run. A damaged log (records of
// two writers interleaved) is an error.
func (e *env) nodeRuns(k int) ([]nodeRun, error) {
	var runs []nodeRun
	seen := map[uint64]bool{}
	_, err := checkpoint.Read(checkpoint.LogPath(filepath.Join(e.camp, "checkpoints"), k),
		checkpoint.Header{Campaign: e.spec().ID, Shard: k, Entries: 120, ShardSHA256: e.shardSHA(0, k)},
		checkpoint.Visitor{
			RunStart: func(s *checkpoint.RunStart) error { runs = append(runs, nodeRun{RunStart: *s}); return nil },
			Outcome: func(r *checkpoint.Record) error {
				if len(runs) == 0 {
					return fmt.Errorf("outcome of entry %d before any run started", r.Index)
				}
				if seen[r.Index] {
					return fmt.Errorf("entry %d has two outcomes", r.Index)
				}
				seen[r.Index] = true
				runs[len(runs)-1].outcomes++
				runs[len(runs)-1].last = r.Time
				return nil
			},
		})
	return runs, err
}
