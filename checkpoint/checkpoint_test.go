package checkpoint

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
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
// anywhere before, it is an error naming the offset. No damaged record is ever handed out.
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
			if len(o) > len(recs) || (len(o) > 0 && !cmp.Equal(recs[:len(o)], o)) {
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
				if !errors.Is(err, ErrCorrupt) || !strings.Contains(err.Error(), "middle") {
					t.Fatalf("byte %d ^ %#x: want corruption in the middle, got %v", off, flip, err)
				}
				if _, _, err := OpenWriter(path, hdr, WriterOptions{}, Visitor{}); !errors.Is(err, ErrCorrupt) {
					t.Fatalf("byte %d ^ %#x: writer opened a log corrupt in the middle: %v", off, flip, err)
				}
			}
		}
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
	data := fmt.Sprintf(`{"host":%q,"pid":%d,"pid_start":%d,"job":%q,"task":%d,"restart":%d,"token":%q}`,
		info.Host, info.PID, info.PIDStart, info.Job, info.Task, info.Restart, info.Token)
	os.WriteFile(path, []byte(data), 0o600)
	old := time.Now().Add(-age)
	os.Chtimes(path, old, old)
}

func TestStaleLocks(t *testing.T) {
	host, _ := os.Hostname()
	dead := exec.Command("true")
	dead.Run()
	deadPID := dead.Process.Pid
	me := LockInfo{Host: host, PID: os.Getpid(), Job: "500", Task: 9, Restart: 1}
	tests := []struct {
		name  string
		old   LockInfo
		age   time.Duration
		stale bool
	}{
		{"holder process is gone", LockInfo{Host: host, PID: deadPID, PIDStart: 12345}, time.Second, true},
		{"holder pid reused by another process", LockInfo{Host: host, PID: os.Getpid(), PIDStart: 1}, time.Second, true},
		{"holder is alive here", LockInfo{Host: host, PID: os.Getpid(), PIDStart: procStart(os.Getpid())}, time.Second, false},
		{"other host, fresh heartbeat", LockInfo{Host: "elsewhere", PID: 1, Job: "400", Task: 9}, time.Minute, false},
		{"other host, heartbeat missed for long", LockInfo{Host: "elsewhere", PID: 1, Job: "400", Task: 9}, 10 * time.Minute, true},
		{"our own earlier incarnation (requeued)", LockInfo{Host: "elsewhere", PID: 1, Job: "500", Task: 9, Restart: 0}, time.Second, true},
		{"same task, same incarnation elsewhere", LockInfo{Host: "elsewhere", PID: 1, Job: "500", Task: 9, Restart: 1}, time.Second, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "shard.lock")
			writeLockFile(t, path, tt.old, tt.age)
			l, err := AcquireLock(path, me, LockOptions{})
			if tt.stale {
				if err != nil {
					t.Fatalf("stale lock not broken: %v", err)
				}
				if info, _, _ := readLock(path); info.PID != os.Getpid() {
					t.Errorf("lock holds %+v", info)
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
	old := time.Now().Add(-time.Hour)
	os.Chtimes(path, old, old)
	time.Sleep(100 * time.Millisecond)
	if st, _ := os.Stat(path); time.Since(st.ModTime()) > time.Minute {
		t.Error("heartbeat did not touch the lock")
	}
	// Someone breaks our lock (they took us for dead): we notice.
	os.Remove(path)
	writeLockFile(t, path, LockInfo{Host: "thief", PID: 1, Token: "theirs"}, 0)
	select {
	case <-l.Lost():
	case <-time.After(2 * time.Second):
		t.Fatal("loss of the lock not noticed")
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
