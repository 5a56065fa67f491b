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
	"os"
	"slices"
)

// Sorter gathers records and hands them back in order. It is unusable after its first
// error (a sticky error) and after Sort.
type Sorter struct {
	dir    string
	budget int
	buf    [][]byte
	size   int
	runs   []*os.File
	err    error
	done   bool
}

// New returns a sorter that spills runs into dir (os.TempDir() if empty) whenever the
// records held reach budget bytes (default 64 MiB).
func New(dir string, budget int) *Sorter {
	if budget <= 0 {
		budget = 64 << 20
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
	s.buf = append(s.buf, bytes.Clone(rec))
	s.size += len(rec) + 24
	if s.size >= s.budget {
		s.err = s.spill()
	}
	return s.err
}

// spill sorts the records held and writes them as a run: uvarint length, bytes.
func (s *Sorter) spill() error {
	slices.SortFunc(s.buf, bytes.Compare)
	f, err := os.CreateTemp(s.dir, "migrator-sort-")
	if err != nil {
		return fmt.Errorf("extsort: %w", err)
	}
	os.Remove(f.Name()) // the open file is all that is needed; nothing is left after a crash
	w := bufio.NewWriterSize(f, 256<<10)
	var lb [binary.MaxVarintLen64]byte
	for _, r := range s.buf {
		w.Write(lb[:binary.PutUvarint(lb[:], uint64(len(r)))])
		w.Write(r)
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
	s.buf, s.size = nil, 0
	return nil
}

// Sort calls fn with every record, in byte order (equal records in any order). The slice
// is only valid during the call. It releases every temporary file.
func (s *Sorter) Sort(fn func(rec []byte) error) error {
	defer s.Close()
	if s.err != nil {
		return s.err
	}
	s.done = true
	slices.SortFunc(s.buf, bytes.Compare)
	if len(s.runs) == 0 {
		for _, r := range s.buf {
			if err := fn(r); err != nil {
				return err
			}
		}
		return nil
	}
	h := &mergeHeap{}
	if len(s.buf) > 0 {
		h.items = append(h.items, &source{mem: s.buf})
	}
	for _, f := range s.runs {
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
	s.runs, s.buf = nil, nil
	s.done = true
}

type source struct {
	mem [][]byte
	r   *bufio.Reader
	cur []byte
}

func (s *source) next() (bool, error) {
	if s.r == nil {
		if len(s.mem) == 0 {
			return false, nil
		}
		s.cur, s.mem = s.mem[0], s.mem[1:]
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
