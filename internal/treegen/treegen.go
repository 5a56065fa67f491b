// Package treegen generates realistic file trees of an HPC project filesystem: project and
// user directories, dated run directories, nested output directories, and files with the
// names simulation codes, notebooks and instruments produce, in the order a directory walk
// visits them. Benchmarks, the demo and tests use it, so measurements are made on paths
// shaped like real ones rather than on "/a/1".
package treegen

import (
	"fmt"
	"math/rand/v2"
	"strings"
)

// Options shape a generated tree.
type Options struct {
	Root  string // e.g. "/lustre/fs1"
	Files int    // how many files
	Seed  uint64 // same seed, same tree
	// Hostile mixes in names with newlines, tabs, quotes, backslashes, leading dashes,
	// spaces, non-UTF-8 bytes and 255-byte components, about one file in HostileEvery.
	HostileEvery int
}

// File is one generated file.
type File struct {
	Path string
	Size uint64 // a long-tailed size distribution: many small files, a few huge ones
}

var (
	projects = []string{"climate", "genomics", "cfd-turbine", "astro-survey", "materials", "qcd-lattice",
		"neuro-imaging", "fusion", "seismic", "ml-foundation", "chem-dft", "ocean-model"}
	kinds = []string{"runs", "data", "scratch", "analysis", "checkpoints", "raw"}
	exts  = []string{".h5", ".nc", ".dat", ".log", ".out", ".pt", ".npy", ".tif", ".csv", ".json", ".bam", ".fits"}
	stems = []string{"output", "checkpoint-step", "restart", "snapshot", "frame", "sample", "chunk", "part",
		"slice", "tile", "events", "spectrum"}
	hostile = []string{"new\nline", "tab\there", `quote"d 'name'`, `back\slash`, "-leading-dash",
		"  spaces  ", "non-utf8-\xff\xfe", "colon: [0x1:0x2:0x0]"}
)

// Generate calls fn for every file, in directory-walk order. It holds no list in memory.
func Generate(o Options, fn func(File) error) error {
	rng := rand.New(rand.NewPCG(o.Seed, o.Seed^0x9e3779b97f4a7c15))
	n := 0
	for n < o.Files {
		proj := projects[rng.IntN(len(projects))]
		user := fmt.Sprintf("u%05d", 1000+rng.IntN(400))
		kind := kinds[rng.IntN(len(kinds))]
		run := fmt.Sprintf("run_%04d-%02d-%02d_%s", 2019+rng.IntN(7), 1+rng.IntN(12), 1+rng.IntN(28), randWord(rng, 6))
		dir := strings.Join([]string{o.Root, "projects", proj, user, kind, run}, "/")
		// Nested output directories, 0 to 4 deep.
		for d := rng.IntN(5); d > 0; d-- {
			dir += fmt.Sprintf("/%s_%03d", []string{"step", "rank", "block", "level"}[rng.IntN(4)], rng.IntN(1000))
		}
		stem := stems[rng.IntN(len(stems))]
		ext := exts[rng.IntN(len(exts))]
		inDir := 1 + rng.IntN(200)
		hashed := rng.IntN(10) < 3 // content-addressed or UUID-named files, as pipelines write
		for i := 0; i < inDir && n < o.Files; i++ {
			name := fmt.Sprintf("%s_%06d%s", stem, i, ext)
			if hashed {
				name = fmt.Sprintf("%016x%016x%s", rng.Uint64(), rng.Uint64(), ext)
			}
			if o.HostileEvery > 0 && rng.IntN(o.HostileEvery) == 0 {
				name = hostileName(rng, i)
			}
			if err := fn(File{Path: dir + "/" + name, Size: size(rng)}); err != nil {
				return err
			}
			n++
		}
	}
	return nil
}

func hostileName(rng *rand.Rand, i int) string {
	if rng.IntN(len(hostile)+1) == 0 {
		return fmt.Sprintf("%06d", i) + strings.Repeat("L", 249) // a 255-byte component
	}
	return fmt.Sprintf("%s-%06d", hostile[rng.IntN(len(hostile))], i)
}

func randWord(rng *rand.Rand, n int) string {
	const letters = "abcdefghijklmnopqrstuvwxyz0123456789"
	b := make([]byte, n)
	for i := range b {
		b[i] = letters[rng.IntN(len(letters))]
	}
	return string(b)
}

// size draws from a long-tailed distribution: median about 64 KiB, some GiB-sized files.
func size(rng *rand.Rand) uint64 {
	switch r := rng.Float64(); {
	case r < 0.30:
		return uint64(rng.IntN(4096))
	case r < 0.80:
		return uint64(4096 + rng.IntN(1<<20))
	case r < 0.98:
		return uint64(1<<20 + rng.Int64N(256<<20))
	default:
		return uint64(256<<20 + rng.Int64N(64<<30))
	}
}
