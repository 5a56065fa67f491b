package lfssim

import (
	"bufio"
	"fmt"
	"os"
	"strconv"
	"strings"
	"syscall"

	"golang.org/x/sys/unix"

	"migrator/lfs"
)

// runFID2Path is "lfs fid2path [--print0|-0] [--print-fid|-f] [--print-link|-c]
// [--link|-l N] ROOT FID...", after lustre/utils/lfs.c's lfs_fid2path: every name of each
// FID, in argument order, as MOUNT/RELATIVE-PATH; an unknown FID is "cannot find ROOT
// FID: No such file or directory" on stderr, and the exit status is the first failure's
// errno.
//
// Like lfs before 2.16 (LU-16605), an older simulated version refuses --print0.
//
// The simulator has no mount points: the "filesystem" is the tree under LFS_SIM_MOUNT
// when ROOT is inside it, else the tree under ROOT itself. Names are found by walking it
// (a FID names its inode), in directory order; Lustre lists them in link-EA order.
func runFID2Path(cfg *Config, args []string, out, stderr *bufio.Writer, prog string) int {
	var sep byte = '\n'
	printFID, printLink := false, false
	linkno := -1
	var ops []string
	for i := 0; i < len(args); i++ {
		a := args[i]
		switch {
		case (a == "-0" || a == "--print0") && !cfg.lacks(lfs.Version.HasFIDToPathPrint0):
			sep = 0
		case a == "-f" || a == "--print-fid":
			printFID = true
		case a == "-c" || a == "--print-link" || a == "--cur" || a == "--current":
			printLink = true
		case a == "-l" || a == "--link" || strings.HasPrefix(a, "--link="):
			v, ok := strings.CutPrefix(a, "--link=")
			if !ok {
				if i+1 == len(args) {
					fmt.Fprintf(stderr, "%s fid2path: option requires an argument -- 'l'\n", prog)
					return int(syscall.EINVAL)
				}
				i++
				v = args[i]
			}
			n, err := strconv.Atoi(v)
			if err != nil || n < 0 {
				fmt.Fprintf(stderr, "%s fid2path: invalid linkno '%s'\n", prog, v)
				return int(syscall.EINVAL)
			}
			linkno = n
		case len(a) > 1 && a[0] == '-' && len(ops) == 0:
			fmt.Fprintf(stderr, "%s fid2path: unrecognized option '%s'\n", prog, a)
			return int(syscall.EINVAL)
		default:
			ops = append(ops, a)
		}
	}
	if len(ops) < 2 {
		fmt.Fprintf(stderr, "Usage: %s fid2path FSNAME|ROOT FID...\n", prog)
		return int(syscall.EINVAL)
	}
	root := ops[0]
	mount := ""
	switch {
	case strings.HasPrefix(root, "/") && cfg.Mount != "" && within(root, cfg.Mount):
		mount = cfg.Mount
	case strings.HasPrefix(root, "/"):
		mount = root
	case root == cfg.FSName && cfg.Mount != "":
		mount = cfg.Mount
	}
	if st, err := os.Stat(mount); mount == "" || err != nil || !st.IsDir() {
		e := syscall.ENODEV
		if err != nil && mount != "" {
			e = errnoOf(err)
		}
		fmt.Fprintf(stderr, "%s fid2path: cannot resolve mount point for '%s': %s\n", prog, root, lfs.Strerror(e))
		return int(e)
	}
	mount = strings.TrimRight(mount, "/")
	var fids []lfs.FID
	rc := 0
	valid := make([]bool, len(ops)-1)
	for i, s := range ops[1:] {
		f, err := lfs.ParseFID(s)
		if err == nil {
			fids, valid[i] = append(fids, f), true
		}
	}
	names := namesOf(mount, fids)
	for i, s := range ops[1:] {
		if !valid[i] {
			fmt.Fprintf(stderr, "%s fid2path: invalid FID '%s'\n", prog, s)
			if rc == 0 {
				rc = int(syscall.EINVAL)
			}
			continue
		}
		f, _ := lfs.ParseFID(s)
		ns := names[f]
		if linkno >= 0 && linkno < len(ns) {
			ns = ns[linkno : linkno+1]
		}
		if len(ns) == 0 {
			fmt.Fprintf(stderr, "%s fid2path: cannot find %s %s: %s\n", prog, root, s, lfs.Strerror(syscall.ENOENT))
			if rc == 0 {
				rc = int(syscall.ENOENT)
			}
			continue
		}
		for k, n := range ns {
			if printFID {
				fmt.Fprintf(out, "%s ", s)
			}
			if printLink {
				fmt.Fprintf(out, "%d ", max(linkno, 0)+k)
			}
			fmt.Fprintf(out, "%s/%s%c", mount, n, sep)
		}
	}
	return rc
}

// within reports whether path is dir or below it.
func within(path, dir string) bool {
	dir = strings.TrimRight(dir, "/")
	return path == dir || strings.HasPrefix(path, dir+"/")
}

// namesOf walks the tree under mount once and returns every name (relative to mount) of
// each FID asked for.
func namesOf(mount string, fids []lfs.FID) map[lfs.FID][]string {
	names := map[lfs.FID][]string{}
	if len(fids) == 0 {
		return names
	}
	want := map[uint32][]lfs.FID{}
	for _, f := range fids {
		want[f.Oid] = append(want[f.Oid], f)
	}
	var walk func(dir, rel string)
	walk = func(dir, rel string) {
		ents, err := os.ReadDir(dir)
		if err != nil {
			return
		}
		for _, de := range ents {
			if strings.HasPrefix(de.Name(), VolatilePrefix) || rel == "" && de.Name() == ".lustre" {
				continue // Lustre hides .lustre from readdir of the root
			}
			p, r := dir+"/"+de.Name(), de.Name()
			if rel != "" {
				r = rel + "/" + de.Name()
			}
			id, st, err := statID(p)
			if err != nil {
				continue
			}
			if cands, ok := want[uint32(id.ino)]; ok {
				fid := id.FID()
				for _, c := range cands {
					if c == fid {
						names[fid] = append(names[fid], r)
					}
				}
			}
			if st.Mode&unix.S_IFMT == unix.S_IFDIR {
				walk(p, r)
			}
		}
	}
	walk(mount, "")
	return names
}
