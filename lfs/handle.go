package lfs

import (
	"encoding/binary"

	"golang.org/x/sys/unix"
)

// fileIDLustre is the type of a Lustre file handle (FILEID_LUSTRE, llite_nfs.c).
const fileIDLustre = 0x97

// FIDOfFD reads the FID of an open file (an O_PATH descriptor will do) from its file
// handle, as llapi_fd2fid() (liblustreapi_fid.c, 2.13.52 and later) does: on a Lustre
// client name_to_handle_at() returns a handle of type FILEID_LUSTRE whose first bytes are
// the file's struct lu_fid (ll_encode_fh() in llite_nfs.c writes lfh_child, in the CPU's
// byte order: seq u64, oid u32, ver u32). It costs one system call, where lfs path2fid costs
// an exec, and it names the very inode the descriptor holds. ok is false when the handle is
// not Lustre's (another filesystem, the simulator, or no handle support): the caller must
// then ask lfs.
func FIDOfFD(fd int) (fid FID, ok bool) {
	h, _, err := unix.NameToHandleAt(fd, "", unix.AT_EMPTY_PATH)
	if err != nil {
		return FID{}, false
	}
	return fidFromHandle(h.Type(), h.Bytes())
}

// fidFromHandle decodes a Lustre file handle's child FID.
func fidFromHandle(typ int32, b []byte) (FID, bool) {
	if typ != fileIDLustre || len(b) < 16 {
		return FID{}, false
	}
	return FID{Seq: binary.NativeEndian.Uint64(b[0:8]), Oid: binary.NativeEndian.Uint32(b[8:12]),
		Ver: binary.NativeEndian.Uint32(b[12:16])}, true
}
