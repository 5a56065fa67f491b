package checkpoint

import (
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"

	"golang.org/x/sys/unix"

	"migrator/durable"
)

// LockInfo is what a lock file says about its holder.
type LockInfo struct {
	Host     string    `json:"host"`
	PID      int       `json:"pid"`
	PIDStart uint64    `json:"pid_start,omitempty"` // the process's start time in clock ticks since boot, to tell a reused pid
	Job      string    `json:"job,omitempty"`
	Task     int       `json:"task"`
	Restart  int       `json:"restart"`
	Token    string    `json:"token"`
	Started  time.Time `json:"started"`
}

// LockOptions tunes the heartbeat and when a lock counts as stale.
type LockOptions struct {
	Heartbeat  time.Duration // how often the holder touches the lock (default 30 s)
	StaleAfter time.Duration // a lock untouched for this long is stale (default 3 min)
}

// ErrLocked is matched (errors.Is) when another live task holds the lock.
var ErrLocked = errors.New("shard is locked by another task")

// LockedError names the holder of a lock.
type LockedError struct {
	Path   string
	Holder LockInfo
	Age    time.Duration // since the holder last touched the lock
}

func (e *LockedError) Error() string {
	h := e.Holder
	who := fmt.Sprintf("pid %d on %s", h.PID, h.Host)
	if h.Job != "" {
		who += fmt.Sprintf(", job %s task %d", h.Job, h.Task)
	}
	return fmt.Sprintf("%s is held by %s (alive %s ago); if that task is dead, remove the lock file",
		e.Path, who, e.Age.Round(time.Second))
}

// Is makes errors.Is(err, ErrLocked) true.
func (e *LockedError) Is(target error) bool { return target == ErrLocked }

// Lock is a held shard lock. Its heartbeat runs until Release.
type Lock struct {
	path string
	info LockInfo
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
	return LockInfo{Host: host, PID: pid, PIDStart: procStart(pid), Job: job, Task: task, Restart: restart}
}

// AcquireLock takes the lock at path for holder, breaking it first if it is stale.
func AcquireLock(path string, holder LockInfo, opts LockOptions) (*Lock, error) {
	if opts.Heartbeat <= 0 {
		opts.Heartbeat = 30 * time.Second
	}
	if opts.StaleAfter <= 0 {
		opts.StaleAfter = DefaultStaleAfter
	}
	var tok [12]byte
	rand.Read(tok[:])
	holder.Token = hex.EncodeToString(tok[:])
	holder.Started = time.Now().UTC().Truncate(time.Second)
	data, err := json.Marshal(holder)
	if err != nil {
		return nil, err
	}
	for attempt := 0; attempt < 3; attempt++ {
		err := createExclusive(path, append(data, '\n'))
		if err == nil {
			l := &Lock{path: path, info: holder, stop: make(chan struct{}), done: make(chan struct{}), lost: make(chan struct{})}
			go l.heartbeat(opts.Heartbeat)
			return l, nil
		}
		if !errors.Is(err, os.ErrExist) {
			return nil, fmt.Errorf("lock %s: %w", path, err)
		}
		old, age, err := readLock(path)
		if errors.Is(err, os.ErrNotExist) {
			continue // released meanwhile
		}
		if err != nil {
			return nil, fmt.Errorf("lock %s: %w (remove it if no task holds it)", path, err)
		}
		if !stale(old, age, holder, opts.StaleAfter) {
			return nil, &LockedError{Path: path, Holder: old, Age: age}
		}
		if err := breakLock(path, old); err != nil {
			return nil, err
		}
	}
	return nil, fmt.Errorf("lock %s: kept changing hands while we tried to take it", path)
}

func createExclusive(path string, data []byte) error {
	f, err := durable.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return err
	}
	_, err = f.Write(data)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		os.Remove(path)
	}
	return err
}

// ReadLock returns who holds the lock at path and how long ago it last showed it was alive
// (its heartbeat); os.ErrNotExist if nobody holds it.
func ReadLock(path string) (LockInfo, time.Duration, error) { return readLock(path) }

// readLock returns the lock's content and how long ago it was last touched.
func readLock(path string) (LockInfo, time.Duration, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return LockInfo{}, 0, err
	}
	st, err := os.Stat(path)
	if err != nil {
		return LockInfo{}, 0, err
	}
	var info LockInfo
	if err := json.Unmarshal(bytes.TrimSpace(data), &info); err != nil || info.Token == "" {
		// A lock torn by a crash before its content was synced: it can only be stale
		// once its mtime says so.
		return LockInfo{Token: "unreadable"}, time.Since(st.ModTime()), nil
	}
	return info, time.Since(st.ModTime()), nil
}

// DefaultStaleAfter is how long a lock may go untouched before its holder counts as dead.
const DefaultStaleAfter = 3 * time.Minute

// HolderGone reports whether a lock, last touched age ago, is stale: its holder ran on
// this host and is gone, or it missed its heartbeats for DefaultStaleAfter.
func HolderGone(info LockInfo, age time.Duration) bool {
	return stale(info, age, LockInfo{}, DefaultStaleAfter)
}

// stale decides whether a lock's holder is gone.
func stale(old LockInfo, age time.Duration, me LockInfo, after time.Duration) bool {
	if age > after {
		return true // six missed heartbeats: the holder's node is dead or hung
	}
	host, _ := os.Hostname()
	if old.Host == host && old.PID > 0 {
		start := procStart(old.PID)
		if start == 0 || (old.PIDStart != 0 && start != old.PIDStart) {
			return true // that process is gone (or the pid now belongs to another)
		}
		return false
	}
	// A requeued Slurm task replaces its earlier incarnation: Slurm starts the new one only
	// after the old one ended.
	return old.Job != "" && old.Job == me.Job && old.Task == me.Task && me.Restart > old.Restart
}

// breakLock removes a stale lock atomically with respect to other breakers: only the one
// that creates the hard link named after the stale token may remove it.
func breakLock(path string, old LockInfo) error {
	marker := path + ".stale-" + old.Token
	if err := os.Link(path, marker); err != nil {
		if errors.Is(err, os.ErrExist) {
			// Another task is breaking it, or one died doing so and left its marker: the
			// link's ctime is when that happened.
			var st unix.Stat_t
			if unix.Lstat(marker, &st) == nil && time.Since(time.Unix(st.Ctim.Unix())) > time.Minute {
				os.Remove(marker)
			}
			return nil // try again from the top
		}
		if errors.Is(err, os.ErrNotExist) {
			return nil
		}
		return fmt.Errorf("breaking stale lock %s: %w", path, err)
	}
	defer os.Remove(marker)
	now, _, err := readLock(path)
	if err != nil || now.Token != old.Token {
		return nil // it changed hands meanwhile: not ours to remove
	}
	if err := os.Remove(path); err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("breaking stale lock %s: %w", path, err)
	}
	return nil
}

// heartbeat touches the lock with the server's clock, and notices if it was taken away.
func (l *Lock) heartbeat(every time.Duration) {
	defer close(l.done)
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-l.stop:
			return
		case <-t.C:
			info, _, err := readLock(l.path)
			if err != nil || info.Token != l.info.Token {
				l.once.Do(func() { close(l.lost) })
				return
			}
			now := []unix.Timespec{{Nsec: unix.UTIME_NOW}, {Nsec: unix.UTIME_NOW}}
			unix.UtimesNanoAt(unix.AT_FDCWD, l.path, now, 0)
		}
	}
}

// Lost is closed if the lock was broken by another task (we were taken for dead): the
// holder must stop writing at once.
func (l *Lock) Lost() <-chan struct{} { return l.lost }

// Info returns what the lock file says about us.
func (l *Lock) Info() LockInfo { return l.info }

// Release stops the heartbeat and removes the lock if it is still ours.
func (l *Lock) Release() error {
	close(l.stop)
	<-l.done
	info, _, err := readLock(l.path)
	if err != nil || info.Token != l.info.Token {
		return nil
	}
	return os.Remove(l.path)
}

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
