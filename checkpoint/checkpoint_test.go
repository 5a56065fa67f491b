package checkpoint

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"migrator/lfs"
)

// shaA and shaB are the SHA-256 of two different shards.
const (
	shaA = "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08"
	shaB = "60303ae22b998861bce3b28f33eec1be758a213c86c93c076dbe9f558c11c752"
)

var hdr = Header{Campaign: "c-test", Round: 1, Shard: 42, Entries: 1000, ShardSHA256: shaA}

func sampleRecords() []Record {
	t0 := time.Unix(1_795_000_000, 123456789)
	var rs []Record
	rs = append(rs, Record{Index: 0, Outcome: Migrated, Attempts: 1, Bytes: 1 << 30, Duration: 3 * time.Second, Time: t0})
	for i, r := range SkipReasons() {
		rs = append(rs, Record{Index: uint64(1 + i), Outcome: Skipped, Reason: r, Bytes: 10, Time: t0.Add(time.Duration(i))})
	}
	rs = append(rs,
		Record{Index: 100, Outcome: Failed, Class: lfs.ClassRetryLater, Errno: syscall.EBUSY, Retryable: true,
			Attempts: 5, Time: t0, Message: "cannot get lease: Device or resource busy"},
		Record{Index: 101, Outcome: Failed, Class: lfs.ClassPermission, Errno: syscall.EACCES, Time: t0,
			Message: "bytes \xff\xfe and\nnewline"},
		Record{Index: 999, Outcome: WouldMigrate, Bytes: 7, Time: t0},
	)
	return rs
}

type logged struct {
	Kind  string
	Rec   Record
	Start RunStart
	End   RunEnd
}

func writeLog(t *testing.T, path string, recs []Record) {
	t.Helper()
	w, rec, err := OpenWriter(path, hdr, WriterOptions{}, Visitor{})
	if err != nil {
		t.Fatal(err)
	}
	if rec.Existed {
		t.Fatal("log existed")
	}
	for i := range recs {
		if err := w.Append(&recs[i]); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
}

func readLog(path string, want Header) ([]logged, ScanInfo, error) {
	var got []logged
	info, err := Read(path, want, Visitor{
		Outcome:  func(r *Record) error { got = append(got, logged{Kind: "outcome", Rec: *r}); return nil },
		RunStart: func(s *RunStart) error { got = append(got, logged{Kind: "start", Start: *s}); return nil },
		RunEnd:   func(e *RunEnd) error { got = append(got, logged{Kind: "end", End: *e}); return nil },
	})
	return got, info, err
}

func outcomes(ls []logged) []Record {
	var rs []Record
	for _, l := range ls {
		if l.Kind == "outcome" {
			rs = append(rs, l.Rec)
		}
	}
	return rs
}

func TestRoundTrip(t *testing.T) {
	path := filepath.Join(t.TempDir(), LogName(42))
	recs := sampleRecords()
	w, _, err := OpenWriter(path, hdr, WriterOptions{}, Visitor{})
	if err != nil {
		t.Fatal(err)
	}
	start := RunStart{Time: time.Unix(5, 6), Host: "node\x01", PID: 99, Job: "1234", Task: 42, Restart: 2}
	w.AppendRunStart(&start)
	for i := range recs {
		w.Append(&recs[i])
	}
	end := RunEnd{Time: time.Unix(7, 8), Status: RunNoSpace, Message: "ENOSPC on target"}
	w.AppendRunEnd(&end)
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	got, info, err := readLog(path, hdr)
	if err != nil {
		t.Fatal(err)
	}
	if info.Torn != 0 || info.Records != int64(len(recs)+2) {
		t.Errorf("info %+v", info)
	}
	if diff := cmp.Diff(recs, outcomes(got)); diff != "" {
		t.Errorf("outcomes (-want +got):\n%s", diff)
	}
	if got[0].Start != start || got[len(got)-1].End != end {
		t.Errorf("run records %+v %+v", got[0], got[len(got)-1])
	}

	// Reopen and append: the old records are seen, the new ones follow.
	var seen int
	w, rec, err := OpenWriter(path, hdr, WriterOptions{}, Visitor{Outcome: func(*Record) error { seen++; return nil }})
	if err != nil || !rec.Existed || rec.Records != int64(len(recs)+2) || seen != len(recs) {
		t.Fatalf("reopen: %+v seen %d err %v", rec, seen, err)
	}
	more := Record{Index: 500, Outcome: Migrated, Time: time.Unix(9, 0)}
	w.Append(&more)
	w.Close()
	got, _, _ = readLog(path, hdr)
	if o := outcomes(got); len(o) != len(recs)+1 || o[len(o)-1] != more {
		t.Errorf("after append: %d outcomes, last %+v", len(o), o[len(o)-1])
	}
}

func TestLongMessageIsTruncated(t *testing.T) {
	path := filepath.Join(t.TempDir(), "log")
	writeLog(t, path, []Record{{Index: 1, Outcome: Failed, Message: strings.Repeat("m", 10000), Time: time.Unix(1, 0)}})
	got, _, err := readLog(path, hdr)
	if err != nil || len(got[0].Rec.Message) != MaxMessage {
		t.Errorf("message of %d bytes, %v", len(got[0].Rec.Message), err)
	}
}

func TestForeignLogs(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "log")
	writeLog(t, path, sampleRecords()[:2])
	for _, other := range []Header{
		{Campaign: "other", Round: 1, Shard: 42, Entries: 1000, ShardSHA256: shaA},
		{Campaign: "c-test", Round: 1, Shard: 43, Entries: 1000, ShardSHA256: shaA},
		{Campaign: "c-test", Round: 0, Shard: 42, Entries: 1000, ShardSHA256: shaA},
		{Campaign: "c-test", Round: 1, Shard: 42, Entries: 999, ShardSHA256: shaA},
		// The same campaign, round, shard number and size, but another shard's content
		// (a rescan after index.json was lost): its outcomes are not this shard's.
		{Campaign: "c-test", Round: 1, Shard: 42, Entries: 1000, ShardSHA256: shaB},
	} {
		_, _, err := readLog(path, other)
		if !errors.Is(err, ErrCorrupt) || !strings.Contains(err.Error(), path) || !strings.Contains(err.Error(), "belongs to") {
			t.Errorf("log read as %+v: %v", other, err)
		}
		if _, _, err := OpenWriter(path, other, WriterOptions{}, Visitor{}); !errors.Is(err, ErrCorrupt) {
			t.Errorf("writer for %+v: %v", other, err)
		}
	}
	// Inspect reads a log whatever shard it belongs to.
	if got, info, err := Inspect(path, Visitor{}); err != nil || got != hdr || info.Records != 2 {
		t.Errorf("Inspect: header %+v, %d records, %v; want %+v, 2", got, info.Records, err, hdr)
	}
	// A writer never writes a header that is not bound to a shard.
	if _, _, err := OpenWriter(filepath.Join(dir, "unbound"), Header{Campaign: "c-test", Entries: 1}, WriterOptions{}, Visitor{}); err == nil {
		t.Errorf("writer without a shard SHA-256: no error")
	}
	// A version 1 log (no shard SHA-256) is refused, saying so.
	v1 := encodeHeader(hdr)
	binary.LittleEndian.PutUint32(v1[8:], 1)
	os.WriteFile(path, v1, 0o600)
	if _, _, err := readLog(path, hdr); !errors.Is(err, ErrCorrupt) || !strings.Contains(err.Error(), "version 1") {
		t.Errorf("version 1 log: %v", err)
	}
	os.WriteFile(path, []byte("hello world, not a log at all"), 0o600)
	if _, _, err := readLog(path, hdr); !errors.Is(err, ErrCorrupt) || !strings.Contains(err.Error(), "not a migrator checkpoint") {
		t.Errorf("text file: %v", err)
	}
}

// Every truncation of a log is a torn tail: opening it for writing cuts it back to the last
// whole record, which reads back intact, and appending goes on after it.
func TestEveryTruncationIsRecovered(t *testing.T) {
	dir := t.TempDir()
	full := filepath.Join(dir, "full")
	recs := sampleRecords()
	writeLog(t, full, recs)
	data, _ := os.ReadFile(full)
	headerLen := len(encodeHeader(hdr))
	ends := []int{headerLen} // offsets where a whole record ends
	_, _, _ = readLog(full, hdr)
	off := headerLen
	for range recs {
		off += 8 + int(uint32(data[off])|uint32(data[off+1])<<8|uint32(data[off+2])<<16|uint32(data[off+3])<<24)
		ends = append(ends, off)
	}
	path := filepath.Join(dir, "log")
	for n := headerLen; n < len(data); n++ {
		os.WriteFile(path, data[:n], 0o600)
		whole := 0
		for whole+1 < len(ends) && ends[whole+1] <= n {
			whole++
		}
		got, info, err := readLog(path, hdr)
		if err != nil || len(got) != whole || info.Torn != int64(n-ends[whole]) {
			t.Fatalf("truncated to %d: read %d records (want %d), info %+v, err %v", n, len(got), whole, info, err)
		}
		w, rec, err := OpenWriter(path, hdr, WriterOptions{}, Visitor{})
		if err != nil || rec.Records != int64(whole) || rec.TornBytes != int64(n-ends[whole]) {
			t.Fatalf("truncated to %d: open %+v, %v", n, rec, err)
		}
		extra := Record{Index: 777, Outcome: Migrated, Time: time.Unix(1, 0)}
		w.Append(&extra)
		w.Close()
		got, info, err = readLog(path, hdr)
		want := append(append([]Record{}, recs[:whole]...), extra)
		if err != nil || info.Torn != 0 || !cmp.Equal(want, outcomes(got)) {
			t.Fatalf("truncated to %d then appended: %v, info %+v", n, err, info)
		}
	}
	// Inside the header it is no log at all.
	for n := 0; n < headerLen; n++ {
		os.WriteFile(path, data[:n], 0o600)
		if _, _, err := readLog(path, hdr); !errors.Is(err, ErrCorrupt) {
			t.Fatalf("header truncated to %d: %v", n, err)
		}
	}
}

// Every single-byte corruption is detected: in the last record it is a torn tail (cut off);
// anywhere before, it is damage naming the offset, and every other record is still read.
// A writer sets such a log aside, byte for byte, and rebuilds it from the valid records.
// No damaged record is ever handed out.
func TestEveryCorruptionDetected(t *testing.T) {
	dir := t.TempDir()
	full := filepath.Join(dir, "full")
	recs := sampleRecords()
	writeLog(t, full, recs)
	data, _ := os.ReadFile(full)
	headerLen := len(encodeHeader(hdr))
	lastStart := len(data)
	for off := headerLen; off < len(data); {
		n := int(uint32(data[off]) | uint32(data[off+1])<<8 | uint32(data[off+2])<<16 | uint32(data[off+3])<<24)
		lastStart = off
		off += 8 + n
	}
	path := filepath.Join(dir, "log")
	for off := range data {
		for _, flip := range []byte{0x01, 0x80, 0xff} {
			bad := bytes.Clone(data)
			bad[off] ^= flip
			os.WriteFile(path, bad, 0o600)
			got, info, err := readLog(path, hdr)
			o := outcomes(got)
			if !subsequence(o, recs) {
				t.Fatalf("byte %d ^ %#x: handed out damaged records", off, flip)
			}
			switch {
			case off < headerLen:
				if !errors.Is(err, ErrCorrupt) {
					t.Fatalf("header byte %d ^ %#x: %v", off, flip, err)
				}
			case off >= lastStart:
				if err != nil || info.Torn == 0 || len(o) != len(recs)-1 {
					t.Fatalf("last-record byte %d ^ %#x: want a torn tail, got %d records, %+v, %v", off, flip, len(o), info, err)
				}
			default:
				var de *DamageError
				if !errors.Is(err, ErrCorrupt) || !errors.As(err, &de) || !strings.Contains(err.Error(), "middle") {
					t.Fatalf("byte %d ^ %#x: want corruption in the middle, got %v", off, flip, err)
				}
				if len(o) != len(recs)-1 || de.Places != 1 {
					t.Fatalf("byte %d ^ %#x: read %d of %d records around the damage (%v)", off, flip, len(o), len(recs), err)
				}
				w, rec, err := OpenWriter(path, hdr, WriterOptions{}, Visitor{})
				if err != nil || rec.Damage == nil || rec.SetAside == "" || rec.Records != int64(len(o)) {
					t.Fatalf("byte %d ^ %#x: writer on a log damaged in the middle: %+v, %v", off, flip, rec, err)
				}
				w.Close()
				if kept, _ := os.ReadFile(rec.SetAside); !bytes.Equal(kept, bad) {
					t.Fatalf("byte %d ^ %#x: the damaged log was not kept as it was", off, flip)
				}
				got2, info2, err := readLog(path, hdr)
				if err != nil || info2.Torn != 0 || !cmp.Equal(o, outcomes(got2)) {
					t.Fatalf("byte %d ^ %#x: rebuilt log: %v, %+v", off, flip, err, info2)
				}
				os.Remove(rec.SetAside)
			}
		}
	}
}

// subsequence reports whether got is recs with some records left out, in order.
func subsequence(got, recs []Record) bool {
	i := 0
	for _, g := range got {
		for i < len(recs) && !cmp.Equal(g, recs[i]) {
			i++
		}
		if i == len(recs) {
			return false
		}
		i++
	}
	return true
}

// Two writers at once without O_APPEND (what an older release did when a lock was broken
// from a live holder) write over each other. Neither a reader nor the next writer is stuck:
// the reader counts every valid record, the writer sets the log aside and rebuilds it, and
// a writer appending to its old descriptor afterwards writes into the set-aside copy.
func TestTwoWritersLogIsRebuilt(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, LogName(42))
	writeLog(t, path, nil)
	a, _ := os.OpenFile(path, os.O_WRONLY, 0)
	b, _ := os.OpenFile(path, os.O_WRONLY, 0)
	end, _ := a.Seek(0, io.SeekEnd)
	b.Seek(end, io.SeekStart)
	enc := func(r Record) []byte {
		buf := r.appendBody(make([]byte, 8))
		binary.LittleEndian.PutUint32(buf, uint32(len(buf)-8))
		binary.LittleEndian.PutUint32(buf[4:], crc32.Checksum(buf[8:], castagnoli))
		return buf
	}
	t0 := time.Unix(1, 0)
	// A writes three records, B (sharing the start offset) writes two longer ones over them,
	// and A goes on past B's end.
	for i := range 3 {
		a.Write(enc(Record{Index: uint64(i), Outcome: Migrated, Time: t0}))
	}
	for i := range 2 {
		b.Write(enc(Record{Index: uint64(10 + i), Outcome: Failed, Message: "a longer message from writer b", Time: t0}))
	}
	a.Write(enc(Record{Index: 3, Outcome: Migrated, Time: t0}))
	a.Write(enc(Record{Index: 4, Outcome: Migrated, Time: t0}))
	b.Close()
	var seen []uint64
	_, err := Read(path, hdr, Visitor{Outcome: func(r *Record) error { seen = append(seen, r.Index); return nil }})
	var de *DamageError
	if !errors.As(err, &de) {
		t.Fatalf("read: %v, want damage", err)
	}
	// B's first record survives whole; A's last two were written past the damage.
	if !cmp.Equal(seen, []uint64{10, 3, 4}) {
		t.Errorf("valid records around the damage not all read: %v", seen)
	}
	var rebuilt []uint64
	w, rec, err := OpenWriter(path, hdr, WriterOptions{}, Visitor{Outcome: func(r *Record) error { rebuilt = append(rebuilt, r.Index); return nil }})
	if err != nil || rec.SetAside == "" {
		t.Fatalf("writer: %+v %v", rec, err)
	}
	if !cmp.Equal(seen, rebuilt) {
		t.Errorf("writer saw %v, reader %v", rebuilt, seen)
	}
	w.Append(&Record{Index: 20, Outcome: Migrated, Time: t0})
	w.Close()
	// The stale writer A wakes and appends: into the set-aside copy, not the new log.
	a.Write(enc(Record{Index: 30, Outcome: Migrated, Time: t0}))
	a.Close()
	var after []uint64
	if _, err := Read(path, hdr, Visitor{Outcome: func(r *Record) error { after = append(after, r.Index); return nil }}); err != nil {
		t.Fatalf("rebuilt log: %v", err)
	}
	if want := append(slices.Clone(seen), 20); !cmp.Equal(after, want) {
		t.Errorf("rebuilt log holds %v, want %v", after, want)
	}
	if got := SetAsideLogs(dir, 42); len(got) != 1 || got[0] != rec.SetAside {
		t.Errorf("SetAsideLogs = %v, want [%s]", got, rec.SetAside)
	}
	os.WriteFile(filepath.Join(dir, "shard-42.log"+DamagedSuffix+"x"), nil, 0o600) // not a shard's name
	if got := SetAsideByShard(dir); !cmp.Equal(got, map[int][]string{42: {filepath.Base(rec.SetAside)}}) {
		t.Errorf("SetAsideByShard = %v", got)
	}
	// Opening it again finds nothing to repair.
	if _, rec, err := OpenWriter(path, hdr, WriterOptions{}, Visitor{}); err != nil || rec.Damage != nil {
		t.Errorf("second open: %+v %v", rec, err)
	}
}

func TestZeroFilledTail(t *testing.T) {
	path := filepath.Join(t.TempDir(), "log")
	recs := sampleRecords()
	writeLog(t, path, recs)
	f, _ := os.OpenFile(path, os.O_APPEND|os.O_WRONLY, 0)
	f.Write(make([]byte, 4096)) // what a crash can leave after unsynced appends
	f.Close()
	w, rec, err := OpenWriter(path, hdr, WriterOptions{}, Visitor{})
	if err != nil || rec.TornBytes != 4096 || rec.Records != int64(len(recs)) {
		t.Fatalf("%+v %v", rec, err)
	}
	w.Close()
}

func TestRecordBeyondShardIsCorrupt(t *testing.T) {
	path := filepath.Join(t.TempDir(), "log")
	writeLog(t, path, []Record{{Index: hdr.Entries, Outcome: Migrated, Time: time.Unix(1, 0)}})
	if _, _, err := readLog(path, hdr); !errors.Is(err, ErrCorrupt) || !strings.Contains(err.Error(), "beyond") {
		t.Errorf("%v", err)
	}
}

func TestDone(t *testing.T) {
	path := filepath.Join(t.TempDir(), "log")
	d, _, err := LoadDone(path, hdr)
	if err != nil || d.Count() != 0 {
		t.Fatalf("missing log: %v", err)
	}
	recs := sampleRecords()
	recs = append(recs, recs[0]) // recorded twice: counted once
	writeLog(t, path, recs)
	d, _, err = LoadDone(path, hdr)
	if err != nil {
		t.Fatal(err)
	}
	if d.Count() != uint64(len(recs)-1) {
		t.Errorf("count %d", d.Count())
	}
	for _, r := range recs {
		if !d.Has(r.Index) {
			t.Errorf("entry %d not done", r.Index)
		}
	}
	if d.Has(50) || d.Has(hdr.Entries+100) {
		t.Error("entries without records are done")
	}
}

func TestLockExclusive(t *testing.T) {
	path := filepath.Join(t.TempDir(), LockName(3))
	me := LockInfo{Host: "h", PID: os.Getpid(), PIDStart: procStart(os.Getpid()), Job: "77", Task: 3}
	l, err := AcquireLock(path, me, LockOptions{})
	if err != nil {
		t.Fatal(err)
	}
	_, err = AcquireLock(path, me, LockOptions{})
	var le *LockedError
	if !errors.Is(err, ErrLocked) || !errors.As(err, &le) || le.Holder.Job != "77" || !strings.Contains(err.Error(), path) {
		t.Errorf("second acquire: %v", err)
	}
	if err := l.Release(); err != nil {
		t.Fatal(err)
	}
	l2, err := AcquireLock(path, me, LockOptions{})
	if err != nil {
		t.Fatalf("after release: %v", err)
	}
	l2.Release()
}

func writeLockFile(t *testing.T, path string, info LockInfo, age time.Duration) {
	t.Helper()
	if info.Token == "" {
		info.Token = "oldtoken"
	}
	data := fmt.Sprintf(`{"host":%q,"pid":%d,"pid_start":%d,"kernel":%q,"job":%q,"task":%d,"restart":%d,"token":%q}`,
		info.Host, info.PID, info.PIDStart, info.Kernel, info.Job, info.Task, info.Restart, info.Token)
	os.WriteFile(path, []byte(data), 0o600)
	old := time.Now().Add(-age) // a negative age is an mtime in the future: a clock ahead of ours
	os.Chtimes(path, old, old)
}

// quick are lock timings for tests: a lock is stale after 400 ms untouched.
var quick = LockOptions{Heartbeat: 50 * time.Millisecond, StaleAfter: 400 * time.Millisecond, Poll: 20 * time.Millisecond}

func TestStaleLocks(t *testing.T) {
	host, _ := os.Hostname()
	dead := exec.Command("true")
	dead.Run()
	deadPID := dead.Process.Pid
	me := LockInfo{Host: host, PID: os.Getpid(), Kernel: thisKernel(), Job: "500", Task: 9, Restart: 1}
	alive := LockInfo{Host: host, PID: os.Getpid(), PIDStart: procStart(os.Getpid()), Kernel: thisKernel()}
	elsewhere := LockInfo{Host: "elsewhere", PID: 1, Job: "400", Task: 9}
	tests := []struct {
		name   string
		old    LockInfo
		age    time.Duration
		touch  bool // someone touches the lock while it is watched
		stale  bool
		waited bool // the lock was watched for StaleAfter before it was broken
	}{
		{name: "holder process is gone", old: LockInfo{Host: host, PID: deadPID, PIDStart: 12345}, age: time.Second, stale: true},
		{name: "holder pid reused by another process", old: LockInfo{Host: host, PID: os.Getpid(), PIDStart: 1}, age: time.Second, stale: true},
		{name: "holder is alive here", old: alive, age: time.Second},
		// A stopped or hung process of this host is never taken for dead, whatever its age.
		{name: "holder is alive here, heartbeat an hour old (SIGSTOP)", old: alive, age: time.Hour},
		{name: "holder is alive here, heartbeat an hour in the future", old: alive, age: -time.Hour},
		{name: "other host, fresh heartbeat", old: elsewhere, age: 0},
		{name: "other host, heartbeat missed for long", old: elsewhere, age: 10 * time.Minute, stale: true, waited: true},
		// Clock skew: the holder's clock is an hour ahead, and it is dead: watching tells.
		{name: "other host, mtime an hour in the future, untouched", old: elsewhere, age: -time.Hour, stale: true, waited: true},
		// Clock skew the other way: the holder's clock is an hour behind, and it is alive.
		{name: "other host, mtime an hour old, but touched while watched", old: elsewhere, age: time.Hour, touch: true},
		{name: "other host, mtime an hour in the future, touched while watched", old: elsewhere, age: -time.Hour, touch: true},
		{name: "our own earlier incarnation (requeued)", old: LockInfo{Host: "elsewhere", PID: 1, Job: "500", Task: 9, Restart: 0}, age: time.Second, stale: true},
		{name: "same task, same incarnation elsewhere", old: LockInfo{Host: "elsewhere", PID: 1, Job: "500", Task: 9, Restart: 1}, age: 0},
		// The same host name on another kernel (a container, a cloned node): its pid says
		// nothing here, so only its heartbeat counts.
		{name: "same host name, another kernel, fresh heartbeat", old: LockInfo{Host: host, PID: deadPID, Kernel: "other-boot/pid:[1]"}, age: 0},
		{name: "same host name, another kernel, heartbeat missed", old: LockInfo{Host: host, PID: deadPID, Kernel: "other-boot/pid:[1]"}, age: time.Hour, stale: true, waited: true},
		{name: "torn lock file, old", old: LockInfo{Token: "x"}, age: time.Hour, stale: true, waited: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "shard.lock")
			writeLockFile(t, path, tt.old, tt.age)
			if tt.old.Token == "x" {
				os.WriteFile(path, []byte(`{"host":"h`), 0o600)
				old := time.Now().Add(-tt.age)
				os.Chtimes(path, old, old)
			}
			stop := make(chan struct{})
			defer close(stop)
			if tt.touch {
				go func() { // the holder's heartbeat, with its own skewed clock
					for i := 1; ; i++ {
						select {
						case <-stop:
							return
						case <-time.After(quick.Heartbeat):
						}
						ts := time.Now().Add(-tt.age + time.Duration(i)*time.Millisecond)
						os.Chtimes(path, ts, ts)
					}
				}()
			}
			t0 := time.Now()
			l, err := AcquireLock(path, me, quick)
			took := time.Since(t0)
			if tt.stale {
				if err != nil {
					t.Fatalf("stale lock not broken: %v", err)
				}
				if info, _, _ := readLock(path); info.PID != os.Getpid() {
					t.Errorf("lock holds %+v", info)
				}
				if tt.waited != (took >= quick.StaleAfter) {
					t.Errorf("took %v to break, want watched=%v", took, tt.waited)
				}
				l.Release()
				if ents, _ := os.ReadDir(filepath.Dir(path)); len(ents) != 0 {
					t.Errorf("left behind: %v", ents)
				}
			} else if !errors.Is(err, ErrLocked) {
				t.Fatalf("live lock broken: %v", err)
			}
		})
	}
}

func TestHeartbeatAndLoss(t *testing.T) {
	path := filepath.Join(t.TempDir(), "shard.lock")
	l, err := AcquireLock(path, CurrentHolder(os.Getenv), LockOptions{Heartbeat: 20 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	if err := l.Check(); err != nil {
		t.Fatalf("Check of a held lock: %v", err)
	}
	old := time.Now().Add(-time.Hour)
	os.Chtimes(path, old, old)
	time.Sleep(100 * time.Millisecond)
	if st, _ := os.Stat(path); time.Since(st.ModTime()) > time.Minute {
		t.Error("heartbeat did not touch the lock")
	}
	// Someone breaks our lock (they took us for dead): we notice.
	os.Remove(path)
	writeLockFile(t, path, LockInfo{Host: "thief", PID: 1, Token: "theirs"}, time.Hour)
	if err := l.Check(); !errors.Is(err, ErrLockLost) {
		t.Errorf("Check after the lock was broken: %v", err)
	}
	select {
	case <-l.Lost():
	case <-time.After(2 * time.Second):
		t.Fatal("loss of the lock not noticed")
	}
	time.Sleep(60 * time.Millisecond)
	// The heartbeat touches only our own file, never the thief's of the same name.
	if st, _ := os.Stat(path); time.Since(st.ModTime()) < 30*time.Minute {
		t.Error("the heartbeat touched another task's lock")
	}
	l.Release()
	if info, _, _ := readLock(path); info.Token != "theirs" {
		t.Error("Release removed someone else's lock")
	}
}

// A holder killed with SIGKILL leaves its lock; the next task on the same host breaks it.
func TestKilledHolder(t *testing.T) {
	if os.Getenv("CHECKPOINT_HOLD_LOCK") != "" {
		if _, err := AcquireLock(os.Getenv("CHECKPOINT_HOLD_LOCK"), CurrentHolder(os.Getenv), LockOptions{}); err != nil {
			os.Exit(3)
		}
		fmt.Println("locked")
		time.Sleep(time.Hour)
	}
	path := filepath.Join(t.TempDir(), "shard.lock")
	cmd := exec.Command(os.Args[0], "-test.run=^TestKilledHolder$")
	cmd.Env = append(os.Environ(), "CHECKPOINT_HOLD_LOCK="+path)
	out, _ := cmd.StdoutPipe()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 6)
	out.Read(buf)
	if _, err := AcquireLock(path, CurrentHolder(os.Getenv), LockOptions{}); !errors.Is(err, ErrLocked) {
		t.Fatalf("lock of a live holder: %v", err)
	}
	cmd.Process.Kill()
	cmd.Wait()
	l, err := AcquireLock(path, CurrentHolder(os.Getenv), LockOptions{})
	if err != nil {
		t.Fatalf("lock of a killed holder: %v", err)
	}
	l.Release()
}

// A holder on another node is stopped (SIGSTOP) for longer than the stale age: another
// task takes the lock, and when the holder is continued its very next check says it lost
// the lock, and it leaves the new holder's lock alone.
func TestStoppedHolderWakesAndStops(t *testing.T) {
	if p := os.Getenv("CHECKPOINT_STOPPED_HOLDER"); p != "" {
		l, err := AcquireLock(p, LockInfo{Host: "node-a", PID: os.Getpid()}, quick)
		if err != nil {
			os.Exit(3)
		}
		fmt.Println("locked")
		for {
			if err := l.Check(); err != nil {
				fmt.Println("lost")
				l.Release()
				os.Exit(7)
			}
			time.Sleep(5 * time.Millisecond)
		}
	}
	path := filepath.Join(t.TempDir(), "shard.lock")
	cmd := exec.Command(os.Args[0], "-test.run=^TestStoppedHolderWakesAndStops$")
	cmd.Env = append(os.Environ(), "CHECKPOINT_STOPPED_HOLDER="+path)
	var out bytes.Buffer
	pr, pw, _ := os.Pipe()
	cmd.Stdout = pw
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	pw.Close()
	buf := make([]byte, 7)
	pr.Read(buf)
	me := LockInfo{Host: "node-b", PID: os.Getpid()}
	if _, err := AcquireLock(path, me, quick); !errors.Is(err, ErrLocked) {
		t.Fatalf("lock of a live holder on another node: %v", err)
	}
	cmd.Process.Signal(syscall.SIGSTOP)
	t0 := time.Now()
	var l *Lock
	for {
		var err error
		l, err = AcquireLock(path, me, quick)
		if err == nil {
			break
		}
		if !errors.Is(err, ErrLocked) || time.Since(t0) > 10*time.Second {
			t.Fatalf("lock of a stopped holder: %v", err)
		}
		time.Sleep(20 * time.Millisecond)
	}
	// Stale by the filesystem's clock, then watched unchanged: at least twice the stale age.
	if took := time.Since(t0); took < 2*quick.StaleAfter-50*time.Millisecond {
		t.Errorf("broken after %v, before the holder missed its heartbeats for %v and was watched for as long", took, quick.StaleAfter)
	}
	cmd.Process.Signal(syscall.SIGCONT)
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case err := <-done:
		var xe *exec.ExitError
		if !errors.As(err, &xe) || xe.ExitCode() != 7 {
			t.Fatalf("woken holder: %v, want exit 7 (lost)", err)
		}
	case <-time.After(5 * time.Second):
		cmd.Process.Kill()
		t.Fatal("the woken holder did not notice it lost the lock")
	}
	io.Copy(&out, pr)
	if err := l.Check(); err != nil {
		t.Errorf("the new holder lost its lock to the woken one: %v", err)
	}
	l.Release()
}

func FuzzLogReader(f *testing.F) {
	dir := f.TempDir()
	full := filepath.Join(dir, "seed")
	w, _, _ := OpenWriter(full, hdr, WriterOptions{}, Visitor{})
	recs := sampleRecords()
	for i := range recs {
		w.Append(&recs[i])
	}
	w.AppendRunStart(&RunStart{Host: "h", Job: "1"})
	w.Close()
	data, _ := os.ReadFile(full)
	headerLen := len(encodeHeader(hdr))
	f.Add(data[headerLen:])
	f.Fuzz(func(t *testing.T, tail []byte) {
		path := filepath.Join(t.TempDir(), "log")
		os.WriteFile(path, append(encodeHeader(hdr), tail...), 0o600)
		_, err := Read(path, hdr, Visitor{Outcome: func(r *Record) error {
			if r.Index >= hdr.Entries || r.Outcome < Migrated || r.Outcome > WouldMigrate || len(r.Message) > MaxMessage {
				t.Fatalf("invalid record handed out: %+v", r)
			}
			return nil
		}})
		if err != nil && !errors.Is(err, ErrCorrupt) {
			t.Fatalf("error %v is not ErrCorrupt", err)
		}
	})
}

// Several tasks on other nodes find the same stale lock at once: after watching it, exactly
// one takes it; every other one then finds the winner's fresh lock and is refused.
func TestBreakersRace(t *testing.T) {
	for round := 0; round < 5; round++ {
		path := filepath.Join(t.TempDir(), "shard.lock")
		writeLockFile(t, path, LockInfo{Host: "dead-node", PID: 1, Job: "1", Task: 0}, time.Hour)
		const n = 4
		errs := make(chan error, n)
		locks := make(chan *Lock, n)
		for i := range n {
			go func() {
				l, err := AcquireLock(path, LockInfo{Host: fmt.Sprintf("node-%d", i), PID: 100 + i}, quick)
				if err == nil {
					locks <- l
				}
				errs <- err
			}()
		}
		won := 0
		for range n {
			err := <-errs
			switch {
			case err == nil:
				won++
			case !errors.Is(err, ErrLocked):
				t.Errorf("round %d: %v", round, err)
			}
		}
		if won != 1 {
			t.Fatalf("round %d: %d tasks took the lock", round, won)
		}
		l := <-locks
		if err := l.Check(); err != nil {
			t.Errorf("round %d: the winner lost its lock: %v", round, err)
		}
		l.Release()
		if ents, _ := os.ReadDir(filepath.Dir(path)); len(ents) != 0 {
			t.Errorf("round %d: left behind: %v", round, ents)
		}
	}
}

// Whatever bytes follow the header, a writer opens the log (setting it aside if damaged)
// and the log it leaves reads back without error, with exactly the records a reader of the
// original handed out.
func FuzzRebuild(f *testing.F) {
	dir := f.TempDir()
	full := filepath.Join(dir, "seed")
	w, _, _ := OpenWriter(full, hdr, WriterOptions{}, Visitor{})
	recs := sampleRecords()
	for i := range recs {
		w.Append(&recs[i])
	}
	w.Close()
	data, _ := os.ReadFile(full)
	headerLen := len(encodeHeader(hdr))
	f.Add(data[headerLen:])
	bad := bytes.Clone(data[headerLen:])
	bad[len(bad)/2] ^= 0xff
	f.Add(bad)
	f.Fuzz(func(t *testing.T, tail []byte) {
		path := filepath.Join(t.TempDir(), LogName(42))
		os.WriteFile(path, append(encodeHeader(hdr), tail...), 0o600)
		var before, after []Record
		Read(path, hdr, Visitor{Outcome: func(r *Record) error { before = append(before, *r); return nil }})
		w, rec, err := OpenWriter(path, hdr, WriterOptions{}, Visitor{})
		if err != nil {
			t.Fatalf("writer: %v", err)
		}
		w.Close()
		if _, err := Read(path, hdr, Visitor{Outcome: func(r *Record) error { after = append(after, *r); return nil }}); err != nil {
			t.Fatalf("after opening (%+v): %v", rec, err)
		}
		if !cmp.Equal(before, after) {
			t.Fatalf("records changed: %d before, %d after", len(before), len(after))
		}
	})
}

// A short StaleAfter shortens the heartbeat with it: a live holder touches its lock six
// times per StaleAfter, so it never looks stale to a task on another host.
func TestLockHeartbeatFollowsStaleAfter(t *testing.T) {
	for _, tt := range []struct{ stale, want time.Duration }{
		{0, 30 * time.Second},
		{10 * time.Minute, 30 * time.Second},
		{12 * time.Second, 2 * time.Second},
	} {
		o := LockOptions{StaleAfter: tt.stale}
		o.defaults()
		if o.Heartbeat != tt.want {
			t.Errorf("StaleAfter %v: heartbeat %v, want %v", tt.stale, o.Heartbeat, tt.want)
		}
	}
}
