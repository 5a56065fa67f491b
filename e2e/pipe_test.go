package e2e

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"migrator/campaign"
	"migrator/lfssim"
)

// migrator plan ... --emit-script | sbatch: the script on stdout is job.sbatch byte for byte,
// the human output goes to stderr, the real sbatch runs it to the end, the first task records
// the job id so status and the controls find it, and collect --emit-script | sbatch
// --dependency=afterany:JOB collects. retry --emit-script does the same for a retry round.
func TestEmitScriptPipedIntoSbatch(t *testing.T) {
	e := newEnv(t)
	// sbatch passes its own environment to the job, so it gets the simulator's settings
	// (the admin's shell would have them).
	c := *requireSlurm(t)
	c.Env = append(c.Env, e.simEnv...)
	c.Env = append(c.Env, "MIGRATOR_RETRY_BASE=20ms")
	e.mktree(lfssim.TreeOptions{Files: 900, Seed: 30, HostileEvery: 9})
	before := e.snapshot()
	sel := e.selected(before)
	// A few files stay busy through the first round, so a retry round has work.
	var busy []string
	for _, names := range sel {
		if len(busy) < 3 {
			lfssim.MarkBusy(names[0], true)
			busy = append(busy, names[0])
		}
	}
	r := e.mustRun(0, e.planArgs("--emit-script", "--shard-files", "150", "--max-attempts", "1")...)
	onDisk, err := os.ReadFile(filepath.Join(e.camp, "job.sbatch"))
	if err != nil {
		t.Fatal(err)
	}
	if r.stdout != string(onDisk) {
		t.Fatalf("emitted script differs from job.sbatch:\n%s\n---\n%s", r.stdout, onDisk)
	}
	if !strings.Contains(r.stderr, "source OSTs:") || strings.Contains(r.stdout, "source OSTs:") {
		t.Error("human output is not all on stderr")
	}
	ctx := context.Background()
	job, err := c.SubmitStdin(ctx, []byte(r.stdout))
	if err != nil {
		t.Fatal(err)
	}
	coll := e.mustRun(0, "collect", e.camp, "--emit-script")
	collectJob, err := c.SubmitStdin(ctx, []byte(coll.stdout), "--dependency=afterany:"+job)
	if err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the array and collect jobs to finish", func() bool { ts, _ := c.Tasks(ctx, job, collectJob); return len(ts) == 0 })
	if _, err := os.Stat(filepath.Join(e.camp, "reports", "status.json")); err != nil {
		t.Fatalf("the hand-submitted collect job did not write the reports: %v", err)
	}

	subs, _ := campaign.Dir{Root: e.camp}.Submissions()
	if len(subs) != 1 || subs[0].JobID != job || subs[0].By != "task" || subs[0].Kind != "array" {
		t.Errorf("submissions %+v, want the array %s recorded by its first task", subs, job)
	}
	st := e.status() // written by the hand-submitted collect job
	if st.Files.Failed != uint64(len(busy)) || st.Files.Migrated != uint64(len(sel)-len(busy)) {
		t.Errorf("after round 0: %+v", st.Files)
	}
	r = e.mustRun(0, "status", e.camp)
	if !strings.Contains(r.stdout, "array job "+job) {
		t.Errorf("status does not know the hand-submitted job:\n%s", r.stdout)
	}

	for _, b := range busy {
		lfssim.MarkBusy(b, false)
	}
	r = e.mustRun(0, "retry", e.camp, "--emit-script")
	if onDisk, _ := os.ReadFile(filepath.Join(e.camp, "rounds", "001", "job.sbatch")); r.stdout != string(onDisk) || !strings.Contains(r.stdout, "--round 1") {
		t.Fatalf("retry script:\n%s", r.stdout)
	}
	job2, err := c.SubmitStdin(ctx, []byte(r.stdout))
	if err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the retry array to finish", func() bool { ts, _ := c.Tasks(ctx, job2); return len(ts) == 0 })
	e.mustRun(0, "collect", e.camp)
	e.checkMigrated(before, e.snapshot(), sel)
	if st := e.status(); st.Files.Migrated != uint64(len(sel)) || !st.Files.Balanced() {
		t.Errorf("final %+v", st.Files)
	}
}

// Before any task of a hand-submitted array starts, submissions.jsonl does not list it; the
// controls find it in squeue by the campaign's job names and directory: status shows it,
// throttle and cancel act on it, and retry refuses to start a round that it would overlap.
func TestHandSubmittedBeforeItStarts(t *testing.T) {
	e := newEnv(t)
	c := *requireSlurm(t)
	e.mktree(lfssim.TreeOptions{Files: 200, Seed: 31})
	before := e.snapshot()
	r := e.mustRun(0, e.planArgs("--emit-script", "--shard-files", "50")...)
	ctx := context.Background()
	job, err := c.SubmitStdin(ctx, []byte(r.stdout), "--hold") // held: no task starts
	if err != nil {
		t.Fatal(err)
	}
	defer c.Cancel(ctx, job)
	coll := e.mustRun(0, "collect", e.camp, "--emit-script")
	collectJob, err := c.SubmitStdin(ctx, []byte(coll.stdout), "--dependency=afterany:"+job)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Cancel(ctx, collectJob)
	if subs, _ := (campaign.Dir{Root: e.camp}).Submissions(); len(subs) != 0 {
		t.Fatalf("submissions %+v before any task ran", subs)
	}

	r = e.mustRun(0, "status", e.camp)
	if !strings.Contains(r.stdout, "array job "+job+" (submitted by hand, not started yet)") ||
		!strings.Contains(r.stdout, "collect job "+collectJob) {
		t.Errorf("status does not show the hand-submitted jobs:\n%s", r.stdout)
	}
	r = e.run("retry", e.camp, "--scheduler", "local")
	if r.code == 0 || !strings.Contains(r.stderr, job) {
		t.Errorf("retry while a hand-submitted array is queued: exit %d\n%s", r.code, r.stderr)
	}
	if _, err := os.Stat(filepath.Join(e.camp, "rounds", "001")); err == nil {
		t.Error("retry made a round that overlaps the queued array")
	}
	r = e.mustRun(0, "throttle", e.camp, "2")
	if !strings.Contains(r.stdout, job) {
		t.Errorf("throttle: %s", r.stdout)
	}
	r = e.mustRun(0, "pause", e.camp)
	if !strings.Contains(r.stdout, "scontrol hold "+job) {
		t.Errorf("pause: %s", r.stdout)
	}
	r = e.mustRun(0, "cancel", e.camp)
	if !strings.Contains(r.stdout, job) || !strings.Contains(r.stdout, collectJob) {
		t.Errorf("cancel: %s", r.stdout)
	}
	waitFor(t, "the cancelled jobs to leave the queue", func() bool { ts, _ := c.Tasks(ctx, job, collectJob); return len(ts) == 0 })
	e.checkMigrated(before, e.snapshot(), nil) // nothing ran
}
