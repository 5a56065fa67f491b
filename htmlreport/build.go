// Package htmlreport renders a campaign as one self-contained HTML page for people: progress
// per source OST over time, throughput over time, failures by class, owner and directory,
// the slowest and largest files, rounds, settings and the last verify sweep. Charts are
// inline SVG drawn here; the page loads nothing (no script, no style sheet, no font, no
// image from anywhere).
//
// Its figures come from report.Collect, the same value status.json is written from, and its
// breakdowns from the same pass (report.Options.Entry and Failure), so every total on the
// page equals the one in status.json for the same checkpoints.
package htmlreport

import (
	"container/heap"
	"context"
	"fmt"
	"os/user"
	"sort"
	"strconv"
	"strings"
	"time"

	"migrator/campaign"
	"migrator/report"
)

// Report is everything the page shows.
type Report struct {
	Spec   *campaign.Spec
	Status *report.Status
	// SourceOSTs are the campaign's source OSTs, ascending.
	SourceOSTs []uint32
	// PlannedOnOST counts, per source OST (same order), the planned files with an object
	// on it.
	PlannedOnOST []uint64
	// Series is activity over time, by time bucket.
	Series *Series
	// FailuresByOwner and FailuresByDir group the failed files (those status.json counts).
	FailuresByOwner []Group
	FailuresByDir   []Group
	// TopMessages are the commonest failure messages.
	TopMessages []Group
	Slowest     []File // migrated files that took longest
	Largest     []File // planned files by size, whatever their state
	// Sweep is the last verify sweep (reports/verify.json, as status.json has it), nil
	// when there is none; SweepErr says why it could not be read.
	Sweep    *report.Sweep
	SweepErr string
}

// Group is a count of files and bytes under a key.
type Group struct {
	Key   string // for display; paths already made printable (see Printable)
	Files uint64
	Bytes uint64
}

// File is one file of a top list.
type File struct {
	Path     campaign.Path
	Size     uint64
	Duration time.Duration
	State    string
	Round    int
	Shard    int
}

// Options control Build.
type Options struct {
	Workers int // shards read at once
	Top     int // rows of each top list (default 10)
	// LookupUser names a uid; nil uses the node's user database (os/user).
	LookupUser func(uid uint32) (string, bool)
}

// Build collects the campaign, reading every checkpoint once, and returns its report.
func Build(ctx context.Context, d campaign.Dir, spec *campaign.Spec, o Options) (*Report, error) {
	if o.Top <= 0 {
		o.Top = 10
	}
	if o.LookupUser == nil {
		o.LookupUser = lookupUser
	}
	r := &Report{Spec: spec, Series: newSeries()}
	for _, ost := range spec.Selection.SourceOSTs() {
		r.SourceOSTs = append(r.SourceOSTs, uint32(ost))
	}
	sort.Slice(r.SourceOSTs, func(i, j int) bool { return r.SourceOSTs[i] < r.SourceOSTs[j] })
	ostPos := map[uint32]int{}
	for i, o := range r.SourceOSTs {
		ostPos[o] = i
	}
	r.PlannedOnOST = make([]uint64, len(r.SourceOSTs))
	r.Series.osts = len(r.SourceOSTs)

	byUID := map[uint32]*Group{}
	byDir := map[string]*Group{}
	byMsg := map[string]*Group{}
	slow := &fileHeap{less: func(a, b File) bool { return a.Duration < b.Duration }}
	large := &fileHeap{less: func(a, b File) bool { return a.Size < b.Size }}
	scanPaths := campaign.Strings(spec.Selection.ScanPaths)
	sort.Slice(scanPaths, func(i, j int) bool { return len(scanPaths[i]) > len(scanPaths[j]) }) // deepest first

	st, err := report.Collect(ctx, d, spec, report.Options{Workers: o.Workers,
		Failure: func(f report.Failure) error {
			add(byUID, f.UID, f.Size)
			add(byDir, topDir(string(f.Path), scanPaths), f.Size)
			msg := f.Class
			if f.ErrnoName != "" {
				msg += " " + f.ErrnoName
			}
			add(byMsg, msg+": "+f.Message, f.Size)
			return nil
		},
		Entry: func(a report.Accounted) error {
			e := a.Entry
			var pos []int
			for _, ost := range e.OSTs {
				if p, ok := ostPos[ost]; ok {
					r.PlannedOnOST[p]++
					pos = append(pos, p)
				}
			}
			if !a.Time.IsZero() {
				r.Series.add(a.Time, a.State, e.Size, pos)
			}
			f := File{Path: campaign.Path(e.Path), Size: e.Size, Duration: a.Duration, State: a.State, Round: a.Round, Shard: a.Shard}
			large.offer(f, o.Top)
			if a.State == "migrated" {
				slow.offer(f, o.Top)
			}
			return nil
		},
	})
	if err != nil {
		return nil, err
	}
	r.Status = st
	for uid, g := range byUID {
		g.Key = ownerName(uid, o.LookupUser)
	}
	for k, g := range byDir {
		g.Key = Printable(k)
	}
	for k, g := range byMsg {
		g.Key = Printable(k)
	}
	r.FailuresByOwner = sorted(byUID, 0)
	r.FailuresByDir = sorted(byDir, 0)
	r.TopMessages = sorted(byMsg, o.Top)
	r.Slowest = slow.sorted()
	r.Largest = large.sorted()
	r.Sweep, r.SweepErr = st.Sweep, st.SweepError
	return r, nil
}

func add[K comparable](m map[K]*Group, k K, size uint64) {
	g := m[k]
	if g == nil {
		g = &Group{}
		m[k] = g
	}
	g.Files++
	g.Bytes += size
}

// sorted lists groups by files, most first (then by key); n > 0 keeps the first n.
func sorted[K comparable](m map[K]*Group, n int) []Group {
	out := make([]Group, 0, len(m))
	for _, g := range m {
		out = append(out, *g)
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].Files != out[j].Files {
			return out[i].Files > out[j].Files
		}
		return out[i].Key < out[j].Key
	})
	if n > 0 && len(out) > n {
		out = out[:n]
	}
	return out
}

// topDir is the top-level directory of path under the deepest scan path holding it:
// "/scan/proj/a/b" → "/scan/proj". A file directly in a scan path groups as the scan path.
func topDir(path string, scanPaths []string) string {
	for _, sp := range scanPaths {
		if !campaign.Under(path, sp) {
			continue
		}
		base := strings.TrimRight(sp, "/")
		rest := strings.TrimPrefix(path[len(base):], "/")
		i := strings.IndexByte(rest, '/')
		if i < 0 {
			return base + "/"
		}
		return base + "/" + rest[:i]
	}
	return "(outside the scan paths)"
}

func lookupUser(uid uint32) (string, bool) {
	u, err := user.LookupId(strconv.FormatUint(uint64(uid), 10))
	if err != nil {
		return "", false
	}
	return u.Username, true
}

// ownerName is "name (uid N)" where the node knows the uid, else "uid N".
func ownerName(uid uint32, lookup func(uint32) (string, bool)) string {
	if name, ok := lookup(uid); ok {
		return fmt.Sprintf("%s (uid %d)", Printable(name), uid)
	}
	return fmt.Sprintf("uid %d", uid)
}

// fileHeap keeps the n greatest files by less.
type fileHeap struct {
	less  func(a, b File) bool
	files []File
}

func (h *fileHeap) Len() int           { return len(h.files) }
func (h *fileHeap) Less(i, j int) bool { return h.less(h.files[i], h.files[j]) }
func (h *fileHeap) Swap(i, j int)      { h.files[i], h.files[j] = h.files[j], h.files[i] }
func (h *fileHeap) Push(x any)         { h.files = append(h.files, x.(File)) }
func (h *fileHeap) Pop() any {
	f := h.files[len(h.files)-1]
	h.files = h.files[:len(h.files)-1]
	return f
}

func (h *fileHeap) offer(f File, n int) {
	if len(h.files) < n {
		heap.Push(h, f)
	} else if h.less(h.files[0], f) {
		h.files[0] = f
		heap.Fix(h, 0)
	}
}

// sorted returns the files, greatest first (ties by path, for a stable page).
func (h *fileHeap) sorted() []File {
	out := append([]File(nil), h.files...)
	sort.Slice(out, func(i, j int) bool {
		if h.less(out[j], out[i]) {
			return true
		}
		if h.less(out[i], out[j]) {
			return false
		}
		return out[i].Path < out[j].Path
	})
	return out
}
