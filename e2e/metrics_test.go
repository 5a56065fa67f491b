package e2e

import (
	"context"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"migrator/campaign"
	"migrator/lfssim"
	"migrator/metrics"
)

// A real node_exporter, pointed at the campaign's textfile directory, shows migrator's
// series while a local campaign runs: the running shards and a growing outcome counter,
// then the final figures once it is done. The file is 0644 under a umask of 077, and
// passes promtool check metrics.
func TestNodeExporterScrapesLiveMetrics(t *testing.T) {
	exporter, err := exec.LookPath("prometheus-node-exporter")
	if err != nil {
		if os.Getenv("MIGRATOR_REQUIRE_PROMTOOL") == "1" {
			t.Fatal("prometheus-node-exporter is not installed (apt-get install prometheus-node-exporter)")
		}
		t.Skip("prometheus-node-exporter is not installed (apt-get install prometheus-node-exporter); .ci/run installs it")
	}
	old := syscall.Umask(0o077)
	defer syscall.Umask(old)
	e := newEnv(t, "LFS_SIM_LATENCY=25ms", "MIGRATOR_METRICS_EVERY=1s")
	e.mktree(lfssim.TreeOptions{Files: 400, SourceShare: 1})
	textfiles := filepath.Join(e.root, "textfile")
	os.Mkdir(textfiles, 0o755)

	addr := freeAddr(t)
	ne := exec.Command(exporter, "--collector.disable-defaults", "--collector.textfile",
		"--collector.textfile.directory="+textfiles, "--web.listen-address="+addr)
	ne.Stdout, ne.Stderr = io.Discard, io.Discard
	if err := ne.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { ne.Process.Kill(); ne.Wait() }()

	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	planDone := make(chan result, 1)
	go func() {
		planDone <- e.runCtx(ctx, e.planArgs("--scheduler", "local", "--textfile-dir", textfiles,
			"--workers", "1", "--shard-files", "100", "--array-throttle", "2")...)
	}()

	// While it runs: scrape until two different counts of outcomes were seen with shards running.
	seen := map[float64]bool{}
	var r result
	running := true
	for running {
		select {
		case r = <-planDone:
			running = false
		case <-time.After(300 * time.Millisecond):
		}
		m := scrape(t, addr)
		if running && m["migrator_running_shards"] > 0 {
			seen[m[`migrator_outcomes_total{outcome="migrated"}`]] = true
		}
	}
	if r.code != 0 {
		t.Fatalf("plan: exit %d\n%s", r.code, r.stderr)
	}
	t.Logf("migrated counts node_exporter showed while shards ran: %v", seen)
	if len(seen) < 2 {
		t.Errorf("node_exporter showed %d distinct migrated counts while shards ran (%v), want at least 2", len(seen), seen)
	}
	m := scrape(t, addr)
	want := map[string]float64{
		"migrator_running_shards":                     0,
		`migrator_files{state="pending"}`:             0,
		`migrator_files{state="failed"}`:              0,
		`migrator_outcomes_total{outcome="failed"}`:   0,
		"node_textfile_scrape_error":                  0,
		`migrator_outcomes_total{outcome="migrated"}`: m[`migrator_files{state="migrated"}`],
		`migrator_files{state="planned"}`:             m[`migrator_files{state="migrated"}`] + m[`migrator_files{state="skipped"}`],
		`migrator_task_runs_total`:                    m[`migrator_task_runs_total`],
	}
	for k, v := range want {
		got, ok := m[k]
		if !ok || got != v {
			t.Errorf("after the campaign, node_exporter shows %s = %v (present %v), want %v", k, got, ok, v)
		}
	}
	if m[`migrator_files{state="migrated"}`] < 300 || m["migrator_task_runs_total"] != 4 {
		t.Errorf("after the campaign: %v migrated, %v task runs; want most of 400 files, 4 runs", m[`migrator_files{state="migrated"}`], m["migrator_task_runs_total"])
	}
	spec, err := campaign.Dir{Root: e.camp}.Load()
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(textfiles, metrics.FileName(spec.ID))
	fi, err := os.Stat(path)
	if err != nil || fi.Mode().Perm() != 0o644 {
		t.Fatalf("%s: %v, mode %v; want 0644", path, err, fi)
	}
	ents, _ := os.ReadDir(textfiles)
	if len(ents) != 1 {
		t.Errorf("textfile directory holds %d files, want only %s", len(ents), filepath.Base(path))
	}
	promtoolFile(t, path)
}

// freeAddr returns a loopback address with a port nobody listens on.
func freeAddr(t *testing.T) string {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

var sampleRE = regexp.MustCompile(`^([a-z_]+)(\{[^}]*\})? (\S+)$`)

// scrape reads node_exporter's /metrics into name{labels} -> value, migrator's series
// without their campaign label (one campaign here). An exporter not yet listening gives
// an empty map.
func scrape(t *testing.T, addr string) map[string]float64 {
	t.Helper()
	resp, err := http.Get("http://" + addr + "/metrics")
	if err != nil {
		return map[string]float64{}
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	campaignLabel := regexp.MustCompile(`campaign="[^"]*",?`)
	out := map[string]float64{}
	for _, line := range strings.Split(string(body), "\n") {
		s := sampleRE.FindStringSubmatch(line)
		if s == nil {
			continue
		}
		labels := campaignLabel.ReplaceAllString(s[2], "")
		labels = strings.Replace(labels, ",}", "}", 1)
		if labels == "{}" {
			labels = ""
		}
		v, err := strconv.ParseFloat(s[3], 64)
		if err != nil {
			continue
		}
		out[s[1]+labels] = v
	}
	return out
}

// retry --textfile-dir gives a campaign planned without it live metrics from then on, kept
// in campaign.json; a textfile directory that is not one is refused before anything runs.
func TestRetryTextfileDir(t *testing.T) {
	e := newEnv(t)
	e.mktree(lfssim.TreeOptions{Files: 40, SourceShare: 1})
	textfiles := filepath.Join(e.root, "textfile")
	os.Mkdir(textfiles, 0o755)
	notDir := filepath.Join(e.root, "file")
	os.WriteFile(notDir, nil, 0o644)
	if r := e.run(e.planArgs("--no-submit", "--textfile-dir", notDir)...); r.code != 2 || !strings.Contains(r.stderr, "not a directory") {
		t.Fatalf("plan --textfile-dir FILE: exit %d, %s", r.code, r.stderr)
	}
	if _, err := os.Stat(e.camp); err == nil {
		t.Error("a refused plan created its campaign")
	}
	e.mustRun(0, e.planArgs("--no-submit")...)
	if r := e.run("retry", e.camp, "--scheduler", "local", "--textfile-dir", filepath.Join(e.root, "missing")); r.code != 2 {
		t.Fatalf("retry --textfile-dir MISSING: exit %d, %s", r.code, r.stderr)
	}
	e.mustRun(0, "retry", e.camp, "--scheduler", "local", "--textfile-dir", textfiles)
	spec, err := campaign.Dir{Root: e.camp}.Load()
	if err != nil {
		t.Fatal(err)
	}
	if spec.Monitoring.TextfileDir != textfiles {
		t.Errorf("campaign.json textfile_dir %q, want %q", spec.Monitoring.TextfileDir, textfiles)
	}
	data, err := os.ReadFile(filepath.Join(textfiles, metrics.FileName(spec.ID)))
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range []string{
		`migrator_files{campaign="` + spec.ID + `",state="migrated"} 40`,
		`migrator_files{campaign="` + spec.ID + `",state="pending"} 0`,
		`migrator_running_shards{campaign="` + spec.ID + `"} 0`,
	} {
		if !strings.Contains(string(data), line+"\n") {
			t.Errorf("textfile lacks %s:\n%s", line, data)
		}
	}
}
