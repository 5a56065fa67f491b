package checkpoint

import (
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	"golang.org/x/sys/unix"

	"migrator/durable"
)

// LockInfo is what a lock file says about its holder.
type LockInfo struct {
	Host     string `json:"host"`
	PID      int    `json:"pid"`
	PIDStart uint64 `json:"pid_start,omitempty"` // the process's start time in clock ticks since boot, to tell a reused pid
	// Kernel names the kernel and pid namespace the pid belongs to (boot id and pid
	// namespace): a host name can repeat (containers, cloned nodes), and a pid means
	// something only there.
	Kernel  string    `json:"kernel,omitempty"`
	Job     string    `json:"job,omitempty"`
	Task    int       `json:"task"`
	Restart int       `json:"restart"`
	Token   string    `json:"token"`
	Started time.Time `json:"started"`
}

// LockOptions tunes the heartbeat and when a lock counts as stale.
type LockOptions struct {
	Heartbeat time.Duration // how often the holder touches the lock (default 30 s)
	// StaleAfter is how long a lock must go untouched before its holder counts as dead
	// (default 3 min). It is judged twice: by the filesystem's clock (the lock's mtime
	// against that of a probe file written beside it), and then, whatever the clocks say,
	// by watching the lock unchanged for StaleAfter on this process's own monotonic clock.
	StaleAfter time.Duration
	// Poll is how often a lock that looks stale is looked at while it is watched (default
	// 1 s, at most a tenth of StaleAfter).
	Poll time.Duration
}

func (o *LockOptions) defaults() {
	if o.StaleAfter <= 0 {
		o.StaleAfter = DefaultStaleAfter
	}
	if o.Heartbeat <= 0 {
		// Six heartbeats per StaleAfter (30 s of the default 3 min): a shorter StaleAfter
		// (work --lock-stale-after) must not make a live holder look stale.
		o.Heartbeat = min(30*time.Second, o.StaleAfter/6)
	}
	if o.Poll <= 0 {
		o.Poll = min(time.Second, o.StaleAfter/10)
	}
}

// ErrLocked is matched (errors.Is) when another live task holds the lock.
var ErrLocked = errors.New("shard is locked by another task")

// ErrLockLost is matched (errors.Is) by Lock.Check once the lock was broken by another task
// (this one was taken for dead): the holder must stop writing at once.
var ErrLockLost = errors.New("the lock was broken by another task")

// LockedError names the holder of a lock.
type LockedError struct {
	Path   string
	Holder LockInfo
	Age    time.Duration // since the holder last touched the lock, by the filesystem's clock
	Note   string        // why a lock that looks old is still held, if it does
}

func (e *LockedError) Error() string {
	h := e.Holder
	who := fmt.Sprintf("pid %d on %s", h.PID, h.Host)
	if h.Token == "unreadable" {
		who = "an unknown holder (the lock file does not say who)"
	}
	if h.Job != "" {
		who += fmt.Sprintf(", job %s task %d", h.Job, h.Task)
	}
	alive := fmt.Sprintf("alive %s ago", e.Age.Round(time.Second))
	if e.Note != "" {
		alive = e.Note
	}
	return fmt.Sprintf("%s is held by %s (%s); if that task is dead, remove the lock file",
		e.Path, who, alive)
}

// Is makes errors.Is(err, ErrLocked) true.
func (e *LockedError) Is(target error) bool { return target == ErrLocked }

// Lock is a held lock. Its heartbeat runs until Release. The lock file stays open, so its
// identity (device and inode) tells whether the name still refers to our lock.
type Lock struct {
	path string
	info LockInfo
	f    *os.File
	dev  uint64
	ino  uint64
	stop chan struct{}
	done chan struct{}
	lost chan struct{}
	once sync.Once
}

// CurrentHolder describes this process for a lock: host, pid, and the Slurm task from
// getenv (SLURM_ARRAY_JOB_ID or SLURM_JOB_ID, SLURM_ARRAY_TASK_ID, SLURM_RESTART_COUNT).
func CurrentHolder(getenv func(string) string) LockInfo {
	host, _ := os.Hostname()
	job := getenv("SLURM_ARRAY_JOB_ID")
	if job == "" {
		job = getenv("SLURM_JOB_ID")
	}
	task, err := strconv.Atoi(getenv("SLURM_ARRAY_TASK_ID"))
	if err != nil {
		task = -1
	}
	restart, _ := strconv.Atoi(getenv("SLURM_RESTART_COUNT"))
	pid := os.Getpid()
	return LockInfo{Host: host, PID: pid, PIDStart: procStart(pid), Kernel: thisKernel(), Job: job, Task: task, Restart: restart}
}

// thisKernel identifies this kernel boot and this process's pid namespace.
func thisKernel() string {
	boot, _ := os.ReadFile("/proc/sys/kernel/random/boot_id")
	ns, _ := os.Readlink("/proc/self/ns/pid")
	return strings.TrimSpace(string(boot)) + "/" + ns
}

// AcquireLock takes the lock at path for holder, breaking it first if it is stale (see
// LockOptions and FORMAT.md for the rule). When the lock looks stale it watches it for
// opts.StaleAfter before breaking it, so it may block that long; while another task is
// breaking it, it waits for that task to finish (or, if that task died doing so, for its
// break marker to go stale in turn).
func AcquireLock(path string, holder LockInfo, opts LockOptions) (*Lock, error) {
	opts.defaults()
	var markers bool
	return acquire(path, holder, opts, 0, &markers)
}

// tidy removes, once path is ours, what dead tasks left beside it: break markers (they name
// tokens that are no longer at path, now that ours is, so nobody breaks those again) and
// temporary files of a lock or marker being created and FSNow's probes, once untouched for
// opts.StaleAfter by the filesystem's clock (a creator writes and links one within
// milliseconds). It lists the directory, so it runs only after a take that met a break
// marker (a directory of shard locks is large, and a requeued array's tasks each break a
// dead incarnation's lock): where a task was killed mid-break, and its leftovers are. A
// breaker killed between removing the lock and its marker leaves a marker nobody meets
// again; it waits there, harmless, as do the temporary files of creators killed before a
// take that met no marker.
func tidy(path string, opts LockOptions) {
	dir, base := filepath.Split(path)
	ents, err := os.ReadDir(dir)
	if err != nil {
		return
	}
	var now time.Time
	for _, e := range ents {
		name := e.Name()
		switch {
		case strings.HasPrefix(name, base+staleSuffix):
			os.Remove(filepath.Join(dir, name))
		case IsLockLeftover(name, base): // a temporary file of the lock or a marker; a probe of FSNow
			info, err := e.Info()
			if err != nil {
				continue
			}
			if now.IsZero() {
				now = FSNow(dir)
			}
			if now.Sub(info.ModTime()) >= opts.StaleAfter {
				os.Remove(filepath.Join(dir, name))
			}
		}
	}
}

// IsLockLeftover reports whether name, in the directory of the lock named lock, is
// something taking or breaking that lock makes and a task killed meanwhile leaves: a break
// marker, the temporary file of the lock or of a marker being created, or a probe of
// FSNow. Code that wants a directory empty but for its lock must accept these too.
func IsLockLeftover(name, lock string) bool {
	return strings.HasPrefix(name, lock+staleSuffix) || durable.IsTempOf(name, lock) || durable.IsTempOf(name, clockProbe)
}

// staleSuffix joins a lock's name and the token of the holder being broken to name the
// break marker: a lock file in its own right, held by the breaker (see breakLock).
const staleSuffix = ".stale-"

// maxBreakDepth bounds how far breaking recurses: a lock, the marker of a break of it,
// and the marker of a break of that marker (its breaker died too). A stale marker that
// deep is removed after the same judgement, without a marker of its own.
const maxBreakDepth = 2

// acquire is AcquireLock at a depth: 0 for the lock itself, 1 and 2 for break markers.
// It sets *markers when it meets a break marker that is already there.
func acquire(path string, holder LockInfo, opts LockOptions, depth int, markers *bool) (*Lock, error) {
	var tok [12]byte
	rand.Read(tok[:])
	holder.Token = hex.EncodeToString(tok[:])
	holder.Started = time.Now().UTC().Truncate(time.Second)
	data, err := json.Marshal(holder)
	if err != nil {
		return nil, err
	}
	// Hand changes are counted: after three, others are taking it first (ErrLocked). A
	// break in progress is waited for instead, up to the longest a dead breaker's marker
	// can stand (it is judged as a lock is: seen stale, then watched).
	busySince := time.Time{}
	for changes := 0; changes < 3; {
		f, err := createExclusive(path, append(data, '\n'))
		if err == nil {
			l := &Lock{path: path, info: holder, f: f, stop: make(chan struct{}), done: make(chan struct{}), lost: make(chan struct{})}
			var st unix.Stat_t
			if err := unix.Fstat(int(f.Fd()), &st); err != nil {
				f.Close()
				os.Remove(path)
				return nil, fmt.Errorf("lock %s: %w", path, err)
			}
			l.dev, l.ino = st.Dev, st.Ino
			go l.heartbeat(opts.Heartbeat)
			if depth == 0 && *markers {
				tidy(path, opts)
			}
			return l, nil
		}
		if errors.Is(err, errTidied) {
			changes++
			continue // someone took the lock meanwhile and tidied beside it: look again
		}
		if !errors.Is(err, os.ErrExist) {
			return nil, fmt.Errorf("lock %s: %w", path, err)
		}
		*markers = *markers || depth > 0
		old, snap, err := readLockSnap(path)
		if errors.Is(err, os.ErrNotExist) {
			changes++
			continue // released meanwhile
		}
		if err != nil {
			return nil, fmt.Errorf("lock %s: %w (remove it if no task holds it)", path, err)
		}
		var age time.Duration
		ageOf := func() time.Duration { age = fsAge(path, snap); return age } // a probe file only when needed
		switch judge(old, ageOf, holder, opts.StaleAfter) {
		case lockLive:
			if age == 0 {
				age = time.Since(snap.mtimeTime()) // for the message only (same host: one clock)
			}
			le := &LockedError{Path: path, Holder: old, Age: age}
			if age >= opts.StaleAfter || age <= -opts.StaleAfter {
				le.Note = fmt.Sprintf("its process is alive on this host, though its heartbeat is %s old: stopped or hung?", age.Round(time.Second))
			}
			return nil, le
		case lockWatch:
			changed, gone, err := watchLock(path, snap, opts)
			if err != nil {
				return nil, fmt.Errorf("lock %s: %w", path, err)
			}
			if gone {
				changes++
				continue
			}
			if changed {
				now, nsnap, err := readLockSnap(path)
				if err != nil {
					changes++
					continue
				}
				return nil, &LockedError{Path: path, Holder: now, Age: fsAge(path, nsnap),
					Note: "its heartbeat looked old, but it touched the lock while we watched: clocks disagree, it is alive"}
			}
		}
		var busy *LockedError
		switch err := breakLock(path, old, snap, holder, opts, depth, markers); {
		case errors.As(err, &busy):
			// Another task is breaking this lock (a break takes milliseconds), or died
			// doing so and its marker is not yet judged stale: wait, and look again.
			if busySince.IsZero() {
				busySince = time.Now()
			}
			if time.Since(busySince) > 3*opts.StaleAfter {
				return nil, fmt.Errorf("lock %s: another task has been breaking it for %s: %w", path, time.Since(busySince).Round(time.Second), busy)
			}
			time.Sleep(opts.Poll)
		case err != nil:
			return nil, err
		default:
			changes++
		}
	}
	// Others keep taking it first: it is held, by whoever won last.
	if now, nsnap, err := readLockSnap(path); err == nil {
		return nil, &LockedError{Path: path, Holder: now, Age: fsAge(path, nsnap), Note: "it kept changing hands while we tried to take it"}
	}
	return nil, fmt.Errorf("lock %s kept changing hands while we tried to take it: %w", path, ErrLocked)
}

// breakLock removes a stale lock, judged from old and snap, atomically with respect to other
// breakers. The breaker first takes the break marker, path.stale-TOKEN (TOKEN the stale
// holder's), as a lock of its own that names it: so only one task breaks a given holder's
// lock, and if that task dies mid-break, its marker is judged like any lock (at once when
// its process is gone from this host, else after it is seen stale and watched) and broken
// in turn. Holding the marker, it removes the lock only while the name still refers to the
// very file judged stale. It returns a *LockedError while another live task holds the
// marker, and nil when the caller should look at the lock again.
func breakLock(path string, old LockInfo, snap lockSnap, me LockInfo, opts LockOptions, depth int, markers *bool) error {
	marker := path + staleSuffix + old.Token
	var m *Lock
	if depth < maxBreakDepth {
		var err error
		m, err = acquire(marker, me, opts, depth+1, markers)
		if err != nil {
			return err
		}
		defer m.Release()
	}
	now, nsnap, err := readLockSnap(path)
	if err != nil || now.Token != old.Token || nsnap.dev != snap.dev || nsnap.ino != snap.ino || nsnap.mtime != snap.mtime {
		return nil // it changed hands, or its holder woke, meanwhile: not ours to remove
	}
	if m != nil && m.Check() != nil {
		return nil // our marker was taken for dead and broken: the break is no longer ours
	}
	if testBeforeBreak != nil {
		testBeforeBreak(depth)
	}
	if err := unlinkIfSame(path, snap); err != nil {
		return fmt.Errorf("breaking stale lock %s: %w", path, err)
	}
	return nil
}

// unlinkIfSame removes path only if it still names the file judged stale (snap's device,
// inode and token). Unlinking by name after a last look would remove whatever the name
// refers to by then: a breaker that lingered there (preempted, suspended, on a stalled
// node) while its marker was broken, or a breaker of a marker at the last depth, which
// holds no marker, would remove a lock or marker a live task took meanwhile. So the name
// is moved aside (rename is atomic on local filesystems, NFS and Lustre), the moved file
// is looked at, and one that is not the file judged is linked back at once: its holder
// lacks its name only for that instant (a check then says it lost the lock, and it stops,
// which is safe), and no two tasks ever hold the lock. The aside name starts with path's
// marker prefix, so what a breaker killed there leaves is tidied like a marker.
func unlinkIfSame(path string, snap lockSnap) error {
	var rnd [6]byte
	rand.Read(rnd[:])
	aside := path + staleSuffix + "gone." + hex.EncodeToString(rnd[:])
	if err := os.Rename(path, aside); err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return nil
		}
		return err
	}
	// The token tells the file judged from a successor's, whose inode number may be the
	// freed one's (filesystems reuse them).
	if moved, msnap, err := readLockSnap(aside); err != nil || moved.Token != snap.token || msnap.dev != snap.dev || msnap.ino != snap.ino {
		// Not the file judged (or it cannot be told): put it back. This fails only if
		// another lock was made at path in that instant; that one then holds it.
		os.Link(aside, path)
	}
	if err := os.Remove(aside); err != nil && !errors.Is(err, os.ErrNotExist) {
		return err
	}
	return nil
}

// testBeforeBreak, set only by tests, runs in breakLock after its last look at what it
// breaks and before it unlinks it: where a breaker that is preempted or stopped lingers.
var testBeforeBreak func(depth int)

// createExclusive creates the lock file at path with its content already in it, and
// returns it open for reading and writing (the heartbeat and ownership checks use the
// descriptor). The content is written and synced under a temporary name, which is then
// hard-linked to path: link fails if path exists, atomically on local filesystems, NFS and
// Lustre alike, so a lock file never exists without its holder's identity in it (a task
// killed between an O_EXCL create and its write would leave an empty lock that no one can
// tell from a live one until it is old). If link reports an error although it worked (a
// lost NFS reply), the file's two names say so.
func createExclusive(path string, data []byte) (*os.File, error) {
	var rnd [6]byte
	rand.Read(rnd[:])
	tmp := filepath.Join(filepath.Dir(path), durable.TempPrefix+filepath.Base(path)+"."+hex.EncodeToString(rnd[:]))
	f, err := durable.OpenFile(tmp, os.O_RDWR|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return nil, err
	}
	_, err = f.Write(data)
	if err == nil {
		err = f.Sync()
	}
	if err == nil {
		err = os.Link(tmp, path)
		var st unix.Stat_t
		switch {
		case err == nil:
		case unix.Fstat(int(f.Fd()), &st) == nil && st.Nlink >= 2:
			err = nil
		case errors.Is(err, os.ErrNotExist):
			// Our temporary file is gone (on NFS, fstat of a file another client removed
			// may fail with ESTALE); if the directory is gone too, the next try says so.
			err = fmt.Errorf("%w: %w", errTidied, err)
		}
	}
	os.Remove(tmp)
	if err != nil {
		f.Close()
		return nil, err
	}
	return f, nil
}

// errTidied is createExclusive's error when its temporary file was removed before it was
// linked: a contested take beside it took it for a dead creator's (this one was slower
// than the stale age, or its clock is behind). Whether the lock is held is to be looked
// at again.
var errTidied = errors.New("the temporary file was tidied away before it was linked")

// lockSnap is what a watcher compares to tell whether a lock changed: its identity, size,
// and the times its holder's heartbeat moves. No clock is compared with another.
type lockSnap struct {
	dev, ino     uint64
	size         int64
	mtime, ctime unix.Timespec
	token        string
}

func (s lockSnap) mtimeTime() time.Time { return time.Unix(s.mtime.Unix()) }

// ReadLock returns who holds the lock at path and how long ago it last showed it was alive
// (its heartbeat), by the filesystem's clock (see FSNow); os.ErrNotExist if nobody holds it.
func ReadLock(path string) (LockInfo, time.Duration, error) {
	info, snap, err := readLockSnap(path)
	if err != nil {
		return info, 0, err
	}
	return info, fsAge(path, snap), nil
}

// readLock returns the lock's content and its age by the filesystem's clock.
func readLock(path string) (LockInfo, time.Duration, error) { return ReadLock(path) }

// readLockSnap opens the lock (which revalidates cached attributes on NFS, close-to-open)
// and returns its content and what its descriptor says.
func readLockSnap(path string) (LockInfo, lockSnap, error) {
	f, err := os.Open(path)
	if err != nil {
		return LockInfo{}, lockSnap{}, err
	}
	defer f.Close()
	var st unix.Stat_t
	if err := unix.Fstat(int(f.Fd()), &st); err != nil {
		return LockInfo{}, lockSnap{}, err
	}
	data, err := io.ReadAll(io.LimitReader(f, 64<<10))
	if err != nil {
		return LockInfo{}, lockSnap{}, err
	}
	snap := lockSnap{dev: st.Dev, ino: st.Ino, size: st.Size, mtime: st.Mtim, ctime: st.Ctim}
	var info LockInfo
	if err := json.Unmarshal(bytes.TrimSpace(data), &info); err != nil || info.Token == "" {
		// A lock torn by a crash before its content was synced: it can only be stale
		// once it has been seen untouched long enough.
		info = LockInfo{Token: "unreadable"}
	}
	snap.token = info.Token
	return info, snap, nil
}

// clockProbe names FSNow's probe files (as temporary files).
const clockProbe = "clock"

// FSNow returns the current time by the clock that stamps files in dir: the mtime of a
// probe file created there and removed at once. On NFS that is the server's clock, on a
// local filesystem this kernel's; on Lustre it is this client's own clock, since the client
// stamps the times it sends (ll_setattr_raw and the create path use current_time() of the
// client). If no probe can be written, it is this process's clock.
func FSNow(dir string) time.Time {
	var rnd [6]byte
	rand.Read(rnd[:])
	p := filepath.Join(dir, durable.TempPrefix+clockProbe+"."+hex.EncodeToString(rnd[:]))
	f, err := os.OpenFile(p, os.O_RDWR|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return time.Now()
	}
	defer os.Remove(p)
	defer f.Close()
	var st unix.Stat_t
	if unix.Fstat(int(f.Fd()), &st) != nil {
		return time.Now()
	}
	return time.Unix(st.Mtim.Unix())
}

// fsAge is how long ago the lock was last touched, by the filesystem's clock. Negative
// when its mtime lies in the future of that clock (the holder's clock is ahead).
func fsAge(path string, s lockSnap) time.Duration {
	return FSNow(filepath.Dir(path)).Sub(s.mtimeTime())
}

// DefaultStaleAfter is how long a lock may go untouched before its holder counts as dead.
const DefaultStaleAfter = 3 * time.Minute

// HolderGone reports whether a lock, last touched age ago (by the filesystem's clock, as
// ReadLock says), looks stale: its holder ran on this host and is gone, or it missed its
// heartbeats for DefaultStaleAfter. It only judges; AcquireLock also watches a lock before
// it breaks one.
func HolderGone(info LockInfo, age time.Duration) bool {
	return judge(info, func() time.Duration { return age }, LockInfo{}, DefaultStaleAfter) != lockLive
}

type verdict int

const (
	lockLive  verdict = iota // the holder is alive, or may be
	lockWatch                // it looks dead by the clocks: watch before breaking
	lockGone                 // it is certainly gone: break now
)

// judge decides what a lock's holder is. me is the would-be holder (me.Host "" is this host).
func judge(old LockInfo, ageOf func() time.Duration, me LockInfo, after time.Duration) verdict {
	host, kernel := me.Host, me.Kernel
	if host == "" {
		host, _ = os.Hostname()
		kernel = thisKernel()
	}
	// Its pid can be looked up here only if it ran on this host, in this kernel boot and
	// pid namespace (when both locks say which; a lock without it is from an older release).
	local := old.Host == host && (old.Kernel == "" || kernel == "" || old.Kernel == kernel)
	if local && old.PID > 0 {
		start := procStart(old.PID)
		if start == 0 || (old.PIDStart != 0 && start != old.PIDStart) {
			return lockGone // that process is gone (or the pid now belongs to another)
		}
		// It is alive here: stopped, hung on I/O or slow, it is never taken for dead.
		return lockLive
	}
	// A requeued Slurm task replaces its earlier incarnation: Slurm starts the new one only
	// after the old one ended (if that one still runs on a node cut off from the
	// controller, it stops at its next ownership check).
	if old.Job != "" && old.Job == me.Job && old.Task == me.Task && me.Restart > old.Restart {
		return lockGone
	}
	if age := ageOf(); age >= after || age <= -after {
		// Six missed heartbeats by the filesystem's clock, or an mtime so far in the
		// future that the clocks disagree: only watching can tell.
		return lockWatch
	}
	return lockLive
}

// watchLock looks at the lock every opts.Poll for opts.StaleAfter, measured by this
// process's monotonic clock. It reports whether the lock changed (its holder touched it,
// or it changed hands) or went away meanwhile.
func watchLock(path string, snap lockSnap, opts LockOptions) (changed, gone bool, err error) {
	start := time.Now()
	for time.Since(start) < opts.StaleAfter {
		time.Sleep(min(opts.Poll, opts.StaleAfter-time.Since(start)+time.Millisecond))
		_, now, err := readLockSnap(path)
		if errors.Is(err, os.ErrNotExist) {
			return false, true, nil
		}
		if err != nil {
			return false, false, err
		}
		if now != snap {
			return true, false, nil
		}
	}
	return false, false, nil
}

// Check reports whether the lock is still ours: the name still refers to the file we
// created (compared by device and inode through a fresh open, which revalidates NFS's
// caches) and that file still has a name. It returns an error matching ErrLockLost once it
// is not, and closes Lost. It costs an open, two fstats and a close; the holder calls it
// before every lfs migrate call and every batch of records.
func (l *Lock) Check() error {
	select {
	case <-l.lost:
		return l.lostErr("")
	default:
	}
	var mine unix.Stat_t
	if err := unix.Fstat(int(l.f.Fd()), &mine); err != nil {
		return fmt.Errorf("lock %s: %w", l.path, err)
	}
	if mine.Nlink == 0 {
		return l.markLost("it was removed")
	}
	f, err := os.Open(l.path)
	if errors.Is(err, os.ErrNotExist) {
		return l.markLost("it was removed")
	}
	if err != nil {
		return fmt.Errorf("lock %s: %w", l.path, err)
	}
	var st unix.Stat_t
	err = unix.Fstat(int(f.Fd()), &st)
	f.Close()
	if err != nil {
		return fmt.Errorf("lock %s: %w", l.path, err)
	}
	if st.Dev != l.dev || st.Ino != l.ino {
		return l.markLost("another task holds it now")
	}
	return nil
}

func (l *Lock) markLost(why string) error {
	l.once.Do(func() { close(l.lost) })
	return l.lostErr(why)
}

func (l *Lock) lostErr(why string) error {
	if why != "" {
		return fmt.Errorf("%w: %s: %s", ErrLockLost, l.path, why)
	}
	return fmt.Errorf("%w: %s", ErrLockLost, l.path)
}

// heartbeat touches our lock file (through its descriptor, never another task's file of
// the same name) every interval, and notices if it was taken away.
func (l *Lock) heartbeat(every time.Duration) {
	defer close(l.done)
	t := time.NewTicker(every)
	defer t.Stop()
	self := "/proc/self/fd/" + strconv.Itoa(int(l.f.Fd()))
	for {
		select {
		case <-l.stop:
			return
		case <-t.C:
			if err := l.Check(); errors.Is(err, ErrLockLost) {
				return
			}
			// UTIME_NOW lets the filesystem stamp the time (the server's clock on NFS).
			now := []unix.Timespec{{Nsec: unix.UTIME_NOW}, {Nsec: unix.UTIME_NOW}}
			unix.UtimesNanoAt(unix.AT_FDCWD, self, now, 0)
		}
	}
}

// Lost is closed once the lock is known to be broken by another task (we were taken for
// dead): the holder must stop writing at once.
func (l *Lock) Lost() <-chan struct{} { return l.lost }

// Info returns what the lock file says about us.
func (l *Lock) Info() LockInfo { return l.info }

// Release stops the heartbeat and removes the lock if it is still ours.
func (l *Lock) Release() error {
	close(l.stop)
	<-l.done
	defer l.f.Close()
	if l.Check() != nil {
		return nil
	}
	if testBeforeRelease != nil {
		testBeforeRelease()
	}
	// Not os.Remove: a holder that lingers here (a stalled node) past the stale age was
	// taken for dead, and the name may be its successor's by now. Our file is still open,
	// so its inode number is not reused.
	return unlinkIfSame(l.path, lockSnap{dev: l.dev, ino: l.ino, token: l.info.Token})
}

// testBeforeRelease, set only by tests, runs in Release between its check and its unlink.
var testBeforeRelease func()

// procStart returns a process's start time (clock ticks after boot), 0 if it does not exist.
func procStart(pid int) uint64 {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0
	}
	// Fields after the command name, which is in parentheses and may contain anything.
	s := string(data)
	i := strings.LastIndexByte(s, ')')
	if i < 0 {
		return 0
	}
	f := strings.Fields(s[i+1:])
	if len(f) < 20 || f[0] == "Z" || f[0] == "X" {
		return 0 // a zombie has exited
	}
	v, _ := strconv.ParseUint(f[19], 10, 64) // field 22, starttime
	return v
}
