package e2e

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"migrator/cmd/status"
	"migrator/lfssim"
	"migrator/manifest"
	"migrator/progress"
	"migrator/triage"
)

// Every piece of advice status gives is safe to follow. Here: round 0 is left half done,
// a retry round takes its unfinished files over and runs to the end. status used to list
// round 0's shards as "not queued (rerun it, or migrator retry)"; following that (work
// --round 0) was accepted, and collect, status and retry then failed for good with "the
// counts do not add up". Now status says the shards are superseded, work refuses the
// round and names the one to run, and every command goes on working.
func TestAdviceIsSafeToFollow(t *testing.T) {
	e := newEnv(t)
	e.mktree(lfssim.TreeOptions{Files: 300, Seed: 61})
	before := e.snapshot()
	sel := e.selected(before)
	r := e.mustRun(0, e.planArgs("--no-submit", "--shard-files", "50")...)
	// The reminder names the real parameters of the source OSTs (2 and 3 of simfs).
	if want := "lctl set_param osp.simfs-OST0002-osc-MDT*.max_create_count=0 osp.simfs-OST0003-osc-MDT*.max_create_count=0"; !strings.Contains(r.stderr, want) {
		t.Errorf("plan's reminder does not say %q:\n%s", want, r.stderr)
	}
	idx, err := manifest.ReadIndex(filepath.Join(e.camp, "manifests"))
	if err != nil {
		t.Fatal(err)
	}
	shards := len(idx.Shards)
	if shards < 3 {
		t.Fatalf("%d shards; the test needs 3 or more", shards)
	}

	// Before anything ran: every shard was never submitted, and status says how to submit.
	var v status.View
	if err := json.Unmarshal([]byte(e.mustRun(0, "status", e.camp, "--json").stdout), &v); err != nil {
		t.Fatal(err)
	}
	if len(v.Unfinished) != shards || v.Unfinished[0].State != triage.NeverSubmitted || !strings.Contains(v.Unfinished[0].Next, "without --no-submit") {
		t.Errorf("unfinished before any run: %+v", v.Unfinished)
	}

	e.mustRun(0, "work", e.camp, "--shard", "0")
	e.mustRun(0, "retry", e.camp, "--scheduler", "local") // round 1: shards 1.. of round 0, run here
	e.checkMigrated(before, e.snapshot(), sel)

	r = e.mustRun(0, "status", e.camp)
	if strings.Contains(r.stdout, "rerun it") || strings.Contains(r.stdout, "--round 0") {
		t.Errorf("status still advises rerunning round 0:\n%s", r.stdout)
	}
	if want := "round 0: " + progress.Plural(shards-1, "shard") + " superseded by round 1"; !strings.Contains(r.stdout, want) {
		t.Errorf("status does not say %q:\n%s", want, r.stdout)
	}
	v = status.View{}
	if err := json.Unmarshal([]byte(e.mustRun(0, "status", e.camp, "--json").stdout), &v); err != nil {
		t.Fatal(err)
	}
	for _, u := range v.Unfinished {
		if u.Round != 0 || u.State != triage.Superseded || u.SupersededBy != 1 || u.Next != "" {
			t.Errorf("unfinished %+v; want round 0 superseded by round 1 with nothing to do", u)
		}
	}
	if len(v.Unfinished) != shards-1 {
		t.Errorf("%d unfinished shards listed, want %d", len(v.Unfinished), shards-1)
	}

	// The old advice: refused, in one line naming the round to run; nothing is written.
	r = e.run("work", e.camp, "--round", "0", "--shard", "1")
	if r.code != 2 || strings.Count(r.stderr, "\n") != 1 || !strings.Contains(r.stderr, "superseded by round 1") ||
		!strings.Contains(r.stderr, "--round 1") {
		t.Errorf("work on a superseded round: exit %d, stderr %q", r.code, r.stderr)
	}
	if e.startedShards(0)["shard-000001.log"] {
		t.Error("the refused run wrote round 0 shard 1's checkpoint")
	}

	// And everything still works, with counts that add up.
	e.mustRun(0, "collect", e.camp)
	e.mustRun(0, "status", e.camp)
	if r := e.mustRun(0, "retry", e.camp, "--scheduler", "local"); !strings.Contains(r.stderr, "nothing to retry") {
		t.Errorf("retry: %s", r.stderr)
	}
	st := e.status()
	if st.Files.Planned != uint64(len(sel)) || st.Files.Migrated != uint64(len(sel)) || !st.Files.Balanced() || st.Inconsistency != "" {
		t.Errorf("final status %+v %q", st.Files, st.Inconsistency)
	}
}

// status --watch ends by itself once a dry run is done (its would-migrate files are
// pending forever, by design); --json --watch prints one JSON document per line; and
// nothing runs, so there is no ETA.
func TestStatusWatch(t *testing.T) {
	e := newEnv(t)
	e.mktree(lfssim.TreeOptions{Files: 200, Seed: 62})
	e.mustRun(0, e.planArgs("--scheduler", "local", "--dry-run", "--shard-files", "60")...)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	r := e.runCtx(ctx, "status", e.camp, "--watch", "--json", "--interval", "50ms")
	if ctx.Err() != nil || r.code != 0 {
		t.Fatalf("status --watch of a finished dry run did not end: exit %d, %v\n%s", r.code, ctx.Err(), r.stderr)
	}
	lines := strings.Split(strings.TrimSuffix(r.stdout, "\n"), "\n")
	var v struct {
		status.View
		ETA *float64 `json:"eta_seconds"`
	}
	if len(lines) != 1 || json.Unmarshal([]byte(lines[0]), &v) != nil {
		t.Fatalf("want one JSON document on one line, got %d lines:\n%.500s", len(lines), r.stdout)
	}
	if !v.DryRun || v.Files.WouldMigrate == 0 || v.Files.Pending != v.Files.WouldMigrate || v.ETA != nil || v.RunningShards != 0 {
		t.Errorf("finished dry run: dry %v, files %+v, eta %v, running %d", v.DryRun, v.Files, v.ETA, v.RunningShards)
	}

	// A campaign that is not finished is watched until interrupted: a document per line.
	e.camp += "-2"
	e.mustRun(0, e.planArgs("--no-submit", "--shard-files", "60")...)
	ctx, cancel = context.WithTimeout(context.Background(), 1500*time.Millisecond)
	defer cancel()
	r = e.runCtx(ctx, "status", e.camp, "--watch", "--json", "--interval", "100ms")
	lines = strings.Split(r.stdout, "\n")
	lines = lines[:len(lines)-1] // the complete lines: the kill may have cut the last one
	if len(lines) < 3 {
		t.Fatalf("%d documents in 1.5 s at 100 ms:\n%.500s", len(lines), r.stdout)
	}
	for i, l := range lines {
		var v status.View
		if err := json.Unmarshal([]byte(l), &v); err != nil || v.Files.Planned == 0 {
			t.Errorf("line %d is not a status document: %v\n%.200s", i, err, l)
		}
	}
}

// A campaign wedged the old way (a superseded shard run after the later round was made)
// still reports: collect recognises the late run by its time and leaves it out; where it
// cannot (the index's time says the run came first), collect writes every report anyway,
// says the counts do not add up, with the numbers and a way out, and exits 1, and status
// and retry go on working.
func TestWedgedCampaignStillReports(t *testing.T) {
	e := newEnv(t)
	e.mktree(lfssim.TreeOptions{Files: 200, Seed: 63})
	e.plan("--shard-files", "60")
	e.mustRun(0, "work", e.camp, "--shard", "0")
	e.mustRun(0, "retry", e.camp, "--scheduler", "local")
	// What an older migrator allowed: round 0's shard 1 run after round 1 took it over.
	rounds := filepath.Join(e.camp, "rounds")
	if err := os.Rename(rounds, rounds+".away"); err != nil {
		t.Fatal(err)
	}
	e.mustRun(0, "work", e.camp, "--round", "0", "--shard", "1")
	if err := os.Rename(rounds+".away", rounds); err != nil {
		t.Fatal(err)
	}

	// Detected: the run started after round 1's index was written.
	r := e.mustRun(0, "collect", e.camp)
	if st := e.status(); st.LateRuns != 1 || st.Inconsistency != "" || !st.Files.Balanced() {
		t.Errorf("late run not left out: late %d, %q, %+v", st.LateRuns, st.Inconsistency, st.Files)
	}
	if !strings.Contains(r.stdout, "note: 1 run of shards a later round had taken over (round 0 shard 1) not counted") {
		t.Errorf("collect does not say it left a run out:\n%s", r.stdout)
	}

	// Undetectable: round 1's index looks newer than the run.
	index := filepath.Join(rounds, "001", "manifests", manifest.IndexFile)
	later := time.Now().Add(time.Hour)
	if err := os.Chtimes(index, later, later); err != nil {
		t.Fatal(err)
	}
	r = e.run("collect", e.camp)
	// (Before the error, collect may say it sweeps: the records claim nothing is left.)
	if last := lastLine(r.stderr); r.code != 1 || !strings.HasPrefix(last, "migrator collect: the counts do not add up: migrated ") ||
		!strings.Contains(last, "a new campaign planned over the same OSTs") {
		t.Errorf("collect with counts that do not add up: exit %d, stderr %q", r.code, r.stderr)
	}
	st := e.status() // written all the same
	if st.Inconsistency == "" || st.Files.Balanced() {
		t.Errorf("status.json: %q %+v", st.Inconsistency, st.Files)
	}
	if r := e.mustRun(0, "status", e.camp); !strings.Contains(r.stdout, "inconsistency: the counts do not add up") {
		t.Errorf("status does not show the inconsistency:\n%s", r.stdout)
	}
	e.mustRun(0, "retry", e.camp, "--scheduler", "local")
}
