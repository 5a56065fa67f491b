package htmlreport

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"migrator/campaign"
	"migrator/checkpoint"
	"migrator/lfs"
	"migrator/manifest"
	"migrator/report"
)

func TestPrintable(t *testing.T) {
	for _, c := range []struct{ in, want string }{
		{"/a/b c", "/a/b c"},
		{"/a/\xff\xfe", `/a/\xff\xfe`},
		{"/a/new\nline\ttab", `/a/new\nline\ttab`},
		{`/a/back\slash`, `/a/back\\slash`},
		{"/a/é/日本", "/a/é/日本"},
		{"/a/\x01\x7f", `/a/\x01\x7f`},
		{"/a/\u0085", `/a/\u0085`},
		{"/a/\xc3", `/a/\xc3`}, // a truncated sequence is bytes
		{"<b>&", "<b>&"},       // left to html/template
	} {
		if got := Printable(c.in); got != c.want {
			t.Errorf("Printable(%q) = %q, want %q", c.in, got, c.want)
		}
	}
}

func TestTopDir(t *testing.T) {
	scan := []string{"/scan/deep/er", "/scan", "/other/"}
	for _, c := range []struct{ in, want string }{
		{"/scan/projA/x/y", "/scan/projA"},
		{"/scan/top.txt", "/scan/"},
		{"/scan/deep/er/p/q", "/scan/deep/er/p"},
		{"/scan/deep/x", "/scan/deep"},
		{"/other/o/1", "/other/o"},
		{"/elsewhere/f", "(outside the scan paths)"},
	} {
		if got := topDir(c.in, scan); got != c.want {
			t.Errorf("topDir(%q) = %q, want %q", c.in, got, c.want)
		}
	}
	for _, c := range []struct{ in, want string }{{"/home/u/f", "/home"}, {"/f", "/"}} { // scanning the whole filesystem
		if got := topDir(c.in, []string{"/"}); got != c.want {
			t.Errorf("topDir(%q) = %q, want %q", c.in, got, c.want)
		}
	}
}

// The series coarsens as the campaign's span grows, keeping every count.
func TestSeriesCoarsens(t *testing.T) {
	s := newSeries()
	s.osts = 2
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	const n = 10000
	for i := 0; i < n; i++ {
		s.add(t0.Add(time.Duration(i)*7*time.Second), "migrated", 10, []int{i % 2})
	}
	s.add(t0, "failed", 5, []int{0})
	s.add(t0, "would_migrate", 5, []int{0})
	if len(s.buckets) > maxBuckets {
		t.Fatalf("%d buckets, want at most %d", len(s.buckets), maxBuckets)
	}
	bins := s.Bins(100)
	if len(bins) > 100 || len(bins) < 50 {
		t.Fatalf("%d bins", len(bins))
	}
	var handled, bytes, done0, done1 uint64
	for _, b := range bins {
		handled += b.Handled
		bytes += b.MigratedBytes
		done0 += b.Done[0]
		done1 += b.Done[1]
	}
	if diff := cmp.Diff([]uint64{n + 1, n * 10, n / 2, n / 2}, []uint64{handled, bytes, done0, done1}); diff != "" {
		t.Errorf("totals (-want +got):\n%s", diff)
	}
	if !bins[0].Start.Equal(t0) {
		t.Errorf("first bin starts %v, want %v", bins[0].Start, t0)
	}
}

// fixture writes a campaign by hand: round 0 (a migrated file on each OST, a big one on
// both, a permanent failure under a non-UTF-8 name, a skipped file at the top of the scan
// path, a retryable failure and a pending file) and round 1, which retries the last two and
// migrates the retryable one.
func fixture(t *testing.T) (campaign.Dir, *campaign.Spec) {
	t.Helper()
	d := campaign.Dir{Root: t.TempDir()}
	spec := &campaign.Spec{Format: campaign.Format, ID: "c-html", CreatedAt: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC), Tool: "test",
		Request: campaign.Request{
			Selection: campaign.Selection{OSTs: "1-2", ScanPaths: []campaign.Path{"/scan"}, Excludes: []campaign.Path{"/scan/\xffexcl"}},
			Target:    campaign.Target{Mode: "nonblock", Pool: "new"},
			Work:      campaign.Work{Workers: 4, ShardFiles: 3, ShardBytes: 1 << 40, MaxAttempts: 5},
			Slurm:     campaign.Slurm{Scheduler: "local", Throttle: 2},
		}}
	if err := d.Save(spec); err != nil {
		t.Fatal(err)
	}
	t0 := time.Now().Add(-3 * time.Hour).UTC().Truncate(time.Second)
	type out struct {
		rec  checkpoint.Record
		none bool // pending
	}
	ent := func(path string, size uint64, uid uint32, osts ...uint32) manifest.Entry {
		return manifest.Entry{Path: path, Size: size, UID: uid, OSTs: osts, FID: lfs.FID{Seq: 0x200000400, Oid: uint32(len(path) + int(size))}}
	}
	writeRound := func(n int, es []manifest.Entry, outs []out, at time.Time) {
		rd := d.Round(n)
		if err := d.MkdirAll(rd); err != nil {
			t.Fatal(err)
		}
		w, err := manifest.NewWriter(manifest.WriterOptions{Dir: rd.Manifests, Campaign: spec.ID, Round: n, MaxFiles: 3, MaxBytes: 1 << 40})
		if err != nil {
			t.Fatal(err)
		}
		for i := range es {
			if err := w.Write(&es[i]); err != nil {
				t.Fatal(err)
			}
		}
		idx, err := w.Close()
		if err != nil {
			t.Fatal(err)
		}
		i := 0
		for _, s := range idx.Shards {
			cw, _, err := checkpoint.OpenWriter(checkpoint.LogPath(rd.Checkpoints, s.Shard),
				checkpoint.Header{Campaign: spec.ID, Round: n, Shard: s.Shard, Entries: s.Files, ShardSHA256: s.SHA256}, checkpoint.WriterOptions{}, checkpoint.Visitor{})
			if err != nil {
				t.Fatal(err)
			}
			if err := cw.AppendRunStart(&checkpoint.RunStart{Time: at, Host: "node1", PID: 1, Task: -1}); err != nil {
				t.Fatal(err)
			}
			for k := uint64(0); k < s.Files; k, i = k+1, i+1 {
				if outs[i].none {
					continue
				}
				r := outs[i].rec
				r.Index = k
				if err := cw.Append(&r); err != nil {
					t.Fatal(err)
				}
			}
			if err := cw.Close(); err != nil {
				t.Fatal(err)
			}
		}
	}
	mig := func(at time.Duration, dur time.Duration) out {
		return out{rec: checkpoint.Record{Outcome: checkpoint.Migrated, Time: t0.Add(at), Duration: dur, Attempts: 1}}
	}
	writeRound(0, []manifest.Entry{
		ent("/scan/projA/one", 100, 0, 1),
		ent("/scan/projA/big", 1<<30, 0, 1, 2),
		ent("/scan/projB/\xff\nbad<b>", 7, 4242, 2),
		ent("/scan/top.txt", 3, 0, 1),
		ent("/scan/projB/busy", 11, 4242, 2),
		ent("/scan/projA/later", 13, 0, 1),
	}, []out{
		mig(10*time.Second, 2*time.Second),
		mig(40*time.Minute, 90*time.Second),
		{rec: checkpoint.Record{Outcome: checkpoint.Failed, Class: lfs.ClassPermission, Errno: syscall.EACCES, Time: t0.Add(5 * time.Minute), Message: "Permission denied"}},
		{rec: checkpoint.Record{Outcome: checkpoint.Skipped, Reason: checkpoint.SkipGone, Time: t0.Add(6 * time.Minute)}},
		{rec: checkpoint.Record{Outcome: checkpoint.Failed, Class: lfs.ClassRetryLater, Errno: syscall.EBUSY, Retryable: true, Time: t0.Add(7 * time.Minute), Message: "Device or resource busy"}},
		{none: true},
	}, t0)
	writeRound(1, []manifest.Entry{
		ent("/scan/projB/busy", 11, 4242, 2),
		ent("/scan/projA/later", 13, 0, 1),
	}, []out{mig(2*time.Hour, time.Second), {none: true}}, time.Now().Add(time.Minute))
	return d, spec
}

var figureRE = regexp.MustCompile(`data-figure="([^"]+)" data-value="([^"]*)"`)

// figures are the page's machine-readable figures: data-figure name → data-value.
func figures(t *testing.T, page string) map[string]string {
	t.Helper()
	m := map[string]string{}
	for _, s := range figureRE.FindAllStringSubmatch(page, -1) {
		m[s[1]] = s[2]
	}
	if len(m) == 0 {
		t.Fatal("no data-figure in the page")
	}
	return m
}

// statusFigures are the same figures, read from status.json.
func statusFigures(t *testing.T, data []byte) map[string]string {
	t.Helper()
	var st report.Status
	if err := json.Unmarshal(data, &st); err != nil {
		t.Fatal(err)
	}
	m := map[string]string{}
	u := func(v uint64) string { return strconv.FormatUint(v, 10) }
	for _, c := range []struct {
		kind string
		c    report.Counts
	}{{"files", st.Files}, {"bytes", st.Bytes}} {
		m[c.kind+".planned"], m[c.kind+".migrated"], m[c.kind+".skipped"] = u(c.c.Planned), u(c.c.Migrated), u(c.c.Skipped)
		m[c.kind+".failed"], m[c.kind+".pending"], m[c.kind+".would_migrate"] = u(c.c.Failed), u(c.c.Pending), u(c.c.WouldMigrate)
	}
	for k, v := range st.FailedByClass {
		m["failed_by_class."+k] = u(v)
	}
	for k, v := range st.SkippedByReason {
		m["skipped_by_reason."+k] = u(v)
	}
	for k, v := range st.SourceOSTsRemaining {
		m["source_osts_remaining."+k] = u(v)
	}
	for _, r := range st.Rounds {
		p := fmt.Sprintf("rounds.%d.files.", r.Round)
		m[p+"planned"], m[p+"migrated"], m[p+"skipped"] = u(r.Files.Planned), u(r.Files.Migrated), u(r.Files.Skipped)
		m[p+"failed"], m[p+"pending"] = u(r.Files.Failed), u(r.Files.Pending)
	}
	m["running_shards"] = strconv.Itoa(st.RunningShards)
	m["files_per_second"] = strconv.FormatFloat(st.FilesPerSecond, 'g', -1, 64)
	m["bytes_per_second"] = strconv.FormatFloat(st.BytesPerSecond, 'g', -1, 64)
	return m
}

// render collects the fixture into reports/ (status.json) and renders its page.
func render(t *testing.T) (page string, statusJSON []byte, d campaign.Dir) {
	t.Helper()
	d, spec := fixture(t)
	if _, err := report.WriteReports(context.Background(), d, spec, 2); err != nil {
		t.Fatal(err)
	}
	statusJSON, err := os.ReadFile(filepath.Join(d.Reports(), report.StatusJSON))
	if err != nil {
		t.Fatal(err)
	}
	r, err := Build(context.Background(), d, spec, Options{LookupUser: func(uid uint32) (string, bool) {
		if uid == 0 {
			return "root", true
		}
		return "", false
	}})
	if err != nil {
		t.Fatal(err)
	}
	var b bytes.Buffer
	if err := Render(&b, r); err != nil {
		t.Fatal(err)
	}
	return b.String(), statusJSON, d
}

// The page carries status.json's figures, its breakdowns add up, hostile names show as
// escapes, and it refers to nothing outside itself.
func TestPage(t *testing.T) {
	page, statusJSON, _ := render(t)
	want := statusFigures(t, statusJSON)
	got := figures(t, page)
	for k := range got { // the page has a few figures status.json does not (the sweep's)
		if _, ok := want[k]; !ok {
			delete(got, k)
		}
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("page figures differ from status.json (-status.json +page):\n%s", diff)
	}
	// What the fixture says, so that a page and a status.json both wrong cannot pass.
	for k, v := range map[string]string{"files.planned": "6", "files.migrated": "3", "files.failed": "1", "files.skipped": "1",
		"files.pending": "1", "source_osts_remaining.1": "1", "source_osts_remaining.2": "1", "failed_by_class.permission": "1",
		"rounds.1.files.migrated": "1"} {
		if got[k] != v {
			t.Errorf("%s = %q, want %q", k, got[k], v)
		}
	}
	for _, s := range []string{
		`/scan/projB/\xff\nbad&lt;b&gt;`, // the failed file's directory group and the largest-files list
		`/scan/\xffexcl`,                 // an exclude in the settings
		`/scan/projB</td>`,               // failures by top-level directory
		`uid 4242</td>`,                  // an owner the node does not know
		`permission EACCES: Permission denied`,
		`/scan/projA/big`, // largest and slowest
		`id="no-sweep"`,
		`<polyline`, // charts drawn
	} {
		if !strings.Contains(page, s) {
			t.Errorf("page lacks %q", s)
		}
	}
	if strings.Contains(page, "root (uid 0)") { // root owns no failed file in the fixture
		t.Error("root listed among the owners of failed files")
	}
	if !strings.Contains(page, "Slowest migrated files") || strings.Index(page, "1m30s") < 0 {
		t.Error("the slowest file (1m30s) is not listed")
	}
	if strings.ContainsRune(page, '\uFFFD') || !strings.Contains(page, "<!DOCTYPE html>") {
		t.Error("page has U+FFFD or no doctype")
	}
	for _, bad := range []string{"<script", "src=", "href=", "url(", "@import", "http:", "https:", "<link", "<img", "<iframe"} {
		if strings.Contains(strings.ToLower(page), bad) {
			t.Errorf("page contains %q: it must load nothing", bad)
		}
	}
}

// A sweep written by verify is shown; an unreadable one is said so.
func TestPageSweep(t *testing.T) {
	d, spec := fixture(t)
	os.MkdirAll(d.Reports(), 0o700)
	sweep := `{"campaign":"c-html","time":"2026-01-02T03:04:05Z","seconds":12,"on_source":2,"unaccounted":0,
	  "classes":{"failed":1,"pending":1},"per_ost":{"1":{"on_source":1,"unaccounted":0},"2":{"on_source":1,"unaccounted":0}}}`
	var sw report.Sweep // written as verify writes it: with its checksum
	if err := json.Unmarshal([]byte(sweep), &sw); err != nil {
		t.Fatal(err)
	}
	if err := report.WriteSweep(d, &sw); err != nil {
		t.Fatal(err)
	}
	r, err := Build(context.Background(), d, spec, Options{})
	if err != nil {
		t.Fatal(err)
	}
	var b bytes.Buffer
	if err := Render(&b, r); err != nil {
		t.Fatal(err)
	}
	got := figures(t, b.String())
	if got["sweep.on_source"] != "2" || got["sweep.unaccounted"] != "0" || strings.Contains(b.String(), "no-sweep") {
		t.Errorf("sweep not shown: %v", got)
	}
	if strings.Contains(b.String(), "sweep-partial") {
		t.Error("a sweep of every scan path is said to be partial")
	}
	// A sweep of part of the scan paths (verify --path SUBDIR) is not what is left.
	sw.Uncovered = []campaign.Path{"/fs/other"}
	if err := report.WriteSweep(d, &sw); err != nil {
		t.Fatal(err)
	}
	if r, err = Build(context.Background(), d, spec, Options{}); err != nil {
		t.Fatal(err)
	}
	b.Reset()
	Render(&b, r)
	if !strings.Contains(b.String(), `id="sweep-partial"`) || !strings.Contains(b.String(), "/fs/other") {
		t.Error("a sweep of part of the scan paths is shown as the measure")
	}
	os.WriteFile(filepath.Join(d.Reports(), report.SweepJSON), []byte("{"), 0o600)
	if r, err = Build(context.Background(), d, spec, Options{}); err != nil {
		t.Fatal(err)
	}
	b.Reset()
	Render(&b, r)
	if !strings.Contains(b.String(), "could not be read") {
		t.Error("a damaged verify.json is not reported")
	}
}

// The page in a real browser, without network: it renders (a PNG screenshot), logs no
// error, and its DOM carries status.json's figures.
func TestChromium(t *testing.T) {
	chromium, err := exec.LookPath("chromium")
	if err != nil {
		if os.Getenv("MIGRATOR_REQUIRE_CHROMIUM") == "1" {
			t.Fatal("chromium not found and MIGRATOR_REQUIRE_CHROMIUM=1")
		}
		t.Skip("chromium not installed (apt-get install chromium); set MIGRATOR_REQUIRE_CHROMIUM=1 to fail instead")
	}
	page, statusJSON, _ := render(t)
	dir := t.TempDir()
	file := filepath.Join(dir, "report.html")
	if err := os.WriteFile(file, []byte(page), 0o644); err != nil {
		t.Fatal(err)
	}
	run := func(extra ...string) (stdout, stderr string) { return runChromium(t, chromium, dir, file, extra...) }
	// The console check below must be able to fail: a page with a script error shows in
	// this browser's log as CONSOLE.
	bad := filepath.Join(dir, "bad.html")
	os.WriteFile(bad, []byte(`<!DOCTYPE html><html><body><script>throw new Error("probe")</script></body></html>`), 0o644)
	if _, stderr := runChromium(t, chromium, dir, bad, "--dump-dom"); !strings.Contains(stderr, "CONSOLE") || !strings.Contains(stderr, "Uncaught") {
		t.Fatalf("chromium does not log a page's script errors with these flags; the console check would be blind:\n%s", stderr)
	}
	shot := filepath.Join(dir, "report.png")
	_, stderr := run("--screenshot=" + shot)
	png, err := os.ReadFile(shot)
	if err != nil {
		t.Fatalf("no screenshot: %v\n%s", err, stderr)
	}
	if len(png) < 10000 || !bytes.HasPrefix(png, []byte("\x89PNG\r\n\x1a\n")) {
		t.Errorf("screenshot is %d bytes, not a rendered PNG", len(png))
	}
	dom, stderr := run("--dump-dom")
	for _, bad := range []string{"Uncaught", "CONSOLE", ":CONSOLE(", "Failed to load resource", "net::ERR"} {
		if strings.Contains(stderr, bad) {
			t.Errorf("chromium logged %q:\n%s", bad, stderr)
		}
	}
	want := statusFigures(t, statusJSON)
	got := figures(t, dom)
	for k := range got {
		if _, ok := want[k]; !ok {
			delete(got, k)
		}
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("DOM figures differ from status.json (-status.json +DOM):\n%s", diff)
	}
	if !strings.Contains(dom, `\xff\nbad&lt;b&gt;`) {
		t.Error("the non-UTF-8 name is not in the DOM as \\xff")
	}
	if n := strings.Count(dom, "<svg"); n < 4 {
		t.Errorf("%d SVG charts in the DOM, want 4", n)
	}
}

// Value axes end on round numbers: of tens for counts, of KiB, MiB... for bytes.
func TestChartTicks(t *testing.T) {
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	xs := []time.Time{t0, t0.Add(time.Minute)}
	var got []string
	for _, c := range []struct {
		top    float64
		label  func(float64) string
		binary bool
	}{{730, countLabel, false}, {760 << 20, bytesRateLabel, true}, {3, countLabel, false}} {
		ch := newLineChart("x", "x", xs, []string{"a"}, [][]float64{{0, c.top}}, c.label, c.binary)
		var ls []string
		for _, tk := range ch.YTicks {
			ls = append(ls, tk.Label)
		}
		got = append(got, strings.Join(ls, " "))
	}
	want := []string{"0 200 400 600 800", "0 B/s 200 MiB/s 400 MiB/s 600 MiB/s 800 MiB/s", "0 1 2 3"}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("ticks (-want +got):\n%s", diff)
	}
}

// runChromium runs headless Chromium on file, without network, with its log on stderr.
func runChromium(t *testing.T, chromium, dir, file string, extra ...string) (stdout, stderr string) {
	t.Helper()
	args := append([]string{"--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
		"--disable-background-networking", "--disable-component-update", "--disable-sync",
		"--user-data-dir=" + filepath.Join(dir, "profile"), "--window-size=1200,3000",
		"--enable-logging=stderr", "--v=0"}, extra...)
	args = append(args, "file://"+file)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, chromium, args...)
	var o, e bytes.Buffer
	cmd.Stdout, cmd.Stderr = &o, &e
	if err := cmd.Run(); err != nil {
		t.Fatalf("chromium %v: %v\n%s", extra, err, e.String())
	}
	return o.String(), e.String()
}

// report.Options.Entry hands every planned file exactly once, in the state the campaign's
// counts give it: the breakdowns built on it add up to status.json's totals.
func TestEntriesAreTheCounts(t *testing.T) {
	d, spec := fixture(t)
	var got report.Counts
	seen := map[string]int{}
	st, err := report.Collect(context.Background(), d, spec, report.Options{Entry: func(a report.Accounted) error {
		seen[a.Entry.Path]++
		got.Planned++
		switch a.State {
		case "migrated":
			got.Migrated++
		case "skipped":
			got.Skipped++
		case "failed":
			got.Failed++
		case "pending", "would_migrate":
			got.Pending++
		default:
			t.Errorf("state %q", a.State)
		}
		if (a.State == "pending") != a.Time.IsZero() {
			t.Errorf("%s: state %s, time %v", a.Entry.Path, a.State, a.Time)
		}
		return nil
	}})
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(st.Files, got); diff != "" {
		t.Errorf("entries handed out vs the counts (-counts +entries):\n%s", diff)
	}
	for p, n := range seen {
		if n != 1 {
			t.Errorf("%q handed out %d times", p, n)
		}
	}
}

// With many source OSTs the chart draws the ones with most files, and the table all.
func TestManyOSTs(t *testing.T) {
	spec := &campaign.Spec{ID: "c-many", Request: campaign.Request{Selection: campaign.Selection{OSTs: "0-19"}}}
	r := &Report{Spec: spec, Series: newSeries(), Status: &report.Status{Campaign: "c-many", SourceOSTsRemaining: map[string]uint64{}}}
	r.Series.osts = 20
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	for i := 0; i < 20; i++ {
		r.SourceOSTs = append(r.SourceOSTs, uint32(i))
		r.PlannedOnOST = append(r.PlannedOnOST, uint64(100+i))
		r.Series.add(t0.Add(time.Duration(i)*time.Minute), "migrated", 1, []int{i})
	}
	var b bytes.Buffer
	if err := Render(&b, r); err != nil {
		t.Fatal(err)
	}
	page := b.String()
	chart := page[strings.Index(page, `id="chart-ost-progress"`):]
	chart = chart[:strings.Index(chart, "</figure>")]
	if n := strings.Count(chart, "<polyline"); n != maxOSTLines {
		t.Errorf("%d OSTs drawn, want %d", n, maxOSTLines)
	}
	if !strings.Contains(chart, "OST19") || strings.Contains(chart, "OST7<") || !strings.Contains(chart, "of 20") {
		t.Error("the chart does not draw the OSTs with most files, or does not say it leaves some out")
	}
	if n := strings.Count(page, `data-figure="source_osts_remaining.`); n != 20 {
		t.Errorf("%d OSTs in the table, want 20", n)
	}
}

// A campaign whose scan has not written round 0 yet (a distributed scan not sealed): the
// page says nothing is planned, and shows no percentage handled and no OST with 0 files
// left; once round 0 exists it shows them.
func TestPageScanUnfinished(t *testing.T) {
	d := campaign.Dir{Root: t.TempDir()}
	spec := &campaign.Spec{Format: campaign.Format, ID: "c-scan", Tool: "test", Request: campaign.Request{
		Selection: campaign.Selection{OSTs: "1-2", ScanPaths: []campaign.Path{"/scan"}},
		Work:      campaign.Work{ShardFiles: 3, ShardBytes: 1 << 40}}}
	if err := d.Save(spec); err != nil {
		t.Fatal(err)
	}
	r, err := Build(context.Background(), d, spec, Options{})
	if err != nil {
		t.Fatal(err)
	}
	var b bytes.Buffer
	if err := Render(&b, r); err != nil {
		t.Fatal(err)
	}
	page := b.String()
	if !strings.Contains(page, `id="scan-unfinished"`) || strings.Contains(page, `data-figure="handled_percent"`) ||
		strings.Contains(page, `data-figure="source_osts_remaining.`) {
		t.Errorf("page of a campaign before round 0:\n%s", page)
	}
	d, spec = fixture(t)
	if r, err = Build(context.Background(), d, spec, Options{}); err != nil {
		t.Fatal(err)
	}
	b.Reset()
	if err := Render(&b, r); err != nil {
		t.Fatal(err)
	}
	if page := b.String(); strings.Contains(page, `id="scan-unfinished"`) || !strings.Contains(page, `data-figure="handled_percent"`) ||
		!strings.Contains(page, `data-figure="source_osts_remaining.1"`) {
		t.Error("the page of a planned campaign says its scan is unfinished, or lacks its figures")
	}
}
