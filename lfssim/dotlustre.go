package lfssim

import (
	"os"
	"strings"
	"syscall"

	"migrator/lfs"
)

// Lustre names every file of a filesystem by FID under MOUNT/.lustre/fid/ (obf_lookup()
// in mdd_device.c takes "[SEQ:OID:VER]" or "SEQ:OID:VER"); an open there opens that file
// whatever its names are (MDS_OPEN_BY_FID, ll_lookup_it() in namei.c), and since MDS
// 2.12.3 and 2.13 (LU-12516, mdd_obf_create()) a volatile file may be created there, so
// lfs migrate works on such a path. The simulator has no such directory: a tree whose root holds a real
// directory .lustre/fid (empty, made by a test or an admin rehearsing) is one where these
// paths are understood by migrate and hsm_state, found by walking the tree (namesOf).
const dotLustreFID = "/.lustre/fid/"

// fidOperand splits MOUNT/.lustre/fid/FID; ok is false for any other path.
func fidOperand(path string) (mount string, fid lfs.FID, ok bool) {
	i := strings.LastIndex(path, dotLustreFID)
	if i < 0 {
		return "", lfs.FID{}, false
	}
	f, err := lfs.ParseFID(path[i+len(dotLustreFID):])
	if err != nil {
		return "", lfs.FID{}, false
	}
	if st, err := os.Stat(path[:i] + "/.lustre/fid"); err != nil || !st.IsDir() {
		return "", lfs.FID{}, false
	}
	return path[:i], f, true
}

// resolveFID returns a name of the file path names by FID (path itself when it is not a
// .lustre/fid path), and the FID the opened file must have (nil when any will do): the
// caller opens the name and checks, so that, as on Lustre, only that file is ever opened.
func resolveFID(path string) (string, *lfs.FID, error) {
	mount, fid, ok := fidOperand(path)
	if !ok {
		return path, nil, nil
	}
	names := namesOf(mount, []lfs.FID{fid})[fid]
	if len(names) == 0 {
		return "", nil, syscall.ENOENT
	}
	return mount + "/" + names[0], &fid, nil
}
