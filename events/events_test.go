package events

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"migrator/campaign"
	"migrator/checkpoint"
	"migrator/lfs"
	"migrator/manifest"
)

// campaignWith writes a campaign of shards × per entries whose checkpoints record every
// entry, in an order that is not the manifest's, with times interleaved across shards.
func campaignWith(t *testing.T, shards, per int) (campaign.Dir, *campaign.Spec) {
	t.Helper()
	d := campaign.Dir{Root: t.TempDir()}
	spec := &campaign.Spec{Format: campaign.Format, ID: "c-ev", Request: campaign.Request{Selection: campaign.Selection{OSTs: "1"}}}
	if err := d.Save(spec); err != nil {
		t.Fatal(err)
	}
	writeRound(t, d, spec, 0, shards, per)
	return d, spec
}

// writeRound writes round n's manifests and checkpoints (see campaignWith).
func writeRound(t *testing.T, d campaign.Dir, spec *campaign.Spec, n, shards, per int) {
	t.Helper()
	r0 := d.Round(n)
	if err := d.MkdirAll(r0); err != nil {
		t.Fatal(err)
	}
	w, err := manifest.NewWriter(manifest.WriterOptions{Dir: r0.Manifests, Campaign: spec.ID, Round: n, MaxFiles: uint64(per), MaxBytes: 1 << 40})
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i < shards*per; i++ {
		e := manifest.Entry{Path: entryPath(i/per, i%per), FID: lfs.FID{Seq: 0x200000400, Oid: uint32(i + 1)}, Nlink: 1, OSTs: []uint32{1}}
		if err := w.Write(&e); err != nil {
			t.Fatal(err)
		}
	}
	idx, err := w.Close()
	if err != nil {
		t.Fatal(err)
	}
	t0 := time.Unix(1_800_000_000, 0)
	for _, s := range idx.Shards {
		cw, _, err := checkpoint.OpenWriter(checkpoint.LogPath(r0.Checkpoints, s.Shard),
			checkpoint.Header{Campaign: spec.ID, Round: n, Shard: s.Shard, Entries: s.Files, ShardSHA256: s.SHA256}, checkpoint.WriterOptions{}, checkpoint.Visitor{})
		if err != nil {
			t.Fatal(err)
		}
		cw.AppendRunStart(&checkpoint.RunStart{Time: t0, Host: "n1"})
		for j := 0; j < per; j++ {
			i := uint64((j*7 + 3) % per) // out of manifest order
			cw.AppendAttempt(&checkpoint.Attempt{Index: i, Time: t0})
			cw.Append(&checkpoint.Record{Index: i, Outcome: checkpoint.Migrated, Time: t0.Add(time.Duration(j*shards+s.Shard) * time.Millisecond)})
		}
		cw.AppendRunEnd(&checkpoint.RunEnd{Time: t0.Add(time.Hour)})
		cw.Close()
	}
}

func entryPath(shard, i int) string { return fmt.Sprintf("/fs/s%d/\xfe\n%04d", shard, i) }

type seen struct {
	Shard int
	Index uint64
	Path  string
}

// Small batches hand out every event once, each log's in its own order, with its path;
// every poll stays within its batch and no finished shard's manifest stays open; a Tail
// started at the cursor after any event hands out exactly the rest; an idle poll is empty.
func TestPollBatchesAndCursors(t *testing.T) {
	const shards, per = 3, 50
	d, spec := campaignWith(t, shards, per)
	tl := New(d, spec, nil)
	defer tl.Close()
	tl.Batch = 7
	var all []seen
	var cursors []Cursor
	for polls := 0; ; polls++ {
		if polls > 100 {
			t.Fatal("polls never end")
		}
		n, err := tl.Poll(context.Background(), func(ev *Event) error {
			all = append(all, seen{ev.Shard, ev.Index, string(ev.Path)})
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		if n > 7 {
			t.Errorf("a poll of batch 7 handed out %d events", n)
		}
		if len(tl.paths.open) > 1 {
			t.Errorf("%d manifests open after a poll, want at most the one a batch stopped in", len(tl.paths.open))
		}
		if n == 0 {
			break
		}
		cursors = append(cursors, tl.Cursor())
	}
	want := map[int][]seen{}
	for k := 0; k < shards; k++ {
		for j := 0; j < per; j++ {
			i := (j*7 + 3) % per
			want[k] = append(want[k], seen{k, uint64(i), entryPath(k, i)})
		}
	}
	got := map[int][]seen{}
	for _, s := range all {
		got[s.Shard] = append(got[s.Shard], s)
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("events by shard (-want +got):\n%s", diff)
	}
	// Resume after each poll: exactly the events after it.
	handed := 0
	for i, c := range cursors {
		r := New(d, spec, c)
		var rest int
		for {
			n, err := r.Poll(context.Background(), func(*Event) error { return nil })
			if err != nil {
				t.Fatal(err)
			}
			if n == 0 {
				break
			}
			rest += n
		}
		r.Close()
		handed += min(7, len(all)-handed)
		if rest != len(all)-handed {
			t.Errorf("from the cursor after poll %d: %d events, want %d", i, rest, len(all)-handed)
		}
		if err := Check(d, spec, c); err != nil {
			t.Errorf("Check(cursor after poll %d): %v", i, err)
		}
	}
	// Time order within a poll that covers every log.
	tl2 := New(d, spec, nil)
	defer tl2.Close()
	var last time.Time
	if _, err := tl2.Poll(context.Background(), func(ev *Event) error {
		if ev.Time.Before(last) {
			t.Errorf("event at %v after one at %v", ev.Time, last)
		}
		last = ev.Time
		return nil
	}); err != nil {
		t.Fatal(err)
	}
}

// A follower picks up a round that retry makes after it started, and nothing twice.
func TestPollNewRound(t *testing.T) {
	d, spec := campaignWith(t, 2, 10)
	tl := New(d, spec, nil)
	defer tl.Close()
	count := func() map[int]int {
		byRound := map[int]int{}
		for {
			n, err := tl.Poll(context.Background(), func(ev *Event) error { byRound[ev.Round]++; return nil })
			if err != nil {
				t.Fatal(err)
			}
			if n == 0 {
				return byRound
			}
		}
	}
	if got := count(); !cmp.Equal(got, map[int]int{0: 20}) {
		t.Errorf("round 0: %v", got)
	}
	writeRound(t, d, spec, 1, 1, 5)
	if got := count(); !cmp.Equal(got, map[int]int{1: 5}) {
		t.Errorf("after round 1 was made: %v, want its 5 events only", got)
	}
	if c := tl.Cursor().String(); !strings.Contains(c, ";1.0=") {
		t.Errorf("cursor %s lacks round 1", c)
	}
}
