package lfs

import (
	"encoding/binary"
	"os"
	"testing"

	"golang.org/x/sys/unix"
)

func TestFIDFromHandle(t *testing.T) {
	b := make([]byte, 32) // struct lustre_file_handle: lfh_child, lfh_parent
	binary.NativeEndian.PutUint64(b[0:], 0x200000401)
	binary.NativeEndian.PutUint32(b[8:], 0x2a)
	binary.NativeEndian.PutUint32(b[12:], 0x1)
	binary.NativeEndian.PutUint64(b[16:], 0x200000007) // the parent: not the file
	cases := []struct {
		name string
		typ  int32
		b    []byte
		want FID
		ok   bool
	}{
		{"lustre", fileIDLustre, b, FID{Seq: 0x200000401, Oid: 0x2a, Ver: 1}, true},
		{"child only", fileIDLustre, b[:16], FID{Seq: 0x200000401, Oid: 0x2a, Ver: 1}, true},
		{"short", fileIDLustre, b[:15], FID{}, false},
		{"ext4 (FILEID_INO32_GEN)", 1, b, FID{}, false},
	}
	for _, c := range cases {
		got, ok := fidFromHandle(c.typ, c.b)
		if got != c.want || ok != c.ok {
			t.Errorf("%s: %v %v, want %v %v", c.name, got, ok, c.want, c.ok)
		}
	}
	// Not Lustre here: the caller is told to ask lfs.
	fd, err := unix.Open(os.TempDir(), unix.O_PATH, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Close(fd)
	if fid, ok := FIDOfFD(fd); ok {
		t.Errorf("FIDOfFD on %s: %v, want not Lustre", os.TempDir(), fid)
	}
}
