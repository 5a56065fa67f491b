package e2e

import (
	"encoding/json"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"unicode/utf8"

	"migrator/htmlreport"
	"migrator/lfssim"
	"migrator/report"
)

// migrator report --html on a real campaign with failures and hostile names: the file is
// written, its figures are status.json's, and every non-UTF-8 name shows as \xNN.
func TestReportHTML(t *testing.T) {
	// A third of the files fail, by a hash of their inode (so not the same ones each run):
	// every name is hostile and dozens are not UTF-8 (13 of them failed in a run here), so
	// "no failed non-UTF-8 name" is a chance below 10^-6 (with 300 files, one in two
	// hostile, it was about 10^-3, and CI met it).
	e := newEnv(t, "LFS_SIM_FAIL_EVERY=3")
	e.mktree(lfssim.TreeOptions{Files: 600, Seed: 73, HostileEvery: 1})
	e.mustRun(3, e.planArgs("--scheduler", "local", "--shard-files", "50")...) // some files fail: exit 3
	e.mustRun(0, "collect", e.camp)
	page := filepath.Join(e.root, "out", "report.html")
	os.MkdirAll(filepath.Dir(page), 0o755)
	r := e.mustRun(0, "report", e.camp, "--html", page, "--top", "1000")
	if !strings.Contains(r.stderr, page) {
		t.Errorf("report does not say where it wrote: %q", r.stderr)
	}
	html, err := os.ReadFile(page)
	if err != nil {
		t.Fatal(err)
	}
	st := e.status()
	fig := map[string]string{}
	for _, m := range regexp.MustCompile(`data-figure="([^"]+)" data-value="([^"]*)"`).FindAllStringSubmatch(string(html), -1) {
		fig[m[1]] = m[2]
	}
	u := func(v uint64) string { return strconv.FormatUint(v, 10) }
	want := map[string]string{"files.planned": u(st.Files.Planned), "files.migrated": u(st.Files.Migrated),
		"files.failed": u(st.Files.Failed), "files.skipped": u(st.Files.Skipped), "files.pending": u(st.Files.Pending),
		"bytes.migrated": u(st.Bytes.Migrated), "failed_by_class.other": u(st.FailedByClass["other"])}
	for k, v := range st.SourceOSTsRemaining {
		want["source_osts_remaining."+k] = u(v)
	}
	for k, v := range want {
		if fig[k] != v {
			t.Errorf("%s: page %q, status.json %q", k, fig[k], v)
		}
	}
	if st.Files.Failed == 0 || st.Files.Migrated == 0 {
		t.Fatalf("the campaign should have both failed and migrated files: %+v", st.Files)
	}
	// Every failed file is in the page (--top covers them all in the largest files), its
	// name as htmlreport prints it: bytes that are not UTF-8 as \xNN.
	data, _ := os.ReadFile(filepath.Join(e.camp, "reports", report.FailuresFile))
	esc := strings.NewReplacer("&", "&amp;", "<", "&lt;", ">", "&gt;", `"`, "&#34;", "'", "&#39;", "+", "&#43;")
	hostile := 0
	for _, line := range strings.Split(strings.TrimSpace(string(data)), "\n") {
		var f report.Failure
		if err := json.Unmarshal([]byte(line), &f); err != nil {
			t.Fatal(err)
		}
		if !utf8.ValidString(string(f.Path)) {
			hostile++
		}
		if shown := esc.Replace(htmlreport.Printable(string(f.Path))); !strings.Contains(string(html), shown) {
			t.Errorf("failed file %q not in the page as %q", f.Path, shown)
		}
	}
	t.Logf("failed files with non-UTF-8 names: %d", hostile)
	if hostile == 0 {
		t.Error("no failed file has a non-UTF-8 name: the tree does not test the escape")
	}
	if strings.ContainsRune(string(html), '\uFFFD') {
		t.Error("the page has U+FFFD: a name's bytes were lost")
	}

	// Bad input: one line, exit 2, no file.
	r = e.mustRun(2, "report", filepath.Join(e.root, "nope"), "--html", filepath.Join(e.root, "x.html"))
	if strings.Count(strings.TrimSpace(r.stderr), "\n") != 0 || !strings.Contains(r.stderr, filepath.Join(e.root, "nope")) {
		t.Errorf("stderr: %q", r.stderr)
	}
	if _, err := os.Stat(filepath.Join(e.root, "x.html")); err == nil {
		t.Error("a page was written for a directory that is no campaign")
	}
	r = e.mustRun(2, "report", e.camp)
	if !strings.Contains(r.stderr, "--html") {
		t.Errorf("report without --html: %q", r.stderr)
	}
}

// Before any task ran, the report says so rather than drawing empty charts.
func TestReportBeforeAnyTask(t *testing.T) {
	e := newEnv(t)
	e.mktree(lfssim.TreeOptions{Files: 40, Seed: 74})
	e.mustRun(0, e.planArgs("--no-submit")...)
	r := e.mustRun(0, "report", e.camp, "--html", "-")
	for _, s := range []string{"No task has recorded anything yet.", "No file migrated yet", `id="no-sweep"`} {
		if !strings.Contains(r.stdout, s) {
			t.Errorf("page lacks %q", s)
		}
	}
	if n := strings.Count(r.stdout, "not enough activity over time to draw yet"); n != 3 {
		t.Errorf("%d charts say there is nothing to draw yet, want 3", n)
	}
	if strings.Contains(r.stdout, "<polyline") {
		t.Error("a chart was drawn with no activity")
	}
}
