package e2e

import (
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"migrator/campaign"
	"migrator/checkpoint"
	"migrator/distscan"
	"migrator/internal/slurmtest"
	"migrator/lfssim"
	"migrator/manifest"
)

// scanKey is what must be the same whether a scan ran on one node or as many tasks.
type scanKey struct {
	FID  string
	Size uint64
	OSTs string
	Path string // "" for a hard-linked file: which of its names is kept may differ
}

func scanKeys(entries []manifest.Entry) []scanKey {
	out := make([]scanKey, 0, len(entries))
	for _, en := range entries {
		k := scanKey{FID: en.FID.String(), Size: en.Size, OSTs: fmt.Sprint(en.OSTs), Path: en.Path}
		if en.Nlink > 1 {
			k.Path = ""
		}
		out = append(out, k)
	}
	slices.SortFunc(out, func(a, b scanKey) int { return strings.Compare(fmt.Sprint(a), fmt.Sprint(b)) })
	return out
}

// TestDistributedScanMatchesSingle plans the same tree on one node and as 3 scan tasks
// (--scheduler local runs the tasks as processes and seals), then breaks the distributed
// campaign as crashes would (the index and two parts lost, a half-written part, a claim
// whose holder died, a task run twice) and seals again: every time, the same entries
// (path, FID, size, OSTs) as the single-node scan, each inode once.
func TestDistributedScanMatchesSingle(t *testing.T) {
	e := newEnv(t)
	e.mktree(lfssim.TreeOptions{Files: 2500, Seed: 17, HostileEvery: 11, LinkEvery: 15, SpecialEvery: 40})
	snap := e.snapshot()
	want := e.selected(snap)

	// Refused before anything is written.
	for _, bad := range [][]string{e.planArgs("--scan-tasks", "-1"), {"plan", e.camp, "--update", "--scan-tasks", "2"}} {
		if r := e.run(bad...); r.code != 2 || !strings.Contains(r.stderr, "--scan-tasks") {
			t.Errorf("migrator %v: exit %d, want 2 naming --scan-tasks:\n%s", bad, r.code, r.stderr)
		}
	}
	if _, err := os.Stat(e.camp); err == nil {
		t.Fatalf("a refused plan created %s", e.camp)
	}
	single := e.camp
	e.mustRun(0, e.planArgs("--scheduler", "local", "--no-submit")...)
	ref := e.manifests(0)
	e.checkSelection(ref, want, snap)

	e.camp = filepath.Join(e.root, "distributed")
	r := e.mustRun(0, e.planArgs("--scheduler", "local", "--no-submit", "--scan-tasks", "3", "--scan-workers", "2")...)
	if !strings.Contains(r.stderr, "distributed scan: 3 tasks") {
		t.Errorf("plan --scan-tasks did not report its tasks:\n%s", r.stderr)
	}
	d := campaign.Dir{Root: e.camp}
	p, err := distscan.ReadPlan(d)
	if err != nil {
		t.Fatal(err)
	}
	if p.Tasks != 3 || len(p.Units) < 6 {
		t.Fatalf("scan/plan.json: %d tasks, %d units; want 3 tasks and several units each", p.Tasks, len(p.Units))
	}
	got := e.manifests(0)
	e.checkSelection(got, want, snap)
	if diff := cmp.Diff(scanKeys(ref), scanKeys(got)); diff != "" {
		t.Fatalf("distributed scan differs from the single-node one (-single +distributed):\n%s", diff)
	}
	if _, err := os.Stat(filepath.Join(single, "scan")); err == nil {
		t.Fatalf("the single-node campaign %s has a scan/ directory", single)
	}
	for k := range p.Units {
		if !distscan.Done(d, k) {
			t.Fatalf("unit %d has no part", k)
		}
	}

	// Crashes: the seal killed before its index; two parts never published (their tasks
	// died), one of them half-written under its temporary name and still claimed by a
	// process that is gone.
	if err := os.Remove(filepath.Join(d.Round(0).Manifests, manifest.IndexFile)); err != nil {
		t.Fatal(err)
	}
	for _, k := range []int{1, len(p.Units) - 1} {
		if err := os.Rename(distscan.PartDir(d, k), filepath.Join(filepath.Dir(distscan.PartDir(d, k)), ".tmp-unit-half")); err != nil {
			t.Fatal(err)
		}
		os.RemoveAll(filepath.Join(filepath.Dir(distscan.PartDir(d, k)), ".tmp-unit-half"))
	}
	os.MkdirAll(filepath.Join(filepath.Dir(distscan.PartDir(d, 1)), ".tmp-unit-000001.x"), 0o700)
	os.WriteFile(filepath.Join(filepath.Dir(distscan.PartDir(d, 1)), ".tmp-unit-000001.x", "shard-000000.zst"), []byte("half"), 0o600)
	dead := exec.Command("true")
	if err := dead.Run(); err != nil {
		t.Fatal(err)
	}
	h := checkpoint.CurrentHolder(func(string) string { return "" })
	h.PID, h.PIDStart, h.Token = dead.ProcessState.Pid(), 0, "dead"
	lock, _ := json.Marshal(h)
	claim := filepath.Join(e.camp, "scan", "claims", "unit-000001.lock")
	os.Remove(claim)
	if err := os.WriteFile(claim, append(lock, '\n'), 0o600); err != nil {
		t.Fatal(err)
	}
	// A duplicated task: it scans what is missing of its share (unit 1 is task 1's:
	// it breaks the dead claim), then what is missing of the others'.
	r = e.mustRun(0, "scan-task", e.camp, "--task", "1")
	if !strings.Contains(r.stderr, "2 units scanned") {
		t.Errorf("scan-task run again: want 2 units scanned (the lost ones), got:\n%s", r.stderr)
	}
	r = e.mustRun(0, "scan-task", e.camp, "--task", "1")
	if !strings.Contains(r.stderr, "0 units scanned, "+fmt.Sprint(len(p.Units))+" already done") {
		t.Errorf("scan-task run a third time scanned something:\n%s", r.stderr)
	}
	r = e.mustRun(0, "seal", e.camp)
	if !strings.Contains(r.stderr, "sealed campaign") {
		t.Errorf("seal: %s", r.stderr)
	}
	got = e.manifests(0)
	if diff := cmp.Diff(scanKeys(ref), scanKeys(got)); diff != "" {
		t.Fatalf("distributed scan after crashes differs from the single-node one (-single +distributed):\n%s", diff)
	}
	e.checkSelection(got, want, snap)
	// Sealed already: a second seal changes nothing.
	idx, _ := manifest.ReadIndex(d.Round(0).Manifests)
	r = e.mustRun(0, "seal", e.camp)
	if !strings.Contains(r.stderr, "already sealed") {
		t.Errorf("second seal: %s", r.stderr)
	}
	if idx2, _ := manifest.ReadIndex(d.Round(0).Manifests); idx2.SHA256 != idx.SHA256 {
		t.Errorf("second seal rewrote the index")
	}
	// A real kill: every part and the index gone, a scan task SIGKILLed mid-scan (its
	// claim and temporary part left behind), then the seal scans everything left.
	os.Remove(filepath.Join(d.Round(0).Manifests, manifest.IndexFile))
	for k := range p.Units {
		os.RemoveAll(distscan.PartDir(d, k))
	}
	kill := exec.Command(e.migrator, "scan-task", e.camp, "--task", "2")
	kill.Env = append(os.Environ(), e.simEnv...)
	if err := kill.Start(); err != nil {
		t.Fatal(err)
	}
	time.Sleep(150 * time.Millisecond)
	kill.Process.Kill()
	kill.Wait()
	r = e.mustRun(0, "seal", e.camp)
	if got = e.manifests(0); cmp.Diff(scanKeys(ref), scanKeys(got)) != "" {
		t.Fatalf("distributed scan after a killed task differs from the single-node one:\n%s", cmp.Diff(scanKeys(ref), scanKeys(got)))
	}
	if tmps, _ := filepath.Glob(filepath.Join(e.camp, "scan", "parts", ".tmp-*")); len(tmps) > 0 {
		t.Errorf("the seal left temporary parts: %v", tmps)
	}
	// A seal with a unit missing that it cannot scan (the scan path's subtree unreadable
	// is not simulated here): a damaged part is refused, never merged.
	os.Remove(filepath.Join(d.Round(0).Manifests, manifest.IndexFile))
	shard := filepath.Join(distscan.PartDir(d, 0), manifest.ShardName(0))
	if data, err := os.ReadFile(shard); err == nil && len(data) > 10 {
		data[len(data)/2] ^= 0xff
		os.WriteFile(shard, data, 0o600)
		r = e.run("seal", e.camp)
		if r.code == 0 || !strings.Contains(r.stderr, "unit-000000") {
			t.Errorf("seal over a damaged part: exit %d, want an error naming it:\n%s", r.code, r.stderr)
		}
		if _, err := manifest.ReadIndex(d.Round(0).Manifests); err == nil {
			t.Errorf("seal over a damaged part wrote an index")
		}
	}
}

// On Slurm: plan --scan-tasks 4 submits the scan array and its seal job; the seal merges
// the parts and submits the migrate array and its collect job; the campaign drains with
// exactly the selected files, each migrated once, and verify exits 0.
func TestDistributedScanOnSlurm(t *testing.T) {
	c := requireSlurm(t)
	e := newEnv(t)
	e.mktree(lfssim.TreeOptions{Files: 600, Seed: 23, HostileEvery: 13, LinkEvery: 20})
	before := e.snapshot()
	sel := e.selected(before)
	r := e.mustRun(0, e.planArgs("--scan-tasks", "4", "--scan-workers", "2", "--shard-files", "100", "--time", "10")...)
	scanID := strings.TrimSpace(r.stdout)
	var sealID string
	if _, after, ok := strings.Cut(r.stderr, "seal job "); ok {
		sealID, _, _ = strings.Cut(after, " ")
	}
	if scanID == "" || sealID == "" {
		t.Fatalf("plan --scan-tasks: no scan array or seal job:\n%s", r.stderr)
	}
	slurmtest.Wait(t, c, 3*time.Minute, scanID, sealID)
	subs, err := campaign.Dir{Root: e.camp}.Submissions()
	if err != nil {
		t.Fatal(err)
	}
	arr, ok := campaign.LatestArray(subs, 0)
	if !ok {
		logs, _ := filepath.Glob(filepath.Join(e.camp, "logs", "seal-*.out"))
		var text []byte
		for _, l := range logs {
			b, _ := os.ReadFile(l)
			text = append(text, b...)
		}
		t.Fatalf("the seal job submitted no migrate array; its log:\n%s", text)
	}
	e.checkSelection(e.manifests(0), sel, before)
	waitCollect(t, c, e, arr.JobID)
	e.checkMigrated(before, e.snapshot(), sel)
	if st := e.status(); st.Files.Migrated != uint64(len(sel)) || !st.Files.Balanced() {
		t.Errorf("after a distributed plan on Slurm: %+v", st.Files)
	}
	e.mustRun(0, "verify", e.camp)
}
