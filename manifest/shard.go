package manifest

import (
	"bufio"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"hash"
	"hash/crc32"
	"io"
	"os"
	"path/filepath"
	"sync"

	"github.com/klauspost/compress/zstd"
)

// Format is the manifest format version this package writes and reads.
const Format = 1

const (
	magic        = "MGRSHARD"
	blockTarget  = 64 << 10 // encoded entries per block before it is cut
	maxBlock     = 16 << 20
	maxHeader    = 1 << 20
	zstdWindow   = 4 << 20 // keeps every decoder's memory small and bounded
	maxZstdWndow = 8 << 20
)

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// Header identifies a shard: which campaign, round and array index it belongs to.
type Header struct {
	Campaign string
	Round    int
	Shard    int
}

// Summary is what a shard holds, as its trailer records it.
type Summary struct {
	Entries uint64
	Bytes   uint64
	Blocks  uint64
}

// ErrCorrupt is matched (errors.Is) by every error about a damaged, truncated or foreign
// shard.
var ErrCorrupt = errors.New("corrupt manifest")

// FormatError is a damaged, truncated or foreign shard, with where it was detected.
type FormatError struct {
	File   string // the shard file ("" for a stream)
	Offset int64  // byte offset in the decompressed stream
	Msg    string
}

func (e *FormatError) Error() string {
	return fmt.Sprintf("manifest %s: at byte %d: %s", e.File, e.Offset, e.Msg)
}

// Is makes errors.Is(err, ErrCorrupt) true.
func (e *FormatError) Is(target error) bool { return target == ErrCorrupt }

var (
	encoders = sync.Pool{New: func() any {
		enc, err := zstd.NewWriter(nil, zstd.WithEncoderCRC(true), zstd.WithWindowSize(zstdWindow),
			zstd.WithEncoderLevel(zstd.SpeedDefault), zstd.WithEncoderConcurrency(1))
		if err != nil {
			panic(err) // only on invalid options
		}
		return enc
	}}
	decoders = sync.Pool{New: func() any {
		dec, err := zstd.NewReader(nil, zstd.WithDecoderConcurrency(1), zstd.WithDecoderLowmem(true),
			zstd.WithDecoderMaxWindow(maxZstdWndow))
		if err != nil {
			panic(err)
		}
		return dec
	}}
)

// ShardWriter writes one shard to an io.Writer. It is unusable after its first error.
type ShardWriter struct {
	enc   *zstd.Encoder
	block []byte // encoded records of the block being filled
	rec   []byte
	codec entryCodec
	sum   Summary
	err   error
	done  bool
}

// NewShardWriter starts a shard with header h on w. Close finishes it; it does not close w.
func NewShardWriter(w io.Writer, h Header) (*ShardWriter, error) {
	enc := encoders.Get().(*zstd.Encoder)
	enc.Reset(w)
	s := &ShardWriter{enc: enc, block: make([]byte, 0, blockTarget+4096)}
	var hb []byte
	hb = binary.AppendUvarint(hb, uint64(len(h.Campaign)))
	hb = append(hb, h.Campaign...)
	hb = binary.AppendUvarint(hb, uint64(h.Round))
	hb = binary.AppendUvarint(hb, uint64(h.Shard))
	head := append([]byte(magic), binary.AppendUvarint(nil, Format)...)
	head = binary.AppendUvarint(head, uint64(len(hb)))
	head = append(head, hb...)
	head = binary.LittleEndian.AppendUint32(head, crc32.Checksum(head, castagnoli))
	s.write(head)
	return s, s.err
}

func (s *ShardWriter) write(p []byte) {
	if s.err == nil {
		_, s.err = s.enc.Write(p)
	}
}

// Write adds an entry.
func (s *ShardWriter) Write(e *Entry) error {
	if s.err != nil {
		return s.err
	}
	if s.done {
		return errors.New("manifest: write after close")
	}
	if err := checkEntry(e); err != nil {
		return err
	}
	s.rec = s.codec.append(s.rec[:0], e)
	s.block = binary.AppendUvarint(s.block, uint64(len(s.rec)))
	s.block = append(s.block, s.rec...)
	s.sum.Entries++
	s.sum.Bytes += e.Size
	if len(s.block) >= blockTarget {
		s.flushBlock()
	}
	return s.err
}

func checkEntry(e *Entry) error {
	if len(e.Path) == 0 || e.Path[0] != '/' {
		return fmt.Errorf("manifest: path %q is not absolute", e.Path)
	}
	if len(e.Path) > MaxPath {
		return fmt.Errorf("manifest: path of %d bytes is too long", len(e.Path))
	}
	for i := 0; i < len(e.Path); i++ {
		if e.Path[i] == 0 {
			return fmt.Errorf("manifest: path %q contains NUL", e.Path)
		}
	}
	return nil
}

func (s *ShardWriter) flushBlock() {
	if len(s.block) == 0 {
		return
	}
	var head [binary.MaxVarintLen64]byte
	s.write(head[:binary.PutUvarint(head[:], uint64(len(s.block)))])
	s.write(s.block)
	s.write(binary.LittleEndian.AppendUint32(nil, crc32.Checksum(s.block, castagnoli)))
	s.sum.Blocks++
	s.block = s.block[:0]
	s.codec.reset()
}

// Summary returns what has been written so far.
func (s *ShardWriter) Summary() Summary { return s.sum }

// Close writes the last block, the end marker and the trailer, and ends the zstd frame.
func (s *ShardWriter) Close() (Summary, error) {
	if s.done {
		return s.sum, s.err
	}
	s.done = true
	s.flushBlock()
	t := []byte{0} // end: a block length of zero
	tr := binary.AppendUvarint(nil, s.sum.Entries)
	tr = binary.AppendUvarint(tr, s.sum.Bytes)
	tr = binary.AppendUvarint(tr, s.sum.Blocks)
	t = append(t, tr...)
	t = binary.LittleEndian.AppendUint32(t, crc32.Checksum(tr, castagnoli))
	s.write(t)
	if err := s.enc.Close(); s.err == nil && err != nil {
		s.err = err
	}
	s.enc.Reset(nil)
	encoders.Put(s.enc)
	s.enc = nil
	return s.sum, s.err
}

// ShardReader reads the entries of one shard in order. Entries are handed out only from
// blocks whose checksum matched; Next returns io.EOF only after the trailer and the zstd
// frame checksum have been verified. Any other error is sticky.
type ShardReader struct {
	name   string
	file   *os.File // when opened by OpenShard
	dec    *zstd.Decoder
	br     *bufio.Reader
	off    int64 // bytes of the decompressed stream consumed
	header Header
	block  []byte
	pos    int // next record in block
	codec  entryCodec
	sum    Summary
	err    error
	verify func() error // checks the file's SHA-256 at the end, if asked
	expect *ShardIndex  // what the index says the shard holds, if opened by OpenIndexed
}

// OpenShard opens the shard file at path and checks its header. If sha256 (hex) is not
// empty, the file's bytes are hashed as they are read and Next returns io.EOF only if they
// match: then any change to the file is detected, including one to zstd metadata that
// leaves the content intact.
func OpenShard(path, sha string) (*ShardReader, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("manifest: %w", err)
	}
	var src io.Reader = f
	var h hash.Hash
	if sha != "" {
		h = sha256.New()
		src = io.TeeReader(f, h)
	}
	r, err := NewShardReader(bufio.NewReaderSize(src, 256<<10), path)
	if err != nil {
		f.Close()
		return nil, err
	}
	r.file = f
	if h != nil {
		r.verify = func() error {
			if _, err := io.Copy(h, f); err != nil { // whatever zstd did not need to read
				return r.readErr("file", err)
			}
			size, _ := f.Seek(0, io.SeekCurrent)
			return shaMismatch(path, h, sha, size)
		}
	}
	return r, nil
}

// OpenIndexed opens shard s of the manifest directory dir as the index describes it: the
// file's SHA-256, and the entry count and bytes, are checked, so an index that claims fewer
// entries than the shard holds is an error before any entry beyond its claim is returned.
func OpenIndexed(dir string, s ShardIndex) (*ShardReader, error) {
	r, err := OpenShard(filepath.Join(dir, s.File), s.SHA256)
	if err != nil {
		return nil, err
	}
	r.expect = &s
	return r, nil
}

// NewShardReader reads a shard from a stream; name is used in errors.
func NewShardReader(src io.Reader, name string) (*ShardReader, error) {
	dec := decoders.Get().(*zstd.Decoder)
	if err := dec.Reset(src); err != nil {
		dec.Reset(nil)
		decoders.Put(dec)
		return nil, &FormatError{File: name, Msg: fmt.Sprintf("not a zstd stream: %v", err)}
	}
	r, err := newStreamReader(dec, name)
	if err != nil {
		dec.Reset(nil)
		decoders.Put(dec)
		return nil, err
	}
	r.dec = dec
	return r, nil
}

// newStreamReader reads the decompressed stream (header, blocks, trailer) from src.
func newStreamReader(src io.Reader, name string) (*ShardReader, error) {
	r := &ShardReader{name: name, br: bufio.NewReaderSize(src, 64<<10)}
	if err := r.readHeader(); err != nil {
		return nil, err
	}
	return r, nil
}

func (r *ShardReader) corrupt(format string, args ...any) error {
	return &FormatError{File: r.name, Offset: r.off, Msg: fmt.Sprintf(format, args...)}
}

// readErr turns an I/O or zstd error at the current offset into a FormatError.
func (r *ShardReader) readErr(what string, err error) error {
	if err == io.EOF || err == io.ErrUnexpectedEOF {
		return r.corrupt("truncated: ends in the %s", what)
	}
	return r.corrupt("reading the %s: %v", what, err)
}

func (r *ShardReader) readFull(p []byte, what string) error {
	n, err := io.ReadFull(r.br, p)
	r.off += int64(n)
	if err != nil {
		return r.readErr(what, err)
	}
	return nil
}

func (r *ShardReader) readUvarint(what string) (uint64, error) {
	var x uint64
	for shift := uint(0); ; shift += 7 {
		b, err := r.br.ReadByte()
		if err != nil {
			return 0, r.readErr(what, err)
		}
		r.off++
		if shift == 63 && b > 1 {
			return 0, r.corrupt("%s: varint overflows", what)
		}
		x |= uint64(b&0x7f) << shift
		if b < 0x80 {
			return x, nil
		}
	}
}

func (r *ShardReader) readHeader() error {
	var m [len(magic)]byte
	if err := r.readFull(m[:], "header"); err != nil {
		if fe := (*FormatError)(nil); errors.As(err, &fe) && r.off == 0 {
			return r.corrupt("not a migrator manifest shard: %s", fe.Msg)
		}
		return err
	}
	if string(m[:]) != magic {
		return r.corrupt("not a migrator manifest shard (magic %q)", m[:])
	}
	crc := crc32.Update(0, castagnoli, m[:])
	version, err := r.readUvarint("header")
	if err != nil {
		return err
	}
	if version != Format {
		return r.corrupt("manifest format version %d, this migrator reads %d", version, Format)
	}
	hlen, err := r.readUvarint("header")
	if err != nil {
		return err
	}
	if hlen > maxHeader {
		return r.corrupt("header length %d is implausible", hlen)
	}
	hb := make([]byte, hlen)
	if err := r.readFull(hb, "header"); err != nil {
		return err
	}
	var sum [4]byte
	if err := r.readFull(sum[:], "header checksum"); err != nil {
		return err
	}
	head := binary.AppendUvarint(nil, version)
	head = binary.AppendUvarint(head, hlen)
	crc = crc32.Update(crc, castagnoli, head)
	crc = crc32.Update(crc, castagnoli, hb)
	if binary.LittleEndian.Uint32(sum[:]) != crc {
		return r.corrupt("header checksum mismatch")
	}
	d := decoder{b: hb}
	clen := d.uvarint()
	if d.err != nil || clen > uint64(len(d.b)) {
		return r.corrupt("header: bad campaign id")
	}
	r.header.Campaign = string(d.b[:clen])
	d.b = d.b[clen:]
	round, shard := d.uvarint(), d.uvarint()
	if d.err != nil || round > 1<<31 || shard > 1<<31 {
		return r.corrupt("header: bad round or shard number")
	}
	r.header.Round, r.header.Shard = int(round), int(shard)
	return nil
}

// Header returns the shard's header.
func (r *ShardReader) Header() Header { return r.header }

// Summary returns the counts read so far (the whole shard's after io.EOF).
func (r *ShardReader) Summary() Summary { return r.sum }

// Next reads the next entry into e (reusing e.OSTs). It returns io.EOF at the verified end.
func (r *ShardReader) Next(e *Entry) error {
	if r.err != nil {
		return r.err
	}
	for r.pos >= len(r.block) {
		done, err := r.nextBlock()
		if err != nil {
			r.err = err
			return err
		}
		if done {
			if x := r.expect; x != nil && (r.sum.Entries != x.Files || r.sum.Bytes != x.Bytes) {
				r.err = r.corrupt("the shard holds %d entries of %d bytes, the index says %d of %d", r.sum.Entries, r.sum.Bytes, x.Files, x.Bytes)
				return r.err
			}
			r.err = io.EOF
			if r.verify != nil {
				if err := r.verify(); err != nil {
					r.err = err
				}
			}
			return r.err
		}
	}
	if x := r.expect; x != nil && r.sum.Entries >= x.Files {
		r.err = r.corrupt("the shard holds more than the %d entries the index says", x.Files)
		return r.err
	}
	rlen, n := binary.Uvarint(r.block[r.pos:])
	if n <= 0 || rlen == 0 || rlen > uint64(len(r.block)-r.pos-n) {
		r.err = r.corrupt("bad record length in a block whose checksum matched")
		return r.err
	}
	rec := r.block[r.pos+n : r.pos+n+int(rlen)]
	r.pos += n + int(rlen)
	if err := r.codec.decode(rec, e); err != nil {
		r.err = r.corrupt("bad entry: %v", err)
		return r.err
	}
	r.sum.Entries++
	r.sum.Bytes += e.Size
	return nil
}

// nextBlock reads and verifies the next block; done is true after a verified trailer.
func (r *ShardReader) nextBlock() (done bool, err error) {
	blen, err := r.readUvarint("block length")
	if err != nil {
		return false, err
	}
	if blen == 0 {
		return true, r.readTrailer()
	}
	if blen > maxBlock {
		return false, r.corrupt("block length %d is implausible", blen)
	}
	if cap(r.block) < int(blen) {
		r.block = make([]byte, blen)
	}
	r.block = r.block[:blen]
	start := r.off
	if err := r.readFull(r.block, "block"); err != nil {
		return false, err
	}
	var sum [4]byte
	if err := r.readFull(sum[:], "block checksum"); err != nil {
		return false, err
	}
	if binary.LittleEndian.Uint32(sum[:]) != crc32.Checksum(r.block, castagnoli) {
		r.off = start
		r.block = r.block[:0]
		return false, r.corrupt("block checksum mismatch")
	}
	r.pos = 0
	r.codec.reset()
	r.sum.Blocks++
	return false, nil
}

func (r *ShardReader) readTrailer() error {
	var tr []byte
	var vals [3]uint64
	for i := range vals {
		v, err := r.readUvarint("trailer")
		if err != nil {
			return err
		}
		vals[i] = v
		tr = binary.AppendUvarint(tr, v)
	}
	var sum [4]byte
	if err := r.readFull(sum[:], "trailer"); err != nil {
		return err
	}
	if binary.LittleEndian.Uint32(sum[:]) != crc32.Checksum(tr, castagnoli) {
		return r.corrupt("trailer checksum mismatch")
	}
	if vals[0] != r.sum.Entries || vals[1] != r.sum.Bytes || vals[2] != r.sum.Blocks {
		return r.corrupt("trailer says %d entries, %d bytes, %d blocks; read %d, %d, %d",
			vals[0], vals[1], vals[2], r.sum.Entries, r.sum.Bytes, r.sum.Blocks)
	}
	// The stream must end here; reading to the end also makes zstd verify its checksum.
	if _, err := r.br.ReadByte(); err != io.EOF {
		if err == nil {
			return r.corrupt("data after the trailer")
		}
		return r.readErr("end of stream", err)
	}
	return nil
}

// Close releases the reader (and closes the file OpenShard opened).
func (r *ShardReader) Close() error {
	r.release()
	if r.file != nil {
		err := r.file.Close()
		r.file = nil
		return err
	}
	return nil
}

func (r *ShardReader) release() {
	if r.dec != nil {
		r.dec.Reset(nil)
		decoders.Put(r.dec)
		r.dec = nil
	}
	if r.err == nil {
		r.err = errors.New("manifest: reader closed")
	}
}
