package checkpoint

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// A task that dies while it breaks a stale lock leaves its break marker behind. Whatever
// it left, the next task takes the lock, at once when the breaker's process is gone from
// this host, and leaves no marker behind.
func TestDeadBreakerLeftovers(t *testing.T) {
	host, _ := os.Hostname()
	dead := exec.Command("true")
	dead.Run()
	deadHolder := LockInfo{Host: host, PID: dead.Process.Pid, PIDStart: 12345, Kernel: thisKernel()}
	alive := LockInfo{Host: host, PID: os.Getpid(), PIDStart: procStart(os.Getpid()), Kernel: thisKernel()}
	elsewhere := LockInfo{Host: "elsewhere", PID: 1}
	me := LockInfo{Host: host, PID: os.Getpid(), PIDStart: procStart(os.Getpid()), Kernel: thisKernel()}
	type file struct {
		suffix string // after the lock's name
		info   LockInfo
		age    time.Duration
	}
	tests := []struct {
		name    string
		files   []file
		waited  bool          // the lock is taken only after a marker was seen stale and watched
		release time.Duration // a live breaker finishes its break this long after we start
		left    string        // a leftover that a take that met no lock leaves for the next contest
	}{
		{name: "killed after taking the marker, before removing the lock",
			files: []file{{"", tok(deadHolder, "stale1"), time.Second}, {".stale-stale1", tok(deadHolder, "breaker1"), time.Second}}},
		{name: "killed after removing the lock, before removing the marker",
			files: []file{{".stale-stale1", tok(deadHolder, "breaker1"), time.Second}}, left: "shard.lock.stale-stale1"},
		{name: "the breaker's reaper died too",
			files: []file{{"", tok(deadHolder, "stale1"), time.Second}, {".stale-stale1", tok(deadHolder, "breaker1"), time.Second},
				{".stale-stale1.stale-breaker1", tok(deadHolder, "reaper1"), time.Second}}},
		{name: "a marker as an older release left it: a link to the stale lock",
			files: []file{{"", tok(deadHolder, "stale1"), time.Second}, {".stale-stale1", tok(deadHolder, "stale1"), time.Second}}},
		{name: "a breaker on another node died: its marker is judged like its lock",
			files: []file{{"", tok(elsewhere, "stale1"), time.Hour}, {".stale-stale1", tok(elsewhere, "breaker1"), time.Hour}}, waited: true},
		{name: "a live breaker finishes: wait for it",
			files:   []file{{"", tok(deadHolder, "stale1"), time.Second}, {".stale-stale1", tok(alive, "breaker1"), 0}},
			release: 300 * time.Millisecond},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "shard.lock")
			for _, f := range tt.files {
				writeLockFile(t, path+f.suffix, f.info, f.age)
			}
			if tt.release > 0 {
				go func() {
					time.Sleep(tt.release)
					os.Remove(path)
					os.Remove(path + ".stale-stale1")
				}()
			}
			t0 := time.Now()
			l, err := AcquireLock(path, me, quick)
			took := time.Since(t0)
			if err != nil {
				t.Fatalf("lock not taken: %v", err)
			}
			if info, _, _ := readLock(path); info.Token != l.Info().Token {
				t.Errorf("lock holds %+v", info)
			}
			if tt.waited != (took >= quick.StaleAfter) {
				t.Errorf("took %v, want watched=%v", took, tt.waited)
			}
			if tt.release > 0 && took < tt.release {
				t.Errorf("took %v: the lock was broken under a live breaker", took)
			}
			l.Release()
			ents, _ := os.ReadDir(filepath.Dir(path))
			if len(ents) > 1 || len(ents) == 1 && ents[0].Name() != tt.left {
				t.Errorf("left behind: %v", ents)
			}
		})
	}
}

func tok(info LockInfo, token string) LockInfo { info.Token = token; return info }

// A live breaker's marker is never taken from it: a task that finds one waits, and gives
// up with ErrLocked naming the breaker only when it stands far longer than a break takes.
func TestLiveBreakerIsWaitedFor(t *testing.T) {
	host, _ := os.Hostname()
	path := filepath.Join(t.TempDir(), "shard.lock")
	dead := exec.Command("true")
	dead.Run()
	writeLockFile(t, path, LockInfo{Host: host, PID: dead.Process.Pid, PIDStart: 1, Kernel: thisKernel(), Token: "stale1"}, time.Second)
	// The breaker is alive on this host (this very process), and hung.
	writeLockFile(t, path+".stale-stale1", LockInfo{Host: host, PID: os.Getpid(), PIDStart: procStart(os.Getpid()), Kernel: thisKernel(), Token: "breaker1"}, 0)
	t0 := time.Now()
	_, err := AcquireLock(path, LockInfo{Host: host, PID: os.Getpid(), Kernel: thisKernel()}, quick)
	if !errors.Is(err, ErrLocked) || time.Since(t0) < 3*quick.StaleAfter {
		t.Fatalf("after %v: %v, want ErrLocked after waiting %v", time.Since(t0), err, 3*quick.StaleAfter)
	}
	if info, _, _ := readLock(path); info.Token != "stale1" {
		t.Errorf("the lock was broken under a live breaker: %+v", info)
	}
	if info, _, _ := readLock(path + ".stale-stale1"); info.Token != "breaker1" {
		t.Errorf("a live breaker's marker was taken: %+v", info)
	}
}

// Tasks on this host take the lock in turn while SIGKILL lands at random moments, in the
// middle of breaking a dead holder's lock as anywhere else: no two ever hold it at once,
// and after the killing stops a task takes it at once (no marker left by a breaker killed
// mid-break stands in the way).
func TestLockUnderKills(t *testing.T) {
	if p := os.Getenv("CHECKPOINT_LOCK_CHURN"); p != "" {
		lockChurn(p)
		return
	}
	dir := t.TempDir()
	path := filepath.Join(dir, "collect.lock")
	inside := filepath.Join(dir, "inside")
	rng := rand.New(rand.NewPCG(7, 7))
	deadline := time.Now().Add(8 * time.Second)
	var procs []*exec.Cmd
	spawn := func() {
		cmd := exec.Command(os.Args[0], "-test.run=^TestLockUnderKills$")
		cmd.Env = append(os.Environ(), "CHECKPOINT_LOCK_CHURN="+path)
		cmd.Stderr = os.Stderr
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		procs = append(procs, cmd)
	}
	for range 4 {
		spawn()
	}
	kills := 0
	for time.Now().Before(deadline) {
		time.Sleep(time.Duration(rng.IntN(8000)) * time.Microsecond)
		i := rng.IntN(len(procs))
		procs[i].Process.Kill()
		procs[i].Wait()
		procs = append(procs[:i], procs[i+1:]...)
		kills++
		spawn()
	}
	for _, p := range procs {
		p.Process.Kill()
		p.Wait()
	}
	if data, err := os.ReadFile(inside + ".twice"); err == nil {
		t.Fatalf("two tasks held the lock at once: %s", data)
	}
	// Whatever the last kills left, the next task takes the lock without waiting out a
	// stale age: every holder and breaker was on this host, and is gone.
	t0 := time.Now()
	l, err := AcquireLock(path, CurrentHolder(os.Getenv), LockOptions{})
	if err != nil {
		t.Fatalf("after %d kills: %v", kills, err)
	}
	if took := time.Since(t0); took > 5*time.Second {
		t.Errorf("took %v to take the lock after the kills", took)
	}
	l.Release()
	// What killed breakers and creators left is tidied by the next take that meets a break
	// marker (a dead breaker's, here), once the temporary files are stale.
	time.Sleep(quick.StaleAfter)
	host, _ := os.Hostname()
	dead := exec.Command("true")
	dead.Run()
	deadInfo := LockInfo{Host: host, PID: dead.Process.Pid, PIDStart: 1, Kernel: thisKernel()}
	writeLockFile(t, path, tok(deadInfo, "stale1"), 0)
	writeLockFile(t, path+".stale-stale1", tok(deadInfo, "breaker1"), 0)
	if l, err = AcquireLock(path, CurrentHolder(os.Getenv), quick); err != nil {
		t.Fatal(err)
	}
	l.Release()
	ents, _ := os.ReadDir(dir)
	for _, e := range ents {
		if strings.HasPrefix(e.Name(), "collect.lock") || strings.HasPrefix(e.Name(), ".") {
			t.Errorf("left behind: %s", e.Name())
		}
	}
	taken, _ := os.ReadFile(filepath.Join(dir, "taken"))
	t.Logf("%d kills, %d takes", kills, len(taken))
	if kills < 100 || len(taken) < 100 {
		t.Errorf("only %d kills and %d takes: the churn did not run", kills, len(taken))
	}
}

// lockChurn takes the lock at path and releases it, over and over, proving while it holds
// it that nobody else does: it creates path's sibling "inside" exclusively (and records a
// clash in "inside.twice").
func lockChurn(path string) {
	dir := filepath.Dir(path)
	inside := filepath.Join(dir, "inside")
	taken, _ := os.OpenFile(filepath.Join(dir, "taken"), os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o600)
	for {
		l, err := AcquireLock(path, CurrentHolder(os.Getenv), LockOptions{Poll: time.Millisecond})
		if errors.Is(err, ErrLocked) {
			continue
		}
		if err != nil {
			fmt.Fprintln(os.Stderr, "churn:", err)
			os.Exit(1)
		}
		if err := enter(inside); err != nil {
			os.WriteFile(inside+".twice", []byte(err.Error()), 0o600)
			os.Exit(1)
		}
		taken.Write([]byte{'.'})
		os.Remove(inside)
		l.Release()
	}
}

// enter creates inside naming this process, whole (written under another name, then
// linked). If it exists, its maker must be dead (killed while it held the lock): then it is
// removed and made again; a live maker is a second holder.
func enter(inside string) error {
	tmp := inside + "." + strconv.Itoa(os.Getpid())
	os.WriteFile(tmp, []byte(strconv.Itoa(os.Getpid())), 0o600)
	defer os.Remove(tmp)
	for {
		err := os.Link(tmp, inside)
		if !errors.Is(err, os.ErrExist) {
			return err
		}
		data, _ := os.ReadFile(inside)
		pid, _ := strconv.Atoi(string(data))
		if pid > 0 && procStart(pid) != 0 {
			return fmt.Errorf("pid %d took the lock while pid %d held it", os.Getpid(), pid)
		}
		os.Remove(inside)
	}
}

// Breaking a dead holder's lock does not list the directory (a requeued array's tasks
// each do so, in a directory of every shard's lock and log); a take that meets a break
// marker does, and tidies what killed tasks left: the marker, and stale temporary files.
func TestTidyOnlyAfterAMarker(t *testing.T) {
	host, _ := os.Hostname()
	dead := exec.Command("true")
	dead.Run()
	deadInfo := LockInfo{Host: host, PID: dead.Process.Pid, PIDStart: 1, Kernel: thisKernel()}
	me := LockInfo{Host: host, PID: os.Getpid(), PIDStart: procStart(os.Getpid()), Kernel: thisKernel()}
	dir := t.TempDir()
	path := filepath.Join(dir, "shard.lock")
	temp := filepath.Join(dir, ".tmp-shard.lock.0123456789ab")
	os.WriteFile(temp, []byte("{"), 0o600)
	old := time.Now().Add(-time.Hour)
	os.Chtimes(temp, old, old)

	writeLockFile(t, path, tok(deadInfo, "stale1"), time.Second)
	l, err := AcquireLock(path, me, quick)
	if err != nil {
		t.Fatal(err)
	}
	l.Release()
	if _, err := os.Lstat(temp); err != nil {
		t.Fatalf("a plain break listed the directory and tidied: %v", err)
	}

	writeLockFile(t, path, tok(deadInfo, "stale2"), time.Second)
	writeLockFile(t, path+".stale-stale2", tok(deadInfo, "breaker2"), time.Second)
	if l, err = AcquireLock(path, me, quick); err != nil {
		t.Fatal(err)
	}
	l.Release()
	if ents, _ := os.ReadDir(dir); len(ents) != 0 {
		t.Errorf("after a take that met a dead breaker's marker, left behind: %v", ents)
	}
}
