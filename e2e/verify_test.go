package e2e

import (
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"migrator/lfssim"
	"migrator/manifest"
	"migrator/report"
)

// sourceFile makes a file with one object on OST 2 (a source).
func (e *env) sourceFile(p string) string {
	e.t.Helper()
	os.MkdirAll(filepath.Dir(p), 0o755)
	if err := os.WriteFile(p, []byte("content of "+p), 0o644); err != nil {
		e.t.Fatal(err)
	}
	if err := lfssim.SetLayout(p, lfssim.PlainLayout(2)); err != nil {
		e.t.Fatal(err)
	}
	return p
}

// verify runs migrator verify --json and checks its exit code.
func (e *env) verify(want int, args ...string) *report.Sweep {
	e.t.Helper()
	r := e.mustRun(want, append([]string{"verify", e.camp, "--json"}, args...)...)
	var s report.Sweep
	if err := json.Unmarshal([]byte(r.stdout), &s); err != nil {
		e.t.Fatalf("verify --json: %v\n%s", err, r.stdout)
	}
	return &s
}

// unaccountedPaths reads the manifest of unaccounted files the last verify wrote.
func (e *env) unaccountedPaths() []string {
	e.t.Helper()
	dir := filepath.Join(e.camp, "reports", report.UnaccountedDir)
	idx, err := manifest.ReadIndex(dir)
	if err != nil {
		e.t.Fatal(err)
	}
	var out []string
	for _, s := range idx.Shards {
		r, err := manifest.OpenShard(filepath.Join(dir, s.File), s.SHA256)
		if err != nil {
			e.t.Fatal(err)
		}
		var en manifest.Entry
		for r.Next(&en) == nil {
			out = append(out, en.Path)
		}
		r.Close()
	}
	slices.Sort(out)
	return out
}

func nonzeroClasses(s *report.Sweep) map[string]uint64 {
	m := map[string]uint64{}
	for k, v := range s.Classes {
		if v > 0 {
			m[k] = v
		}
	}
	return m
}

// Files are known by FID, and drained is proven: a directory renamed between plan and
// work, a hard link whose kept name was removed, files moved out of the scan paths and new
// files after the plan. work follows the first two by FID and skips the moved-out ones;
// verify finds the new files (exit 3, in reports/unaccounted), plan --update drains them,
// and verify then finds nothing; a file put back on a source OST after it was migrated is
// an alarm (recorded-done) that plan --update drains too.
func TestVerifyAndTopUp(t *testing.T) {
	e := newEnv(t)
	var renamed []string
	for _, n := range []string{"f0", "f1", "new\nline", "f3"} {
		renamed = append(renamed, e.sourceFile(filepath.Join(e.tree, "proj", "a", n)))
	}
	link1 := e.sourceFile(filepath.Join(e.tree, "links", "h1"))
	link2 := filepath.Join(e.tree, "links", "h2")
	if err := os.Link(link1, link2); err != nil {
		t.Fatal(err)
	}
	moved := []string{e.sourceFile(filepath.Join(e.tree, "move", "m0")), e.sourceFile(filepath.Join(e.tree, "move", "m1"))}
	frozen := filepath.Join(e.tree, "frozen")
	e.sourceFile(filepath.Join(frozen, "kept-here"))
	e.plan("--exclude", frozen)
	planned := e.manifests(0)
	if len(planned) != 7 {
		t.Fatalf("%d files planned, want 7", len(planned))
	}

	// Between plan and work.
	if err := os.Rename(filepath.Join(e.tree, "proj", "a"), filepath.Join(e.tree, "proj", "renamed")); err != nil {
		t.Fatal(err)
	}
	kept, other := link1, link2
	if !slices.ContainsFunc(planned, func(en manifest.Entry) bool { return en.Path == link1 }) {
		kept, other = link2, link1
	}
	os.Remove(kept)
	outside := filepath.Join(e.root, "outside")
	os.MkdirAll(outside, 0o755)
	for _, p := range moved {
		if err := os.Rename(p, filepath.Join(outside, filepath.Base(p))); err != nil {
			t.Fatal(err)
		}
	}
	newFiles := []string{e.sourceFile(filepath.Join(e.tree, "new", "n0")), e.sourceFile(filepath.Join(e.tree, "new", "-n1"))}

	e.mustRun(0, "work", e.camp, "--shard", "0")
	r := e.mustRun(0, "collect", e.camp, "--sweep", "never")
	if !strings.Contains(r.stdout, "left on source OSTs (estimate: no sweep yet") {
		t.Errorf("collect before any sweep:\n%s", r.stdout)
	}
	if _, err := os.Stat(filepath.Join(e.camp, "reports", report.SweepJSON)); err == nil {
		t.Error("collect --sweep never swept")
	}
	st := e.status()
	if st.Files.Migrated != 5 || st.SkippedByReason["moved-out"] != 2 || st.SkippedByReason["gone"] != 0 || !st.Files.Balanced() {
		t.Errorf("after work: %+v, skipped %v", st.Files, st.SkippedByReason)
	}
	if st.SourceOSTsRemaining["2"] != 2 {
		t.Errorf("estimate of files left on OST 2: %d, want the 2 moved out", st.SourceOSTsRemaining["2"])
	}
	after := e.snapshot()
	for _, p := range append(renamed, other) {
		p = strings.Replace(p, "/proj/a/", "/proj/renamed/", 1)
		if e.sources.ContainsAny(after[p].OSTs) {
			t.Errorf("%q is still on a source OST", p)
		}
	}

	// verify: the new files are unaccounted for.
	s := e.verify(3)
	if d := cmp.Diff(map[string]uint64{"not-in-campaign": 2, "excluded": 1}, nonzeroClasses(s)); d != "" || s.OnSource != 3 || s.Unaccounted != 2 {
		t.Errorf("sweep: on_source %d, unaccounted %d, classes -want +got:\n%s", s.OnSource, s.Unaccounted, d)
	}
	if s.PerOST["2"].OnSource != 3 || s.PerOST["2"].Unaccounted != 2 || s.PerOST["2"].ObjectsInUse == nil {
		t.Errorf("per OST: %+v", s.PerOST)
	}
	slices.Sort(newFiles)
	if d := cmp.Diff(newFiles, e.unaccountedPaths()); d != "" {
		t.Errorf("unaccounted manifest -want +got:\n%s", d)
	}
	var examples []string
	for _, x := range s.Examples {
		examples = append(examples, string(x.Path))
	}
	slices.Sort(examples)
	if d := cmp.Diff(newFiles, examples); d != "" {
		t.Errorf("unaccounted examples -want +got:\n%s", d)
	}
	if r := e.run("verify", e.camp); r.code != 3 || !strings.Contains(r.stdout, "not-in-campaign  "+newFiles[0]) {
		t.Errorf("verify's summary: exit %d\n%s", r.code, r.stdout)
	}
	// Over another path: the moved-out files, outside the scan paths, are not unaccounted.
	so := e.verify(0, "--path", outside)
	if d := cmp.Diff(map[string]uint64{"outside": 2}, nonzeroClasses(so)); d != "" {
		t.Errorf("sweep of %s -want +got:\n%s", outside, d)
	}
	// The records claim the campaign is finished: collect sweeps by itself.
	os.Remove(filepath.Join(e.camp, "reports", report.SweepJSON))
	r = e.mustRun(0, "collect", e.camp)
	if !strings.Contains(r.stdout, "left on source OSTs (sweep of ") || !strings.Contains(r.stdout, "2 unaccounted") ||
		!strings.Contains(r.stdout, "and 2 files moved out of the scan paths while on a source OST") {
		t.Errorf("collect of a finished campaign:\n%s", r.stdout)
	}
	if st := e.status(); st.Sweep == nil || st.Sweep.Unaccounted != 2 {
		t.Errorf("status.json's sweep: %+v", st.Sweep)
	}
	promtoolFile(t, filepath.Join(e.camp, "reports", report.StatusProm))

	// plan --update drains them; verify then finds nothing.
	e.mustRun(2, "plan", e.camp, "--update", "--osts", "2")
	e.mustRun(0, "plan", e.camp, "--update", "--scheduler", "local")
	s = e.verify(0)
	if d := cmp.Diff(map[string]uint64{"excluded": 1}, nonzeroClasses(s)); d != "" || s.Unaccounted != 0 {
		t.Errorf("after plan --update: %+v", s)
	}
	st = e.status()
	if st.Files.Planned != 9 || st.Files.Migrated != 7 || !st.Files.Balanced() {
		t.Errorf("after plan --update: %+v", st.Files)
	}

	// A migrated file back on a source OST: the records say done, the sweep says no.
	back := filepath.Join(e.tree, "proj", "renamed", "f1")
	lfssim.SetLayout(back, lfssim.PlainLayout(3))
	s = e.verify(3)
	if d := cmp.Diff(map[string]uint64{"recorded-done": 1, "excluded": 1}, nonzeroClasses(s)); d != "" {
		t.Errorf("alarm -want +got:\n%s", d)
	}
	if d := cmp.Diff([]string{back}, e.unaccountedPaths()); d != "" {
		t.Errorf("unaccounted -want +got:\n%s", d)
	}
	// Prepared, not submitted; the next --update launches that round rather than another.
	r = e.mustRun(0, "plan", e.camp, "--update", "--no-submit", "--scheduler", "local")
	if !strings.Contains(r.stdout, "sbatch") || !strings.Contains(r.stderr, "round 2: 1 files") {
		t.Errorf("plan --update --no-submit:\nstdout:\n%s\nstderr:\n%s", r.stdout, r.stderr)
	}
	r = e.mustRun(0, "plan", e.camp, "--update", "--scheduler", "local")
	if !strings.Contains(r.stderr, "round 2 was prepared but never ran") {
		t.Errorf("plan --update after --no-submit:\n%s", r.stderr)
	}
	if s = e.verify(0); s.OnSource != 1 {
		t.Errorf("after the second plan --update: %+v", s)
	}
	// The file put back counts once: in the top-up round that took it over.
	if st = e.status(); st.Files != (report.Counts{Planned: 9, Migrated: 7, Skipped: 2}) {
		t.Errorf("status %+v", st.Files)
	}
	// Nothing left to take (the excluded file stays): no new round.
	r = e.mustRun(0, "plan", e.camp, "--update", "--scheduler", "local")
	if !strings.Contains(r.stderr, "nothing to top up") {
		t.Errorf("plan --update of a drained campaign:\n%s", r.stderr)
	}
	if _, err := os.Stat(filepath.Join(e.camp, "rounds", "003")); err == nil {
		t.Error("plan --update of a drained campaign left a round directory")
	}
}

// On clients before 2.16 fid2path has no --print0: names (one with a newline) are told
// apart by the FID each record starts with, and the renamed files are still found. Before
// 2.15 (no find --printf) the sweep describes files the way plan does for them.
func TestWorkFollowsFIDWithoutPrint0(t *testing.T) {
	for _, v := range []string{"2.15.0", "2.14.0"} {
		t.Run(v, func(t *testing.T) { testWorkFollowsFIDWithoutPrint0(t, v) })
	}
}

func testWorkFollowsFIDWithoutPrint0(t *testing.T, version string) {
	e := newEnv(t, "LFS_SIM_VERSION="+version)
	var files []string
	for _, n := range []string{"a", "new\nline", "[0x200000400:0x1:0x0] /x"} {
		files = append(files, e.sourceFile(filepath.Join(e.tree, "d", n)))
	}
	e.plan("--stripe-count", "1")
	if err := os.Rename(filepath.Join(e.tree, "d"), filepath.Join(e.tree, "d2")); err != nil {
		t.Fatal(err)
	}
	e.mustRun(0, "work", e.camp, "--shard", "0")
	e.mustRun(0, "collect", e.camp, "--sweep", "never")
	if st := e.status(); st.Files.Migrated != 3 {
		t.Errorf("status %+v, skipped %v", st.Files, st.SkippedByReason)
	}
	if s := e.verify(0); s.OnSource != 0 {
		t.Errorf("sweep %+v", s)
	}
	e.sourceFile(filepath.Join(e.tree, "d2", "late\nnew"))
	if s := e.verify(3); s.Classes[report.ClassNotInCampaign] != 1 {
		t.Errorf("sweep after a new file: %+v", s.Classes)
	}
}

// A file the campaign's filters leave out is accounted for (excluded), asked with one
// batched lfs find with the filters; a file that passes them and is new is not.
func TestVerifyFilters(t *testing.T) {
	e := newEnv(t)
	small := e.sourceFile(filepath.Join(e.tree, "small"))
	big := filepath.Join(e.tree, "big")
	e.sourceFile(big)
	os.WriteFile(big, make([]byte, 4096), 0o644)
	e.plan("--min-size", "1k")
	e.mustRun(0, "work", e.camp, "--shard", "0")
	newBig := filepath.Join(e.tree, "later", "big")
	e.sourceFile(newBig)
	os.WriteFile(newBig, make([]byte, 4096), 0o644)
	s := e.verify(3)
	if d := cmp.Diff(map[string]uint64{"excluded": 1, "not-in-campaign": 1}, nonzeroClasses(s)); d != "" {
		t.Errorf("classes -want +got:\n%s", d)
	}
	if d := cmp.Diff([]string{newBig}, e.unaccountedPaths()); d != "" {
		t.Errorf("unaccounted -want +got:\n%s (%s is excluded by --min-size)", d, small)
	}
}

// Failures no retry takes (permission) are taken over by plan --update once the cause is
// gone: the reports then count each file once, migrated, and nothing as failed.
func TestTopUpTakesOverFailures(t *testing.T) {
	e := newEnv(t)
	for _, n := range []string{"a", "b", "c"} {
		e.sourceFile(filepath.Join(e.tree, n))
	}
	e.plan()
	plain := e.simEnv
	e.simEnv = append(append([]string{}, plain...), "LFS_SIM_FAIL_EVERY=1", "LFS_SIM_FAIL_ERRNO=EACCES")
	e.mustRun(3, "work", e.camp, "--shard", "0")
	e.simEnv = plain
	e.mustRun(0, "collect", e.camp)
	if st := e.status(); st.Files.Failed != 3 || st.FailedByClass["permission"] != 3 {
		t.Fatalf("after work: %+v %v", st.Files, st.FailedByClass)
	}
	if r := e.mustRun(0, "retry", e.camp, "--scheduler", "local"); !strings.Contains(r.stderr, "nothing to retry") {
		t.Fatalf("retry of permission failures: %s", r.stderr)
	}
	if s := e.verify(0); s.Classes[report.ClassFailed] != 3 {
		t.Errorf("sweep: %+v", s.Classes)
	}
	e.mustRun(0, "plan", e.camp, "--update", "--scheduler", "local")
	if st := e.status(); st.Files != (report.Counts{Planned: 3, Migrated: 3}) || st.FailedByClass["permission"] != 0 {
		t.Errorf("after plan --update: %+v %v", st.Files, st.FailedByClass)
	}
	if s := e.verify(0); s.OnSource != 0 {
		t.Errorf("sweep after plan --update: %+v", s)
	}
}

// A hard-linked file with one name under an exclude (or outside the scan paths) and one
// inside is the campaign's, whichever name lfs find prints first: plan takes it by its
// inside name, so verify must count it by that name too, never as excluded or outside.
func TestVerifyHardLinkPrefersInsideName(t *testing.T) {
	e := newEnv(t)
	e.sourceFile(filepath.Join(e.tree, "a", "planned"))
	excl := filepath.Join(e.tree, "excl")
	os.MkdirAll(excl, 0o755)
	e.plan("--exclude", excl)
	e.mustRun(0, "work", e.camp, "--shard", "0")
	// New since the plan: names under the exclude (listed first) and outside, one inside.
	first := e.sourceFile(filepath.Join(excl, "h"))
	inside := filepath.Join(e.tree, "z", "h")
	os.MkdirAll(filepath.Dir(inside), 0o755)
	if err := os.Link(first, inside); err != nil {
		t.Fatal(err)
	}
	other := filepath.Join(e.root, "other")
	os.MkdirAll(other, 0o755)
	if err := os.Link(first, filepath.Join(other, "h")); err != nil {
		t.Fatal(err)
	}
	for _, args := range [][]string{nil, {"--path", other, "--path", e.tree}} {
		s := e.verify(3, args...)
		if d := cmp.Diff(map[string]uint64{"not-in-campaign": 1}, nonzeroClasses(s)); d != "" {
			t.Errorf("verify %v: classes -want +got:\n%s", args, d)
		}
		if d := cmp.Diff([]string{inside}, e.unaccountedPaths()); d != "" {
			t.Errorf("verify %v: unaccounted -want +got:\n%s", args, d)
		}
	}
	e.mustRun(0, "plan", e.camp, "--update", "--scheduler", "local")
	if s := e.verify(0); s.OnSource != 0 {
		t.Errorf("after plan --update: %+v", s.Classes)
	}
}

// A sweep of part of the scan paths (verify --path SUBDIR) measures that part only: the
// reports must not show it as what is left on the source OSTs.
func TestPartialSweepIsNotTheMeasure(t *testing.T) {
	e := newEnv(t)
	e.sourceFile(filepath.Join(e.tree, "a", "f"))
	sub := filepath.Dir(e.sourceFile(filepath.Join(e.tree, "z", "f")))
	e.plan()
	e.mustRun(0, "work", e.camp, "--shard", "0")
	e.sourceFile(filepath.Join(e.tree, "a", "new")) // left, and not in sub
	if s := e.verify(0, "--path", sub); s.OnSource != 0 {
		t.Fatalf("sweep of %s: %+v", sub, s)
	}
	for _, cmd := range []string{"status"} { // collect sweeps again by itself: nothing is pending
		out := e.run(cmd, e.camp).stdout
		var line string
		for _, l := range strings.Split(out, "\n") {
			if strings.HasPrefix(l, "left on source OSTs") {
				line = l
			}
		}
		if !strings.Contains(line, "estimate") || !strings.Contains(line, "covered only") {
			t.Errorf("%s after a sweep of part of the scan paths: %q", cmd, line)
		}
	}
	// A sweep of everything is the measure again.
	e.verify(3)
	if out := e.run("status", e.camp).stdout; !strings.Contains(out, "left on source OSTs (sweep of") {
		t.Errorf("status after a full sweep:\n%s", out)
	}
}

// The sweep collect runs after a round is measured after that round's last activity, and
// says so: it was labelled "before the last activity" whenever both fell in one second
// (the sweep's start was kept truncated to the second).
func TestAutoSweepIsNotStale(t *testing.T) {
	e := newEnv(t)
	for _, n := range []string{"a", "b"} {
		e.sourceFile(filepath.Join(e.tree, n))
	}
	e.mustRun(0, e.planArgs("--scheduler", "local")...)
	out := e.mustRun(0, "status", e.camp).stdout
	if !strings.Contains(out, "left on source OSTs (sweep of") || strings.Contains(out, "before the last activity") {
		t.Errorf("status after a round and collect's sweep:\n%s", out)
	}
}

// A sweep that fails in collect (lfs find cannot read a directory) fails the collect job,
// but after its work is done: the summary printed and the reports written, saying the
// figure left is not measured.
func TestCollectSweepFailure(t *testing.T) {
	e := newEnv(t)
	e.sourceFile(filepath.Join(e.tree, "unreadable", "a"))
	e.plan()
	e.mustRun(0, "work", e.camp, "--shard", "0")
	e.simEnv = append(e.simEnv, "LFS_SIM_FIND_FAIL=unreadable")
	r := e.run("collect", e.camp)
	if r.code == 0 || !strings.Contains(r.stderr, "sweep") {
		t.Errorf("collect with a failing sweep: exit %d\n%s", r.code, r.stderr)
	}
	if !strings.Contains(r.stdout, "files:   1 planned, 1 migrated") ||
		!strings.Contains(r.stdout, "left on source OSTs (estimate: no sweep yet") {
		t.Errorf("collect's summary with a failing sweep:\n%s", r.stdout)
	}
}

// A top-up round's supersedes file is bound to its manifest index: lost, the earlier
// rounds' entries it took over would count twice; it is refused, naming the file.
func TestSupersedesFileLost(t *testing.T) {
	e := newEnv(t)
	for _, n := range []string{"a", "b"} {
		e.sourceFile(filepath.Join(e.tree, n))
	}
	e.plan()
	plain := e.simEnv
	e.simEnv = append(append([]string{}, plain...), "LFS_SIM_FAIL_EVERY=1", "LFS_SIM_FAIL_ERRNO=EACCES")
	e.mustRun(3, "work", e.camp, "--shard", "0")
	e.simEnv = plain
	e.mustRun(0, "plan", e.camp, "--update", "--no-submit", "--scheduler", "local")
	sup := filepath.Join(e.camp, "rounds", "001", "manifests", manifest.SupersedesFile)
	if _, err := os.Stat(sup); err != nil {
		t.Fatal(err)
	}
	os.Remove(sup)
	for _, cmd := range []string{"status", "collect"} {
		if r := e.run(cmd, e.camp); r.code != 2 || !strings.Contains(r.stderr, sup) {
			t.Errorf("%s without the supersedes file: exit %d\n%s%s", cmd, r.code, r.stdout, r.stderr)
		}
	}
}

// --path is taken as the directory it names, however it is spelled: "/a//fs", "/a/fs/."
// or a symbolic link to it, for the scan path /a/fs, made every file "outside" (exit 0,
// nothing unaccounted).
func TestVerifyPathSpelling(t *testing.T) {
	e := newEnv(t)
	e.sourceFile(filepath.Join(e.tree, "a"))
	e.plan()
	e.mustRun(0, "work", e.camp, "--shard", "0")
	e.sourceFile(filepath.Join(e.tree, "new"))
	dir, base := filepath.Split(e.tree)
	link := filepath.Join(e.root, "link")
	if err := os.Symlink(e.tree, link); err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{dir + "/" + base, e.tree + "/", e.tree + "/.", dir + "./" + base, link} {
		s := e.verify(3, "--path", p)
		if d := cmp.Diff(map[string]uint64{"not-in-campaign": 1}, nonzeroClasses(s)); d != "" {
			t.Errorf("verify --path %s: classes -want +got:\n%s", p, d)
		}
	}
}
