package e2e

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"migrator/campaign"
	"migrator/checkpoint"
	"migrator/lfssim"
	"migrator/manifest"
)

// index.json lost, then the same plan again (issue 12): the rescan must not meet the old
// checkpoints. With outcomes recorded, plan refuses (exit 2, one line saying how to recover)
// and changes nothing; a checkpoint of the old shard 0 never counts for a new shard 0.
func TestPlanRerunAfterIndexLost(t *testing.T) {
	e := newEnv(t)
	e.mktree(lfssim.TreeOptions{Files: 200, Seed: 21, SourceShare: 1})
	shards := e.plan("--shard-files", "100")
	if shards != 2 {
		t.Fatalf("%d shards, want 2", shards)
	}
	man := filepath.Join(e.camp, "manifests")
	ckpt := filepath.Join(e.camp, "checkpoints")
	e.mustRun(0, "work", e.camp, "--shard", "0")
	before := e.snapshot()

	// Without the index, and a log of shard 0 with outcomes: refused.
	os.Rename(filepath.Join(man, manifest.IndexFile), filepath.Join(e.root, "index.json"))
	r := e.run(e.planArgs("--no-submit", "--shard-files", "100")...)
	// Its advice must lead somewhere: plan --update cannot top up a campaign whose only
	// round is lost (it says to run plan), so it is not offered; a backup or a new campaign is.
	if last := lastLine(r.stderr); r.code != 2 || strings.Contains(last, "plan --update") || !strings.Contains(last, "backup") || !strings.Contains(last, "200 outcomes and attempts") {
		t.Fatalf("plan rerun without index.json: exit %d, stderr %q; want 2 and one line naming a backup, not plan --update", r.code, r.stderr)
	}
	if r := e.run("plan", e.camp, "--update", "--no-submit", "--scheduler", "local"); r.code != 2 {
		t.Fatalf("plan --update without round 0's index: exit %d, stderr %q", r.code, r.stderr)
	}
	if _, err := os.Stat(filepath.Join(man, manifest.IndexFile)); err == nil {
		t.Errorf("the refused plan wrote an index")
	}
	e.checkMigrated(before, e.snapshot(), nil)

	// A damaged index is never rescanned over either.
	os.Rename(filepath.Join(e.root, "index.json"), filepath.Join(man, manifest.IndexFile))
	rawEdit(t, filepath.Join(man, manifest.IndexFile), `"files": 100,`, `"files": 99,`)
	r = e.run(e.planArgs("--no-submit", "--shard-files", "100")...)
	if r.code != 2 || !strings.Contains(r.stderr, manifest.IndexFile) {
		t.Fatalf("plan rerun with a damaged index.json: exit %d, stderr %q", r.code, r.stderr)
	}

	// Logs that record no work (a run start only) do not stand in the way: they are
	// removed, and the rescan's shard 0 gets a fresh log bound to its own hash.
	os.Remove(filepath.Join(man, manifest.IndexFile))
	os.Remove(filepath.Join(ckpt, checkpoint.LogName(0)))
	w, _, err := checkpoint.OpenWriter(filepath.Join(ckpt, checkpoint.LogName(1)),
		checkpoint.Header{Campaign: e.spec().ID, Shard: 1, Entries: 100, ShardSHA256: strings.Repeat("ab", 32)}, checkpoint.WriterOptions{}, checkpoint.Visitor{})
	if err != nil {
		t.Fatal(err)
	}
	w.AppendRunStart(&checkpoint.RunStart{Host: "h"})
	w.Close()
	e.mustRun(0, e.planArgs("--no-submit", "--shard-files", "100")...)
	if _, err := os.Stat(filepath.Join(ckpt, checkpoint.LogName(1))); !os.IsNotExist(err) {
		t.Errorf("a log without outcomes survived the rescan: %v", err)
	}
}

// lastLine is the last line of s.
func lastLine(s string) string {
	s = strings.TrimSuffix(s, "\n")
	return s[strings.LastIndexByte(s, '\n')+1:]
}

// A crafted index.json (a valid checksum, a shard of 10^15 files) is refused by work and
// collect before they allocate anything: one line naming the file, exit 2 (issue 14).
func TestCraftedIndexRefused(t *testing.T) {
	e := newEnv(t)
	e.mktree(lfssim.TreeOptions{Files: 50, Seed: 22, SourceShare: 1})
	e.plan()
	man := filepath.Join(e.camp, "manifests")
	idx, err := manifest.ReadIndex(man)
	if err != nil {
		t.Fatal(err)
	}
	idx.Files += 1e15 - idx.Shards[0].Files
	idx.Shards[0].Files = 1e15
	if _, err := manifest.WriteIndex(man, idx); err != nil {
		t.Fatal(err)
	}
	before := e.snapshot()
	for _, args := range [][]string{{"work", e.camp, "--shard", "0"}, {"collect", e.camp}, {"status", e.camp, "--json"}} {
		r := e.run(args...)
		if r.code != 2 || strings.Count(r.stderr, "\n") != 1 || !strings.Contains(r.stderr, manifest.IndexFile) || !strings.Contains(r.stderr, "more than") {
			t.Errorf("%s: exit %d, stderr %q; want 2 and one line naming index.json", args[0], r.code, r.stderr)
		}
	}
	e.checkMigrated(before, e.snapshot(), nil)
	if r := e.run(e.planArgs("--no-submit", "--shard-files", "100000000")...); r.code != 2 || !strings.Contains(r.stderr, "--shard-files") {
		t.Errorf("plan --shard-files 10^8: exit %d, stderr %q", r.code, r.stderr)
	}
}

// A damaged line in the middle of submissions.jsonl is exit 2 naming the file and line for
// every command that reads it (it used to be dropped: a plan rerun could then submit a
// second array); a torn last line is forgiven.
func TestSubmissionsDamaged(t *testing.T) {
	e := newEnv(t)
	e.mktree(lfssim.TreeOptions{Files: 20, Seed: 23, SourceShare: 1})
	e.plan()
	d := campaign.Dir{Root: e.camp}
	for _, s := range []campaign.Submission{{Kind: "array", JobID: "999001", Round: 0, By: "plan"},
		{Kind: "collect", JobID: "999002", Depend: "afterany:999001", By: "plan"}, {Kind: "array", JobID: "999003", Round: 0, By: "task"}} {
		if err := d.AppendSubmission(s); err != nil {
			t.Fatal(err)
		}
	}
	path := filepath.Join(e.camp, campaign.SubmissionsFile)
	good, _ := os.ReadFile(path)
	rawEdit(t, path, "999002", "999012")
	for _, args := range [][]string{{"status", e.camp}, {"retry", e.camp, "--scheduler", "local"}, {"cancel", e.camp},
		{"pause", e.camp}, e.planArgs()} {
		r := e.run(args...)
		if last := lastLine(r.stderr); r.code != 2 || !strings.Contains(last, path+": line 2:") {
			t.Errorf("%s: exit %d, stderr %q; want 2 naming %s: line 2", args[0], r.code, r.stderr, path)
		}
	}
	// A torn last line is what a crash while appending leaves: forgiven.
	os.WriteFile(path, append(good, `{"time":"2026-`...), 0o600)
	if subs, err := d.Submissions(); err != nil || len(subs) != 3 {
		t.Errorf("with a torn last line: %d submissions, %v", len(subs), err)
	}
}
