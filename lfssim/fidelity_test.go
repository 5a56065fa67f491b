package lfssim_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"

	"github.com/google/go-cmp/cmp"

	"migrator/lfs"
	"migrator/lfssim"
)

// Contract tests for the quirks of the real lfs that migrator depends on (lfs/LUSTRE.md).
// Each names the Lustre function it mirrors. Like the others they run against a real
// client with MIGRATOR_CONTRACT_LFS; those that build layouts the simulator's way skip there.

const infoFormat = `%LF %s %n %U %G %Lo\n`

// llapi_semantic_traverse() (liblustreapi_pfind.c) opens each path operand with
// O_DIRECTORY: a dangling symlink fails with ENOENT and lfs_find() (lfs.c) exits with it,
// after the other operands. FindAmong never passes one: only regular files are asked about.
func TestContractFindDanglingSymlinkOperand(t *testing.T) {
	e := newEnv(t)
	f := e.file("f", "x", 2)
	dangling := filepath.Join(e.dir, "dangling")
	if err := os.Symlink(filepath.Join(e.dir, "nowhere"), dangling); err != nil {
		t.Fatal(err)
	}
	code, out, errOut := e.raw("find", dangling, f, "--maxdepth", "0", "-type", "f", "-O", "2", "-0")
	if code != int(syscall.ENOENT) || out != f+"\x00" || !strings.Contains(errOut, dangling) {
		t.Errorf("lfs find DANGLING FILE: exit %d, stdout %q, stderr %q; want ENOENT, FILE printed, the link named", code, out, errOut)
	}
	got, err := e.c.FindAmong(context.Background(), []string{f, dangling}, lfs.FindOptions{Type: "f", OSTs: lfs.OSTList{2}})
	if err != nil || !cmp.Equal(got, []bool{true, false}) {
		t.Errorf("FindAmong over a dangling symlink: %v, %v; want [true false] and no error", got, err)
	}
}

// llapi_semantic_traverse(): an operand that is a symlink to a directory is opened through
// the link and walked under the operand's name; a symlink to a file is looked up in its
// parent and is the symlink (no -type f match, no error).
func TestContractFindSymlinkOperand(t *testing.T) {
	e := newEnv(t)
	f := e.file("real/sub/f", "x", 2)
	link := filepath.Join(e.dir, "link")
	if err := os.Symlink(filepath.Join(e.dir, "real"), link); err != nil {
		t.Fatal(err)
	}
	var got []string
	err := e.c.Find(context.Background(), []string{link}, lfs.FindOptions{Type: "f", OSTs: lfs.OSTList{2}},
		func(p string) error { got = append(got, p); return nil })
	if err != nil || !cmp.Equal(got, []string{link + "/sub/f"}) {
		t.Errorf("find through a symlinked directory: %q, %v; want %q", got, err, link+"/sub/f")
	}
	flink := filepath.Join(e.dir, "flink")
	os.Symlink(f, flink)
	m, err := e.c.FindAmong(context.Background(), []string{flink}, lfs.FindOptions{Type: "f", OSTs: lfs.OSTList{2}})
	if err != nil || m[0] {
		t.Errorf("find over a symlink to a file: %v, %v; want no match, no error", m, err)
	}
}

// printf_format_string() (liblustreapi_pfind.c) formats into FORMATTED_BUF_LEN (1024)
// bytes and keeps one for the NUL: a file striped over hundreds of OSTs prints 1023 bytes
// of its record and no newline. check_obd_match() reads the whole layout, so -O still sees
// the OST at the end of the list, and FileInfo describes the file in full.
func TestContractPrintfCutWideStripe(t *testing.T) {
	e := newEnv(t, "LFS_SIM_OSTS=400")
	ctx := context.Background()
	ts, err := e.c.DF(ctx, e.dir)
	if err != nil || len(ts) < 300 {
		t.Skipf("needs 300 OSTs (lfs df: %d, %v)", len(ts), err)
	}
	var osts []int
	for i := 0; i < 300; i++ {
		osts = append(osts, i+1) // OST 300, the source, is the last stripe
	}
	wide := e.file("wide", "wide content", osts...)
	narrow := e.file("narrow", "n", 300)
	code, out, _ := e.raw("find", wide, narrow, "--maxdepth", "0", "-type", "f", "--printf", infoFormat)
	if code != 0 {
		t.Fatalf("find --printf: exit %d", code)
	}
	if len(out) <= 1023 || strings.Contains(out[:1023], "\n") || strings.Count(out, "\n") != 1 || !strings.HasSuffix(out, " [300]\n") {
		t.Errorf("want the wide record cut at 1023 bytes without its newline, the narrow one after it:\n%q", out)
	}
	if strings.Contains(out[:1023], "300") {
		t.Errorf("the cut record still shows OST 300: %q", out[:1023])
	}
	res, err := e.c.FileInfo(ctx, []string{wide, narrow})
	if err != nil {
		t.Fatal(err)
	}
	if !res[0].OK || len(res[0].Info.OSTs) != 300 || res[0].Info.OSTs[299] != 300 || res[0].Info.Size != uint64(len("wide content")) {
		t.Errorf("FileInfo of the wide file: %+v", res[0])
	}
	if !res[1].OK || !cmp.Equal(res[1].Info.OSTs, []uint32{300}) {
		t.Errorf("FileInfo of the file after it: %+v", res[1])
	}
	// Alone in its batch it was once dropped as "gone meanwhile".
	alone, err := e.c.FileInfo(ctx, []string{wide})
	if err != nil || !alone[0].OK || len(alone[0].Info.OSTs) != 300 {
		t.Errorf("FileInfo of the wide file alone: %+v, %v", alone, err)
	}
	m, err := e.c.FindAmong(ctx, []string{wide}, lfs.FindOptions{Type: "f", OSTs: lfs.OSTList{300}})
	if err != nil || !m[0] {
		t.Errorf("find -O 300 over the wide file: %v, %v", m, err)
	}
}

// printf_format_ost_indices() (liblustreapi_pfind.c) walks every component: one "?" per
// stripe without an object (llapi_layout_ost_index_get() fails on a component that is not
// instantiated), and a stripe count of 0 (DoM) or -1 becomes LLAPI_LAYOUT_DEFAULT or
// LLAPI_LAYOUT_WIDE in llapi_layout_from_lum() (liblustreapi_layout.c), so the "?" run on
// until the record is cut. check_obd_match() skips components that are not instantiated
// and foreign layouts; getstripe prints a foreign layout's lfm_* fields
// (lov_dump_foreign_lmm()).
// Built with the simulator's SetLayout: simulator only.
func TestContractPrintfLayoutKinds(t *testing.T) {
	e := newEnv(t)
	e.simOnly()
	ctx := context.Background()
	mk := func(name string, l lfs.Layout) string {
		p := e.file(name, "content of "+name, 0)
		if err := lfssim.SetLayout(p, l); err != nil {
			t.Fatal(err)
		}
		return p
	}
	comp := func(id uint32, init bool, count int, pattern string, osts ...uint32) lfs.Component {
		flags := "0"
		if init {
			flags = "init"
		}
		return lfs.Component{ID: id, Flags: flags, End: lfs.EOF, StripeCount: count, Pattern: pattern, OSTs: osts}
	}
	pflUninit := mk("pfl-uninit", lfs.Layout{Composite: true, MirrorCount: 1, Components: []lfs.Component{
		comp(1, true, 1, "raid0", 1), comp(2, false, 2, "raid0")}})
	pflWide := mk("pfl-wide", lfs.Layout{Composite: true, MirrorCount: 1, Components: []lfs.Component{
		comp(1, true, 1, "raid0", 1), comp(2, false, -1, "raid0")}})
	dom := mk("dom", lfs.Layout{Composite: true, MirrorCount: 1, Components: []lfs.Component{
		comp(1, true, 0, "mdt"), comp(2, true, 2, "raid0", 3, 4)}})
	flr := mk("flr", lfs.Layout{Composite: true, MirrorCount: 2, Components: []lfs.Component{
		{ID: 65537, MirrorID: 1, Flags: "init", End: lfs.EOF, StripeCount: 1, Pattern: "raid0", OSTs: []uint32{5}},
		{ID: 131073, MirrorID: 2, Flags: "init,stale", End: lfs.EOF, StripeCount: 1, Pattern: "raid0", OSTs: []uint32{6}}}})
	foreign := mk("foreign", lfs.Layout{MirrorCount: 1, Components: []lfs.Component{
		{End: lfs.EOF, Pattern: "foreign", Pool: "s3://bucket/object"}}})
	files := []string{pflUninit, pflWide, dom, flr, foreign}

	code, out, _ := e.raw(append(append([]string{"find"}, files...), "--maxdepth", "0", "--printf", `%Lo\n`)...)
	if code != 0 {
		t.Fatalf("exit %d", code)
	}
	q := func(n int) string { return strings.Repeat("?,", n) }
	wantOut := "[1][?,?]\n" +
		("[1][" + q(600))[:1023] + // the -c -1 component: "?," until cut, no newline
		("[" + q(600))[:1023] + // DoM first: "[" then "?," until cut
		"[5][6]\n" +
		"]\n" // foreign: stripe count 0, "[" overwritten by "]"
	if out != wantOut {
		t.Errorf("%%Lo:\n got %q\nwant %q", out, wantOut)
	}
	res, err := e.c.FileInfo(ctx, files)
	if err != nil {
		t.Fatal(err)
	}
	want := [][]uint32{{1}, {1}, {3, 4}, {5, 6}, nil}
	for i := range files {
		if !res[i].OK || !cmp.Equal(res[i].Info.OSTs, want[i]) {
			t.Errorf("FileInfo %s: %+v, want OSTs %v", filepath.Base(files[i]), res[i], want[i])
		}
	}
	m, err := e.c.FindAmong(ctx, files, lfs.FindOptions{Type: "f", OSTs: lfs.OSTList{4, 6}})
	if err != nil || !cmp.Equal(m, []bool{false, false, true, true, false}) {
		t.Errorf("find -O 4,6: %v, %v", m, err)
	}
}

// lfs_find() (lfs.c) reads "-O N-M" only from 2.17 (LU-16622); setup_indexes()
// (liblustreapi_pfind.c) takes any other item as a strtol index or a target name compared
// with llapi_uuid_match() (liblustreapi.c), and fails the find with EINVAL on anything else.
// migrator passes lfs.OSTList.FindArg(), a plain list every client reads.
func TestContractFindOSTList(t *testing.T) {
	for _, ver := range []string{"2.16.0", "2.17.0"} {
		t.Run(ver, func(t *testing.T) {
			e := newEnv(t, "LFS_SIM_VERSION="+ver, "LFS_SIM_FSNAME=fs1")
			ctx := context.Background()
			v, err := e.c.Version(ctx)
			if err != nil {
				t.Fatal(err)
			}
			if e.real && v.String() != ver {
				t.Skipf("client is %s", v)
			}
			fs := "fs1"
			if ts, err := e.c.DF(ctx, e.dir); err != nil || len(ts) < 6 {
				t.Skipf("needs 6 OSTs (lfs df: %d, %v)", len(ts), err)
			} else {
				fs = lfs.FSName(ts[0].UUID)
			}
			on2 := e.file("on2", "x", 2)
			on3 := e.file("on3", "x", 3)
			off := e.file("off", "x", 5)
			files := []string{on2, on3, off}
			find := func(list string) (int, []bool) {
				code, out, _ := e.raw(append(append([]string{"find"}, files...), "--maxdepth", "0", "-O", list, "-0")...)
				var m []bool
				for _, f := range files {
					m = append(m, strings.Contains(out, f+"\x00"))
				}
				return code, m
			}
			both := []bool{true, true, false}
			tests := []struct {
				list string
				code int
				m    []bool
			}{
				{list: lfs.OSTList{2, 3}.FindArg(), m: both},
				{list: "2,0x3", m: both},
				{list: fs + "-OST0002," + fs + "-OST0003_UUID", m: both},
				{list: "010", m: []bool{false, false, false}}, // strtol base 0: octal 8
				{list: fs + "-OST0002-" + fs + "-OST0003", code: int(syscall.EINVAL)},
				{list: fs + "x-OST0002", code: int(syscall.EINVAL)}, // another filesystem's name
				{list: fs + "-OST02", code: int(syscall.EINVAL)},
			}
			if v.AtLeast(2, 17) {
				tests = append(tests, struct {
					list string
					code int
					m    []bool
				}{list: "2-3", m: both})
			} else {
				tests = append(tests, struct {
					list string
					code int
					m    []bool
				}{list: "2-3", code: int(syscall.EINVAL)})
			}
			for _, tt := range tests {
				code, m := find(tt.list)
				if code != tt.code || (tt.code == 0 && !cmp.Equal(m, tt.m)) || (tt.code != 0 && slices.Contains(m, true)) {
					t.Errorf("-O %s: exit %d, matched %v; want exit %d, %v", tt.list, code, m, tt.code, tt.m)
				}
			}
			// FindAmong passes FindArg: no EINVAL on any client.
			got, err := e.c.FindAmong(ctx, files, lfs.FindOptions{Type: "f", OSTs: lfs.MustParseOSTList("2-3")})
			if err != nil || !cmp.Equal(got, both) {
				t.Errorf("FindAmong -O 2-3: %v, %v", got, err)
			}
		})
	}
}

// A released file: HSM state says so, getstripe shows the released pattern and no
// objects, "! --layout released" leaves it out of find (cb_find_init() compares the
// pattern, lfs_find() has --layout since 2.10), and %Lo shows no object of it
// (printf_format_ost_indices(): a "?" per stripe).
func TestContractReleased(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	r := e.file("released", "archived data", 2, 3)
	e.lfs("hsm_set", "--exists", "--archived", "--archive-id", "1", r)
	e.lfs("hsm_release", r)
	var got []string
	err := e.c.Find(ctx, []string{e.dir}, lfs.FindOptions{Type: "f", OSTs: lfs.OSTList{2, 3}, NotReleased: true},
		func(p string) error { got = append(got, p); return nil })
	if err != nil || len(got) != 0 {
		t.Errorf("find ! --layout released: %q, %v", got, err)
	}
	l, err := e.c.GetLayout(ctx, r)
	if err != nil || !l.Released() || len(l.OSTs()) != 0 {
		t.Errorf("getstripe: %+v, %v", l, err)
	}
	if !e.real {
		_, out, _ := e.raw("find", r, "--printf", `%Lo\n`)
		if out != "[?,?]\n" {
			t.Errorf("%%Lo of a released file: %q", out)
		}
	}
}

// counting returns a client that runs e's lfs through a script logging each subcommand,
// and a function returning how many times each subcommand ran.
func (e *env) counting() (*lfs.Client, func() map[string]int) {
	e.t.Helper()
	dir := e.t.TempDir()
	log := filepath.Join(dir, "calls")
	script := filepath.Join(dir, "lfs")
	body := "#!/bin/sh\necho \"$1\" >> '" + log + "'\nexec '" + e.bin + "' \"$@\"\n"
	if err := os.WriteFile(script, []byte(body), 0o755); err != nil {
		e.t.Fatal(err)
	}
	c := lfs.New(script).WithEnv(e.simEnv...)
	return c, func() map[string]int {
		b, _ := os.ReadFile(log)
		n := map[string]int{}
		for _, l := range strings.Fields(string(b)) {
			n[l]++
		}
		return n
	}
}

// lfs_hsm_state() (lfs.c) before 2.16 stops at the first file it fails on and prints
// nothing for the files after it; from 2.16 it goes on. HSMStates gets every file's state
// either way, asking the failed file alone and the rest again as one batch, not one call
// per file after the failure.
func TestContractHSMStateStopsBefore216(t *testing.T) {
	for _, ver := range []string{"2.12.9", "2.16.0"} {
		t.Run(ver, func(t *testing.T) {
			e := newEnv(t, "LFS_SIM_VERSION="+ver)
			var files []string
			for i := 0; i < 20; i++ {
				files = append(files, e.file(fmt.Sprintf("f%02d", i), "x", 1))
			}
			e.lfs("hsm_set", "--exists", "--archived", files[7])
			e.lfs("hsm_release", files[7])
			gone := filepath.Join(e.dir, "gone")
			files = append([]string{gone}, files...) // fails first
			code, out, _ := e.raw(append([]string{"hsm_state"}, files...)...)
			if v, _ := lfs.ParseVersion("lfs " + ver); !v.AtLeast(2, 16) && !e.real && (code != int(syscall.ENOENT) || out != "") {
				t.Errorf("hsm_state GONE FILE...: exit %d, stdout %q; want ENOENT and nothing printed", code, out)
			}
			c, calls := e.counting()
			res, err := c.HSMStates(context.Background(), files)
			if err != nil {
				t.Fatal(err)
			}
			if res[0].Err == nil {
				t.Errorf("missing file: %+v, want an error", res[0])
			}
			for i, r := range res[1:] {
				if r.Err != nil || r.State.Released() != (i == 7) || r.State.Flags&lfs.HSExists == 0 && i == 7 {
					t.Errorf("%s: %+v", filepath.Base(files[i+1]), r)
				}
			}
			if n := calls()["hsm_state"]; n > 3 {
				t.Errorf("%d lfs hsm_state calls for 21 files, one missing; want at most 3", n)
			}
		})
	}
}

// Every DoM file, and every PFL file with a component not instantiated whose stripe count
// is -1, prints a record lfs cuts (printf_format_ost_indices()): at 10^8 files one lfs
// getstripe each would cost as much as the scan. Told the source OSTs, FileInfoOn
// describes a batch's cut files with lfs path2fid and one lfs find -O per source OST, as
// exactly (check_obd_match() reads the whole layout). Built with SetLayout: simulator only.
func TestContractCutRecordsDescribedPerSourceOST(t *testing.T) {
	e := newEnv(t)
	e.simOnly()
	comp := func(id uint32, init bool, count int, pattern string, osts ...uint32) lfs.Component {
		flags := "0"
		if init {
			flags = "init"
		}
		return lfs.Component{ID: id, Flags: flags, End: lfs.EOF, StripeCount: count, Pattern: pattern, OSTs: osts}
	}
	var files []string
	var want [][]uint32
	for i := 0; i < 12; i++ {
		p := e.file(fmt.Sprintf("f%02d", i), "content", 0)
		ost := uint32(1 + i%5) // sources are 3 and 4
		l := lfs.Layout{Composite: true, MirrorCount: 1, Components: []lfs.Component{
			comp(1, true, 0, "mdt"), comp(2, true, 1, "raid0", ost)}} // DoM
		if i%2 == 1 {
			l.Components = []lfs.Component{comp(1, true, 1, "raid0", ost), comp(2, false, -1, "raid0")} // PFL, -c -1 not instantiated
		}
		if err := lfssim.SetLayout(p, l); err != nil {
			t.Fatal(err)
		}
		files = append(files, p)
		if ost == 3 || ost == 4 {
			want = append(want, []uint32{ost})
		} else {
			want = append(want, nil)
		}
	}
	c, calls := e.counting()
	res, err := c.FileInfoOn(context.Background(), files, lfs.OSTList{3, 4})
	if err != nil {
		t.Fatal(err)
	}
	for i := range files {
		if !res[i].OK || !cmp.Equal(res[i].Info.OSTs, want[i]) || res[i].Info.Size != uint64(len("content")) || res[i].Info.FID == (lfs.FID{}) {
			t.Errorf("%s: %+v, want OSTs %v", filepath.Base(files[i]), res[i], want[i])
		}
	}
	n := calls()
	if n["getstripe"] != 0 || n["find"]+n["path2fid"] > 4 {
		t.Errorf("lfs calls for 12 cut records and 2 source OSTs: %v; want no getstripe, at most 1 find --printf + 1 path2fid + 2 find -O", n)
	}
}

// llapi_semantic_traverse() (liblustreapi.c) walks with a PATH_MAX+1 buffer through 2.14
// (param_callback()), 2*PATH_MAX from 2.15: at the first entry whose dirent record does not
// fit after the directory's path it prints "string buffer too small" and skips the rest of
// the directory, exit 0. Find must not pass such a walk for complete. Simulator only: the
// client's version decides.
func TestContractFindSkipsRestOfDeepDirectoryBefore215(t *testing.T) {
	for _, ver := range []string{"2.12.9", "2.15.0"} {
		t.Run(ver, func(t *testing.T) {
			e := newEnv(t, "LFS_SIM_VERSION="+ver)
			e.simOnly()
			deep := e.dir
			for i := 0; len(deep) < 3990-200; i++ {
				deep = filepath.Join(deep, strings.Repeat(string(rune('a'+i%26)), 200))
			}
			deep = filepath.Join(deep, strings.Repeat("d", 3990-len(deep)-1))
			short := e.file(strings.TrimPrefix(filepath.Join(deep, "a"), e.dir+"/"), "x", 2)
			long := filepath.Join(deep, strings.Repeat("y", 90)) // 4081 bytes: a valid path
			after := filepath.Join(deep, strings.Repeat("z", 10))
			for _, p := range []string{long, after} {
				e.file(strings.TrimPrefix(p, e.dir+"/"), "x", 2)
			}
			var got []string
			err := e.c.Find(context.Background(), []string{e.dir}, lfs.FindOptions{Type: "f", OSTs: lfs.OSTList{2}},
				func(p string) error { got = append(got, p); return nil })
			if ver == "2.12.9" {
				if err == nil || !strings.Contains(err.Error(), "string buffer too small") {
					t.Errorf("Find over a directory lfs 2.12 cannot walk whole: %d paths, err %v; want an error", len(got), err)
				}
				return
			}
			if err != nil || !cmp.Equal(got, []string{short, long, after}) {
				t.Errorf("Find: %d paths, %v", len(got), err)
			}
		})
	}
}

// lfs_migrate() (lfs.c) names each migrated file with -v only from 2.13: a 2.12 batch says
// nothing about its successes, so Migrate leaves them unknown (the caller verifies each)
// and never reports one as migrated on lfs's word. Failures are still attributed.
func TestContractMigrateVerbose212(t *testing.T) {
	e := newEnv(t, "LFS_SIM_VERSION=2.12.9")
	e.simOnly()
	a, b := e.file("a", "data", 1), e.file("b", "data", 1)
	gone := filepath.Join(e.dir, "gone")
	res, err := e.c.Migrate(context.Background(), lfs.MigrateOptions{StripeCount: 1}, []string{a, gone, b})
	if err != nil {
		t.Fatal(err)
	}
	if res[0].Status != lfs.MigrateUnknown || res[2].Status != lfs.MigrateUnknown || res[1].Status != lfs.MigrateFailed || res[1].Class() != lfs.ClassVanished {
		t.Errorf("2.12 batch: %+v; want unknown, failed (vanished), unknown", res)
	}
}
