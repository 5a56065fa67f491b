package e2e

import (
	"context"
	"encoding/json"
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

	"migrator/campaign"
	"migrator/checkpoint"
	"migrator/lfssim"
	"migrator/manifest"
)

// plan plans the tree without submitting and returns the number of shards.
func (e *env) plan(extra ...string) int {
	e.t.Helper()
	e.mustRun(0, e.planArgs(append([]string{"--no-submit"}, extra...)...)...)
	idx, err := manifest.ReadIndex(filepath.Join(e.camp, "manifests"))
	if err != nil {
		e.t.Fatal(err)
	}
	return len(idx.Shards)
}

// work runs every shard once, in order, and returns the exit codes.
func (e *env) workAll(shards int, extra ...string) []int {
	var codes []int
	for k := 0; k < shards; k++ {
		codes = append(codes, e.run(append([]string{"work", e.camp, "--shard", strconv.Itoa(k)}, extra...)...).code)
	}
	return codes
}

// Every skip reason, from files changed between plan and work.
func TestWorkSkipReasons(t *testing.T) {
	e := newEnv(t)
	var files []string
	for i := 0; i < 8; i++ {
		p := filepath.Join(e.tree, fmt.Sprintf("d/f%d", i))
		os.MkdirAll(filepath.Dir(p), 0o755)
		os.WriteFile(p, []byte("content"), 0o644)
		lfssim.SetLayout(p, lfssim.PlainLayout(2))
		files = append(files, p)
	}
	e.plan()
	os.Remove(files[0])                                                      // gone
	os.Remove(files[1])                                                      // replaced by a symlink
	os.Symlink(files[7], files[1])                                           //
	os.Remove(files[2])                                                      // replaced by another file
	os.WriteFile(files[2], []byte("new"), 0o644)                             //
	lfssim.SetLayout(files[2], lfssim.PlainLayout(3))                        //
	lfssim.SetLayout(files[3], lfssim.PlainLayout(6))                        // moved off the sources by someone
	exec.Command(e.sim, "hsm_set", "--exists", "--archived", files[4]).Run() // released by HSM
	exec.Command(e.sim, "hsm_release", files[4]).Run()
	os.Remove(files[5]) // replaced by a FIFO
	syscall.Mkfifo(files[5], 0o644)
	before := e.snapshot()
	e.mustRun(0, "work", e.camp, "--shard", "0")
	e.mustRun(0, "collect", e.camp)
	st := e.status()
	// Files are known by FID: one whose name now holds a symlink, a FIFO or another file,
	// and that is found nowhere else, is gone.
	want := map[string]uint64{"gone": 4, "not-regular": 0, "fid-changed": 0, "off-source": 1, "hsm-released": 1,
		"excluded": 0, "hardlink-done": 0, "moved-out": 0}
	for k, v := range want {
		if st.SkippedByReason[k] != v {
			t.Errorf("skipped %s: %d, want %d", k, st.SkippedByReason[k], v)
		}
	}
	if st.Files.Migrated != 2 || st.Files.Skipped != 6 || !st.Files.Balanced() {
		t.Errorf("files %+v", st.Files)
	}
	after := e.snapshot()
	if restored, _ := lfssim.Restored(files[4]); restored {
		t.Error("the released file was restored from the archive")
	}
	for _, f := range files[1:6] {
		if after[f].Gen != before[f].Gen {
			t.Errorf("%s was migrated", f)
		}
	}
	if e.sources.ContainsAny(after[files[6]].OSTs) || e.sources.ContainsAny(after[files[7]].OSTs) {
		t.Error("the unchanged files were not migrated")
	}
}

// A file that lfs find cannot check before migrating is a failure (retryable, with lfs's
// errno), never a skip: "lfs said nothing" is not "off the source OSTs". A retry round
// migrates it once lfs can read it again.
func TestWorkUncheckableFileFails(t *testing.T) {
	// 2.14: no lfs find --printf, so the check is path2fid and a batched lfs find -O.
	for _, version := range []string{"2.16.0", "2.14.0"} {
		t.Run(version, func(t *testing.T) { testWorkUncheckableFile(t, version) })
	}
}

func testWorkUncheckableFile(t *testing.T, version string) {
	e := newEnv(t, "LFS_SIM_VERSION="+version)
	var files []string
	for _, n := range []string{"a", "unreadable\tone", "b"} {
		p := filepath.Join(e.tree, "d", n)
		os.MkdirAll(filepath.Dir(p), 0o755)
		os.WriteFile(p, []byte("content "+n), 0o644)
		lfssim.SetLayout(p, lfssim.PlainLayout(2))
		files = append(files, p)
	}
	before := e.snapshot()
	e.plan("--stripe-count", "1") // clients before 2.16 need an explicit layout
	faulty := *e
	faulty.simEnv = append(append([]string{}, e.simEnv...), "LFS_SIM_FIND_FAIL=unreadable")
	if r := faulty.run("work", e.camp, "--shard", "0"); r.code != 3 {
		t.Fatalf("work: exit %d, want 3 (a file failed)\n%s", r.code, r.stderr)
	}
	e.mustRun(0, "collect", e.camp)
	st := e.status()
	if st.Files.Migrated != 2 || st.Files.Failed != 1 || st.Files.Skipped != 0 || st.FailedByClass["io"] != 1 { // EIO has a class of its own
		t.Errorf("files %+v, failed by class %v", st.Files, st.FailedByClass)
	}
	if after := e.snapshot(); after[files[1]].Gen != before[files[1]].Gen {
		t.Error("the file lfs could not check was migrated")
	}
	fails, err := os.ReadFile(filepath.Join(e.camp, "reports", "failures.jsonl"))
	if err != nil || !strings.Contains(string(fails), `"errno":5`) {
		t.Errorf("failures.jsonl: %s %v", fails, err)
	}
	e.mustRun(0, "retry", e.camp, "--scheduler", "local")
	e.checkMigrated(before, e.snapshot(), e.selected(before))
}

// Files open for write fail with EBUSY under lfs migrate -n; they are retried with backoff
// and migrated once free. One that stays busy fails as retryable after the last attempt.
func TestWorkRetriesBusyFiles(t *testing.T) {
	e := newEnv(t)
	e.mktree(lfssim.TreeOptions{Files: 60, Seed: 7, SourceShare: 1})
	before := e.snapshot()
	sel := e.selected(before)
	e.plan()
	var busy []string
	for _, names := range sel {
		busy = append(busy, names[0])
	}
	for _, p := range busy[:6] {
		lfssim.MarkBusy(p, true)
	}
	// One is really held open for write by a process (the kernel lease says so).
	holder, err := os.OpenFile(busy[6], os.O_WRONLY|os.O_APPEND, 0)
	if err != nil {
		t.Fatal(err)
	}
	go func() {
		time.Sleep(400 * time.Millisecond)
		for _, p := range busy[1:6] {
			lfssim.MarkBusy(p, false)
		}
		holder.Close()
	}()
	r := e.run("work", e.camp, "--shard", "0", "--retry-base", "100ms")
	if r.code != 3 { // one file failed
		t.Fatalf("exit %d: %s", r.code, r.stderr)
	}
	e.mustRun(0, "collect", e.camp)
	st := e.status()
	if st.Files.Failed != 1 || st.FailedByClass["retry-later"] != 1 || st.Files.Migrated != uint64(len(sel)-1) {
		t.Errorf("files %+v, failed by class %v", st.Files, st.FailedByClass)
	}
	data, _ := os.ReadFile(filepath.Join(e.camp, "reports", "failures.jsonl"))
	if !strings.Contains(string(data), "cannot get lease") || !strings.Contains(string(data), `"retryable":true`) {
		t.Errorf("failures.jsonl: %s", data)
	}
	// The retry manifest holds the one file, ready for a retry round.
	lfssim.MarkBusy(busy[0], false)
	idx, err := manifest.ReadIndex(filepath.Join(e.camp, "reports", "retry"))
	if err != nil || idx.Files != 1 {
		t.Errorf("retry manifest: %+v %v", idx, err)
	}
}

// SIGKILL of a task (and its lfs children, as Slurm would) at random moments, then a rerun,
// dozens of times: the shard completes, every file migrated exactly once, none damaged.
func TestWorkKilledAtRandom(t *testing.T) {
	e := newEnv(t, "LFS_SIM_LATENCY=25ms")
	e.mktree(lfssim.TreeOptions{Files: 1500, Seed: 8, HostileEvery: 12, SourceShare: 0.8, MaxSize: 256 << 10})
	before := e.snapshot()
	sel := e.selected(before)
	shards := e.plan("--shard-files", "300", "--workers", "4")
	rng := rand.New(rand.NewPCG(8, 8))
	kills, runs := 0, 0
	for done := false; !done; {
		done = true
		for k := 0; k < shards; k++ {
			cmd := exec.Command(e.migrator, "work", e.camp, "--shard", strconv.Itoa(k))
			cmd.Env = append(os.Environ(), e.simEnv...)
			cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			runs++
			wantKill := kills < 30
			timer := time.AfterFunc(time.Duration(rng.IntN(400))*time.Millisecond, func() {
				if wantKill {
					syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
				}
			})
			err := cmd.Wait()
			timer.Stop()
			if ws, ok := cmd.ProcessState.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
				kills++
				done = false
				continue
			}
			if err != nil {
				t.Fatalf("shard %d: %v", k, err)
			}
		}
	}
	if kills < 20 {
		t.Errorf("only %d kills: the test does not test much", kills)
	}
	e.mustRun(0, "collect", e.camp)
	e.checkMigrated(before, e.snapshot(), sel)
	st := e.status()
	// Files moved by a killed run before it could record so count as migrated (the run
	// recorded its attempt); none is skipped, none failed, none left.
	if st.Files.Migrated != uint64(len(sel)) || !st.Files.Balanced() {
		t.Errorf("status %+v", st.Files)
	}
	t.Logf("%d runs, %d killed with SIGKILL", runs, kills)
}

// SIGTERM (scancel, preemption): the task stops taking files, lets running ones finish,
// flushes its checkpoint and exits 5; a rerun continues from there.
func TestWorkSIGTERMCheckpoints(t *testing.T) {
	e := newEnv(t, "LFS_SIM_LATENCY=20ms")
	e.mktree(lfssim.TreeOptions{Files: 300, Seed: 9, SourceShare: 1})
	before := e.snapshot()
	sel := e.selected(before)
	e.plan("--workers", "2")
	cmd := exec.Command(e.migrator, "work", e.camp, "--shard", "0", "--grace", "5s")
	cmd.Env = append(os.Environ(), e.simEnv...)
	var stderr strings.Builder
	cmd.Stderr = &stderr
	cmd.Start()
	time.Sleep(700 * time.Millisecond)
	cmd.Process.Signal(syscall.SIGTERM)
	start := time.Now()
	cmd.Wait()
	if code := cmd.ProcessState.ExitCode(); code != 5 || time.Since(start) > 5*time.Second {
		t.Fatalf("exit %d after %v: %s", code, time.Since(start), stderr.String())
	}
	done, _, err := checkpoint.LoadDone(filepath.Join(e.camp, "checkpoints", checkpoint.LogName(0)),
		checkpoint.Header{Campaign: e.spec().ID, Shard: 0, Entries: uint64(len(sel)), ShardSHA256: e.shardSHA(0, 0)})
	if err != nil || done.Count() == 0 || done.Count() == uint64(len(sel)) {
		t.Fatalf("checkpoint after SIGTERM: %d of %d done, %v", done.Count(), len(sel), err)
	}
	r := e.mustRun(0, "work", e.camp, "--shard", "0")
	if !strings.Contains(r.stderr, fmt.Sprintf("%d done before this run", done.Count())) {
		t.Errorf("rerun did not continue from the checkpoint: %s", r.stderr)
	}
	e.checkMigrated(before, e.snapshot(), sel)
}

// shardSHA returns the SHA-256 index.json records for shard k of round n.
func (e *env) shardSHA(n, k int) string {
	e.t.Helper()
	idx, err := manifest.ReadIndex(campaign.Dir{Root: e.camp}.Round(n).Manifests)
	if err != nil {
		e.t.Fatal(err)
	}
	return idx.Shards[k].SHA256
}

func (e *env) spec() *campaign.Spec {
	e.t.Helper()
	s, err := campaign.Dir{Root: e.camp}.Load()
	if err != nil {
		e.t.Fatal(err)
	}
	return s
}

// Two tasks on one shard: the second refuses at once, naming the first.
func TestWorkTwoTasksOneShard(t *testing.T) {
	e := newEnv(t, "LFS_SIM_LATENCY=50ms")
	e.mktree(lfssim.TreeOptions{Files: 100, Seed: 10, SourceShare: 1})
	e.plan("--workers", "1")
	first := exec.Command(e.migrator, "work", e.camp, "--shard", "0")
	first.Env = append(os.Environ(), e.simEnv...)
	first.Start()
	defer func() { first.Process.Signal(syscall.SIGTERM); first.Wait() }()
	time.Sleep(300 * time.Millisecond)
	r := e.run("work", e.camp, "--shard", "0")
	if r.code != 6 || !strings.Contains(r.stderr, fmt.Sprintf("pid %d", first.Process.Pid)) {
		t.Errorf("second task: exit %d: %s", r.code, r.stderr)
	}
}

// Bad input: one line naming the file, exit 2, nothing migrated.
func TestWorkBadInput(t *testing.T) {
	e := newEnv(t)
	e.mktree(lfssim.TreeOptions{Files: 300, Seed: 11, SourceShare: 1})
	shards := e.plan("--shard-files", "100")
	before := e.snapshot()
	man := filepath.Join(e.camp, "manifests")
	ckpt := filepath.Join(e.camp, "checkpoints")
	e.mustRun(0, "work", e.camp, "--shard", "1") // gives shard 1 a checkpoint to misuse
	before1 := e.snapshot()
	_ = before
	tests := []struct {
		name  string
		setup func()
		undo  func()
		args  []string
		msg   string
	}{
		{"corrupt shard", func() { flipByte(t, filepath.Join(man, manifest.ShardName(0)), 40) },
			func() { flipByte(t, filepath.Join(man, manifest.ShardName(0)), 40) }, nil, manifest.ShardName(0)},
		{"truncated shard", func() {
			os.Rename(filepath.Join(man, manifest.ShardName(2)), filepath.Join(e.root, "s2"))
			copyPrefix(t, filepath.Join(e.root, "s2"), filepath.Join(man, manifest.ShardName(2)), 100)
		},
			func() { os.Rename(filepath.Join(e.root, "s2"), filepath.Join(man, manifest.ShardName(2))) }, []string{"--shard", "2"}, manifest.ShardName(2)},
		{"checkpoint of another shard", func() {
			copyFile(t, filepath.Join(ckpt, checkpoint.LogName(1)), filepath.Join(ckpt, checkpoint.LogName(0)))
		},
			func() { os.Remove(filepath.Join(ckpt, checkpoint.LogName(0))) }, nil, "belongs to"},
		{"incompatible campaign version", func() { editSpec(t, e.camp, `"format": 2`, `"format": 99`) },
			func() { editSpec(t, e.camp, `"format": 99`, `"format": 2`) }, nil, "campaign format 99"},
		// A flipped byte in the OST list: refused, never "skipped: off-source" (issue 12).
		{"campaign.json damaged", func() { rawEdit(t, filepath.Join(e.camp, campaign.SpecFile), `"osts": "2,3"`, `"osts": "2,4"`) },
			func() { rawEdit(t, filepath.Join(e.camp, campaign.SpecFile), `"osts": "2,4"`, `"osts": "2,3"`) }, nil, campaign.SpecFile},
		{"index.json damaged", func() { rawEdit(t, filepath.Join(man, manifest.IndexFile), `"files": 100,`, `"files": 101,`) },
			func() { rawEdit(t, filepath.Join(man, manifest.IndexFile), `"files": 101,`, `"files": 100,`) }, nil, manifest.IndexFile},
		{"missing lfs", func() { editSpec(t, e.camp, e.sim, "/nonexistent/lfs") },
			func() { editSpec(t, e.camp, "/nonexistent/lfs", e.sim) }, nil, "/nonexistent/lfs"},
		{"no such shard", nil, nil, []string{"--shard", strconv.Itoa(shards)}, "does not exist"},
		{"not a campaign", nil, nil, []string{"--shard", "0", e.root}, "not a campaign"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tt.setup != nil {
				tt.setup()
			}
			args := []string{"work", e.camp, "--shard", "0"}
			if len(tt.args) > 0 {
				args = append([]string{"work", e.camp}, tt.args...)
				if tt.args[len(tt.args)-1] == e.root {
					args = []string{"work", e.root, "--shard", "0"}
				}
			}
			r := e.run(args...)
			if tt.undo != nil {
				tt.undo()
			}
			if r.code != 2 || strings.Count(r.stderr, "\n") != 1 || !strings.Contains(r.stderr, tt.msg) {
				t.Errorf("exit %d, stderr %q, want 2 and one line containing %q", r.code, r.stderr, tt.msg)
			}
			e.checkMigrated(before1, e.snapshot(), nil)
		})
	}
}

func flipByte(t *testing.T, path string, off int64) {
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	b := make([]byte, 1)
	f.ReadAt(b, off)
	b[0] ^= 0xff
	f.WriteAt(b, off)
}

func copyPrefix(t *testing.T, from, to string, n int) {
	data, err := os.ReadFile(from)
	if err != nil {
		t.Fatal(err)
	}
	os.WriteFile(to, data[:n], 0o600)
}

func copyFile(t *testing.T, from, to string) {
	copyPrefix(t, from, to, int(must(os.Stat(from)).Size()))
}

func must[T any](v T, err error) T {
	if err != nil {
		panic(err)
	}
	return v
}

// editSpec changes campaign.json as an admin with an editor and the checksum would: the
// result is a valid campaign.json that says something else.
func editSpec(t *testing.T, camp, old, new string) {
	p := filepath.Join(camp, campaign.SpecFile)
	rawEdit(t, p, old, new)
	var s campaign.Spec
	if err := json.Unmarshal(must(os.ReadFile(p)), &s); err != nil {
		t.Fatal(err)
	}
	if err := (campaign.Dir{Root: camp}).Save(&s); err != nil {
		t.Fatal(err)
	}
}

// rawEdit replaces the first old in the file at p by new, as a flipped byte would.
func rawEdit(t *testing.T, p, old, new string) {
	data, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(data), old) {
		t.Fatalf("%s lacks %q:\n%s", p, old, data)
	}
	os.WriteFile(p, []byte(strings.Replace(string(data), old, new, 1)), 0o600)
}

// ENOSPC on the targets stops the task cleanly (exit 4), files stay pending, and a rerun
// once there is room completes the shard.
func TestWorkNoSpaceStops(t *testing.T) {
	e := newEnv(t)
	e.mktree(lfssim.TreeOptions{Files: 200, Seed: 12, SourceShare: 1})
	before := e.snapshot()
	sel := e.selected(before)
	e.plan()
	full := *e
	full.simEnv = append(append([]string{}, e.simEnv...), "LFS_SIM_NOSPACE=1")
	r := full.run("work", e.camp, "--shard", "0")
	if r.code != 4 || !strings.Contains(r.stderr, "out of space") {
		t.Fatalf("exit %d: %s", r.code, r.stderr)
	}
	e.mustRun(0, "collect", e.camp)
	if st := e.status(); st.Files.Pending != uint64(len(sel)) || st.Files.Failed != 0 {
		t.Errorf("after ENOSPC: %+v (nothing may be recorded failed)", st.Files)
	}
	e.mustRun(0, "work", e.camp, "--shard", "0")
	e.checkMigrated(before, e.snapshot(), sel)
}

// A run of identical failures (the filesystem went away) stops the task instead of failing
// every file of the shard.
func TestWorkErrorStreakStops(t *testing.T) {
	e := newEnv(t, "LFS_SIM_FAIL_EVERY=1", "LFS_SIM_FAIL_ERRNO=EIO")
	e.mktree(lfssim.TreeOptions{Files: 200, Seed: 13, SourceShare: 1})
	sel := e.selected(e.snapshot())
	e.plan("--workers", "1")
	r := e.run("work", e.camp, "--shard", "0")
	if r.code != 4 || !strings.Contains(r.stderr, "identical failures") {
		t.Fatalf("exit %d: %s", r.code, r.stderr)
	}
	e.mustRun(0, "collect", e.camp)
	st := e.status()
	if st.Files.Failed < 50 || st.Files.Failed > 60 || st.Files.Pending < uint64(len(sel))-60 {
		t.Errorf("files %+v", st.Files)
	}
}

// A migration that takes longer than --file-timeout is stopped and retried, then failed
// as retryable.
func TestWorkFileTimeout(t *testing.T) {
	e := newEnv(t, "LFS_SIM_LATENCY=3s")
	e.mktree(lfssim.TreeOptions{Files: 4, Seed: 14, SourceShare: 1})
	before := e.snapshot()
	e.plan("--file-timeout", "200ms", "--workers", "4")
	start := time.Now()
	r := e.run("work", e.camp, "--shard", "0", "--retry-base", "50ms")
	if r.code != 3 || time.Since(start) > 20*time.Second {
		t.Fatalf("exit %d after %v: %s", r.code, time.Since(start), r.stderr)
	}
	e.mustRun(0, "collect", e.camp)
	data, _ := os.ReadFile(filepath.Join(e.camp, "reports", "failures.jsonl"))
	if st := e.status(); st.FailedByClass["retry-later"] == 0 || !strings.Contains(string(data), "timed out") {
		t.Errorf("failures: %s", data)
	}
	e.checkMigrated(before, e.snapshot(), nil) // timed-out migrations leave the files as they were
}

// With an explicit target layout, several files go per lfs migrate call; names with a
// newline still go alone. Every file is migrated exactly once.
func TestWorkBatched(t *testing.T) {
	e := newEnv(t)
	e.mktree(lfssim.TreeOptions{Files: 800, Seed: 15, HostileEvery: 8, SourceShare: 0.9})
	before := e.snapshot()
	sel := e.selected(before)
	e.plan("--stripe-count", "1", "--batch", "16")
	e.mustRun(0, "work", e.camp, "--shard", "0")
	e.checkMigrated(before, e.snapshot(), sel)
}

// A dry run checks every file and records what it would migrate, changing nothing.
func TestWorkDryRun(t *testing.T) {
	e := newEnv(t)
	e.mktree(lfssim.TreeOptions{Files: 300, Seed: 16})
	before := e.snapshot()
	sel := e.selected(before)
	e.mustRun(0, e.planArgs("--dry-run", "--scheduler", "local")...)
	e.checkMigrated(before, e.snapshot(), nil)
	st := e.status()
	if !st.DryRun || st.Files.WouldMigrate != uint64(len(sel)) || st.Files.Migrated != 0 || !st.Files.Balanced() {
		t.Errorf("dry run status %+v", st.Files)
	}
}

var _ = context.Background
