package migrate

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"

	"golang.org/x/sys/unix"

	"migrator/campaign"
	"migrator/checkpoint"
	"migrator/lfs"
)

// Binding the migration to the checked file (see "Trust model" in the README).
//
// lfs migrate opens its operand by name with open(name, O_RDWR | O_NOATIME | O_DIRECT),
// following symbolic links, and creates its volatile file in dirname(name)
// (migrate_open_files() in lfs.c). The check of a batch and the lfs migrate of one of its
// files can be minutes apart, so right before each lfs migrate call the engine binds
// every file of the call again:
//
//  1. walk its path from / one component at a time with O_PATH|O_NOFOLLOW (no symbolic
//     link anywhere, every directory a directory, the last a regular file), the scan
//     path's own symbolic links (the admin's) resolved once when the task starts;
//  2. read its FID again and its HSM state (lfs hsm_state, one call for all the calls
//     that start together, callgroup.go): the checked FID, and not released. On a Lustre
//     client the FID comes from the walked descriptor's file handle (lfs.FIDOfFD, no
//     exec); elsewhere (the simulator) from lfs path2fid, one call for the group;
//  3. walk it again: the same inode (device and inode number) as the first walk.
//
// lfs migrate is then given the walked path, which has no symbolic link in it. A swap
// found by any of these steps, or by the verification after the migration (the path names
// another FID, or a component became a symbolic link), is recorded as failed with class
// swapped: an alarm, never a skip. What remains is the time from the second walk to lfs's
// own open(): the second walks of the other calls of its group, the one fsync of their
// attempt records, and one fork and exec.

// walked is a path's identity as a walk found it.
type walked struct {
	dev, ino uint64
	fid      lfs.FID // from the file handle of the last component (lfs.FIDOfFD), if hasFID
	hasFID   bool
}

// errSwapped says a walk met a symbolic link, or something that is not a directory
// where a directory was, or a last component that is not a regular file.
var errSwapped = errors.New("swapped")

// walkNoFollow opens every component of path (absolute) with O_PATH|O_NOFOLLOW and
// returns the last one's identity. A component that is gone is an error IsGone accepts; a
// symbolic link, a non-directory in the middle or a last component that is not a regular
// file is errSwapped (wrapped with what was found where).
func walkNoFollow(path string) (walked, error) {
	if !strings.HasPrefix(path, "/") {
		return walked{}, fmt.Errorf("%w: %q is not absolute", errSwapped, path)
	}
	dir, err := unix.Open("/", unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return walked{}, err
	}
	defer func() { unix.Close(dir) }()
	comps := strings.Split(strings.Trim(path, "/"), "/")
	at := ""
	for i, c := range comps {
		if c == "" || c == "." {
			continue
		}
		if c == ".." {
			return walked{}, fmt.Errorf("%w: %q has a .. component", errSwapped, path)
		}
		at += "/" + c
		fd, err := unix.Openat(dir, c, unix.O_PATH|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
		if err != nil {
			return walked{}, &lfs.FileError{Path: at, Errno: errnoOf(err)}
		}
		unix.Close(dir)
		dir = fd
		var st unix.Stat_t
		if err := unix.Fstat(fd, &st); err != nil {
			return walked{}, err
		}
		last := i == len(comps)-1
		switch t := st.Mode & unix.S_IFMT; {
		case t == unix.S_IFLNK:
			return walked{}, fmt.Errorf("%w: %q is a symbolic link", errSwapped, at)
		case !last && t != unix.S_IFDIR:
			return walked{}, fmt.Errorf("%w: %q is not a directory", errSwapped, at)
		case last && t != unix.S_IFREG:
			return walked{}, fmt.Errorf("%w: %q is not a regular file", errSwapped, at)
		case last:
			w := walked{dev: st.Dev, ino: st.Ino}
			w.fid, w.hasFID = lfs.FIDOfFD(fd)
			return w, nil
		}
	}
	return walked{}, fmt.Errorf("%w: %q names no file", errSwapped, path)
}

func errnoOf(err error) syscall.Errno {
	var e syscall.Errno
	if errors.As(err, &e) {
		return e
	}
	return syscall.EIO
}

// realPath is path with the scan path it is under replaced by that scan path with its
// symbolic links resolved (as the task found it when it started): the path walked and
// given to lfs migrate.
func (t *task) realPath(path string) string {
	for i, s := range t.o.Selection.ScanPaths {
		if r := t.real.ScanPaths[i]; r != s && campaign.Under(path, string(s)) {
			return string(r) + path[len(strings.TrimRight(string(s), "/")):]
		}
	}
	return path
}

// swapped records an item as a swap: failed, class swapped, not retryable, and reported
// through Options.OnSwap.
func (t *task) swapped(it *item, msg string) {
	t.st.Swapped.Add(1)
	if t.o.OnSwap != nil {
		t.o.OnSwap(it.e.Path, msg)
	}
	t.record(it, checkpoint.Record{Outcome: checkpoint.Failed, Class: lfs.ClassSwapped, Message: msg})
}

// bind checks the files of one lfs migrate call again, right before it (see above), and
// returns those that may be migrated, with it.op set to the walked path. The others are
// recorded (swapped, released, failed) or put back to be looked for by FID (gone).
// bound is a file bind walked once.
type bound struct {
	it *item
	w  walked
}

// fidsOf is the FID each walked path names: from the walk's file handle where it had a
// Lustre one, from one lfs path2fid for the others.
func (t *task) fidsOf(ps []string, ws []bound) ([]lfs.FIDResult, error) {
	out := make([]lfs.FIDResult, len(ps))
	var ask []string
	var at []int
	for i, x := range ws {
		if x.w.hasFID {
			out[i].FID = x.w.fid
			continue
		}
		ask = append(ask, ps[i])
		at = append(at, i)
	}
	if len(ask) == 0 {
		return out, nil
	}
	t.st.LFSCalls.Add(1)
	res, err := t.l.PathToFID(t.kill, ask)
	if err != nil {
		return nil, err
	}
	for k, i := range at {
		out[i] = res[k]
	}
	return out, nil
}

func (t *task) bind(b []*item) []*item {
	if !t.owns() { // bind records outcomes: only the shard's owner may (guard.go)
		t.drop(b...)
		return nil
	}
	var ok []bound
	for _, it := range b {
		op := t.realPath(it.e.Path)
		if !t.inScope(op) {
			t.swapped(it, fmt.Sprintf("right before lfs migrate: %q is not inside a scan path and outside the excludes", op))
			continue
		}
		w, err := walkNoFollow(op)
		switch {
		case errors.Is(err, errSwapped):
			t.swapped(it, "right before lfs migrate: "+err.Error())
		case lfs.IsGone(err):
			t.goneAtBind(it)
		case err != nil:
			t.recordErr(it, "walk", err)
		default:
			it.op = op
			ok = append(ok, bound{it, w})
		}
	}
	if len(ok) == 0 {
		return nil
	}
	ps := make([]string, len(ok))
	args := make([]string, len(ok))
	for i, x := range ok {
		ps[i] = x.it.op
		x.it.arg = x.it.op
		if t.o.FIDRoot != "" {
			x.it.arg = FIDPath(t.o.FIDRoot, x.it.e.FID)
		}
		args[i] = x.it.arg
	}
	fids, err := t.fidsOf(ps, ok)
	var hs []lfs.HSMResult
	if err == nil {
		t.st.LFSCalls.Add(1)
		hs, err = t.l.HSMStates(t.kill, args) // of the very file lfs migrate will open
	}
	if err != nil {
		t.lfsFailed(err)
		for _, x := range ok {
			t.drop(x.it)
		}
		return nil
	}
	var out []*item
	for i, x := range ok {
		it := x.it
		w2, werr := walkNoFollow(it.op)
		switch {
		case errors.Is(werr, errSwapped):
			t.swapped(it, "right before lfs migrate: "+werr.Error())
		case werr == nil && (w2.dev != x.w.dev || w2.ino != x.w.ino || w2.hasFID && w2.fid != x.w.fid):
			t.swapped(it, fmt.Sprintf("right before lfs migrate: %q named another inode between two walks", it.op))
		case fids[i].Err == nil && fids[i].FID != it.e.FID:
			t.swapped(it, fmt.Sprintf("right before lfs migrate: %q names %v, not the checked %v", it.op, fids[i].FID, it.e.FID))
		case lfs.IsGone(werr) || lfs.IsGone(fids[i].Err) || lfs.IsGone(hs[i].Err):
			t.goneAtBind(it)
		case werr != nil:
			t.recordErr(it, "walk", werr)
		case fids[i].Err != nil:
			t.recordErr(it, "lfs path2fid", fids[i].Err)
		case hs[i].Err != nil:
			t.recordErr(it, "lfs hsm_state", hs[i].Err) // not known not to be released: never attempted
		case hs[i].State.Released():
			t.record(it, skip(checkpoint.SkipReleased)) // released since the check: never restored
		default:
			out = append(out, it)
		}
	}
	return out
}

// goneAtBind puts back a file whose path was gone right before its lfs migrate call
// (renamed or removed): the check looks for it by FID. A path that is there at every check
// and gone at every bind is failed (retryable) after maxMoves, not chased forever.
func (t *task) goneAtBind(it *item) {
	if it.moves++; it.moves > maxMoves {
		t.record(it, checkpoint.Record{Outcome: checkpoint.Failed, Class: lfs.ClassRetryLater, Retryable: true,
			Message: fmt.Sprintf("its path was gone right before lfs migrate %d times", it.moves)})
		return
	}
	t.requeue(it)
}

// FIDPath is the name of the file fid under the filesystem mounted at root, by FID.
func FIDPath(root string, fid lfs.FID) string {
	return strings.TrimRight(root, "/") + "/.lustre/fid/" + fid.String()
}

// FIDRootOf finds the mount point whose .lustre/fid names files by FID: the nearest
// ancestor of the first scan path (itself included, symbolic links resolved) that holds a
// directory .lustre/fid. On Lustre that is the client's mount point (.lustre is looked up
// at the root even though readdir hides it); a subdirectory mount (fileset) has none, and
// then "" is returned, with why, and lfs migrate is given walked paths. lfs migrate works
// there from MDS 2.12.3 and 2.13 (LU-12516: mdd_obf_create() lets the volatile file be
// created in .lustre/fid). A nodemap without the byfid_ops role makes every open under
// .lustre/fid fail with EPERM (mdt_open.c checks uc_rbac_byfid_ops): on a Lustre client the
// scan path is opened there once, by its FID, and a failure also means "".
func FIDRootOf(sel campaign.Selection) (root, why string) {
	if len(sel.ScanPaths) == 0 {
		return "", "no scan path"
	}
	scan := string(sel.Resolved().ScanPaths[0])
	p := scan
	for {
		if st, err := os.Stat(p + "/.lustre/fid"); err == nil && st.IsDir() {
			break
		}
		if p == "/" || p == "." || p == "" {
			return "", "no .lustre/fid above " + strconv.Quote(scan) + " (a subdirectory mount?)"
		}
		p = filepath.Dir(p)
	}
	fd, err := unix.Open(scan, unix.O_PATH|unix.O_CLOEXEC, 0)
	if err != nil {
		return "", fmt.Sprintf("open %q: %v", scan, err)
	}
	fid, lustre := lfs.FIDOfFD(fd)
	unix.Close(fd)
	if lustre { // the simulator's handles are not Lustre's: nothing to probe there
		f, err := os.Open(FIDPath(p, fid))
		if err != nil {
			return "", fmt.Sprintf("%s cannot be opened by FID: %v (a nodemap without byfid_ops?)", strconv.Quote(scan), err)
		}
		f.Close()
	}
	return p, ""
}

// swappedNow is swappedAfter, and also compares the FID the path names now (one lfs
// path2fid) with the checked one: for a file lfs migrate could not find any more.
func (t *task) swappedNow(it *item) string {
	if msg := swappedAfter(it); msg != "" || it.op == "" {
		return msg
	}
	w, err := walkNoFollow(it.op)
	if err != nil {
		return "" // gone: renamed or removed
	}
	fids, err := t.fidsOf([]string{it.op}, []bound{{it, w}})
	if err != nil || fids[0].Err != nil || fids[0].FID == it.e.FID {
		return ""
	}
	return fmt.Sprintf("during lfs migrate: %q names %v, not the checked %v", it.op, fids[0].FID, it.e.FID)
}

// swappedAfter reports whether, after lfs migrate, the path of a file lfs was given no
// longer leads to it without a symbolic link: a swap during the call. It is "" when the
// walk finds no swap (the path may be gone: a rename, which the check follows by FID).
func swappedAfter(it *item) string {
	op := it.op
	if op == "" {
		op = it.e.Path
	}
	if _, err := walkNoFollow(op); errors.Is(err, errSwapped) {
		return "after lfs migrate: " + err.Error()
	}
	return ""
}
