// Command benchrun is make bench's harness: it measures migrator side by side with the
// baselines admins use today, in one run, on identical trees of the lfs simulator, and
// prints markdown tables (wall time, files/s, CPU seconds, peak RSS).
//
//	go run ./internal/benchrun [-quick] [-sections throughput,scan,resume,collect] [-o results.md]
//
// Every variant of a comparison runs on a fresh copy of the same tree, the variants take
// turns, and the median of the repeats is reported. Peak RSS is that of the largest
// process of the command's tree (getrusage's ru_maxrss of the reaped children).
package main

import (
	"bytes"
	"flag"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"syscall"
	"time"

	"migrator/campaign"
	"migrator/checkpoint"
	"migrator/internal/treegen"
	"migrator/lfs"
	"migrator/manifest"
)

var (
	binDir   = flag.String("bin", "bin", "directory with the migrator and lfs-sim binaries")
	scratch  = flag.String("work", filepath.Join(os.TempDir(), "migrator-bench"), "scratch directory (emptied)")
	quick    = flag.Bool("quick", false, "small sizes, one repeat (a smoke test of the harness)")
	sections = flag.String("sections", "throughput,scan,resume,collect", "which comparisons to run")
	repeat   = flag.Int("repeat", 3, "repeats of each variant (the median is reported)")
	outFile  = flag.String("o", "", "also write the tables to this file")
	lats     = flag.String("latencies", "0,5ms", "throughput: simulator latencies per file, comma-separated")
	only     = flag.String("only", "", "throughput: run only the variants whose names contain one of these comma-separated words (the exec floor always runs)")
)

var out io.Writer = os.Stdout

func main() {
	flag.Parse()
	if *quick {
		*repeat = 1
	}
	var buf bytes.Buffer
	out = io.MultiWriter(os.Stdout, &buf)
	os.RemoveAll(*scratch)
	must(os.MkdirAll(*scratch, 0o755))
	defer os.RemoveAll(*scratch)
	b := &bench{sim: abs(filepath.Join(*binDir, "lfs-sim")), migrator: abs(filepath.Join(*binDir, "migrator"))}
	fmt.Fprintf(out, "# migrator benchmarks, %s\n\n%s\n\n", time.Now().Format("2006-01-02"), machine())
	for _, s := range strings.Split(*sections, ",") {
		switch s {
		case "throughput":
			for _, l := range strings.Split(*lats, ",") {
				b.throughput(l)
			}
		case "scan":
			b.scan()
		case "resume":
			b.resume()
		case "collect":
			b.collect()
		default:
			fatalf("unknown section %q", s)
		}
	}
	if *outFile != "" {
		must(os.WriteFile(*outFile, buf.Bytes(), 0o644))
	}
}

type bench struct{ sim, migrator string }

// result is one run of a command.
type result struct {
	wall  time.Duration
	cpu   time.Duration
	rssKB int64
}

// run runs a command with extra environment, failing the whole benchmark on error.
func run(env []string, name string, args ...string) result {
	cmd := exec.Command(name, args...)
	cmd.Env = append(os.Environ(), env...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	start := time.Now()
	err := cmd.Run()
	wall := time.Since(start)
	if err != nil {
		fatalf("%s %s: %v\n%s", name, strings.Join(args, " "), err, stderr.String())
	}
	ru := cmd.ProcessState.SysUsage().(*syscall.Rusage)
	return result{wall: wall, cpu: cmd.ProcessState.UserTime() + cmd.ProcessState.SystemTime(), rssKB: ru.Maxrss}
}

func sh(env []string, script string) result { return run(env, "sh", "-c", script) }

func median(rs []result) result {
	pick := func(f func(result) int64) int64 {
		v := make([]int64, len(rs))
		for i, r := range rs {
			v[i] = f(r)
		}
		slices.Sort(v)
		return v[len(v)/2]
	}
	return result{
		wall:  time.Duration(pick(func(r result) int64 { return int64(r.wall) })),
		cpu:   time.Duration(pick(func(r result) int64 { return int64(r.cpu) })),
		rssKB: pick(func(r result) int64 { return r.rssKB }),
	}
}

// variant is one way of draining a tree.
type variant struct {
	name   string
	script func(fs, camp string) []string // argv
}

// throughput drains the same tree with each tool, latency per file as given.
func (b *bench) throughput(latency string) {
	files := 8000
	if *quick {
		files = 1500
	}
	env := []string{"LFS_SIM_OSTS=8", "LFS_SIM_NOCREATE=2,3", "LFS_SIM_LATENCY=" + latency}
	dir := filepath.Join(*scratch, "throughput")
	pristine := filepath.Join(dir, "pristine")
	os.RemoveAll(dir)
	run(env, b.sim, "sim-mktree", "--files", fmt.Sprint(files), "--sources", "2,3", "--source-share", "1",
		"--max-size", "4096", "--seed", "7", pristine)
	find := fmt.Sprintf("%s find %%s -type f -O 2,3 -0", q(b.sim))
	vs := []variant{
		{"xargs -0 -P 8 -n 1 lfs migrate (the exec floor)", func(fs, _ string) []string {
			return []string{"sh", "-c", fmt.Sprintf(find+" | xargs -0 -P 8 -n 1 %s migrate -n", q(fs), q(b.sim))}
		}},
		{"xargs -0 -P 8 -n 100 lfs migrate -c 1", func(fs, _ string) []string {
			return []string{"sh", "-c", fmt.Sprintf(find+" | xargs -0 -P 8 -n 100 %s migrate -n -c 1", q(fs), q(b.sim))}
		}},
		{"migrator, one file per lfs migrate", func(fs, camp string) []string {
			return []string{b.migrator, "plan", camp, "--osts", "2,3", "--scan-path", fs, "--lfs", b.sim,
				"--scheduler", "local", "--workers", "8", "--batch", "1"}
		}},
		{"migrator, batched (--stripe-count 1)", func(fs, camp string) []string {
			return []string{b.migrator, "plan", camp, "--osts", "2,3", "--scan-path", fs, "--lfs", b.sim,
				"--scheduler", "local", "--workers", "8", "--stripe-count", "1"}
		}},
	}
	if _, err := exec.LookPath("parallel"); err == nil {
		vs = append(vs, variant{"GNU parallel -0 -j 8 --joblog lfs migrate", func(fs, camp string) []string {
			return []string{"sh", "-c", fmt.Sprintf(find+" | parallel -0 -j 8 --joblog %s %s migrate -n {}",
				q(fs), q(camp+".joblog"), q(b.sim))}
		}})
	}
	if *only != "" {
		keep := vs[:1]
		for _, v := range vs[1:] {
			for _, w := range strings.Split(*only, ",") {
				if w != "" && strings.Contains(v.name, w) {
					keep = append(keep, v)
					break
				}
			}
		}
		vs = keep
	}
	results := make([][]result, len(vs))
	for r := 0; r < *repeat; r++ {
		for k := range vs {
			i := (k + r) % len(vs) // take turns, so no variant always runs first
			fs, camp := filepath.Join(dir, "fs"), filepath.Join(dir, "campaign")
			os.RemoveAll(fs)
			os.RemoveAll(camp)
			os.Remove(camp + ".joblog")
			run(nil, "cp", "-a", pristine, fs)
			// Write back the previous run's data first, so no run pays for another's.
			run(nil, "sync")
			argv := vs[i].script(fs, camp)
			results[i] = append(results[i], run(env, argv[0], argv[1:]...))
			if left := b.count(env, fs); left != 0 {
				fatalf("%s left %d files on the source OSTs", vs[i].name, left)
			}
		}
	}
	fmt.Fprintf(out, "## Drain throughput, %d files (4 KiB at most), simulator latency %s per file\n\n", files, latency)
	fmt.Fprintf(out, "Median of %d runs, each on a fresh copy of the same tree; every run left no file on the source OSTs.\n\n", *repeat)
	fmt.Fprintf(out, "| tool | wall | files/s | × exec floor | CPU s | peak RSS |\n| --- | ---: | ---: | ---: | ---: | ---: |\n")
	floor := median(results[0])
	for i, v := range vs {
		m := median(results[i])
		fmt.Fprintf(out, "| %s | %.2f s | %.0f | %.2f | %.2f | %.1f MiB |\n", v.name, m.wall.Seconds(),
			float64(files)/m.wall.Seconds(), floor.wall.Seconds()/m.wall.Seconds(), m.cpu.Seconds(), float64(m.rssKB)/1024)
	}
	fmt.Fprintln(out)
}

// count returns how many regular files still have an object on OST 2 or 3.
func (b *bench) count(env []string, fs string) int {
	cmd := exec.Command(b.sim, "find", fs, "-type", "f", "-O", "2,3", "-0")
	cmd.Env = append(os.Environ(), env...)
	data, err := cmd.Output()
	if err != nil {
		fatalf("lfs-sim find: %v", err)
	}
	return bytes.Count(data, []byte{0})
}

// scan compares plan with one serial lfs find over the same tree, at two sizes.
func (b *bench) scan() {
	sizes := []int{100_000, 1_000_000}
	if *quick {
		sizes = []int{10_000, 100_000}
	}
	env := []string{"LFS_SIM_OSTS=8"}
	fmt.Fprintf(out, "## Plan: scan and manifests\n\nTrees of empty files, half of them with an object on OST 2 or 3; one run each.\n\n")
	fmt.Fprintf(out, "| files in the tree | serial `lfs find -O 2,3 -0` | migrator plan (8 scan workers) | plan ÷ find | manifest bytes per file | plan peak RSS |\n| ---: | ---: | ---: | ---: | ---: | ---: |\n")
	for _, n := range sizes {
		dir := filepath.Join(*scratch, fmt.Sprintf("scan-%d", n))
		fs := filepath.Join(dir, "fs")
		run(env, b.sim, "sim-mktree", "--files", fmt.Sprint(n), "--sources", "2,3", "--empty", "--seed", "3", fs)
		find := sh(env, fmt.Sprintf("%s find %s -type f -O 2,3 -0 > /dev/null", q(b.sim), q(fs)))
		camp := filepath.Join(dir, "campaign")
		plan := run(env, b.migrator, "plan", camp, "--osts", "2,3", "--scan-path", fs, "--lfs", b.sim, "--no-submit", "--scan-workers", "8")
		idx, err := manifest.ReadIndex(filepath.Join(camp, "manifests"))
		must(err)
		var bytesOnDisk int64
		for _, s := range idx.Shards {
			st, _ := os.Stat(filepath.Join(camp, "manifests", s.File))
			bytesOnDisk += st.Size()
		}
		fmt.Fprintf(out, "| %d | %.2f s (%.0f files/s) | %.2f s (%.0f files/s) | %.2f | %.1f | %.1f MiB |\n", n,
			find.wall.Seconds(), float64(n)/find.wall.Seconds(), plan.wall.Seconds(), float64(n)/plan.wall.Seconds(),
			plan.wall.Seconds()/find.wall.Seconds(), float64(bytesOnDisk)/float64(idx.Files), float64(plan.rssKB)/1024)
		os.RemoveAll(dir)
	}
	fmt.Fprintln(out)
}

// resume reruns a completed shard, and runs a shard whose files are all gone, at two sizes.
func (b *bench) resume() {
	sizes := []int{100_000, 1_000_000}
	if *quick {
		sizes = []int{10_000, 100_000}
	}
	fmt.Fprintf(out, "## work: resume and memory\n\nOne shard of a synthetic campaign (realistic paths); one run each.\n\n")
	fmt.Fprintf(out, "| entries in the shard | rerun of the completed shard | its peak RSS | a run where every file is gone (recorded as skipped) | its peak RSS |\n| ---: | ---: | ---: | ---: | ---: |\n")
	base := run(nil, b.migrator, "--version")
	for _, n := range sizes {
		dir := filepath.Join(*scratch, fmt.Sprintf("resume-%d", n))
		done := synth(dir+"/done", b.sim, 1, n, true)
		gone := synth(dir+"/gone", b.sim, 1, n, false)
		r1 := run(nil, b.migrator, "work", done, "--shard", "0")
		r2 := run(nil, b.migrator, "work", gone, "--shard", "0")
		fmt.Fprintf(out, "| %d | %.2f s | %.1f MiB | %.2f s | %.1f MiB |\n", n, r1.wall.Seconds(), float64(r1.rssKB)/1024,
			r2.wall.Seconds(), float64(r2.rssKB)/1024)
		os.RemoveAll(dir)
	}
	fmt.Fprintf(out, "\nBaseline: `migrator --version` peaks at %.1f MiB.\n\n", float64(base.rssKB)/1024)
}

// collect merges synthetic campaigns of 1M and 10M entries.
func (b *bench) collect() {
	type size struct{ shards, per int }
	sizes := []size{{100, 10_000}, {1000, 10_000}}
	if *quick {
		sizes = []size{{10, 10_000}, {100, 10_000}}
	}
	fmt.Fprintf(out, "## collect\n\nSynthetic campaigns with an outcome for every entry (90%% migrated, 5%% skipped, 5%% failed); one run each.\n\n")
	fmt.Fprintf(out, "| shards × entries | entries | collect | entries/s | peak RSS |\n| ---: | ---: | ---: | ---: | ---: |\n")
	for _, s := range sizes {
		dir := filepath.Join(*scratch, fmt.Sprintf("collect-%d", s.shards))
		camp := synth(dir, b.sim, s.shards, s.per, true)
		r := run(nil, b.migrator, "collect", camp)
		n := s.shards * s.per
		fmt.Fprintf(out, "| %d × %d | %d | %.2f s | %.0f | %.1f MiB |\n", s.shards, s.per, n, r.wall.Seconds(),
			float64(n)/r.wall.Seconds(), float64(r.rssKB)/1024)
		os.RemoveAll(dir)
	}
	fmt.Fprintln(out)
}

// synth writes a campaign of shards × per entries with realistic paths under a directory
// that does not exist, and, if outcomes, a checkpoint with an outcome for every entry.
func synth(dir, sim string, shards, per int, outcomes bool) string {
	d := campaign.Dir{Root: dir}
	must(os.MkdirAll(dir, 0o700))
	spec := &campaign.Spec{Format: campaign.Format, ID: "c-bench", CreatedAt: time.Now(), Request: campaign.Request{
		Selection: campaign.Selection{OSTs: "2-3", ScanPaths: []campaign.Path{"/lustre/nonexistent"}, Excludes: []campaign.Path{}},
		Target:    campaign.Target{Mode: "nonblock"},
		Work:      campaign.Work{Workers: 8, ShardFiles: uint64(per), ShardBytes: 1 << 62, MaxAttempts: 5},
		LFS:       sim,
	}}
	must(d.Save(spec))
	r0 := d.Round(0)
	must(d.MkdirAll(r0))
	w, err := manifest.NewWriter(manifest.WriterOptions{Dir: r0.Manifests, Campaign: spec.ID, MaxFiles: uint64(per), MaxBytes: 1 << 62})
	must(err)
	oid := uint32(0)
	must(treegen.Generate(treegen.Options{Root: "/lustre/nonexistent", Files: shards * per, Seed: 9}, func(f treegen.File) error {
		oid++
		return w.Write(&manifest.Entry{Path: f.Path, FID: lfs.FID{Seq: 0x200000400, Oid: oid}, Size: f.Size, Nlink: 1,
			UID: 1000, OSTs: []uint32{2 + oid%2}})
	}))
	idx, err := w.Close()
	must(err)
	if outcomes {
		rng := rand.New(rand.NewPCG(1, 2))
		for _, s := range idx.Shards {
			cw, _, err := checkpoint.OpenWriter(checkpoint.LogPath(r0.Checkpoints, s.Shard),
				checkpoint.Header{Campaign: spec.ID, Shard: s.Shard, Entries: s.Files, ShardSHA256: s.SHA256}, checkpoint.WriterOptions{}, checkpoint.Visitor{})
			must(err)
			t0 := time.Now()
			for i := uint64(0); i < s.Files; i++ {
				rec := checkpoint.Record{Index: i, Outcome: checkpoint.Migrated, Attempts: 1, Time: t0}
				switch x := rng.IntN(100); {
				case x < 5:
					rec = checkpoint.Record{Index: i, Outcome: checkpoint.Skipped, Reason: checkpoint.SkipOffSource, Time: t0}
				case x < 10:
					rec = checkpoint.Record{Index: i, Outcome: checkpoint.Failed, Class: lfs.ClassRetryLater, Errno: syscall.EBUSY,
						Retryable: true, Attempts: 5, Time: t0, Message: "cannot get lease: Device or resource busy"}
				}
				must(cw.Append(&rec))
			}
			must(cw.Close())
		}
	}
	return dir
}

func machine() string {
	cpu := "unknown CPU"
	if data, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		for _, line := range strings.Split(string(data), "\n") {
			if strings.HasPrefix(line, "model name") {
				cpu = strings.TrimSpace(strings.SplitN(line, ":", 2)[1])
				break
			}
		}
	}
	var si syscall.Sysinfo_t
	syscall.Sysinfo(&si)
	osName := "Linux"
	if data, err := os.ReadFile("/etc/os-release"); err == nil {
		for _, line := range strings.Split(string(data), "\n") {
			if v, ok := strings.CutPrefix(line, "PRETTY_NAME="); ok {
				osName = strings.Trim(v, `"`)
			}
		}
	}
	return fmt.Sprintf("Machine: %d × %s, %.0f GiB RAM, %s, %s.", runtime.NumCPU(), cpu,
		float64(si.Totalram)*float64(si.Unit)/(1<<30), osName, runtime.Version())
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
	fmt.Fprintf(os.Stderr, "benchrun: "+format+"\n", args...)
	os.Exit(1)
}
