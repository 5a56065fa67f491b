package lfssim

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"migrator/lfs"
)

// migrateOpts is a parsed "lfs migrate" command line (OST migration only).
type migrateOpts struct {
	lfs.MigrateOptions
	verbose bool
	null    bool   // -0: read NUL-separated names from stdin
	from    string // --files-from
}

func parseMigrate(args []string) (*migrateOpts, []string, error) {
	o := &migrateOpts{}
	var files []string
	noMore := false
	for i := 0; i < len(args); i++ {
		a := args[i]
		if noMore || !strings.HasPrefix(a, "-") || a == "-" {
			files = append(files, a)
			continue
		}
		if a == "--" {
			noMore = true
			continue
		}
		name, val, hasVal := strings.Cut(strings.TrimLeft(a, "-"), "=")
		if !strings.HasPrefix(a, "--") && len(name) > 1 && !hasVal {
			// Clustered short options ("-nv") or a short option with its value ("-c2").
			if strings.Trim(name, "nbvD0") == "" {
				for _, ch := range name {
					o.flag(ch)
				}
				continue
			}
			name, val, hasVal = name[:1], name[1:], true
		}
		arg := func() (string, error) {
			if hasVal {
				return val, nil
			}
			if i+1 >= len(args) {
				return "", fmt.Errorf("option '%s' requires an argument", a)
			}
			i++
			return args[i], nil
		}
		var err error
		var v string
		switch name {
		case "n", "non-block", "b", "block", "v", "verbose", "D", "non-direct", "0", "null":
			o.flag(longToShort[name])
		case "c", "stripe-count", "stripe_count":
			if v, err = arg(); err == nil {
				o.StripeCount, err = strconv.Atoi(v)
			}
		case "S", "stripe-size", "stripe_size":
			if v, err = arg(); err == nil {
				o.StripeSize, err = parseSize(v)
			}
		case "p", "pool":
			o.Pool, err = arg()
		case "o", "ost", "ost-list":
			if v, err = arg(); err == nil {
				o.OSTs, err = lfs.ParseOSTList(v)
			}
		case "W", "bandwidth-limit", "bandwidth":
			if v, err = arg(); err == nil {
				var bw uint64
				bw, err = parseSize(v)
				o.BandwidthMB = int(max(bw, 1))
			}
		case "files-from":
			o.from, err = arg()
		default:
			return nil, nil, fmt.Errorf("unrecognized option '%s'", a)
		}
		if err != nil {
			return nil, nil, fmt.Errorf("option '%s': %v", a, err)
		}
	}
	return o, files, nil
}

var longToShort = map[string]rune{
	"n": 'n', "non-block": 'n', "b": 'b', "block": 'b', "v": 'v', "verbose": 'v',
	"D": 'D', "non-direct": 'D', "0": '0', "null": '0',
}

func (o *migrateOpts) flag(ch rune) {
	switch ch {
	case 'n':
		o.Block = false
	case 'b':
		o.Block = true
	case 'v':
		o.verbose = true
	case '0':
		o.null = true
	}
}

// parseSize reads "4M", "1048576", "64k" as llapi_parse_size does (bytes by default).
func parseSize(s string) (uint64, error) {
	mult := uint64(1)
	if s != "" {
		switch strings.ToLower(s[len(s)-1:]) {
		case "k":
			mult = 1 << 10
		case "m":
			mult = 1 << 20
		case "g":
			mult = 1 << 30
		case "t":
			mult = 1 << 40
		}
		if mult > 1 {
			s = s[:len(s)-1]
		}
	}
	n, err := strconv.ParseUint(s, 0, 64)
	return n * mult, err
}

// migrateError is a per-file failure: lfs prints "error: lfs migrate: FILE: REASON: STRERROR".
type migrateError struct {
	reason string
	errno  syscall.Errno
}

func (e *migrateError) Error() string { return e.reason + ": " + lfs.Strerror(e.errno) }

func fail(reason string, err error) *migrateError {
	return &migrateError{reason: reason, errno: errnoOf(err)}
}

// runMigrate migrates each file in turn. Failures are reported per file and the run goes
// on; the exit status is the first failure's errno. Without an explicit layout, a file
// whose layout cannot be read aborts the rest, as lfs does.
func runMigrate(cfg *Config, args []string, stdin io.Reader, stdout, stderr *bufio.Writer, prog string) int {
	prog += " migrate"
	o, files, err := parseMigrate(args)
	if err == nil && o.BandwidthMB > 0 && cfg.lacks(lfs.Version.HasMigrateBandwidth) {
		err = errors.New("unrecognized option '--bandwidth'")
	}
	if err != nil {
		fmt.Fprintf(stderr, "%s: %v\n", prog, err)
		return int(syscall.EINVAL)
	}
	if o.null || o.from != "" {
		more, err := readFileList(o, stdin)
		if err != nil {
			fmt.Fprintf(stderr, "%s: failed to read from list file: %v\n", prog, err)
			return int(errnoOf(err))
		}
		files = append(files, more...)
	}
	if len(files) == 0 {
		fmt.Fprintf(stderr, "%s: FILE must be specified\n", prog)
		return int(syscall.EINVAL)
	}
	if cfg.Swap != nil {
		if err := cfg.Swap.before(); err != nil {
			fmt.Fprintf(stderr, "%s: %s: %v\n", prog, EnvSwap, err)
			return int(errnoOf(err))
		}
	}
	rc := 0
	for _, f := range files {
		name, want, err := resolveFID(f)
		if err != nil {
			fmt.Fprintf(stderr, "error: %s: %s: %s\n", prog, f, fail("cannot open source file", err))
			if rc == 0 {
				rc = int(errnoOf(err))
			}
			continue
		}
		if !o.ExplicitLayout() {
			// layout_get_by_name_or_fid() (lfs.c) reads the operand's layout through
			// symbolic links, as every open of lfs migrate does.
			if _, _, err := statIDFollow(name); err != nil {
				fmt.Fprintf(stderr, "%s: can't create composite layout from file %s: %s\n", prog, f, errText(err))
				if rc == 0 {
					rc = int(errnoOf(err))
				}
				return rc
			}
		}
		if merr := migrateFile(cfg, o, name, want); merr != nil {
			fmt.Fprintf(stderr, "error: %s: %s: %s\n", prog, f, merr)
			if rc == 0 {
				rc = int(merr.errno)
			}
			continue
		}
		// lfs_migrate() (lfs.c) names each migrated file with -v from 2.13; 2.12's says nothing.
		if o.verbose && !cfg.lacks(func(v lfs.Version) bool { return v.AtLeast(2, 13) }) {
			fmt.Fprintf(stdout, "%s\n", f)
		}
		stdout.Flush()
	}
	return rc
}

func readFileList(o *migrateOpts, stdin io.Reader) ([]string, error) {
	r := stdin
	if o.from != "" && o.from != "-" {
		f, err := os.Open(o.from)
		if err != nil {
			return nil, err
		}
		defer f.Close()
		r = f
	}
	data, err := io.ReadAll(r)
	if err != nil {
		return nil, err
	}
	sep := "\n"
	if o.null {
		sep = "\x00"
	}
	var files []string
	for _, f := range strings.Split(string(data), sep) {
		if f != "" && !strings.HasPrefix(f, "#") {
			files = append(files, f)
		}
	}
	return files, nil
}

// migrateFile is the simulator's lfs_migrate(): open, lease (non-block), copy every byte to
// a volatile file, check the data version, then swap the layout. The original file's bytes
// are never written, so a crash at any point leaves it intact; only its layout xattr
// changes, in one setxattr on the open inode.
//
// Like migrate_open_files() (lfs.c), which opens the operand with open(name, O_RDWR |
// O_NOATIME | O_DIRECT), it follows symbolic links, in the last component as in any
// directory on the way; everything after the open reads and writes the opened inode (as
// lfs_migrate() reads the layout with llapi_layout_get_by_fd()), so a symlink operand
// migrates (and, released, restores) the file it points to.
//
// want, for a MOUNT/.lustre/fid/FID operand (dotlustre.go), is the FID the opened file must
// have: a name that no longer leads to it fails as a vanished file would (ENOENT).
func migrateFile(cfg *Config, o *migrateOpts, path string, want *lfs.FID) *migrateError {
	// lfs opens the source O_RDWR (needed to swap layouts); we check write permission the
	// same way but read through a read-only descriptor, because a writable descriptor of
	// our own would make the kernel refuse our read lease.
	if err := unix.Faccessat(unix.AT_FDCWD, path, unix.W_OK|unix.R_OK, unix.AT_EACCESS); err != nil {
		return fail("cannot open source file", err)
	}
	src, err := openNoAtime(path)
	if err != nil {
		return fail("cannot open source file", err)
	}
	defer src.Close()
	var st unix.Stat_t
	if err := unix.Fstat(int(src.Fd()), &st); err != nil {
		return fail("cannot stat source file", err)
	}
	if st.Mode&unix.S_IFMT != unix.S_IFREG {
		// A FIFO or device opens, but has no Lustre layout.
		return fail("cannot get MDT index", syscall.ENOTTY)
	}
	if cfg.Latency > 0 {
		time.Sleep(cfg.Latency)
	}
	id, err := fstatID(src)
	if err != nil {
		return fail("cannot get existing layout", err)
	}
	if want != nil && id.FID() != *want {
		return fail("cannot open source file", syscall.ENOENT)
	}
	if err := restoreIfReleased(cfg, src, id); err != nil {
		return fail("cannot restore released file", err)
	}
	if err := unix.Fstat(int(src.Fd()), &st); err != nil { // the restore changed ctime
		return fail("cannot stat source file", err)
	}
	old, err := cfg.readLayoutOf(src, id)
	if err != nil {
		return fail("cannot get existing layout", err)
	}

	if !o.Block {
		if busy, _ := fgetxattr(src, xattrBusy); busy != nil {
			return fail("cannot get lease", syscall.EBUSY)
		}
		if cfg.Lease {
			_, err := unix.FcntlInt(src.Fd(), unix.F_SETLEASE, unix.F_RDLCK)
			switch {
			case errors.Is(err, unix.EAGAIN) || errors.Is(err, unix.EBUSY):
				return fail("cannot get lease", syscall.EBUSY)
			case err == nil:
				defer unix.FcntlInt(src.Fd(), unix.F_SETLEASE, unix.F_UNLCK)
			}
			// Other errors (no CAP_LEASE, unsupported filesystem): carry on without one.
		}
	}

	newLayout, err := chooseLayout(cfg, o, old)
	if err != nil {
		return fail("cannot create volatile file", err)
	}
	if cfg.NoSpace {
		return fail("cannot create volatile file", syscall.ENOSPC)
	}
	vol, err := createVolatile(path)
	if err != nil {
		return fail("cannot create volatile file", err)
	}
	defer func() {
		vol.Close()
		if vol.Name() != "" {
			os.Remove(vol.Name())
		}
	}()
	if cfg.FailEvery > 0 && id.hash()%uint64(cfg.FailEvery) == 0 {
		return fail("data copy failed", cfg.FailErrno)
	}

	dv1 := dataVersion(&st)
	if merr := copyData(cfg, o, src, vol, st.Size); merr != nil {
		return merr
	}
	// No fsync of the copy: lfs migrate writes with O_DIRECT and syncs nothing itself, and
	// the simulator never writes the original, so nothing depends on the copy being durable.
	var st2 unix.Stat_t
	if err := unix.Fstat(int(src.Fd()), &st2); err != nil {
		return fail("cannot get data version", err)
	}
	if dataVersion(&st2) != dv1 {
		if o.Block {
			return fail("file changed", syscall.EAGAIN)
		}
		return fail("source file changed", syscall.EAGAIN)
	}
	if !o.Block && cfg.Lease && leaseBroken(src) {
		return fail("data copy failed", syscall.EBUSY)
	}
	if err := swapLayout(src, newLayout); err != nil {
		return fail("cannot swap layout", err)
	}
	return nil
}

func openNoAtime(path string) (*os.File, error) {
	f, err := os.OpenFile(path, os.O_RDONLY|syscall.O_NOATIME, 0)
	if errors.Is(err, syscall.EPERM) {
		f, err = os.OpenFile(path, os.O_RDONLY, 0)
	}
	return f, err
}

// dataVersion stands in for Lustre's data version: it changes with every write.
type dv struct {
	size         int64
	mtime, ctime unix.Timespec
}

func dataVersion(st *unix.Stat_t) dv { return dv{st.Size, st.Mtim, st.Ctim} }

func leaseBroken(f *os.File) bool {
	t, err := unix.FcntlInt(f.Fd(), unix.F_GETLEASE, 0)
	return err == nil && t != unix.F_RDLCK
}

// createVolatile makes the migration's temporary copy in the file's directory, as lfs
// does: on the same filesystem, so a full target fails here with ENOSPC or EDQUOT. Like
// Lustre's volatile file (llapi_create_volatile_idx: an open, unlinked MDT object), it has
// no name in the directory where the filesystem allows (O_TMPFILE): no readdir sees it, and
// a migrate killed mid-copy leaves nothing behind. Elsewhere it is a file whose name starts
// with VolatilePrefix, which the simulator's own walks skip.
func createVolatile(path string) (*os.File, error) {
	dir := filepath.Dir(path)
	fd, err := unix.Open(dir, unix.O_TMPFILE|unix.O_WRONLY|unix.O_CLOEXEC, 0o600)
	if err == nil {
		return os.NewFile(uintptr(fd), ""), nil // no name: nothing to remove
	}
	if !errors.Is(err, unix.EOPNOTSUPP) && !errors.Is(err, unix.EISDIR) && !errors.Is(err, unix.EINVAL) {
		return nil, err
	}
	for {
		name := filepath.Join(dir, fmt.Sprintf("%s%04X:fd=%d", VolatilePrefix, rand.IntN(1<<16), os.Getpid()))
		f, err := os.OpenFile(name, os.O_WRONLY|os.O_CREATE|os.O_EXCL|syscall.O_NOFOLLOW, 0o600)
		if errors.Is(err, os.ErrExist) {
			continue
		}
		return f, err
	}
}

// copyData copies size bytes. In non-block mode a broken lease (someone opened the file for
// write) aborts the copy, as check_lease does in lfs. With crash injection, the process
// kills itself with SIGKILL halfway through.
func copyData(cfg *Config, o *migrateOpts, src, dst *os.File, size int64) *migrateError {
	crashAt := int64(-1)
	if cfg.CrashProb > 0 && rand.Float64() < cfg.CrashProb {
		crashAt = size / 2
	}
	buf := make([]byte, 1<<20)
	var done int64
	for {
		if crashAt >= 0 && done >= crashAt {
			syscall.Kill(os.Getpid(), syscall.SIGKILL)
			select {} // wait for the signal
		}
		n, err := src.Read(buf)
		if n > 0 {
			if _, werr := dst.Write(buf[:n]); werr != nil {
				return fail("data copy failed", werr)
			}
			done += int64(n)
		}
		if err == io.EOF {
			break
		}
		if err != nil {
			return fail("data copy failed", err)
		}
		if !o.Block && cfg.Lease && leaseBroken(src) {
			return fail("data copy failed", syscall.EBUSY)
		}
	}
	if crashAt >= 0 {
		syscall.Kill(os.Getpid(), syscall.SIGKILL)
		select {}
	}
	return nil
}

// swapLayout is the commit point: one fsetxattr on the open inode, so it applies to the file
// we copied even if its name was changed meanwhile.
func swapLayout(f *os.File, l lfs.Layout) error {
	return unix.Fsetxattr(int(f.Fd()), xattrLayout, encodeLayout(l), 0)
}

// restoreIfReleased does what lfs migrate does to a released file: restore it from the
// archive first. The simulator records that it happened, so tests can prove a drain never
// does this.
func restoreIfReleased(cfg *Config, f *os.File, id fileID) error {
	data, err := fgetxattr(f, xattrHSM)
	if err != nil || data == nil {
		return err
	}
	h, err := hsmFrom(f.Name(), data)
	if err != nil || !h.Released() {
		return err
	}
	if err := unix.Fsetxattr(int(f.Fd()), xattrRestored, []byte("1"), 0); err != nil {
		return err
	}
	h.Flags &^= lfs.HSReleased
	if err := unix.Fsetxattr(int(f.Fd()), xattrHSM, []byte(fmt.Sprintf("%d:%d", h.Flags, h.ArchiveID)), 0); err != nil {
		return err
	}
	restored := cfg.defaultLayout(id)
	if l, err := cfg.readLayoutOf(f, id); err == nil {
		restored.Gen = l.Gen + 1
	}
	return swapLayout(f, restored)
}

// readLayoutOf is readLayout of an open file.
func (c Config) readLayoutOf(f *os.File, id fileID) (lfs.Layout, error) {
	data, err := fgetxattr(f, xattrLayout)
	if err != nil {
		return lfs.Layout{}, err
	}
	return c.layoutFrom(f.Name(), data, id)
}

// chooseLayout is the MDS's part: the layout of the volatile file. With options, a plain
// layout as asked; without, a copy of the current layout whose OSTs are chosen again
// (Lustre 2.16+) or kept (older clients, which is why they need an explicit layout).
func chooseLayout(cfg *Config, o *migrateOpts, old lfs.Layout) (lfs.Layout, error) {
	if o.ExplicitLayout() {
		c := lfs.Component{Flags: "init", End: lfs.EOF, Pattern: "raid0", Pool: o.Pool,
			StripeCount: o.StripeCount, StripeSize: o.StripeSize}
		if c.StripeSize == 0 {
			c.StripeSize = cfg.StripeSize
		}
		if c.StripeCount == 0 {
			c.StripeCount = max(old.Components[0].StripeCount, 1)
		}
		osts, err := placeObjects(cfg, c.StripeCount, o.Pool, o.OSTs)
		if err != nil {
			return lfs.Layout{}, err
		}
		c.OSTs, c.StripeCount = osts, len(osts)
		return lfs.Layout{Gen: old.Gen + 1, MirrorCount: 1, Components: []lfs.Component{c}}, nil
	}
	v, _ := lfs.ParseVersion("lfs " + cfg.Version)
	l := old
	l.Components = append([]lfs.Component(nil), old.Components...)
	l.Gen++
	for i := range l.Components {
		c := &l.Components[i]
		if !c.Init() || strings.Contains(c.Pattern, "released") || strings.Contains(c.Pattern, "mdt") || !v.KeepsLayoutOnPlainMigrate() {
			continue
		}
		osts, err := placeObjects(cfg, max(c.StripeCount, 1), c.Pool, nil)
		if err != nil {
			return lfs.Layout{}, err
		}
		c.OSTs, c.StripeCount = osts, len(osts)
	}
	return l, nil
}

// placeObjects picks count OSTs: the given list, or consecutive OSTs (from a random start)
// among those where objects may be created. count -1 means all of them.
func placeObjects(cfg *Config, count int, pool string, exact lfs.OSTList) ([]uint32, error) {
	if len(exact) > 0 {
		for _, i := range exact {
			if int(i) >= cfg.OSTCount {
				return nil, syscall.EINVAL
			}
		}
		if count <= 0 || count > len(exact) {
			count = len(exact)
		}
		return append([]uint32(nil), exact[:count]...), nil
	}
	cands, err := cfg.candidates(pool)
	if err != nil {
		return nil, syscall.EINVAL
	}
	if len(cands) == 0 {
		return nil, syscall.ENOSPC
	}
	if count < 0 || count > len(cands) {
		count = len(cands)
	}
	start := rand.IntN(len(cands))
	osts := make([]uint32, count)
	for i := range osts {
		osts[i] = cands[(start+i)%len(cands)]
	}
	return osts, nil
}
