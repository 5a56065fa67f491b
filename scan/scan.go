// Package scan finds the files of a campaign: it splits the scan paths into subtrees, runs
// many "lfs find -O SOURCES -type f ! --layout released -0" at once over them (and over the
// regular files met while splitting), describes what they print in batches (FID, size,
// links, owner, OSTs), drops second names of hard-linked files, and hands the entries to
// the caller as they come. It never holds the campaign's file list. A file is left out as
// off the sources only when lfs find -O says so (see lfs/LUSTRE.md).
package scan

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"migrator/campaign"
	"migrator/lfs"
	"migrator/manifest"
)

// LFS is what scanning needs from the lfs command.
type LFS interface {
	Find(ctx context.Context, roots []string, opts lfs.FindOptions, fn func(string) error) error
	FindAmong(ctx context.Context, files []string, opts lfs.FindOptions) ([]bool, error)
	FileInfoOn(ctx context.Context, files []string, sources lfs.OSTList) ([]lfs.FileInfoResult, error)
	FileInfoCompat(ctx context.Context, files []string, osts lfs.OSTList) ([]lfs.FileInfoResult, error)
}

// Options says what to scan.
type Options struct {
	Roots    []string        // absolute scan paths
	Excludes []string        // absolute subtrees to leave out
	Find     lfs.FindOptions // -O SOURCES -type f and the filters
	Workers  int             // lfs find processes at once
	// Retries is how many times a failed lfs call (a find over a subtree or over loose
	// files, or describing files) is tried again before the scan fails (default 2).
	Retries   int
	RetryWait time.Duration // before the first retry, growing linearly (default 1s)
	SpoolDir  string        // where each subtree's output waits until its find succeeded (default: os.TempDir())
	// Units is how many subtrees to aim for (default 16 per worker).
	Units int
	// BatchSize is how many paths are described per lfs call (default 512).
	BatchSize int
	// NoPrintf describes files without lfs find --printf, for clients before 2.15.
	NoPrintf bool
	// AllNames hands out every name of a hard-linked file, for a caller that must choose
	// among them (a sweep prefers a name inside the scan paths to an excluded one).
	AllNames bool
	// Given, if not nil, are the subtrees and loose files to scan, split before (see
	// Split): Roots is then not split again. A distributed scan hands each task its share.
	Given []Unit
}

// Unit is a subtree to scan with lfs find (Dir), or a batch of loose files to test (Files).
type Unit struct {
	Dir   string
	Files []string
}

// Split splits the scan paths as Run does (see split): into about target subtrees, plus
// the regular files met on the way in batches of at most batch. No subtree holds an exclude.
func Split(roots, excludes []string, target, batch int) ([]Unit, error) {
	var st Stats
	units, loose, err := split(roots, excludes, max(target, 1), &st)
	if err != nil {
		return nil, err
	}
	out := make([]Unit, 0, len(units)+len(loose)/max(batch, 1)+1)
	for _, u := range units {
		out = append(out, Unit{Dir: u.dir})
	}
	for i := 0; i < len(loose); i += max(batch, 1) {
		out = append(out, Unit{Files: loose[i:min(i+max(batch, 1), len(loose))]})
	}
	return out, nil
}

// Stats are the scan's counters, safe to read while it runs.
type Stats struct {
	DirsListed  atomic.Int64 // directories read to split the scan paths
	Units       atomic.Int64 // subtrees (and batches of loose files) to scan
	UnitsDone   atomic.Int64
	Found       atomic.Int64 // paths lfs find printed
	Files       atomic.Int64 // entries handed out
	Bytes       atomic.Int64
	HardLinks   atomic.Int64 // second names of a hard-linked file, left out
	Vanished    atomic.Int64 // printed by find, gone (or no longer a regular file) when described
	FindRetries atomic.Int64
}

// Add adds every counter of o to s: a caller that runs scans one after another, or side by
// side (a distributed scan task, one Run per unit), gives each its own Stats (Run sets
// Units) and sums them here. Safe while other goroutines read or Add to s.
func (s *Stats) Add(o *Stats) {
	s.DirsListed.Add(o.DirsListed.Load())
	s.Units.Add(o.Units.Load())
	s.UnitsDone.Add(o.UnitsDone.Load())
	s.Found.Add(o.Found.Load())
	s.Files.Add(o.Files.Load())
	s.Bytes.Add(o.Bytes.Load())
	s.HardLinks.Add(o.HardLinks.Load())
	s.Vanished.Add(o.Vanished.Load())
	s.FindRetries.Add(o.FindRetries.Load())
}

// Run scans and calls emit with each batch of entries. emit is never called concurrently.
// If emit fails, or a subtree cannot be scanned after the retries, Run stops and returns
// the error; no partial result is ever presented as complete.
func Run(ctx context.Context, l LFS, o Options, st *Stats, emit func([]manifest.Entry) error) error {
	if o.Workers < 1 {
		o.Workers = 1
	}
	if o.Retries == 0 {
		o.Retries = 2
	}
	if o.RetryWait == 0 {
		o.RetryWait = time.Second
	}
	if o.Units == 0 {
		o.Units = 16 * o.Workers
	}
	if o.BatchSize == 0 {
		o.BatchSize = 512
	}
	o.Find.Type = "f"
	// HSM-released files have no objects, but what lfs find -O makes of their stripe slots
	// is not defined (check_obd_match() in liblustreapi_pfind.c reads slots the released
	// layout does not hold), and migrating one would restore it: leave them out. Every
	// client migrator supports (2.12+) has lfs find --layout (2.10).
	o.Find.NotReleased = true
	spool, err := os.MkdirTemp(o.SpoolDir, "migrator-scan-")
	if err != nil {
		return fmt.Errorf("scan spool: %w", err)
	}
	defer os.RemoveAll(spool)

	var units []unit
	if o.Given != nil {
		for _, u := range o.Given {
			units = append(units, unit{dir: u.Dir, files: u.Files})
		}
	} else {
		var loose []string
		units, loose, err = split(o.Roots, o.Excludes, o.Units, st)
		if err != nil {
			return err
		}
		for i := 0; i < len(loose); i += o.BatchSize {
			units = append(units, unit{files: loose[i:min(i+o.BatchSize, len(loose))]})
		}
	}
	st.Units.Store(int64(len(units)))

	s := &scanner{l: l, o: o, st: st, emit: emit, spool: spool, seen: map[lfs.FID]struct{}{}}
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	work := make(chan unit)
	var wg sync.WaitGroup
	for w := 0; w < o.Workers; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			for u := range work {
				if err := s.scanUnit(ctx, w, u); err != nil {
					cancel(err)
				}
				st.UnitsDone.Add(1)
			}
		}(w)
	}
feed:
	for _, u := range units {
		select {
		case work <- u:
		case <-ctx.Done():
			break feed
		}
	}
	close(work)
	wg.Wait()
	if err := context.Cause(ctx); err != nil {
		return err
	}
	return nil
}

// unit is a subtree to scan with lfs find, or a batch of loose files to test.
type unit struct {
	dir   string
	files []string
}

// split expands directories breadth-first until there are enough subtrees to keep the
// workers busy. The ancestors of every exclude are always expanded, so no subtree handed
// to lfs find contains an exclude (lfs find has no -prune); the excluded directories
// themselves are simply left out. Regular files met on the way are loose files, asked about
// with lfs find FILE...; nothing else is ever an operand: lfs find opens each operand
// (llapi_semantic_traverse() in liblustreapi_pfind.c) and a dangling symlink fails the
// whole call with ENOENT, while symlinks, devices, FIFOs and sockets can never match
// -type f anyway. Types come from the directory listing (lstat where it has none). A
// directory of more than maxSplitEntries entries is not listed but scanned whole, so
// memory stays bounded however flat the namespace.
//
// A scan path that is a symlink to a directory is followed, under its own name, as lfs find
// follows a symlinked operand: the paths found keep the name the admin gave, so scope and
// excludes apply as written. Symlinks below a scan path are never followed. A scan path
// that is not a directory, even through a symlink, is refused.
func split(roots, excludes []string, target int, st *Stats) ([]unit, []string, error) {
	isExcluded := func(p string) bool { return campaign.UnderAny(p, excludes) }
	holdsExclude := func(p string) bool {
		for _, e := range excludes {
			if strings.HasPrefix(e, p+"/") || (p == "/" && e != "/") {
				return true
			}
		}
		return false
	}
	var units []unit
	var loose []string
	for _, r := range roots {
		fi, err := os.Stat(r) // follows a symlink, as lfs find does for an operand
		if err != nil {
			return nil, nil, fmt.Errorf("scan path %s: %w", r, unwrap(err))
		}
		if !fi.IsDir() {
			return nil, nil, fmt.Errorf("scan path %s: not a directory", r)
		}
	}
	pending := slices.Clone(roots)
	nroots := len(pending)
	for len(pending) > 0 {
		d := pending[0]
		pending = pending[1:]
		root := nroots > 0
		nroots--
		if isExcluded(d) {
			continue
		}
		fi, err := os.Lstat(d)
		if root {
			fi, err = os.Stat(d)
		}
		if err != nil {
			if !root && lfs.IsGone(err) {
				continue // removed since it was listed
			}
			return nil, nil, fmt.Errorf("scan path %s: %w", d, unwrap(err))
		}
		if !fi.IsDir() {
			if fi.Mode().IsRegular() { // was a directory when listed, a file now
				loose = append(loose, d)
			}
			continue
		}
		if !holdsExclude(d) && len(units)+len(pending)+1 >= target {
			units = append(units, unit{dir: d})
			continue
		}
		ents, whole, err := readDir(d, maxSplitEntries)
		if err == nil && !whole {
			if !holdsExclude(d) {
				// A huge directory is one subtree for lfs find, which streams it; listing
				// it here would hold all its names in memory.
				units = append(units, unit{dir: d})
				continue
			}
			ents, err = os.ReadDir(d) // an exclude inside: it has to be split
		}
		if err != nil {
			return nil, nil, fmt.Errorf("listing %s: %w", d, unwrap(err))
		}
		st.DirsListed.Add(1)
		// The directory itself is not a regular file; only its children matter.
		for _, e := range ents {
			child := join(d, e.Name())
			switch {
			case isExcluded(child):
			case e.IsDir():
				pending = append(pending, child)
			case e.Type().IsRegular():
				loose = append(loose, child)
			}
		}
	}
	return units, loose, nil
}

// maxSplitEntries is the most entries of a directory split will list to expand it.
const maxSplitEntries = 4096

// readDir lists dir sorted by name if it has at most max entries; whole is false (and
// nothing is returned) if it has more.
func readDir(dir string, max int) (ents []os.DirEntry, whole bool, err error) {
	f, err := os.Open(dir)
	if err != nil {
		return nil, false, err
	}
	defer f.Close()
	ents, err = f.ReadDir(max + 1)
	if err != nil && err != io.EOF {
		return nil, false, err
	}
	if len(ents) > max {
		return nil, false, nil
	}
	slices.SortFunc(ents, func(a, b os.DirEntry) int { return strings.Compare(a.Name(), b.Name()) })
	return ents, true, nil
}

func join(dir, name string) string {
	if strings.HasSuffix(dir, "/") {
		return dir + name
	}
	return dir + "/" + name
}

func unwrap(err error) error {
	var pe *os.PathError
	if errors.As(err, &pe) {
		return pe.Err
	}
	return err
}

type scanner struct {
	l     LFS
	o     Options
	st    *Stats
	spool string
	mu    sync.Mutex // serialises emit and guards seen
	emit  func([]manifest.Entry) error
	seen  map[lfs.FID]struct{} // FIDs of hard-linked files already emitted
}

// scanUnit finds a unit's files and describes them. A subtree's paths are spooled to a
// file until its lfs find has succeeded, so a retry never hands out a path twice.
func (s *scanner) scanUnit(ctx context.Context, worker int, u unit) error {
	if u.dir == "" {
		var match []bool
		err := s.retry(ctx, func() (err error) {
			match, err = s.l.FindAmong(ctx, u.files, s.o.Find)
			return err
		})
		if err != nil {
			return fmt.Errorf("lfs find over %d files in %s failed %d times, giving up: %w",
				len(u.files), filepath.Dir(u.files[0]), s.o.Retries+1, err)
		}
		var paths []string
		for i, m := range match {
			if m {
				paths = append(paths, u.files[i])
			}
		}
		s.st.Found.Add(int64(len(paths)))
		return s.describe(ctx, paths)
	}
	path := filepath.Join(s.spool, fmt.Sprintf("worker-%d", worker))
	var n int64
	gone := false
	err := s.retry(ctx, func() (err error) {
		n, err = s.findToSpool(ctx, u.dir, path)
		if _, serr := os.Stat(u.dir); err != nil && lfs.IsGone(serr) {
			// Removed since it was listed (lfs find fails on a missing operand with
			// ENOENT): nothing under it is left to drain.
			gone = true
			return nil
		}
		return err
	})
	if gone {
		return nil
	}
	var xe *lfs.ExitError
	if err != nil && errors.As(err, &xe) && xe.Errno() == syscall.ENOENT {
		// Some directory below vanished during every walk (llapi_semantic_traverse() fails
		// its opendir and lfs find exits with ENOENT once done): on a busy filesystem a
		// big subtree may never be walked whole. Scan it piecewise instead.
		if perr := s.scanPieces(ctx, worker, u.dir); !errors.Is(perr, errTooBig) {
			return perr
		}
	}
	if err != nil {
		return fmt.Errorf("scanning %s failed %d times, giving up: %w", u.dir, s.o.Retries+1, err)
	}
	s.st.Found.Add(n)
	return s.describeSpool(ctx, path)
}

// errTooBig is scanPieces declining a directory too big to list.
var errTooBig = errors.New("directory too big to scan piecewise")

// scanPieces scans the subtree dir one piece at a time: its regular files as loose files
// (in batches), each subdirectory as a subtree of its own (split again if it fails the same
// way). dir holds no exclude (split never makes a unit of one that does). A directory of
// more than maxSplitEntries entries is not listed (errTooBig); a vanished one holds nothing.
func (s *scanner) scanPieces(ctx context.Context, worker int, dir string) error {
	ents, whole, err := readDir(dir, maxSplitEntries)
	switch {
	case err != nil && lfs.IsGone(err):
		return nil
	case err != nil:
		return fmt.Errorf("listing %s: %w", dir, unwrap(err))
	case !whole:
		return errTooBig
	}
	s.st.DirsListed.Add(1)
	var files []string
	for _, e := range ents {
		child := join(dir, e.Name())
		switch {
		case e.IsDir():
			if err := s.scanUnit(ctx, worker, unit{dir: child}); err != nil {
				return err
			}
		case e.Type().IsRegular():
			files = append(files, child)
		}
	}
	for i := 0; i < len(files); i += s.o.BatchSize {
		if err := s.scanUnit(ctx, worker, unit{files: files[i:min(i+s.o.BatchSize, len(files))]}); err != nil {
			return err
		}
	}
	return nil
}

// retry runs fn until it succeeds, at most 1 + Retries times, waiting a little longer
// before each new attempt. It returns fn's last error, or the context's cause.
func (s *scanner) retry(ctx context.Context, fn func() error) error {
	var err error
	for attempt := 0; attempt <= s.o.Retries; attempt++ {
		if attempt > 0 {
			s.st.FindRetries.Add(1)
			select {
			case <-time.After(time.Duration(attempt) * s.o.RetryWait):
			case <-ctx.Done():
				return context.Cause(ctx)
			}
		}
		if err = fn(); err == nil {
			return nil
		}
		if ctx.Err() != nil {
			return context.Cause(ctx)
		}
	}
	return err
}

func (s *scanner) findToSpool(ctx context.Context, dir, path string) (int64, error) {
	f, err := os.Create(path)
	if err != nil {
		return 0, err
	}
	defer f.Close()
	w := bufio.NewWriterSize(f, 256<<10)
	var n int64
	err = s.l.Find(ctx, []string{dir}, s.o.Find, func(p string) error {
		n++
		w.WriteString(p)
		return w.WriteByte(0)
	})
	if err == nil {
		err = w.Flush()
	}
	return n, err
}

func (s *scanner) describeSpool(ctx context.Context, path string) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	br := bufio.NewReaderSize(f, 256<<10)
	batch := make([]string, 0, s.o.BatchSize)
	for {
		p, err := br.ReadString(0)
		if err == io.EOF {
			break
		}
		if err != nil {
			return err
		}
		batch = append(batch, p[:len(p)-1])
		if len(batch) == s.o.BatchSize {
			if err := s.describe(ctx, batch); err != nil {
				return err
			}
			batch = batch[:0]
		}
	}
	return s.describe(ctx, batch)
}

// sourcesOf returns the source OSTs among osts.
func (s *scanner) sourcesOf(osts []uint32) []uint32 {
	var out []uint32
	for _, o := range osts {
		if s.o.Find.OSTs.Contains(o) {
			out = append(out, o)
		}
	}
	return out
}

// confirmOff asks lfs find -O SOURCES about files whose description showed no source OST.
// Those it does not match are off the sources (counted as vanished); those it matches are
// described one source OST at a time, as for clients without --printf, and kept.
func (s *scanner) confirmOff(ctx context.Context, paths []string, idx []int) ([]manifest.Entry, error) {
	files := make([]string, len(idx))
	for k, i := range idx {
		files[k] = paths[i]
	}
	var on []bool
	err := s.retry(ctx, func() (err error) {
		on, err = s.l.FindAmong(ctx, files, s.o.Find)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("lfs find -O over %d files failed %d times, giving up: %w", len(files), s.o.Retries+1, err)
	}
	var entries []manifest.Entry
	for k, f := range files {
		if !on[k] {
			s.st.Vanished.Add(1) // moved off the sources between find and now
			continue
		}
		var res []lfs.FileInfoResult
		err := s.retry(ctx, func() (err error) {
			res, err = s.l.FileInfoCompat(ctx, []string{f}, s.o.Find.OSTs)
			if err == nil && res[0].Err != nil {
				err = res[0].Err
			}
			return err
		})
		if err != nil {
			return nil, fmt.Errorf("describing %q failed %d times, giving up: %w", f, s.o.Retries+1, err)
		}
		osts := s.sourcesOf(res[0].Info.OSTs)
		if !res[0].OK || len(osts) == 0 {
			s.st.Vanished.Add(1)
			continue
		}
		in := res[0].Info
		entries = append(entries, manifest.Entry{Path: f, FID: in.FID, Size: in.Size, Nlink: in.Nlink,
			UID: in.UID, GID: in.GID, OSTs: osts})
	}
	return entries, nil
}

// describe turns paths into entries and emits them.
func (s *scanner) describe(ctx context.Context, paths []string) error {
	var keep []string
	for _, p := range paths {
		if !campaign.UnderAny(p, s.o.Excludes) { // belt and braces: split keeps excludes out of subtrees
			keep = append(keep, p)
		}
	}
	if len(keep) == 0 {
		return nil
	}
	var infos []lfs.FileInfoResult
	err := s.retry(ctx, func() (err error) {
		if s.o.NoPrintf {
			infos, err = s.l.FileInfoCompat(ctx, keep, s.o.Find.OSTs)
		} else {
			infos, err = s.l.FileInfoOn(ctx, keep, s.o.Find.OSTs)
		}
		if err != nil {
			return err
		}
		for i, r := range infos {
			if r.Err != nil {
				return fmt.Errorf("%q: %w", keep[i], r.Err)
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("describing %d files failed %d times, giving up: %w", len(keep), s.o.Retries+1, err)
	}
	entries := make([]manifest.Entry, 0, len(keep))
	var offs []int // described with no source OST
	for i, r := range infos {
		if !r.OK {
			s.st.Vanished.Add(1)
			continue
		}
		in := r.Info
		osts := s.sourcesOf(in.OSTs)
		if len(osts) == 0 {
			offs = append(offs, i)
			continue
		}
		entries = append(entries, manifest.Entry{Path: keep[i], FID: in.FID, Size: in.Size, Nlink: in.Nlink,
			UID: in.UID, GID: in.GID, OSTs: osts})
	}
	// lfs find -O printed these, their description shows no source OST: moved off the sources
	// since, or described from output that fell short. "Off the sources" is decided by lfs
	// find -O, which reads the whole layout (check_obd_match()), never by a description.
	if len(offs) > 0 {
		more, err := s.confirmOff(ctx, keep, offs)
		if err != nil {
			return err
		}
		entries = append(entries, more...)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	out := entries[:0]
	for _, e := range entries {
		if e.Nlink > 1 && !s.o.AllNames {
			if _, dup := s.seen[e.FID]; dup {
				s.st.HardLinks.Add(1)
				continue
			}
			s.seen[e.FID] = struct{}{}
		}
		out = append(out, e)
		s.st.Files.Add(1)
		s.st.Bytes.Add(int64(e.Size))
	}
	if len(out) == 0 {
		return nil
	}
	return s.emit(out)
}
