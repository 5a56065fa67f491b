package fidindex

import (
	"encoding/binary"
	"errors"
	"hash/crc32"
	"io"
	"os"
	"path/filepath"
	"testing"

	"github.com/google/go-cmp/cmp"

	"migrator/lfs"
)

// reviewFID is the FID of record i in the files these tests write: every FID three times
// (so runs cross block and fence-block boundaries), even object ids only.
func reviewFID(i int) lfs.FID { return lfs.FID{Seq: 0x200000400, Oid: uint32(i / 3 * 2)} }

func writeN(t testing.TB, path string, n int, fid func(int) lfs.FID) Header {
	t.Helper()
	h := Header{Campaign: "c1", Round: 2, Count: uint64(n)}
	i := 0
	if err := Write(path, h, func() ([]byte, error) {
		if i == n {
			return nil, io.EOF
		}
		rec := Record(fid(i), Loc{Shard: uint32(i >> 16), Index: uint64(i)})
		i++
		return rec, nil
	}); err != nil {
		t.Fatal(err)
	}
	return h
}

// layout is where the parts of an index of n records with header h are.
type layout struct {
	start, fenceStart int64
	blocks            int64
}

func layoutOf(h Header) layout {
	l := layout{start: int64(len(encodeHeader(h)))}
	l.blocks = int64((h.Count + BlockRecords - 1) / BlockRecords)
	l.fenceStart = l.start + int64(h.Count/BlockRecords)*(BlockRecords*RecordSize+4)
	if t := int64(h.Count % BlockRecords); t > 0 {
		l.fenceStart += t*RecordSize + 4
	}
	return l
}

func (l layout) blockOff(k int64) int64 { return l.start + k*(BlockRecords*RecordSize+4) }
func (l layout) fenceOff(k int64) int64 {
	return l.fenceStart + k/FenceKeys*(FenceKeys*KeySize+4) + k%FenceKeys*KeySize
}

// recrc recomputes the CRC of the block (data or fence) of size bytes (CRC excluded) at off.
func recrc(b []byte, off, size int64) {
	binary.LittleEndian.PutUint32(b[off+size:], crc32.Checksum(b[off:off+size], castagnoli))
}

// checkAll looks every record's FID up (and the absent ones between), and fails the test
// on any answer other than the right one or ErrCorrupt. It returns whether some call
// said ErrCorrupt.
func checkAll(t *testing.T, r *Reader, n int, fid func(int) lfs.FID, from, to int) (corrupt bool) {
	t.Helper()
	want := wantOf(n, fid)
	for i := max(from, 0); i < min(to, n); i++ {
		f := fid(i)
		got, err := r.Lookup(f)
		if err != nil {
			if !errors.Is(err, ErrCorrupt) {
				t.Fatalf("lookup of record %d: %v", i, err)
			}
			corrupt = true
			continue
		}
		if d := cmp.Diff(want[f], got); d != "" {
			t.Fatalf("lookup of record %d (%v) -want +got:\n%s", i, f, d)
		}
		absent := f
		absent.Oid++
		if _, ok := want[absent]; !ok {
			got, err := r.Lookup(absent)
			if err == nil && len(got) != 0 {
				t.Fatalf("absent %v: %v", absent, got)
			}
			corrupt = corrupt || errors.Is(err, ErrCorrupt)
		}
	}
	return corrupt
}

var wants = map[int]map[lfs.FID][]Loc{}

// wantOf is every FID of n records with its locations (kept per n: fid is one of a few).
func wantOf(n int, fid func(int) lfs.FID) map[lfs.FID][]Loc {
	if w, ok := wants[n]; ok {
		return w
	}
	w := map[lfs.FID][]Loc{}
	for i := 0; i < n; i++ {
		w[fid(i)] = append(w[fid(i)], Loc{Shard: uint32(i >> 16), Index: uint64(i)})
	}
	wants[n] = w
	return w
}

// A crafted index, every CRC valid, whose fence of block 1 names its second-to-last record
// (still in order): the last record of block 1 must not be reported absent.
func TestReviewLoweredFence(t *testing.T) {
	n := BlockRecords * 4
	fid := func(i int) lfs.FID { return lfs.FID{Seq: 0x200000400, Oid: uint32(i * 2)} }
	path := filepath.Join(t.TempDir(), "x.idx")
	h := writeN(t, path, n, fid)
	l := layoutOf(h)
	b, _ := os.ReadFile(path)
	copy(b[l.fenceOff(1):], Record(fid(2*BlockRecords-2), Loc{})[:KeySize])
	recrc(b, l.fenceStart, l.blocks*KeySize)
	os.WriteFile(path, b, 0o600)
	r, err := Open(path)
	if err != nil {
		return // refused at open: fine
	}
	defer r.Close()
	got, err := r.Lookup(fid(2*BlockRecords - 1))
	if !errors.Is(err, ErrCorrupt) && !cmp.Equal(got, []Loc{{Index: uint64(2*BlockRecords - 1)}}) {
		t.Fatalf("lookup of block 1's last record: %v %v, want it or ErrCorrupt", got, err)
	}
}

// A header with a valid CRC whose campaign length is 2^64-1: ErrCorrupt, not a panic.
func TestReviewHugeCampaignLength(t *testing.T) {
	var body []byte
	body = binary.AppendUvarint(body, ^uint64(0))
	body = append(body, make([]byte, 64)...)
	b := []byte(Magic)
	b = binary.LittleEndian.AppendUint32(b, Version)
	b = binary.LittleEndian.AppendUint32(b, uint32(len(body)))
	b = append(b, body...)
	b = binary.LittleEndian.AppendUint32(b, crc32.Checksum(b, castagnoli))
	path := filepath.Join(t.TempDir(), "x.idx")
	os.WriteFile(path, b, 0o600)
	if _, err := Open(path); !errors.Is(err, ErrCorrupt) {
		t.Fatalf("Open: %v, want ErrCorrupt", err)
	}
}

// A crafted block, CRC valid and ending with its fence, whose records are out of order:
// no lookup of its records may answer "absent".
func TestReviewUnsortedBlock(t *testing.T) {
	n := BlockRecords * 4
	fid := func(i int) lfs.FID { return lfs.FID{Seq: 0x200000400, Oid: uint32(i * 2)} }
	path := filepath.Join(t.TempDir(), "x.idx")
	h := writeN(t, path, n, fid)
	l := layoutOf(h)
	b, _ := os.ReadFile(path)
	blk := b[l.blockOff(1):]
	a, c := blk[10*RecordSize:11*RecordSize], blk[200*RecordSize:201*RecordSize]
	tmp := append([]byte(nil), a...)
	copy(a, c)
	copy(c, tmp)
	recrc(b, l.blockOff(1), BlockRecords*RecordSize)
	os.WriteFile(path, b, 0o600)
	r, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	for i := BlockRecords; i < 2*BlockRecords; i++ {
		got, err := r.Lookup(fid(i))
		if !errors.Is(err, ErrCorrupt) && !cmp.Equal(got, []Loc{{Index: uint64(i)}}) {
			t.Fatalf("lookup of record %d: %v %v, want it or ErrCorrupt", i, got, err)
		}
	}
}

// A fence block rewritten in place after Open (CRC valid, in order, but its last fence no
// longer the one Open kept): ErrCorrupt, not a panic.
func TestReviewFenceBlockChangedAfterOpen(t *testing.T) {
	n := BlockRecords * 4
	fid := func(i int) lfs.FID { return lfs.FID{Seq: 0x200000400, Oid: uint32(i * 2)} }
	path := filepath.Join(t.TempDir(), "x.idx")
	h := writeN(t, path, n, fid)
	l := layoutOf(h)
	r, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	b, _ := os.ReadFile(path)
	for k := int64(1); k < l.blocks; k++ {
		copy(b[l.fenceOff(k):], b[l.fenceOff(0):l.fenceOff(0)+KeySize])
	}
	recrc(b, l.fenceStart, l.blocks*KeySize)
	f, err := os.OpenFile(path, os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	f.WriteAt(b[l.fenceStart:], l.fenceStart)
	f.Close()
	got, err := r.Lookup(fid(n - 1))
	if !errors.Is(err, ErrCorrupt) && !cmp.Equal(got, []Loc{{Index: uint64(n - 1)}}) {
		t.Fatalf("lookup: %v %v, want it or ErrCorrupt", got, err)
	}
}
