package slurm_test

import (
	"context"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"migrator/slurm"
)

// Another user's job with the campaign's job name and working directory is not ours:
// squeue is asked for this user's jobs, and lines of other users are dropped anyway.
func TestNamedMatchesUser(t *testing.T) {
	dir := t.TempDir()
	me := strconv.Itoa(os.Geteuid())
	args := filepath.Join(dir, "args")
	body := "#!/bin/sh\necho \"$@\" > " + args + "\nprintf '%s\\n' '10|migrator-c|" + me + "|/camp' '11|migrator-c|4242|/camp' '12|migrator-c-collect|" + me + "|/camp|with|bars'\n"
	os.WriteFile(filepath.Join(dir, "squeue"), []byte(body), 0o755)
	t.Setenv("PATH", dir+":"+os.Getenv("PATH"))
	jobs, err := slurm.New().Named(context.Background(), "migrator-c", "migrator-c-collect")
	if err != nil {
		t.Fatal(err)
	}
	want := []slurm.NamedJob{{JobID: "10", Name: "migrator-c", UID: os.Geteuid(), WorkDir: "/camp"},
		{JobID: "12", Name: "migrator-c-collect", UID: os.Geteuid(), WorkDir: "/camp|with|bars"}}
	if diff := cmp.Diff(want, jobs); diff != "" {
		t.Errorf("Named (-want +got):\n%s", diff)
	}
	if got, _ := os.ReadFile(args); !strings.Contains(string(got), "-u "+me+" ") {
		t.Errorf("squeue was called with %q, want -u %s", got, me)
	}
}
