package lfs

import (
	"fmt"
	"slices"
	"strings"
	"syscall"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestParseOSTList(t *testing.T) {
	tests := []struct {
		in   string
		want OSTList
		str  string
		err  string
	}{
		{in: "7", want: OSTList{7}, str: "7"},
		{in: "10-20", want: OSTList{10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 20}, str: "10-20"},
		{in: "1,3-5", want: OSTList{1, 3, 4, 5}, str: "1,3-5"},
		{in: "5,1,3,4,1", want: OSTList{1, 3, 4, 5}, str: "1,3-5"},
		{in: "0x1a", want: OSTList{26}, str: "26"},
		{in: "0x1-0x3", err: "only decimal ranges"}, // lfs_find(): ^([0-9]+)-([0-9]+)$, else a name
		{in: "fs1-OST000a", want: OSTList{10}, str: "10"},
		{in: "fs1-OST000a_UUID,fs1-OST000b_UUID", want: OSTList{10, 11}, str: "10,11"},
		{in: "my-fs-OST00ff", want: OSTList{255}, str: "255"},
		{in: "0", want: OSTList{0}, str: "0"},
		{in: "0,1", want: OSTList{0, 1}, str: "0,1"},
		{in: " 2 , 4 ", want: OSTList{2, 4}, str: "2,4"},
		{in: "010", err: `lfs reads a leading zero as octal (8); write 10 for decimal or 0x8 for hex`},
		{in: "09", err: `ambiguous`},
		{in: "", err: "empty OST list"},
		{in: "1,,2", err: "empty item"},
		{in: "5-3", err: "runs backwards"},
		{in: "x", err: `"x" is not an OST index`},
		{in: "-OST0001", err: "no filesystem name"},
		{in: "fs-OSTzzzz", err: "not a hex index"},
		{in: "fs-OST12345", err: "4 lowercase hex digits"},
		{in: "fs-OSTa", err: "4 lowercase hex digits"},    // llapi_uuid_match: no target is named so
		{in: "fs-OST000A", err: "4 lowercase hex digits"}, // strncmp is case-sensitive
		{in: "70000", err: "above 65502"},
		{in: "65503", err: "above 65502"}, // setup_indexes: i < LOV_V1_INSANE_STRIPE_COUNT (0xffdf)
		{in: "65502", want: OSTList{65502}, str: "65502"},
		// lfs looks "fs1-OST000a-fs1-OST000d" up as one name and fails (EINVAL); it was
		// once read as OST 13 alone.
		{in: "fs1-OST000a-fs1-OST000d", err: "no ranges of names"},
		{in: "fs1-OST000a-13", err: "no ranges of names"},
		{in: "fs1-OST000a-fs1-OST000d,3", err: "no ranges of names"},
	}
	for _, tt := range tests {
		got, err := ParseOSTList(tt.in)
		if tt.err != "" {
			if err == nil || !strings.Contains(err.Error(), tt.err) {
				t.Errorf("ParseOSTList(%q) error = %v, want it to contain %q", tt.in, err, tt.err)
			}
			continue
		}
		if err != nil {
			t.Errorf("ParseOSTList(%q): %v", tt.in, err)
			continue
		}
		if diff := cmp.Diff(tt.want, got); diff != "" {
			t.Errorf("ParseOSTList(%q) (-want +got):\n%s", tt.in, diff)
		}
		if got.String() != tt.str {
			t.Errorf("ParseOSTList(%q).String() = %q, want %q", tt.in, got.String(), tt.str)
		}
		// The canonical form parses back to the same list.
		back, err := ParseOSTList(got.String())
		if err != nil || !cmp.Equal(back, got) {
			t.Errorf("round trip of %q: %v, %v", got.String(), back, err)
		}
	}
}

func TestOSTListNames(t *testing.T) {
	got := MustParseOSTList("9-11").Names("fs1")
	want := []string{"fs1-OST0009", "fs1-OST000a", "fs1-OST000b"}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Error(diff)
	}
}

func TestCheckOSTNames(t *testing.T) {
	df := []TargetSpace{{UUID: "fs1-OST0000_UUID"}, {UUID: "fs1-OST000a_UUID", Index: 10}}
	tests := []struct {
		list string
		err  string
	}{
		{list: "0,10"},
		{list: "fs1-OST000a"},
		{list: "fs1-OST000a_UUID,fs1-OST0000"},
		{list: "fs2-OST000a", err: "OST fs2-OST000a is not a target of this filesystem (fs1"},
		{list: "3,fs1-OST0003", err: "fs1-OST0003 is not a target"}, // index 3 is not in lfs df: planner's check
	}
	for _, tt := range tests {
		err := CheckOSTNames(tt.list, df)
		if (err == nil) != (tt.err == "") || (err != nil && !strings.Contains(err.Error(), tt.err)) {
			t.Errorf("CheckOSTNames(%q) = %v, want %q", tt.list, err, tt.err)
		}
	}
	if err := CheckOSTNames("fs1-OST0000", nil); err == nil {
		t.Error("a name was accepted with no lfs df to check it against")
	}
}

func TestParseFID(t *testing.T) {
	for _, in := range []string{"[0x200000401:0x1:0x0]", "0x200000401:0x1:0x0", " [0x200000401:0x1:0x0]\n"} {
		f, err := ParseFID(in)
		if err != nil {
			t.Fatalf("ParseFID(%q): %v", in, err)
		}
		if want := (FID{0x200000401, 1, 0}); f != want {
			t.Errorf("ParseFID(%q) = %v, want %v", in, f, want)
		}
		if f.String() != "[0x200000401:0x1:0x0]" {
			t.Errorf("String() = %q", f.String())
		}
	}
	for _, bad := range []string{"", "[0x1:0x2]", "[0x1:0x2:0x3", "[g:0x1:0x0]", "[0x1:0x100000000:0x0]"} {
		if _, err := ParseFID(bad); err == nil {
			t.Errorf("ParseFID(%q) succeeded", bad)
		}
	}
}

// getstripe -y of a plain raid0 file, as liblustreapi's lov_dump_user_lmm_v1v3 prints it.
const yamlPlain = `lmm_stripe_count:  2
lmm_stripe_size:   1048576
lmm_pattern:       raid0
lmm_layout_gen:    3
lmm_stripe_offset: 4
lmm_pool:          flash
lmm_objects:
      - l_ost_idx: 4
        l_fid:     0x100040000:0x2b:0x0
      - l_ost_idx: 9
        l_fid:     0x100090000:0x2c:0x0
`

// A PFL file: the first component instantiated, the second not (no objects, offset -1).
const yamlPFL = `lcm_layout_gen:    2
lcm_mirror_count:  1
lcm_entry_count:   3
components:
  - lcme_id:             1
    lcme_mirror_id:      0
    lcme_flags:          init
    lcme_extent.e_start: 0
    lcme_extent.e_end:   1048576
    sub_layout:
      lmm_stripe_count:  0
      lmm_stripe_size:   1048576
      lmm_pattern:       mdt
      lmm_layout_gen:    0
      lmm_mdt_index:     0
  - lcme_id:             2
    lcme_mirror_id:      0
    lcme_flags:          init
    lcme_extent.e_start: 1048576
    lcme_extent.e_end:   67108864
    sub_layout:
      lmm_stripe_count:  2
      lmm_stripe_size:   1048576
      lmm_pattern:       raid0
      lmm_layout_gen:    0
      lmm_stripe_offset: 7
      lmm_objects:
      - l_ost_idx: 7
        l_fid:     0x100070000:0x9:0x0
      - l_ost_idx: 2
        l_fid:     0x100020000:0xa:0x0
  - lcme_id:             3
    lcme_mirror_id:      0
    lcme_flags:          0
    lcme_extent.e_start: 67108864
    lcme_extent.e_end:   EOF
    sub_layout:
      lmm_stripe_count:  -1
      lmm_stripe_size:   4194304
      lmm_pattern:       raid0
      lmm_layout_gen:    0
      lmm_stripe_offset: -1
      lmm_pool:          archive
`

// The older inline object form (Lustre 2.10-2.12) and a mirrored (FLR) file.
const yamlOldFLR = `lcm_layout_gen:    5
lcm_mirror_count:  2
lcm_entry_count:   2
components:
  - lcme_id:             65537
    lcme_mirror_id:      1
    lcme_flags:          init
    lcme_extent.e_start: 0
    lcme_extent.e_end:   EOF
    sub_layout:
      lmm_stripe_count:  1
      lmm_stripe_size:   1048576
      lmm_pattern:       raid0
      lmm_layout_gen:    0
      lmm_stripe_offset: 3
      lmm_objects:
      - 0: { l_ost_idx: 3, l_fid: [0x100030000:0x2:0x0] }
  - lcme_id:             131073
    lcme_mirror_id:      2
    lcme_flags:          init,stale
    lcme_extent.e_start: 0
    lcme_extent.e_end:   EOF
    sub_layout:
      lmm_stripe_count:  1
      lmm_stripe_size:   1048576
      lmm_pattern:       raid0
      lmm_layout_gen:    0
      lmm_stripe_offset: 26
      lmm_objects:
      -   0: { l_ost_idx: 0x1a, l_fid: [0x1001a0000:0x3:0x0] }
`

const yamlReleased = `lmm_stripe_count:  1
lmm_stripe_size:   1048576
lmm_pattern:       raid0,released
lmm_layout_gen:    2
lmm_stripe_offset: 0
`

func TestParseLayoutYAML(t *testing.T) {
	tests := []struct {
		name     string
		in       string
		want     Layout
		osts     []uint32
		released bool
	}{
		{
			name: "plain", in: yamlPlain, osts: []uint32{4, 9},
			want: Layout{Gen: 3, MirrorCount: 1, Components: []Component{{
				Flags: "init", End: EOF, StripeCount: 2, StripeSize: 1 << 20, Pattern: "raid0",
				Pool: "flash", Offset: 4, OSTs: []uint32{4, 9},
			}}},
		},
		{
			name: "pfl with DoM and an uninstantiated tail", in: yamlPFL, osts: []uint32{2, 7},
			want: Layout{Composite: true, Gen: 2, MirrorCount: 1, Components: []Component{
				{ID: 1, Flags: "init", Start: 0, End: 1 << 20, StripeCount: 0, StripeSize: 1 << 20, Pattern: "mdt", Offset: 0},
				{ID: 2, Flags: "init", Start: 1 << 20, End: 64 << 20, StripeCount: 2, StripeSize: 1 << 20, Pattern: "raid0", Offset: 7, OSTs: []uint32{7, 2}},
				{ID: 3, Flags: "0", Start: 64 << 20, End: EOF, StripeCount: -1, StripeSize: 4 << 20, Pattern: "raid0", Pool: "archive", Offset: -1},
			}},
		},
		{
			name: "old inline objects, mirrored, hex index", in: yamlOldFLR, osts: []uint32{3, 26},
			want: Layout{Composite: true, Gen: 5, MirrorCount: 2, Components: []Component{
				{ID: 65537, MirrorID: 1, Flags: "init", End: EOF, StripeCount: 1, StripeSize: 1 << 20, Pattern: "raid0", Offset: 3, OSTs: []uint32{3}},
				{ID: 131073, MirrorID: 2, Flags: "init,stale", End: EOF, StripeCount: 1, StripeSize: 1 << 20, Pattern: "raid0", Offset: 26, OSTs: []uint32{26}},
			}},
		},
		{
			name: "released", in: yamlReleased, released: true,
			want: Layout{Gen: 2, MirrorCount: 1, Components: []Component{{
				Flags: "init", End: EOF, StripeCount: 1, StripeSize: 1 << 20, Pattern: "raid0,released", Offset: 0,
			}}},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParseLayoutYAML([]byte(tt.in))
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
			if diff := cmp.Diff(tt.osts, got.OSTs()); diff != "" {
				t.Errorf("OSTs (-want +got):\n%s", diff)
			}
			if got.Released() != tt.released {
				t.Errorf("Released() = %v", got.Released())
			}
		})
	}
}

func TestParseLayoutYAMLMembership(t *testing.T) {
	l, err := ParseLayoutYAML([]byte(yamlPFL))
	if err != nil {
		t.Fatal(err)
	}
	// The first object's OST (what "getstripe -i" shows) is 7; OST 2 holds the second
	// stripe and must count as membership too.
	if !l.OnAny(OSTList{2}) || !l.OnAny(OSTList{7}) || l.OnAny(OSTList{0, 1, 3}) {
		t.Errorf("OnAny is wrong for %v", l.OSTs())
	}
}

func TestParseLayoutYAMLErrors(t *testing.T) {
	for _, in := range []string{
		"",
		"something: else\n",
		"      - l_ost_idx: 3\n",
		"lmm_stripe_count:  two\n",
		"lcme_flags: init\n",
		"lmm_stripe_count:  1\nlmm_objects:\n      - l_ost_idx: x\n",
	} {
		if _, err := ParseLayoutYAML([]byte(in)); err == nil {
			t.Errorf("ParseLayoutYAML(%q) succeeded", in)
		}
	}
}

func TestParseHSMState(t *testing.T) {
	tests := []struct {
		in   string
		want HSMState
		rel  bool
	}{
		{"(0x00000000)", HSMState{}, false},
		{"(0x0000000d) released exists archived, archive_id:1", HSMState{Flags: 0xd, ArchiveID: 1}, true},
		{"(0x00000009) exists archived, archive_id:3", HSMState{Flags: 0x9, ArchiveID: 3}, false},
		{"(0x0000001b) exists dirty archived never_release, archive_id:2", HSMState{Flags: 0x1b, ArchiveID: 2}, false},
	}
	for _, tt := range tests {
		got, err := ParseHSMState(tt.in)
		if err != nil {
			t.Fatalf("ParseHSMState(%q): %v", tt.in, err)
		}
		if got != tt.want || got.Released() != tt.rel {
			t.Errorf("ParseHSMState(%q) = %+v (released %v)", tt.in, got, got.Released())
		}
		if got.String() != tt.in {
			t.Errorf("String() = %q, want %q", got.String(), tt.in)
		}
	}
	for _, bad := range []string{"", "0x1", "(0xzz)", "(0x1) bogus", "(0x1), archive_id:x"} {
		if _, err := ParseHSMState(bad); err == nil {
			t.Errorf("ParseHSMState(%q) succeeded", bad)
		}
	}
}

func TestParseVersion(t *testing.T) {
	tests := []struct {
		in        string
		maj, min  int
		raw       string
		keepsNewO bool
	}{
		{"lfs 2.15.4\n", 2, 15, "2.15.4", false},
		{"lfs 2.16.1\n", 2, 16, "2.16.1", true},
		{"lfs 2.12.9_ddn12\n", 2, 12, "2.12.9_ddn12", false},
		{"lfs-sim 2.17.0\n", 2, 17, "2.17.0", true},
		{"lfs 3.0.0-1.el9\n", 3, 0, "3.0.0-1.el9", true},
	}
	for _, tt := range tests {
		v, err := ParseVersion(tt.in)
		if err != nil {
			t.Fatalf("ParseVersion(%q): %v", tt.in, err)
		}
		if v.Major != tt.maj || v.Minor != tt.min || v.Raw != tt.raw || v.KeepsLayoutOnPlainMigrate() != tt.keepsNewO {
			t.Errorf("ParseVersion(%q) = %+v", tt.in, v)
		}
	}
	for _, bad := range []string{"", "lfs", "lfs version", "lfs x.y"} {
		if _, err := ParseVersion(bad); err == nil {
			t.Errorf("ParseVersion(%q) succeeded", bad)
		}
	}
}

const dfOutput = `UUID                   1K-blocks        Used   Available Use% Mounted on
fs1-MDT0000_UUID         2210560       30720     1951744   2% /mnt/fs1[MDT:0]
fs1-OST0000_UUID         3771392     1180672     2364416  34% /mnt/fs1[OST:0]
fs1-OST0001_UUID         3771392       12288     3534848   1% /mnt/fs1[OST:1]
fs1-OST0002_UUID         : inactive device
fs1-OST000a_UUID         3771392     3771392           0 100% /mnt/fs1[OST:10]

filesystem_summary:     11314176     4964352     5899264  46% /mnt/fs1
`

func TestParseDF(t *testing.T) {
	got, err := ParseDF(dfOutput)
	if err != nil {
		t.Fatal(err)
	}
	want := []TargetSpace{
		{UUID: "fs1-OST0000_UUID", Index: 0, TotalKB: 3771392, UsedKB: 1180672, AvailKB: 2364416},
		{UUID: "fs1-OST0001_UUID", Index: 1, TotalKB: 3771392, UsedKB: 12288, AvailKB: 3534848},
		{UUID: "fs1-OST000a_UUID", Index: 10, TotalKB: 3771392, UsedKB: 3771392, AvailKB: 0},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
}

func TestErrnoText(t *testing.T) {
	for _, e := range []syscall.Errno{syscall.EBUSY, syscall.EAGAIN, syscall.ENOENT, syscall.ESTALE,
		syscall.ENOSPC, syscall.EDQUOT, syscall.EACCES, syscall.EPERM, syscall.EIO, syscall.EOPNOTSUPP} {
		got, ok := ErrnoFromText(Strerror(e))
		if !ok || got != e {
			t.Errorf("ErrnoFromText(%q) = %v, %v; want %v", Strerror(e), got, ok, e)
		}
	}
	// glibc's spellings, as lfs prints them.
	glibc := map[string]syscall.Errno{
		"Device or resource busy":          syscall.EBUSY,
		"Resource temporarily unavailable": syscall.EAGAIN,
		"No space left on device":          syscall.ENOSPC,
		"Disk quota exceeded":              syscall.EDQUOT,
		"Stale file handle":                syscall.ESTALE,
		"Operation not supported":          syscall.EOPNOTSUPP,
		"Permission denied":                syscall.EACCES,
	}
	for text, want := range glibc {
		if got, ok := ErrnoFromText(text); !ok || got != want {
			t.Errorf("ErrnoFromText(%q) = %v, want %v", text, got, want)
		}
	}
}

func TestClassify(t *testing.T) {
	want := map[syscall.Errno]Class{
		syscall.EBUSY: ClassRetryLater, syscall.EAGAIN: ClassRetryLater,
		syscall.ENOENT: ClassVanished, syscall.ESTALE: ClassVanished,
		syscall.ENOSPC: ClassNoSpace, syscall.EDQUOT: ClassNoSpace,
		syscall.EACCES: ClassPermission, syscall.EPERM: ClassPermission,
		syscall.EIO: ClassIO, syscall.EINVAL: ClassOther,
	}
	for e, c := range want {
		if got := Classify(e); got != c {
			t.Errorf("Classify(%v) = %v, want %v", e, got, c)
		}
		if back, ok := ParseClass(c.String()); !ok || back != c {
			t.Errorf("ParseClass(%q) = %v", c.String(), back)
		}
	}
}

func TestMatchPrefixedLines(t *testing.T) {
	parseFID := func(fids []FID) func(int, string) bool {
		return func(i int, v string) bool {
			f, err := ParseFID(v)
			fids[i] = f
			return err == nil
		}
	}
	files := []string{"/a/x", "/a/x: [0x1:0x1:0x0]", "/a/-dash", "/a/tab\tname", "/a/\xff\xfe"}
	t.Run("all present", func(t *testing.T) {
		fids := make([]FID, len(files))
		var out strings.Builder
		for i, f := range files {
			out.WriteString(f + ": " + FID{0x200000400, uint32(i + 1), 0}.String() + "\n")
		}
		found, ok := matchPrefixedLines([]byte(out.String()), files, parseFID(fids))
		if !ok {
			t.Fatal("not attributed")
		}
		for i := range files {
			if !found[i] || fids[i].Oid != uint32(i+1) {
				t.Errorf("file %q: found %v fid %v", files[i], found[i], fids[i])
			}
		}
	})
	t.Run("first vanished, second forges its line", func(t *testing.T) {
		// "/a/x" failed (stderr only). The line of "/a/x: [0x1:0x1:0x0]" starts with
		// "/a/x: " but its value is not a FID, so it is not taken for "/a/x".
		fids := make([]FID, len(files))
		out := "/a/x: [0x1:0x1:0x0]: [0x200000400:0x2:0x0]\n"
		found, ok := matchPrefixedLines([]byte(out), files, parseFID(fids))
		if !ok || found[0] || !found[1] || fids[1].Oid != 2 {
			t.Errorf("found %v ok %v fids %v", found, ok, fids)
		}
	})
	t.Run("unattributable line", func(t *testing.T) {
		fids := make([]FID, len(files))
		if _, ok := matchPrefixedLines([]byte("/elsewhere: [0x1:0x1:0x0]\n"), files, parseFID(fids)); ok {
			t.Error("attributed a line for a file not asked")
		}
		if _, ok := matchPrefixedLines([]byte("/a/x: [0x1:0x1:0x0]"), files, parseFID(fids)); ok {
			t.Error("attributed a truncated line")
		}
	})
}

func TestMatchNULList(t *testing.T) {
	files := []string{"/d/a", "/d/new\nline", "/d/c"}
	got, err := matchNULList([]byte("/d/new\nline\x00/d/c\x00"), files)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]bool{false, true, true}, got); diff != "" {
		t.Error(diff)
	}
	if _, err := matchNULList([]byte("/d/zzz\x00"), files); err == nil {
		t.Error("accepted a path not asked for")
	}
	if _, err := matchNULList([]byte("/d/c\x00/d/a\x00"), files); err == nil {
		t.Error("accepted output out of argument order")
	}
	if _, err := matchNULList([]byte("/d/a"), files); err == nil {
		t.Error("accepted output without a final NUL")
	}
}

// Every failure reason lfs.c's lfs_migrate and its helpers can print, with the errno.
func TestAttributeMigrate(t *testing.T) {
	reasons := []struct {
		reason string
		errno  syscall.Errno
		class  Class
	}{
		{"cannot get lease", syscall.EBUSY, ClassRetryLater},
		{"source file changed", syscall.EAGAIN, ClassRetryLater},
		{"file changed", syscall.EAGAIN, ClassRetryLater},
		{"data copy failed", syscall.EBUSY, ClassRetryLater},
		{"cannot open source file", syscall.ENOENT, ClassVanished},
		{"cannot open source file", syscall.EACCES, ClassPermission},
		{"cannot create volatile file", syscall.ENOSPC, ClassNoSpace},
		{"cannot create volatile file", syscall.EDQUOT, ClassNoSpace},
		{"data copy failed", syscall.EIO, ClassIO},
		{"cannot swap layout", syscall.EPERM, ClassPermission},
		{"cannot get data version", syscall.ESTALE, ClassVanished},
		{"cannot get MDT index", syscall.ENOTTY, ClassOther},
	}
	var files []string
	var stderr, stdout strings.Builder
	for i, r := range reasons {
		f := "/fs/dir: odd/" + strings.Repeat("n", i) + "\tf" // colons and tabs in names
		files = append(files, f)
		stderr.WriteString("error: lfs migrate: " + f + ": " + r.reason + ": " + Strerror(r.errno) + "\n")
		ok := "/fs/ok-" + strings.Repeat("o", i)
		files = append(files, ok)
		stdout.WriteString(ok + "\n")
	}
	files = append(files, "/fs/never-mentioned")
	stderr.WriteString("lfs migrate: some other diagnostic\n")

	results := make([]MigrateResult, len(files))
	attributeMigrate(results, files, stdout.String(), stderr.String())
	for i, r := range reasons {
		got := results[2*i]
		if got.Status != MigrateFailed || got.Errno != r.errno || got.Reason != r.reason || got.Class() != r.class {
			t.Errorf("%s: got %+v class %v, want %s/%v/%v", files[2*i], got, got.Class(), r.reason, r.errno, r.class)
		}
		if ok := results[2*i+1]; ok.Status != MigrateOK {
			t.Errorf("%s: got %+v, want ok", files[2*i+1], ok)
		}
	}
	if last := results[len(files)-1]; last.Status != MigrateUnknown {
		t.Errorf("unmentioned file: got %+v, want unknown", last)
	}
}

func TestMigrateOptionsArgs(t *testing.T) {
	tests := []struct {
		o        MigrateOptions
		want     []string
		explicit bool
	}{
		{MigrateOptions{}, []string{"-n"}, false},
		{MigrateOptions{Block: true}, []string{"-b"}, false},
		{MigrateOptions{StripeCount: 4, StripeSize: 4 << 20, Pool: "new", BandwidthMB: 100},
			[]string{"-n", "-c", "4", "-S", "4194304", "-p", "new", "-W", "100"}, true},
		{MigrateOptions{OSTs: OSTList{8, 9}}, []string{"-n", "-o", "8,9"}, true},
		{MigrateOptions{StripeCount: -1}, []string{"-n", "-c", "-1"}, true},
	}
	for _, tt := range tests {
		if diff := cmp.Diff(tt.want, tt.o.Args()); diff != "" {
			t.Errorf("%+v (-want +got):\n%s", tt.o, diff)
		}
		if tt.o.ExplicitLayout() != tt.explicit {
			t.Errorf("%+v: ExplicitLayout() = %v", tt.o, tt.o.ExplicitLayout())
		}
	}
}

func TestFindOptionsArgs(t *testing.T) {
	o := FindOptions{OSTs: OSTList{1, 2, 3}, Type: "f", Threads: 4,
		Size: []string{"+1023c"}, UID: "1000", Pool: "old", MTime: []string{"+30"}, NotReleased: true}
	want := []string{"--threads", "4", "-type", "f", "-O", "1,2,3", "-size", "+1023c", "-uid", "1000",
		"--pool", "old", "-mtime", "+30", "!", "--layout", "released"}
	if diff := cmp.Diff(want, o.args()); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
}

func TestSplitPrintfRecords(t *testing.T) {
	// A record of printfMax bytes without its newline was cut by printf_format_string()
	// (liblustreapi_pfind.c, FORMATTED_BUF_LEN): the next file's record follows at once.
	head := "[0x200000400:0x1:0x0] 10 1 0 0 "
	var wide strings.Builder
	wide.WriteString(head + "[")
	for i := 0; wide.Len() < 2000; i++ {
		fmt.Fprintf(&wide, "%d,", i)
	}
	cut := wide.String()[:printfMax]
	exact := head + "[" + strings.Repeat("1", printfMax-1-len(head)-2) + "]" // 1022 bytes + newline: whole
	next := "[0x200000400:0x2:0x0] 20 1 0 0 [3]"
	tests := []struct {
		name string
		out  string
		want []printfRecord
	}{
		{"plain", next + "\n" + next + "\n", []printfRecord{{text: next}, {text: next}}},
		{"cut then whole", cut + next + "\n", []printfRecord{{text: cut, cut: true}, {text: next}}},
		{"two cut", cut + cut + next + "\n", []printfRecord{{text: cut, cut: true}, {text: cut, cut: true}, {text: next}}},
		{"cut last", next + "\n" + cut, []printfRecord{{text: next}, {text: cut, cut: true}}},
		{"exactly 1023 with newline", exact + "\n" + next + "\n", []printfRecord{{text: exact}, {text: next}}},
		{"ended inside a record", next + "\n[0x2", []printfRecord{{text: next}, {text: "[0x2", cut: true}}},
	}
	for _, tt := range tests {
		got := splitPrintfRecords([]byte(tt.out))
		if diff := cmp.Diff(tt.want, got, cmp.AllowUnexported(printfRecord{})); diff != "" {
			t.Errorf("%s (-want +got):\n%s", tt.name, diff)
		}
	}
	if len(exact) != printfMax-1 {
		t.Fatalf("test setup: exact record is %d bytes", len(exact))
	}
}

func TestParseInfoRecord(t *testing.T) {
	fid := FID{Seq: 0x200000400, Oid: 1}
	tests := []struct {
		rec   printfRecord
		whole bool
		osts  []uint32
	}{
		{rec: printfRecord{text: "[0x200000400:0x1:0x0] 10 1 0 0 [3,1][1]"}, whole: true, osts: []uint32{1, 3}},
		// llapi_layout_ost_index_get() fails on a component without objects: "?", no OST.
		{rec: printfRecord{text: "[0x200000400:0x1:0x0] 10 1 0 0 [3][?,?]"}, whole: true, osts: []uint32{3}},
		{rec: printfRecord{text: "[0x200000400:0x1:0x0] 10 1 0 0 [3,1", cut: true}},
		{rec: printfRecord{text: "[0x200000400:0x1:0x0] 10 1 0 0"}},       // layout unreadable
		{rec: printfRecord{text: "[0x200000400:0x1:0x0] 10 x 0 0 [1]"}},   // does not parse
		{rec: printfRecord{text: "[0x200000400:0x1:0x0] 10 1 0 0 [1] 7"}}, // too many fields
		// LLAPI_LAYOUT_DEFAULT as an index (offset not chosen): no OST index.
		{rec: printfRecord{text: "[0x200000400:0x1:0x0] 10 1 0 0 [1152921504606846978]"}},
	}
	for _, tt := range tests {
		in, whole := parseInfoRecord(tt.rec)
		if whole != tt.whole || in.FID != fid || (whole && !cmp.Equal(in.OSTs, tt.osts)) {
			t.Errorf("parseInfoRecord(%q) = %+v, %v; want whole=%v OSTs %v", tt.rec.text, in, whole, tt.whole, tt.osts)
		}
	}
}

func TestParseLayoutYAMLForeign(t *testing.T) {
	l, err := ParseLayoutYAML([]byte("lfm_magic:         0x0BD70BD0\nlfm_length:        73\nlfm_type:          0x00000000 (none)\nlfm_flags:         0x00000000\nlfm_value:     xyz\n"))
	if err != nil || !l.Foreign || len(l.OSTs()) != 0 {
		t.Fatalf("foreign layout: %+v, %v", l, err)
	}
}

func TestParsePoolList(t *testing.T) {
	// As llapi_poollist() prints llapi_get_poolmembers()'s list.
	got, err := ParsePoolList("Pool: fs1.fast\nfs1-OST0003_UUID\nfs1-OST000a_UUID\nfs1-OST0001_UUID\n")
	if err != nil || !slices.Equal(got, OSTList{1, 3, 10}) {
		t.Errorf("ParsePoolList = %v, %v", got, err)
	}
	if got, err := ParsePoolList("Pool: fs1.empty\n"); err != nil || len(got) != 0 {
		t.Errorf("empty pool: %v, %v", got, err)
	}
	for _, bad := range []string{"", "fs1-OST0000_UUID\n", "Pool: fs1.x\nnot-a-target\n"} {
		if _, err := ParsePoolList(bad); err == nil {
			t.Errorf("ParsePoolList(%q) accepted", bad)
		}
	}
}
