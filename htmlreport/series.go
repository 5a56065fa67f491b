package htmlreport

import (
	"sort"
	"time"
)

// maxBuckets bounds the time buckets kept while reading: the series costs the same for a
// campaign of minutes or of weeks, whatever its number of files.
const maxBuckets = 2048

// Series is the campaign's activity over time: outcomes counted into buckets of a width
// that doubles whenever there would be more than maxBuckets.
type Series struct {
	width   int64 // seconds per bucket
	osts    int
	buckets map[int64]*bucket
}

type bucket struct {
	handled       uint64   // migrated, skipped or failed
	migratedBytes uint64   // sizes of the files migrated
	done          []uint64 // per source OST: files migrated or skipped off it
}

func newSeries() *Series { return &Series{width: 1, buckets: map[int64]*bucket{}} }

func (s *Series) add(t time.Time, state string, size uint64, osts []int) {
	if state != "migrated" && state != "skipped" && state != "failed" {
		return // would-migrate is a dry run's pending
	}
	b := s.bucket(floorDiv(t.Unix(), s.width))
	b.handled++
	if state == "migrated" {
		b.migratedBytes += size
	}
	if state != "failed" {
		for _, p := range osts {
			b.done[p]++
		}
	}
	for len(s.buckets) > maxBuckets {
		s.coarsen()
	}
}

func (s *Series) bucket(k int64) *bucket {
	b := s.buckets[k]
	if b == nil {
		b = &bucket{done: make([]uint64, s.osts)}
		s.buckets[k] = b
	}
	return b
}

func (s *Series) coarsen() {
	old := s.buckets
	s.width *= 2
	s.buckets = make(map[int64]*bucket, len(old)/2+1)
	for k, b := range old {
		n := s.bucket(floorDiv(k, 2))
		n.handled += b.handled
		n.migratedBytes += b.migratedBytes
		for i, v := range b.done {
			n.done[i] += v
		}
	}
}

func floorDiv(a, b int64) int64 {
	q := a / b
	if a%b != 0 && (a < 0) != (b < 0) {
		q--
	}
	return q
}

// Bin is one point of a chart: the activity in [Start, Start+Width).
type Bin struct {
	Start         time.Time
	Width         time.Duration
	Handled       uint64
	MigratedBytes uint64
	Done          []uint64 // per source OST
}

// Bins returns the activity from the first bucket to the last in at most n bins of equal
// width (empty bins included), oldest first; nil when nothing happened.
func (s *Series) Bins(n int) []Bin {
	if len(s.buckets) == 0 {
		return nil
	}
	keys := make([]int64, 0, len(s.buckets))
	for k := range s.buckets {
		keys = append(keys, k)
	}
	sort.Slice(keys, func(i, j int) bool { return keys[i] < keys[j] })
	first, last := keys[0], keys[len(keys)-1]
	per := (last-first)/int64(n) + 1 // buckets per bin
	count := (last-first)/per + 1
	bins := make([]Bin, count)
	for i := range bins {
		bins[i] = Bin{Start: time.Unix((first+int64(i)*per)*s.width, 0).UTC(), Width: time.Duration(per*s.width) * time.Second,
			Done: make([]uint64, s.osts)}
	}
	for _, k := range keys {
		b, bin := s.buckets[k], &bins[(k-first)/per]
		bin.Handled += b.handled
		bin.MigratedBytes += b.migratedBytes
		for i, v := range b.done {
			bin.Done[i] += v
		}
	}
	return bins
}
