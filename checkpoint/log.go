package checkpoint

import (
	"bufio"
	"crypto/rand"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"migrator/durable"
)

// Format is the checkpoint format version. Version 2 added the shard's SHA-256 to the
// header; a version 1 log is refused (see FORMAT.md).
const Format = 2

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
	// ShardSHA256 is the hex SHA-256 of the shard's manifest file (as index.json records
	// it): a log is bound to the exact shard its outcomes are about.
	ShardSHA256 string
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
	sha, _ := hex.DecodeString(h.ShardSHA256) // checked by checkHeader
	hb = appendString(hb, string(sha))
	b := []byte(magic)
	b = binary.LittleEndian.AppendUint32(b, Format)
	b = binary.LittleEndian.AppendUint32(b, uint32(len(hb)))
	b = append(b, hb...)
	return binary.LittleEndian.AppendUint32(b, crc32.Checksum(b, castagnoli))
}

// checkHeader refuses a header a writer must not write: one not bound to a shard.
func checkHeader(h Header) error {
	if b, err := hex.DecodeString(h.ShardSHA256); err != nil || len(b) != sha256Size {
		return fmt.Errorf("checkpoint: header of shard %d: shard SHA-256 %q is not 64 hex digits", h.Shard, h.ShardSHA256)
	}
	return nil
}

const sha256Size = 32

// readHeader reads and checks the header; it returns the header's length in bytes. With
// want nil, any well-formed header is accepted.
func readHeader(r io.Reader, name string, want *Header) (Header, int64, error) {
	bad := func(off int64, format string, args ...any) (Header, int64, error) {
		return Header{}, 0, &FormatError{File: name, Offset: off, Msg: fmt.Sprintf(format, args...)}
	}
	var fixed [16]byte
	if _, err := io.ReadFull(r, fixed[:]); err != nil {
		return bad(0, "no header: %v", err)
	}
	if string(fixed[:8]) != magic {
		return bad(0, "not a migrator checkpoint log (magic %q)", fixed[:8])
	}
	if v := binary.LittleEndian.Uint32(fixed[8:]); v != Format {
		if v == 1 {
			return bad(8, "checkpoint format version 1 (not bound to its shard's SHA-256), this migrator reads %d: finish the round with the migrator that planned it", Format)
		}
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
	sha := hr.string()
	if hr.err != nil || len(sha) != sha256Size {
		return bad(16, "bad header")
	}
	got.ShardSHA256 = hex.EncodeToString([]byte(sha))
	if want != nil && got != *want {
		return bad(16, "belongs to campaign %q round %d shard %d (%d entries, shard SHA-256 %.12s), not campaign %q round %d shard %d (%d entries, shard SHA-256 %.12s)",
			got.Campaign, got.Round, got.Shard, got.Entries, got.ShardSHA256, want.Campaign, want.Round, want.Shard, want.Entries, want.ShardSHA256)
	}
	return got, int64(16 + len(rest)), nil
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

// DamageError is a log damaged in the middle: bytes that are no valid record, with valid
// records after them (two writers at once, a disk that lies). It matches ErrCorrupt. The
// reader that returns it has still handed every valid record around the damage to its
// Visitor, so a report can count them; OpenWriter sets such a log aside and rebuilds it.
type DamageError struct {
	File   string
	Offset int64 // where the first damage starts
	Bytes  int64 // damaged bytes in all
	Places int   // separate damaged stretches
	Msg    string
}

func (e *DamageError) Error() string {
	return fmt.Sprintf("checkpoint %s: at byte %d: corrupt record in the middle of the log (%s; %d damaged bytes in %d places; the valid records around them were read)",
		e.File, e.Offset, e.Msg, e.Bytes, e.Places)
}

// Is makes errors.Is(err, ErrCorrupt) true.
func (e *DamageError) Is(target error) bool { return target == ErrCorrupt }

// segment is a stretch of whole valid records, [start, end).
type segment struct{ start, end int64 }

// Read reads the log at path, which must belong to want, calling v for each record.
// A torn tail (see FORMAT.md) ends the read without error and is reported in ScanInfo,
// since a live writer may be appending to it. Damage in the middle is a *DamageError,
// returned after every valid record before and after it was handed to v.
func Read(path string, want Header, v Visitor) (ScanInfo, error) {
	f, err := os.Open(path)
	if err != nil {
		return ScanInfo{}, fmt.Errorf("checkpoint: %w", err)
	}
	defer f.Close()
	info, _, err := scan(f, path, want, 0, v, nil)
	return info, err
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
	info, _, err := scan(f, path, want, from, v, nil)
	return info, err
}

// Inspect reads the log at path whatever shard it belongs to, calling v for each record,
// and returns its header. A plan uses it to find logs that hold outcomes before it would
// scan again.
func Inspect(path string, v Visitor) (Header, ScanInfo, error) {
	f, err := os.Open(path)
	if err != nil {
		return Header{}, ScanInfo{}, fmt.Errorf("checkpoint: %w", err)
	}
	h, _, err := readHeader(bufio.NewReader(f), path, nil)
	f.Close()
	if err != nil {
		return h, ScanInfo{}, err
	}
	info, err := Read(path, h, v)
	return h, info, err
}

// scan reads the log in f from offset from (0: just after the header); segs, if not nil,
// receives the stretches of valid records. It returns the header's length.
func scan(f *os.File, name string, want Header, from int64, v Visitor, segs *[]segment) (ScanInfo, int64, error) {
	st, err := f.Stat()
	if err != nil {
		return ScanInfo{}, 0, fmt.Errorf("checkpoint: %w", err)
	}
	info := ScanInfo{Size: st.Size()}
	br := bufio.NewReaderSize(io.NewSectionReader(f, 0, info.Size), 256<<10)
	_, off, err := readHeader(br, name, &want)
	if err != nil {
		return info, 0, err
	}
	hlen := off
	var dmg *DamageError
	damaged := func(at, n int64, msg string) {
		if dmg == nil {
			dmg = &DamageError{File: name, Offset: at, Msg: msg}
		}
		dmg.Bytes += n
		dmg.Places++
	}
	if from > 0 && from != off {
		if from < off || from > info.Size {
			return info, 0, &FormatError{File: name, Offset: from, Msg: fmt.Sprintf("no record ends at byte %d (the log has %d bytes)", from, info.Size)}
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
		n := int64(-1)
		if info.Size-off >= 8 {
			io.ReadFull(br, head[:])
			n = int64(binary.LittleEndian.Uint32(head[:4]))
		}
		if n > 0 && n <= maxRecord && off+8+n <= info.Size {
			if cap(body) < int(n) {
				body = make([]byte, n)
			}
			body = body[:n]
			io.ReadFull(br, body)
			if crc32.Checksum(body, castagnoli) != binary.LittleEndian.Uint32(head[4:]) {
				n = -1
			}
		} else {
			n = -1
		}
		if n < 0 {
			// Not a record here: a torn tail if no valid record follows, else damage.
			p, ok := findRecord(f, off+1, info.Size)
			if !ok {
				break
			}
			damaged(off, p-off, fmt.Sprintf("a valid record follows at byte %d", p))
			off = p
			br.Reset(io.NewSectionReader(f, p, info.Size-p))
			continue
		}
		if v.Position != nil {
			v.Position(off, off+8+n)
		}
		var verr, bad error
		switch body[0] {
		case kindOutcome:
			if err := decodeRecord(body, &rec); err != nil {
				bad = fmt.Errorf("bad outcome record: %v", err)
			} else if rec.Index >= want.Entries {
				bad = fmt.Errorf("entry %d is beyond the shard's %d entries", rec.Index, want.Entries)
			} else if v.Outcome != nil {
				verr = v.Outcome(&rec)
			}
		case kindAttempt:
			if err := decodeAttempt(body, &at); err != nil || at.Index >= want.Entries {
				bad = errors.New("bad attempt record")
			} else if v.Attempt != nil {
				verr = v.Attempt(&at)
			}
		case kindRunStart:
			if err := decodeRunStart(body, &rs); err != nil {
				bad = fmt.Errorf("bad run-start record: %v", err)
			} else if v.RunStart != nil {
				verr = v.RunStart(&rs)
			}
		case kindRunEnd:
			if err := decodeRunEnd(body, &re); err != nil {
				bad = fmt.Errorf("bad run-end record: %v", err)
			} else if v.RunEnd != nil {
				verr = v.RunEnd(&re)
			}
		}
		if verr != nil {
			return info, hlen, verr
		}
		if bad != nil {
			// A whole record that says something impossible: damage, skipped whole.
			damaged(off, 8+n, bad.Error())
			off += 8 + n
			continue
		}
		if segs != nil {
			if k := len(*segs); k > 0 && (*segs)[k-1].end == off {
				(*segs)[k-1].end = off + 8 + n
			} else {
				*segs = append(*segs, segment{off, off + 8 + n})
			}
		}
		off += 8 + n
		info.Records++
	}
	info.End = off
	info.Torn = info.Size - off
	if dmg != nil {
		return info, hlen, dmg
	}
	return info, hlen, nil
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
// unusable after its first error. Its methods are safe for concurrent use.
type Writer struct {
	mu       sync.Mutex // guards everything below
	f        *os.File
	path     string
	opts     WriterOptions
	buf      []byte
	appended uint64 // records written
	synced   uint64 // records known durable (the appended count when an fsync began)
	lastSync time.Time
	err      error
}

// Recovery is what opening an existing log found and repaired.
type Recovery struct {
	Existed   bool
	Records   int64
	TornBytes int64 // bytes of a torn tail cut off
	// Damage is what was wrong in the middle of the log, if anything. The damaged log was
	// then set aside (kept under the name SetAside) and the log rebuilt from its valid
	// records, which the Visitor saw; the entries whose records were lost are pending and
	// re-checked like any other.
	Damage   *DamageError
	SetAside string
}

// DamagedSuffix starts the suffix of a log set aside because it was damaged:
// shard-KKKKKK.log.damaged-TIME-RANDOM.
const DamagedSuffix = ".damaged-"

// SetAsideLogs returns the damaged logs of shard k that were set aside in dir, in order.
func SetAsideLogs(dir string, k int) []string {
	m, _ := filepath.Glob(filepath.Join(dir, LogName(k)+DamagedSuffix+"*"))
	return m
}

// SetAsideByShard lists dir once and returns the base names of the set-aside logs of each
// shard, in order.
func SetAsideByShard(dir string) map[int][]string {
	ents, _ := os.ReadDir(dir)
	out := map[int][]string{}
	for _, e := range ents {
		name := e.Name()
		i := strings.Index(name, DamagedSuffix)
		var k int
		if i < 0 || !strings.HasPrefix(name, "shard-") {
			continue
		}
		if _, err := fmt.Sscanf(name[:i], "shard-%06d.log", &k); err == nil && LogName(k) == name[:i] {
			out[k] = append(out[k], name)
		}
	}
	return out
}

// OpenWriter opens the log at path for appending (O_APPEND: whatever another writer did,
// no record is written over another), creating it with header h if it does not exist. An
// existing log must belong to h; a torn tail is cut off (and reported). A log damaged in
// the middle is set aside and rebuilt from its valid records (see Recovery). v, if given,
// sees the existing valid records. The caller must hold the shard's lock.
func OpenWriter(path string, h Header, opts WriterOptions, v Visitor) (*Writer, Recovery, error) {
	if opts.SyncEvery <= 0 {
		opts.SyncEvery = 1024
	}
	if opts.SyncInterval <= 0 {
		opts.SyncInterval = 2 * time.Second
	}
	var rec Recovery
	if err := checkHeader(h); err != nil {
		return nil, rec, err
	}
	f, err := os.OpenFile(path, os.O_RDWR|os.O_APPEND, 0)
	if errors.Is(err, os.ErrNotExist) {
		// The header goes in whole or not at all.
		if err := durable.WriteFile(path, encodeHeader(h), 0o600); err != nil {
			return nil, rec, fmt.Errorf("checkpoint: %w", err)
		}
		f, err = os.OpenFile(path, os.O_RDWR|os.O_APPEND, 0)
	} else {
		rec.Existed = true
	}
	if err != nil {
		return nil, rec, fmt.Errorf("checkpoint: %w", err)
	}
	var segs []segment
	info, hlen, err := scan(f, path, h, 0, v, &segs)
	var de *DamageError
	if errors.As(err, &de) {
		aside, rerr := rebuild(f, path, hlen, segs)
		f.Close()
		if rerr != nil {
			return nil, rec, fmt.Errorf("%v; setting it aside failed: %w", de, rerr)
		}
		rec.Damage, rec.SetAside = de, aside
		if f, err = os.OpenFile(path, os.O_RDWR|os.O_APPEND, 0); err != nil {
			return nil, rec, fmt.Errorf("checkpoint: %w", err)
		}
		rec.Records = info.Records
		return &Writer{f: f, path: path, opts: opts, lastSync: time.Now()}, rec, nil
	}
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
	return &Writer{f: f, path: path, opts: opts, lastSync: time.Now()}, rec, nil
}

// rebuild sets a damaged log aside and puts in its place a log of its header and valid
// records: the new log is written under a temporary name and fsynced, the damaged one
// gets a second name (path.damaged-...), and the new one is renamed over path. A crash at
// any point leaves the damaged log at path or the rebuilt one, and the damaged one kept.
// A writer that still has the old log open appends to the set-aside copy, never to the
// new log.
func rebuild(f *os.File, path string, hlen int64, segs []segment) (string, error) {
	nf, err := durable.Create(path, 0o600)
	if err != nil {
		return "", err
	}
	defer nf.Abort()
	if _, err := io.Copy(nf, io.NewSectionReader(f, 0, hlen)); err != nil {
		return "", err
	}
	for _, s := range segs {
		if _, err := io.Copy(nf, io.NewSectionReader(f, s.start, s.end-s.start)); err != nil {
			return "", err
		}
	}
	fi, err := f.Stat()
	if err != nil {
		return "", err
	}
	aside := ""
	m, _ := filepath.Glob(path + DamagedSuffix + "*")
	for _, p := range m {
		if st, err := os.Stat(p); err == nil && os.SameFile(st, fi) {
			aside = p // a rebuild that crashed before its rename already kept it
		}
	}
	if aside == "" {
		var rnd [3]byte
		rand.Read(rnd[:])
		aside = path + DamagedSuffix + time.Now().UTC().Format("20060102T150405") + "-" + hex.EncodeToString(rnd[:])
		if err := os.Link(path, aside); err != nil {
			return "", fmt.Errorf("keeping the damaged log as %s: %w", aside, err)
		}
	}
	if err := nf.Commit(); err != nil {
		return "", err
	}
	return aside, nil
}

type bodyAppender interface{ appendBody([]byte) []byte }

func (w *Writer) append(r bodyAppender) error {
	w.mu.Lock()
	if w.err != nil {
		w.mu.Unlock()
		return w.err
	}
	w.buf = append(w.buf[:0], 0, 0, 0, 0, 0, 0, 0, 0)
	w.buf = r.appendBody(w.buf)
	body := w.buf[8:]
	binary.LittleEndian.PutUint32(w.buf[0:], uint32(len(body)))
	binary.LittleEndian.PutUint32(w.buf[4:], crc32.Checksum(body, castagnoli))
	if _, err := w.f.Write(w.buf); err != nil {
		w.err = fmt.Errorf("checkpoint %s: %w", w.path, unwrapPath(err))
		w.mu.Unlock()
		return w.err
	}
	w.appended++
	due := w.appended-w.synced >= uint64(w.opts.SyncEvery) || time.Since(w.lastSync) >= w.opts.SyncInterval
	w.mu.Unlock()
	if due {
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

// Sync makes every record appended before the call durable. It may run while other
// goroutines append or sync: appends are not held up by an fsync, and concurrent fsyncs
// share the filesystem's journal commit.
func (w *Writer) Sync() error {
	w.mu.Lock()
	target := w.appended
	if w.err != nil || w.synced >= target {
		defer w.mu.Unlock()
		return w.err
	}
	w.mu.Unlock()
	err := w.f.Sync()
	w.mu.Lock()
	defer w.mu.Unlock()
	if err != nil {
		if w.err == nil {
			w.err = fmt.Errorf("checkpoint %s: fsync: %w", w.path, unwrapPath(err))
		}
		return w.err
	}
	if target > w.synced {
		w.synced = target
		w.lastSync = time.Now()
	}
	return w.err
}

// Close syncs and closes the log.
func (w *Writer) Close() error {
	err := w.Sync()
	w.mu.Lock()
	defer w.mu.Unlock()
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
