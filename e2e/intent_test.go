package e2e

import (
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"migrator/campaign"
	"migrator/checkpoint"
	"migrator/lfssim"
	"migrator/manifest"
)

// The test binary doubles as a fake lfs: with MIGRATOR_FAKE_LFS_REAL set it is lfs for a
// work task, checking at the start of every lfs migrate call, as a fresh reader of the
// checkpoint, that the attempt record of every file passed to the call is there; then it
// runs the real simulator with the same arguments.
func init() {
	if os.Getenv("MIGRATOR_FAKE_LFS_REAL") != "" {
		os.Exit(fakeLFS())
	}
}

const (
	fakeReal   = "MIGRATOR_FAKE_LFS_REAL"     // the simulator
	fakeCamp   = "MIGRATOR_FAKE_LFS_CAMPAIGN" // round 0, one shard
	fakeReport = "MIGRATOR_FAKE_LFS_REPORT"   // one line per migrate call: "files missing"
	fakeKillAt = "MIGRATOR_FAKE_LFS_KILL_AT"  // after this migrate call, SIGKILL the task
)

func fakeLFS() int {
	args := os.Args[1:]
	migrate := len(args) > 0 && args[0] == "migrate"
	if migrate {
		files, missing, err := attemptsOnDisk(os.Getenv(fakeCamp), args[1:])
		line := fmt.Sprintf("%d %d\n", files, missing)
		if err != nil {
			line = "error " + strings.ReplaceAll(err.Error(), "\n", " ") + "\n"
		}
		f, _ := os.OpenFile(os.Getenv(fakeReport), os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o600)
		f.WriteString(line)
		f.Close()
	}
	cmd := exec.Command(os.Getenv(fakeReal), args...)
	cmd.Stdin, cmd.Stdout, cmd.Stderr = os.Stdin, os.Stdout, os.Stderr
	err := cmd.Run()
	if migrate && os.Getenv(fakeKillAt) != "" {
		data, _ := os.ReadFile(os.Getenv(fakeReport))
		if fmt.Sprint(strings.Count(string(data), "\n")) == os.Getenv(fakeKillAt) {
			syscall.Kill(os.Getppid(), syscall.SIGKILL) // the node dies right after the call
		}
	}
	var xe *exec.ExitError
	if errors.As(err, &xe) {
		return xe.ExitCode()
	}
	if err != nil {
		return 1
	}
	return 0
}

// attemptsOnDisk counts the files among args (the campaign's paths) and those whose
// attempt record the shard's checkpoint lacks.
func attemptsOnDisk(camp string, args []string) (files, missing int, err error) {
	spec, err := campaign.Dir{Root: camp}.Load()
	if err != nil {
		return 0, 0, err
	}
	idx, err := manifest.ReadIndex(filepath.Join(camp, "manifests"))
	if err != nil {
		return 0, 0, err
	}
	sh := idx.Shards[0]
	r, err := manifest.OpenShard(filepath.Join(camp, "manifests", sh.File), sh.SHA256)
	if err != nil {
		return 0, 0, err
	}
	defer r.Close()
	index := map[string]uint64{}
	var e manifest.Entry
	for i := uint64(0); ; i++ {
		if err := r.Next(&e); err == io.EOF {
			break
		} else if err != nil {
			return 0, 0, err
		}
		index[e.Path] = i
	}
	attempted := map[uint64]bool{}
	hdr := checkpoint.Header{Campaign: spec.ID, Round: 0, Shard: 0, Entries: sh.Files, ShardSHA256: sh.SHA256}
	if _, err := checkpoint.Read(filepath.Join(camp, "checkpoints", checkpoint.LogName(0)), hdr, checkpoint.Visitor{
		Attempt: func(a *checkpoint.Attempt) error { attempted[a.Index] = true; return nil },
	}); err != nil {
		return 0, 0, err
	}
	for _, a := range args {
		if i, ok := index[a]; ok {
			files++
			if !attempted[i] {
				missing++
			}
		}
	}
	return files, missing, nil
}

// planWithFakeLFS plans the campaign with this test binary as its lfs (the fake lfs, which
// passes every call on to the simulator and reports, for each lfs migrate call, how many
// files it was given and how many of those had no attempt record in the checkpoint), with
// --workers workers, and returns the path of that report.
func (e *env) planWithFakeLFS(workers string) string {
	report := filepath.Join(e.root, "fake-lfs.report")
	e.simEnv = append(e.simEnv, fakeReal+"="+e.sim, fakeCamp+"="+e.camp, fakeReport+"="+report)
	self, _ := os.Executable()
	real := e.sim
	e.sim = self // plan records it as the campaign's lfs
	e.plan("--workers", workers, "--shard-files", "1000")
	e.sim = real
	return report
}

// fakeCall is one lfs migrate call the fake lfs saw.
type fakeCall struct{ files, missing int }

// fakeCalls reads the fake lfs's report.
func fakeCalls(t *testing.T, report string) []fakeCall {
	t.Helper()
	data, err := os.ReadFile(report)
	if err != nil {
		t.Fatal(err)
	}
	var out []fakeCall
	for l := range strings.Lines(string(data)) {
		var c fakeCall
		if _, err := fmt.Sscanf(strings.TrimSpace(l), "%d %d", &c.files, &c.missing); err != nil {
			t.Fatalf("fake lfs report: %q", l)
		}
		out = append(out, c)
	}
	return out
}

// Durable intent, end to end: when each lfs migrate call starts, a fresh reader (the fake
// lfs, another process) finds the attempt record of every file passed to it. The task is
// killed with SIGKILL right after one call: the rerun records that call's files as
// migrated (by the earlier run), not as skipped off-source, and migrates every file once.
func TestAttemptRecordsBeforeEveryMigrate(t *testing.T) {
	e := newEnv(t)
	e.mktree(lfssim.TreeOptions{Files: 60, Seed: 27, SourceShare: 1, HostileEvery: 7})
	before := e.snapshot()
	sel := e.selected(before)
	report := e.planWithFakeLFS("1")

	cmd := exec.Command(e.migrator, "work", e.camp, "--shard", "0")
	cmd.Env = append(append(os.Environ(), e.simEnv...), fakeKillAt+"=5")
	var stderr strings.Builder
	cmd.Stderr = &stderr
	cmd.Run()
	if ws, ok := cmd.ProcessState.Sys().(syscall.WaitStatus); !ok || !ws.Signaled() || ws.Signal() != syscall.SIGKILL {
		t.Fatalf("the task was not killed after its fifth call: %v\n%s", cmd.ProcessState, stderr.String())
	}
	e.mustRun(0, "work", e.camp, "--shard", "0")

	calls, files := 0, 0
	for _, c := range fakeCalls(t, report) {
		calls++
		files += c.files
		if c.files == 0 || c.missing != 0 {
			t.Errorf("call %d: %d of its %d files had no attempt record on disk", calls, c.missing, c.files)
		}
	}
	if calls < 6 || files < len(sel) {
		t.Errorf("%d lfs migrate calls for %d files, want at least 6 for %d", calls, files, len(sel))
	}
	e.mustRun(0, "collect", e.camp)
	st := e.status()
	if st.Files.Migrated != uint64(len(sel)) || st.Files.Skipped != 0 || !st.Files.Balanced() {
		t.Errorf("status %+v, skipped %v: the killed call's files must count as migrated", st.Files, st.SkippedByReason)
	}
	e.checkMigrated(before, e.snapshot(), sel)
}

// The same with four workers, one file per call: calls that start together are bound as
// one group, whose attempt records one fsync covers (migrate/callgroup.go). Every call
// still finds the attempt record of each of its files in the checkpoint when it starts,
// and every file is migrated once.
func TestAttemptRecordsBeforeEveryGroupedMigrate(t *testing.T) {
	e := newEnv(t)
	e.mktree(lfssim.TreeOptions{Files: 60, Seed: 28, SourceShare: 1, HostileEvery: 7})
	before := e.snapshot()
	sel := e.selected(before)
	report := e.planWithFakeLFS("4")
	e.mustRun(0, "work", e.camp, "--shard", "0")

	calls, files := 0, 0
	for _, c := range fakeCalls(t, report) {
		calls++
		files += c.files
		if c.files != 1 || c.missing != 0 {
			t.Errorf("call %d: %d of its %d files had no attempt record in the checkpoint", calls, c.missing, c.files)
		}
	}
	if files != len(sel) {
		t.Errorf("%d lfs migrate calls for %d files, want one call per file for %d", calls, files, len(sel))
	}
	e.mustRun(0, "collect", e.camp)
	st := e.status()
	if st.Files.Migrated != uint64(len(sel)) || st.Files.Skipped != 0 || !st.Files.Balanced() {
		t.Errorf("status %+v, skipped %v", st.Files, st.SkippedByReason)
	}
	e.checkMigrated(before, e.snapshot(), sel)
}
