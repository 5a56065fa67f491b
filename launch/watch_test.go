package launch

import (
	"strings"
	"testing"

	"migrator/campaign"
)

func TestCommandLine(t *testing.T) {
	got := CommandLine("/usr/bin/migrator", "plan", "/lustre/a b", "--osts", "2,3", "--exclude", "it's", "--time=12:00:00", "")
	want := `/usr/bin/migrator plan '/lustre/a b' --osts 2,3 --exclude 'it'\''s' --time=12:00:00 ''`
	if got != want {
		t.Errorf("CommandLine =\n%s\nwant\n%s", got, want)
	}
}

func TestLockRun(t *testing.T) {
	d := campaign.Dir{Root: t.TempDir()}
	unlock, err := LockRun(d)
	if err != nil {
		t.Fatal(err)
	}
	// flock(2) locks belong to open files: a second open conflicts even in this process.
	_, err = LockRun(d)
	if err == nil || !strings.Contains(err.Error(), "another local run of this campaign holds it (pid ") {
		t.Fatalf("second LockRun: %v", err)
	}
	if code := err.(interface{ ExitCode() int }).ExitCode(); code != 6 {
		t.Errorf("exit code %d, want 6", code)
	}
	unlock()
	unlock2, err := LockRun(d)
	if err != nil {
		t.Fatalf("after unlock: %v", err)
	}
	unlock2()
}
