package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"migrator/campaign"
	"migrator/lfssim"
	"migrator/manifest"
	"migrator/report"
	"migrator/slurm"
)

// startedShards lists the shards of a round whose task has started (they have a log).
func (e *env) startedShards(round int) map[string]bool {
	logs, _ := filepath.Glob(filepath.Join(campaign.Dir{Root: e.camp}.Round(round).Checkpoints, "shard-*.log"))
	m := map[string]bool{}
	for _, l := range logs {
		m[filepath.Base(l)] = true
	}
	return m
}

func running(tasks []slurm.Task) int {
	n := 0
	for _, t := range tasks {
		if t.State == "RUNNING" {
			n++
		}
	}
	return n
}

// The admin's controls on a real Slurm: pause mid-run (pending tasks held, no new ones
// start), resume, throttle, cancel, then retry to completion. The reports match a ground
// truth computed from the simulator tree, status.prom passes promtool, and non-UTF-8 names
// of failed files go through failures.jsonl and the retry manifests intact.
func TestControlOnSlurm(t *testing.T) {
	c := requireSlurm(t)
	e := newEnv(t, "LFS_SIM_LATENCY=40ms", "MIGRATOR_RETRY_BASE=50ms")
	e.mktree(lfssim.TreeOptions{Files: 1600, Seed: 20, HostileEvery: 6})
	before := e.snapshot()
	sel := e.selected(before)
	// Files with non-UTF-8 names are held open (busy) through round 0, so they fail.
	var busy []string
	for _, names := range sel {
		if strings.Contains(names[0], "\xff") {
			lfssim.MarkBusy(names[0], true)
			busy = append(busy, names[0])
		}
	}
	if len(busy) == 0 {
		t.Fatal("no non-UTF-8 names in the tree")
	}
	r := e.mustRun(0, e.planArgs("--shard-files", "100", "--array-throttle", "2", "--workers", "2", "--max-attempts", "2", "--time", "10")...)
	job := strings.TrimSpace(r.stdout)
	ctx := context.Background()
	waitFor(t, "a task to run", func() bool { tasks, _ := c.Tasks(ctx, job); return running(tasks) > 0 })

	// Pause: every pending task is held; the running ones finish; none starts.
	r = e.mustRun(0, "pause", e.camp)
	if !strings.Contains(r.stdout, "scontrol hold "+job) {
		t.Errorf("pause said: %s", r.stdout)
	}
	tasks, _ := c.Tasks(ctx, job)
	for _, tk := range tasks {
		if tk.State == "PENDING" && !tk.Held() {
			t.Errorf("task %s pending but not held: %s", tk.ID, tk.Reason)
		}
	}
	waitFor(t, "the running tasks to finish", func() bool { tasks, _ := c.Tasks(ctx, job); return running(tasks) == 0 })
	started := e.startedShards(0)
	time.Sleep(2 * time.Second)
	if now := e.startedShards(0); len(now) != len(started) {
		t.Errorf("tasks started while paused: %d -> %d", len(started), len(now))
	}

	// Resume, then throttle to one task at a time.
	e.mustRun(0, "resume", e.camp)
	waitFor(t, "a task to run after resume", func() bool { tasks, _ := c.Tasks(ctx, job); return running(tasks) > 0 })
	r = e.mustRun(0, "throttle", e.camp, "1")
	if !strings.Contains(r.stdout, "ArrayTaskThrottle=1") {
		t.Errorf("throttle said: %s", r.stdout)
	}
	waitFor(t, "at most one task to run", func() bool { tasks, _ := c.Tasks(ctx, job); return running(tasks) <= 1 })
	for i := 0; i < 10; i++ {
		if tasks, _ := c.Tasks(ctx, job); running(tasks) > 1 {
			t.Fatalf("%d tasks running with a throttle of 1", running(tasks))
		}
		time.Sleep(300 * time.Millisecond)
	}

	// Cancel: the array and the collect job leave the queue; the campaign is incomplete.
	r = e.mustRun(0, "cancel", e.camp)
	if !strings.Contains(r.stdout, "scancel "+job) {
		t.Errorf("cancel said: %s", r.stdout)
	}
	waitCollect(t, c, e, job)
	r = e.mustRun(0, "status", e.camp, "--json")
	var v struct {
		report.Status
		Jobs []struct {
			JobID   string `json:"job_id"`
			InQueue bool   `json:"in_queue"`
		} `json:"jobs"`
	}
	if err := json.Unmarshal([]byte(r.stdout), &v); err != nil {
		t.Fatal(err)
	}
	if v.Files.Pending == 0 || !v.Files.Balanced() || len(v.Jobs) != 2 || v.Jobs[0].InQueue {
		t.Errorf("status after cancel: %+v jobs %+v", v.Files, v.Jobs)
	}
	if r := e.run("pause", e.camp); r.code == 0 || !strings.Contains(r.stderr, "no job of the campaign is queued") {
		t.Errorf("pause with no live job: %d %s", r.code, r.stderr)
	}

	// The failed non-UTF-8 names, exactly, in failures.jsonl and the retry manifests.
	e.mustRun(0, "collect", e.camp)
	failed := map[string]bool{}
	data, _ := os.ReadFile(filepath.Join(e.camp, "reports", "failures.jsonl"))
	for _, line := range bytes.Split(bytes.TrimSpace(data), []byte("\n")) {
		var f report.Failure
		if len(line) > 0 && json.Unmarshal(line, &f) == nil {
			failed[string(f.Path)] = true
		}
	}
	retry := map[string]bool{}
	idx, err := manifest.ReadIndex(filepath.Join(e.camp, "reports", "retry"))
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range idx.Shards {
		rd, _ := manifest.OpenShard(filepath.Join(e.camp, "reports", "retry", s.File), s.SHA256)
		var en manifest.Entry
		for rd.Next(&en) == nil {
			retry[en.Path] = true
		}
		rd.Close()
	}
	isBusy := map[string]bool{}
	for _, b := range busy {
		isBusy[b] = true
	}
	for f := range failed {
		if !isBusy[f] {
			t.Errorf("%q failed, but only the busy files should", f)
		}
		if !retry[f] {
			t.Errorf("%q failed but is not in the retry manifests", f)
		}
	}
	if len(failed) == 0 || len(retry) != len(failed) {
		t.Errorf("%d failed, %d in the retry manifests", len(failed), len(retry))
	}
	t.Logf("%d of %d busy non-UTF-8 names were reached before the cancel, failed, and went through failures.jsonl and the retry manifests byte for byte", len(failed), len(busy))

	// Retry: a new round over what failed or was left; it runs to the end.
	for _, b := range busy {
		lfssim.MarkBusy(b, false)
	}
	r = e.mustRun(0, "retry", e.camp)
	job2 := strings.TrimSpace(r.stdout)
	waitCollect(t, c, e, job2)
	e.checkMigrated(before, e.snapshot(), sel)
	st := e.status()
	if st.Files.Planned != uint64(len(sel)) || st.Files.Migrated != uint64(len(sel)) || !st.Files.Balanced() || len(st.Rounds) != 2 {
		t.Errorf("final status %+v, rounds %d", st.Files, len(st.Rounds))
	}
	promtoolFile(t, filepath.Join(e.camp, "reports", "status.prom"))
}

func waitFor(t *testing.T, what string, ok func() bool) {
	t.Helper()
	deadline := time.Now().Add(90 * time.Second)
	for !ok() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

func promtoolFile(t *testing.T, path string) {
	t.Helper()
	bin, err := exec.LookPath("promtool")
	if err != nil {
		if os.Getenv("MIGRATOR_REQUIRE_PROMTOOL") == "1" {
			t.Fatal("promtool is not installed")
		}
		t.Log("promtool is not installed; status.prom not checked")
		return
	}
	data, _ := os.ReadFile(path)
	cmd := exec.Command(bin, "check", "metrics")
	cmd.Stdin = bytes.NewReader(data)
	if out, err := cmd.CombinedOutput(); err != nil || len(bytes.TrimSpace(out)) > 0 {
		t.Errorf("promtool check metrics %s: %v\n%s", path, err, out)
	}
}

// fakeSlurm puts Slurm commands on the env's PATH that record each call in the returned
// file and fail as a machine without a reachable Slurm would.
func (e *env) fakeSlurm() string {
	e.t.Helper()
	dir := filepath.Join(e.root, "fake-slurm")
	calls := filepath.Join(e.root, "slurm-calls")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		e.t.Fatal(err)
	}
	for _, name := range []string{"sbatch", "squeue", "scontrol", "scancel", "sinfo"} {
		body := "#!/bin/sh\necho \"$0 $*\" >> '" + calls + "'\necho \"" + name + ": error: Unable to contact slurm controller (connect failure)\" >&2\nexit 1\n"
		if err := os.WriteFile(filepath.Join(dir, name), []byte(body), 0o755); err != nil {
			e.t.Fatal(err)
		}
	}
	e.simEnv = append(e.simEnv, "PATH="+dir+":"+os.Getenv("PATH"))
	return calls
}

// A campaign planned with --scheduler local has no Slurm job: pause, resume, cancel and
// throttle refuse it (exit 2) in one line that says so and what to do instead, without
// asking Slurm, which need not be installed. A campaign that was submitted to a Slurm
// that does not answer gets Slurm's failure in one line naming the command.
func TestLocalCampaignControls(t *testing.T) {
	e := newEnv(t)
	e.mktree(lfssim.TreeOptions{Files: 60, Seed: 21})
	calls := e.fakeSlurm()
	e.mustRun(0, e.planArgs("--scheduler", "local", "--shard-files", "20")...)
	tests := []struct {
		args []string
		want string // what the one line must say to do instead
	}{
		{[]string{"pause", e.camp}, "Ctrl-C"},
		{[]string{"resume", e.camp}, "migrator retry " + e.camp + " --scheduler local"},
		{[]string{"cancel", e.camp}, "kill -TERM"},
		{[]string{"throttle", e.camp, "3"}, "--array-throttle"},
	}
	for _, tt := range tests {
		r := e.run(tt.args...)
		prefix := "migrator " + tt.args[0] + ": campaign " + e.camp + " runs with the local scheduler, not Slurm"
		if r.code != 2 || strings.Count(r.stderr, "\n") != 1 || !strings.HasPrefix(r.stderr, prefix) || !strings.Contains(r.stderr, tt.want) {
			t.Errorf("%v: exit %d, stderr %q; want 2 and one line starting %q with %q", tt.args, r.code, r.stderr, prefix, tt.want)
		}
	}
	// status works too, from the campaign's files alone.
	if r := e.run("status", e.camp); r.code != 0 {
		t.Errorf("status of a local campaign: exit %d, %s", r.code, r.stderr)
	}
	if data, err := os.ReadFile(calls); err == nil {
		t.Errorf("a local campaign's commands asked Slurm:\n%s", data)
	}

	// A campaign submitted to Slurm, whose Slurm no longer answers: one line, naming squeue.
	d := campaign.Dir{Root: e.camp}
	if err := d.AppendSubmission(campaign.Submission{Round: 0, Kind: "array", JobID: "4242", By: "plan"}); err != nil {
		t.Fatal(err)
	}
	r := e.run("pause", e.camp)
	if r.code != 1 || strings.Count(r.stderr, "\n") != 1 || !strings.Contains(r.stderr, "squeue: Unable to contact slurm controller (connect failure) (is slurmctld running") {
		t.Errorf("pause with Slurm unreachable: exit %d, stderr %q", r.code, r.stderr)
	}
}
