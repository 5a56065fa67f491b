package manifest

import (
	"encoding/binary"
	"errors"
	"fmt"
	"syscall"

	"migrator/lfs"
)

// MaxPath is the longest path an entry may carry.
const MaxPath = 65535

// Entry is one file to migrate, as plan found it.
type Entry struct {
	Path  string   // absolute, any bytes but NUL
	FID   lfs.FID  // the file's identity; work refuses to migrate a different file under this name
	Size  uint64   // bytes, at plan time
	Nlink uint32   // hard links, at plan time
	UID   uint32   // owner, for reports
	GID   uint32   // group, for reports
	OSTs  []uint32 // source OSTs the file had objects on, ascending
	Flags uint64   // EntryAttempted, ...
}

// Entry flags.
const (
	// EntryAttempted marks an entry of a retry round that lfs migrate was started on in an
	// earlier round: found off the source OSTs, it was migrated by that round's task.
	EntryAttempted uint64 = 1 << iota
	// EntryFailedBefore marks an entry of a retry round that an earlier round recorded as
	// failed; the errno it failed with is in bits 16-31 of Flags (see FailedBefore).
	EntryFailedBefore
	// EntryAdded marks an entry a top-up round (plan --update) added beyond its retry set:
	// a file no earlier round accounts for any more, so it counts as newly planned.
	EntryAdded
)

const prevErrnoShift = 16

// SetFailedBefore marks e as having failed in an earlier round with errno.
func (e *Entry) SetFailedBefore(errno syscall.Errno) {
	e.Flags = e.Flags&^(0xffff<<prevErrnoShift) | EntryFailedBefore | uint64(errno&0xffff)<<prevErrnoShift
}

// FailedBefore returns the errno e failed with in an earlier round, and whether it did.
func (e *Entry) FailedBefore() (syscall.Errno, bool) {
	if e.Flags&EntryFailedBefore == 0 {
		return 0, false
	}
	return syscall.Errno(e.Flags >> prevErrnoShift & 0xffff), true
}

// entryCodec holds the state the entry encoding is relative to: the previous entry of the
// same block (front-coded path, delta-coded FID).
type entryCodec struct {
	prevPath []byte
	prevFID  lfs.FID
}

func (c *entryCodec) reset() {
	c.prevPath = c.prevPath[:0]
	c.prevFID = lfs.FID{}
}

// append encodes e after dst (without the record length) and updates the codec.
func (c *entryCodec) append(dst []byte, e *Entry) []byte {
	p := e.Path
	n := 0
	for n < len(p) && n < len(c.prevPath) && p[n] == c.prevPath[n] {
		n++
	}
	dst = binary.AppendUvarint(dst, uint64(n))
	dst = binary.AppendUvarint(dst, uint64(len(p)-n))
	dst = append(dst, p[n:]...)
	dst = binary.AppendVarint(dst, int64(e.FID.Seq-c.prevFID.Seq))
	dst = binary.AppendVarint(dst, int64(e.FID.Oid)-int64(c.prevFID.Oid))
	dst = binary.AppendUvarint(dst, uint64(e.FID.Ver))
	dst = binary.AppendUvarint(dst, e.Size)
	dst = binary.AppendUvarint(dst, uint64(e.Nlink))
	dst = binary.AppendUvarint(dst, uint64(e.UID))
	dst = binary.AppendUvarint(dst, uint64(e.GID))
	dst = binary.AppendUvarint(dst, uint64(len(e.OSTs)))
	for _, o := range e.OSTs {
		dst = binary.AppendUvarint(dst, uint64(o))
	}
	if e.Flags != 0 { // a later field: absent means 0, so plain entries do not pay for it
		dst = binary.AppendUvarint(dst, e.Flags)
	}
	c.prevPath = append(c.prevPath[:0], p...)
	c.prevFID = e.FID
	return dst
}

var errShort = errors.New("entry ends early")

// decode reads an entry from rec (one record's bytes) into e, reusing e.OSTs.
// Bytes after the known fields are ignored: they are fields of a later version.
func (c *entryCodec) decode(rec []byte, e *Entry) error {
	d := decoder{b: rec}
	prefix := d.uvarint()
	slen := d.uvarint()
	if d.err != nil {
		return d.err
	}
	if prefix > uint64(len(c.prevPath)) {
		return fmt.Errorf("path shares %d bytes with a previous path of %d", prefix, len(c.prevPath))
	}
	if slen > uint64(len(d.b)) || prefix+slen > MaxPath || prefix+slen == 0 {
		return fmt.Errorf("bad path length %d+%d", prefix, slen)
	}
	suffix := d.b[:slen]
	d.b = d.b[slen:]
	for _, ch := range suffix {
		if ch == 0 {
			return errors.New("path contains NUL")
		}
	}
	c.prevPath = append(c.prevPath[:prefix], suffix...)
	if c.prevPath[0] != '/' {
		return errors.New("path is not absolute")
	}
	seqDelta := d.varint()
	oidDelta := d.varint()
	ver := d.uvarint()
	e.Size = d.uvarint()
	nlink := d.uvarint()
	uid := d.uvarint()
	gid := d.uvarint()
	nosts := d.uvarint()
	if d.err != nil {
		return d.err
	}
	oid := int64(c.prevFID.Oid) + oidDelta
	if oid < 0 || oid > 1<<32-1 || ver > 1<<32-1 || nlink > 1<<32-1 || uid > 1<<32-1 || gid > 1<<32-1 {
		return errors.New("field out of range")
	}
	if nosts > uint64(len(d.b)) || nosts > lfs.MaxOSTIndex+1 {
		return fmt.Errorf("bad OST count %d", nosts)
	}
	e.OSTs = e.OSTs[:0]
	for i := uint64(0); i < nosts; i++ {
		o := d.uvarint()
		if d.err == nil && o > lfs.MaxOSTIndex {
			return fmt.Errorf("OST index %d out of range", o)
		}
		e.OSTs = append(e.OSTs, uint32(o))
	}
	if d.err != nil {
		return d.err
	}
	e.Flags = 0
	if len(d.b) > 0 {
		e.Flags = d.uvarint()
		if d.err != nil {
			return d.err
		}
	}
	e.FID = lfs.FID{Seq: c.prevFID.Seq + uint64(seqDelta), Oid: uint32(oid), Ver: uint32(ver)}
	e.Nlink, e.UID, e.GID = uint32(nlink), uint32(uid), uint32(gid)
	e.Path = string(c.prevPath)
	c.prevFID = e.FID
	return nil
}

// decoder reads varints from a byte slice with a sticky error.
type decoder struct {
	b   []byte
	err error
}

func (d *decoder) uvarint() uint64 {
	if d.err != nil {
		return 0
	}
	v, n := binary.Uvarint(d.b)
	if n <= 0 {
		d.err = errShort
		return 0
	}
	d.b = d.b[n:]
	return v
}

func (d *decoder) varint() int64 {
	if d.err != nil {
		return 0
	}
	v, n := binary.Varint(d.b)
	if n <= 0 {
		d.err = errShort
		return 0
	}
	d.b = d.b[n:]
	return v
}
