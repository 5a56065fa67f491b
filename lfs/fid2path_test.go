package lfs

import (
	"syscall"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// The shapes lfs.c's lfs_fid2path prints with --print-fid, with and without --print0.
func TestParseFIDToPath(t *testing.T) {
	a := FID{Seq: 0x200000401, Oid: 1}
	b := FID{Seq: 0x200000401, Oid: 2}
	c := FID{Seq: 0x200000401, Oid: 3}
	fids := []FID{a, b, c}
	tests := []struct {
		name string
		out  string
		nul  bool
		want [][]string
		err  bool
	}{
		{name: "empty", out: "", want: [][]string{nil, nil, nil}},
		{name: "one each", nul: true,
			out:  a.String() + " /mnt/x\x00" + b.String() + " /mnt/y\x00" + c.String() + " /mnt/z\x00",
			want: [][]string{{"/mnt/x"}, {"/mnt/y"}, {"/mnt/z"}}},
		{name: "hard links and a failure", nul: true,
			out:  a.String() + " /mnt/x\x00" + a.String() + " /mnt/d/x2\x00" + c.String() + " /mnt/new\nline\x00",
			want: [][]string{{"/mnt/x", "/mnt/d/x2"}, nil, {"/mnt/new\nline"}}},
		{name: "name holding a FID", nul: true,
			out:  a.String() + " /mnt/" + b.String() + " x\x00",
			want: [][]string{{"/mnt/" + b.String() + " x"}, nil, nil}},
		{name: "newline separated", out: a.String() + " /mnt/x\n" + b.String() + " /mnt/y\n",
			want: [][]string{{"/mnt/x"}, {"/mnt/y"}, nil}},
		{name: "newline in a name, newline separated", out: a.String() + " /mnt/new\nline\n" + c.String() + " /mnt/z\n",
			want: [][]string{{"/mnt/new\nline"}, nil, {"/mnt/z"}}},
		{name: "mounted at /", nul: true, out: b.String() + " //srv/x\x00", want: [][]string{nil, {"/srv/x"}, nil}},
		{name: "out of order", nul: true, out: b.String() + " /mnt/y\x00" + a.String() + " /mnt/x\x00", err: true},
		{name: "unknown FID", nul: true, out: "[0x1:0x2:0x0] /mnt/y\x00", err: true},
		{name: "torn", nul: true, out: a.String() + " /mnt/x", err: true},
		{name: "relative name", nul: true, out: a.String() + " x\x00", err: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParseFIDToPath([]byte(tt.out), fids, tt.nul)
			if (err != nil) != tt.err {
				t.Fatalf("err = %v, want error %v", err, tt.err)
			}
			if err != nil {
				return
			}
			if d := cmp.Diff(tt.want, got); d != "" {
				t.Errorf("-want +got:\n%s", d)
			}
		})
	}
}

func TestFIDErrno(t *testing.T) {
	a := FID{Seq: 0x200000401, Oid: 1}
	stderr := "lfs fid2path: cannot find /mnt/lustre [0x200000401:0x2:0x0]: Permission denied\n" +
		"lfs fid2path: cannot find /mnt/lustre " + a.String() + ": No such file or directory\n"
	if e, ok := fidErrno([]byte(stderr), a); !ok || e != syscall.ENOENT {
		t.Errorf("got %v %v, want ENOENT", e, ok)
	}
	if _, ok := fidErrno([]byte(stderr), FID{Seq: 9}); ok {
		t.Error("found an errno for a FID lfs did not name")
	}
}
