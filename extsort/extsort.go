// Package extsort sorts more byte records than fit in memory: records are gathered up to a
// memory budget, sorted, spilled to a temporary run file, and the runs are merged at the
// end. Records are compared as byte strings, so a caller that wants numeric order encodes
// its keys big-endian at the front of each record. Memory stays at the budget plus one
// read buffer per run, whatever the number of records.
package extsort

import (
	"bufio"
	"bytes"
	"container/heap"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"slices"
)

// Sorter gathers records and hands them back in order. It is unusable after its first
// error (a sticky error) and after Sort.
//
// Records are held in one arena, with 8 bytes each for where they are, within the budget;
// at most maxFanIn runs are merged at once (more are merged in passes), so memory and open
// files stay bounded whatever the number of records.
type Sorter struct {
	dir    string
	budget int
	arena  []byte
	recs   []span
	runs   []*os.File
	err    error
	done   bool
}

// span is where a record is in the arena.
type span struct{ off, n uint32 }

func (s *Sorter) rec(sp span) []byte { return s.arena[sp.off : sp.off+sp.n] }

func (s *Sorter) sortHeld() {
	slices.SortFunc(s.recs, func(a, b span) int { return bytes.Compare(s.rec(a), s.rec(b)) })
}

// New returns a sorter that spills runs into dir (os.TempDir() if empty) whenever the
// records held (and 8 bytes each for where they are) reach budget bytes (default 32 MiB).
func New(dir string, budget int) *Sorter {
	if budget <= 0 {
		budget = 32 << 20
	}
	return &Sorter{dir: dir, budget: budget}
}

// Add copies rec into the sorter.
func (s *Sorter) Add(rec []byte) error {
	if s.err != nil {
		return s.err
	}
	if s.done {
		return errors.New("extsort: Add after Sort")
	}
	if len(s.recs) > 0 && len(s.arena)+len(rec)+8*(len(s.recs)+1) > s.budget {
		if s.err = s.spill(); s.err != nil {
			return s.err
		}
	}
	if need := len(s.arena) + len(rec); need > cap(s.arena) {
		// Grow by doubling, never past the budget (unless one record is larger).
		grown := make([]byte, len(s.arena), max(min(2*cap(s.arena), s.budget), need, 4096))
		copy(grown, s.arena)
		s.arena = grown
	}
	if len(s.arena)+len(rec) > math.MaxUint32 {
		s.err = errors.New("extsort: record too large")
		return s.err
	}
	s.recs = append(s.recs, span{off: uint32(len(s.arena)), n: uint32(len(rec))})
	s.arena = append(s.arena, rec...)
	return nil
}

// spill sorts the records held and writes them as a run: uvarint length, bytes.
func (s *Sorter) spill() error {
	s.sortHeld()
	f, err := os.CreateTemp(s.dir, "migrator-sort-")
	if err != nil {
		return fmt.Errorf("extsort: %w", err)
	}
	os.Remove(f.Name()) // the open file is all that is needed; nothing is left after a crash
	w := bufio.NewWriterSize(f, 256<<10)
	var lb [binary.MaxVarintLen64]byte
	for _, sp := range s.recs {
		w.Write(lb[:binary.PutUvarint(lb[:], uint64(sp.n))])
		w.Write(s.rec(sp))
	}
	if err := w.Flush(); err != nil {
		f.Close()
		return fmt.Errorf("extsort: writing a run: %w", err)
	}
	if _, err := f.Seek(0, io.SeekStart); err != nil {
		f.Close()
		return fmt.Errorf("extsort: %w", err)
	}
	s.runs = append(s.runs, f)
	s.arena, s.recs = s.arena[:0], s.recs[:0]
	return nil
}

// maxFanIn bounds the runs merged at once (open files and read buffers): more runs are
// first merged in groups into longer runs.
var maxFanIn = 128

// Sort calls fn with every record, in byte order (equal records in any order). The slice
// is only valid during the call. It releases every temporary file.
func (s *Sorter) Sort(fn func(rec []byte) error) error {
	defer s.Close()
	if s.err != nil {
		return s.err
	}
	s.done = true
	s.sortHeld()
	var mem []span
	if len(s.recs) > 0 {
		mem = s.recs
	}
	for len(s.runs)+1 > maxFanIn {
		group := s.runs[:maxFanIn]
		f, err := s.mergeToRun(group)
		if err != nil {
			return err
		}
		for _, g := range group {
			g.Close()
		}
		s.runs = append(s.runs[maxFanIn:], f)
	}
	return s.merge(mem, s.runs, fn)
}

// mergeToRun merges runs into a new run file.
func (s *Sorter) mergeToRun(runs []*os.File) (*os.File, error) {
	f, err := os.CreateTemp(s.dir, "migrator-sort-")
	if err != nil {
		return nil, fmt.Errorf("extsort: %w", err)
	}
	os.Remove(f.Name())
	w := bufio.NewWriterSize(f, 256<<10)
	var lb [binary.MaxVarintLen64]byte
	err = s.merge(nil, runs, func(rec []byte) error {
		w.Write(lb[:binary.PutUvarint(lb[:], uint64(len(rec)))])
		_, err := w.Write(rec)
		return err
	})
	if err == nil {
		err = w.Flush()
	}
	if err == nil {
		_, err = f.Seek(0, io.SeekStart)
	}
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("extsort: merging runs: %w", err)
	}
	return f, nil
}

// merge calls fn with the records of mem (sorted, held) and of runs, in order.
func (s *Sorter) merge(mem []span, runs []*os.File, fn func(rec []byte) error) error {
	h := &mergeHeap{}
	if len(mem) > 0 {
		h.items = append(h.items, &source{s: s, mem: mem})
	}
	for _, f := range runs {
		h.items = append(h.items, &source{r: bufio.NewReaderSize(f, 64<<10)})
	}
	live := h.items[:0]
	for _, src := range h.items {
		ok, err := src.next()
		if err != nil {
			return err
		}
		if ok {
			live = append(live, src)
		}
	}
	h.items = live
	heap.Init(h)
	for h.Len() > 0 {
		src := h.items[0]
		if err := fn(src.cur); err != nil {
			return err
		}
		ok, err := src.next()
		if err != nil {
			return err
		}
		if ok {
			heap.Fix(h, 0)
		} else {
			heap.Pop(h)
		}
	}
	return nil
}

// Close releases the temporary files; Sort calls it.
func (s *Sorter) Close() {
	for _, f := range s.runs {
		f.Close()
	}
	s.runs, s.arena, s.recs = nil, nil, nil
	s.done = true
}

type source struct {
	s   *Sorter // the records held in memory (mem), or
	mem []span
	r   *bufio.Reader // a run
	cur []byte
}

func (s *source) next() (bool, error) {
	if s.r == nil {
		if len(s.mem) == 0 {
			return false, nil
		}
		s.cur, s.mem = s.s.rec(s.mem[0]), s.mem[1:]
		return true, nil
	}
	n, err := binary.ReadUvarint(s.r)
	if err == io.EOF {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("extsort: reading a run: %w", err)
	}
	if cap(s.cur) < int(n) {
		s.cur = make([]byte, n)
	}
	s.cur = s.cur[:n]
	if _, err := io.ReadFull(s.r, s.cur); err != nil {
		return false, fmt.Errorf("extsort: reading a run: %w", err)
	}
	return true, nil
}

type mergeHeap struct{ items []*source }

func (h *mergeHeap) Len() int           { return len(h.items) }
func (h *mergeHeap) Less(i, j int) bool { return bytes.Compare(h.items[i].cur, h.items[j].cur) < 0 }
func (h *mergeHeap) Swap(i, j int)      { h.items[i], h.items[j] = h.items[j], h.items[i] }
func (h *mergeHeap) Push(x any)         { h.items = append(h.items, x.(*source)) }
func (h *mergeHeap) Pop() any {
	x := h.items[len(h.items)-1]
	h.items = h.items[:len(h.items)-1]
	return x
}
