package e2e

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/dustin/go-humanize"

	"migrator/launch"
	"migrator/lfssim"
)

// started runs migrator in a process group of its own, as a shell runs a foreground job:
// the terminal's Ctrl-C is a SIGINT to that whole group.
func (e *env) started(args ...string) (*exec.Cmd, *bytes.Buffer) {
	e.t.Helper()
	cmd := exec.Command(e.migrator, args...)
	cmd.Env = append(os.Environ(), e.simEnv...)
	var errb bytes.Buffer
	cmd.Stderr = &errb
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		e.t.Fatal(err)
	}
	e.t.Cleanup(func() { syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL); cmd.Wait() })
	return cmd, &errb
}

// waitForText waits until the file at path contains text.
func waitForText(t *testing.T, path, text string) {
	t.Helper()
	for deadline := time.Now().Add(30 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		if b, _ := os.ReadFile(path); bytes.Contains(b, []byte(text)) {
			return
		}
	}
	t.Fatalf("%s never said %q", path, text)
}

func exitCode(err error) int {
	if xe, ok := err.(*exec.ExitError); ok {
		return xe.ExitCode()
	}
	if err != nil {
		return -1
	}
	return 0
}

// Ctrl-C on a local run: each task gets exactly one SIGTERM and checkpoints; a second
// Ctrl-C kills them at once; the last line is the command that continues, and running it
// finishes the campaign with every file migrated exactly once.
func TestLocalRunCtrlC(t *testing.T) {
	for _, tc := range []struct {
		name   string
		twice  bool
		hangup bool // the terminal went away: SIGHUP to the runner alone
	}{{"ctrl-c", false, false}, {"ctrl-c twice", true, false}, {"hangup", false, true}} {
		twice := tc.twice
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t, "LFS_SIM_LATENCY=300ms")
			e.mktree(lfssim.TreeOptions{Files: 60, Seed: 36, SourceShare: 1})
			before := e.snapshot()
			sel := e.selected(before)
			args := e.planArgs("--scheduler", "local", "--shard-files", "15", "--array-throttle", "2", "--workers", "2")
			cmd, stderr := e.started(args...)
			log0 := filepath.Join(e.camp, "logs", "local-0-0.out")
			waitForText(t, log0, "shard 0 of campaign")
			time.Sleep(200 * time.Millisecond)
			if tc.hangup {
				syscall.Kill(cmd.Process.Pid, syscall.SIGHUP)
			} else {
				syscall.Kill(-cmd.Process.Pid, syscall.SIGINT) // the terminal's Ctrl-C
			}
			t0 := time.Now()
			if twice {
				time.Sleep(100 * time.Millisecond)
				syscall.Kill(-cmd.Process.Pid, syscall.SIGINT)
			}
			code := exitCode(cmd.Wait())
			took := time.Since(t0)
			out := stderr.String()
			if code != 5 {
				t.Fatalf("exit %d, want 5:\n%s", code, out)
			}
			if strings.Contains(out, "context canceled") {
				t.Errorf("plan printed context canceled:\n%s", out)
			}
			lines := strings.Split(strings.TrimSpace(out), "\n")
			want := "migrator plan: interrupted; continue with: " + launch.CommandLine(append([]string{e.migrator}, args...)...)
			if last := lines[len(lines)-1]; last != want {
				t.Errorf("last line\n%q, want\n%q", last, want)
			}
			log, _ := os.ReadFile(log0)
			switch {
			case twice:
				if !strings.Contains(out, "again: killing the running shards now") || took > 2*time.Second {
					t.Errorf("second Ctrl-C: took %v:\n%s", took, out)
				}
			case bytes.Count(log, []byte("SIGTERM: finishing")) != 1 || bytes.Contains(log, []byte("SIGINT")) || bytes.Contains(log, []byte("second signal")):
				t.Errorf("shard 0 did not get exactly one SIGTERM:\n%s", log)
			}
			// Continue as told.
			e.mustRun(0, args...)
			e.checkMigrated(before, e.snapshot(), sel)
		})
	}
}

// A local run says what happens: progress lines, each shard's exit with its meaning as it
// happens, and collect's summary; a second local run of the campaign says another holds it.
func TestLocalRunIsWatchable(t *testing.T) {
	e := newEnv(t, "LFS_SIM_FAIL_EVERY=5", "LFS_SIM_FAIL_ERRNO=EACCES", "LFS_SIM_LATENCY=40ms")
	e.mktree(lfssim.TreeOptions{Files: 100, Seed: 37, SourceShare: 1})
	sel := e.selected(e.snapshot())
	args := e.planArgs("--scheduler", "local", "--shard-files", "25", "--array-throttle", "2", "--workers", "2", "--progress", "300ms")
	cmd, stderr := e.started(args...)
	waitForText(t, filepath.Join(e.camp, "logs", "local-0-0.out"), "shard 0 of campaign")
	r := e.mustRun(6, args...)
	if !strings.Contains(r.stderr, "another local run of this campaign holds it (pid ") {
		t.Errorf("second run: %s", r.stderr)
	}
	code := exitCode(cmd.Wait())
	out := stderr.String()
	if code != 3 {
		t.Fatalf("exit %d, want 3:\n%s", code, out)
	}
	ended := regexp.MustCompile(`(?m)^shard (\d+): (done|exit 3, finished, but some files failed or remain: migrator work: \d+ files failed.*)$`).FindAllStringSubmatch(out, -1)
	shards := map[string]bool{}
	for _, m := range ended {
		shards[m[1]] = true
	}
	if len(ended) != 4 || len(shards) != 4 {
		t.Errorf("want one exit line for each of 4 shards, got %d:\n%s", len(ended), out)
	}
	if !regexp.MustCompile(`(?m)^\S+ \S+ round 0: \d/4 shards ended, \d+/\d+ files, `).MatchString(out) {
		t.Errorf("no progress line:\n%s", out)
	}
	if !strings.Contains(out, fmt.Sprintf("of %d files handled", len(sel))) || !strings.Contains(out, "failed:  permission") {
		t.Errorf("no collect summary:\n%s", out)
	}
	if !strings.Contains(out, "did not finish cleanly (see above); continue with: "+launch.CommandLine(e.migrator, "retry", e.camp, "--scheduler", "local")) {
		t.Errorf("no last word:\n%s", out)
	}
}

// A local dry run ends with what it would migrate, files and bytes per source OST.
func TestLocalDryRunSaysWhatItWouldMigrate(t *testing.T) {
	e := newEnv(t)
	e.mktree(lfssim.TreeOptions{Files: 150, Seed: 38})
	snap := e.snapshot()
	files, bytes := map[uint32]uint64{}, map[uint32]uint64{}
	for _, names := range e.selected(snap) {
		fi, err := os.Stat(names[0])
		if err != nil {
			t.Fatal(err)
		}
		for _, o := range snap[names[0]].OSTs {
			if e.sources.Contains(o) && true {
				files[o]++
				bytes[o] += uint64(fi.Size())
			}
		}
	}
	var parts []string
	for _, o := range e.sources {
		parts = append(parts, fmt.Sprintf("OST%d %d files, %s", o, files[o], humanize.IBytes(bytes[o])))
	}
	r := e.mustRun(0, e.planArgs("--dry-run", "--scheduler", "local", "--shard-files", "60")...)
	if want := "would migrate: " + strings.Join(parts, "; "); !strings.Contains(r.stderr, want) {
		t.Errorf("stderr lacks %q:\n%s", want, r.stderr)
	}
}
