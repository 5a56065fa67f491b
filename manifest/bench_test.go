package manifest

import (
	"bytes"
	"io"
	"testing"

	"github.com/klauspost/compress/zstd"

	"migrator/internal/treegen"
	"migrator/lfs"
)

// realistic returns n entries with the paths, sizes and FIDs of a real project tree.
func realistic(n int) []Entry {
	es := make([]Entry, 0, n)
	oid := uint32(1)
	treegen.Generate(treegen.Options{Root: "/lustre/fs1", Files: n, Seed: 42}, func(f treegen.File) error {
		oid += 1 + uint32(len(es)%3)
		es = append(es, Entry{Path: f.Path, FID: lfs.FID{Seq: 0x200000400 + uint64(len(es)/100000), Oid: oid},
			Size: f.Size, Nlink: 1, UID: 1000 + uint32(len(es)%400), GID: 100, OSTs: []uint32{uint32(len(es) % 64)}})
		return nil
	})
	return es
}

const benchEntries = 200_000

// BenchmarkWrite measures entries/s written on one core and bytes per entry on disk.
func BenchmarkWrite(b *testing.B) {
	es := realistic(benchEntries)
	var buf bytes.Buffer
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		buf.Reset()
		sw, _ := NewShardWriter(&buf, Header{Campaign: "bench"})
		for j := range es {
			sw.Write(&es[j])
		}
		sw.Close()
	}
	b.StopTimer()
	b.ReportMetric(float64(buf.Len())/benchEntries, "B/entry")
	b.ReportMetric(float64(b.N)*benchEntries/b.Elapsed().Seconds(), "entries/s")
}

// BenchmarkRead measures entries/s read (decompressed, verified, decoded) on one core.
func BenchmarkRead(b *testing.B) {
	es := realistic(benchEntries)
	var buf bytes.Buffer
	sw, _ := NewShardWriter(&buf, Header{Campaign: "bench"})
	for j := range es {
		sw.Write(&es[j])
	}
	sw.Close()
	data := buf.Bytes()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		r, err := NewShardReader(bytes.NewReader(data), "bench")
		if err != nil {
			b.Fatal(err)
		}
		var e Entry
		n := 0
		for {
			err := r.Next(&e)
			if err == io.EOF {
				break
			}
			if err != nil {
				b.Fatal(err)
			}
			n++
		}
		r.Close()
		if n != benchEntries {
			b.Fatalf("read %d entries", n)
		}
	}
	b.ReportMetric(float64(b.N)*benchEntries/b.Elapsed().Seconds(), "entries/s")
}

// BenchmarkBaselineFindOutput is the baseline for the size: what "lfs find -0" prints for
// the same files (paths only, no FID, size or OSTs), compressed with zstd at the same level.
func BenchmarkBaselineFindOutput(b *testing.B) {
	es := realistic(benchEntries)
	var raw []byte
	for _, e := range es {
		raw = append(append(raw, e.Path...), 0)
	}
	enc, _ := zstd.NewWriter(nil, zstd.WithEncoderConcurrency(1), zstd.WithWindowSize(zstdWindow))
	var out []byte
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		out = enc.EncodeAll(raw, out[:0])
	}
	b.StopTimer()
	b.ReportMetric(float64(len(raw))/benchEntries, "raw-B/entry")
	b.ReportMetric(float64(len(out))/benchEntries, "B/entry")
	b.ReportMetric(float64(b.N)*benchEntries/b.Elapsed().Seconds(), "entries/s")
}
