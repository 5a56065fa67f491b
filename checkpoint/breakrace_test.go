package checkpoint

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// breakerHelper runs AcquireLock in a helper process (TestBreakRaces with
// CHECKPOINT_BREAKER set) that stops in breakLock before each unlink of the depths listed
// in CHECKPOINT_BREAK_PAUSES, says so on stdout ("before-break:DEPTH"), and goes on when
// it reads a line. Once it holds the lock it says "locked", and "lost" when its check
// fails.
func breakerHelper(path string) {
	pauses := map[int]bool{}
	for _, p := range strings.Split(os.Getenv("CHECKPOINT_BREAK_PAUSES"), ",") {
		if d, err := strconv.Atoi(p); err == nil {
			pauses[d] = true
		}
	}
	in := bufio.NewReader(os.Stdin)
	testBeforeBreak = func(depth int) {
		if pauses[depth] {
			delete(pauses, depth)
			fmt.Printf("before-break:%d\n", depth)
			in.ReadString('\n')
		}
	}
	me := CurrentHolder(os.Getenv)
	opts := LockOptions{}
	if h := os.Getenv("CHECKPOINT_BREAKER_HOST"); h != "" {
		me, opts = LockInfo{Host: h, PID: os.Getpid()}, quick
	}
	l, err := AcquireLock(path, me, opts)
	if err != nil {
		fmt.Println("err", err)
		os.Exit(3)
	}
	fmt.Println("locked")
	for l.Check() == nil {
		time.Sleep(20 * time.Millisecond)
	}
	fmt.Println("lost")
	time.Sleep(time.Hour)
}

type breaker struct {
	t   *testing.T
	cmd *exec.Cmd
	in  io.Writer
	out *bufio.Reader
}

func startBreaker(t *testing.T, path, host, pauses string) *breaker {
	cmd := exec.Command(os.Args[0], "-test.run=^TestBreakRaces$")
	cmd.Env = append(os.Environ(), "CHECKPOINT_BREAKER="+path, "CHECKPOINT_BREAKER_HOST="+host, "CHECKPOINT_BREAK_PAUSES="+pauses)
	in, _ := cmd.StdinPipe()
	out, _ := cmd.StdoutPipe()
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	return &breaker{t, cmd, in, bufio.NewReader(out)}
}

// says waits for the helper's next line, which must be want.
func (b *breaker) says(want string) {
	b.t.Helper()
	line := make(chan string, 1)
	go func() { s, _ := b.out.ReadString('\n'); line <- strings.TrimSpace(s) }()
	select {
	case s := <-line:
		if s != want {
			b.t.Fatalf("pid %d said %q, want %q", b.cmd.Process.Pid, s, want)
		}
	case <-time.After(10 * time.Second):
		b.t.Fatalf("pid %d did not say %q", b.cmd.Process.Pid, want)
	}
}

func (b *breaker) goOn() { b.in.Write([]byte("\n")) }

// A breaker that lingers between its last look and its unlink (preempted, or stopped by
// Slurm's suspend or a stalled node) must not unlink a lock that a live task took
// meanwhile: no two tasks ever hold the lock, and the live holder keeps it.
func TestBreakRaces(t *testing.T) {
	if p := os.Getenv("CHECKPOINT_BREAKER"); p != "" {
		breakerHelper(p)
		return
	}
	host, _ := os.Hostname()
	dead := exec.Command("true")
	dead.Run()
	dh := LockInfo{Host: host, PID: dead.Process.Pid, PIDStart: 12345, Kernel: thisKernel()}
	stillHeld := func(t *testing.T, b *breaker) {
		t.Helper()
		line := make(chan string, 1)
		go func() { s, _ := b.out.ReadString('\n'); line <- strings.TrimSpace(s) }()
		select {
		case s := <-line:
			t.Fatalf("the holder, pid %d, said %q: its lock was broken while it lived", b.cmd.Process.Pid, s)
		case <-time.After(300 * time.Millisecond):
		}
	}

	// A holder, its breaker and that breaker's reaper all died (kill -9) leaving the lock and
	// two levels of markers. Two live tasks on this host break them at once, each
	// preempted between its look and its unlink while the other runs on.
	t.Run("two local breakers through a dead reaper's marker", func(t *testing.T) {
		path := filepath.Join(t.TempDir(), "shard.lock")
		writeLockFile(t, path, tok(dh, "stale1"), time.Second)
		writeLockFile(t, path+".stale-stale1", tok(dh, "breaker1"), time.Second)
		writeLockFile(t, path+".stale-stale1.stale-breaker1", tok(dh, "reaper1"), time.Second)
		y := startBreaker(t, path, "", "2,1,0")
		y.says("before-break:2") // Y judged the dead reaper's marker; it is about to unlink it
		x := startBreaker(t, path, "", "1,0")
		x.says("before-break:1") // X unlinked it and made its own; it is about to unlink the dead breaker's
		y.goOn()
		// Y unlinks X's marker (not the one it judged) and goes on as if it held it.
		select {
		case s := <-func() chan string {
			c := make(chan string, 1)
			go func() { s, _ := y.out.ReadString('\n'); c <- strings.TrimSpace(s) }()
			return c
		}():
			if s != "before-break:1" {
				return // Y did not go on with the break: it waits for X, as it must
			}
		case <-time.After(300 * time.Millisecond):
			return // Y waits for X, as it must
		}
		x.goOn()
		x.says("before-break:0")
		y.goOn()
		y.says("before-break:0")
		x.goOn()
		x.says("locked")
		y.goOn()
		stillHeld(t, x)
	})

	// A breaker on another node is stopped after its last look at the stale lock; its
	// marker goes stale and is broken, and another task takes the lock. When the breaker is
	// continued it must leave that task's lock alone.
	t.Run("a stopped breaker on another node wakes", func(t *testing.T) {
		path := filepath.Join(t.TempDir(), "shard.lock")
		writeLockFile(t, path, LockInfo{Host: "elsewhere", PID: 1, Token: "stale1"}, time.Hour)
		b := startBreaker(t, path, "node-a", "0")
		b.says("before-break:0")
		b.cmd.Process.Signal(syscall.SIGSTOP)
		t0 := time.Now()
		h := startBreaker(t, path, "node-b", "")
		h.says("locked") // after the stopped breaker's marker was seen stale and watched
		t.Logf("taken from the stopped breaker after %v", time.Since(t0))
		b.cmd.Process.Signal(syscall.SIGCONT)
		b.goOn()
		stillHeld(t, h)
		if info, _, err := readLock(path); err != nil || info.Host != "node-b" {
			t.Errorf("the lock now holds %+v, %v; want node-b's", info, err)
		}
	})
}

// A holder that lingers in Release between its check and its unlink, while another task
// takes it for dead and takes the lock, leaves that task's lock alone.
func TestReleaseLingering(t *testing.T) {
	path := filepath.Join(t.TempDir(), "shard.lock")
	a, err := AcquireLock(path, LockInfo{Host: "node-a", PID: 1}, quick)
	if err != nil {
		t.Fatal(err)
	}
	var b *Lock
	testBeforeRelease = func() {
		testBeforeRelease = nil
		os.Remove(path) // broken as stale by another task, which takes it
		if b, err = AcquireLock(path, LockInfo{Host: "node-b", PID: 2}, quick); err != nil {
			t.Fatal(err)
		}
	}
	t.Cleanup(func() { testBeforeRelease = nil })
	if err := a.Release(); err != nil {
		t.Fatalf("release: %v", err)
	}
	if b == nil {
		t.Fatal("the hook did not run")
	}
	if err := b.Check(); err != nil {
		t.Fatalf("the lingering holder's release removed its successor's lock: %v", err)
	}
	if info, _, _ := readLock(path); info.Token != b.Info().Token {
		t.Errorf("lock holds %+v, want the successor's", info)
	}
	b.Release()
	if ents, _ := os.ReadDir(filepath.Dir(path)); len(ents) != 0 {
		t.Errorf("left behind: %v", ents)
	}
}
