package report

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"migrator/campaign"
	"migrator/checkpoint"
	"migrator/lfs"
	"migrator/manifest"
)

// fixture builds a campaign directory by hand: round 0 with two shards, outcomes for some
// entries, and (optionally) a retry round.
type fixture struct {
	t    *testing.T
	d    campaign.Dir
	spec *campaign.Spec
}

func newFixture(t *testing.T) *fixture {
	d := campaign.Dir{Root: t.TempDir()}
	spec := &campaign.Spec{Format: campaign.Format, ID: "c-test", Request: campaign.Request{
		Selection: campaign.Selection{OSTs: "1-2"},
		Work:      campaign.Work{ShardFiles: 100, ShardBytes: 1 << 40},
	}}
	if err := d.Save(spec); err != nil {
		t.Fatal(err)
	}
	return &fixture{t: t, d: d, spec: spec}
}

// round writes round n's manifests, one shard per group of entries.
func (f *fixture) round(n int, shards ...[]manifest.Entry) {
	rd := f.d.Round(n)
	if err := f.d.MkdirAll(rd); err != nil {
		f.t.Fatal(err)
	}
	idx := manifest.Index{Format: manifest.Format, Campaign: f.spec.ID, Round: n, Shards: []manifest.ShardIndex{}}
	for k, es := range shards {
		var b bytes.Buffer
		sw, err := manifest.NewShardWriter(&b, manifest.Header{Campaign: f.spec.ID, Round: n, Shard: k})
		if err != nil {
			f.t.Fatal(err)
		}
		for i := range es {
			sw.Write(&es[i])
		}
		sum, err := sw.Close()
		if err != nil {
			f.t.Fatal(err)
		}
		os.WriteFile(filepath.Join(rd.Manifests, manifest.ShardName(k)), b.Bytes(), 0o600)
		h := sha256.Sum256(b.Bytes())
		idx.Shards = append(idx.Shards, manifest.ShardIndex{Shard: k, File: manifest.ShardName(k), Files: sum.Entries,
			Bytes: sum.Bytes, SHA256: hex.EncodeToString(h[:])})
		idx.Files += sum.Entries
		idx.Bytes += sum.Bytes
	}
	if _, err := manifest.WriteIndex(rd.Manifests, idx); err != nil {
		f.t.Fatal(err)
	}
}

// outcomes writes checkpoint records for shard k of round n.
func (f *fixture) outcomes(n, k int, entries uint64, recs ...checkpoint.Record) {
	rd := f.d.Round(n)
	idx, err := manifest.ReadIndex(rd.Manifests)
	if err != nil {
		f.t.Fatal(err)
	}
	w, _, err := checkpoint.OpenWriter(checkpoint.LogPath(rd.Checkpoints, k),
		checkpoint.Header{Campaign: f.spec.ID, Round: n, Shard: k, Entries: entries, ShardSHA256: idx.Shards[k].SHA256},
		checkpoint.WriterOptions{}, checkpoint.Visitor{})
	if err != nil {
		f.t.Fatal(err)
	}
	w.AppendRunStart(&checkpoint.RunStart{Time: time.Unix(1000, 0), Host: "node1"})
	for i := range recs {
		if recs[i].Time.IsZero() {
			recs[i].Time = time.Unix(1000+int64(i), 0)
		}
		w.Append(&recs[i])
	}
	w.Close()
}

func entries(prefix string, n int, size uint64, ost uint32) []manifest.Entry {
	var es []manifest.Entry
	for i := 0; i < n; i++ {
		es = append(es, manifest.Entry{Path: fmt.Sprintf("/fs/%s-%02d", prefix, i), FID: lfs.FID{Seq: 0x200000400, Oid: uint32(i + 1)},
			Size: size, Nlink: 1, UID: 1000, OSTs: []uint32{ost}})
	}
	return es
}

func migrated(i uint64) checkpoint.Record {
	return checkpoint.Record{Index: i, Outcome: checkpoint.Migrated}
}

func failed(i uint64, retryable bool) checkpoint.Record {
	c := lfs.ClassPermission
	if retryable {
		c = lfs.ClassRetryLater
	}
	return checkpoint.Record{Index: i, Outcome: checkpoint.Failed, Class: c, Errno: syscall.EBUSY, Retryable: retryable,
		Attempts: 5, Message: "cannot get lease: Device or resource busy"}
}

func TestCollectOneRound(t *testing.T) {
	f := newFixture(t)
	s0, s1 := entries("a", 10, 100, 1), entries("b", 5, 1000, 2)
	s1[4].Path = "/fs/non-utf8-\xff\xfe"
	f.round(0, s0, s1)
	f.outcomes(0, 0, 10, migrated(0), migrated(1), checkpoint.Record{Index: 2, Outcome: checkpoint.Skipped, Reason: checkpoint.SkipGone},
		failed(3, true), failed(4, false), migrated(5))
	f.outcomes(0, 1, 5, migrated(0), failed(4, true))
	var fails []Failure
	var retry []manifest.Entry
	st, err := Collect(context.Background(), f.d, f.spec, Options{
		Failure: func(x Failure) error { fails = append(fails, x); return nil },
		Retry:   func(e manifest.Entry) error { retry = append(retry, e); return nil },
	})
	if err != nil {
		t.Fatal(err)
	}
	want := Counts{Planned: 15, Migrated: 4, Skipped: 1, Failed: 3, Pending: 7}
	if st.Files != want {
		t.Errorf("files %+v, want %+v", st.Files, want)
	}
	if wb := (Counts{Planned: 6000, Migrated: 1300, Skipped: 100, Failed: 1200, Pending: 3400}); st.Bytes != wb {
		t.Errorf("bytes %+v, want %+v", st.Bytes, wb)
	}
	if st.SkippedByReason["gone"] != 1 || st.FailedByClass["retry-later"] != 2 || st.FailedByClass["permission"] != 1 {
		t.Errorf("by reason %v, by class %v", st.SkippedByReason, st.FailedByClass)
	}
	if st.SourceOSTsRemaining["1"] != 6 || st.SourceOSTsRemaining["2"] != 4 {
		t.Errorf("remaining per OST %v", st.SourceOSTsRemaining)
	}
	// Shards are read in parallel: the callbacks come in any order.
	sort.Slice(retry, func(i, j int) bool { return retry[i].Path < retry[j].Path })
	if len(fails) != 3 || len(retry) != 2 || retry[0].Path != "/fs/a-03" || retry[1].Path != "/fs/non-utf8-\xff\xfe" {
		t.Errorf("%d failures, retry %v", len(fails), retry)
	}
	if len(st.Shards) != 2 || st.Shards[0].Runs != 1 || st.Shards[0].Host != "node1" || st.Shards[1].Files.Planned != 5 {
		t.Errorf("shards %+v", st.Shards)
	}
}

// A retry round takes over its predecessor's retryable failures and pending entries; the
// campaign's figures always add up to what was planned.
func TestCollectRounds(t *testing.T) {
	f := newFixture(t)
	s0 := entries("a", 10, 10, 1)
	f.round(0, s0)
	// Round 0: 3 migrated, 1 failed for good, 2 failed retryable, 4 pending (cancelled).
	f.outcomes(0, 0, 10, migrated(0), migrated(1), migrated(2), failed(3, false), failed(4, true), failed(5, true))
	// Round 1: the 6 taken over (4, 5, 6, 7, 8, 9): 4 migrated, 1 fails again, 1 pending.
	r1 := []manifest.Entry{s0[4], s0[5], s0[6], s0[7], s0[8], s0[9]}
	f.round(1, r1)
	f.outcomes(1, 0, 6, migrated(0), migrated(1), migrated(2), migrated(3), failed(4, true))
	st, err := Collect(context.Background(), f.d, f.spec, Options{})
	if err != nil {
		t.Fatal(err)
	}
	want := Counts{Planned: 10, Migrated: 7, Failed: 2, Pending: 1}
	if st.Files != want {
		t.Errorf("files %+v, want %+v", st.Files, want)
	}
	if len(st.Rounds) != 2 || st.Rounds[0].SupersededFiles != 6 || st.Rounds[1].Files.Planned != 6 {
		t.Errorf("rounds %+v", st.Rounds)
	}
	if !st.Files.Balanced() || !st.Bytes.Balanced() || st.Bytes.Planned != 100 {
		t.Errorf("unbalanced: %+v %+v", st.Files, st.Bytes)
	}
}

func TestCollectRejectsForeignCheckpoint(t *testing.T) {
	f := newFixture(t)
	f.round(0, entries("a", 3, 1, 1), entries("b", 3, 1, 1))
	f.outcomes(0, 1, 3, migrated(0))
	rd := f.d.Round(0)
	os.Rename(checkpoint.LogPath(rd.Checkpoints, 1), checkpoint.LogPath(rd.Checkpoints, 0))
	if _, err := Collect(context.Background(), f.d, f.spec, Options{}); err == nil || !strings.Contains(err.Error(), "belongs to") {
		t.Errorf("foreign checkpoint: %v", err)
	}
}

// A shard's log damaged in the middle (two writers at once) is reported as such, with
// every valid record counted and the lost one pending, never an error that blocks the
// report; once its next run has set the log aside, the set-aside copy is reported.
func TestCollectDamagedLog(t *testing.T) {
	f := newFixture(t)
	f.round(0, entries("a", 6, 10, 1))
	log := checkpoint.LogPath(f.d.Round(0).Checkpoints, 0)
	f.outcomes(0, 0, 6, migrated(0), migrated(1))
	f.outcomes(0, 0, 6, migrated(2))
	fi, _ := os.Stat(log)
	f.outcomes(0, 0, 6, migrated(3), migrated(4))
	data, _ := os.ReadFile(log)
	data[fi.Size()-1] ^= 0xff // the last byte of entry 2's record
	os.WriteFile(log, data, 0o600)

	st, err := Collect(context.Background(), f.d, f.spec, Options{})
	if err != nil {
		t.Fatalf("collect of a damaged log: %v", err)
	}
	if want := (Counts{Planned: 6, Migrated: 4, Pending: 2}); st.Files != want {
		t.Errorf("files %+v, want %+v", st.Files, want)
	}
	if s := st.Shards[0]; !strings.Contains(s.Damaged, "middle") || len(s.SetAside) != 0 {
		t.Errorf("shard %+v: want it reported damaged", s)
	}
	var human bytes.Buffer
	WriteHuman(&human, st, nil)
	if !strings.Contains(human.String(), "round 0 shard 0: checkpoint") {
		t.Errorf("summary does not name the damaged shard:\n%s", human.String())
	}

	// The shard's next run sets the log aside and rebuilds it.
	idx, err := manifest.ReadIndex(f.d.Round(0).Manifests)
	if err != nil {
		t.Fatal(err)
	}
	w, rec, err := checkpoint.OpenWriter(log, checkpoint.Header{Campaign: f.spec.ID, Shard: 0, Entries: 6, ShardSHA256: idx.Shards[0].SHA256},
		checkpoint.WriterOptions{}, checkpoint.Visitor{})
	if err != nil || rec.SetAside == "" {
		t.Fatalf("rebuild: %+v %v", rec, err)
	}
	w.Close()
	st, err = Collect(context.Background(), f.d, f.spec, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if want := (Counts{Planned: 6, Migrated: 4, Pending: 2}); st.Files != want {
		t.Errorf("after the rebuild: files %+v, want %+v", st.Files, want)
	}
	if s := st.Shards[0]; s.Damaged != "" || !cmp.Equal(s.SetAside, []string{filepath.Base(rec.SetAside)}) {
		t.Errorf("after the rebuild: shard %+v", s)
	}
}

// Reports on disk: failures.jsonl keeps non-UTF-8 names exactly (base64), the retry
// manifests hold the retryable failures, status.prom passes promtool.
func TestWriteReports(t *testing.T) {
	f := newFixture(t)
	s0 := entries("a", 4, 10, 1)
	s0[1].Path = "/fs/bad-\xff\x00x"[:9] + "\nline\xfe"
	f.round(0, s0)
	f.outcomes(0, 0, 4, migrated(0), failed(1, true), failed(2, false))
	w, err := WriteReports(context.Background(), f.d, f.spec, 2)
	if err != nil {
		t.Fatal(err)
	}
	data, _ := os.ReadFile(filepath.Join(f.d.Reports(), FailuresFile))
	var got []Failure
	sc := bufio.NewScanner(bytes.NewReader(data))
	for sc.Scan() {
		var x Failure
		if err := json.Unmarshal(sc.Bytes(), &x); err != nil {
			t.Fatal(err)
		}
		got = append(got, x)
	}
	if len(got) != 2 || string(got[0].Path) != s0[1].Path || !strings.Contains(string(data), `"base64"`) {
		t.Errorf("failures.jsonl:\n%s", data)
	}
	r, err := manifest.OpenShard(filepath.Join(f.d.Reports(), RetryDir, manifest.ShardName(0)), w.Retry.Shards[0].SHA256)
	if err != nil {
		t.Fatal(err)
	}
	var e manifest.Entry
	if err := r.Next(&e); err != nil || e.Path != s0[1].Path || r.Next(&e) != io.EOF || r.Header().Round != 1 {
		t.Errorf("retry manifest: %q %v", e.Path, err)
	}
	r.Close()
	var out bytes.Buffer
	WriteHuman(&out, w.Status, w.TopFailures)
	for _, s := range []string{"4 planned, 1 migrated, 0 skipped, 2 failed, 1 pending", "retry-later", "cannot get lease"} {
		if !strings.Contains(out.String(), s) {
			t.Errorf("summary lacks %q:\n%s", s, out.String())
		}
	}
	promtool(t, filepath.Join(f.d.Reports(), StatusProm))
}

// Events count every checkpoint record, each round and late runs included: a file that
// failed in round 0 and migrated in round 1 is one failure and one migration.
func TestEvents(t *testing.T) {
	f := newFixture(t)
	f.round(0, entries("a", 4, 10, 1))
	m := migrated(0)
	m.Bytes = 10
	f.outcomes(0, 0, 4, m, failed(1, true), failed(2, false))
	f.round(1, entries("a", 2, 10, 1)[1:2])
	m1 := migrated(0)
	m1.Bytes = 12
	f.outcomes(1, 0, 1, m1)
	st, err := Collect(context.Background(), f.d, f.spec, Options{})
	if err != nil {
		t.Fatal(err)
	}
	want := Events{Outcomes: map[string]uint64{"migrated": 2, "failed": 2, "skipped": 0, "would-migrate": 0}, MigratedBytes: 22, Runs: 2}
	if diff := cmp.Diff(want, st.Events); diff != "" {
		t.Errorf("events (-want +got):\n%s", diff)
	}
	var b strings.Builder
	WriteProm(&b, st)
	for _, line := range []string{"# TYPE migrator_outcomes_total counter", `migrator_outcomes_total{campaign="c-test",outcome="failed"} 2`,
		`migrator_migrated_bytes_total{campaign="c-test"} 22`, `migrator_task_runs_total{campaign="c-test"} 2`,
		`migrator_running_shards{campaign="c-test"} 0`} {
		if !strings.Contains(b.String(), line+"\n") {
			t.Errorf("status.prom lacks %s:\n%s", line, b.String())
		}
	}
}

// promtool runs "promtool check metrics" on a file, as node_exporter's textfile collector
// users would.
// Collects that meet, or were killed, leave one complete retry set behind reports/retry.
func TestWriteReportsReplacesRetryWhole(t *testing.T) {
	f := newFixture(t)
	f.round(0, entries("a", 4, 10, 1))
	f.outcomes(0, 0, 4, migrated(0), failed(1, true), failed(2, true))
	reports := f.d.Reports()
	os.MkdirAll(filepath.Join(reports, "retry.new"), 0o700) // left by an older release
	os.MkdirAll(filepath.Join(reports, "retry.123"), 0o700) // a collect killed before publishing
	os.Symlink("retry.123", filepath.Join(reports, ".tmp-retry.abc"))
	var wg sync.WaitGroup
	errs := make([]error, 4)
	for i := range errs {
		wg.Go(func() { _, errs[i] = WriteReports(context.Background(), f.d, f.spec, 2) })
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	idx, err := manifest.ReadIndex(filepath.Join(reports, RetryDir))
	if err != nil || idx.Files != 2 {
		t.Fatalf("retry index: %+v, %v", idx, err)
	}
	target, err := os.Readlink(filepath.Join(reports, RetryDir))
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	ents, _ := os.ReadDir(reports)
	for _, e := range ents {
		names = append(names, e.Name())
	}
	want := []string{FailuresFile, RetryDir, target, StatusJSON, StatusProm}
	sort.Strings(want)
	if diff := cmp.Diff(want, names); diff != "" {
		t.Errorf("reports/ (-want +got):\n%s", diff)
	}
}

func promtool(t *testing.T, path string) {
	bin, err := exec.LookPath("promtool")
	if err != nil {
		if os.Getenv("MIGRATOR_REQUIRE_PROMTOOL") == "1" {
			t.Fatal("promtool is not installed (apt-get install prometheus)")
		}
		t.Skip("promtool is not installed (apt-get install prometheus); .ci/run installs it")
	}
	data, _ := os.ReadFile(path)
	cmd := exec.Command(bin, "check", "metrics")
	cmd.Stdin = bytes.NewReader(data)
	out, err := cmd.CombinedOutput()
	if err != nil || len(bytes.TrimSpace(out)) > 0 {
		t.Errorf("promtool check metrics: %v\n%s\n--- file:\n%s", err, out, data)
	}
}

func TestPromFormat(t *testing.T) {
	st := &Status{Campaign: `c"odd\name`, Generated: time.Unix(100, 0), Files: Counts{Planned: 3, Migrated: 1, Pending: 2},
		SkippedByReason: map[string]uint64{"gone": 1}, FailedByClass: map[string]uint64{"other": 0},
		SourceOSTsRemaining: map[string]uint64{"10": 2, "9": 1}, Shards: []ShardStatus{{Round: 0, Shard: 7, Files: Counts{Pending: 2}}}}
	var b strings.Builder
	WriteProm(&b, st)
	want := []string{
		`migrator_files{campaign="c\"odd\\name",state="pending"} 2`,
		`migrator_source_ost_remaining_files{campaign="c\"odd\\name",ost="9"} 1`,
		`migrator_shard_files{campaign="c\"odd\\name",round="0",shard="7",state="pending"} 2`,
		"# TYPE migrator_files gauge",
	}
	for _, w := range want {
		if !strings.Contains(b.String(), w) {
			t.Errorf("missing %s in\n%s", w, b.String())
		}
	}
	if i9, i10 := strings.Index(b.String(), `ost="9"`), strings.Index(b.String(), `ost="10"`); i9 > i10 {
		t.Error("OSTs are not in numeric order")
	}
	p := filepath.Join(t.TempDir(), "x.prom")
	os.WriteFile(p, []byte(b.String()), 0o644)
	promtool(t, p)
}

// run appends one more run to shard k of round n, started at start, with recs after it.
func (f *fixture) run(n, k int, entries uint64, start time.Time, recs ...checkpoint.Record) {
	rd := f.d.Round(n)
	idx, err := manifest.ReadIndex(rd.Manifests)
	if err != nil {
		f.t.Fatal(err)
	}
	w, _, err := checkpoint.OpenWriter(checkpoint.LogPath(rd.Checkpoints, k),
		checkpoint.Header{Campaign: f.spec.ID, Round: n, Shard: k, Entries: entries, ShardSHA256: idx.Shards[k].SHA256},
		checkpoint.WriterOptions{}, checkpoint.Visitor{})
	if err != nil {
		f.t.Fatal(err)
	}
	if err := w.AppendRunStart(&checkpoint.RunStart{Time: start, Host: "late"}); err != nil {
		f.t.Fatal(err)
	}
	for i := range recs {
		recs[i].Time = start.Add(time.Duration(i+1) * time.Second)
		if err := w.Append(&recs[i]); err != nil {
			f.t.Fatal(err)
		}
	}
	if err := w.Close(); err != nil {
		f.t.Fatal(err)
	}
}

// A shard of round 0 run again after round 1 took its unfinished files over (what
// status's advice used to lead to): its late run is not counted, so the counts still add
// up. Where the late run cannot be told (its clock ran behind the file server's), the
// report is still made, with the numbers and the inconsistency spelled out, never refused.
func TestLateRunOfASupersededRound(t *testing.T) {
	f := newFixture(t)
	s0 := entries("a", 4, 100, 1)
	f.round(0, s0)
	f.outcomes(0, 0, 4, migrated(0), failed(1, true)) // 2 and 3 pending
	f.round(1, s0[1:])                                // the retry round: entries 1, 2, 3
	made := time.Unix(5000, 0)
	index1 := filepath.Join(f.d.Round(1).Manifests, manifest.IndexFile)
	if err := os.Chtimes(index1, made, made); err != nil {
		t.Fatal(err)
	}
	f.outcomes(1, 0, 3, migrated(0))
	f.run(0, 0, 4, made.Add(time.Hour), migrated(1), migrated(2), migrated(3)) // work --round 0 --shard 0, late

	st, err := Collect(context.Background(), f.d, f.spec, Options{})
	if err != nil {
		t.Fatal(err)
	}
	type figures struct {
		Files         Counts
		LateRuns      int
		Inconsistency string
	}
	want := figures{Files: Counts{Planned: 4, Migrated: 2, Pending: 2}, LateRuns: 1}
	if diff := cmp.Diff(want, figures{st.Files, st.LateRuns, st.Inconsistency}); diff != "" {
		t.Errorf("with the late run detected (-want +got):\n%s", diff)
	}
	var human bytes.Buffer
	WriteHuman(&human, st, nil)
	if !strings.Contains(human.String(), "note: 1 run of shards a later round had taken over (round 0 shard 0) not counted") {
		t.Errorf("human report:\n%s", human.String())
	}

	// The same late run on a clock behind the file server's: it looks like an ordinary one.
	if err := os.Chtimes(index1, made.Add(2*time.Hour), made.Add(2*time.Hour)); err != nil {
		t.Fatal(err)
	}
	w, err := WriteReports(context.Background(), f.d, f.spec, 2)
	if err != nil {
		t.Fatalf("collect refused to report: %v", err)
	}
	st = w.Status
	if st.Files != (Counts{Planned: 4, Migrated: 5, Pending: 2}) || st.LateRuns != 0 {
		t.Errorf("figures as read: %+v, late runs %d", st.Files, st.LateRuns)
	}
	for _, s := range []string{"the counts do not add up", "migrated 5 + skipped 0 + failed 0 + pending 2 = 7 files, 3 more than the 4 planned",
		"(bytes: 700 counted, 400 planned)", "a new campaign planned over the same OSTs"} {
		if !strings.Contains(st.Inconsistency, s) {
			t.Errorf("inconsistency %q does not say %q", st.Inconsistency, s)
		}
	}
	var onDisk Status
	data, _ := os.ReadFile(filepath.Join(f.d.Reports(), StatusJSON))
	if err := json.Unmarshal(data, &onDisk); err != nil || onDisk.Inconsistency != st.Inconsistency || onDisk.Files != st.Files {
		t.Errorf("status.json: %v %+v %q", err, onDisk.Files, onDisk.Inconsistency)
	}
	human.Reset()
	WriteHuman(&human, st, nil)
	if !strings.Contains(human.String(), "inconsistency: the counts do not add up") {
		t.Errorf("human report:\n%s", human.String())
	}
}

// The ETA is given while a shard runs (a live task holds its lock), not after: a rate from
// the past says nothing about when a campaign nobody works on will end.
func TestETAOnlyWhileSomethingRuns(t *testing.T) {
	f := newFixture(t)
	f.round(0, entries("a", 10, 100, 1))
	f.outcomes(0, 0, 10, migrated(0), migrated(1), migrated(2), migrated(3))
	st, err := Collect(context.Background(), f.d, f.spec, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if st.FilesPerSecond == 0 || st.ETASeconds != 0 || st.RunningShards != 0 {
		t.Errorf("nothing running: rate %v, ETA %v, running %d; want a rate and no ETA", st.FilesPerSecond, st.ETASeconds, st.RunningShards)
	}
	var human bytes.Buffer
	WriteHuman(&human, st, nil)
	if strings.Contains(human.String(), "ETA") {
		t.Errorf("human report with nothing running gives an ETA:\n%s", human.String())
	}

	lock, err := checkpoint.AcquireLock(checkpoint.LockPath(f.d.Round(0).Checkpoints, 0), checkpoint.CurrentHolder(os.Getenv), checkpoint.LockOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer lock.Release()
	if st, err = Collect(context.Background(), f.d, f.spec, Options{}); err != nil {
		t.Fatal(err)
	}
	// 4 files handled in 3 s (the records' times): 6 pending at 4/3 files/s.
	if st.RunningShards != 1 || st.ETASeconds != 4.5 {
		t.Errorf("a shard running: running %d, ETA %v s; want 1 and 4.5", st.RunningShards, st.ETASeconds)
	}
	human.Reset()
	WriteHuman(&human, st, nil)
	if !strings.Contains(human.String(), "; ETA 5s\n") && !strings.Contains(human.String(), "; ETA 4s\n") {
		t.Errorf("human report with a shard running:\n%s", human.String())
	}
}

// One shard, one file: "1 shard", "1 file", never "1 shards".
func TestHumanPlurals(t *testing.T) {
	f := newFixture(t)
	f.round(0, entries("a", 1, 100, 1))
	st, err := Collect(context.Background(), f.d, f.spec, Options{})
	if err != nil {
		t.Fatal(err)
	}
	var b bytes.Buffer
	WriteHuman(&b, st, nil)
	for _, want := range []string{"% of 1 file handled", "round 0: 1 shard, 1 file: "} {
		if !strings.Contains(b.String(), want) {
			t.Errorf("human report does not say %q:\n%s", want, b.String())
		}
	}
	f.round(1, entries("a", 2, 100, 1), entries("b", 1, 100, 1))
	st, _ = Collect(context.Background(), f.d, f.spec, Options{})
	b.Reset()
	WriteHuman(&b, st, nil)
	if !strings.Contains(b.String(), "round 1: 2 shards, 3 files: ") {
		t.Errorf("human report:\n%s", b.String())
	}
}

// Before round 0 is written (a distributed scan not sealed, a plan still scanning) nothing
// is planned: the human summary, status.json and status.prom say so, and none of them
// reads as progress or as an OST drained (no "100.0% of 0 files", no "OST1 0"). Once round
// 0 exists, the figures are back.
func TestScanUnfinished(t *testing.T) {
	f := newFixture(t)
	w, err := WriteReports(context.Background(), f.d, f.spec, 2)
	if err != nil {
		t.Fatal(err)
	}
	st := w.Status
	if !st.ScanUnfinished || len(st.SourceOSTsRemaining) != 0 {
		t.Errorf("no round yet: scan_unfinished %v, source_osts_remaining %v; want true and none", st.ScanUnfinished, st.SourceOSTsRemaining)
	}
	var human strings.Builder
	WriteHuman(&human, st, nil)
	if !strings.Contains(human.String(), ScanUnfinishedLine+"\n") || strings.Contains(human.String(), "%") ||
		strings.Contains(human.String(), "handled") || strings.Contains(human.String(), "OST") {
		t.Errorf("human summary before round 0:\n%s", human.String())
	}
	data, err := os.ReadFile(filepath.Join(f.d.Reports(), StatusJSON))
	if err != nil {
		t.Fatal(err)
	}
	var js map[string]any
	if err := json.Unmarshal(data, &js); err != nil {
		t.Fatal(err)
	}
	if js["scan_unfinished"] != true || len(js["source_osts_remaining"].(map[string]any)) != 0 {
		t.Errorf("status.json before round 0: scan_unfinished %v, source_osts_remaining %v", js["scan_unfinished"], js["source_osts_remaining"])
	}
	prom, err := os.ReadFile(filepath.Join(f.d.Reports(), StatusProm))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(prom), `migrator_scan_unfinished{campaign="c-test"} 1`+"\n") ||
		strings.Contains(string(prom), "migrator_files{") || strings.Contains(string(prom), "migrator_source_ost_remaining_files{") {
		t.Errorf("status.prom before round 0:\n%s", prom)
	}
	before := prom

	f.round(0, entries("a", 3, 10, 1))
	f.outcomes(0, 0, 3, migrated(0))
	w, err = WriteReports(context.Background(), f.d, f.spec, 2)
	if err != nil {
		t.Fatal(err)
	}
	human.Reset()
	WriteHuman(&human, w.Status, nil)
	if w.Status.ScanUnfinished || strings.Contains(human.String(), ScanUnfinishedLine) || !strings.Contains(human.String(), " 33.3% of 3 files handled") ||
		!strings.Contains(human.String(), "OST1 2, OST2 0") {
		t.Errorf("after round 0: scan_unfinished %v\n%s", w.Status.ScanUnfinished, human.String())
	}
	prom, _ = os.ReadFile(filepath.Join(f.d.Reports(), StatusProm))
	if !strings.Contains(string(prom), `migrator_scan_unfinished{campaign="c-test"} 0`+"\n") || !strings.Contains(string(prom), `migrator_files{campaign="c-test",state="planned"} 3`) {
		t.Errorf("status.prom after round 0:\n%s", prom)
	}
	p := filepath.Join(t.TempDir(), "x.prom")
	os.WriteFile(p, before, 0o644)
	promtool(t, p) // last: it skips where promtool is not installed
}
