package extsort

import (
	"bytes"
	"encoding/binary"
	"math/rand/v2"
	"os"
	"slices"
	"testing"
)

// Many runs (a tiny budget, merged in passes when there are more than maxFanIn), duplicates and empty records come back in byte order, each
// exactly once, and no run file is left behind.
func TestSortSpills(t *testing.T) {
	for _, fanIn := range []int{128, 3} {
		maxFanIn = fanIn
		testSortSpills(t)
	}
	maxFanIn = 128
}

func testSortSpills(t *testing.T) {
	for _, n := range []int{0, 1, 7, 5000} {
		dir := t.TempDir()
		s := New(dir, 512)
		var want [][]byte
		r := rand.New(rand.NewPCG(1, uint64(n)))
		for i := 0; i < n; i++ {
			rec := binary.BigEndian.AppendUint64(nil, r.Uint64N(1000))
			rec = append(rec, bytes.Repeat([]byte{'x'}, int(r.Uint64N(5)))...)
			if i%97 == 0 {
				rec = nil
			}
			want = append(want, rec)
			if err := s.Add(rec); err != nil {
				t.Fatal(err)
			}
		}
		if n == 5000 && len(s.runs) < 10 {
			t.Fatalf("%d runs: the budget did not spill", len(s.runs))
		}
		var got [][]byte
		if err := s.Sort(func(rec []byte) error { got = append(got, bytes.Clone(rec)); return nil }); err != nil {
			t.Fatal(err)
		}
		slices.SortFunc(want, bytes.Compare)
		if len(got) != len(want) {
			t.Fatalf("n=%d: %d records back", n, len(got))
		}
		for i := range want {
			if !bytes.Equal(got[i], want[i]) {
				t.Fatalf("n=%d record %d: %x, want %x", n, i, got[i], want[i])
			}
		}
		if ents, _ := os.ReadDir(dir); len(ents) != 0 {
			t.Errorf("left %d files in the spill directory", len(ents))
		}
	}
}
