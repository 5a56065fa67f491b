package fidindex

import (
	"math/rand/v2"
	"path/filepath"
	"testing"
)

// BenchmarkLookup looks up FIDs of a 10^6-record index in random order (verify's worst
// case: a sweep meets files in directory order, not FID order) and in FID order.
func BenchmarkLookup(b *testing.B) {
	const n = 1_000_000
	path := filepath.Join(b.TempDir(), "x.idx")
	writeN(b, path, n, reviewFID)
	r, err := Open(path)
	if err != nil {
		b.Fatal(err)
	}
	defer r.Close()
	rng := rand.New(rand.NewPCG(1, 1))
	for _, order := range []string{"random", "sorted"} {
		b.Run(order, func(b *testing.B) {
			b.ReportAllocs()
			i := 0
			for b.Loop() {
				k := i % n
				if order == "random" {
					k = rng.IntN(n)
				}
				i++
				locs, err := r.Lookup(reviewFID(k))
				if err != nil || len(locs) == 0 {
					b.Fatalf("lookup %d: %v %v", k, locs, err)
				}
			}
		})
	}
}
