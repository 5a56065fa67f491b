package manifest

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
	"github.com/klauspost/compress/zstd"

	"migrator/lfs"
)

// hostileEntries are entries whose paths are everything a file name can be.
func hostileEntries() []Entry {
	names := []string{
		"/plain", "/dir/new\nline", "/dir/tab\there", `/dir/quote"s 'and' more`, `/dir/back\slash`,
		"/dir/-leading-dash", "/dir/  spaces  ", "/dir/non-utf8-\xff\xfe\x80", "/dir/" + strings.Repeat("x", 255),
		"/" + strings.Repeat("deep/", 800) + "end", // a 4,004-byte path
		"/", "/\x01\x02\x7f",
	}
	var es []Entry
	for i, n := range names {
		es = append(es, Entry{
			Path: n, FID: lfs.FID{Seq: 0x200000400 + uint64(i%3), Oid: uint32(1000 - i*7), Ver: uint32(i % 2)},
			Size: uint64(i) * 4097, Nlink: uint32(1 + i%3), UID: uint32(1000 + i), GID: uint32(100 + i),
			OSTs: []uint32{uint32(i % 4), 65535}[:1+i%2], Flags: uint64(i%3) & EntryAttempted,
		})
	}
	return es
}

func encodeShard(t testing.TB, h Header, es []Entry) []byte {
	t.Helper()
	var buf bytes.Buffer
	sw, err := NewShardWriter(&buf, h)
	if err != nil {
		t.Fatal(err)
	}
	for i := range es {
		if err := sw.Write(&es[i]); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := sw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// readAll returns the entries read before the first error, and that error (nil at EOF).
func readAll(data []byte) (Header, []Entry, error) {
	r, err := NewShardReader(bytes.NewReader(data), "test")
	if err != nil {
		return Header{}, nil, err
	}
	defer r.Close()
	var es []Entry
	for {
		var e Entry
		err := r.Next(&e)
		if err == io.EOF {
			return r.Header(), es, nil
		}
		if err != nil {
			return r.Header(), es, err
		}
		es = append(es, e)
	}
}

var cmpEntries = cmpopts.EquateEmpty()

func TestRoundTripHostile(t *testing.T) {
	want := hostileEntries()
	h := Header{Campaign: "c-test-\xff", Round: 3, Shard: 123456789}
	data := encodeShard(t, h, want)
	gotH, got, err := readAll(data)
	if err != nil {
		t.Fatal(err)
	}
	if gotH != h {
		t.Errorf("header %+v, want %+v", gotH, h)
	}
	if diff := cmp.Diff(want, got, cmpEntries); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
}

// Many entries span many blocks; the front coding and FID deltas restart at each block.
func TestRoundTripManyBlocks(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	var want []Entry
	for i := 0; i < 20000; i++ {
		want = append(want, Entry{
			Path: fmt.Sprintf("/lustre/fs/proj%d/user%d/run-%05d/out_%06d.h5", i/5000, i/700, i/50, i),
			FID:  lfs.FID{Seq: 0x200000400 + uint64(rng.IntN(3)), Oid: rng.Uint32(), Ver: 0},
			Size: rng.Uint64N(1 << 40), Nlink: 1, UID: 1000, GID: 1000, OSTs: []uint32{uint32(rng.IntN(100))},
		})
	}
	data := encodeShard(t, Header{Campaign: "c", Shard: 1}, want)
	r, err := NewShardReader(bytes.NewReader(data), "test")
	if err != nil {
		t.Fatal(err)
	}
	var got []Entry
	for {
		var e Entry
		if err := r.Next(&e); err == io.EOF {
			break
		} else if err != nil {
			t.Fatal(err)
		}
		got = append(got, e)
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
	if s := r.Summary(); s.Blocks < 5 || s.Entries != 20000 {
		t.Errorf("summary %+v", s)
	}
}

func TestWriterRejectsBadPaths(t *testing.T) {
	var buf bytes.Buffer
	sw, _ := NewShardWriter(&buf, Header{})
	for _, p := range []string{"", "relative", "/with\x00nul", "/" + strings.Repeat("a", MaxPath)} {
		if err := sw.Write(&Entry{Path: p}); err == nil {
			t.Errorf("accepted path %q", p)
		}
	}
}

// Every single-byte corruption and every truncation of a small shard is detected, and no
// entry that differs from what was written is ever handed out. The stream reader alone
// catches every change to the content; a change to zstd metadata that leaves the content
// intact (a window size bit, say) is caught by the SHA-256 the index records.
func TestEveryCorruptionDetected(t *testing.T) {
	want := hostileEntries()[:6]
	data := encodeShard(t, Header{Campaign: "c", Shard: 7}, want)
	sum := sha256.Sum256(data)
	sha := hex.EncodeToString(sum[:])
	path := filepath.Join(t.TempDir(), "shard")
	contentPreserving := 0
	check := func(what string, bad []byte) {
		t.Helper()
		os.WriteFile(path, bad, 0o600)
		got, err := readFile(path, sha)
		if err == nil {
			t.Errorf("%s: read without error", what)
		} else if !errors.Is(err, ErrCorrupt) {
			t.Errorf("%s: error %v is not ErrCorrupt", what, err)
		}
		if len(got) > len(want) || !cmp.Equal(want[:len(got)], got, cmpEntries) {
			t.Errorf("%s: handed out damaged entries %+v", what, got)
		}
		// Without the SHA-256, the stream reader either reports the damage or returns
		// exactly what was written.
		_, got, err = readAll(bad)
		if err == nil {
			contentPreserving++
			if !cmp.Equal(want, got, cmpEntries) {
				t.Errorf("%s: stream reader returned damaged entries without error", what)
			}
		}
	}
	for off := range data {
		for _, flip := range []byte{0x01, 0x80, 0xff} {
			bad := bytes.Clone(data)
			bad[off] ^= flip
			check(fmt.Sprintf("byte %d ^ %#x", off, flip), bad)
		}
	}
	for n := 0; n < len(data); n++ {
		check(fmt.Sprintf("truncated to %d", n), data[:n])
	}
	check("extra data", append(bytes.Clone(data), 0))
	t.Logf("%d of %d corruptions left the content intact and were caught by SHA-256 alone", contentPreserving, 4*len(data)+1)
}

func readFile(path, sha string) ([]Entry, error) {
	r, err := OpenShard(path, sha)
	if err != nil {
		return nil, err
	}
	defer r.Close()
	var es []Entry
	for {
		var e Entry
		if err := r.Next(&e); err == io.EOF {
			return es, nil
		} else if err != nil {
			return es, err
		}
		es = append(es, e)
	}
}

func TestForeignShards(t *testing.T) {
	enc, _ := zstd.NewWriter(nil)
	tests := map[string][]byte{
		"not zstd":        []byte("hello, this is a text file\n"),
		"empty":           nil,
		"zstd of text":    enc.EncodeAll([]byte("hello"), nil),
		"zstd of garbage": enc.EncodeAll(bytes.Repeat([]byte("MGRSHARD"), 10), nil),
	}
	for name, data := range tests {
		_, _, err := readAll(data)
		if !errors.Is(err, ErrCorrupt) {
			t.Errorf("%s: %v", name, err)
		}
	}
	_, _, err := readAll(tests["not zstd"])
	if !strings.Contains(err.Error(), "at byte 0") {
		t.Errorf("no offset in %v", err)
	}
}

// A future version may append fields to an entry; this reader ignores them.
func TestForwardCompatibleEntries(t *testing.T) {
	es := hostileEntries()[:3]
	var buf bytes.Buffer
	sw, _ := NewShardWriter(&buf, Header{Campaign: "c"})
	// Write records by hand with 5 extra bytes each, after the flags (which a writer adding
	// fields writes even when they are 0).
	for i := range es {
		sw.rec = sw.codec.append(sw.rec[:0], &es[i])
		if es[i].Flags == 0 {
			sw.rec = append(sw.rec, 0)
		}
		sw.rec = append(sw.rec, 1, 2, 3, 4, 5)
		sw.block = binary.AppendUvarint(sw.block, uint64(len(sw.rec)))
		sw.block = append(sw.block, sw.rec...)
		sw.sum.Entries++
		sw.sum.Bytes += es[i].Size
	}
	sw.Close()
	_, got, err := readAll(buf.Bytes())
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(es, got, cmpEntries); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
}

// A header from a newer version with extra fields is read too.
func TestForwardCompatibleHeader(t *testing.T) {
	var hb []byte
	hb = binary.AppendUvarint(hb, 1)
	hb = append(hb, 'c')
	hb = binary.AppendUvarint(hb, 0)
	hb = binary.AppendUvarint(hb, 5)
	hb = append(hb, "a later field"...)
	head := append([]byte(magic), 1)
	head = binary.AppendUvarint(head, uint64(len(hb)))
	head = append(head, hb...)
	head = binary.LittleEndian.AppendUint32(head, crc32.Checksum(head, castagnoli))
	tr := []byte{0, 0, 0}
	raw := append(head, 0)
	raw = append(raw, tr...)
	raw = binary.LittleEndian.AppendUint32(raw, crc32.Checksum(tr, castagnoli))
	enc, _ := zstd.NewWriter(nil)
	h, es, err := readAll(enc.EncodeAll(raw, nil))
	if err != nil || h.Shard != 5 || h.Campaign != "c" || len(es) != 0 {
		t.Errorf("header %+v entries %v err %v", h, es, err)
	}
}

func TestWriterCutsShards(t *testing.T) {
	dir := t.TempDir()
	w, err := NewWriter(WriterOptions{Dir: dir, Campaign: "c1", Round: 0, MaxFiles: 3, MaxBytes: 100})
	if err != nil {
		t.Fatal(err)
	}
	sizes := []uint64{10, 10, 10, 10, 60, 50, 500, 1, 99, 1, 100}
	// shards: [10 10 10] [10 60] [50] [500] [1 99] [1] [100]
	var want [][]uint64 = [][]uint64{{10, 10, 10}, {10, 60}, {50}, {500}, {1, 99}, {1}, {100}}
	for i, s := range sizes {
		if err := w.Write(&Entry{Path: fmt.Sprintf("/f%d", i), Size: s}); err != nil {
			t.Fatal(err)
		}
	}
	idx, err := w.Close()
	if err != nil {
		t.Fatal(err)
	}
	if len(idx.Shards) != len(want) || idx.Files != uint64(len(sizes)) || idx.Bytes != 851 {
		t.Fatalf("index %+v", idx)
	}
	back, err := ReadIndex(dir)
	if err != nil || !cmp.Equal(back, idx) {
		t.Fatalf("ReadIndex: %+v, %v", back, err)
	}
	for k, s := range idx.Shards {
		r, err := OpenShard(filepath.Join(dir, s.File), s.SHA256)
		if err != nil {
			t.Fatal(err)
		}
		if r.Header() != (Header{Campaign: "c1", Shard: k}) {
			t.Errorf("shard %d header %+v", k, r.Header())
		}
		var got []uint64
		var e Entry
		for {
			err := r.Next(&e)
			if err == io.EOF {
				break
			}
			if err != nil {
				t.Fatalf("shard %d: %v", k, err)
			}
			got = append(got, e.Size)
		}
		r.Close()
		if !cmp.Equal(got, want[k]) {
			t.Errorf("shard %d sizes %v, want %v", k, got, want[k])
		}
	}
	// No temporary files are left.
	ents, _ := os.ReadDir(dir)
	if len(ents) != len(want)+1 {
		t.Errorf("directory holds %d files", len(ents))
	}
	// A shard changed on disk no longer matches the index.
	p := filepath.Join(dir, idx.Shards[2].File)
	b, _ := os.ReadFile(p)
	b[len(b)-1] ^= 1
	os.WriteFile(p, b, 0o600)
	if _, err := readFile(p, idx.Shards[2].SHA256); !errors.Is(err, ErrCorrupt) || !strings.Contains(err.Error(), p) {
		t.Errorf("changed shard: %v", err)
	}
}

func TestEmptyCampaign(t *testing.T) {
	dir := t.TempDir()
	w, _ := NewWriter(WriterOptions{Dir: dir, Campaign: "c", MaxFiles: 10, MaxBytes: 10})
	idx, err := w.Close()
	if err != nil || len(idx.Shards) != 0 {
		t.Fatalf("%+v %v", idx, err)
	}
	if _, err := ReadIndex(dir); err != nil {
		t.Error(err)
	}
}

func TestReadIndexRejectsDamage(t *testing.T) {
	dir := t.TempDir()
	if _, err := ReadIndex(dir); err == nil || !strings.Contains(err.Error(), IndexFile) {
		t.Errorf("missing index: %v", err)
	}
	for _, bad := range []string{`{`, `{"format":3}`, `{"format":2,"files":5,"shards":[]}`,
		`{"format":2,"files":1,"shards":[{"shard":1,"file":"shard-000001.zst","files":1,"sha256":"` + strings.Repeat("0", 64) + `"}]}`} {
		os.WriteFile(filepath.Join(dir, IndexFile), []byte(bad), 0o600)
		if _, err := ReadIndex(dir); !errors.Is(err, ErrCorrupt) {
			t.Errorf("index %s: %v", bad, err)
		}
	}
}

func FuzzShardReader(f *testing.F) {
	f.Add(encodeShard(f, Header{Campaign: "c", Shard: 1}, hostileEntries()))
	f.Add(encodeShard(f, Header{}, nil))
	f.Add([]byte("MGRSHARD"))
	f.Fuzz(func(t *testing.T, data []byte) {
		r, err := NewShardReader(bytes.NewReader(data), "fuzz")
		if err != nil {
			if !errors.Is(err, ErrCorrupt) {
				t.Fatalf("error %v is not ErrCorrupt", err)
			}
			return
		}
		defer r.Close()
		for i := 0; i < 1_000_000; i++ {
			var e Entry
			err := r.Next(&e)
			if err == io.EOF {
				return
			}
			if err != nil {
				if !errors.Is(err, ErrCorrupt) {
					t.Fatalf("error %v is not ErrCorrupt", err)
				}
				return
			}
			if e.Path == "" || e.Path[0] != '/' || strings.IndexByte(e.Path, 0) >= 0 {
				t.Fatalf("invalid path %q handed out", e.Path)
			}
		}
	})
}

// FuzzShardStream fuzzes the decompressed stream, where this package's own parsing lives.
func FuzzShardStream(f *testing.F) {
	dec, _ := zstd.NewReader(nil)
	for _, es := range [][]Entry{hostileEntries()[:9], nil} {
		raw, err := dec.DecodeAll(encodeShard(f, Header{Campaign: "c", Shard: 2}, es), nil)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(raw)
	}
	f.Fuzz(func(t *testing.T, raw []byte) {
		r, err := newStreamReader(bytes.NewReader(raw), "fuzz")
		if err != nil {
			if !errors.Is(err, ErrCorrupt) {
				t.Fatalf("error %v is not ErrCorrupt", err)
			}
			return
		}
		for {
			var e Entry
			err := r.Next(&e)
			if err == io.EOF {
				return
			}
			if err != nil {
				if !errors.Is(err, ErrCorrupt) {
					t.Fatalf("error %v is not ErrCorrupt", err)
				}
				return
			}
			if e.Path == "" || e.Path[0] != '/' || strings.IndexByte(e.Path, 0) >= 0 {
				t.Fatalf("invalid path %q handed out", e.Path)
			}
		}
	})
}

func TestEntryFailedBefore(t *testing.T) {
	var e Entry
	if _, ok := e.FailedBefore(); ok {
		t.Fatal("a plain entry failed before")
	}
	e.Flags = EntryAttempted
	e.SetFailedBefore(syscall.EACCES)
	e.SetFailedBefore(syscall.EIO) // the latest failure wins
	if errno, ok := e.FailedBefore(); !ok || errno != syscall.EIO || e.Flags&EntryAttempted == 0 {
		t.Errorf("FailedBefore = %v, %v; flags %#x", errno, ok, e.Flags)
	}
}
