package checkpoint

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"migrator/lfs"
)

const loadRecords = 1_000_000

// makeLog writes a log of n outcome records, as a finished 1M-entry shard would have.
func makeLog(tb testing.TB, path string, n int) {
	h := Header{Campaign: "bench", Shard: 1, Entries: uint64(n), ShardSHA256: shaA}
	w, _, err := OpenWriter(path, h, WriterOptions{SyncEvery: 1 << 30, SyncInterval: time.Hour}, Visitor{})
	if err != nil {
		tb.Fatal(err)
	}
	t0 := time.Now()
	for i := 0; i < n; i++ {
		r := Record{Index: uint64(i), Outcome: Migrated, Attempts: 1, Bytes: uint64(i) * 4099, Duration: 3 * time.Millisecond, Time: t0}
		if i%100 == 0 {
			r = Record{Index: uint64(i), Outcome: Failed, Class: lfs.ClassRetryLater, Errno: syscall.EBUSY, Retryable: true,
				Attempts: 3, Time: t0, Message: "cannot get lease: Device or resource busy"}
		}
		if err := w.Append(&r); err != nil {
			tb.Fatal(err)
		}
	}
	if err := w.Close(); err != nil {
		tb.Fatal(err)
	}
}

// BenchmarkAppend measures records/s appended with the default options (a write per record,
// fsync every 1024 records or 2 s).
func BenchmarkAppend(b *testing.B) {
	path := filepath.Join(b.TempDir(), "log")
	w, _, err := OpenWriter(path, Header{Campaign: "bench", Entries: uint64(b.N) + 1, ShardSHA256: shaA}, WriterOptions{}, Visitor{})
	if err != nil {
		b.Fatal(err)
	}
	r := Record{Outcome: Migrated, Attempts: 1, Bytes: 123456, Duration: time.Millisecond, Time: time.Now()}
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		r.Index = uint64(i)
		if err := w.Append(&r); err != nil {
			b.Fatal(err)
		}
	}
	w.Close()
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "records/s")
}

// BenchmarkLoadDone1M measures a rerun's resume: loading a 1,000,000-record log into the set
// of done entries, in a fresh process so its peak RSS is the load's own.
func BenchmarkLoadDone1M(b *testing.B) {
	path := filepath.Join(b.TempDir(), "log")
	makeLog(b, path, loadRecords)
	st, _ := os.Stat(path)
	var maxRSS int64
	var elapsed time.Duration
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		cmd := exec.Command(os.Args[0], "-test.run=^TestLoadHelper$")
		cmd.Env = append(os.Environ(), "CHECKPOINT_LOAD="+path)
		out, err := cmd.Output()
		if err != nil {
			b.Fatalf("%v: %s", err, out)
		}
		f := strings.Fields(string(out))
		ns, _ := strconv.ParseInt(f[0], 10, 64)
		elapsed += time.Duration(ns)
		maxRSS = max(maxRSS, cmd.ProcessState.SysUsage().(*syscall.Rusage).Maxrss)
	}
	b.ReportMetric(float64(elapsed.Milliseconds())/float64(b.N), "load-ms")
	b.ReportMetric(float64(maxRSS)/1024, "peak-RSS-MiB")
	b.ReportMetric(float64(st.Size())/loadRecords, "B/record")
}

// TestLoadHelper is the child process of BenchmarkLoadDone1M.
func TestLoadHelper(t *testing.T) {
	path := os.Getenv("CHECKPOINT_LOAD")
	if path == "" {
		t.Skip("helper process for BenchmarkLoadDone1M")
	}
	start := time.Now()
	d, _, err := LoadDone(path, Header{Campaign: "bench", Shard: 1, Entries: loadRecords, ShardSHA256: shaA})
	if err != nil || d.Count() != loadRecords {
		fmt.Println("error", err)
		os.Exit(1)
	}
	fmt.Println(time.Since(start).Nanoseconds())
	os.Exit(0)
}

// BenchmarkBaselineLoadRSS is the baseline for BenchmarkLoadDone1M's RSS: the same helper
// process started with nothing to load.
func BenchmarkBaselineLoadRSS(b *testing.B) {
	var maxRSS int64
	for i := 0; i < b.N; i++ {
		cmd := exec.Command(os.Args[0], "-test.run=^$")
		cmd.Run()
		maxRSS = max(maxRSS, cmd.ProcessState.SysUsage().(*syscall.Rusage).Maxrss)
	}
	b.ReportMetric(float64(maxRSS)/1024, "peak-RSS-MiB")
}

// BenchmarkLockCheck measures the ownership check a holder makes before every lfs migrate
// call and every batch of records.
func BenchmarkLockCheck(b *testing.B) {
	l, err := AcquireLock(filepath.Join(b.TempDir(), "shard.lock"), LockInfo{Host: "h", PID: 1}, LockOptions{})
	if err != nil {
		b.Fatal(err)
	}
	defer l.Release()
	for b.Loop() {
		if err := l.Check(); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkAttemptBatchSync measures the durable intent of one lfs migrate call of 100
// files: 100 attempt records and one fsync. Run it on the filesystem that holds campaigns
// (-test.benchdir is not a flag: set TMPDIR).
func BenchmarkAttemptBatchSync(b *testing.B) {
	w, _, err := OpenWriter(filepath.Join(b.TempDir(), "log"), Header{Campaign: "bench", Entries: 1 << 40, ShardSHA256: shaA}, WriterOptions{}, Visitor{})
	if err != nil {
		b.Fatal(err)
	}
	defer w.Close()
	now := time.Now()
	var i uint64
	for b.Loop() {
		for range 100 {
			w.AppendAttempt(&Attempt{Index: i, Time: now})
			i++
		}
		if err := w.Sync(); err != nil {
			b.Fatal(err)
		}
	}
}
