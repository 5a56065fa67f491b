package lfssim

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"

	"golang.org/x/sys/unix"

	"migrator/lfs"
)

// Run executes one lfs command line (args[0] is the program name) and returns the exit
// status, as the lfs binary would: 0, or the errno of the first failure.
func Run(args []string, getenv func(string) string, stdin io.Reader, stdout, stderr io.Writer) int {
	prog := filepath.Base(args[0])
	out := bufio.NewWriterSize(stdout, 64<<10)
	errw := bufio.NewWriter(stderr)
	defer out.Flush()
	defer errw.Flush()
	if len(args) < 2 {
		fmt.Fprintf(errw, "usage: %s COMMAND [ARGS]\n", prog)
		return int(syscall.EINVAL)
	}
	cfg, err := ConfigFromEnv(getenv)
	if err != nil {
		fmt.Fprintf(errw, "%s: simulator configuration: %v\n", prog, err)
		return int(syscall.EINVAL)
	}
	cmd, rest := args[1], args[2:]
	switch cmd {
	case "--version", "version":
		fmt.Fprintf(out, "%s %s\n", prog, cfg.Version)
		return 0
	case "find":
		return runFind(&cfg, rest, out, errw, prog)
	case "migrate":
		return runMigrate(&cfg, rest, stdin, out, errw, prog)
	case "getstripe":
		return runGetstripe(&cfg, rest, out, errw, prog)
	case "path2fid":
		return runPath2FID(rest, out, errw, prog)
	case "fid2path":
		return runFID2Path(&cfg, rest, out, errw, prog)
	case "hsm_state":
		return runHSMState(&cfg, rest, out, errw, prog)
	case "hsm_set", "hsm_clear":
		return runHSMChange(cmd == "hsm_set", rest, errw, prog)
	case "hsm_release":
		return eachFile(rest, errw, prog, cmd, func(f string) error {
			h, err := readHSM(f)
			if err != nil {
				return err
			}
			if h.Flags&lfs.HSArchived == 0 || h.Flags&lfs.HSDirty != 0 {
				return syscall.EPERM
			}
			return Release(cfg, f, h.ArchiveID)
		})
	case "setstripe":
		return runSetstripe(&cfg, rest, errw, prog)
	case "df":
		return runDF(&cfg, rest, out, errw, prog)
	case "pool_list":
		return runPoolList(&cfg, rest, out, errw, prog)
	case "sim-mktree":
		return runMkTree(&cfg, rest, out, errw)
	}
	fmt.Fprintf(errw, "%s: unknown command '%s'\n", prog, cmd)
	return int(syscall.EINVAL)
}

// eachFile runs fn on every file, reporting failures as lfs does, and returns the first errno.
func eachFile(files []string, stderr *bufio.Writer, prog, cmd string, fn func(string) error) int {
	rc := 0
	for _, f := range files {
		if err := fn(f); err != nil {
			fmt.Fprintf(stderr, "%s %s: '%s': %s\n", prog, cmd, f, errText(err))
			if rc == 0 {
				rc = int(errnoOf(err))
			}
		}
	}
	return rc
}

func runGetstripe(cfg *Config, args []string, out, stderr *bufio.Writer, prog string) int {
	yaml := false
	var only string
	var files []string
	for _, a := range args {
		switch a {
		case "-y", "--yaml":
			yaml = true
		case "-i", "--stripe-index", "-c", "--stripe-count", "-S", "--stripe-size",
			"-p", "--pool", "-F", "--fid", "-L", "--layout":
			only = a
		case "-d", "--directory", "-v", "--verbose", "-q", "--quiet":
		default:
			if strings.HasPrefix(a, "-") {
				fmt.Fprintf(stderr, "%s getstripe: unrecognized option '%s'\n", prog, a)
				return int(syscall.EINVAL)
			}
			files = append(files, a)
		}
	}
	if len(files) == 0 {
		fmt.Fprintf(stderr, "error: getstripe: no filename|pathname\n")
		return int(syscall.EINVAL)
	}
	rc := 0
	for _, f := range files {
		id, st, err := statID(f)
		var l lfs.Layout
		if err == nil && st.Mode&unix.S_IFMT != unix.S_IFREG {
			err = syscall.ENODATA
		}
		if err == nil {
			l, err = cfg.readLayout(f, id)
		}
		if err != nil {
			fmt.Fprintf(stderr, "%s getstripe: getstripe for '%s' failed: %s\n", prog, f, errText(err))
			if rc == 0 {
				rc = int(errnoOf(err))
			}
			continue
		}
		fid := id.FID()
		switch {
		case only != "":
			printField(out, only, l, fid)
		case yaml:
			writeYAML(out, l, fid)
		default:
			writePlain(out, f, l, fid)
		}
	}
	return rc
}

func printField(w io.Writer, opt string, l lfs.Layout, fid lfs.FID) {
	c := l.Components[len(l.Components)-1]
	switch opt {
	case "-i", "--stripe-index":
		off := 0
		if len(c.OSTs) > 0 {
			off = int(c.OSTs[0]) // only the first object's OST, as real lfs prints
		}
		fmt.Fprintf(w, "%d\n", off)
	case "-c", "--stripe-count":
		fmt.Fprintf(w, "%d\n", c.StripeCount)
	case "-S", "--stripe-size":
		fmt.Fprintf(w, "%d\n", c.StripeSize)
	case "-p", "--pool":
		fmt.Fprintf(w, "%s\n", c.Pool)
	case "-F", "--fid":
		fmt.Fprintf(w, "%s\n", fid)
	case "-L", "--layout":
		fmt.Fprintf(w, "%s\n", c.Pattern)
	}
}

func runPath2FID(files []string, out, stderr *bufio.Writer, prog string) int {
	if len(files) == 0 {
		fmt.Fprintf(stderr, "%s path2fid: FILE... must be specified\n", prog)
		return int(syscall.EINVAL)
	}
	rc := 0
	for _, f := range files {
		fid, err := FIDOf(f)
		if err != nil {
			fmt.Fprintf(stderr, "%s path2fid: cannot get fid for '%s': %s\n", prog, f, errText(err))
			if rc == 0 {
				rc = int(errnoOf(err))
			}
			continue
		}
		if len(files) > 1 {
			fmt.Fprintf(out, "%s: %s\n", f, fid)
		} else {
			fmt.Fprintf(out, "%s\n", fid)
		}
	}
	return rc
}

// runHSMState is lfs_hsm_state() (lfs.c). Before 2.16 it stops at the first file it fails
// on ("can't get hsm state for FILE: STRERROR", exit with that errno), printing nothing for
// the files after it; from 2.16 it goes on past failures.
func runHSMState(cfg *Config, files []string, out, stderr *bufio.Writer, prog string) int {
	stops := cfg.lacks(func(v lfs.Version) bool { return v.AtLeast(2, 16) })
	rc := 0
	for _, f := range files {
		name, want, err := resolveFID(f)
		var h lfs.HSMState
		if err == nil {
			var id fileID
			if id, _, err = statID(name); err == nil && want != nil && id.FID() != *want {
				err = syscall.ENOENT
			}
		}
		if err == nil {
			h, err = readHSM(name)
		}
		if err != nil && stops {
			fmt.Fprintf(stderr, "can't get hsm state for %s: %s\n", f, errText(err))
			return int(errnoOf(err))
		}
		if err != nil {
			fmt.Fprintf(stderr, "%s hsm_state: get HSM state for '%s' failed: %s\n", prog, f, errText(err))
			if rc == 0 {
				rc = int(errnoOf(err))
			}
			continue
		}
		fmt.Fprintf(out, "%s: %s\n", f, h)
	}
	return rc
}

func runHSMChange(set bool, args []string, stderr *bufio.Writer, prog string) int {
	var mask uint32
	var archiveID uint32
	var files []string
	flags := map[string]uint32{"-e": lfs.HSExists, "--exists": lfs.HSExists, "-A": lfs.HSArchived,
		"--archived": lfs.HSArchived, "-d": lfs.HSDirty, "--dirty": lfs.HSDirty,
		"-r": lfs.HSNoRelease, "--norelease": lfs.HSNoRelease, "-a": lfs.HSNoArchive,
		"--noarchive": lfs.HSNoArchive, "-l": lfs.HSLost, "--lost": lfs.HSLost}
	for i := 0; i < len(args); i++ {
		a := args[i]
		if f, ok := flags[a]; ok {
			mask |= f
			continue
		}
		if a == "-i" || a == "--archive-id" {
			if i+1 == len(args) {
				fmt.Fprintf(stderr, "%s: %s needs a value\n", prog, a)
				return int(syscall.EINVAL)
			}
			i++
			n, err := strconv.ParseUint(args[i], 10, 32)
			if err != nil {
				fmt.Fprintf(stderr, "%s: bad archive id %q\n", prog, args[i])
				return int(syscall.EINVAL)
			}
			archiveID = uint32(n)
			continue
		}
		files = append(files, a)
	}
	cmd := "hsm_clear"
	if set {
		cmd = "hsm_set"
	}
	return eachFile(files, stderr, prog, cmd, func(f string) error {
		h, err := readHSM(f)
		if err != nil {
			return err
		}
		if set {
			h.Flags |= mask
			if archiveID != 0 {
				h.ArchiveID = archiveID
			}
		} else {
			h.Flags &^= mask
		}
		return writeHSM(f, h)
	})
}

// runSetstripe creates empty files with a layout: "-c N -S SIZE -i IDX -o LIST -p POOL",
// and "-E END" to start each component of a composite (PFL) layout. Every component is
// instantiated at once (real Lustre instantiates them as the file grows).
func runSetstripe(cfg *Config, args []string, stderr *bufio.Writer, prog string) int {
	type spec struct {
		count, index int
		size         uint64
		pool         string
		osts         lfs.OSTList
		end          uint64
		hasEnd       bool
	}
	specs := []spec{{index: -1}}
	var files []string
	for i := 0; i < len(args); i++ {
		a := args[i]
		if !strings.HasPrefix(a, "-") {
			files = append(files, a)
			continue
		}
		if i+1 == len(args) {
			fmt.Fprintf(stderr, "%s setstripe: option '%s' needs a value\n", prog, a)
			return int(syscall.EINVAL)
		}
		i++
		v := args[i]
		cur := &specs[len(specs)-1]
		var err error
		switch a {
		case "-E", "--component-end", "--comp-end":
			if cur.hasEnd {
				specs = append(specs, spec{index: -1})
				cur = &specs[len(specs)-1]
			}
			cur.hasEnd = true
			if v == "-1" || strings.EqualFold(v, "eof") {
				cur.end = lfs.EOF
			} else {
				cur.end, err = parseSize(v)
			}
		case "-c", "--stripe-count":
			cur.count, err = strconv.Atoi(v)
		case "-S", "--stripe-size":
			cur.size, err = parseSize(v)
		case "-i", "--stripe-index":
			cur.index, err = strconv.Atoi(v)
		case "-p", "--pool":
			cur.pool = v
		case "-o", "--ost":
			cur.osts, err = lfs.ParseOSTList(v)
		default:
			err = errors.New("unrecognized option")
		}
		if err != nil {
			fmt.Fprintf(stderr, "%s setstripe: bad option '%s %s': %v\n", prog, a, v, err)
			return int(syscall.EINVAL)
		}
	}
	composite := specs[0].hasEnd
	var l lfs.Layout
	l.Composite, l.MirrorCount = composite, 1
	start := uint64(0)
	for i, s := range specs {
		count := s.count
		if count == 0 {
			count = 1
		}
		var osts []uint32
		var err error
		switch {
		case len(s.osts) > 0:
			osts, err = placeObjects(cfg, count, "", s.osts)
		case s.index >= 0:
			for j := 0; j < max(count, 1); j++ {
				osts = append(osts, uint32((s.index+j)%cfg.OSTCount))
			}
		default:
			osts, err = placeObjects(cfg, count, s.pool, nil)
		}
		if err != nil {
			fmt.Fprintf(stderr, "%s setstripe: cannot create file: %s\n", prog, errText(err))
			return int(errnoOf(err))
		}
		c := lfs.Component{Flags: "init", Start: start, End: lfs.EOF, StripeCount: len(osts),
			StripeSize: s.size, Pattern: "raid0", Pool: s.pool, OSTs: osts}
		if c.StripeSize == 0 {
			c.StripeSize = cfg.StripeSize
		}
		if composite {
			c.ID = uint32(i + 1)
			c.End = s.end
			start = s.end
		}
		l.Components = append(l.Components, c)
	}
	return eachFile(files, stderr, prog, "setstripe", func(f string) error {
		fd, err := unix.Open(f, unix.O_WRONLY|unix.O_CREAT|unix.O_EXCL|unix.O_NOFOLLOW, 0o644)
		if err != nil {
			return err
		}
		unix.Close(fd)
		return writeLayout(f, l)
	})
}

// runDF prints "lfs df PATH": the space of the filesystem under PATH, split evenly among the
// simulated OSTs (or as LFS_SIM_AVAIL_KB says).
func runDF(cfg *Config, args []string, out, stderr *bufio.Writer, prog string) int {
	path := "."
	inodes := false
	for _, a := range args {
		if a == "-i" || a == "--inodes" {
			inodes = true
		} else if !strings.HasPrefix(a, "-") {
			path = a
		}
	}
	var sfs unix.Statfs_t
	if err := unix.Statfs(path, &sfs); err != nil {
		fmt.Fprintf(stderr, "%s df: cannot open '%s': %s\n", prog, path, errText(err))
		return int(errnoOf(err))
	}
	if inodes {
		return dfInodes(cfg, path, &sfs, out)
	}
	bs := uint64(sfs.Bsize) / 1024
	total := sfs.Blocks * bs / uint64(cfg.OSTCount)
	avail := sfs.Bavail * bs / uint64(cfg.OSTCount)
	fmt.Fprintf(out, "%-20s %11s %11s %11s %4s %s\n", "UUID", "1K-blocks", "Used", "Available", "Use%", "Mounted on")
	line := func(uuid string, t, a uint64, where string) {
		used := t - min(a, t)
		pct := 0
		if t > 0 {
			pct = int((used*100 + t - 1) / t)
		}
		fmt.Fprintf(out, "%-20s %11d %11d %11d %3d%% %s\n", uuid, t, used, a, pct, where)
	}
	line(cfg.FSName+"-MDT0000_UUID", total, avail, path+"[MDT:0]")
	var sumT, sumA uint64
	for i := 0; i < cfg.OSTCount; i++ {
		a := avail
		if v, ok := cfg.AvailKB[uint32(i)]; ok {
			a = v
		}
		t := max(total, a)
		sumT += t
		sumA += a
		line(lfs.OSTName(cfg.FSName, uint32(i))+"_UUID", t, a, fmt.Sprintf("%s[OST:%d]", path, i))
	}
	fmt.Fprintln(out)
	line("filesystem_summary:", sumT, sumA, path)
	fmt.Fprintln(out)
	return 0
}

// dfInodes prints "lfs df -i PATH": the filesystem's inodes split evenly among the MDT and
// the simulated OSTs (the simulator has no objects to count).
func dfInodes(cfg *Config, path string, sfs *unix.Statfs_t, out *bufio.Writer) int {
	n := uint64(cfg.OSTCount)
	total, free := sfs.Files/n, sfs.Ffree/n
	fmt.Fprintf(out, "%-20s %11s %11s %11s %4s %s\n", "UUID", "Inodes", "IUsed", "IFree", "IUse%", "Mounted on")
	line := func(uuid, where string) {
		used := total - min(free, total)
		pct := 0
		if total > 0 {
			pct = int((used*100 + total - 1) / total)
		}
		fmt.Fprintf(out, "%-20s %11d %11d %11d %3d%% %s\n", uuid, total, used, free, pct, where)
	}
	line(cfg.FSName+"-MDT0000_UUID", path+"[MDT:0]")
	for i := 0; i < cfg.OSTCount; i++ {
		line(lfs.OSTName(cfg.FSName, uint32(i))+"_UUID", fmt.Sprintf("%s[OST:%d]", path, i))
	}
	fmt.Fprintln(out)
	return 0
}
