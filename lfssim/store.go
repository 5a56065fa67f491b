package lfssim

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/fnv"
	"os"
	"strconv"
	"strings"
	"syscall"

	"golang.org/x/sys/unix"

	"migrator/lfs"
)

// Extended attributes that hold the simulated Lustre state of a file.
const (
	xattrLayout   = "user.lfs_sim.layout"   // the layout (encodeLayout); absent means the default
	xattrHSM      = "user.lfs_sim.hsm"      // "FLAGS:ARCHIVE_ID"
	xattrBusy     = "user.lfs_sim.busy"     // present: treat the file as open for write
	xattrRestored = "user.lfs_sim.restored" // present: an HSM restore was triggered
)

// VolatilePrefix starts the name of the temporary copy a migration writes beside the file.
// Lustre's volatile files are invisible; the simulator's find and getstripe skip these.
const VolatilePrefix = ".lfs_sim_volatile:"

// fileID is what identifies a file for the simulator: the inode and its birth time, so a
// name reused by a new file (even with a recycled inode number) gets a new FID.
type fileID struct {
	dev, ino uint64
	btime    int64 // nanoseconds
}

// statID lstat()s path and returns its identity and mode.
func statID(path string) (fileID, *unix.Statx_t, error) {
	var st unix.Statx_t
	err := unix.Statx(unix.AT_FDCWD, path, unix.AT_SYMLINK_NOFOLLOW,
		unix.STATX_BASIC_STATS|unix.STATX_BTIME, &st)
	if err != nil {
		return fileID{}, nil, err
	}
	id := fileID{dev: uint64(st.Dev_major)<<32 | uint64(st.Dev_minor), ino: st.Ino}
	if st.Mask&unix.STATX_BTIME != 0 {
		id.btime = st.Btime.Sec*1e9 + int64(st.Btime.Nsec)
	}
	return id, &st, nil
}

// fstatID is statID of an open file.
func fstatID(f *os.File) (fileID, error) {
	var st unix.Statx_t
	if err := unix.Statx(int(f.Fd()), "", unix.AT_EMPTY_PATH, unix.STATX_BASIC_STATS|unix.STATX_BTIME, &st); err != nil {
		return fileID{}, err
	}
	id := fileID{dev: uint64(st.Dev_major)<<32 | uint64(st.Dev_minor), ino: st.Ino}
	if st.Mask&unix.STATX_BTIME != 0 {
		id.btime = st.Btime.Sec*1e9 + int64(st.Btime.Nsec)
	}
	return id, nil
}

// statIDFollow is statID through a final symlink.
func statIDFollow(path string) (fileID, *unix.Statx_t, error) {
	var st unix.Statx_t
	err := unix.Statx(unix.AT_FDCWD, path, 0, unix.STATX_BASIC_STATS|unix.STATX_BTIME, &st)
	if err != nil {
		return fileID{}, nil, err
	}
	id := fileID{dev: uint64(st.Dev_major)<<32 | uint64(st.Dev_minor), ino: st.Ino}
	if st.Mask&unix.STATX_BTIME != 0 {
		id.btime = st.Btime.Sec*1e9 + int64(st.Btime.Nsec)
	}
	return id, &st, nil
}

func (id fileID) hash() uint64 {
	h := fnv.New64a()
	var b [24]byte
	for i, v := range []uint64{id.dev, id.ino, uint64(id.btime)} {
		for j := 0; j < 8; j++ {
			b[i*8+j] = byte(v >> (8 * j))
		}
	}
	h.Write(b[:])
	return h.Sum64()
}

// FID is the file's simulated Lustre FID: normal-file sequence range, object id from the
// inode, stable for the life of the inode and different for a new file under the same name.
func (id fileID) FID() lfs.FID {
	return lfs.FID{Seq: 0x200000400 + id.hash()%0x100000, Oid: uint32(id.ino), Ver: 0}
}

// FIDOf returns the simulated FID of path (without following a final symlink).
func FIDOf(path string) (lfs.FID, error) {
	id, _, err := statID(path)
	if err != nil {
		return lfs.FID{}, err
	}
	return id.FID(), nil
}

// defaultLayout is the layout of a file the simulator has not striped explicitly: one
// stripe on an OST chosen from the file's identity, as if the MDS had placed it.
func (c Config) defaultLayout(id fileID) lfs.Layout {
	return lfs.Layout{
		MirrorCount: 1,
		Components: []lfs.Component{{
			Flags: "init", End: lfs.EOF, StripeCount: 1, StripeSize: c.StripeSize,
			Pattern: "raid0", OSTs: []uint32{uint32(id.hash() % uint64(c.OSTCount))},
		}},
	}
}

// readLayout returns the file's layout: the stored one, or the default.
func (c Config) readLayout(path string, id fileID) (lfs.Layout, error) {
	data, err := getxattr(path, xattrLayout)
	if err != nil {
		return lfs.Layout{}, err
	}
	return c.layoutFrom(path, data, id)
}

// layoutFrom decodes a stored layout xattr (nil: the default layout).
func (c Config) layoutFrom(path string, data []byte, id fileID) (lfs.Layout, error) {
	if data == nil {
		return c.defaultLayout(id), nil
	}
	l, err := decodeLayout(data)
	if err != nil {
		return lfs.Layout{}, fmt.Errorf("%s: corrupt simulated layout: %v", path, err)
	}
	for i := range l.Components {
		fixComponent(&l.Components[i], c)
	}
	return l, nil
}

func fixComponent(comp *lfs.Component, c Config) {
	if comp.StripeSize == 0 {
		comp.StripeSize = c.StripeSize
	}
	if comp.Pattern == "" {
		comp.Pattern = "raid0"
	}
}

// writeLayout stores l as the file's layout. A single setxattr replaces the old value
// atomically: this is the simulator's layout swap.
func writeLayout(path string, l lfs.Layout) error {
	return unix.Lsetxattr(path, xattrLayout, encodeLayout(l), 0)
}

// The layout xattr is a compact binary encoding (every lfs-sim call reads it for every
// file it looks at, so the simulator stays a near-zero-cost stand-in): a version byte,
// then uvarints and length-prefixed strings in the order of the fields of lfs.Layout and
// lfs.Component.
const layoutVersion = 1

func encodeLayout(l lfs.Layout) []byte {
	b := []byte{layoutVersion}
	flag := uint64(0)
	if l.Composite {
		flag = 1
	}
	b = binary.AppendUvarint(b, flag)
	b = binary.AppendUvarint(b, uint64(l.Gen))
	b = binary.AppendUvarint(b, uint64(l.MirrorCount))
	b = binary.AppendUvarint(b, uint64(len(l.Components)))
	for _, c := range l.Components {
		for _, v := range []uint64{uint64(c.ID), uint64(c.MirrorID), c.Start, c.End, uint64(int64(c.StripeCount)),
			c.StripeSize, uint64(int64(c.Offset))} {
			b = binary.AppendUvarint(b, v)
		}
		for _, str := range []string{c.Flags, c.Pattern, c.Pool} {
			b = binary.AppendUvarint(b, uint64(len(str)))
			b = append(b, str...)
		}
		b = binary.AppendUvarint(b, uint64(len(c.OSTs)))
		for _, o := range c.OSTs {
			b = binary.AppendUvarint(b, uint64(o))
		}
	}
	return b
}

func decodeLayout(b []byte) (lfs.Layout, error) {
	var l lfs.Layout
	if len(b) == 0 || b[0] != layoutVersion {
		return l, errors.New("unknown encoding")
	}
	b = b[1:]
	var err error
	next := func() uint64 {
		v, n := binary.Uvarint(b)
		if n <= 0 {
			err = errors.New("truncated")
			return 0
		}
		b = b[n:]
		return v
	}
	str := func() string {
		n := next()
		if err != nil || n > uint64(len(b)) {
			err = errors.New("truncated")
			return ""
		}
		s := string(b[:n])
		b = b[n:]
		return s
	}
	l.Composite = next() == 1
	l.Gen = uint32(next())
	l.MirrorCount = int(next())
	n := next()
	for i := uint64(0); i < n && err == nil; i++ {
		var c lfs.Component
		c.ID, c.MirrorID = uint32(next()), uint32(next())
		c.Start, c.End = next(), next()
		c.StripeCount = int(int64(next()))
		c.StripeSize = next()
		c.Offset = int(int64(next()))
		c.Flags, c.Pattern, c.Pool = str(), str(), str()
		for k, m := uint64(0), next(); k < m && err == nil; k++ {
			c.OSTs = append(c.OSTs, uint32(next()))
		}
		l.Components = append(l.Components, c)
	}
	return l, err
}

// SetLayout gives an existing regular file the layout l (tests and tree generators).
func SetLayout(path string, l lfs.Layout) error {
	return writeLayout(path, l)
}

// Layout returns the simulated layout of path, as getstripe would print it.
func Layout(cfg Config, path string) (lfs.Layout, error) {
	id, _, err := statID(path)
	if err != nil {
		return lfs.Layout{}, err
	}
	return cfg.readLayout(path, id)
}

// PlainLayout returns a plain raid0 layout with objects on osts, in stripe order.
func PlainLayout(osts ...uint32) lfs.Layout {
	return lfs.Layout{
		MirrorCount: 1,
		Components: []lfs.Component{{
			Flags: "init", End: lfs.EOF, StripeCount: len(osts), Pattern: "raid0",
			OSTs: append([]uint32(nil), osts...),
		}},
	}
}

func readHSM(path string) (lfs.HSMState, error) {
	data, err := getxattr(path, xattrHSM)
	if err != nil || data == nil {
		return lfs.HSMState{}, err
	}
	return hsmFrom(path, data)
}

// hsmFrom decodes a stored HSM state xattr.
func hsmFrom(path string, data []byte) (lfs.HSMState, error) {
	flags, id, _ := strings.Cut(string(data), ":")
	f, err1 := strconv.ParseUint(flags, 10, 32)
	a, err2 := strconv.ParseUint(id, 10, 32)
	if err1 != nil || err2 != nil {
		return lfs.HSMState{}, fmt.Errorf("%s: corrupt simulated HSM state %q", path, data)
	}
	return lfs.HSMState{Flags: uint32(f), ArchiveID: uint32(a)}, nil
}

func writeHSM(path string, s lfs.HSMState) error {
	return unix.Lsetxattr(path, xattrHSM, []byte(fmt.Sprintf("%d:%d", s.Flags, s.ArchiveID)), 0)
}

// Release marks path as archived and released by HSM, as "lfs hsm_archive" followed by
// "lfs hsm_release" would: its layout gains the released flag and loses its objects (see
// below for what is left of them).
func Release(cfg Config, path string, archiveID uint32) error {
	id, st, err := statID(path)
	if err != nil {
		return err
	}
	if st.Mode&unix.S_IFMT != unix.S_IFREG {
		return syscall.EINVAL
	}
	l, err := cfg.readLayout(path, id)
	if err != nil {
		return err
	}
	// mdt_hsm_set_released() (mdt_open.c) only adds LOV_PATTERN_F_RELEASED to each
	// component, and the released layout is stored header only (ma_lmm_size =
	// sizeof(*ma->ma_lmm)): the stripe count stays, the objects go. lfs find -O still reads
	// lmm_stripe_count slots (check_obd_match() in liblustreapi_pfind.c), from a buffer
	// that holds whatever it held: the simulator keeps the old OSTs there, so -O may select
	// a released file, and getstripe and %Lo show no objects.
	for i := range l.Components {
		c := &l.Components[i]
		if !strings.Contains(c.Pattern, "released") {
			c.Pattern += ",released"
		}
	}
	l.Gen++
	if err := writeLayout(path, l); err != nil {
		return err
	}
	return writeHSM(path, lfs.HSMState{Flags: lfs.HSExists | lfs.HSArchived | lfs.HSReleased, ArchiveID: archiveID})
}

// MarkBusy makes the simulator treat path as open for write by another client (busy=true)
// or not (busy=false): "lfs migrate -n" then fails with EBUSY, as when the lease is refused.
func MarkBusy(path string, busy bool) error {
	if busy {
		return unix.Lsetxattr(path, xattrBusy, []byte("1"), 0)
	}
	err := unix.Lremovexattr(path, xattrBusy)
	if errors.Is(err, unix.ENODATA) {
		return nil
	}
	return err
}

// Restored reports whether a migration of path triggered an HSM restore, which a drain
// must never do.
func Restored(path string) (bool, error) {
	data, err := getxattr(path, xattrRestored)
	return data != nil, err
}

func isBusy(path string) bool {
	data, _ := getxattr(path, xattrBusy)
	return data != nil
}

// getxattr returns nil, nil when the attribute is absent.
func getxattr(path, name string) ([]byte, error) {
	return readXattr(func(buf []byte) (int, error) { return unix.Lgetxattr(path, name, buf) })
}

// fgetxattr is getxattr on an open file: the inode it names, whatever its path is now.
func fgetxattr(f *os.File, name string) ([]byte, error) {
	return readXattr(func(buf []byte) (int, error) { return unix.Fgetxattr(int(f.Fd()), name, buf) })
}

func readXattr(get func(buf []byte) (int, error)) ([]byte, error) {
	buf := make([]byte, 4096)
	for {
		n, err := get(buf)
		switch {
		case errors.Is(err, unix.ENODATA) || errors.Is(err, unix.EOPNOTSUPP) || errors.Is(err, unix.EPERM):
			return nil, nil
		case errors.Is(err, unix.ERANGE):
			buf = make([]byte, len(buf)*4)
			continue
		case err != nil:
			return nil, err
		}
		return buf[:n], nil
	}
}

// objectID is the simulated FID (sequence, object id) of stripe s of component comp on
// OST ost, printed by getstripe as l_fid. Only its shape matters: OST objects live in the
// sequence 0x1OOOO0000 of their OST.
func objectID(file lfs.FID, gen uint32, comp, s int, ost uint32) (seq, oid uint64) {
	h := fnv.New32a()
	fmt.Fprintf(h, "%v/%d/%d/%d", file, gen, comp, s)
	return 0x100000000 + uint64(ost)<<16, uint64(h.Sum32() & 0xffffff)
}
