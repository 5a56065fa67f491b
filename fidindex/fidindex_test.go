package fidindex

import (
	"errors"
	"io"
	"os"
	"path/filepath"
	"testing"

	"github.com/google/go-cmp/cmp"

	"migrator/lfs"
)

func write(t *testing.T, path string, n int) Header {
	t.Helper()
	h := Header{Campaign: "c1", Round: 2, Count: uint64(n)}
	h.ManifestSHA256[0] = 7
	i := 0
	err := Write(path, h, func() ([]byte, error) {
		if i == n {
			return nil, io.EOF
		}
		// Every FID twice (two entries), even object ids only.
		fid := lfs.FID{Seq: 0x200000400, Oid: uint32(i / 2 * 2)}
		rec := Record(fid, Loc{Shard: uint32(i % 2), Index: uint64(i)})
		i++
		return rec, nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return h
}

func TestLookup(t *testing.T) {
	for _, n := range []int{0, 2, BlockRecords, BlockRecords*3 + 10} {
		path := filepath.Join(t.TempDir(), "x.idx")
		h := write(t, path, n)
		r, err := Open(path)
		if err != nil {
			t.Fatal(err)
		}
		if d := cmp.Diff(h, r.Header()); d != "" {
			t.Errorf("header -want +got:\n%s", d)
		}
		for i := 0; i < n; i += 2 {
			got, err := r.Lookup(lfs.FID{Seq: 0x200000400, Oid: uint32(i)})
			want := []Loc{{Shard: 0, Index: uint64(i)}, {Shard: 1, Index: uint64(i + 1)}}
			if err != nil || !cmp.Equal(got, want) {
				t.Fatalf("n=%d oid %d: %v %v, want %v", n, i, got, err, want)
			}
			if got, _ := r.Lookup(lfs.FID{Seq: 0x200000400, Oid: uint32(i + 1)}); len(got) != 0 {
				t.Fatalf("n=%d oid %d (absent): %v", n, i+1, got)
			}
		}
		for _, fid := range []lfs.FID{{}, {Seq: 0x200000400, Oid: uint32(n + 2)}, {Seq: 0xffffffffffffffff}} {
			if got, _ := r.Lookup(fid); len(got) != 0 {
				t.Errorf("n=%d absent %v: %v", n, fid, got)
			}
		}
		r.Close()
	}
}

// Lookups across fence blocks, with a FID's records spanning block and fence-block
// boundaries, and with a fence cache smaller than the fence blocks.
func TestLookupAcrossFences(t *testing.T) {
	const dup = 3 // 256 is no multiple of 3: runs of a FID cross block boundaries
	n := BlockRecords*FenceKeys*2 + 5*BlockRecords + 1
	path := filepath.Join(t.TempDir(), "x.idx")
	i := 0
	err := Write(path, Header{Count: uint64(n)}, func() ([]byte, error) {
		if i == n {
			return nil, io.EOF
		}
		rec := Record(lfs.FID{Seq: 0x200000400 + uint64(i/dup)/1000, Oid: uint32(i / dup * 2)}, Loc{Index: uint64(i)})
		i++
		return rec, nil
	})
	if err != nil {
		t.Fatal(err)
	}
	r, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	r.maxFences = 2
	for f := 0; f*dup < n; f++ {
		seq := 0x200000400 + uint64(f)/1000
		got, err := r.Lookup(lfs.FID{Seq: seq, Oid: uint32(f * 2)})
		var want []Loc
		for j := f * dup; j < min(n, f*dup+dup); j++ {
			want = append(want, Loc{Index: uint64(j)})
		}
		if err != nil || !cmp.Equal(got, want) {
			t.Fatalf("FID %d: %v %v, want %v", f, got, err, want)
		}
		if got, err := r.Lookup(lfs.FID{Seq: seq, Oid: uint32(f*2 + 1)}); err != nil || len(got) != 0 {
			t.Fatalf("absent FID after %d: %v %v", f, got, err)
		}
		if len(r.fences) > 2 {
			t.Fatalf("%d fence blocks cached, at most 2", len(r.fences))
		}
	}
}

// Every damage is an error naming the file, never a wrong answer.
func TestDamage(t *testing.T) {
	path := filepath.Join(t.TempDir(), "x.idx")
	write(t, path, BlockRecords*2+5)
	good, _ := os.ReadFile(path)
	for off := 0; off < len(good); off += 97 {
		bad := append([]byte(nil), good...)
		bad[off] ^= 0x40
		os.WriteFile(path, bad, 0o600)
		r, err := Open(path)
		if err == nil {
			err = r.Each(func(lfs.FID, Loc) error { return nil })
			r.Close()
		}
		if !errors.Is(err, ErrCorrupt) {
			t.Fatalf("flipped byte %d: %v", off, err)
		}
	}
	os.WriteFile(path, good[:len(good)-1], 0o600)
	if _, err := Open(path); !errors.Is(err, ErrCorrupt) {
		t.Errorf("truncated: %v", err)
	}
}

func TestWriteRefusesDisorder(t *testing.T) {
	recs := [][]byte{Record(lfs.FID{Seq: 2}, Loc{}), Record(lfs.FID{Seq: 1}, Loc{})}
	err := Write(filepath.Join(t.TempDir(), "x.idx"), Header{Count: 2}, func() ([]byte, error) {
		if len(recs) == 0 {
			return nil, io.EOF
		}
		r := recs[0]
		recs = recs[1:]
		return r, nil
	})
	if err == nil {
		t.Error("out-of-order records were written")
	}
}

// Any bytes: an error or an index whose every lookup and walk answers, never a panic.
func FuzzOpen(f *testing.F) {
	path := filepath.Join(f.TempDir(), "seed.idx")
	h := Header{Campaign: "c", Count: 3}
	recs := [][]byte{Record(lfs.FID{Seq: 1}, Loc{}), Record(lfs.FID{Seq: 2}, Loc{Shard: 1}), Record(lfs.FID{Seq: 3}, Loc{Index: 9})}
	if err := Write(path, h, func() ([]byte, error) {
		if len(recs) == 0 {
			return nil, io.EOF
		}
		r := recs[0]
		recs = recs[1:]
		return r, nil
	}); err != nil {
		f.Fatal(err)
	}
	seed, _ := os.ReadFile(path)
	f.Add(seed)
	f.Add([]byte(Magic))
	f.Fuzz(func(t *testing.T, data []byte) {
		p := filepath.Join(t.TempDir(), "x.idx")
		os.WriteFile(p, data, 0o600)
		r, err := Open(p)
		if err != nil {
			return
		}
		defer r.Close()
		r.Lookup(lfs.FID{Seq: 2})
		r.Each(func(lfs.FID, Loc) error { return nil })
	})
}
