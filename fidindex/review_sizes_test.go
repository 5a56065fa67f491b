package fidindex

import (
	"errors"
	"os"
	"path/filepath"
	"testing"

	"migrator/lfs"
)

// Every record count at a block or fence-block edge: all lookups right, FIDs absent
// below, between and above everything not found, every truncation refused at open.
func TestReviewSizes(t *testing.T) {
	if testing.Short() {
		t.Skip("a minute of flips and truncations")
	}
	for _, n := range []int{0, 1, 2, 255, 256, 257, 511, 512, 65535, 65536, 65537, 65536*2 + 257} {
		path := filepath.Join(t.TempDir(), "x.idx")
		writeN(t, path, n, reviewFID)
		r, err := Open(path)
		if err != nil {
			t.Fatalf("n=%d: %v", n, err)
		}
		if checkAll(t, r, n, reviewFID, 0, n) {
			t.Fatalf("n=%d: ErrCorrupt from an undamaged index", n)
		}
		for _, f := range []lfs.FID{{}, {Seq: 0x200000400 - 1, Oid: ^uint32(0), Ver: ^uint32(0)}, {Seq: 0x200000400, Oid: uint32(n/3*2 + 2)}, {Seq: ^uint64(0), Oid: ^uint32(0), Ver: ^uint32(0)}} {
			if got, err := r.Lookup(f); err != nil || len(got) != 0 {
				t.Fatalf("n=%d absent %v: %v %v", n, f, got, err)
			}
		}
		r.Close()
		good, _ := os.ReadFile(path)
		// Descending sizes, the file cut shorter each time: every size near the end (the
		// fences, the last blocks), a sample before.
		for size := len(good) - 1; size >= 0; size-- {
			if size < len(good)-8000 && size%61 != 0 {
				continue
			}
			if err := os.Truncate(path, int64(size)); err != nil {
				t.Fatal(err)
			}
			if _, err := Open(path); !errors.Is(err, ErrCorrupt) {
				t.Fatalf("n=%d truncated to %d of %d bytes: %v", n, size, len(good), err)
			}
		}
		os.WriteFile(path, append(good, 0), 0o600)
		if _, err := Open(path); !errors.Is(err, ErrCorrupt) {
			t.Fatalf("n=%d with a byte appended: %v", n, err)
		}
	}
}

// Every single-byte flip (small files: every byte; large ones: the header, every fence
// byte, the last blocks, and a sample elsewhere) is ErrCorrupt from Open, a lookup or
// Each, never a wrong answer or a panic.
func TestReviewEveryFlip(t *testing.T) {
	if testing.Short() {
		t.Skip("a minute of flips and truncations")
	}
	for _, n := range []int{1, 255, 256, 257, 65537} {
		path := filepath.Join(t.TempDir(), "x.idx")
		h := writeN(t, path, n, reviewFID)
		l := layoutOf(h)
		good, _ := os.ReadFile(path)
		var offs []int64
		for off := int64(0); off < int64(len(good)); off++ {
			if n < 1000 || off < l.start || off >= l.fenceStart || off >= l.blockOff(l.blocks-2) || off%523 == 0 {
				offs = append(offs, off)
			}
		}
		f, err := os.OpenFile(path, os.O_WRONLY, 0)
		if err != nil {
			t.Fatal(err)
		}
		defer f.Close()
		for _, off := range offs {
			if prev := off - 1; prev >= 0 {
				f.WriteAt(good[prev:off], prev)
			}
			f.WriteAt([]byte{good[off] ^ 0x01<<(off%8)}, off)
			r, err := Open(path)
			if err != nil {
				if !errors.Is(err, ErrCorrupt) {
					t.Fatalf("n=%d flip at %d: %v", n, off, err)
				}
				continue
			}
			// The records of the blocks around the flip.
			k := int((off - l.start) / (BlockRecords*RecordSize + 4))
			corrupt := checkAll(t, r, n, reviewFID, (k-1)*BlockRecords, (k+2)*BlockRecords)
			err = r.Each(func(lfs.FID, Loc) error { return nil })
			r.Close()
			if !corrupt && !errors.Is(err, ErrCorrupt) {
				t.Fatalf("n=%d flip at %d: not found", n, off)
			}
		}
	}
}

// One FID in thousands of records, across many blocks and a fence-block edge, with other
// FIDs before and after: all its records, in order.
func TestReviewLongRun(t *testing.T) {
	n := 65536*2 + 301 // a count no other test uses: wantOf keeps its FIDs by n
	fid := func(i int) lfs.FID {
		switch {
		case i < 10:
			return lfs.FID{Seq: 1, Oid: uint32(i)}
		case i < 65536+600:
			return lfs.FID{Seq: 2}
		}
		return lfs.FID{Seq: 3, Oid: uint32(i)}
	}
	path := filepath.Join(t.TempDir(), "x.idx")
	writeN(t, path, n, fid)
	r, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	r.maxFences = 1
	if checkAll(t, r, n, fid, 0, 20) || checkAll(t, r, n, fid, 65536+598, 65536+602) || checkAll(t, r, n, fid, n-300, n) {
		t.Fatal("ErrCorrupt from an undamaged index")
	}
}
