package report

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"migrator/campaign"
	"migrator/checkpoint"
	"migrator/manifest"
)

// A moved-out file still on a source OST counts as left there; one off the sources does
// not. Every skip reason, moved-out (8) included, keeps its own count.
func TestCollectMovedOut(t *testing.T) {
	f := newFixture(t)
	f.round(0, entries("a", 10, 100, 1))
	var recs []checkpoint.Record
	for r := checkpoint.SkipGone; r <= checkpoint.SkipHardLinkDone; r++ {
		recs = append(recs, checkpoint.Record{Index: uint64(r - 1), Outcome: checkpoint.Skipped, Reason: r})
	}
	recs = append(recs,
		checkpoint.Record{Index: 7, Outcome: checkpoint.Skipped, Reason: checkpoint.SkipMovedOut, OnSource: true},
		checkpoint.Record{Index: 8, Outcome: checkpoint.Skipped, Reason: checkpoint.SkipMovedOut},
		failed(9, true))
	f.outcomes(0, 0, 10, recs...)
	st, err := Collect(context.Background(), f.d, f.spec, Options{})
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]uint64{"gone": 1, "not-regular": 1, "fid-changed": 1, "off-source": 1, "hsm-released": 1,
		"excluded": 1, "hardlink-done": 1, "moved-out": 2}
	if d := cmp.Diff(want, st.SkippedByReason); d != "" {
		t.Errorf("skipped by reason -want +got:\n%s", d)
	}
	if st.MovedOutOnSource != 1 {
		t.Errorf("moved out while on a source OST: %d, want 1", st.MovedOutOnSource)
	}
	if st.SourceOSTsRemaining["1"] != 2 || st.FailedByClass["retry-later"] != 1 {
		t.Errorf("left on OST 1: %d (want the failure and the moved-out file still there), failed %v",
			st.SourceOSTsRemaining["1"], st.FailedByClass)
	}
}

// A top-up round's added entries are planned anew; its retry-set entries take over the
// round before as a retry round's do; a retry of the top-up round does not plan them twice.
func TestCollectTopUpRound(t *testing.T) {
	f := newFixture(t)
	f.round(0, entries("a", 4, 100, 1))
	f.outcomes(0, 0, 4, migrated(0), migrated(1), failed(2, true)) // 3 pending
	added := entries("new", 2, 10, 1)
	for i := range added {
		added[i].Flags = manifest.EntryAdded
	}
	r1 := append(entries("a", 4, 100, 1)[2:4], added...)
	f.round(1, r1)
	f.outcomes(1, 0, 4, migrated(0), failed(2, true), migrated(3)) // a-03 pending, new-00 failed
	var retry []manifest.Entry
	st, err := Collect(context.Background(), f.d, f.spec, Options{RetryPending: true,
		Retry: func(e manifest.Entry) error { retry = append(retry, e); return nil }})
	if err != nil {
		t.Fatal(err)
	}
	if want := (Counts{Planned: 6, Migrated: 4, Failed: 1, Pending: 1}); st.Files != want {
		t.Errorf("files %+v, want %+v", st.Files, want)
	}
	if len(retry) != 2 {
		t.Fatalf("retry set %v", retry)
	}
	for _, e := range retry {
		if e.Flags&manifest.EntryAdded != 0 {
			t.Errorf("%s keeps the added flag into the next round: it would be planned twice", e.Path)
		}
	}
}

func TestSummaryLeftLine(t *testing.T) {
	st := &Status{SourceOSTsRemaining: map[string]uint64{"1": 3}}
	if got := leftLine(st); !strings.Contains(got, "estimate: no sweep yet") || !strings.Contains(got, "OST1 3") {
		t.Errorf("no sweep: %q", got)
	}
	n := uint64(17)
	st.Sweep = &Sweep{Time: time.Unix(0, 0), OnSource: 2, Unaccounted: 1,
		PerOST: map[string]OSTSweep{"1": {OnSource: 2, Unaccounted: 1, ObjectsInUse: &n}}}
	if got := leftLine(st); strings.Contains(got, "estimate") || !strings.Contains(got, "2 files, 1 unaccounted") ||
		!strings.Contains(got, "OST1 2") || !strings.Contains(got, "objects in use (lfs df -i): OST1 17") {
		t.Errorf("with a sweep: %q", got)
	}
	st.MovedOutOnSource = 4
	if got := leftLine(st); !strings.Contains(got, "and 4 files moved out of the scan paths") {
		t.Errorf("moved-out files outside the sweep: %q", got)
	}
	later := time.Unix(3600, 0)
	st.LastActivity = &later
	if got := leftLine(st); !strings.Contains(got, "before the last activity") {
		t.Errorf("a sweep older than the last activity: %q", got)
	}
}

// status.prom says what a sweep measured, and when it ended, so an alert can tell a sweep
// of every scan path that no task followed from a partial or outdated one.
func TestSweepProm(t *testing.T) {
	last := time.Unix(5000, 0)
	st := &Status{Campaign: "c1", Generated: time.Unix(6000, 0), LastActivity: &last,
		Sweep: &Sweep{Time: time.Unix(4000, 0), Seconds: 90.5, OnSource: 3, Unaccounted: 1,
			Classes: map[string]uint64{ClassPending: 2}, PerOST: map[string]OSTSweep{"10": {OnSource: 1}, "9": {OnSource: 2}}}}
	var b strings.Builder
	WriteProm(&b, st)
	for _, want := range []string{
		`migrator_sweep_files{campaign="c1",class="pending"} 2`,
		`migrator_sweep_unaccounted_files{campaign="c1"} 1`,
		"migrator_sweep_source_ost_files{campaign=\"c1\",ost=\"9\"} 2\nmigrator_sweep_source_ost_files{campaign=\"c1\",ost=\"10\"} 1\n",
		`migrator_sweep_timestamp_seconds{campaign="c1"} 4000`,
		`migrator_sweep_end_timestamp_seconds{campaign="c1"} 4090`,
		`migrator_sweep_covers_scan_paths{campaign="c1"} 1`,
		`migrator_last_activity_timestamp_seconds{campaign="c1"} 5000`,
	} {
		if !strings.Contains(b.String(), want) {
			t.Errorf("status.prom lacks %q:\n%s", want, b.String())
		}
	}
	st.Sweep.Uncovered = []campaign.Path{campaign.Path("/scratch/b")}
	b.Reset()
	WriteProm(&b, st)
	if want := `migrator_sweep_covers_scan_paths{campaign="c1"} 0`; !strings.Contains(b.String(), want) {
		t.Errorf("a partial sweep: status.prom lacks %q", want)
	}
}

// Entries a top-up round lists in its supersedes file count there, not in their round:
// a non-retryable failure and a file recorded migrated yet found again.
func TestCollectSupersedes(t *testing.T) {
	f := newFixture(t)
	f.round(0, entries("a", 4, 100, 1))
	f.outcomes(0, 0, 4, migrated(0), migrated(1), failed(2, false), migrated(3))
	f.round(1, entries("a", 4, 100, 1)[1:3])
	f.outcomes(1, 0, 2, migrated(0), migrated(1))
	if err := manifest.WriteSupersedes(f.d.Round(1).Manifests, []manifest.Origin{{Round: 0, Shard: 0, Index: 1}, {Round: 0, Shard: 0, Index: 2}}); err != nil {
		t.Fatal(err)
	}
	st, err := Collect(context.Background(), f.d, f.spec, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if want := (Counts{Planned: 4, Migrated: 4}); st.Files != want || st.FailedByClass["permission"] != 0 {
		t.Errorf("files %+v (want %+v), failed %v", st.Files, want, st.FailedByClass)
	}
	if st.Rounds[0].SupersededFiles != 2 {
		t.Errorf("round 0: %+v", st.Rounds[0])
	}
}

// verify.json carries a checksum: a flipped digit in it (0 left where there were 2) is
// refused, never shown as measured; the summary then keeps the labelled estimate.
func TestSweepChecksum(t *testing.T) {
	d := campaign.Dir{Root: t.TempDir()}
	n := uint64(5)
	s := &Sweep{Campaign: "c", Time: time.Unix(1700000000, 0).UTC(), Seconds: 1.25, OnSource: 2, Unaccounted: 2,
		Classes: map[string]uint64{ClassNotInCampaign: 2}, PerOST: map[string]OSTSweep{"1": {OnSource: 2, Unaccounted: 2, ObjectsInUse: &n}}}
	if err := WriteSweep(d, s); err != nil {
		t.Fatal(err)
	}
	got, err := ReadSweep(d)
	if err != nil || got.OnSource != 2 {
		t.Fatalf("read back: %+v, %v", got, err)
	}
	path := filepath.Join(d.Reports(), SweepJSON)
	raw, _ := os.ReadFile(path)
	damaged := strings.Replace(string(raw), `"on_source": 2`, `"on_source": 0`, 1)
	if damaged == string(raw) {
		t.Fatal("test did not damage the file")
	}
	os.WriteFile(path, []byte(damaged), 0o600)
	if got, err := ReadSweep(d); err == nil || !strings.Contains(err.Error(), path) {
		t.Fatalf("damaged verify.json read as %+v, %v", got, err)
	}
	st := &Status{SourceOSTsRemaining: map[string]uint64{"1": 3}, SweepError: "damaged"}
	if got := leftLine(st); !strings.Contains(got, "estimate") || !strings.Contains(got, "unreadable") {
		t.Errorf("left line with a damaged sweep: %q", got)
	}
}
