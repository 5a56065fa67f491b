package lfssim

// Synthetic namespaces: a BENCHMARK MODE, never a model of Lustre. With LFS_SIM_SYNTHETIC=1
// in the environment, a directory carrying the extended attribute user.lfs_sim.synthetic
// ("FIRST COUNT", written by MakeSynthetic) holds, as far as lfs-sim's find answers, COUNT
// regular files named f0000000000 … (FIRST to FIRST+COUNT-1) that do not exist as inodes:
// lfs find streams them as it would real files, and lfs find FILE... (--printf, -O) describes
// them by name. So plan, verify and the scan of 10^8 files can be measured without creating
// 10^8 inodes. The real entries of such a directory are not listed by find (a benchmark
// may create some of the names, for work's lstat, and they stay described as synthetic).
//
// Synthetic file i: mode 0644, size 4 KiB × (1 + i mod 256), one link, uid and gid
// 1000 + i mod 7, mtime 2026-01-01, one stripe on OST i mod min(4, LFS_SIM_OSTS), and a
// FID whose object id is i+1 (unique below 2^32).

import (
	"bufio"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"

	"golang.org/x/sys/unix"

	"migrator/lfs"
)

// EnvSynthetic turns the synthetic namespaces on (benchmarks only).
const EnvSynthetic = "LFS_SIM_SYNTHETIC"

const xattrSynthetic = "user.lfs_sim.synthetic"

// syntheticDev is the device number of synthetic files' identities.
const syntheticDev = 0x5e57_0000_0000

// MakeSynthetic creates dirs directories root/s00000 … under root, together holding total
// synthetic files (see above), and returns their paths.
func MakeSynthetic(root string, dirs int, total uint64) ([]string, error) {
	if dirs < 1 {
		dirs = 1
	}
	var out []string
	per, extra := total/uint64(dirs), total%uint64(dirs)
	var first uint64
	for d := 0; d < dirs; d++ {
		n := per
		if uint64(d) < extra {
			n++
		}
		p := filepath.Join(root, fmt.Sprintf("s%05d", d))
		if err := os.MkdirAll(p, 0o755); err != nil {
			return nil, err
		}
		if err := unix.Lsetxattr(p, xattrSynthetic, []byte(fmt.Sprintf("%d %d", first, n)), 0); err != nil {
			return nil, fmt.Errorf("%s: %w", p, err)
		}
		out = append(out, p)
		first += n
	}
	return out, nil
}

// SyntheticName is the name of synthetic file i.
func SyntheticName(i uint64) string { return fmt.Sprintf("f%010d", i) }

type synthRange struct {
	first, count uint64
	ok           bool
}

var synthDirs sync.Map // directory -> synthRange

// syntheticDir reports the range of a synthetic directory.
func syntheticDir(dir string) synthRange {
	if v, ok := synthDirs.Load(dir); ok {
		return v.(synthRange)
	}
	var r synthRange
	if data, err := getxattr(dir, xattrSynthetic); err == nil && data != nil {
		a, b, _ := strings.Cut(string(data), " ")
		first, err1 := strconv.ParseUint(a, 10, 64)
		count, err2 := strconv.ParseUint(b, 10, 64)
		r = synthRange{first, count, err1 == nil && err2 == nil}
	}
	synthDirs.Store(dir, r)
	return r
}

// syntheticFile returns the entry of path if it names a synthetic file.
func syntheticFile(cfg *Config, path string) (*entry, bool) {
	dir, name := filepath.Dir(path), filepath.Base(path)
	if len(name) != 11 || name[0] != 'f' {
		return nil, false
	}
	i, err := strconv.ParseUint(name[1:], 10, 64)
	if err != nil {
		return nil, false
	}
	r := syntheticDir(dir)
	if !r.ok || i < r.first || i >= r.first+r.count {
		return nil, false
	}
	return syntheticEntry(cfg, path, i, 0), true
}

func syntheticEntry(cfg *Config, path string, i uint64, depth int) *entry {
	st := &unix.Statx_t{Mode: unix.S_IFREG | 0o644, Size: 4096 * (1 + i%256), Nlink: 1,
		Uid: uint32(1000 + i%7), Gid: uint32(1000 + i%7), Ino: i + 1}
	st.Mtime.Sec = 1767225600
	l := lfs.Layout{MirrorCount: 1, Components: []lfs.Component{{
		Flags: "init", End: lfs.EOF, StripeCount: 1, StripeSize: cfg.StripeSize,
		Pattern: "raid0", OSTs: []uint32{uint32(i % uint64(min(4, max(cfg.OSTCount, 1))))},
	}}}
	return &entry{path: path, st: st, id: fileID{dev: syntheticDev, ino: i + 1}, cfg: cfg, lay: &l, depth: depth}
}

// walkSynthetic lists a synthetic directory's files to find, if dir is one.
func (q *findQuery) walkSynthetic(cfg *Config, dir string, depth int, out *bufio.Writer, report func(string, error)) (bool, error) {
	r := syntheticDir(dir)
	if !r.ok {
		return false, nil
	}
	if q.maxDepth >= 0 && depth+1 > q.maxDepth {
		return true, nil
	}
	prefix := dir + "/"
	if strings.HasSuffix(dir, "/") {
		prefix = dir
	}
	for i := r.first; i < r.first+r.count; i++ {
		e := syntheticEntry(cfg, prefix+SyntheticName(i), i, depth+1)
		if depth+1 < q.minDepth {
			continue
		}
		ok, err := q.matches(e)
		if err != nil {
			report(e.path, err)
			continue
		}
		if ok {
			if err := q.print(out, e); err != nil {
				return true, err
			}
		}
	}
	return true, nil
}

// findSynthetic answers for an operand of lfs find that names a synthetic file.
func (q *findQuery) findSynthetic(cfg *Config, path string, out *bufio.Writer, report func(string, error)) (bool, error) {
	e, ok := syntheticFile(cfg, path)
	if !ok {
		return false, nil
	}
	if 0 < q.minDepth {
		return true, nil
	}
	match, err := q.matches(e)
	if err != nil {
		report(path, err)
		return true, nil
	}
	if match {
		return true, q.print(out, e)
	}
	return true, nil
}
