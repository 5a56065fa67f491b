// Command scalebench measures migrator at 10^7 to 10^8 entries (make bench
// BENCH_SCALE=1e7): plan (one node, and as --scan-tasks tasks), the seal, a dry-run work of
// one shard, collect and verify, each beside a baseline, over a synthetic namespace of
// lfs-sim (LFS_SIM_SYNTHETIC=1: no inodes are created for the files; see
// lfssim/synthetic.go). Each figure is one run: wall time, CPU time and the peak RSS of the
// migrator process itself (its lfs-sim children and, for the distributed plan, its scan
// task processes, are not in the peak; the seal's is measured on its own).
package main

import (
	"bytes"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"time"

	"migrator/campaign"
	"migrator/lfssim"
	"migrator/manifest"
)

var (
	binDir  = flag.String("bin", "bin", "directory with the migrator and lfs-sim binaries")
	scratch = flag.String("work", filepath.Join(os.TempDir(), "migrator-scalebench"), "scratch directory (emptied)")
	scale   = flag.String("n", "1e7", "entries of the synthetic namespace (1e7, 1e8, or a number)")
	tasks   = flag.Int("tasks", 4, "scan tasks of the distributed plan")
	dirs    = flag.Int("dirs", 256, "directories of the synthetic namespace (the scan's units)")
	outFile = flag.String("o", "", "also append the table to this file")
)

type result struct {
	wall  time.Duration
	cpu   time.Duration
	rssKB int64
	code  int
	out   string
}

func run(env []string, okCodes []int, name string, args ...string) result {
	cmd := exec.Command(name, args...)
	cmd.Env = append(os.Environ(), env...)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = io.Discard, &out
	start := time.Now()
	err := cmd.Run()
	wall := time.Since(start)
	code := 0
	if xe, ok := err.(*exec.ExitError); ok {
		code = xe.ExitCode()
	} else if err != nil {
		fatalf("%s: %v", name, err)
	}
	ok := false
	for _, c := range append(okCodes, 0) {
		ok = ok || c == code
	}
	if !ok {
		fatalf("%s %s: exit %d\n%s", name, strings.Join(args, " "), code, lastLines(out.String(), 20))
	}
	ru := cmd.ProcessState.SysUsage().(*syscall.Rusage)
	return result{wall: wall, cpu: cmd.ProcessState.UserTime() + cmd.ProcessState.SystemTime(), rssKB: ru.Maxrss, code: code, out: out.String()}
}

func sh(env []string, script string) result { return run(env, nil, "sh", "-c", script) }

func main() {
	flag.Parse()
	n := parseScale(*scale)
	migrator, sim := abs(filepath.Join(*binDir, "migrator")), abs(filepath.Join(*binDir, "lfs-sim"))
	must(os.RemoveAll(*scratch))
	fs := filepath.Join(*scratch, "fs")
	must(os.MkdirAll(fs, 0o755))
	if _, err := lfssim.MakeSynthetic(fs, *dirs, n); err != nil {
		fatalf("%v", err)
	}
	env := []string{"LFS_SIM_SYNTHETIC=1", "LFS_SIM_OSTS=8", "LFS_SIM_NOCREATE=0-3", "LFS_SIM_MOUNT=" + fs}
	plan := func(camp string, extra ...string) []string {
		return append([]string{"plan", camp, "--osts", "0-3", "--scan-path", fs, "--lfs", sim, "--scheduler", "local",
			"--no-submit", "--dry-run", "--shard-files", "100000"}, extra...)
	}
	var rows [][3]string
	row := func(what string, r result, base string, b result) {
		rows = append(rows, [3]string{what, fmt.Sprintf("%s wall, %s CPU, peak RSS %s", r.wall.Round(100*time.Millisecond), r.cpu.Round(100*time.Millisecond), mib(r.rssKB)),
			fmt.Sprintf("%s: %s wall", base, b.wall.Round(100*time.Millisecond))})
		fmt.Fprintf(os.Stderr, "%s: %s | %s\n", what, rows[len(rows)-1][1], rows[len(rows)-1][2])
	}
	find := fmt.Sprintf("%s find %s -O 0,1,2,3 -type f ! --layout released -0 >/dev/null", q(sim), q(fs))
	base := sh(env, find)
	fmt.Fprintf(os.Stderr, "baseline: one serial lfs find over %d entries: %s\n", n, base.wall)

	c1 := filepath.Join(*scratch, "single")
	r := run(env, nil, migrator, plan(c1)...)
	row("plan, one node (8 lfs find at once)", r, "one serial `lfs find -O` over the namespace, paths only", base)
	idx, err := manifest.ReadIndex(campaign.Dir{Root: c1}.Round(0).Manifests)
	must(err)
	var mbytes int64
	for _, s := range idx.Shards {
		fi, err := os.Stat(filepath.Join(campaign.Dir{Root: c1}.Round(0).Manifests, s.File))
		must(err)
		mbytes += fi.Size()
	}
	if idx.Files != n {
		fatalf("plan found %d entries, want %d", idx.Files, n)
	}

	c2 := filepath.Join(*scratch, "distributed")
	r2 := run(env, nil, migrator, plan(c2, "--scan-tasks", strconv.Itoa(*tasks), "--scan-workers", "2")...)
	row(fmt.Sprintf("plan --scan-tasks %d (local: %d scan processes × 2 lfs find, then the seal)", *tasks, *tasks), r2, "plan on one node", r)
	d2 := campaign.Dir{Root: c2}
	must(os.Remove(filepath.Join(d2.Round(0).Manifests, manifest.IndexFile)))
	rs := run(env, nil, migrator, "seal", c2)
	bs := sh(nil, fmt.Sprintf("cat %s/scan/parts/*/shard-* >/dev/null", q(c2)))
	row(fmt.Sprintf("seal alone (merge %d parts, hard-link dedup, shards, index)", *dirs), rs, "`cat` of the parts", bs)

	// work --dry-run of shard 0: its files must exist for work's lstat (lfs-sim still
	// describes them as synthetic).
	mdir := campaign.Dir{Root: c1}.Round(0).Manifests
	list := filepath.Join(*scratch, "shard0.list")
	shard0 := materialize(mdir, idx.Shards[0], list)
	rw := run(env, []int{3}, migrator, "work", c1, "--shard", "0")
	bw := sh(env, fmt.Sprintf(`xargs -0 -n 512 sh -c 'exec "$0" find "$@" --maxdepth 0 -type f --printf "%%p %%LF %%s %%n %%U %%G %%Lo\n"' %s <%s >/dev/null`, q(sim), q(list)))
	row(fmt.Sprintf("work --dry-run of one shard (%d files)", shard0), rw, "`xargs -n 512 lfs find --printf` over its files, serial", bw)

	rc := run(env, []int{3}, migrator, "collect", c1)
	r0 := campaign.Dir{Root: c1}.Round(0)
	bc := sh(nil, fmt.Sprintf("cat %s/* %s/* >/dev/null", q(r0.Manifests), q(r0.Checkpoints)))
	row("collect (every shard's manifest, one shard's checkpoint)", rc, "`cat` of the manifests and checkpoints", bc)
	rv := run(env, []int{3}, migrator, "verify", c1)
	row("verify (sweep with lfs find -O, account for each file)", rv, "one serial `lfs find -O`", base)

	var b strings.Builder
	fmt.Fprintf(&b, "\n### %s entries (synthetic namespace, %d directories), %s\n\n", humanCount(n), *dirs, time.Now().UTC().Format("2006-01-02"))
	fmt.Fprintf(&b, "%s Manifest: %d shards, %d bytes (%.1f B/entry).\n\n", machine(), len(idx.Shards), mbytes, float64(mbytes)/float64(n))
	b.WriteString("| step | result | baseline in the same run |\n| --- | --- | --- |\n")
	for _, r := range rows {
		fmt.Fprintf(&b, "| %s | %s | %s |\n", r[0], r[1], r[2])
	}
	fmt.Print(b.String())
	if *outFile != "" {
		f, err := os.OpenFile(*outFile, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o644)
		must(err)
		f.WriteString(b.String())
		must(f.Close())
	}
	os.RemoveAll(*scratch)
}

// materialize creates the files of one shard (empty) and writes their NUL-separated list.
func materialize(mdir string, s manifest.ShardIndex, list string) int {
	r, err := manifest.OpenIndexed(mdir, s)
	must(err)
	defer r.Close()
	var names bytes.Buffer
	count := 0
	var e manifest.Entry
	for {
		err := r.Next(&e)
		if err == io.EOF {
			break
		}
		must(err)
		f, err := os.OpenFile(e.Path, os.O_CREATE|os.O_WRONLY, 0o644)
		must(err)
		f.Close()
		names.WriteString(e.Path)
		names.WriteByte(0)
		count++
	}
	must(os.WriteFile(list, names.Bytes(), 0o644))
	return count
}

func parseScale(s string) uint64 {
	if m, e, ok := strings.Cut(s, "e"); ok {
		mv, err1 := strconv.ParseUint(m, 10, 64)
		ev, err2 := strconv.Atoi(e)
		if err1 == nil && err2 == nil {
			for ; ev > 0; ev-- {
				mv *= 10
			}
			return mv
		}
	}
	v, err := strconv.ParseUint(s, 10, 64)
	if err != nil || v == 0 {
		fatalf("-n %q: want a count such as 1e7", s)
	}
	return v
}

func humanCount(n uint64) string {
	e := 0
	m := n
	for m >= 10 && m%10 == 0 {
		m /= 10
		e++
	}
	if m == 1 {
		return fmt.Sprintf("10^%d", e)
	}
	return strconv.FormatUint(n, 10)
}

func mib(kb int64) string { return fmt.Sprintf("%.0f MiB", float64(kb)/1024) }

func machine() string {
	var si syscall.Sysinfo_t
	syscall.Sysinfo(&si)
	return fmt.Sprintf("Machine: %d CPUs, %.0f GiB RAM, %s.", runtime.NumCPU(), float64(si.Totalram)*float64(si.Unit)/(1<<30), runtime.Version())
}

func lastLines(s string, n int) string {
	l := strings.Split(strings.TrimRight(s, "\n"), "\n")
	return strings.Join(l[max(0, len(l)-n):], "\n")
}

func q(s string) string { return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'" }

func abs(p string) string {
	a, err := filepath.Abs(p)
	must(err)
	return a
}

func must(err error) {
	if err != nil {
		fatalf("%v", err)
	}
}

func fatalf(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "scalebench: "+format+"\n", args...)
	os.Exit(1)
}
