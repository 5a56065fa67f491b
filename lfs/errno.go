package lfs

import (
	"errors"
	"io/fs"
	"strconv"
	"strings"
	"syscall"
)

// maxErrno bounds the errno values we translate; Linux defines none above 133.
const maxErrno = 134

// ErrnoFromText maps a C library strerror text ("Device or resource busy") back to its
// errno. lfs reports per-file failures only as text, so this is how a failure is
// classified. The match ignores case: Go's own table is glibc's in lower case.
func ErrnoFromText(text string) (syscall.Errno, bool) {
	text = strings.TrimSpace(text)
	for e := syscall.Errno(1); e < maxErrno; e++ {
		if strings.EqualFold(e.Error(), text) {
			return e, true
		}
	}
	// Texts where glibc and Go disagree.
	switch strings.ToLower(text) {
	case "operation not supported":
		return syscall.EOPNOTSUPP, true
	case "stale nfs file handle":
		return syscall.ESTALE, true
	}
	return 0, false
}

// Strerror returns the glibc text for e, capitalised as lfs prints it.
func Strerror(e syscall.Errno) string {
	s := e.Error()
	if s == "" {
		return s
	}
	return strings.ToUpper(s[:1]) + s[1:]
}

// ErrnoName returns the symbolic name of e ("EBUSY"), or "E<number>" for one we do not name.
func ErrnoName(e syscall.Errno) string {
	if n, ok := errnoNames[e]; ok {
		return n
	}
	return "E" + strconv.Itoa(int(e))
}

// ErrnoByName is the inverse of ErrnoName.
func ErrnoByName(name string) (syscall.Errno, bool) {
	for e, n := range errnoNames {
		if n == name {
			return e, true
		}
	}
	return 0, false
}

var errnoNames = map[syscall.Errno]string{
	syscall.EPERM: "EPERM", syscall.ENOENT: "ENOENT", syscall.EINTR: "EINTR",
	syscall.EIO: "EIO", syscall.ENXIO: "ENXIO", syscall.E2BIG: "E2BIG",
	syscall.EBADF: "EBADF", syscall.EAGAIN: "EAGAIN", syscall.ENOMEM: "ENOMEM",
	syscall.EACCES: "EACCES", syscall.EFAULT: "EFAULT", syscall.EBUSY: "EBUSY",
	syscall.EEXIST: "EEXIST", syscall.EXDEV: "EXDEV", syscall.ENODEV: "ENODEV",
	syscall.ENOTDIR: "ENOTDIR", syscall.EISDIR: "EISDIR", syscall.EINVAL: "EINVAL",
	syscall.ENFILE: "ENFILE", syscall.EMFILE: "EMFILE", syscall.ETXTBSY: "ETXTBSY",
	syscall.EFBIG: "EFBIG", syscall.ENOSPC: "ENOSPC", syscall.EROFS: "EROFS",
	syscall.ERANGE: "ERANGE", syscall.ENAMETOOLONG: "ENAMETOOLONG", syscall.ENOSYS: "ENOSYS",
	syscall.ENODATA: "ENODATA", syscall.ETIMEDOUT: "ETIMEDOUT", syscall.ESTALE: "ESTALE",
	syscall.EDQUOT: "EDQUOT", syscall.EOPNOTSUPP: "EOPNOTSUPP", syscall.ENOTTY: "ENOTTY",
	syscall.ELOOP: "ELOOP", syscall.ESHUTDOWN: "ESHUTDOWN", syscall.ENOTCONN: "ENOTCONN",
	syscall.EOVERFLOW: "EOVERFLOW", syscall.ECANCELED: "ECANCELED", syscall.ENOKEY: "ENOKEY",
	syscall.EREMOTEIO: "EREMOTEIO", syscall.EINPROGRESS: "EINPROGRESS", syscall.EALREADY: "EALREADY",
}

// Class is what a failed lfs operation means for the file and the campaign.
type Class uint8

// The classes of a per-file failure, from the errno lfs reported.
const (
	ClassOther      Class = iota // anything else: recorded as failed, may be retried by hand
	ClassRetryLater              // EBUSY (open for write), EAGAIN (changed during copy): try again later
	ClassVanished                // ENOENT, ESTALE: the file is gone
	ClassNoSpace                 // ENOSPC, EDQUOT: the target is full; stop the task
	ClassPermission              // EACCES, EPERM
	// ClassIO is EIO: a failing disk, OST or network path rather than the file itself.
	// Retryable, and kept apart so that reports and retry --failed can tell it from the rest.
	ClassIO
	// ClassSwapped is not an errno but an alarm: the path of a file that was checked named
	// another file (or went through a symbolic link) right before or after its lfs migrate,
	// so someone swapped it. Not retryable: only a fresh check (a new round) may touch it.
	ClassSwapped
)

// LastClass is the highest Class; classes are numbered from ClassOther up to it.
const LastClass = ClassSwapped

var classNames = [...]string{"other", "retry-later", "vanished", "no-space", "permission", "io", "swapped"}

// String returns the class name used in reports and checkpoint records.
func (c Class) String() string {
	if int(c) < len(classNames) {
		return classNames[c]
	}
	return "class-" + strconv.Itoa(int(c))
}

// ParseClass is the inverse of Class.String.
func ParseClass(s string) (Class, bool) {
	for i, n := range classNames {
		if n == s {
			return Class(i), true
		}
	}
	return 0, false
}

// Classify maps an errno to its class.
func Classify(e syscall.Errno) Class {
	switch e {
	case syscall.EBUSY, syscall.EAGAIN:
		return ClassRetryLater
	case syscall.ENOENT, syscall.ESTALE:
		return ClassVanished
	case syscall.ENOSPC, syscall.EDQUOT:
		return ClassNoSpace
	case syscall.EACCES, syscall.EPERM:
		return ClassPermission
	case syscall.EIO:
		return ClassIO
	}
	return ClassOther
}

// Retryable reports whether trying the file again later may succeed.
func (c Class) Retryable() bool {
	return c == ClassRetryLater || c == ClassNoSpace || c == ClassOther || c == ClassIO
}

// IsGone reports whether err (from lstat, open or lfs) says the path no longer names a file:
// it vanished, a directory on the way did, or its handle went stale.
func IsGone(err error) bool {
	return errors.Is(err, fs.ErrNotExist) || errors.Is(err, syscall.ENOTDIR) || errors.Is(err, syscall.ESTALE)
}
