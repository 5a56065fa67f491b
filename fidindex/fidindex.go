// Package fidindex is a campaign round's index by FID: every manifest entry's FID with
// where it is (shard, entry index), sorted by FID, in checksummed blocks, so that a file
// found by a sweep is looked up with a binary search over a few blocks instead of a map of
// the whole campaign in memory. FORMAT.md describes the bytes.
//
// An index is derived data: it is written once per round (after the round's manifests are
// complete) and bound to the round's manifest index by its SHA-256, so an index of other
// manifests is refused, never used.
package fidindex

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"os"
	"path/filepath"
	"sort"

	"migrator/durable"
	"migrator/lfs"
)

// Magic starts every index file; Version is the format this package writes and reads.
const (
	Magic   = "MGRFIDX1"
	Version = 2
	// RecordSize is the bytes of one record: FID (sequence, object id, version), shard,
	// entry index, all big-endian so that byte order is FID order.
	RecordSize = 28
	// BlockRecords is the records of one block (the last may hold fewer).
	BlockRecords = 256
	// KeySize is the bytes of a record's key (its FID), and of a fence: the key of a
	// block's last record.
	KeySize = 16
	// FenceKeys is the fences of one fence block (the last may hold fewer).
	FenceKeys = 256
)

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// ErrCorrupt is matched by every error about a damaged index.
var ErrCorrupt = errors.New("corrupt FID index")

// Header says what an index covers.
type Header struct {
	Campaign string
	Round    int
	// ManifestSHA256 is the SHA-256 of the round's manifests/index.json the index was built from.
	ManifestSHA256 [32]byte
	Count          uint64 // records
}

// Loc is where a FID is in a round: its shard and its entry's position in it.
type Loc struct {
	Shard uint32
	Index uint64
}

// Record encodes one record (the form Write takes, and extsort sorts correctly).
func Record(fid lfs.FID, l Loc) []byte {
	b := make([]byte, 0, RecordSize)
	b = binary.BigEndian.AppendUint64(b, fid.Seq)
	b = binary.BigEndian.AppendUint32(b, fid.Oid)
	b = binary.BigEndian.AppendUint32(b, fid.Ver)
	b = binary.BigEndian.AppendUint32(b, l.Shard)
	return binary.BigEndian.AppendUint64(b, l.Index)
}

func decode(b []byte) (lfs.FID, Loc) {
	return lfs.FID{Seq: binary.BigEndian.Uint64(b), Oid: binary.BigEndian.Uint32(b[8:]), Ver: binary.BigEndian.Uint32(b[12:])},
		Loc{Shard: binary.BigEndian.Uint32(b[16:]), Index: binary.BigEndian.Uint64(b[20:])}
}

func encodeHeader(h Header) []byte {
	var body []byte
	body = binary.AppendUvarint(body, uint64(len(h.Campaign)))
	body = append(body, h.Campaign...)
	body = binary.AppendUvarint(body, uint64(h.Round))
	body = append(body, h.ManifestSHA256[:]...)
	body = binary.AppendUvarint(body, h.Count)
	b := []byte(Magic)
	b = binary.LittleEndian.AppendUint32(b, Version)
	b = binary.LittleEndian.AppendUint32(b, uint32(len(body)))
	b = append(b, body...)
	return binary.LittleEndian.AppendUint32(b, crc32.Checksum(b, castagnoli))
}

// Write writes an index at path (durably: temporary name, fsync, rename). next yields the
// records in ascending byte order (io.EOF at the end); h.Count must be their number.
//
// The fences (each block's last key) are spooled to an unnamed file beside path while
// the blocks are written, then appended: memory stays one block and one fence block
// whatever the count.
func Write(path string, h Header, next func() ([]byte, error)) error {
	f, err := durable.Create(path, 0o600)
	if err != nil {
		return err
	}
	spool, err := os.CreateTemp(filepath.Dir(path), ".fences-")
	if err != nil {
		f.Abort()
		return err
	}
	os.Remove(spool.Name())
	defer spool.Close()
	if _, err := f.Write(encodeHeader(h)); err != nil {
		f.Abort()
		return err
	}
	block := make([]byte, 0, BlockRecords*RecordSize+4)
	fences := newBlockWriter(spool, FenceKeys*KeySize)
	flush := func() error {
		if len(block) == 0 {
			return nil
		}
		if err := fences.add(block[len(block)-RecordSize : len(block)-RecordSize+KeySize]); err != nil {
			return err
		}
		block = binary.LittleEndian.AppendUint32(block, crc32.Checksum(block, castagnoli))
		_, err := f.Write(block)
		block = block[:0]
		return err
	}
	var prev []byte
	var n uint64
	for {
		rec, err := next()
		if err == io.EOF {
			break
		}
		if err != nil {
			f.Abort()
			return err
		}
		if len(rec) != RecordSize || prev != nil && bytes.Compare(prev, rec) > 0 {
			f.Abort()
			return fmt.Errorf("fidindex: %s: records must be %d bytes, in order", path, RecordSize)
		}
		prev = append(prev[:0], rec...)
		block = append(block, rec...)
		n++
		if n%BlockRecords == 0 {
			if err := flush(); err != nil {
				f.Abort()
				return err
			}
		}
	}
	if n != h.Count {
		f.Abort()
		return fmt.Errorf("fidindex: %s: %d records, the header says %d", path, n, h.Count)
	}
	if err := flush(); err != nil {
		f.Abort()
		return err
	}
	if err := fences.flush(); err != nil {
		f.Abort()
		return err
	}
	if _, err := spool.Seek(0, io.SeekStart); err != nil {
		f.Abort()
		return err
	}
	if _, err := io.Copy(f, spool); err != nil {
		f.Abort()
		return err
	}
	return f.Commit()
}

// blockWriter cuts what it is given into blocks of size bytes, each followed by its CRC.
type blockWriter struct {
	w   io.Writer
	buf []byte
}

func newBlockWriter(w io.Writer, size int) *blockWriter {
	return &blockWriter{w: w, buf: make([]byte, 0, size+4)}
}

func (b *blockWriter) add(p []byte) error {
	b.buf = append(b.buf, p...)
	if len(b.buf) == cap(b.buf)-4 {
		return b.flush()
	}
	return nil
}

func (b *blockWriter) flush() error {
	if len(b.buf) == 0 {
		return nil
	}
	b.buf = binary.LittleEndian.AppendUint32(b.buf, crc32.Checksum(b.buf, castagnoli))
	_, err := b.w.Write(b.buf)
	b.buf = b.buf[:0]
	if err != nil {
		return fmt.Errorf("fidindex: fence spool: %w", err)
	}
	return nil
}

// Reader looks FIDs up in an index file: the fences of the fence blocks (the root, 16
// bytes per 65,536 records) in memory, a bounded cache of fence blocks, and one data block
// read per lookup.
type Reader struct {
	f       *os.File
	path    string
	h       Header
	start   int64 // offset of the first block
	blocks  int64
	buf     []byte
	cached  int64 // block in buf, -1 if none
	records []byte
	// The fence section: fenceBlocks blocks of up to FenceKeys keys from fenceStart.
	fenceStart, fenceBlocks int64
	root                    []byte           // the last key of each fence block
	fences                  map[int64][]byte // fence blocks read (checked), at most maxFences
	maxFences               int
	// belowOK is the last block whose predecessor was seen to end with its fence (-1 if
	// none): the file an open Reader reads does not change, so a run of lookups in one
	// block checks that once.
	belowOK int64
	scratch [2 * KeySize]byte // a lookup's key, and the fence it reads
}

// fenceCache is how many fence blocks a Reader keeps (4 MiB: the fences of 2.7×10^8
// records).
const fenceCache = 1024

// Open opens an index and checks its header and size. It does not read the blocks: each
// is checked by its CRC when a lookup reads it.
func Open(path string) (*Reader, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	r := &Reader{f: f, path: path, cached: -1, belowOK: -1, maxFences: fenceCache}
	if err := r.readHeader(); err != nil {
		f.Close()
		return nil, err
	}
	return r, nil
}

func (r *Reader) corrupt(off int64, format string, args ...any) error {
	return fmt.Errorf("%w: %s at offset %d: %s", ErrCorrupt, r.path, off, fmt.Sprintf(format, args...))
}

func (r *Reader) readHeader() error {
	fixed := make([]byte, 16)
	if _, err := io.ReadFull(r.f, fixed); err != nil {
		return r.corrupt(0, "header: %v", err)
	}
	if string(fixed[:8]) != Magic {
		return r.corrupt(0, "not a FID index (magic %q)", fixed[:8])
	}
	if v := binary.LittleEndian.Uint32(fixed[8:]); v != Version {
		return r.corrupt(8, "version %d, this migrator reads %d", v, Version)
	}
	hlen := binary.LittleEndian.Uint32(fixed[12:])
	if hlen > 1<<16 {
		return r.corrupt(12, "header of %d bytes", hlen)
	}
	rest := make([]byte, hlen+4)
	if _, err := io.ReadFull(r.f, rest); err != nil {
		return r.corrupt(16, "header: %v", err)
	}
	all := append(fixed, rest[:hlen]...)
	if crc32.Checksum(all, castagnoli) != binary.LittleEndian.Uint32(rest[hlen:]) {
		return r.corrupt(16, "header checksum mismatch")
	}
	body := rest[:hlen]
	n, k := binary.Uvarint(body)
	if k <= 0 || n > uint64(len(body)-k) || uint64(len(body)-k)-n < 32 { // no n+32: it may wrap
		return r.corrupt(16, "header body is short")
	}
	r.h.Campaign = string(body[k : k+int(n)])
	body = body[k+int(n):]
	round, k := binary.Uvarint(body)
	if k <= 0 || len(body)-k < 32 {
		return r.corrupt(16, "header body is short")
	}
	r.h.Round = int(round)
	copy(r.h.ManifestSHA256[:], body[k:k+32])
	if r.h.Count, k = binary.Uvarint(body[k+32:]); k <= 0 {
		return r.corrupt(16, "header body is short")
	}
	r.start = int64(16 + hlen + 4)
	// Sizes in uint64 with bounds: a damaged count must be refused, not overflow.
	if r.h.Count > 1<<50 {
		return r.corrupt(16, "%d records", r.h.Count)
	}
	full := int64(r.h.Count / BlockRecords)
	tail := int64(r.h.Count % BlockRecords)
	size := r.start + full*(BlockRecords*RecordSize+4)
	r.blocks = full
	if tail > 0 {
		size += tail*RecordSize + 4
		r.blocks++
	}
	r.fenceStart = size
	r.fenceBlocks = (r.blocks + FenceKeys - 1) / FenceKeys
	size += r.blocks*KeySize + r.fenceBlocks*4
	st, err := r.f.Stat()
	if err != nil {
		return err
	}
	if st.Size() != size {
		return r.corrupt(st.Size(), "%d bytes, %d records need %d", st.Size(), r.h.Count, size)
	}
	return r.readRoot()
}

// fenceBlockSize is the bytes of fence block j, its CRC included.
func (r *Reader) fenceBlockSize(j int64) int64 {
	n := int64(FenceKeys)
	if j == r.fenceBlocks-1 && r.blocks%FenceKeys != 0 {
		n = r.blocks % FenceKeys
	}
	return n*KeySize + 4
}

// readRoot reads the fence section once, checking each fence block and that the fences
// ascend, and keeps the last fence of each block.
func (r *Reader) readRoot() error {
	br := bufio.NewReaderSize(io.NewSectionReader(r.f, r.fenceStart, 1<<62), 1<<16)
	r.root = make([]byte, 0, min(r.fenceBlocks*KeySize, 1<<20)) // grown as fences are read: a crafted count allocates nothing
	buf := make([]byte, FenceKeys*KeySize+4)
	off := r.fenceStart
	var prev []byte
	for j := int64(0); j < r.fenceBlocks; j++ {
		b := buf[:r.fenceBlockSize(j)]
		if _, err := io.ReadFull(br, b); err != nil {
			return r.corrupt(off, "fence block %d: %v", j, err)
		}
		keys, err := r.checkFenceBlock(j, b, off)
		if err != nil {
			return err
		}
		if prev != nil && bytes.Compare(prev, keys[:KeySize]) > 0 {
			return r.corrupt(off, "fence block %d is out of order", j)
		}
		prev = keys[len(keys)-KeySize:]
		r.root = append(r.root, prev...)
		prev = r.root[len(r.root)-KeySize:]
		off += int64(len(b))
	}
	r.fences = map[int64][]byte{}
	return nil
}

// checkFenceBlock checks fence block j (read at off, CRC included) and returns its keys.
func (r *Reader) checkFenceBlock(j int64, b []byte, off int64) ([]byte, error) {
	keys := b[:len(b)-4]
	if crc32.Checksum(keys, castagnoli) != binary.LittleEndian.Uint32(b[len(keys):]) {
		return nil, r.corrupt(off, "fence block %d checksum mismatch", j)
	}
	for i := KeySize; i < len(keys); i += KeySize {
		if bytes.Compare(keys[i-KeySize:i], keys[i:i+KeySize]) > 0 {
			return nil, r.corrupt(off, "fence block %d is out of order", j)
		}
	}
	return keys, nil
}

// fenceBlock returns the keys of fence block j, from the cache or read and checked.
func (r *Reader) fenceBlock(j int64) ([]byte, error) {
	if keys, ok := r.fences[j]; ok {
		return keys, nil
	}
	off := r.fenceStart + j*(FenceKeys*KeySize+4)
	b := make([]byte, r.fenceBlockSize(j))
	if _, err := r.f.ReadAt(b, off); err != nil {
		return nil, r.corrupt(off, "fence block %d: %v", j, err)
	}
	keys, err := r.checkFenceBlock(j, b, off)
	if err != nil {
		return nil, err
	}
	if len(r.fences) >= r.maxFences {
		for k := range r.fences { // any one: map order is as good as any here
			delete(r.fences, k)
			break
		}
	}
	r.fences[j] = keys
	return keys, nil
}

// Header returns what the index covers.
func (r *Reader) Header() Header { return r.h }

// Close closes the file.
func (r *Reader) Close() error { return r.f.Close() }

// block reads block k, checks its CRC and returns its records.
func (r *Reader) block(k int64) ([]byte, error) {
	if k == r.cached {
		return r.records, nil
	}
	n := int64(BlockRecords)
	if k == r.blocks-1 && r.h.Count%BlockRecords != 0 {
		n = int64(r.h.Count % BlockRecords)
	}
	size := n*RecordSize + 4
	if int64(cap(r.buf)) < size {
		r.buf = make([]byte, BlockRecords*RecordSize+4)
	}
	buf := r.buf[:size]
	off := r.start + k*(BlockRecords*RecordSize+4)
	if _, err := r.f.ReadAt(buf, off); err != nil {
		return nil, r.corrupt(off, "block %d: %v", k, err)
	}
	recs := buf[:size-4]
	if crc32.Checksum(recs, castagnoli) != binary.LittleEndian.Uint32(buf[size-4:]) {
		r.cached = -1
		return nil, r.corrupt(off, "block %d checksum mismatch", k)
	}
	// A lookup searches the block: its records must ascend (a CRC does not say so).
	for i := RecordSize; i < len(recs); i += RecordSize {
		if bytes.Compare(recs[i-RecordSize:i], recs[i:i+RecordSize]) > 0 {
			r.cached = -1
			return nil, r.corrupt(off, "block %d is out of order", k)
		}
	}
	r.cached, r.records = k, recs
	return recs, nil
}

// Lookup returns where fid is in the round (nothing if it is not): the root (in memory)
// names the fence block, the fence block names the data block, and the records are read
// from there on while they hold fid. Not safe for concurrent use.
func (r *Reader) Lookup(fid lfs.FID) ([]Loc, error) {
	key := r.scratch[:KeySize]
	binary.BigEndian.PutUint64(key, fid.Seq)
	binary.BigEndian.PutUint32(key[8:], fid.Oid)
	binary.BigEndian.PutUint32(key[12:], fid.Ver)
	// The first fence block, then the first block, whose last key is >= key.
	j := int64(sort.Search(int(r.fenceBlocks), func(i int) bool {
		return bytes.Compare(r.root[i*KeySize:(i+1)*KeySize], key) >= 0
	}))
	if j == r.fenceBlocks {
		return nil, nil
	}
	keys, err := r.fenceBlock(j)
	if err != nil {
		return nil, err
	}
	i := sort.Search(len(keys)/KeySize, func(i int) bool {
		return bytes.Compare(keys[i*KeySize:(i+1)*KeySize], key) >= 0
	})
	first := j*FenceKeys + int64(i)
	// The fence below (block first-1's) is the other bound of the answer: a fence lower
	// than its block's last key would send a lookup of that key past its records. Its
	// block must end with it (16 bytes, read just before block first).
	if first > 0 && first != r.belowOK {
		var below []byte
		if i > 0 {
			below = keys[(i-1)*KeySize : i*KeySize]
		} else {
			below = r.root[(j-1)*KeySize : j*KeySize]
		}
		last := r.scratch[KeySize : 2*KeySize]
		off := r.start + first*(BlockRecords*RecordSize+4) - 4 - RecordSize
		if _, err := r.f.ReadAt(last, off); err != nil {
			return nil, r.corrupt(off, "block %d: %v", first-1, err)
		}
		if !bytes.Equal(last, below) {
			return nil, r.corrupt(off, "block %d does not end with its fence", first-1)
		}
		r.belowOK = first
	}
	var out []Loc
	for k := first; k < r.blocks; k++ {
		recs, err := r.block(k)
		if err != nil {
			return nil, err
		}
		if k == first && !bytes.Equal(recs[len(recs)-RecordSize:len(recs)-RecordSize+KeySize], keys[i*KeySize:(i+1)*KeySize]) {
			return nil, r.corrupt(r.start+k*(BlockRecords*RecordSize+4), "block %d does not end with its fence", k)
		}
		from := 0
		if k == first { // the first record >= key: the block holds one, its last
			from = sort.Search(len(recs)/RecordSize, func(i int) bool {
				return bytes.Compare(recs[i*RecordSize:i*RecordSize+KeySize], key) >= 0
			}) * RecordSize
		}
		for off := from; off < len(recs); off += RecordSize {
			switch c := bytes.Compare(recs[off:off+KeySize], key); {
			case c < 0:
				continue
			case c > 0:
				return out, nil
			}
			_, l := decode(recs[off : off+RecordSize])
			out = append(out, l)
		}
	}
	return out, nil
}

// Each calls fn with every record in FID order, checking every block.
func (r *Reader) Each(fn func(lfs.FID, Loc) error) error {
	for k := int64(0); k < r.blocks; k++ {
		recs, err := r.block(k)
		if err != nil {
			return err
		}
		for off := 0; off < len(recs); off += RecordSize {
			fid, l := decode(recs[off : off+RecordSize])
			if err := fn(fid, l); err != nil {
				return err
			}
		}
	}
	return nil
}
