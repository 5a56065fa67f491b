package lfs

import (
	"fmt"
	"strconv"
	"strings"
)

// FID is a Lustre File IDentifier: the inode's permanent name, which lfs migrate keeps.
// Two paths with the same FID are the same file (hard links); a path whose FID changed
// is a different file that took the old name.
type FID struct {
	Seq uint64
	Oid uint32
	Ver uint32
}

// IsZero reports whether f is the zero FID, which no real file has.
func (f FID) IsZero() bool { return f == FID{} }

// String formats f as lfs prints it: "[0x200000401:0x1:0x0]".
func (f FID) String() string {
	return fmt.Sprintf("[%#x:%#x:%#x]", f.Seq, f.Oid, f.Ver)
}

// ParseFID reads a FID with or without brackets ("[0x200000401:0x1:0x0]" or
// "0x200000401:0x1:0x0"), the forms lfs path2fid, getstripe and find --printf %LF print.
func ParseFID(s string) (FID, error) {
	t := strings.TrimSpace(s)
	if strings.HasPrefix(t, "[") {
		if !strings.HasSuffix(t, "]") {
			return FID{}, fmt.Errorf("FID %q: missing ]", s)
		}
		t = t[1 : len(t)-1]
	}
	parts := strings.Split(t, ":")
	if len(parts) != 3 {
		return FID{}, fmt.Errorf("FID %q: want SEQ:OID:VER", s)
	}
	seq, err1 := parseHex(parts[0], 64)
	oid, err2 := parseHex(parts[1], 32)
	ver, err3 := parseHex(parts[2], 32)
	if err1 != nil || err2 != nil || err3 != nil {
		return FID{}, fmt.Errorf("FID %q: fields must be hexadecimal numbers", s)
	}
	return FID{Seq: seq, Oid: uint32(oid), Ver: uint32(ver)}, nil
}

func parseHex(s string, bits int) (uint64, error) {
	s = strings.TrimPrefix(strings.TrimPrefix(s, "0x"), "0X")
	if s == "" {
		return 0, strconv.ErrSyntax
	}
	return strconv.ParseUint(s, 16, bits)
}
