package lfssim_test

import (
	"bytes"
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"migrator/internal/testbin"
	"migrator/lfs"
	"migrator/lfssim"
)

// The contract: what migrator relies on from lfs, checked through the exec-based lfs
// package. It runs against the simulator; set MIGRATOR_CONTRACT_LFS (an lfs binary) and
// MIGRATOR_CONTRACT_DIR (a scratch directory on Lustre) to run it against a real client.
// Cases that need the simulator's fault injection are skipped there.

func TestMain(m *testing.M) {
	code := m.Run()
	testbin.Cleanup()
	os.Exit(code)
}

type env struct {
	t      *testing.T
	bin    string
	dir    string
	c      *lfs.Client
	real   bool
	simEnv []string // the simulator's settings, for setup commands too
}

func newEnv(t *testing.T, simEnv ...string) *env {
	t.Helper()
	if bin := os.Getenv("MIGRATOR_CONTRACT_LFS"); bin != "" {
		dir, err := os.MkdirTemp(os.Getenv("MIGRATOR_CONTRACT_DIR"), "contract-")
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { os.RemoveAll(dir) })
		return &env{t: t, bin: bin, dir: dir, c: lfs.New(bin), real: true}
	}
	bin := testbin.Build(t, "cmd/lfs-sim")
	simEnv = append([]string{"LFS_SIM_OSTS=8"}, simEnv...)
	c := lfs.New(bin).WithEnv(simEnv...)
	return &env{t: t, bin: bin, dir: t.TempDir(), c: c, simEnv: simEnv}
}

func (e *env) simOnly() {
	if e.real {
		e.t.Skip("needs the simulator's fault injection")
	}
}

// lfs runs the lfs binary directly (test setup, like an admin at a shell).
func (e *env) lfs(args ...string) {
	e.t.Helper()
	if code, out, errOut := e.raw(args...); code != 0 {
		e.t.Fatalf("lfs %v: exit %d\n%s%s", args, code, out, errOut)
	}
}

// raw runs the lfs binary and returns its exit status, stdout and stderr, for the cases
// where the contract is about them.
func (e *env) raw(args ...string) (code int, stdout, stderr string) {
	e.t.Helper()
	cmd := exec.Command(e.bin, args...)
	cmd.Env = append(os.Environ(), e.simEnv...)
	var o, er bytes.Buffer
	cmd.Stdout, cmd.Stderr = &o, &er
	err := cmd.Run()
	var xe *exec.ExitError
	if err != nil && !errors.As(err, &xe) {
		e.t.Fatalf("lfs %v: %v", args, err)
	}
	return cmd.ProcessState.ExitCode(), o.String(), er.String()
}

// file creates name (relative to the env dir) with a layout on osts and some content.
func (e *env) file(name string, content string, osts ...int) string {
	e.t.Helper()
	p := filepath.Join(e.dir, name)
	os.MkdirAll(filepath.Dir(p), 0o755)
	args := []string{"setstripe", "-c", itoa(len(osts))}
	if len(osts) > 0 {
		var l []string
		for _, o := range osts {
			l = append(l, itoa(o))
		}
		args = append(args, "-o", strings.Join(l, ","))
	}
	e.lfs(append(args, p)...)
	if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
		e.t.Fatal(err)
	}
	return p
}

func itoa(i int) string { return strconv.Itoa(i) }

var hostileNames = []string{
	"plain",
	"new\nline",
	"tab\there",
	`quote"s and 'single'`,
	`back\slash`,
	"-leading-dash",
	"  spaces  ",
	"non-utf8-\xff\xfe\x80",
	strings.Repeat("x", 255),
	"colon: [0x200000400:0x1:0x0]",
}

func TestContractVersion(t *testing.T) {
	e := newEnv(t, "LFS_SIM_VERSION=2.15.4")
	v, err := e.c.Version(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if !e.real && (v.Major != 2 || v.Minor != 15 || v.KeepsLayoutOnPlainMigrate()) {
		t.Errorf("version %+v", v)
	}
}

func TestContractMissingBinary(t *testing.T) {
	c := lfs.New("/nonexistent/lfs")
	if err := c.Check(); !errors.Is(err, lfs.ErrNoLFS) || !strings.Contains(err.Error(), "/nonexistent/lfs") {
		t.Errorf("Check() = %v", err)
	}
	_, err := c.Version(context.Background())
	if !errors.Is(err, lfs.ErrNoLFS) {
		t.Errorf("Version() = %v, want ErrNoLFS", err)
	}
	err = c.Find(context.Background(), []string{"/tmp"}, lfs.FindOptions{}, func(string) error { return nil })
	if !errors.Is(err, lfs.ErrNoLFS) {
		t.Errorf("Find() = %v, want ErrNoLFS", err)
	}
}

// A tree of regular files on known OSTs, with hostile names, symlinks, FIFOs and a file
// whose second stripe (not its first) is on a source OST.
func TestContractFind(t *testing.T) {
	e := newEnv(t)
	var want []string
	for i, n := range hostileNames {
		onSource := e.file("d/"+n, "data "+n, 2)
		want = append(want, onSource)
		e.file("d/other-"+itoa(i), "elsewhere", 5)
	}
	want = append(want, e.file("deep/a/b/c/striped", "x", 6, 3)) // second stripe on 3
	e.file("deep/a/b/c/not", "x", 6, 7)
	if err := os.Symlink(want[0], filepath.Join(e.dir, "d", "link-to-source")); err != nil {
		t.Fatal(err)
	}
	if err := syscall.Mkfifo(filepath.Join(e.dir, "d", "fifo"), 0o644); err != nil {
		t.Fatal(err)
	}
	var got []string
	err := e.c.Find(context.Background(), []string{e.dir}, lfs.FindOptions{Type: "f", OSTs: lfs.OSTList{2, 3}},
		func(p string) error { got = append(got, p); return nil })
	if err != nil {
		t.Fatal(err)
	}
	slices.Sort(got)
	slices.Sort(want)
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("find -O 2,3 (-want +got):\n%s", diff)
	}

	// MaxDepth and the callback's error stop the walk.
	stop := errors.New("enough")
	n := 0
	err = e.c.Find(context.Background(), []string{e.dir}, lfs.FindOptions{Type: "f"},
		func(string) error { n++; return stop })
	if !errors.Is(err, stop) || n != 1 {
		t.Errorf("stopping find: err %v after %d paths", err, n)
	}
	got = nil
	e.c.Find(context.Background(), []string{e.dir + "/deep"}, lfs.FindOptions{MaxDepth: 2},
		func(p string) error { got = append(got, p); return nil })
	if diff := cmp.Diff([]string{e.dir + "/deep", e.dir + "/deep/a", e.dir + "/deep/a/b"}, got); diff != "" {
		t.Errorf("maxdepth 2 (-want +got):\n%s", diff)
	}

	// A missing root is an error naming it.
	err = e.c.Find(context.Background(), []string{e.dir + "/missing"}, lfs.FindOptions{}, func(string) error { return nil })
	var xe *lfs.ExitError
	if !errors.As(err, &xe) || xe.Errno() != syscall.ENOENT || !strings.Contains(err.Error(), "missing") {
		t.Errorf("find of a missing root: %v", err)
	}
}

// --threads (Lustre 2.17+) finds the same files; an older client refuses the option.
func TestContractFindThreads(t *testing.T) {
	e := newEnv(t, "LFS_SIM_VERSION=2.17.0")
	if v, err := e.c.Version(context.Background()); err != nil || !v.HasFindThreads() {
		t.Skipf("lfs %v has no find --threads (%v)", v, err)
	}
	want := []string{e.file("a/on", "x", 2), e.file("b/c/on", "x", 3, 2)}
	e.file("a/off", "x", 5)
	var got []string
	err := e.c.Find(context.Background(), []string{e.dir}, lfs.FindOptions{Type: "f", OSTs: lfs.OSTList{2}, Threads: 3},
		func(p string) error { got = append(got, p); return nil })
	if err != nil {
		t.Fatal(err)
	}
	slices.Sort(got)
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("find --threads 3 (-want +got):\n%s", diff)
	}

	old := newEnv(t, "LFS_SIM_VERSION=2.16.0")
	old.simOnly()
	err = old.c.Find(context.Background(), []string{old.dir}, lfs.FindOptions{Type: "f", Threads: 3}, func(string) error { return nil })
	var xe *lfs.ExitError
	if !errors.As(err, &xe) || xe.Errno() != syscall.EINVAL || !strings.Contains(err.Error(), "--threads") {
		t.Errorf("find --threads on a 2.16 client: %v, want EINVAL naming --threads", err)
	}
}

func TestContractFindAmong(t *testing.T) {
	e := newEnv(t)
	var files []string
	for _, n := range hostileNames {
		files = append(files, e.file(n, "x", 1))
	}
	off := e.file("off-source", "x", 4)
	gone := e.file("gone", "x", 1)
	os.Remove(gone)
	all := append(append([]string{}, files...), off, gone)
	got, err := e.c.FindAmong(context.Background(), all, lfs.FindOptions{Type: "f", OSTs: lfs.OSTList{1}})
	if err != nil {
		t.Fatal(err)
	}
	want := make([]bool, len(all))
	for i := range files {
		want[i] = true
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
}

func TestContractLayout(t *testing.T) {
	e := newEnv(t)
	plain := e.file("plain", "x", 3, 4)
	l, err := e.c.GetLayout(context.Background(), plain)
	if err != nil {
		t.Fatal(err)
	}
	if l.Composite || len(l.Components) != 1 || l.Components[0].StripeCount != 2 ||
		!cmp.Equal(l.Components[0].OSTs, []uint32{3, 4}) || l.Components[0].StripeSize != 1<<20 {
		t.Errorf("plain layout: %+v", l)
	}

	pfl := filepath.Join(e.dir, "pfl")
	e.lfs("setstripe", "-E", "1M", "-c", "1", "-o", "1", "-E", "-1", "-c", "2", "-o", "5,6", pfl)
	l, err = e.c.GetLayout(context.Background(), pfl)
	if err != nil {
		t.Fatal(err)
	}
	if !l.Composite || len(l.Components) != 2 || l.Components[0].End != 1<<20 ||
		l.Components[1].End != lfs.EOF || !cmp.Equal(l.OSTs(), []uint32{1, 5, 6}) {
		t.Errorf("composite layout: %+v", l)
	}

	_, err = e.c.GetLayout(context.Background(), filepath.Join(e.dir, "nope"))
	if !errors.Is(err, syscall.ENOENT) {
		t.Errorf("layout of a missing file: %v", err)
	}
}

func TestContractPathToFID(t *testing.T) {
	e := newEnv(t)
	var files []string
	for _, n := range hostileNames {
		files = append(files, e.file(n, "x", 0))
	}
	link := filepath.Join(e.dir, "hardlink")
	if err := os.Link(files[0], link); err != nil {
		t.Fatal(err)
	}
	gone := filepath.Join(e.dir, "gone")
	all := append(append([]string{}, files...), link, gone)
	res, err := e.c.PathToFID(context.Background(), all)
	if err != nil {
		t.Fatal(err)
	}
	seen := map[lfs.FID]string{}
	for i, f := range files {
		if res[i].Err != nil || res[i].FID.IsZero() {
			t.Errorf("%q: %+v", f, res[i])
			continue
		}
		if other, dup := seen[res[i].FID]; dup {
			t.Errorf("%q and %q share FID %v", f, other, res[i].FID)
		}
		seen[res[i].FID] = f
		one, err := e.c.PathToFID(context.Background(), []string{f})
		if err != nil || one[0].FID != res[i].FID {
			t.Errorf("%q: alone %v, in a batch %v", f, one, res[i].FID)
		}
	}
	if res[len(files)].FID != res[0].FID {
		t.Errorf("hard link FID %v != %v", res[len(files)].FID, res[0].FID)
	}
	if !errors.Is(res[len(files)+1].Err, syscall.ENOENT) {
		t.Errorf("missing file: %+v", res[len(files)+1])
	}

	// A file replaced under the same name is a different file.
	old := res[0].FID
	os.Remove(files[0])
	os.Remove(link)
	e.file(hostileNames[0], "new", 0)
	res, _ = e.c.PathToFID(context.Background(), files[:1])
	if res[0].Err != nil || res[0].FID == old {
		t.Errorf("replaced file kept FID %v (%v)", old, res[0].Err)
	}
}

func TestContractHSM(t *testing.T) {
	e := newEnv(t)
	a := e.file("archived", "x", 2)
	r := e.file("released", "x", 2)
	gone := filepath.Join(e.dir, "gone")
	e.lfs("hsm_set", "--exists", "--archived", "--archive-id", "3", a, r)
	e.lfs("hsm_release", r)
	res, err := e.c.HSMStates(context.Background(), []string{a, r, gone})
	if err != nil {
		t.Fatal(err)
	}
	if res[0].Err != nil || res[0].State.Released() || res[0].State.ArchiveID != 3 {
		t.Errorf("archived: %+v", res[0])
	}
	if res[1].Err != nil || !res[1].State.Released() {
		t.Errorf("released: %+v", res[1])
	}
	if res[2].Err == nil {
		t.Errorf("missing file: %+v", res[2])
	}
	l, err := e.c.GetLayout(context.Background(), r)
	if err != nil || !l.Released() || len(l.OSTs()) != 0 {
		t.Errorf("released layout: %+v, %v", l, err)
	}
	// What -O makes of a released file is not defined: its layout is stored without objects
	// (mdt_hsm_release(), mdt_open.c) while check_obd_match() (liblustreapi_pfind.c) reads
	// lmm_stripe_count slots anyway. "! --layout released" (lfs_find(), since 2.10) is what
	// leaves it out.
	got, err := e.c.FindAmong(context.Background(), []string{a, r}, lfs.FindOptions{Type: "f", OSTs: lfs.OSTList{2}, NotReleased: true})
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]bool{true, false}, got); diff != "" {
		t.Errorf("find -O 2 ! --layout released (-want +got):\n%s", diff)
	}
}

type fileState struct {
	content  string
	ino      uint64
	mode     os.FileMode
	uid, gid uint32
	mtime    time.Time
	nlink    uint64
}

func stateOf(t *testing.T, p string) fileState {
	t.Helper()
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	fi, err := os.Lstat(p)
	if err != nil {
		t.Fatal(err)
	}
	st := fi.Sys().(*syscall.Stat_t)
	return fileState{string(b), st.Ino, fi.Mode(), st.Uid, st.Gid, fi.ModTime(), uint64(st.Nlink)}
}

func TestContractMigrateOne(t *testing.T) {
	e := newEnv(t, "LFS_SIM_NOCREATE=1,2")
	content := strings.Repeat("0123456789", 300_000) // 3 MB: several copy buffers
	p := e.file("big", content, 1, 2)
	os.Chmod(p, 0o640)
	os.Chown(p, 1234, 5678)
	old := time.Date(2020, 1, 2, 3, 4, 5, 0, time.UTC)
	os.Chtimes(p, old, old)
	before := stateOf(t, p)
	res, err := e.c.Migrate(context.Background(), lfs.MigrateOptions{}, []string{p})
	if err != nil || res[0].Status != lfs.MigrateOK {
		t.Fatalf("migrate: %+v, %v", res, err)
	}
	if diff := cmp.Diff(before, stateOf(t, p), cmp.AllowUnexported(fileState{})); diff != "" {
		t.Errorf("file changed by migrate (-before +after):\n%s", diff)
	}
	l, _ := e.c.GetLayout(context.Background(), p)
	if l.OnAny(lfs.OSTList{1, 2}) || len(l.OSTs()) != 2 {
		t.Errorf("after migrate the file is on %v", l.OSTs())
	}
	if ents, _ := os.ReadDir(e.dir); len(ents) != 1 {
		t.Errorf("migrate left files behind: %v", ents)
	}
}

// lfs migrate -W (Lustre 2.16+) limits the copy's bandwidth; older clients refuse it.
func TestContractMigrateBandwidth(t *testing.T) {
	e := newEnv(t, "LFS_SIM_VERSION=2.16.0", "LFS_SIM_NOCREATE=1")
	p := e.file("f", "data", 1)
	res, err := e.c.Migrate(context.Background(), lfs.MigrateOptions{BandwidthMB: 100}, []string{p})
	if err != nil || res[0].Status != lfs.MigrateOK {
		t.Fatalf("migrate -W 100: %+v, %v", res, err)
	}
	if l, _ := e.c.GetLayout(context.Background(), p); l.OnAny(lfs.OSTList{1}) {
		t.Errorf("after migrate -W the file is on %v", l.OSTs())
	}
	old := newEnv(t, "LFS_SIM_VERSION=2.15.4")
	old.simOnly()
	p = old.file("f", "data", 1)
	res, err = old.c.Migrate(context.Background(), lfs.MigrateOptions{BandwidthMB: 100}, []string{p})
	if err == nil && res[0].Status == lfs.MigrateOK {
		t.Errorf("a 2.15 client took lfs migrate -W: %+v", res)
	}
}

func TestContractMigrateBatch(t *testing.T) {
	e := newEnv(t)
	var ok []string
	for _, n := range hostileNames {
		if strings.Contains(n, "\n") {
			continue // cannot be attributed in a batch
		}
		ok = append(ok, e.file(n, "data", 0))
	}
	gone := filepath.Join(e.dir, "gone")
	files := append(append([]string{}, ok[:3]...), gone)
	files = append(files, ok[3:]...)
	opts := lfs.MigrateOptions{StripeCount: 1, Pool: ""}
	if !e.real {
		busy := e.file("busy", "x", 0)
		lfssim.MarkBusy(busy, true)
		files = append(files, busy)
	}
	res, err := e.c.Migrate(context.Background(), opts, files)
	if err != nil {
		t.Fatal(err)
	}
	for i, f := range files {
		r := res[i]
		switch {
		case f == gone:
			if r.Status != lfs.MigrateFailed || r.Class() != lfs.ClassVanished || r.Reason != "cannot open source file" {
				t.Errorf("vanished: %+v", r)
			}
		case strings.HasSuffix(f, "/busy"):
			if r.Status != lfs.MigrateFailed || r.Errno != syscall.EBUSY || r.Class() != lfs.ClassRetryLater {
				t.Errorf("busy: %+v", r)
			}
		default:
			if r.Status != lfs.MigrateOK {
				t.Errorf("%q: %+v", f, r)
			}
		}
	}

	// Several files need an explicit layout.
	if _, err := e.c.Migrate(context.Background(), lfs.MigrateOptions{}, files[:2]); !errors.Is(err, lfs.ErrBatchNeedsLayout) {
		t.Errorf("batch without layout: %v", err)
	}
	// Without one, lfs itself aborts the rest of the batch after a vanished file.
	cmd := exec.Command(e.bin, "migrate", "-v", "-n", ok[0], gone, ok[1])
	cmd.Env = append(os.Environ(), "LFS_SIM_OSTS=8")
	var stdout bytes.Buffer
	cmd.Stdout = &stdout
	err = cmd.Run()
	var xe *exec.ExitError
	if !errors.As(err, &xe) || xe.ExitCode() != int(syscall.ENOENT) || stdout.String() != ok[0]+"\n" {
		t.Errorf("plain batch with a vanished file: %v, stdout %q", err, stdout.String())
	}
}

func TestContractMigrateNewlineName(t *testing.T) {
	e := newEnv(t)
	p := e.file("new\nline", "x", 0)
	if _, err := e.c.Migrate(context.Background(), lfs.MigrateOptions{StripeCount: 1}, []string{p, p + "2"}); err == nil {
		t.Error("a newline name was accepted in a batch")
	}
	res, err := e.c.Migrate(context.Background(), lfs.MigrateOptions{StripeCount: 1}, []string{p})
	if err != nil || res[0].Status != lfs.MigrateOK {
		t.Errorf("alone: %+v %v", res, err)
	}
}

func TestContractOpenForWrite(t *testing.T) {
	e := newEnv(t)
	e.simOnly()
	if os.Geteuid() != 0 {
		t.Skip("leases on files of other owners need root; the test files are ours anyway")
	}
	p := e.file("open", "x", 0)
	w, err := os.OpenFile(p, os.O_WRONLY|os.O_APPEND, 0)
	if err != nil {
		t.Fatal(err)
	}
	res, err := e.c.Migrate(context.Background(), lfs.MigrateOptions{}, []string{p})
	if err != nil || res[0].Status != lfs.MigrateFailed || res[0].Errno != syscall.EBUSY || res[0].Reason != "cannot get lease" {
		t.Errorf("non-block migrate of a file open for write: %+v %v", res, err)
	}
	// Block mode does not care.
	res, err = e.c.Migrate(context.Background(), lfs.MigrateOptions{Block: true}, []string{p})
	if err != nil || res[0].Status != lfs.MigrateOK {
		t.Errorf("block migrate of a file open for write: %+v %v", res, err)
	}
	w.Close()
	res, _ = e.c.Migrate(context.Background(), lfs.MigrateOptions{}, []string{p})
	if res[0].Status != lfs.MigrateOK {
		t.Errorf("after close: %+v", res)
	}
}

func TestContractFaults(t *testing.T) {
	base := newEnv(t)
	base.simOnly()
	t.Run("crash mid-copy leaves the original", func(t *testing.T) {
		e := newEnv(t, "LFS_SIM_CRASH_PROB=1")
		content := strings.Repeat("z", 3<<20)
		p := e.file("f", content, 1)
		before := stateOf(t, p)
		_, err := e.c.Migrate(context.Background(), lfs.MigrateOptions{}, []string{p})
		var xe *lfs.ExitError
		if !errors.As(err, &xe) || xe.Signal != syscall.SIGKILL {
			t.Fatalf("want a killed lfs, got %v", err)
		}
		if diff := cmp.Diff(before, stateOf(t, p), cmp.AllowUnexported(fileState{})); diff != "" {
			t.Errorf("file damaged (-before +after):\n%s", diff)
		}
		l, _ := e.c.GetLayout(context.Background(), p)
		if !cmp.Equal(l.OSTs(), []uint32{1}) {
			t.Errorf("layout changed by a crashed migrate: %v", l.OSTs())
		}
		// Lustre's volatile file has no name (llapi_create_volatile_idx): a crash leaves
		// nothing a directory listing, or a sweep that checks each entry, could find.
		ents, _ := os.ReadDir(filepath.Dir(p))
		for _, de := range ents {
			if de.Name() != filepath.Base(p) {
				t.Errorf("a crashed migrate left %q beside the file", de.Name())
			}
		}
	})
	t.Run("every Nth file fails", func(t *testing.T) {
		e := newEnv(t, "LFS_SIM_FAIL_EVERY=1", "LFS_SIM_FAIL_ERRNO=EIO")
		p := e.file("f", "x", 1)
		res, err := e.c.Migrate(context.Background(), lfs.MigrateOptions{}, []string{p})
		if err != nil || res[0].Errno != syscall.EIO || res[0].Class() != lfs.ClassIO || res[0].Reason != "data copy failed" {
			t.Errorf("%+v %v", res, err)
		}
	})
	t.Run("no space", func(t *testing.T) {
		e := newEnv(t, "LFS_SIM_NOSPACE=1")
		p := e.file("f", "x", 1)
		res, _ := e.c.Migrate(context.Background(), lfs.MigrateOptions{StripeCount: 1}, []string{p, p})
		for _, r := range res {
			if r.Class() != lfs.ClassNoSpace || r.Reason != "cannot create volatile file" {
				t.Errorf("%+v", r)
			}
		}
	})
	t.Run("released file is restored by migrate", func(t *testing.T) {
		e := newEnv(t)
		p := e.file("f", "x", 1)
		e.lfs("hsm_set", "--exists", "--archived", p)
		e.lfs("hsm_release", p)
		res, err := e.c.Migrate(context.Background(), lfs.MigrateOptions{}, []string{p})
		if err != nil || res[0].Status != lfs.MigrateOK {
			t.Fatalf("%+v %v", res, err)
		}
		if restored, _ := lfssim.Restored(p); !restored {
			t.Error("the simulator did not record the restore a real lfs migrate triggers")
		}
	})
	t.Run("old clients keep the OSTs without a layout", func(t *testing.T) {
		e := newEnv(t, "LFS_SIM_VERSION=2.15.3", "LFS_SIM_NOCREATE=3")
		p := e.file("f", "x", 3)
		e.c.Migrate(context.Background(), lfs.MigrateOptions{}, []string{p})
		l, _ := e.c.GetLayout(context.Background(), p)
		if !cmp.Equal(l.OSTs(), []uint32{3}) {
			t.Errorf("2.15 plain migrate moved the file to %v", l.OSTs())
		}
		e.c.Migrate(context.Background(), lfs.MigrateOptions{StripeCount: 1}, []string{p})
		l, _ = e.c.GetLayout(context.Background(), p)
		if l.OnAny(lfs.OSTList{3}) {
			t.Errorf("explicit layout did not move the file")
		}
	})
	t.Run("cancelled context stops lfs", func(t *testing.T) {
		e := newEnv(t, "LFS_SIM_LATENCY=10s")
		p := e.file("f", "x", 1)
		ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
		defer cancel()
		start := time.Now()
		_, err := e.c.Migrate(ctx, lfs.MigrateOptions{}, []string{p})
		if err == nil || time.Since(start) > 5*time.Second {
			t.Errorf("cancelled migrate: %v after %v", err, time.Since(start))
		}
	})
}

func TestContractDF(t *testing.T) {
	e := newEnv(t, "LFS_SIM_AVAIL_KB=3=0")
	ts, err := e.c.DF(context.Background(), e.dir)
	if err != nil {
		t.Fatal(err)
	}
	if !e.real {
		if len(ts) != 8 || ts[3].AvailKB != 0 || ts[0].AvailKB == 0 {
			t.Errorf("df: %+v", ts)
		}
	}
}

func TestContractFileInfo(t *testing.T) {
	e := newEnv(t)
	var files []string
	for i, n := range hostileNames {
		files = append(files, e.file(n, strings.Repeat("d", i), i%8, (i+3)%8))
	}
	link := filepath.Join(e.dir, "hardlink")
	os.Link(files[0], link)
	ctx := context.Background()
	fids, _ := e.c.PathToFID(ctx, files)
	check := func(all []string, want map[int]bool) {
		t.Helper()
		res, err := e.c.FileInfo(ctx, all)
		if err != nil {
			t.Fatal(err)
		}
		for i, f := range all {
			if res[i].OK != want[i] {
				t.Errorf("%q: OK %v", f, res[i].OK)
				continue
			}
			if !want[i] || i >= len(files) {
				continue
			}
			in := res[i].Info
			st := stateOf(t, f)
			wantOSTs := []uint32{uint32(i % 8), uint32((i + 3) % 8)}
			slices.Sort(wantOSTs)
			if in.FID != fids[i].FID || in.Size != uint64(i) || uint64(in.Nlink) != st.nlink || in.UID != st.uid || !cmp.Equal(in.OSTs, wantOSTs) {
				t.Errorf("%q: %+v (want FID %v, OSTs %v)", f, in, fids[i].FID, wantOSTs)
			}
		}
	}
	all := append([]string{}, files...)
	want := map[int]bool{}
	for i := range all {
		want[i] = true
	}
	check(all, want)
	// A vanished file and a symlink in the batch: attributed through the FIDs.
	sym := filepath.Join(e.dir, "symlink")
	os.Symlink(files[1], sym)
	all = append(all, filepath.Join(e.dir, "gone"), sym)
	check(all, want)
}

// lfs find exits non-zero when it cannot check a file and carries on with the others: a
// file it failed on is never taken for "no match" or "vanished", unlike one that is gone.
func TestContractFindFailingFile(t *testing.T) {
	e := newEnv(t, "LFS_SIM_FIND_FAIL=unreadable")
	e.simOnly()
	good := e.file("good", "x", 2)
	off := e.file("off", "x", 5)
	bad := e.file("unreadable\nname", "x", 2)
	gone := filepath.Join(e.dir, "gone")
	ctx := context.Background()
	opts := lfs.FindOptions{Type: "f", OSTs: lfs.OSTList{2}}

	// Without the failing file, a vanished one still only fails to match.
	got, err := e.c.FindAmong(ctx, []string{good, gone, off}, opts)
	if err != nil || !cmp.Equal(got, []bool{true, false, false}) {
		t.Errorf("FindAmong with a vanished file: %v, %v", got, err)
	}
	_, err = e.c.FindAmong(ctx, []string{good, bad, gone, off}, opts)
	var xe *lfs.ExitError
	if !errors.As(err, &xe) || xe.Errno() != syscall.EIO || !strings.Contains(err.Error(), strconv.Quote(bad)) ||
		strings.Contains(err.Error(), "\n") {
		t.Errorf("FindAmong with a file lfs cannot check: %v, want one line naming it, with EIO", err)
	}

	res, err := e.c.FileInfo(ctx, []string{good, bad, gone, off})
	if err != nil {
		t.Fatal(err)
	}
	if !res[0].OK || res[0].Err != nil || !res[3].OK || res[3].Err != nil {
		t.Errorf("answered files: %+v, %+v", res[0], res[3])
	}
	if res[1].OK || !errors.As(res[1].Err, &xe) || xe.Errno() != syscall.EIO {
		t.Errorf("file lfs failed on: %+v, want Err with EIO", res[1])
	}
	if res[2].OK || res[2].Err != nil {
		t.Errorf("vanished file: %+v, want not OK and no Err", res[2])
	}

	// The same through the describe of clients before 2.15.
	res, err = e.c.FileInfoCompat(ctx, []string{good, bad, gone, off}, lfs.OSTList{2, 5})
	if err != nil {
		t.Fatal(err)
	}
	if !res[0].OK || !cmp.Equal(res[0].Info.OSTs, []uint32{2}) || !res[3].OK || !cmp.Equal(res[3].Info.OSTs, []uint32{5}) {
		t.Errorf("compat, answered files: %+v, %+v", res[0], res[3])
	}
	if res[1].OK || !errors.As(res[1].Err, &xe) || xe.Errno() != syscall.EIO {
		t.Errorf("compat, file lfs failed on: %+v, want Err with EIO", res[1])
	}
	if res[2].OK || res[2].Err != nil {
		t.Errorf("compat, vanished file: %+v, want not OK and no Err", res[2])
	}
}

// Clients before 2.15 have no find --printf; FileInfoCompat describes the same files as
// FileInfo does from lstat, path2fid and one lfs find -O per OST asked about.
func TestContractFileInfoCompat(t *testing.T) {
	e := newEnv(t, "LFS_SIM_VERSION=2.14.0")
	var files []string
	for i, n := range hostileNames {
		files = append(files, e.file(n, strings.Repeat("d", i), i%8, (i+3)%8))
	}
	os.Link(files[0], filepath.Join(e.dir, "hardlink"))
	sym := filepath.Join(e.dir, "symlink")
	os.Symlink(files[1], sym)
	all := append(append([]string{}, files...), filepath.Join(e.dir, "gone"), sym)
	ctx := context.Background()
	osts := lfs.OSTList{1, 3, 4}
	got, err := e.c.FileInfoCompat(ctx, all, osts)
	if err != nil {
		t.Fatal(err)
	}
	if !e.real {
		if res, err := e.c.FileInfo(ctx, files[:1]); err == nil && res[0].Err == nil {
			t.Errorf("a 2.14 client ran lfs find --printf: %+v", res[0])
		}
	}
	// The same files through a client with --printf, OSTs cut down to those asked about.
	want, err := newEnv(t).c.FileInfo(ctx, all)
	if err != nil {
		t.Fatal(err)
	}
	for i := range want {
		var kept []uint32
		for _, o := range want[i].Info.OSTs {
			if osts.Contains(o) {
				kept = append(kept, o)
			}
		}
		want[i].Info.OSTs = kept
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("FileInfoCompat (-FileInfo +compat):\n%s", diff)
	}
	if !got[0].OK || got[0].Info.Nlink != 2 || got[len(files)].OK || got[len(files)+1].OK {
		t.Errorf("hard link, gone file, symlink: %+v %+v %+v", got[0], got[len(files)], got[len(files)+1])
	}
}
