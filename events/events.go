// Package events is the stream of a campaign's per-file outcomes as the tasks record them:
// what "migrator tail" prints. It reads every round's checkpoint logs through checkpoint's
// reader, each up to its last complete record (as collect does), from a Cursor on: the
// byte offset, in each log, after the last record handed out. Each Poll reads what was
// appended to every log since, merges it by record time (each log's records stay in their
// order) and hands it out, moving the cursor past each event as it goes; a consumer that
// saves the cursor after the events it has processed and resumes from it gets every event
// at least once (exactly once if it saves after each event).
package events

import (
	"container/heap"
	"context"
	"errors"
	"fmt"
	"os"
	"sort"
	"strconv"
	"strings"
	"time"

	"migrator/campaign"
	"migrator/checkpoint"
	"migrator/lfs"
	"migrator/manifest"
)

// Event is one outcome record: a file migrated, skipped, failed or found "would migrate".
type Event struct {
	Time      time.Time     `json:"time"`
	Round     int           `json:"round"`
	Shard     int           `json:"shard"`
	Index     uint64        `json:"index"`
	Path      campaign.Path `json:"path"`
	Outcome   string        `json:"outcome"`
	Reason    string        `json:"reason,omitempty"` // skipped
	Class     string        `json:"class,omitempty"`  // failed
	Errno     int           `json:"errno,omitempty"`
	ErrnoName string        `json:"errno_name,omitempty"`
	Retryable bool          `json:"retryable,omitempty"`
	Attempts  uint32        `json:"attempts"`
	Bytes     uint64        `json:"bytes"`
	Seconds   float64       `json:"duration_seconds"`
	Message   string        `json:"message,omitempty"`
	// Offset is where the record ends in its log.
	Offset int64 `json:"offset"`
}

type logKey struct{ round, shard int }

// Cursor is a position in the stream: per log, the offset after the last event handed out.
type Cursor map[logKey]int64

// String encodes the cursor for --from: "v1" then ";R.K=OFFSET" for every log read so far.
func (c Cursor) String() string {
	keys := make([]logKey, 0, len(c))
	for k := range c {
		keys = append(keys, k)
	}
	sort.Slice(keys, func(i, j int) bool {
		return keys[i].round < keys[j].round || keys[i].round == keys[j].round && keys[i].shard < keys[j].shard
	})
	var b strings.Builder
	b.WriteString("v1")
	for _, k := range keys {
		fmt.Fprintf(&b, ";%d.%d=%d", k.round, k.shard, c[k])
	}
	return b.String()
}

// ParseCursor reads what Cursor.String wrote.
func ParseCursor(s string) (Cursor, error) {
	bad := func(why string) (Cursor, error) {
		return nil, fmt.Errorf("cursor %q: %s (want what migrator tail printed: v1;ROUND.SHARD=OFFSET;...)", s, why)
	}
	parts := strings.Split(s, ";")
	if parts[0] != "v1" {
		return bad("unknown version")
	}
	c := Cursor{}
	for _, p := range parts[1:] {
		key, off, ok := strings.Cut(p, "=")
		r, k, ok2 := strings.Cut(key, ".")
		if !ok || !ok2 {
			return bad(fmt.Sprintf("%q is not ROUND.SHARD=OFFSET", p))
		}
		rn, err1 := strconv.Atoi(r)
		kn, err2 := strconv.Atoi(k)
		o, err3 := strconv.ParseInt(off, 10, 64)
		if err1 != nil || err2 != nil || err3 != nil || rn < 0 || kn < 0 || o < 0 {
			return bad(fmt.Sprintf("%q is not ROUND.SHARD=OFFSET", p))
		}
		c[logKey{rn, kn}] = o
	}
	return c, nil
}

// Tail reads a campaign's events from a cursor on.
type Tail struct {
	d       campaign.Dir
	spec    *campaign.Spec
	pos     Cursor
	indexes map[int]manifest.Index // rounds' indexes, immutable once written
	paths   *pathCache
	// Batch bounds the events one Poll holds (default 16384). A backlog larger than that
	// (catching up on a campaign that ran) is read log after log, each Poll going on where
	// the last one stopped, so each batch is merged by time but batches follow the logs.
	Batch  int
	resume logKey // the log the last Poll stopped in, for lack of room
}

// maxOpen is how many shards' manifests a Tail keeps open (some 6 MiB each: a zstd window
// and buffers), enough for the running tasks of a campaign at the default throttle twice.
const maxOpen = 32

// New starts a Tail at from (nil: the beginning).
func New(d campaign.Dir, spec *campaign.Spec, from Cursor) *Tail {
	if from == nil {
		from = Cursor{}
	}
	return &Tail{d: d, spec: spec, pos: from, indexes: map[int]manifest.Index{}, paths: newPathCache(maxOpen), Batch: 16384}
}

// Cursor is the position after the last event handed out.
func (t *Tail) Cursor() Cursor {
	c := make(Cursor, len(t.pos))
	for k, v := range t.pos {
		c[k] = v
	}
	return c
}

// Close releases the manifests held open.
func (t *Tail) Close() { t.paths.close() }

// Poll hands every event appended since the cursor (at most Batch of them) to emit, merged
// by time, and returns how many it handed out. New rounds are picked up as retry makes
// them. emit's error stops the poll; the cursor stays before the event that failed.
func (t *Tail) Poll(ctx context.Context, emit func(*Event) error) (int, error) {
	rounds, err := t.d.Rounds()
	if err != nil {
		return 0, err
	}
	type logRef struct {
		key logKey
		hdr checkpoint.Header
		sh  manifest.ShardIndex
		rd  campaign.Round
	}
	var logs []logRef
	for _, r := range rounds {
		idx, ok := t.indexes[r]
		if !ok {
			idx, err = manifest.ReadIndex(t.d.Round(r).Manifests)
			if err != nil {
				return 0, err
			}
			if idx.Campaign != t.spec.ID || idx.Round != r {
				return 0, fmt.Errorf("%s: manifest index of campaign %s round %d, not %s round %d", t.d.Round(r).Manifests, idx.Campaign, idx.Round, t.spec.ID, r)
			}
			t.indexes[r] = idx
		}
		rd := t.d.Round(r)
		for _, sh := range idx.Shards {
			key := logKey{r, sh.Shard}
			fi, err := os.Stat(checkpoint.LogPath(rd.Checkpoints, sh.Shard))
			if err != nil || fi.Size() <= t.pos[key] {
				continue // not started, or nothing new
			}
			logs = append(logs, logRef{key, checkpoint.Header{Campaign: t.spec.ID, Round: r, Shard: sh.Shard, Entries: sh.Files, ShardSHA256: sh.SHA256}, sh, rd})
		}
	}
	if len(logs) == 0 {
		return 0, nil
	}
	// Start with the log the last Poll stopped in (logs are in round and shard order).
	first := sort.Search(len(logs), func(i int) bool {
		k := logs[i].key
		return k.round > t.resume.round || k.round == t.resume.round && k.shard >= t.resume.shard
	})
	logs = append(logs[first:], logs[:first]...)
	t.resume = logKey{}
	room := max(t.Batch, 1)
	errFull := errors.New("batch full")
	var h eventHeap
	for _, l := range logs {
		if room == 0 {
			t.resume = l.key
			break
		}
		var evs []*Event
		var end int64
		_, err := checkpoint.ReadFrom(checkpoint.LogPath(l.rd.Checkpoints, l.key.shard), l.hdr, t.pos[l.key], checkpoint.Visitor{
			Position: func(_, e int64) { end = e },
			Outcome: func(r *checkpoint.Record) error {
				if len(evs) >= room {
					return errFull
				}
				ev := fromRecord(r, l.key)
				ev.Offset = end
				evs = append(evs, ev)
				return nil
			},
		})
		if err != nil && !errors.Is(err, errFull) {
			return 0, err
		}
		// Paths in index order: one pass over the manifest, whatever order the task
		// recorded its files in.
		byIndex := append([]*Event(nil), evs...)
		sort.Slice(byIndex, func(i, j int) bool { return byIndex[i].Index < byIndex[j].Index })
		for _, ev := range byIndex {
			p, err := t.paths.path(l.rd, l.sh, t.indexes[l.key.round], ev.Index)
			if err != nil {
				return 0, err
			}
			ev.Path = campaign.Path(p)
		}
		if len(evs) > 0 {
			h = append(h, evs)
		}
		room -= len(evs)
		if errors.Is(err, errFull) {
			t.resume = l.key // the next Poll goes on here
			break
		}
		if !running(l.rd, l.key.shard) {
			t.paths.drop(l.rd, l.sh) // read to its end and no task on it: a rerun reopens it
		}
		if err == nil && len(evs) == 0 && end > t.pos[l.key] {
			t.pos[l.key] = end // only records of other kinds (attempts, runs) were new: move past them
		}
	}
	heap.Init(&h)
	n := 0
	for h.Len() > 0 {
		if err := ctx.Err(); err != nil {
			return n, err
		}
		ev := h[0][0]
		if err := emit(ev); err != nil {
			return n, err
		}
		t.pos[logKey{ev.Round, ev.Shard}] = ev.Offset
		n++
		if h[0] = h[0][1:]; len(h[0]) == 0 {
			heap.Pop(&h)
		} else {
			heap.Fix(&h, 0)
		}
	}
	return n, nil
}

func fromRecord(r *checkpoint.Record, k logKey) *Event {
	ev := &Event{Time: r.Time.UTC(), Round: k.round, Shard: k.shard, Index: r.Index, Outcome: r.Outcome.String(),
		Attempts: r.Attempts, Bytes: r.Bytes, Seconds: r.Duration.Seconds(), Message: r.Message, Retryable: r.Retryable}
	switch r.Outcome {
	case checkpoint.Skipped:
		ev.Reason = r.Reason.String()
	case checkpoint.Failed:
		ev.Class = r.Class.String()
		ev.Errno = int(r.Errno)
		if r.Errno != 0 {
			ev.ErrnoName = lfs.ErrnoName(r.Errno)
		}
	}
	return ev
}

// eventHeap merges the logs' event lists by the time of their first event.
type eventHeap [][]*Event

func (h eventHeap) Len() int { return len(h) }
func (h eventHeap) Less(i, j int) bool {
	a, b := h[i][0], h[j][0]
	if !a.Time.Equal(b.Time) {
		return a.Time.Before(b.Time)
	}
	return a.Round < b.Round || a.Round == b.Round && a.Shard < b.Shard
}
func (h eventHeap) Swap(i, j int) { h[i], h[j] = h[j], h[i] }
func (h *eventHeap) Push(x any)   { *h = append(*h, x.([]*Event)) }
func (h *eventHeap) Pop() any {
	old := *h
	x := old[len(old)-1]
	*h = old[:len(old)-1]
	return x
}

// Check makes sure every position of c is the end of a record of its log (or 0), reading
// those logs once from the start: a cursor from another campaign, or mangled, is refused
// rather than read from the middle of a record.
func Check(d campaign.Dir, spec *campaign.Spec, c Cursor) error {
	found := errors.New("found")
	for k, off := range c {
		rd := d.Round(k.round)
		idx, err := manifest.ReadIndex(rd.Manifests)
		if err != nil {
			return fmt.Errorf("cursor names round %d: %w", k.round, err)
		}
		if k.shard >= len(idx.Shards) {
			return fmt.Errorf("cursor names shard %d of round %d, which has %d", k.shard, k.round, len(idx.Shards))
		}
		sh := idx.Shards[k.shard]
		if off == 0 {
			continue
		}
		hdr := checkpoint.Header{Campaign: spec.ID, Round: k.round, Shard: sh.Shard, Entries: sh.Files, ShardSHA256: sh.SHA256}
		var hit bool
		_, err = checkpoint.Read(checkpoint.LogPath(rd.Checkpoints, sh.Shard), hdr, checkpoint.Visitor{
			Position: func(_, end int64) { hit = hit || end == off },
			Outcome:  func(*checkpoint.Record) error { return stopIf(hit, found) },
			Attempt:  func(*checkpoint.Attempt) error { return stopIf(hit, found) },
			RunStart: func(*checkpoint.RunStart) error { return stopIf(hit, found) },
			RunEnd:   func(*checkpoint.RunEnd) error { return stopIf(hit, found) },
		})
		if err != nil && !errors.Is(err, found) {
			return err
		}
		if !hit {
			return fmt.Errorf("cursor: no record of round %d shard %d ends at byte %d of %s", k.round, k.shard, off,
				checkpoint.LogPath(rd.Checkpoints, sh.Shard))
		}
	}
	return nil
}

func stopIf(hit bool, err error) error {
	if hit {
		return err
	}
	return nil
}

// running reports whether a live task holds the shard's lock, as collect decides it.
func running(rd campaign.Round, shard int) bool {
	li, age, err := checkpoint.ReadLock(checkpoint.LockPath(rd.Checkpoints, shard))
	return err == nil && !checkpoint.HolderGone(li, age)
}
