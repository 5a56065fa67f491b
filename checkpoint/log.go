package checkpoint

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"os"
	"path/filepath"
	"time"

	"migrator/durable"
)

// Format is the checkpoint format version.
const Format = 1

const magic = "MGRCKPT1"

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// LogName returns the file name of shard k's log.
func LogName(k int) string { return fmt.Sprintf("shard-%06d.log", k) }

// LockName returns the file name of shard k's lock.
func LockName(k int) string { return fmt.Sprintf("shard-%06d.lock", k) }

// Header identifies the shard a log belongs to.
type Header struct {
	Campaign string
	Round    int
	Shard    int
	Entries  uint64 // entries in the shard's manifest
}

// ErrCorrupt is matched (errors.Is) by every error about a damaged or foreign log.
var ErrCorrupt = errors.New("corrupt checkpoint")

// FormatError is a damaged or foreign log, with the offset where it was found.
type FormatError struct {
	File   string
	Offset int64
	Msg    string
}

func (e *FormatError) Error() string {
	return fmt.Sprintf("checkpoint %s: at byte %d: %s", e.File, e.Offset, e.Msg)
}

// Is makes errors.Is(err, ErrCorrupt) true.
func (e *FormatError) Is(target error) bool { return target == ErrCorrupt }

func encodeHeader(h Header) []byte {
	var hb []byte
	hb = appendString(hb, h.Campaign)
	hb = binary.AppendUvarint(hb, uint64(h.Round))
	hb = binary.AppendUvarint(hb, uint64(h.Shard))
	hb = binary.AppendUvarint(hb, h.Entries)
	b := []byte(magic)
	b = binary.LittleEndian.AppendUint32(b, Format)
	b = binary.LittleEndian.AppendUint32(b, uint32(len(hb)))
	b = append(b, hb...)
	return binary.LittleEndian.AppendUint32(b, crc32.Checksum(b, castagnoli))
}

// readHeader reads and checks the header; it returns the header's length in bytes.
func readHeader(r io.Reader, name string, want Header) (int64, error) {
	bad := func(off int64, format string, args ...any) (int64, error) {
		return 0, &FormatError{File: name, Offset: off, Msg: fmt.Sprintf(format, args...)}
	}
	var fixed [16]byte
	if _, err := io.ReadFull(r, fixed[:]); err != nil {
		return bad(0, "no header: %v", err)
	}
	if string(fixed[:8]) != magic {
		return bad(0, "not a migrator checkpoint log (magic %q)", fixed[:8])
	}
	if v := binary.LittleEndian.Uint32(fixed[8:]); v != Format {
		return bad(8, "checkpoint format version %d, this migrator reads %d", v, Format)
	}
	hlen := binary.LittleEndian.Uint32(fixed[12:])
	if hlen > maxRecord {
		return bad(12, "header length %d is implausible", hlen)
	}
	rest := make([]byte, hlen+4)
	if _, err := io.ReadFull(r, rest); err != nil {
		return bad(16, "truncated header")
	}
	crc := crc32.Update(crc32.Checksum(fixed[:], castagnoli), castagnoli, rest[:hlen])
	if binary.LittleEndian.Uint32(rest[hlen:]) != crc {
		return bad(16, "header checksum mismatch")
	}
	hr := reader{b: rest[:hlen]}
	got := Header{Campaign: hr.string(), Round: int(hr.uvarint()), Shard: int(hr.uvarint()), Entries: hr.uvarint()}
	if hr.err != nil {
		return bad(16, "bad header")
	}
	if got != want {
		return bad(16, "belongs to campaign %q round %d shard %d (%d entries), not campaign %q round %d shard %d (%d entries)",
			got.Campaign, got.Round, got.Shard, got.Entries, want.Campaign, want.Round, want.Shard, want.Entries)
	}
	return int64(16 + len(rest)), nil
}

// Visitor receives a log's records in order. Any field may be nil.
type Visitor struct {
	// Position, if set, is called before each record's own callback with the record's
	// byte range in the file: end is where a later ReadFrom may continue.
	Position func(start, end int64)
	Outcome  func(*Record) error
	Attempt  func(*Attempt) error
	RunStart func(*RunStart) error
	RunEnd   func(*RunEnd) error
}

// ScanInfo is what reading a log found.
type ScanInfo struct {
	Records int64 // valid records
	End     int64 // offset just after the last valid record
	Size    int64 // file size when read
	Torn    int64 // bytes after End that form a torn tail (0 if none)
}

// Read reads the log at path, which must belong to want, calling v for each record.
// A torn tail (see FORMAT.md) ends the read without error and is reported in ScanInfo,
// since a live writer may be appending to it; corruption in the middle is an error.
func Read(path string, want Header, v Visitor) (ScanInfo, error) {
	f, err := os.Open(path)
	if err != nil {
		return ScanInfo{}, fmt.Errorf("checkpoint: %w", err)
	}
	defer f.Close()
	return scan(f, path, want, 0, v)
}

// ReadFrom is Read from offset from on, which must be 0 or a record's end that an earlier
// read reported (ScanInfo.End, or Visitor.Position's end): followers of a live log, such
// as migrator tail, read only what was appended since. The header is still checked.
func ReadFrom(path string, want Header, from int64, v Visitor) (ScanInfo, error) {
	f, err := os.Open(path)
	if err != nil {
		return ScanInfo{}, fmt.Errorf("checkpoint: %w", err)
	}
	defer f.Close()
	return scan(f, path, want, from, v)
}

func scan(f *os.File, name string, want Header, from int64, v Visitor) (ScanInfo, error) {
	st, err := f.Stat()
	if err != nil {
		return ScanInfo{}, fmt.Errorf("checkpoint: %w", err)
	}
	info := ScanInfo{Size: st.Size()}
	br := bufio.NewReaderSize(io.NewSectionReader(f, 0, info.Size), 256<<10)
	off, err := readHeader(br, name, want)
	if err != nil {
		return info, err
	}
	if from > 0 && from != off {
		if from < off || from > info.Size {
			return info, &FormatError{File: name, Offset: from, Msg: fmt.Sprintf("no record ends at byte %d (the log has %d bytes)", from, info.Size)}
		}
		br.Reset(io.NewSectionReader(f, from, info.Size-from)) // the records before it are not read again
		off = from
	}
	var head [8]byte
	body := make([]byte, 0, 256)
	var rec Record
	var at Attempt
	var rs RunStart
	var re RunEnd
	for off < info.Size {
		if info.Size-off < 8 {
			break
		}
		io.ReadFull(br, head[:])
		n := int64(binary.LittleEndian.Uint32(head[:4]))
		if n == 0 || n > maxRecord || off+8+n > info.Size {
			break
		}
		if cap(body) < int(n) {
			body = make([]byte, n)
		}
		body = body[:n]
		io.ReadFull(br, body)
		if crc32.Checksum(body, castagnoli) != binary.LittleEndian.Uint32(head[4:]) {
			break
		}
		if v.Position != nil {
			v.Position(off, off+8+n)
		}
		var verr error
		switch body[0] {
		case kindOutcome:
			if err := decodeRecord(body, &rec); err != nil {
				return info, &FormatError{File: name, Offset: off, Msg: "bad outcome record: " + err.Error()}
			}
			if rec.Index >= want.Entries {
				return info, &FormatError{File: name, Offset: off, Msg: fmt.Sprintf("entry %d is beyond the shard's %d entries", rec.Index, want.Entries)}
			}
			if v.Outcome != nil {
				verr = v.Outcome(&rec)
			}
		case kindAttempt:
			if err := decodeAttempt(body, &at); err != nil || at.Index >= want.Entries {
				return info, &FormatError{File: name, Offset: off, Msg: "bad attempt record"}
			}
			if v.Attempt != nil {
				verr = v.Attempt(&at)
			}
		case kindRunStart:
			if err := decodeRunStart(body, &rs); err != nil {
				return info, &FormatError{File: name, Offset: off, Msg: "bad run-start record: " + err.Error()}
			}
			if v.RunStart != nil {
				verr = v.RunStart(&rs)
			}
		case kindRunEnd:
			if err := decodeRunEnd(body, &re); err != nil {
				return info, &FormatError{File: name, Offset: off, Msg: "bad run-end record: " + err.Error()}
			}
			if v.RunEnd != nil {
				verr = v.RunEnd(&re)
			}
		}
		if verr != nil {
			return info, verr
		}
		off += 8 + n
		info.Records++
	}
	info.End = off
	if off < info.Size {
		if p, ok := findRecord(f, off+1, info.Size); ok {
			return info, &FormatError{File: name, Offset: off,
				Msg: fmt.Sprintf("corrupt record in the middle of the log (a valid record follows at byte %d)", p)}
		}
		info.Torn = info.Size - off
	}
	return info, nil
}

// findRecord looks for a valid record starting anywhere in [from, size).
func findRecord(f *os.File, from, size int64) (int64, bool) {
	const chunk = 1 << 20
	buf := make([]byte, chunk+maxRecord+8)
	for start := from; start+8 <= size; start += chunk {
		n, _ := f.ReadAt(buf, start)
		data := buf[:n]
		for i := 0; i < chunk && i+8 <= len(data); i++ {
			l := int(binary.LittleEndian.Uint32(data[i:]))
			if l == 0 || l > maxRecord || i+8+l > len(data) {
				continue
			}
			if crc32.Checksum(data[i+8:i+8+l], castagnoli) == binary.LittleEndian.Uint32(data[i+4:]) {
				return start + int64(i), true
			}
		}
	}
	return 0, false
}

// WriterOptions sets the fsync policy.
type WriterOptions struct {
	SyncEvery    int           // fsync after this many records (default 1024)
	SyncInterval time.Duration // or when the last fsync is older than this (default 2 s)
}

// Writer appends records to a shard's log. It must be the only writer (see Lock), and is
// unusable after its first error.
type Writer struct {
	f        *os.File
	path     string
	opts     WriterOptions
	buf      []byte
	unsynced int
	lastSync time.Time
	err      error
}

// Recovery is what opening an existing log found and repaired.
type Recovery struct {
	Existed   bool
	Records   int64
	TornBytes int64 // bytes of a torn tail cut off
}

// OpenWriter opens the log at path for appending, creating it with header h if it does not
// exist. An existing log must belong to h; a torn tail is cut off (and reported), and
// corruption in the middle is an error. v, if given, sees the existing records.
func OpenWriter(path string, h Header, opts WriterOptions, v Visitor) (*Writer, Recovery, error) {
	if opts.SyncEvery <= 0 {
		opts.SyncEvery = 1024
	}
	if opts.SyncInterval <= 0 {
		opts.SyncInterval = 2 * time.Second
	}
	var rec Recovery
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if errors.Is(err, os.ErrNotExist) {
		// The header goes in whole or not at all.
		if err := durable.WriteFile(path, encodeHeader(h), 0o600); err != nil {
			return nil, rec, fmt.Errorf("checkpoint: %w", err)
		}
		f, err = os.OpenFile(path, os.O_RDWR, 0)
	} else {
		rec.Existed = true
	}
	if err != nil {
		return nil, rec, fmt.Errorf("checkpoint: %w", err)
	}
	info, err := scan(f, path, h, 0, v)
	if err != nil {
		f.Close()
		return nil, rec, err
	}
	rec.Records = info.Records
	if info.Torn > 0 {
		if err := f.Truncate(info.End); err != nil {
			f.Close()
			return nil, rec, fmt.Errorf("checkpoint %s: cutting a torn tail: %w", path, err)
		}
		if err := f.Sync(); err != nil {
			f.Close()
			return nil, rec, fmt.Errorf("checkpoint %s: %w", path, err)
		}
		rec.TornBytes = info.Torn
	}
	if _, err := f.Seek(info.End, io.SeekStart); err != nil {
		f.Close()
		return nil, rec, fmt.Errorf("checkpoint %s: %w", path, err)
	}
	return &Writer{f: f, path: path, opts: opts, lastSync: time.Now()}, rec, nil
}

type bodyAppender interface{ appendBody([]byte) []byte }

func (w *Writer) append(r bodyAppender) error {
	if w.err != nil {
		return w.err
	}
	w.buf = append(w.buf[:0], 0, 0, 0, 0, 0, 0, 0, 0)
	w.buf = r.appendBody(w.buf)
	body := w.buf[8:]
	binary.LittleEndian.PutUint32(w.buf[0:], uint32(len(body)))
	binary.LittleEndian.PutUint32(w.buf[4:], crc32.Checksum(body, castagnoli))
	if _, err := w.f.Write(w.buf); err != nil {
		w.err = fmt.Errorf("checkpoint %s: %w", w.path, unwrapPath(err))
		return w.err
	}
	w.unsynced++
	if w.unsynced >= w.opts.SyncEvery || time.Since(w.lastSync) >= w.opts.SyncInterval {
		return w.Sync()
	}
	return nil
}

// Append records an entry's outcome.
func (w *Writer) Append(r *Record) error { return w.append(r) }

// AppendAttempt records that lfs migrate is about to run on an entry.
func (w *Writer) AppendAttempt(a *Attempt) error { return w.append(a) }

// AppendRunStart records the start of a run.
func (w *Writer) AppendRunStart(s *RunStart) error { return w.append(s) }

// AppendRunEnd records the end of a run and syncs.
func (w *Writer) AppendRunEnd(e *RunEnd) error {
	if err := w.append(e); err != nil {
		return err
	}
	return w.Sync()
}

// Sync makes every appended record durable.
func (w *Writer) Sync() error {
	if w.err != nil {
		return w.err
	}
	if w.unsynced == 0 {
		return nil
	}
	if err := w.f.Sync(); err != nil {
		w.err = fmt.Errorf("checkpoint %s: fsync: %w", w.path, unwrapPath(err))
		return w.err
	}
	w.unsynced = 0
	w.lastSync = time.Now()
	return nil
}

// Close syncs and closes the log.
func (w *Writer) Close() error {
	err := w.Sync()
	if cerr := w.f.Close(); err == nil && cerr != nil {
		err = fmt.Errorf("checkpoint %s: %w", w.path, cerr)
	}
	if w.err == nil {
		w.err = errors.New("checkpoint: writer closed")
	}
	return err
}

func unwrapPath(err error) error {
	var pe *os.PathError
	if errors.As(err, &pe) {
		return pe.Err
	}
	return err
}

// Done is the set of a shard's entries that have an outcome: a bitmap over entry indices,
// one bit per entry (125 KB for a million entries).
type Done struct {
	bits  []uint64
	count uint64
}

// NewDone returns an empty set for a shard of n entries.
func NewDone(n uint64) *Done { return &Done{bits: make([]uint64, (n+63)/64)} }

// Add marks entry i done.
func (d *Done) Add(i uint64) {
	w, b := i/64, uint64(1)<<(i%64)
	if d.bits[w]&b == 0 {
		d.bits[w] |= b
		d.count++
	}
}

// Has reports whether entry i is done.
func (d *Done) Has(i uint64) bool {
	w := i / 64
	return w < uint64(len(d.bits)) && d.bits[w]&(1<<(i%64)) != 0
}

// Count returns how many entries are done.
func (d *Done) Count() uint64 { return d.count }

// LoadDone reads the log at path into the set of done entries. A missing log is an empty set.
func LoadDone(path string, h Header) (*Done, ScanInfo, error) {
	d := NewDone(h.Entries)
	info, err := Read(path, h, Visitor{Outcome: func(r *Record) error { d.Add(r.Index); return nil }})
	if errors.Is(err, os.ErrNotExist) {
		return d, info, nil
	}
	return d, info, err
}

// Dir helpers.

// LogPath returns the path of shard k's log in dir.
func LogPath(dir string, k int) string { return filepath.Join(dir, LogName(k)) }

// LockPath returns the path of shard k's lock in dir.
func LockPath(dir string, k int) string { return filepath.Join(dir, LockName(k)) }
