package manifest

import (
	"bufio"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"hash"
	"io"
	"os"
	"path/filepath"

	"migrator/durable"
)

// IndexFile is the name of the index in a manifest directory.
const IndexFile = "index.json"

// ShardName returns the file name of shard k.
func ShardName(k int) string { return fmt.Sprintf("shard-%06d.zst", k) }

// IndexFormat is the index.json format version. Version 2 added the "sha256" field; an
// index of version 1, which has none, is refused.
const IndexFormat = 2

// Index lists the shards of a manifest directory. It is written last, atomically.
type Index struct {
	Format   int          `json:"format"`
	Campaign string       `json:"campaign"`
	Round    int          `json:"round"`
	Files    uint64       `json:"files"`
	Bytes    uint64       `json:"bytes"`
	Shards   []ShardIndex `json:"shards"`
	// Supersedes is how many entries of earlier rounds the round's supersedes file lists
	// (a top-up round's; 0 for others): the file is bound to the checksummed index, so a
	// lost one is an error, not files counted twice.
	Supersedes uint64 `json:"supersedes,omitempty"`
	// SHA256 is the hex SHA-256 of the index's compact JSON encoding with this field
	// empty: a changed shard count, size or hash is an error, not another campaign.
	SHA256 string `json:"sha256"`
}

// checksum returns the SHA-256 (hex) of the index's canonical form.
func (idx Index) checksum() (string, error) {
	idx.SHA256 = ""
	return durable.JSONSum(idx)
}

// Limits of what an index may claim, checked before anything is allocated from it: a
// crafted index must not make work or collect run out of memory.
const (
	// MaxShardFiles is the most entries a shard may hold (67 million: collect keeps a byte
	// per entry of the shards it reads, work two bits).
	MaxShardFiles = 1 << 26
	// MaxShards is the most shards a round may have (Slurm's MaxArraySize is at most 4000001).
	MaxShards = 1 << 24
)

// ShardIndex is one shard's line in the index.
type ShardIndex struct {
	Shard  int    `json:"shard"`
	File   string `json:"file"`
	Files  uint64 `json:"files"`
	Bytes  uint64 `json:"bytes"`
	SHA256 string `json:"sha256"`
}

// WriterOptions says where shards go and how they are cut.
type WriterOptions struct {
	Dir      string // manifest directory; created if missing
	Campaign string
	Round    int
	// MaxFiles and MaxBytes bound each shard. A file of MaxBytes or more gets a shard of its own.
	MaxFiles uint64
	MaxBytes uint64
}

// Writer cuts a stream of entries into shards, so that every array task gets a similar
// amount of work, and writes the index on Close. Memory use does not depend on the number
// of entries. Nothing it writes is final until Close has written the index.
type Writer struct {
	opts   WriterOptions
	cur    *shardFile
	shards []ShardIndex
	err    error
	// supersedes is the count SetSupersedes recorded.
	supersedes uint64
}

// shardFile is a shard being written: durable temp file, SHA-256 of its bytes, encoder.
type shardFile struct {
	k   int
	f   *durable.File
	buf *bufio.Writer
	h   hash.Hash
	sw  *ShardWriter
}

// NewWriter prepares to write shards into opts.Dir.
func NewWriter(opts WriterOptions) (*Writer, error) {
	if opts.MaxFiles == 0 || opts.MaxBytes == 0 {
		return nil, errors.New("manifest: MaxFiles and MaxBytes must be positive")
	}
	if opts.MaxFiles > MaxShardFiles {
		return nil, fmt.Errorf("manifest: at most %d files per shard, not %d", MaxShardFiles, opts.MaxFiles)
	}
	if err := durable.MkdirAll(opts.Dir, 0o700); err != nil {
		return nil, fmt.Errorf("manifest: %w", err)
	}
	return &Writer{opts: opts}, nil
}

// Write adds an entry, starting a new shard first if the current one is full.
func (w *Writer) Write(e *Entry) error {
	if w.err != nil {
		return w.err
	}
	big := e.Size >= w.opts.MaxBytes
	if w.cur != nil {
		s := w.cur.sw.Summary()
		if big || s.Entries >= w.opts.MaxFiles || s.Bytes+e.Size > w.opts.MaxBytes {
			w.err = w.finishShard()
		}
	}
	if w.err == nil && w.cur == nil {
		w.err = w.startShard()
	}
	if w.err == nil {
		w.err = w.cur.sw.Write(e)
	}
	if w.err == nil && big {
		w.err = w.finishShard()
	}
	return w.err
}

func (w *Writer) startShard() error {
	k := len(w.shards)
	f, err := durable.Create(filepath.Join(w.opts.Dir, ShardName(k)), 0o600)
	if err != nil {
		return fmt.Errorf("manifest: %w", err)
	}
	h := sha256.New()
	buf := bufio.NewWriterSize(io.MultiWriter(f, h), 256<<10)
	sw, err := NewShardWriter(buf, Header{Campaign: w.opts.Campaign, Round: w.opts.Round, Shard: k})
	if err != nil {
		f.Abort()
		return err
	}
	w.cur = &shardFile{k: k, f: f, buf: buf, h: h, sw: sw}
	return nil
}

func (w *Writer) finishShard() error {
	s := w.cur
	w.cur = nil
	defer s.f.Abort()
	sum, err := s.sw.Close()
	if err == nil {
		err = s.buf.Flush()
	}
	if err == nil {
		err = s.f.Commit()
	}
	if err != nil {
		return fmt.Errorf("manifest: shard %d: %w", s.k, err)
	}
	w.shards = append(w.shards, ShardIndex{
		Shard: s.k, File: ShardName(s.k), Files: sum.Entries, Bytes: sum.Bytes,
		SHA256: hex.EncodeToString(s.h.Sum(nil)),
	})
	return nil
}

// Count returns how many entries were written so far.
func (w *Writer) Count() uint64 {
	n := uint64(0)
	for _, s := range w.shards {
		n += s.Files
	}
	if w.cur != nil {
		n += w.cur.sw.Summary().Entries
	}
	return n
}

// Shards returns the shards finished so far.
func (w *Writer) Shards() []ShardIndex { return w.shards }

// Abort discards the shard being written; the shards already finished stay, without an
// index, so nothing runs them. The writer is unusable afterwards.
func (w *Writer) Abort() {
	if w.cur != nil {
		w.cur.sw.Close()
		w.cur.f.Abort()
		w.cur = nil
	}
	w.err = errors.New("manifest: writer aborted")
}

// SetSupersedes records in the index Close writes how many entries the directory's
// supersedes file (WriteSupersedes, written first) lists.
func (w *Writer) SetSupersedes(n uint64) { w.supersedes = n }

// Close finishes the last shard and writes the index. An empty campaign has no shards.
func (w *Writer) Close() (Index, error) {
	if w.err == nil && w.cur != nil {
		w.err = w.finishShard()
	}
	if w.err != nil {
		err := w.err
		w.Abort()
		return Index{}, err
	}
	idx := Index{Format: IndexFormat, Campaign: w.opts.Campaign, Round: w.opts.Round, Shards: w.shards, Supersedes: w.supersedes}
	if idx.Shards == nil {
		idx.Shards = []ShardIndex{}
	}
	for _, s := range w.shards {
		idx.Files += s.Files
		idx.Bytes += s.Bytes
	}
	idx, err := WriteIndex(w.opts.Dir, idx)
	if err != nil {
		w.err = err
		return Index{}, w.err
	}
	w.err = errors.New("manifest: writer closed")
	return idx, nil
}

// WriteIndex writes idx as dir's index.json, durably, with the current format and its
// checksum, and returns it as written.
func WriteIndex(dir string, idx Index) (Index, error) {
	idx.Format = IndexFormat
	sum, err := idx.checksum()
	if err != nil {
		return Index{}, err
	}
	idx.SHA256 = sum
	data, err := json.MarshalIndent(idx, "", "  ")
	if err != nil {
		return Index{}, err
	}
	if err := durable.WriteFile(filepath.Join(dir, IndexFile), append(data, '\n'), 0o600); err != nil {
		return Index{}, fmt.Errorf("manifest: %w", err)
	}
	return idx, nil
}

// maxIndexSize bounds index.json: about 150 bytes per shard.
const maxIndexSize = 256 * MaxShards

// ReadIndex reads a manifest directory's index and checks that it is whole and consistent:
// its checksum, every shard's entry, the totals, and the limits above. Every error but a
// missing file matches ErrCorrupt and names the file.
func ReadIndex(dir string) (Index, error) {
	path := filepath.Join(dir, IndexFile)
	f, err := os.Open(path)
	if err != nil {
		return Index{}, fmt.Errorf("manifest index: %w", err)
	}
	if st, err := f.Stat(); err == nil && !st.Mode().IsRegular() {
		f.Close()
		return Index{}, fmt.Errorf("manifest index %s: %w: not a regular file", path, ErrCorrupt)
	}
	data, err := io.ReadAll(io.LimitReader(f, maxIndexSize+1))
	f.Close()
	if err != nil {
		return Index{}, fmt.Errorf("manifest index: %w", err)
	}
	return DecodeIndex(path, data)
}

// DecodeIndex decodes and checks the content of an index.json; path is used in errors.
func DecodeIndex(path string, data []byte) (Index, error) {
	bad := func(format string, args ...any) (Index, error) {
		return Index{}, fmt.Errorf("manifest index %s: %w: %s", path, ErrCorrupt, fmt.Sprintf(format, args...))
	}
	if len(data) > maxIndexSize {
		return bad("larger than %d bytes", maxIndexSize)
	}
	var idx Index
	if err := json.Unmarshal(data, &idx); err != nil {
		return bad("%v", err)
	}
	if idx.Format != IndexFormat {
		return bad("format %d, this migrator reads %d", idx.Format, IndexFormat)
	}
	if sum, err := idx.checksum(); err != nil || sum != idx.SHA256 {
		return bad("its sha256 field (%.12s) does not match its content (%.12s)", idx.SHA256, sum)
	}
	if len(idx.Shards) > MaxShards {
		return bad("%d shards, more than %d", len(idx.Shards), MaxShards)
	}
	var files, bytes uint64
	for i, s := range idx.Shards {
		if s.Shard != i || s.File != ShardName(i) || !lowerHex64(s.SHA256) {
			return bad("shard entry %d is inconsistent", i)
		}
		if s.Files > MaxShardFiles {
			return bad("shard %d claims %d files, more than %d", i, s.Files, MaxShardFiles)
		}
		if bytes+s.Bytes < bytes {
			return bad("shard bytes overflow")
		}
		files += s.Files
		bytes += s.Bytes
	}
	if files != idx.Files || bytes != idx.Bytes {
		return bad("totals do not match the shards")
	}
	return idx, nil
}

// lowerHex64 reports whether s is a SHA-256 as hex.EncodeToString writes it.
func lowerHex64(s string) bool {
	if len(s) != 64 {
		return false
	}
	for i := 0; i < len(s); i++ {
		if c := s[i]; (c < '0' || c > '9') && (c < 'a' || c > 'f') {
			return false
		}
	}
	return true
}

// Verify checks that the file at path has the SHA-256 (hex) the index records for it,
// reading it once. work calls it before touching any file of a shard.
func Verify(path, sha string) error {
	f, err := os.Open(path)
	if err != nil {
		return fmt.Errorf("manifest: %w", err)
	}
	defer f.Close()
	h := sha256.New()
	n, err := io.Copy(h, f)
	if err != nil {
		return fmt.Errorf("manifest: %w", err)
	}
	return shaMismatch(path, h, sha, n)
}

// shaMismatch returns the error for a file whose hash h is not want, nil if it is.
func shaMismatch(path string, h hash.Hash, want string, size int64) error {
	if got := hex.EncodeToString(h.Sum(nil)); got != want {
		return &FormatError{File: path, Offset: size,
			Msg: fmt.Sprintf("SHA-256 of the file (%.12s) does not match the index (%.12s)", got, want)}
	}
	return nil
}
