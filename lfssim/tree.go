package lfssim

import (
	"bufio"
	"errors"
	"flag"
	"fmt"
	"hash/fnv"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"syscall"

	"migrator/internal/treegen"
	"migrator/lfs"
)

// TreeOptions describe a simulated filesystem tree to build.
type TreeOptions struct {
	Root         string // an existing or new directory; generated paths go below it
	Files        int
	Seed         uint64
	HostileEvery int         // about one file in N gets a hostile name (0: none)
	Sources      lfs.OSTList // OSTs to drain
	SourceShare  float64     // share of files with an object on a source OST (default 0.5)
	MaxSize      int64       // cap on a file's real size (default 64 KiB)
	LinkEvery    int         // every Nth file gets a second hard link (0: none)
	SpecialEvery int         // every Nth file is followed by a symlink and a FIFO (0: none)
	Empty        bool        // write no content at all (for trees of millions of files)

	// The quirks of the real lfs (lfs/LUSTRE.md):
	DanglingEvery int // every Nth file is followed by a dangling symlink (0: none)
	// WideEvery: every Nth file on a source is striped over WideStripes OSTs (default 300),
	// the source OST last, so lfs find --printf cuts its %Lo before the source (needs
	// more OSTs than that).
	WideEvery   int
	WideStripes int
	// KindsEvery: every Nth file on a source gets a composite layout in turn: PFL with an
	// uninstantiated "-c -1" component, DoM with a raid0 component, an FLR mirror pair.
	KindsEvery int
	// ReleasedEvery: every Nth file on a source is archived and released by HSM.
	ReleasedEvery int
}

// TreeStats counts what MakeTree made.
type TreeStats struct {
	Files, OnSource, HardLinks, Symlinks, FIFOs int
	Dangling, Wide, Kinds, Released             int
	Bytes                                       int64
}

// MakeTree builds a tree of regular files with simulated layouts (a share of them with an
// object on a source OST), plus hard links, symlinks and FIFOs if asked. File content is
// derived from the path, so a test can check it byte for byte afterwards (Content).
func MakeTree(cfg Config, o TreeOptions) (TreeStats, error) {
	if o.SourceShare == 0 {
		o.SourceShare = 0.5
	}
	if o.MaxSize == 0 {
		o.MaxSize = 64 << 10
	}
	var others lfs.OSTList
	for i := 0; i < cfg.OSTCount; i++ {
		if !o.Sources.Contains(uint32(i)) {
			others = append(others, uint32(i))
		}
	}
	if len(others) == 0 || len(o.Sources) == 0 {
		return TreeStats{}, errors.New("need both source OSTs and other OSTs")
	}
	rng := rand.New(rand.NewPCG(o.Seed, 7))
	var st TreeStats
	madeDirs := map[string]bool{}
	err := treegen.Generate(treegen.Options{Root: o.Root, Files: o.Files, Seed: o.Seed, HostileEvery: o.HostileEvery},
		func(f treegen.File) error {
			dir := filepath.Dir(f.Path)
			if !madeDirs[dir] {
				if err := os.MkdirAll(dir, 0o755); err != nil {
					return err
				}
				madeDirs[dir] = true
			}
			size := min(int64(f.Size), o.MaxSize)
			if o.Empty {
				size = 0
			}
			if err := writeContent(f.Path, size); err != nil {
				return err
			}
			var osts []uint32
			onSource := rng.Float64() < o.SourceShare
			if onSource {
				osts = append(osts, o.Sources[rng.IntN(len(o.Sources))])
				if rng.IntN(4) == 0 { // a second stripe elsewhere: membership is any object
					osts = append([]uint32{others[rng.IntN(len(others))]}, osts...)
				}
			} else {
				osts = append(osts, others[rng.IntN(len(others))])
			}
			l := PlainLayout(osts...)
			l.Components[0].StripeSize = cfg.StripeSize
			n := st.Files + 1
			released := false
			switch {
			case !onSource:
			case o.WideEvery > 0 && n%o.WideEvery == 0:
				wide := max(o.WideStripes, 300)
				if len(others) < wide-1 {
					return fmt.Errorf("a %d-stripe file needs %d OSTs besides the sources", wide, wide-1)
				}
				start := rng.IntN(len(others))
				var w []uint32
				for i := 0; i < wide-1; i++ {
					w = append(w, others[(start+i)%len(others)])
				}
				l = PlainLayout(append(w, osts[len(osts)-1])...) // the source OST last
				l.Components[0].StripeSize = cfg.StripeSize
				st.Wide++
			case o.KindsEvery > 0 && n%o.KindsEvery == 0:
				l = layoutKind(st.Kinds, osts, others[rng.IntN(len(others))], cfg.StripeSize)
				st.Kinds++
			case o.ReleasedEvery > 0 && n%o.ReleasedEvery == 0:
				released = true
			}
			if err := SetLayout(f.Path, l); err != nil {
				return err
			}
			if released {
				if err := writeHSM(f.Path, lfs.HSMState{Flags: lfs.HSExists | lfs.HSArchived, ArchiveID: 1}); err != nil {
					return err
				}
				if err := Release(cfg, f.Path, 1); err != nil {
					return err
				}
				st.Released++
			} else if onSource {
				st.OnSource++
			}
			if o.DanglingEvery > 0 && n%o.DanglingEvery == 0 {
				if err := os.Symlink(f.Path+".removed", sibling(f.Path, ".dangling")); err != nil {
					return err
				}
				st.Dangling++
			}
			st.Files++
			st.Bytes += size
			if o.LinkEvery > 0 && st.Files%o.LinkEvery == 0 {
				if err := os.Link(f.Path, sibling(f.Path, ".hardlink")); err != nil {
					return err
				}
				st.HardLinks++
			}
			if o.SpecialEvery > 0 && st.Files%o.SpecialEvery == 0 {
				if err := os.Symlink(f.Path, sibling(f.Path, ".symlink")); err != nil {
					return err
				}
				if err := syscall.Mkfifo(sibling(f.Path, ".fifo"), 0o644); err != nil {
					return err
				}
				st.Symlinks++
				st.FIFOs++
			}
			return nil
		})
	return st, err
}

// layoutKind returns the k-th composite layout kind, with its objects on osts (one on a
// source) and other: PFL with an uninstantiated "-c -1" component (lfs find --printf %Lo
// runs on with "?" until the record is cut), DoM followed by raid0 (the same, from the
// DoM component's stripe count 0), and an FLR mirror pair, the second mirror stale.
func layoutKind(k int, osts []uint32, other uint32, stripeSize uint64) lfs.Layout {
	c := func(id, mirror uint32, flags string, start, end uint64, count int, pattern string, o []uint32) lfs.Component {
		return lfs.Component{ID: id, MirrorID: mirror, Flags: flags, Start: start, End: end, StripeCount: count,
			StripeSize: stripeSize, Pattern: pattern, Offset: -1, OSTs: o}
	}
	switch k % 3 {
	case 0:
		return lfs.Layout{Composite: true, MirrorCount: 1, Components: []lfs.Component{
			c(1, 0, "init", 0, 1<<20, len(osts), "raid0", osts),
			c(2, 0, "0", 1<<20, lfs.EOF, -1, "raid0", nil)}}
	case 1:
		return lfs.Layout{Composite: true, MirrorCount: 1, Components: []lfs.Component{
			c(1, 0, "init", 0, 64<<10, 0, "mdt", nil),
			c(2, 0, "init", 64<<10, lfs.EOF, len(osts), "raid0", osts)}}
	default:
		return lfs.Layout{Composite: true, MirrorCount: 2, Components: []lfs.Component{
			c(65537, 1, "init", 0, lfs.EOF, 1, "raid0", []uint32{other}),
			c(131073, 2, "init,stale", 0, lfs.EOF, len(osts), "raid0", osts)}}
	}
}

// sibling names a file next to path: path+suffix, shortened to fit in 255 bytes.
func sibling(path, suffix string) string {
	dir, base := filepath.Split(path)
	if len(base)+len(suffix) > 255 {
		base = base[:255-len(suffix)]
	}
	return dir + base + suffix
}

// Content returns the first n bytes of the content MakeTree writes for path.
func Content(path string, n int64) []byte {
	h := fnv.New64a()
	h.Write([]byte(path))
	r := rand.New(rand.NewPCG(h.Sum64(), 1))
	b := make([]byte, n)
	for i := range b {
		b[i] = byte('a' + r.IntN(26))
	}
	return b
}

func writeContent(path string, size int64) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o644)
	if err != nil {
		return err
	}
	w := bufio.NewWriter(f)
	w.Write(Content(path, size))
	err = w.Flush()
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return err
}

// runMkTree is "lfs-sim sim-mktree": not an lfs command, a tree builder for the demo,
// the tests and rehearsals.
func runMkTree(cfg *Config, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("sim-mktree", flag.ContinueOnError)
	fs.SetOutput(stderr)
	files := fs.Int("files", 1000, "number of regular files")
	seed := fs.Uint64("seed", 1, "random seed")
	hostile := fs.Int("hostile-every", 0, "about one file in N gets a hostile name")
	sources := fs.String("sources", "", "OSTs to drain (required)")
	share := fs.Float64("source-share", 0.5, "share of files with an object on a source OST")
	maxSize := fs.Int64("max-size", 64<<10, "largest file, bytes")
	links := fs.Int("link-every", 0, "every Nth file gets a hard link")
	special := fs.Int("special-every", 0, "every Nth file is followed by a symlink and a FIFO")
	empty := fs.Bool("empty", false, "write no content (for trees of millions of files)")
	dangling := fs.Int("dangling-every", 0, "every Nth file is followed by a dangling symlink")
	wide := fs.Int("wide-every", 0, "every Nth file on a source is striped over 300 OSTs, the source last (needs LFS_SIM_OSTS > 300)")
	kinds := fs.Int("kinds-every", 0, "every Nth file on a source gets a PFL, DoM or FLR layout in turn")
	released := fs.Int("released-every", 0, "every Nth file on a source is archived and released by HSM")
	if err := fs.Parse(args); err != nil || fs.NArg() != 1 {
		fmt.Fprintln(stderr, "usage: lfs-sim sim-mktree [flags] DIR")
		return 2
	}
	src, err := lfs.ParseOSTList(*sources)
	if err != nil {
		fmt.Fprintf(stderr, "sim-mktree: --sources: %v\n", err)
		return 2
	}
	st, err := MakeTree(*cfg, TreeOptions{Root: strings.TrimRight(fs.Arg(0), "/"), Files: *files, Seed: *seed,
		HostileEvery: *hostile, Sources: src, SourceShare: *share, MaxSize: *maxSize, LinkEvery: *links, SpecialEvery: *special, Empty: *empty,
		DanglingEvery: *dangling, WideEvery: *wide, KindsEvery: *kinds, ReleasedEvery: *released})
	if err != nil {
		fmt.Fprintf(stderr, "sim-mktree: %v\n", err)
		return 1
	}
	fmt.Fprintf(stdout, "%d files (%d on OSTs %s), %d bytes, %d hard links, %d symlinks, %d FIFOs",
		st.Files, st.OnSource, src, st.Bytes, st.HardLinks, st.Symlinks, st.FIFOs)
	if st.Dangling+st.Wide+st.Kinds+st.Released > 0 {
		fmt.Fprintf(stdout, ", %d dangling symlinks, %d wide, %d PFL/DoM/FLR, %d released",
			st.Dangling, st.Wide, st.Kinds, st.Released)
	}
	fmt.Fprintln(stdout)
	return 0
}
