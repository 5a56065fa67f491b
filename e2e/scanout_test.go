package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
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
	for _, bad := range [][]string{e.planArgs("--scan-tasks", "-1"), {"plan", e.camp, "--update", "--scan-tasks", "2"},
		e.planArgs("--scan-tasks", "2", "--emit-script")} {
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

// partInodes are the inode numbers of the published parts: a unit scanned again gets a
// new part directory, so a changed or new number for a unit that was done means it was.
func partInodes(t *testing.T, d campaign.Dir, units int) map[int]uint64 {
	out := map[int]uint64{}
	for k := 0; k < units; k++ {
		if st, err := os.Stat(distscan.PartDir(d, k)); err == nil && distscan.Done(d, k) {
			out[k] = st.Sys().(*syscall.Stat_t).Ino
		}
	}
	return out
}

// On Slurm, a distributed scan is a part of the campaign like any round: plan --scan-tasks
// records its scan array and seal job, status shows how far the scan is, pause holds it
// (--now stops its running tasks), throttle and resume act on it, cancel stops it and says
// how to go on, and that advice (migrator retry) continues the scan without scanning a
// finished unit again; the campaign then drains with the entries of a single-node plan. A
// site's scan template (--template-dir, without a seal template) shapes the scan script,
// also when retry writes it again with the directory gone.
func TestDistributedScanControlOnSlurm(t *testing.T) {
	c := requireSlurm(t)
	t0 := time.Now()
	step := func(what string) { t.Logf("%s at %s", what, time.Since(t0).Round(100*time.Millisecond)) } // where the time goes
	e := newEnv(t)
	e.mktree(lfssim.TreeOptions{Files: 2000, Seed: 29, HostileEvery: 9, LinkEvery: 17})
	before := e.snapshot()
	sel := e.selected(before)
	e.mustRun(0, e.planArgs("--scheduler", "local", "--no-submit")...)
	ref := e.manifests(0)

	// Every lfs find takes 4 s: a scan slow enough to steer. (sbatch passes the
	// environment on: the jobs plan submits have it; those retry submits, not.)
	fast := e.simEnv
	e.simEnv = append(slices.Clone(e.simEnv), "LFS_SIM_FIND_LATENCY=4s")
	e.camp = filepath.Join(e.root, "distributed")
	d := campaign.Dir{Root: e.camp}
	// A site's templates: job, collect and scan; no seal template (the built-in one is used).
	tmpl := siteTemplates(t, filepath.Join(e.root, "tmpl"), "job.sbatch.tmpl", "collect.sbatch.tmpl", "scan.sbatch.tmpl")
	r := e.mustRun(0, e.planArgs("--scan-tasks", "2", "--scan-workers", "1", "--shard-files", "250", "--time", "10", "--template-dir", tmpl)...)
	checkSite := func(when string) {
		t.Helper()
		for name, site := range map[string]bool{"scan.sbatch": true, "seal.sbatch": false} {
			b, err := os.ReadFile(filepath.Join(e.camp, "scan", name))
			if err != nil || strings.Contains(string(b), "\n# site template\n") != site {
				t.Errorf("%s: scan/%s from the site template: %v, want %v (%v)", when, name, !site, site, err)
			}
		}
	}
	checkSite("after plan")
	scanID := strings.TrimSpace(r.stdout)
	if !strings.Contains(r.stderr, "migrator status") {
		t.Errorf("plan --scan-tasks does not say how to watch the scan:\n%s", r.stderr)
	}
	subs, err := d.Submissions()
	if err != nil {
		t.Fatal(err)
	}
	var kinds []string
	var sealID string
	for _, s := range subs {
		kinds = append(kinds, s.Kind)
		if s.Kind == campaign.KindSeal {
			sealID = s.JobID
			if s.Depend != "afterany:"+scanID {
				t.Errorf("seal job recorded with dependency %q, want afterany:%s", s.Depend, scanID)
			}
		}
	}
	if diff := cmp.Diff([]string{"scan", "seal"}, kinds); diff != "" || subs[0].JobID != scanID || subs[0].Shards != 2 {
		t.Fatalf("submissions.jsonl after plan --scan-tasks (-want +got kinds):\n%s%+v", diff, subs)
	}
	p, err := distscan.ReadPlan(d)
	if err != nil {
		t.Fatal(err)
	}
	units := len(p.Units)
	if units < 4 {
		t.Fatalf("%d units: too few to stop the scan halfway: %+v", units, p.Units)
	}
	t.Logf("%d units, scan array %s, seal job %s", units, scanID, sealID)

	step("status")
	// status sees the scan and its jobs.
	waitFor(t, "no unit being scanned by both tasks", func() bool {
		tasks, _ := c.Tasks(context.Background(), scanID)
		pr, _ := distscan.ReadProgress(d)
		return running(tasks) == 2 && pr.Scanning == 2
	})
	r = e.mustRun(0, "status", e.camp)
	for _, want := range []string{"scanning: ", " of " + fmt.Sprint(units) + " units done", "seal job " + sealID + " waiting for the scan",
		"scan job " + scanID + " (round 0): 2 running"} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("status during the scan lacks %q:\n%s", want, r.stdout)
		}
	}
	var v struct {
		Scan *distscan.Progress `json:"scan"`
		Jobs []struct {
			JobID, Kind string
		} `json:"jobs"`
	}
	if err := json.Unmarshal([]byte(e.mustRun(0, "status", e.camp, "--json").stdout), &v); err != nil {
		t.Fatal(err)
	}
	if v.Scan == nil || v.Scan.Units != units || v.Scan.Sealed || len(v.Jobs) != 2 {
		t.Errorf("status --json during the scan: scan %+v, jobs %+v", v.Scan, v.Jobs)
	}

	step("throttle")
	// throttle acts on the scan array.
	r = e.mustRun(0, "throttle", e.camp, "1")
	if !strings.Contains(r.stdout, "JobId="+scanID+" ArrayTaskThrottle=1") {
		t.Errorf("throttle during the scan:\n%s", r.stdout)
	}
	// pause --now once a unit is done: the running scan tasks are requeued held, the seal
	// held; nothing scans.
	waitFor(t, "no unit scanned", func() bool { pr, _ := distscan.ReadProgress(d); return pr.Done > 0 })
	step("pause --now")
	r = e.mustRun(0, "pause", e.camp, "--now")
	for _, want := range []string{"scontrol hold " + scanID, "scontrol requeuehold " + scanID, "scontrol hold " + sealID} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("pause --now during the scan lacks %q:\n%s", want, r.stdout)
		}
	}
	waitFor(t, "scan tasks still running after pause --now", func() bool {
		tasks, _ := c.Tasks(context.Background(), scanID)
		return running(tasks) == 0
	})
	waitFor(t, "units still claimed after pause --now", func() bool {
		pr, _ := distscan.ReadProgress(d)
		return pr.Scanning == 0
	})
	paused, _ := distscan.ReadProgress(d)
	time.Sleep(3 * time.Second)
	if pr, _ := distscan.ReadProgress(d); pr.Done != paused.Done {
		t.Errorf("units were scanned while paused: %d done, then %d", paused.Done, pr.Done)
	}
	r = e.mustRun(0, "status", e.camp)
	if !strings.Contains(r.stdout, "seal job "+sealID+" held") || !strings.Contains(r.stdout, "held") {
		t.Errorf("status while paused:\n%s", r.stdout)
	}
	// resume releases them (Slurm starts a requeued task again after a delay of its own,
	// which the test does not wait for), then cancel halfway.
	step("resume")
	r = e.mustRun(0, "resume", e.camp)
	if !strings.Contains(r.stdout, "scontrol release "+scanID) || !strings.Contains(r.stdout, "scontrol release "+sealID) {
		t.Errorf("resume during the scan:\n%s", r.stdout)
	}
	waitFor(t, "scan tasks or seal still held after resume", func() bool {
		tasks, _ := c.Tasks(context.Background(), scanID, sealID)
		for _, task := range tasks {
			if task.Held() {
				return false
			}
		}
		return len(tasks) == 3
	})
	step("cancel")
	r = e.mustRun(0, "cancel", e.camp)
	advice := "migrator retry " + e.camp
	if !strings.Contains(r.stdout, "scancel "+scanID+" "+sealID) || !strings.Contains(r.stdout, advice) {
		t.Errorf("cancel during the scan:\n%s", r.stdout)
	}
	slurmtest.Wait(t, c, time.Minute, scanID, sealID)
	waitFor(t, "units still claimed after cancel", func() bool {
		pr, _ := distscan.ReadProgress(d)
		return pr.Scanning == 0
	})
	stopped, _ := distscan.ReadProgress(d)
	if stopped.Done < paused.Done || stopped.Done == units || stopped.Sealed {
		t.Fatalf("after cancel: %+v; want the scan stopped halfway", stopped)
	}
	r = e.mustRun(0, "status", e.camp)
	if !strings.Contains(r.stdout, "the scan is stopped") || !strings.Contains(r.stdout, "continue it with: "+advice) {
		t.Errorf("status after cancel does not say how to continue:\n%s", r.stdout)
	}
	step("retry")
	// The advice continues the scan: a new scan array and seal, no finished unit scanned again.
	done := partInodes(t, d, units)
	e.simEnv = fast
	os.RemoveAll(tmpl) // retry renders from campaign.json's snapshot
	os.Remove(filepath.Join(e.camp, "scan", "scan.sbatch"))
	r = e.mustRun(0, "retry", e.camp)
	checkSite("after retry")
	scan2 := strings.TrimSpace(r.stdout)
	if scan2 == "" || scan2 == scanID || !strings.Contains(r.stderr, fmt.Sprintf("%d of %d units done", stopped.Done, units)) {
		t.Fatalf("retry after a cancelled scan:\n%s\n%s", r.stdout, r.stderr)
	}
	// Run again while it is queued: nothing more is submitted.
	r = e.mustRun(0, "retry", e.camp)
	if !strings.Contains(r.stderr, "already submitted") || strings.TrimSpace(r.stdout) != "" {
		t.Errorf("a second retry while the scan is queued:\n%s\n%s", r.stdout, r.stderr)
	}
	step("seal")
	var arr campaign.Submission
	waitFor(t, "the seal submitted no migrate array", func() bool {
		subs, _ := d.Submissions()
		a, ok := campaign.LatestArray(subs, 0)
		arr = a
		return ok
	})
	if b, _ := os.ReadFile(d.Round(0).JobScript); !strings.Contains(string(b), "\n# site template\n") {
		t.Errorf("the seal's round 0 job script is not the site's:\n%s", b)
	}
	after := partInodes(t, d, units)
	for k, ino := range done {
		if after[k] != ino {
			t.Errorf("unit %d, done before the cancel, was scanned again", k)
		}
	}
	got := e.manifests(0)
	if diff := cmp.Diff(scanKeys(ref), scanKeys(got)); diff != "" {
		t.Fatalf("distributed scan, cancelled and continued, differs from the single-node one (-single +distributed):\n%s", diff)
	}
	step("migrate")
	waitCollect(t, c, e, arr.JobID)
	e.checkMigrated(before, e.snapshot(), sel)
	if st := e.status(); st.Files.Migrated != uint64(len(sel)) || !st.Files.Balanced() {
		t.Errorf("after a cancelled and continued distributed scan: %+v", st.Files)
	}
	step("verify")
	e.mustRun(0, "verify", e.camp)
	r = e.mustRun(0, "status", e.camp)
	if !strings.Contains(r.stdout, "distributed scan: sealed") {
		t.Errorf("status after the seal:\n%s", r.stdout)
	}
}

// plan --scan-tasks --no-submit on Slurm submits nothing: it writes the scan's scripts and
// says how to start the scan, which status says too. Following that (migrator retry)
// submits the scan and the seal, which makes round 0 and submits nothing; following the
// advice then given (the plan command without --no-submit) drains the campaign.
func TestDistributedScanNoSubmitOnSlurm(t *testing.T) {
	c := requireSlurm(t)
	e := newEnv(t)
	e.mktree(lfssim.TreeOptions{Files: 600, Seed: 37, HostileEvery: 7, LinkEvery: 19})
	before := e.snapshot()
	sel := e.selected(before)
	e.mustRun(0, e.planArgs("--scheduler", "local", "--no-submit")...)
	ref := e.manifests(0)
	e.camp = filepath.Join(e.root, "distributed")
	d := campaign.Dir{Root: e.camp}
	args := e.planArgs("--scan-tasks", "2", "--scan-workers", "2", "--shard-files", "200", "--time", "10")
	r := e.mustRun(0, append(slices.Clone(args), "--no-submit")...)
	advice := "migrator retry " + e.camp
	if strings.TrimSpace(r.stdout) != "" || !strings.Contains(r.stderr, "submitted nothing") || !strings.Contains(r.stderr, advice) {
		t.Errorf("plan --scan-tasks --no-submit:\nstdout %s\nstderr %s", r.stdout, r.stderr)
	}
	if subs, err := d.Submissions(); err != nil || len(subs) != 0 {
		t.Fatalf("plan --no-submit recorded submissions: %+v %v", subs, err)
	}
	for _, name := range []string{"scan.sbatch", "seal.sbatch"} {
		if b, err := os.ReadFile(filepath.Join(e.camp, "scan", name)); err != nil || !strings.HasPrefix(string(b), "#!") {
			t.Errorf("scan/%s not written: %v", name, err)
		}
	}
	name := "migrator-" + filepath.Base(e.camp)
	if jobs, err := c.Named(context.Background(), name+"-scan", name+"-seal"); err != nil || len(jobs) != 0 {
		t.Fatalf("jobs of the campaign in Slurm after plan --no-submit: %v %v", jobs, err)
	}
	var v struct {
		Scan *struct {
			Next string `json:"next"`
		} `json:"scan"`
	}
	if err := json.Unmarshal([]byte(e.mustRun(0, "status", e.camp, "--json").stdout), &v); err != nil || v.Scan == nil || v.Scan.Next != advice {
		t.Fatalf("status --json before the scan: %+v %v, want next %q", v.Scan, err, advice)
	}

	r = e.mustRun(0, "retry", e.camp)
	scanID := strings.TrimSpace(r.stdout)
	if scanID == "" {
		t.Fatalf("retry did not submit the scan:\n%s", r.stderr)
	}
	waitFor(t, "the seal did not make round 0", func() bool { pr, _ := distscan.ReadProgress(d); return pr.Sealed })
	subs, _ := d.Submissions()
	slurmtest.Wait(t, c, time.Minute, subs[0].JobID, subs[1].JobID)
	if _, ok := campaign.LatestArray(subs, 0); ok || len(subs) != 2 {
		t.Fatalf("the seal of a --no-submit plan submitted round 0: %+v", subs)
	}
	if diff := cmp.Diff(scanKeys(ref), scanKeys(e.manifests(0))); diff != "" {
		t.Fatalf("distributed scan differs from the single-node one (-single +distributed):\n%s", diff)
	}
	r = e.mustRun(0, "status", e.camp)
	if want := "rerun the same migrator plan command without --no-submit"; !strings.Contains(r.stdout, want) {
		t.Fatalf("status after the seal does not say %q:\n%s", want, r.stdout)
	}
	r = e.mustRun(0, args...)
	var arr campaign.Submission
	waitFor(t, "plan did not submit round 0", func() bool {
		subs, _ := d.Submissions()
		a, ok := campaign.LatestArray(subs, 0)
		arr = a
		return ok
	})
	waitCollect(t, c, e, arr.JobID)
	e.checkMigrated(before, e.snapshot(), sel)
	if st := e.status(); st.Files.Migrated != uint64(len(sel)) || !st.Files.Balanced() {
		t.Errorf("after following the advice: %+v", st.Files)
	}
}

// With --scheduler local, a distributed scan stopped by Ctrl-C, then by kill -9 of the
// plan (its scan tasks die with it, leaving their claims), says how to go on (migrator
// retry, as on Slurm), and both ways on continue it without scanning a finished unit
// again: the same plan command, and migrator retry, which seals the scan and runs round 0
// here; the campaign drains with the entries of a single-node plan.
func TestDistributedScanLocalStopped(t *testing.T) {
	e := newEnv(t)
	e.mktree(lfssim.TreeOptions{Files: 2000, Seed: 31, HostileEvery: 9, LinkEvery: 17})
	before := e.snapshot()
	sel := e.selected(before)
	e.mustRun(0, e.planArgs("--scheduler", "local", "--no-submit")...)
	ref := e.manifests(0)

	fast := e.simEnv
	e.simEnv = append(slices.Clone(e.simEnv), "LFS_SIM_FIND_LATENCY=3s")
	e.camp = filepath.Join(e.root, "distributed")
	d := campaign.Dir{Root: e.camp}
	args := e.planArgs("--scheduler", "local", "--scan-tasks", "2", "--scan-workers", "1", "--shard-files", "250")
	doneAtLeast := func(n int) func() bool {
		return func() bool { pr, _ := distscan.ReadProgress(d); return pr.Done >= n }
	}
	// Ctrl-C once a unit is done: the tasks stop, releasing their claims.
	plan, out := e.startMigrator(args...)
	waitFor(t, "no unit scanned by the local scan", doneAtLeast(1))
	plan.Process.Signal(os.Interrupt)
	plan.Wait()
	if code := plan.ProcessState.ExitCode(); code != 5 || !strings.Contains(out.String(), "the units already scanned are kept): migrator retry "+e.camp) {
		t.Fatalf("plan interrupted during a local distributed scan: exit %d, want 5 saying how to continue:\n%s", code, out)
	}
	pr, _ := distscan.ReadProgress(d)
	if pr.Scanning != 0 || pr.Stale != 0 || pr.Done == pr.Units {
		t.Fatalf("after Ctrl-C: %+v; want the scan stopped halfway, no claim left", pr)
	}
	r := e.mustRun(0, "status", e.camp)
	if !strings.Contains(r.stdout, "the scan is stopped") || !strings.Contains(r.stdout, "continue it with: migrator retry "+e.camp+"\n") {
		t.Errorf("status after Ctrl-C:\n%s", r.stdout)
	}
	if r := e.run("cancel", e.camp); r.code != 2 || !strings.Contains(r.stderr, "local scheduler") {
		t.Errorf("cancel of a local campaign: exit %d\n%s", r.code, r.stderr)
	}
	// The same plan command continues; kill -9 it once another unit is done.
	done := partInodes(t, d, pr.Units)
	plan, out = e.startMigrator(args...)
	waitFor(t, "no unit scanned by the continued scan", doneAtLeast(pr.Done+1))
	waitFor(t, "no unit being scanned", func() bool { pr, _ := distscan.ReadProgress(d); return pr.Scanning > 0 })
	plan.Process.Kill()
	plan.Wait()
	time.Sleep(500 * time.Millisecond) // its scan tasks get SIGKILL as it dies (PDEATHSIG)
	killed, _ := distscan.ReadProgress(d)
	if killed.Stale == 0 || killed.Scanning != 0 || killed.Sealed {
		t.Errorf("after kill -9 of the plan: %+v; want claims left by dead tasks", killed)
	}
	r = e.mustRun(0, "status", e.camp)
	if !strings.Contains(r.stdout, "claimed by tasks that died") || !strings.Contains(r.stdout, "continue it with: migrator retry "+e.camp+"\n") {
		t.Errorf("status after kill -9:\n%s", r.stdout)
	}
	for k, ino := range partInodes(t, d, pr.Units) {
		if old, ok := done[k]; ok && old != ino {
			t.Errorf("unit %d, done before Ctrl-C, was scanned again by the continued plan", k)
		}
		done[k] = ino
	}
	// migrator retry continues it here: scan, seal, round 0.
	e.simEnv = fast
	r = e.mustRun(0, "retry", e.camp)
	if !strings.Contains(r.stderr, fmt.Sprintf("%d of %d units done (kept)", killed.Done, killed.Units)) || !strings.Contains(r.stderr, "sealed campaign") {
		t.Errorf("retry of a stopped local scan:\n%s", r.stderr)
	}
	for k, ino := range partInodes(t, d, pr.Units) {
		if old, ok := done[k]; ok && old != ino {
			t.Errorf("unit %d, done before, was scanned again by retry", k)
		}
	}
	if diff := cmp.Diff(scanKeys(ref), scanKeys(e.manifests(0))); diff != "" {
		t.Fatalf("local distributed scan, stopped twice and continued, differs from the single-node one (-single +distributed):\n%s", diff)
	}
	e.checkMigrated(before, e.snapshot(), sel)
	if st := e.status(); st.Files.Migrated != uint64(len(sel)) || !st.Files.Balanced() {
		t.Errorf("after a stopped and continued local distributed scan: %+v", st.Files)
	}
	e.mustRun(0, "verify", e.camp)
	if r = e.mustRun(0, "retry", e.camp); !strings.Contains(r.stderr, "nothing to retry") {
		t.Errorf("retry after the campaign is done:\n%s", r.stderr)
	}
}

// siteTemplates writes the built-in templates named into dir, each with a second line
// "# site template", as a site's --template-dir.
func siteTemplates(t *testing.T, dir string, names ...string) string {
	t.Helper()
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	for _, name := range names {
		text, err := os.ReadFile(filepath.Join("..", "templates", name))
		if err != nil {
			t.Fatal(err)
		}
		shebang, rest, _ := strings.Cut(string(text), "\n") // sbatch wants #! first
		if err := os.WriteFile(filepath.Join(dir, name), []byte(shebang+"\n# site template\n"+rest), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

// A site scan or seal template that does not render is refused before anything is
// written, in one line naming it (exit 2); without --scan-tasks it is not used.
func TestScanTemplateRefused(t *testing.T) {
	e := newEnv(t)
	e.mktree(lfssim.TreeOptions{Files: 30, Seed: 33})
	for _, name := range []string{"scan.sbatch.tmpl", "seal.sbatch.tmpl"} {
		tmpl := siteTemplates(t, filepath.Join(e.root, "tmpl-"+name), "job.sbatch.tmpl", "collect.sbatch.tmpl")
		if err := os.WriteFile(filepath.Join(tmpl, name), []byte("#!/bin/bash\n{{.NoSuchField}}\n"), 0o644); err != nil {
			t.Fatal(err)
		}
		r := e.run(e.planArgs("--scheduler", "local", "--no-submit", "--scan-tasks", "2", "--template-dir", tmpl)...)
		if r.code != 2 || strings.Count(r.stderr, "\n") != 1 || !strings.Contains(r.stderr, name) {
			t.Errorf("plan --scan-tasks with a broken %s: exit %d, stderr %q; want 2 and one line naming it", name, r.code, r.stderr)
		}
		if _, err := os.Stat(e.camp); err == nil {
			t.Fatalf("a refused plan created %s", e.camp)
		}
	}
	tmpl := filepath.Join(e.root, "tmpl-scan.sbatch.tmpl")
	e.mustRun(0, e.planArgs("--scheduler", "local", "--no-submit", "--template-dir", tmpl)...)
}

// A distributed scan, as everything that reports on a campaign sees it (status, status
// --json, collect's status.json and status.prom, the HTML report): while no round 0
// exists, no files bar, no percentage and no files left per source OST (which would read
// as a campaign done and its OSTs drained), and status's scan line carries the progress.
// Every command gives the same way on for the same state: plan stopped by Ctrl-C, and
// status once the scan is stopped and once every unit is scanned but no seal ran (its seal
// cancelled) all say migrator retry CAMPAIGN; following it seals the scan, runs round 0
// here and drains the campaign.
func TestDistributedScanStatusAdvice(t *testing.T) {
	e := newEnv(t)
	e.mktree(lfssim.TreeOptions{Files: 2000, Seed: 31, HostileEvery: 9})
	before := e.snapshot()
	sel := e.selected(before)
	fast := e.simEnv
	e.simEnv = append(slices.Clone(e.simEnv), "LFS_SIM_FIND_LATENCY=2s")
	d := campaign.Dir{Root: e.camp}
	advice := "migrator retry " + e.camp
	plan, out := e.startMigrator(e.planArgs("--scheduler", "local", "--scan-tasks", "2", "--scan-workers", "1", "--shard-files", "100")...)
	for deadline := time.Now().Add(90 * time.Second); ; time.Sleep(100 * time.Millisecond) {
		if pr, _ := distscan.ReadProgress(d); pr.Done >= 1 && pr.Scanning > 0 {
			break
		}
		if time.Now().After(deadline) {
			pr, err := distscan.ReadProgress(d)
			t.Fatalf("no unit scanned while another is: %+v %v; plan:\n%s", pr, err, out)
		}
	}

	noFigures := func(when, text string) {
		t.Helper()
		for _, bad := range []string{"%", "handled", "OST", "planned,"} {
			if strings.Contains(text, bad) {
				t.Errorf("%s says %q before round 0:\n%s", when, bad, text)
			}
		}
		if !strings.Contains(text, "no files planned yet") {
			t.Errorf("%s does not say nothing is planned yet:\n%s", when, text)
		}
	}
	// Mid-scan, the plan still running.
	r := e.mustRun(0, "status", e.camp)
	noFigures("status mid-scan", r.stdout)
	if !strings.Contains(r.stdout, "scanning: ") || !strings.Contains(r.stdout, "being scanned") || strings.Contains(r.stdout, "stopped") {
		t.Errorf("status mid-scan lacks the scan's progress:\n%s", r.stdout)
	}
	var v struct {
		ScanUnfinished bool              `json:"scan_unfinished"`
		Remaining      map[string]uint64 `json:"source_osts_remaining"`
		Scan           *struct {
			distscan.Progress
			Next string `json:"next"`
		} `json:"scan"`
	}
	if err := json.Unmarshal([]byte(e.mustRun(0, "status", e.camp, "--json").stdout), &v); err != nil {
		t.Fatal(err)
	}
	if !v.ScanUnfinished || len(v.Remaining) != 0 || v.Scan == nil || v.Scan.Sealed || v.Scan.Done < 1 || v.Scan.Next != "" {
		t.Errorf("status --json mid-scan: scan_unfinished %v, source_osts_remaining %v, scan %+v", v.ScanUnfinished, v.Remaining, v.Scan)
	}
	r = e.mustRun(0, "collect", e.camp, "--sweep", "never")
	noFigures("collect mid-scan", r.stdout)
	prom, err := os.ReadFile(filepath.Join(e.camp, "reports", "status.prom"))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(prom), "\nmigrator_scan_unfinished{") || !strings.Contains(string(prom), "} 1\n") ||
		strings.Contains(string(prom), "\nmigrator_files{") || strings.Contains(string(prom), "\nmigrator_source_ost_remaining_files{") {
		t.Errorf("status.prom mid-scan:\n%s", prom)
	}
	if r = e.mustRun(0, "report", e.camp, "--html", "-"); !strings.Contains(r.stdout, `id="scan-unfinished"`) || strings.Contains(r.stdout, `data-figure="handled_percent"`) {
		t.Errorf("the HTML report mid-scan does not say the scan is unfinished, or shows a percentage handled")
	}

	// Ctrl-C: plan and status give the same way on.
	plan.Process.Signal(os.Interrupt)
	plan.Wait()
	if code := plan.ProcessState.ExitCode(); code != 5 || !strings.Contains(out.String(), "(the units already scanned are kept): "+advice+"\n") {
		t.Errorf("plan interrupted during the scan: exit %d, want 5 and %q:\n%s", code, advice, out)
	}
	stopped, _ := distscan.ReadProgress(d)
	if stopped.Done == stopped.Units || stopped.Scanning != 0 {
		t.Fatalf("after Ctrl-C: %+v; want the scan stopped halfway", stopped)
	}
	r = e.mustRun(0, "status", e.camp)
	noFigures("status of the stopped scan", r.stdout)
	if !strings.Contains(r.stdout, "continue it with: "+advice+"\n") {
		t.Errorf("status of the stopped scan does not say %q:\n%s", advice, r.stdout)
	}

	// Every unit scanned, no seal: as a cancelled seal leaves it.
	e.simEnv = fast
	for task := 0; task < 2; task++ {
		e.mustRun(0, "scan-task", e.camp, "--task", fmt.Sprint(task))
	}
	if pr, _ := distscan.ReadProgress(d); pr.Done != pr.Units || pr.Sealed {
		t.Fatalf("after the scan tasks ran to the end: %+v", pr)
	}
	r = e.mustRun(0, "status", e.camp)
	noFigures("status of the scan whose seal did not run", r.stdout)
	units := fmt.Sprint(stopped.Units)
	if !strings.Contains(r.stdout, "scanning: "+units+" of "+units+" units done, 0 being scanned\n") || !strings.Contains(r.stdout, "continue it with: "+advice+"\n") {
		t.Errorf("status of the scan whose seal did not run:\n%s", r.stdout)
	}
	if err := json.Unmarshal([]byte(e.mustRun(0, "status", e.camp, "--json").stdout), &v); err != nil {
		t.Fatal(err)
	}
	if v.Scan == nil || v.Scan.Next != advice || !v.ScanUnfinished {
		t.Errorf("status --json of the scan whose seal did not run: scan_unfinished %v, scan %+v; want next %q", v.ScanUnfinished, v.Scan, advice)
	}

	// The advice, followed word for word, finishes the campaign.
	args := strings.Fields(advice)[1:]
	r = e.mustRun(0, args...)
	if !strings.Contains(r.stderr, "sealed campaign") {
		t.Errorf("%s:\n%s", advice, r.stderr)
	}
	e.checkMigrated(before, e.snapshot(), sel)
	if st := e.status(); st.ScanUnfinished || st.Files.Migrated != uint64(len(sel)) || !st.Files.Balanced() {
		t.Errorf("after %s: scan_unfinished %v, %+v", advice, st.ScanUnfinished, st.Files)
	}
	r = e.mustRun(0, "status", e.camp)
	want := fmt.Sprintf("100.0%% of %d files handled\n", len(sel))
	if !strings.Contains(r.stdout, want) || !strings.Contains(r.stdout, "distributed scan: sealed") || strings.Contains(r.stdout, "no files planned yet") {
		t.Errorf("status after %s lacks %q or the sealed scan:\n%s", advice, want, r.stdout)
	}
}
