// Package sweep proves (or disproves) that a campaign drained its OSTs: an independent
// pass of the plan's parallel scanner over the scan paths (or any paths) for every regular
// file with an object on a source OST, joined by FID with the campaign's records, and each
// file found classified: failed, pending, excluded, outside the scan paths, not in the
// campaign, or recorded done (an outcome says migrated or skipped, yet it is there).
//
// The join never holds the campaign in memory: every round has an on-disk index of its
// FIDs (package fidindex, built once per round), each file found is looked up there, and
// the files found in the campaign are sorted by round and shard (package extsort) so each
// shard's checkpoint is read once, for the entries found in it.
package sweep

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"time"

	"migrator/campaign"
	"migrator/checkpoint"
	"migrator/durable"
	"migrator/extsort"
	"migrator/lfs"
	"migrator/manifest"
	"migrator/report"
	"migrator/scan"
)

// LFS is what a sweep needs from the lfs command.
type LFS interface {
	scan.LFS
	DFInodes(ctx context.Context, path string) ([]lfs.TargetInodes, error)
}

// Options control a sweep.
type Options struct {
	// Paths to sweep (absolute); default the campaign's scan paths. Files found outside the
	// scan paths are counted as outside, never as unaccounted.
	Paths    []string
	Workers  int    // lfs find processes at once (default 4)
	Threads  int    // lfs find --threads (2.17+), 0: lfs decides
	NoPrintf bool   // describe files without find --printf (clients before 2.15)
	SpoolDir string // temporary files: the scan's spool, sort runs (default os.TempDir())
	MemBytes int    // memory for sorting (default 32 MiB)
	// Take, if set, is called with every file found that a top-up round (plan --update)
	// must take: everything in scope except what the latest round's retry set already
	// holds (its pending entries and retryable failures). The entry is the file as found
	// now (its current name). from is the earlier round's entry it takes over, or nil for
	// a file no round holds, which is flagged manifest.EntryAdded.
	Take func(e *manifest.Entry, from *manifest.Origin) error
	// NoReport leaves reports/ alone (no verify.json, no unaccounted manifest).
	NoReport bool
	Stats    *scan.Stats
}

// Run sweeps and classifies. It writes the unaccounted files as a manifest
// (reports/unaccounted, switched in one rename) and the figures to reports/verify.json,
// and returns them.
func Run(ctx context.Context, l LFS, d campaign.Dir, spec *campaign.Spec, o Options) (*report.Sweep, error) {
	start := time.Now()
	if o.Workers < 1 {
		o.Workers = 4
	}
	if o.Stats == nil {
		o.Stats = &scan.Stats{}
	}
	given := len(o.Paths) > 0
	if !given {
		o.Paths = campaign.Strings(spec.Selection.ScanPaths)
	}
	// As the scan paths are kept: clean. lfs find prints ROOT/REL as given, and "/a//fs"
	// or "/a/fs/." is under no scan path by name: every file would be outside. A --path
	// that is (or passes through) a symbolic link is swept under its target's name, which
	// the scan paths are also matched against with their links resolved.
	paths := make([]string, len(o.Paths))
	for i, p := range o.Paths {
		paths[i] = filepath.Clean(p)
		if r, err := filepath.EvalSymlinks(p); given && err == nil {
			paths[i] = r
		}
	}
	sel := spec.Selection
	sources := sel.SourceOSTs()
	res := &report.Sweep{Campaign: spec.ID, Time: start.UTC(), Classes: map[string]uint64{},
		PerOST: map[string]report.OSTSweep{}}
	for _, p := range o.Paths {
		res.Paths = append(res.Paths, campaign.Path(p))
	}
	res.Uncovered = uncovered(sel, paths)
	o.Paths = paths
	for _, c := range report.SweepClasses() {
		res.Classes[c] = 0
	}
	for _, ost := range sources {
		res.PerOST[strconv.Itoa(int(ost))] = report.OSTSweep{}
	}

	rounds, built, err := openRounds(d, spec, o.SpoolDir, o.MemBytes)
	if err != nil {
		return nil, err
	}
	defer closeRounds(rounds)
	if built > 0 {
		res.Warnings = append(res.Warnings, fmt.Sprintf("built the FID index of %d round(s) (once per round)", built))
	}

	var un *unaccounted
	if !o.NoReport {
		if un, err = newUnaccounted(d, spec); err != nil {
			return nil, err
		}
		defer un.abort()
	}
	s := &sweeper{o: o, sel: sel, real: sel.Resolved(), sources: sources, res: res, rounds: rounds, un: un, l: l,
		hits: extsort.New(o.SpoolDir, o.MemBytes), filter: filterOptions(sel)}
	defer s.hits.Close()

	err = scan.Run(ctx, l, scan.Options{Roots: o.Paths, Find: lfs.FindOptions{OSTs: sources, Threads: o.Threads},
		Workers: o.Workers, SpoolDir: o.SpoolDir, NoPrintf: o.NoPrintf, AllNames: true}, o.Stats, func(b []manifest.Entry) error {
		return s.found(ctx, b)
	})
	if err != nil {
		return nil, err
	}
	s.countLinksOut()
	if err := s.resolveHits(ctx, d); err != nil {
		return nil, err
	}
	if ts, err := l.DFInodes(ctx, o.Paths[0]); err != nil {
		res.Warnings = append(res.Warnings, "lfs df -i: "+oneLine(err))
	} else {
		for _, t := range ts {
			k := strconv.Itoa(int(t.Index))
			if v, ok := res.PerOST[k]; ok {
				used := t.Used
				v.ObjectsInUse = &used
				res.PerOST[k] = v
			}
		}
	}
	res.Unaccounted = res.Classes[report.ClassNotInCampaign] + res.Classes[report.ClassRecordedDone]
	res.Seconds = time.Since(start).Seconds()
	if o.NoReport {
		return res, nil
	}
	if res.Manifest, err = un.publish(); err != nil {
		return nil, err
	}
	if err := report.WriteSweep(d, res); err != nil {
		return nil, err
	}
	return res, nil
}

// uncovered returns the scan paths that are under none of paths, as given or with
// symbolic links resolved.
func uncovered(sel campaign.Selection, paths []string) []campaign.Path {
	real := make([]string, len(paths))
	for i, p := range paths {
		real[i] = p
		if r, err := filepath.EvalSymlinks(p); err == nil {
			real[i] = r
		}
	}
	res := sel.Resolved().ScanPaths
	var out []campaign.Path
	for i, sp := range sel.ScanPaths {
		if !campaign.UnderAny(string(sp), paths) && !campaign.UnderAny(string(res[i]), real) {
			out = append(out, sp)
		}
	}
	return out
}

// oneLine is an error message cut at its first line break.
func oneLine(err error) string {
	s := err.Error()
	for i := range len(s) {
		if s[i] == '\n' {
			return s[:i] + " …"
		}
	}
	return s
}

// filterOptions are the campaign's filters as lfs find tests (as plan gives them), or nil
// when it has none.
func filterOptions(sel campaign.Selection) *lfs.FindOptions {
	f := lfs.FindOptions{OSTs: sel.SourceOSTs(), Type: "f", UID: sel.UID, GID: sel.GID, Pool: sel.Pool, MTime: sel.MTime}
	if sel.MinSize > 0 {
		f.Size = append(f.Size, fmt.Sprintf("+%dc", sel.MinSize-1))
	}
	if sel.MaxSize > 0 {
		f.Size = append(f.Size, fmt.Sprintf("-%dc", sel.MaxSize+1))
	}
	if len(f.Size) == 0 && f.UID == "" && f.GID == "" && f.Pool == "" && len(f.MTime) == 0 {
		return nil
	}
	return &f
}

type sweeper struct {
	o       Options
	l       LFS
	sel     campaign.Selection
	real    campaign.Selection // sel with symbolic links in its paths resolved
	sources lfs.OSTList
	res     *report.Sweep
	rounds  []*round
	un      *unaccounted
	hits    *extsort.Sorter
	filter  *lfs.FindOptions
	// links holds the hard-linked files found so far (the scan hands out every name):
	// nil once one of its names was taken as a candidate, else the best name outside or
	// excluded, counted only if no name inside turns up.
	links map[lfs.FID]*linkOut
}

// linkOut is a hard-linked file's name outside the scan paths or excluded, and its class.
type linkOut struct {
	e     manifest.Entry
	class string
}

// pickName says whether a found name of a file of class c (outside, excluded, or ""
// for a candidate) is the one to go on with: the first candidate name of a hard-linked
// file is; names outside or excluded wait in s.links until the scan has ended.
func (s *sweeper) pickName(e *manifest.Entry, c string) bool {
	if e.Nlink <= 1 {
		return true
	}
	if s.links == nil {
		s.links = map[lfs.FID]*linkOut{}
	}
	l, seen := s.links[e.FID]
	switch {
	case seen && l == nil: // a name inside was taken
		return false
	case c == "":
		s.links[e.FID] = nil
		return true
	case !seen || (l.class == report.ClassOutside && c == report.ClassExcluded):
		s.links[e.FID] = &linkOut{e: *e, class: c}
	}
	return false
}

// countLinksOut counts the hard-linked files found with no name inside.
func (s *sweeper) countLinksOut() {
	for _, l := range s.links {
		if l != nil {
			s.count(&l.e, l.class)
		}
	}
}

// count adds a file of class c to the figures.
func (s *sweeper) count(e *manifest.Entry, c string) {
	s.res.OnSource++
	s.res.Classes[c]++
	unacc := c == report.ClassNotInCampaign || c == report.ClassRecordedDone
	for _, ost := range e.OSTs {
		k := strconv.Itoa(int(ost))
		v, ok := s.res.PerOST[k]
		if !ok {
			continue
		}
		v.OnSource++
		if unacc {
			v.Unaccounted++
		}
		s.res.PerOST[k] = v
	}
}

// found classifies a batch of files the scan found: by path (outside, excluded), by the
// campaign's filters, then by FID: not in the campaign at once, the others after the scan.
func (s *sweeper) found(ctx context.Context, b []manifest.Entry) error {
	var cand []*manifest.Entry
	for i := range b {
		e := &b[i]
		c := ""
		switch {
		case !s.sel.InScope(e.Path) && !s.real.InScope(e.Path):
			c = report.ClassOutside
		case s.sel.Excluded(e.Path) || s.real.Excluded(e.Path):
			c = report.ClassExcluded
		}
		switch {
		case !s.pickName(e, c):
		case c != "":
			s.count(e, c)
		default:
			cand = append(cand, e)
		}
	}
	if s.filter != nil && len(cand) > 0 {
		ps := make([]string, len(cand))
		for i, e := range cand {
			ps[i] = e.Path
		}
		match, err := s.l.FindAmong(ctx, ps, *s.filter)
		if err != nil {
			return err
		}
		keep := cand[:0]
		for i, e := range cand {
			if match[i] {
				keep = append(keep, e)
			} else {
				s.count(e, report.ClassExcluded)
			}
		}
		cand = keep
	}
	for _, e := range cand {
		r, loc, err := s.lookup(e.FID)
		if err != nil {
			return err
		}
		if r == nil {
			s.count(e, report.ClassNotInCampaign)
			if err := s.unaccounted(e, report.ClassNotInCampaign); err != nil {
				return err
			}
			if err := s.take(e, nil); err != nil {
				return err
			}
			continue
		}
		if err := s.hits.Add(encodeHit(r.n, loc.Shard, loc.Index, e)); err != nil {
			return err
		}
	}
	return nil
}

// lookup finds fid in the latest round that holds it.
func (s *sweeper) lookup(fid lfs.FID) (*round, locT, error) {
	for i := len(s.rounds) - 1; i >= 0; i-- {
		ls, rebuilt, err := s.rounds[i].lookup(fid)
		if rebuilt {
			s.res.Warnings = append(s.res.Warnings, fmt.Sprintf("rebuilt the FID index of round %d (a damaged block)", s.rounds[i].n))
		}
		if err != nil {
			return nil, locT{}, err
		}
		if len(ls) > 0 {
			return s.rounds[i], locT{Shard: int(ls[0].Shard), Index: ls[0].Index}, nil
		}
	}
	return nil, locT{}, nil
}

type locT struct {
	Shard int
	Index uint64
}

func (s *sweeper) unaccounted(e *manifest.Entry, class string) error {
	if len(s.res.Examples) < report.MaxSweepExamples {
		s.res.Examples = append(s.res.Examples, report.SweepExample{Path: campaign.Path(e.Path), Class: class})
	}
	if s.un == nil {
		return nil
	}
	return s.un.w.Write(e)
}

func (s *sweeper) take(e *manifest.Entry, from *manifest.Origin) error {
	if s.o.Take == nil {
		return nil
	}
	t := *e
	t.Flags = 0
	if from == nil {
		t.Flags = manifest.EntryAdded
	}
	return s.o.Take(&t, from)
}

// resolveHits reads, shard by shard, the outcome of every file found in the campaign.
func (s *sweeper) resolveHits(ctx context.Context, d campaign.Dir) error {
	latest := -1
	if len(s.rounds) > 0 {
		latest = s.rounds[len(s.rounds)-1].n
	}
	byRound := map[int]*round{}
	for _, r := range s.rounds {
		byRound[r.n] = r
	}
	type hit struct {
		idx uint64
		e   manifest.Entry
	}
	var group []hit
	curRound, curShard := -1, -1
	flush := func() error {
		if len(group) == 0 {
			return nil
		}
		r := byRound[curRound]
		want := map[uint64]checkpoint.Record{}
		for _, h := range group {
			want[h.idx] = checkpoint.Record{}
		}
		rd := d.Round(curRound)
		hdr := checkpoint.Header{Campaign: r.idx.Campaign, Round: curRound, Shard: curShard, Entries: r.idx.Shards[curShard].Files, ShardSHA256: r.idx.Shards[curShard].SHA256}
		_, err := checkpoint.Read(checkpoint.LogPath(rd.Checkpoints, curShard), hdr, checkpoint.Visitor{
			Outcome: func(rec *checkpoint.Record) error {
				if _, ok := want[rec.Index]; ok {
					want[rec.Index] = *rec
				}
				return nil
			},
		})
		if err != nil && !errors.Is(err, os.ErrNotExist) {
			return err
		}
		// A file whose outcome says done was found before that outcome was written, when
		// a task still runs (a sweep of a whole campaign takes a while): asked again, in
		// one batched lfs find, it has left the sources by now unless it is a true alarm.
		var done []string
		for _, h := range group {
			if o := want[h.idx].Outcome; o != 0 && o != checkpoint.WouldMigrate && o != checkpoint.Failed {
				done = append(done, h.e.Path)
			}
		}
		left := map[string]bool{}
		if len(done) > 0 {
			on, err := s.l.FindAmong(ctx, done, lfs.FindOptions{OSTs: s.sources, Type: "f"})
			if err != nil {
				return err
			}
			for i, p := range done {
				if !on[i] {
					left[p] = true
				}
			}
		}
		for i := range group {
			h := &group[i]
			rec := want[h.idx]
			if left[h.e.Path] {
				continue
			}
			var c string
			inRetrySet := false
			switch rec.Outcome {
			case 0, checkpoint.WouldMigrate:
				c = report.ClassPending
				inRetrySet = curRound == latest
			case checkpoint.Failed:
				c = report.ClassFailed
				if rec.Class == lfs.ClassSwapped {
					c = report.ClassSwapped
				}
				inRetrySet = curRound == latest && rec.Retryable
			default:
				c = report.ClassRecordedDone
			}
			s.count(&h.e, c)
			if c == report.ClassRecordedDone {
				if err := s.unaccounted(&h.e, report.ClassRecordedDone); err != nil {
					return err
				}
			}
			if !inRetrySet {
				if err := s.take(&h.e, &manifest.Origin{Round: curRound, Shard: curShard, Index: h.idx}); err != nil {
					return err
				}
			}
		}
		group = group[:0]
		return nil
	}
	err := s.hits.Sort(func(rec []byte) error {
		rn, sh, idx, e, err := decodeHit(rec)
		if err != nil {
			return err
		}
		if rn != curRound || sh != curShard {
			if err := flush(); err != nil {
				return err
			}
			curRound, curShard = rn, sh
		}
		if r := byRound[rn]; r == nil || sh >= len(r.idx.Shards) {
			return fmt.Errorf("sweep: internal error: hit in round %d shard %d", rn, sh)
		}
		group = append(group, hit{idx: idx, e: e})
		return nil
	})
	if err != nil {
		return err
	}
	return flush()
}

// A hit is a file found in a round: round, shard and entry index (big-endian, the sort
// key), then the file as found.
func encodeHit(rn, shard int, idx uint64, e *manifest.Entry) []byte {
	b := binary.BigEndian.AppendUint32(nil, uint32(rn))
	b = binary.BigEndian.AppendUint32(b, uint32(shard))
	b = binary.BigEndian.AppendUint64(b, idx)
	b = binary.AppendUvarint(b, e.FID.Seq)
	b = binary.AppendUvarint(b, uint64(e.FID.Oid))
	b = binary.AppendUvarint(b, uint64(e.FID.Ver))
	b = binary.AppendUvarint(b, e.Size)
	b = binary.AppendUvarint(b, uint64(e.Nlink))
	b = binary.AppendUvarint(b, uint64(e.UID))
	b = binary.AppendUvarint(b, uint64(e.GID))
	b = binary.AppendUvarint(b, uint64(len(e.OSTs)))
	for _, o := range e.OSTs {
		b = binary.AppendUvarint(b, uint64(o))
	}
	b = binary.AppendUvarint(b, uint64(len(e.Path)))
	return append(b, e.Path...)
}

func decodeHit(b []byte) (rn, shard int, idx uint64, e manifest.Entry, err error) {
	if len(b) < 16 {
		return 0, 0, 0, e, errors.New("sweep: short hit record")
	}
	rn, shard, idx = int(binary.BigEndian.Uint32(b)), int(binary.BigEndian.Uint32(b[4:])), binary.BigEndian.Uint64(b[8:])
	b = b[16:]
	next := func() uint64 {
		v, n := binary.Uvarint(b)
		if n <= 0 {
			err = errors.New("sweep: bad hit record")
			return 0
		}
		b = b[n:]
		return v
	}
	e.FID.Seq = next()
	e.FID.Oid = uint32(next())
	e.FID.Ver = uint32(next())
	e.Size = next()
	e.Nlink = uint32(next())
	e.UID = uint32(next())
	e.GID = uint32(next())
	n := next()
	for i := uint64(0); i < n && err == nil; i++ {
		e.OSTs = append(e.OSTs, uint32(next()))
	}
	pl := next()
	if err == nil && pl != uint64(len(b)) {
		err = errors.New("sweep: bad hit record")
	}
	e.Path = string(b)
	return rn, shard, idx, e, err
}

// unaccounted is the manifest of the unaccounted files, written into a fresh directory
// beside reports/unaccounted and switched in by publish.
type unaccounted struct {
	dir  string
	link string
	w    *manifest.Writer
	done bool
}

func newUnaccounted(d campaign.Dir, spec *campaign.Spec) (*unaccounted, error) {
	if err := durable.MkdirAll(d.Reports(), 0o700); err != nil {
		return nil, err
	}
	link := filepath.Join(d.Reports(), report.UnaccountedDir)
	removeStale(link)
	dir, err := durable.MkdirTemp(d.Reports(), report.UnaccountedDir+".")
	if err != nil {
		return nil, err
	}
	w, err := manifest.NewWriter(manifest.WriterOptions{Dir: dir, Campaign: spec.ID, Round: 0,
		MaxFiles: spec.Work.ShardFiles, MaxBytes: spec.Work.ShardBytes})
	if err != nil {
		os.RemoveAll(dir)
		return nil, err
	}
	return &unaccounted{dir: dir, link: link, w: w}, nil
}

func (u *unaccounted) publish() (string, error) {
	if _, err := u.w.Close(); err != nil {
		return "", err
	}
	if err := durable.SyncDir(u.dir); err != nil {
		return "", err
	}
	old, err := durable.PublishDir(u.link, u.dir)
	if err != nil {
		return "", err
	}
	u.done = true
	if old != "" {
		os.RemoveAll(old)
	}
	return report.UnaccountedDir, nil
}

func (u *unaccounted) abort() {
	if u == nil || u.done {
		return
	}
	u.w.Abort()
	os.RemoveAll(u.dir)
}

// staleAfter is how long an unaccounted.XXXX directory the link does not point at must
// have been left alone before a sweep removes it: another sweep may still be writing it.
const staleAfter = 7 * 24 * time.Hour

// removeStale removes unaccounted.XXXX directories the link does not point at, left by a
// sweep that died.
func removeStale(link string) {
	cur, _ := os.Readlink(link)
	ents, _ := os.ReadDir(filepath.Dir(link))
	base := filepath.Base(link)
	for _, e := range ents {
		n := e.Name()
		if len(n) <= len(base)+1 || n[:len(base)+1] != base+"." || n == cur || !e.IsDir() {
			continue
		}
		if fi, err := e.Info(); err == nil && time.Since(fi.ModTime()) > staleAfter {
			os.RemoveAll(filepath.Join(filepath.Dir(link), n))
		}
	}
}

// Setup returns a client of the campaign's lfs, checked, and the options its version
// needs.
func Setup(ctx context.Context, spec *campaign.Spec) (*lfs.Client, Options, error) {
	c := lfs.New(spec.LFS)
	if err := c.Check(); err != nil {
		return nil, Options{}, err
	}
	v, err := c.Version(ctx)
	if err != nil {
		return nil, Options{}, fmt.Errorf("lfs %s: %w", spec.LFS, err)
	}
	return c, Options{NoPrintf: !v.HasFindPrintf()}, nil
}

// Campaign sweeps the campaign with its own lfs (checked, and used as its version needs):
// Run with o, for migrator verify and collect's sweep.
func Campaign(ctx context.Context, d campaign.Dir, spec *campaign.Spec, o Options) (*report.Sweep, error) {
	l, base, err := Setup(ctx, spec)
	if err != nil {
		return nil, err
	}
	o.NoPrintf = base.NoPrintf
	return Run(ctx, l, d, spec, o)
}
