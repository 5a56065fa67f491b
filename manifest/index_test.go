package manifest

import (
	"bytes"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// writeRound writes shards of the given entries through a Writer and returns the index.
func writeRound(t *testing.T, dir string, es []Entry, maxFiles uint64) Index {
	t.Helper()
	w, err := NewWriter(WriterOptions{Dir: dir, Campaign: "c-x", MaxFiles: maxFiles, MaxBytes: 1 << 40})
	if err != nil {
		t.Fatal(err)
	}
	for i := range es {
		if err := w.Write(&es[i]); err != nil {
			t.Fatal(err)
		}
	}
	idx, err := w.Close()
	if err != nil {
		t.Fatal(err)
	}
	return idx
}

// Any change to index.json that changes what it says is refused, naming the file; an index
// whose checksum was recomputed is still held to the limits, before anything is allocated.
func TestIndexChecksumAndBounds(t *testing.T) {
	dir := t.TempDir()
	idx := writeRound(t, dir, hostileEntries(), 2)
	if len(idx.Shards) < 2 {
		t.Fatalf("want at least 2 shards, got %d", len(idx.Shards))
	}
	path := filepath.Join(dir, IndexFile)
	orig, _ := os.ReadFile(path)
	if got, err := ReadIndex(dir); err != nil || got.SHA256 != idx.SHA256 || got.Format != IndexFormat {
		t.Fatalf("ReadIndex: %+v, %v", got, err)
	}
	for _, tc := range []struct{ name, from, to string }{
		{"shard files", `"files": 2,`, `"files": 3,`},
		{"campaign", `"c-x"`, `"c-y"`},
		{"shard hash", `"sha256": "` + idx.Shards[0].SHA256[:4], `"sha256": "0000`},
		{"own checksum", `"sha256": "` + idx.SHA256[:4], `"sha256": "0000`},
		{"format 1", `"format": 2`, `"format": 1`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if !bytes.Contains(orig, []byte(tc.from)) {
				t.Fatalf("index.json lacks %s:\n%s", tc.from, orig)
			}
			os.WriteFile(path, bytes.Replace(orig, []byte(tc.from), []byte(tc.to), 1), 0o600)
			if _, err := ReadIndex(dir); !errors.Is(err, ErrCorrupt) || !strings.Contains(err.Error(), path) {
				t.Fatalf("ReadIndex: %v, want ErrCorrupt naming %s", err, path)
			}
		})
	}
	// Crafted, with a valid checksum: limits hold.
	for _, tc := range []struct {
		name string
		edit func(*Index)
		want string
	}{
		{"a shard of 10^15 files", func(x *Index) { x.Shards[0].Files = 1e15; x.Files += 1e15 - 2 }, "more than"},
		{"bytes overflow", func(x *Index) { x.Shards[0].Bytes = 1<<64 - 1; x.Shards[1].Bytes = 2 }, "overflow"},
		{"gap in shard numbers", func(x *Index) { x.Shards[1].Shard = 5 }, "inconsistent"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			x := idx
			x.Shards = append([]ShardIndex(nil), idx.Shards...)
			tc.edit(&x)
			if _, err := WriteIndex(dir, x); err != nil {
				t.Fatal(err)
			}
			if _, err := ReadIndex(dir); !errors.Is(err, ErrCorrupt) || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("ReadIndex: %v, want ErrCorrupt with %q", err, tc.want)
			}
		})
	}
	if _, err := NewWriter(WriterOptions{Dir: dir, MaxFiles: MaxShardFiles + 1, MaxBytes: 1}); err == nil {
		t.Errorf("a writer of shards above MaxShardFiles: no error")
	}
}

// A shard opened through its index entry holds exactly what the index says: an index that
// claims fewer entries (with a recomputed checksum) stops the reader before the extra ones.
func TestOpenIndexedHoldsTheIndexToItsWord(t *testing.T) {
	dir := t.TempDir()
	idx := writeRound(t, dir, hostileEntries(), 100)
	s := idx.Shards[0]
	read := func(s ShardIndex) (int, error) {
		r, err := OpenIndexed(dir, s)
		if err != nil {
			return 0, err
		}
		defer r.Close()
		var e Entry
		for n := 0; ; n++ {
			if err := r.Next(&e); err == io.EOF {
				return n, nil
			} else if err != nil {
				return n, err
			}
		}
	}
	if n, err := read(s); err != nil || uint64(n) != s.Files {
		t.Fatalf("whole shard: %d entries, %v; want %d", n, err, s.Files)
	}
	fewer := s
	fewer.Files = 2
	if n, err := read(fewer); !errors.Is(err, ErrCorrupt) || n != 2 {
		t.Fatalf("index claiming 2 entries: read %d, %v; want 2 then ErrCorrupt", n, err)
	}
	more := s
	more.Files++
	if _, err := read(more); !errors.Is(err, ErrCorrupt) {
		t.Fatalf("index claiming one entry more: %v, want ErrCorrupt", err)
	}
}

// FuzzDecodeIndex: any bytes decode to a checked index or to ErrCorrupt, never a panic or
// an index beyond the limits.
func FuzzDecodeIndex(f *testing.F) {
	dir := f.TempDir()
	w, _ := NewWriter(WriterOptions{Dir: dir, Campaign: "c", MaxFiles: 2, MaxBytes: 1 << 40})
	for _, e := range hostileEntries() {
		e := e
		w.Write(&e)
	}
	w.Close()
	good, _ := os.ReadFile(filepath.Join(dir, IndexFile))
	f.Add(good)
	f.Add([]byte(`{"format":2,"shards":[{"files":1e15}]}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		idx, err := DecodeIndex("fuzz", data)
		if err != nil {
			if !errors.Is(err, ErrCorrupt) {
				t.Fatalf("error %v is not ErrCorrupt", err)
			}
			return
		}
		if len(idx.Shards) > MaxShards {
			t.Fatalf("%d shards accepted", len(idx.Shards))
		}
		for _, s := range idx.Shards {
			if s.Files > MaxShardFiles {
				t.Fatalf("shard of %d files accepted", s.Files)
			}
		}
	})
}

// An index.json that is a directory is a damaged index (ErrCorrupt, naming it), like one
// cut to 0 bytes: every command then says exit 2 alike.
func TestIndexNotAFile(t *testing.T) {
	dir := t.TempDir()
	if err := os.Mkdir(filepath.Join(dir, IndexFile), 0o700); err != nil {
		t.Fatal(err)
	}
	_, err := ReadIndex(dir)
	if !errors.Is(err, ErrCorrupt) || !strings.Contains(err.Error(), filepath.Join(dir, IndexFile)) {
		t.Fatalf("ReadIndex = %v, want ErrCorrupt naming the file", err)
	}
}
