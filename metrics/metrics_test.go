package metrics

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"migrator/campaign"
	"migrator/checkpoint"
	"migrator/report"
)

// The textfile is 0644 whatever the umask (node_exporter runs as another user), is
// replaced whole, and leaves no temporary file that node_exporter could read.
func TestWriteMode(t *testing.T) {
	old := syscall.Umask(0o077)
	defer syscall.Umask(old)
	dir := t.TempDir()
	spec := &campaign.Spec{ID: "c-20261202-061500-abcd0123"}
	st := &report.Status{Campaign: spec.ID, Generated: time.Unix(1700000000, 0), RunningShards: 3,
		Events: report.Events{Outcomes: map[string]uint64{"migrated": 7}}}
	for i := 0; i < 2; i++ {
		if err := Write(dir, st, spec); err != nil {
			t.Fatal(err)
		}
	}
	fi, err := os.Stat(filepath.Join(dir, "migrator-c-20261202-061500-abcd0123.prom"))
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o644 {
		t.Errorf("mode %o, want 644", fi.Mode().Perm())
	}
	data, _ := os.ReadFile(filepath.Join(dir, FileName(spec.ID)))
	for _, line := range []string{`migrator_running_shards{campaign="c-20261202-061500-abcd0123"} 3`,
		`migrator_outcomes_total{campaign="c-20261202-061500-abcd0123",outcome="migrated"} 7`,
		`migrator_report_timestamp_seconds{campaign="c-20261202-061500-abcd0123"} 1700000000`} {
		if !strings.Contains(string(data), line+"\n") {
			t.Errorf("textfile lacks %s:\n%s", line, data)
		}
	}
	ents, _ := os.ReadDir(dir)
	var names []string
	for _, e := range ents {
		names = append(names, e.Name())
	}
	if diff := cmp.Diff([]string{FileName(spec.ID)}, names); diff != "" {
		t.Errorf("textfile directory (-want +got):\n%s", diff)
	}
}

func TestCheckDir(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "f")
	os.WriteFile(file, nil, 0o600)
	for _, tc := range []struct{ dir, want string }{
		{dir, ""},
		{"relative/dir", "not an absolute path"},
		{filepath.Join(dir, "missing"), "no such file or directory"},
		{file, "not a directory"},
	} {
		err := CheckDir(tc.dir)
		if (tc.want == "") != (err == nil) || err != nil && !strings.Contains(err.Error(), tc.want) {
			t.Errorf("CheckDir(%s) = %v, want %q", tc.dir, err, tc.want)
		}
	}
}

// The example alerting rules are valid, fire when they should (promtool test rules), and
// use only metrics that migrator writes.
func TestAlertRules(t *testing.T) {
	promtool := lookPromtool(t)
	rules := filepath.Join("..", "monitoring", "alerts.yml")
	for _, args := range [][]string{{"check", "rules", rules}, {"test", "rules", filepath.Join("..", "monitoring", "alerts_test.yml")}} {
		out, err := exec.Command(promtool, args...).CombinedOutput()
		if err != nil {
			t.Errorf("promtool %s: %v\n%s", strings.Join(args, " "), err, out)
		}
	}
	data, err := os.ReadFile(rules)
	if err != nil {
		t.Fatal(err)
	}
	var b bytes.Buffer
	report.WriteProm(&b, &report.Status{Campaign: "c", LastActivity: &time.Time{}})
	written := map[string]bool{}
	for _, m := range regexp.MustCompile(`(?m)^# TYPE (\S+)`).FindAllStringSubmatch(b.String(), -1) {
		written[m[1]] = true
	}
	var unknown []string
	for _, name := range regexp.MustCompile(`migrator_[a-z_]+`).FindAllString(string(data), -1) {
		if !written[name] {
			unknown = append(unknown, name)
		}
	}
	sort.Strings(unknown)
	if len(unknown) > 0 {
		t.Errorf("alerts.yml uses metrics migrator does not write: %v", unknown)
	}
}

func lookPromtool(t *testing.T) string {
	bin, err := exec.LookPath("promtool")
	if err != nil {
		if os.Getenv("MIGRATOR_REQUIRE_PROMTOOL") == "1" {
			t.Fatal("promtool is not installed (apt-get install prometheus)")
		}
		t.Skip("promtool is not installed (apt-get install prometheus); .ci/run installs it")
	}
	return bin
}

func TestInterval(t *testing.T) {
	for _, tc := range []struct {
		last float64
		want time.Duration
	}{
		{0, 30 * time.Second},
		{0.2, 30 * time.Second},
		{3, 30 * time.Second},
		{40, 400 * time.Second},
	} {
		if got := interval(30*time.Second, tc.last); got != tc.want {
			t.Errorf("interval after a %v s collect = %v, want %v", tc.last, got, tc.want)
		}
	}
}

// A task refreshes a missing or old file, leaves a fresh one alone, skips while another
// task holds the lock, and on Stop waits for that lock only as long as it is told.
func TestRefresher(t *testing.T) {
	d := campaign.Dir{Root: t.TempDir()}
	os.MkdirAll(d.Reports(), 0o700)
	spec := &campaign.Spec{ID: "c-r", Request: campaign.Request{Selection: campaign.Selection{OSTs: "1"}}}
	dir := t.TempDir()
	path := Path(dir, spec)
	holder := checkpoint.CurrentHolder(func(string) string { return "" })
	o := Options{Dir: dir, Holder: holder, Every: time.Hour, CheckEvery: time.Hour}

	r := Start(d, spec, o) // first look at once: no file yet
	r.Stop(time.Second)
	if _, err := os.Stat(path); err != nil {
		t.Fatalf("no textfile after a start and stop: %v", err)
	}
	old := time.Now().Add(-2 * time.Hour)
	os.Chtimes(path, old, old) // as if written two hours ago
	r = Start(d, spec, Options{Dir: dir, Holder: holder, Every: 3 * time.Hour, CheckEvery: time.Hour})
	r.cancel()
	<-r.done
	if fi2, _ := os.Stat(path); !fi2.ModTime().Equal(old) {
		t.Errorf("a file younger than Every was rewritten (mtime %v, was %v)", fi2.ModTime(), old)
	}

	// Another task holds the lock: no refresh, and Stop gives up after its wait.
	other := holder
	other.PID, other.PIDStart = os.Getppid(), 0 // alive, on this host
	lock, err := checkpoint.AcquireLock(filepath.Join(d.Reports(), Lock), other, checkpoint.LockOptions{})
	if err != nil {
		t.Fatal(err)
	}
	os.Remove(path)
	r = Start(d, spec, o)
	t0 := time.Now()
	r.Stop(300 * time.Millisecond)
	if _, err := os.Stat(path); err == nil {
		t.Error("refreshed while another task held the lock")
	}
	if el := time.Since(t0); el < 300*time.Millisecond || el > 3*time.Second {
		t.Errorf("Stop waited %v for the lock, want about 300ms", el)
	}
	lock.Release()
	r = Start(d, spec, o)
	r.Stop(time.Second)
	if _, err := os.Stat(path); err != nil {
		t.Errorf("no refresh once the lock was free: %v", err)
	}
	var c cost
	data, err := os.ReadFile(filepath.Join(d.Reports(), CostFile))
	if err != nil || json.Unmarshal(data, &c) != nil || c.Seconds <= 0 || c.Started.IsZero() {
		t.Errorf("%s: %s, %v; want the refresh's start and duration", CostFile, data, err)
	}

	// Tasks ending together: a task whose shard was released before another task's
	// refresh began needs no final refresh of its own; one released after it does.
	released := time.Now()
	other2 := Start(d, spec, o)
	other2.Stop(time.Second) // refreshes after released
	before := r.lastCost().Started
	r = Start(d, spec, o)
	r.cancel()
	<-r.done
	r.tick(context.Background(), released)
	if got := r.lastCost().Started; !got.Equal(before) {
		t.Errorf("a final refresh although one began after the shard was released (%v, then %v)", before, got)
	}
	r.tick(context.Background(), time.Now())
	if got := r.lastCost().Started; !got.After(before) {
		t.Errorf("no final refresh for a shard released after the last one began (%v, then %v)", before, got)
	}
}
