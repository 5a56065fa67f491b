// Package trust decides whether this process may rely on a path: whether anyone but
// itself (or root) could have written it, or could swap it, or a directory above it, for
// something else. Every command runs these checks on the campaign directory, campaign.json,
// the lfs binary and the job templates before it believes any of them: a work task that
// Slurm runs as root must not exec another user's lfs from a directory that user swapped in.
//
// The rules, for the effective user U:
//   - the path itself (a campaign directory, campaign.json) is owned by U and writable by
//     nobody else (no group or other write bit); an executable or a template may also be
//     owned by root;
//   - every directory above it, and every symbolic link on the way, is owned by root or U,
//     and a directory writable by group or others must have the sticky bit (like /tmp),
//     which keeps others from renaming or removing what they do not own;
//   - the path is followed as the kernel resolves it: the directories of the path as
//     given, of every symbolic link's target on the way, and of the resolved path.
package trust

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"syscall"
)

// ErrUntrusted is matched (errors.Is) by every refusal of this package.
var ErrUntrusted = errors.New("not trusted")

// Error is a refusal: which path, and why someone else could have written it.
type Error struct {
	What string // "campaign directory", "lfs binary", ...
	Path string // the path checked
	At   string // the path (the checked one or a directory above it) that broke a rule
	Why  string
}

func (e *Error) Error() string {
	if e.At == e.Path || e.At == "" {
		return fmt.Sprintf("%s %s: %s", e.What, e.Path, e.Why)
	}
	return fmt.Sprintf("%s %s: %s %s", e.What, e.Path, e.At, e.Why)
}

// Is makes errors.Is(err, ErrUntrusted) true.
func (e *Error) Is(target error) bool { return target == ErrUntrusted }

// owner is who must own what (the effective user, and whether root will do) and what
// kind of file the path must be.
type owner struct {
	uid     int
	anyUID  bool // the path may be owned by anyone (read only): see Readable
	rootToo bool
	regular bool // must be a regular file (else a directory)
	anyKind bool // a regular file or a directory
}

var euid = os.Geteuid

// Dir checks a directory this process created and relies on (a campaign directory): owned
// by us, writable by nobody else, below directories nobody else can swap.
func Dir(what, path string) error {
	return check(what, path, owner{uid: euid()})
}

// File checks a file this process wrote and relies on (campaign.json): a regular file
// owned by us, writable by nobody else, below directories nobody else can swap.
func File(what, path string) error {
	return check(what, path, owner{uid: euid(), regular: true})
}

// Executable checks a program this process will run (the lfs binary): a regular file owned
// by root or by us, writable by nobody else, below directories nobody else can swap.
func Executable(what, path string) error {
	return check(what, path, owner{uid: euid(), rootToo: true, regular: true})
}

// Input checks a file or directory this process reads once and keeps (a template
// directory, a template): owned by root or us, writable by nobody else, below directories
// nobody else can swap.
func Input(what, path string) error {
	return check(what, path, owner{uid: euid(), rootToo: true, anyKind: true})
}

// Readable checks a campaign directory this process only reads (status, report, done by a
// member of the group the campaign is shared with): owned by anyone, writable by nobody but
// its owner, below directories nobody but root, its owner or us could swap. It returns the
// owner, who must own the campaign's files too (ReadableFile). Nothing a read-only command
// reads there is executed, so another owner is no risk; another writer would be.
func Readable(what, path string) (int, error) {
	uid := -1
	err := check(what, path, owner{uid: euid(), anyUID: true}, &uid)
	return uid, err
}

// ReadableFile checks a file of a campaign checked with Readable: a regular file owned by
// uid (the campaign's owner), writable by nobody else, below directories nobody but root,
// that owner or us could swap.
func ReadableFile(what, path string, uid int) error {
	if uid == euid() {
		return File(what, path)
	}
	return check(what, path, owner{uid: uid, regular: true}, nil)
}

func check(what, path string, o owner, owned ...*int) error {
	fail := func(at, format string, args ...any) error {
		return &Error{What: what, Path: path, At: at, Why: fmt.Sprintf(format, args...)}
	}
	// Not filepath.Abs: it cleans "link/.." away lexically, where the kernel goes to the
	// link target's parent.
	abs := path
	if !filepath.IsAbs(path) {
		wd, err := os.Getwd()
		if err != nil {
			return fail(path, "%v", err)
		}
		abs = wd + "/" + path
	}
	real, err := filepath.EvalSymlinks(abs)
	if err != nil {
		return fail(path, "%v", unwrap(err))
	}
	st, err := os.Stat(real)
	if err != nil {
		return fail(path, "%v", unwrap(err))
	}
	switch {
	case o.anyKind && (st.Mode().IsRegular() || st.IsDir()):
	case o.anyKind:
		return fail(path, "not a regular file or directory")
	case o.regular && !st.Mode().IsRegular():
		return fail(path, "not a regular file")
	case !o.regular && !st.IsDir():
		return fail(path, "not a directory")
	}
	uid := fileUID(st)
	if uid != o.uid && !(o.rootToo && uid == 0) && !o.anyUID {
		by := "us"
		if o.uid != euid() {
			by = "the campaign's owner"
		}
		return fail(path, "is owned by uid %d, not by %s (uid %d)%s", uid, by, o.uid, map[bool]string{true: " or root"}[o.rootToo])
	}
	for _, p := range owned {
		if p != nil {
			*p = uid
		}
	}
	also := uid // may own what is above it too (for Readable and ReadableFile: the campaign's owner)
	if st.Mode().Perm()&0o022 != 0 {
		return fail(path, "is writable by group or others (mode %04o); chmod go-w it", st.Mode().Perm())
	}
	if err := ancestors(abs, o.uid, also, fail); err != nil {
		return err
	}
	return nil
}

// maxLinks is how many symbolic links a path may go through (the kernel's MAXSYMLINKS).
const maxLinks = 40

// ancestors checks every directory and symbolic link the kernel goes through to reach p
// from "/", following each link the way path resolution does: the directories of the path
// as given, those of every link's target (a link inside a directory others can write could
// be pointed elsewhere after this check, even when both ends are fine), and those of the
// path with its links resolved. p is absolute; ".." is taken as the kernel takes it.
// Directories and links may be owned by root, uid or also.
func ancestors(p string, uid, also int, fail func(at, format string, args ...any) error) error {
	st, err := os.Lstat("/")
	if err != nil {
		return fail("/", "%v", unwrap(err))
	}
	if err := ancestor("/", st, false, uid, also, fail); err != nil {
		return err
	}
	todo := strings.Split(strings.TrimPrefix(p, "/"), "/")
	cur, links := "/", 0
	for len(todo) > 0 {
		c := todo[0]
		todo = todo[1:]
		switch c {
		case "", ".":
			continue
		case "..":
			cur = filepath.Dir(cur) // cur holds no links: this is the kernel's ".."
			continue
		}
		next := filepath.Join(cur, c)
		st, err := os.Lstat(next)
		if err != nil {
			return fail(next, "%v", unwrap(err))
		}
		if st.Mode()&fs.ModeSymlink == 0 && len(todo) == 0 {
			// the path itself: the caller checks it by its own rule
			return ancestor(next, st, true, uid, also, fail)
		}
		if err := ancestor(next, st, false, uid, also, fail); err != nil {
			return err
		}
		if st.Mode()&fs.ModeSymlink == 0 {
			cur = next
			continue
		}
		if links++; links > maxLinks {
			return fail(next, "too many levels of symbolic links")
		}
		target, err := os.Readlink(next)
		if err != nil {
			return fail(next, "%v", unwrap(err))
		}
		if strings.HasPrefix(target, "/") {
			cur = "/"
		}
		todo = append(strings.Split(target, "/"), todo...)
	}
	return nil
}

// ancestor checks one directory or link on the way: owned by root, uid or also, and, for a
// directory above the path, not writable by others without the sticky bit.
func ancestor(at string, st fs.FileInfo, last bool, uid, also int, fail func(at, format string, args ...any) error) error {
	if u := fileUID(st); u != uid && u != also && u != 0 {
		return fail(at, "is owned by uid %d, who could replace what is below it", u)
	}
	if last || st.Mode()&fs.ModeSymlink != 0 {
		return nil // the path itself is checked by the caller; a link has no mode of its own
	}
	if st.Mode().Perm()&0o022 != 0 && st.Mode()&fs.ModeSticky == 0 {
		return fail(at, "is writable by group or others without the sticky bit (mode %04o), so they could swap what is below it", st.Mode().Perm())
	}
	return nil
}

func fileUID(st fs.FileInfo) int {
	if sys, ok := st.Sys().(*syscall.Stat_t); ok {
		return int(sys.Uid)
	}
	return -1
}

func unwrap(err error) error {
	var pe *fs.PathError
	if errors.As(err, &pe) {
		return pe.Err
	}
	return err
}

// Within checks a directory inside one already checked with Dir (a campaign's
// checkpoints/, logs/ ...): a real directory, not a symbolic link, owned by us and
// writable by nobody else. A path that does not exist passes (it is created later, 0700).
// Whoever could write such a directory could swap the files in it, or put a symbolic link
// where a log will be appended.
func Within(what, path string) error { return WithinOwnedBy(what, path, euid()) }

// WithinOwnedBy is Within for a campaign of the user uid, checked with Readable.
func WithinOwnedBy(what, path string, uid int) error {
	st, err := os.Lstat(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	fail := func(format string, args ...any) error {
		return &Error{What: what, Path: path, Why: fmt.Sprintf(format, args...)}
	}
	switch {
	case err != nil:
		return fail("%v", unwrap(err))
	case st.Mode()&fs.ModeSymlink != 0:
		return fail("is a symbolic link, not a directory migrator created")
	case !st.IsDir():
		return fail("not a directory")
	}
	if u := fileUID(st); u != uid {
		return fail("is owned by uid %d, not by the campaign's owner (uid %d)", u, uid)
	}
	if st.Mode().Perm()&0o022 != 0 {
		return fail("is writable by group or others (mode %04o); chmod go-w it", st.Mode().Perm())
	}
	return nil
}
