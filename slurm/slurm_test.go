package slurm_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"migrator/internal/slurmtest"
	"migrator/slurm"
)

func TestParseJobIDAndSqueue(t *testing.T) {
	// parseSqueue and parseJobID are exercised through a fake sbatch/squeue on PATH.
	dir := t.TempDir()
	write := func(name, body string) {
		os.WriteFile(filepath.Join(dir, name), []byte("#!/bin/sh\n"+body), 0o755)
	}
	write("sbatch", `echo "sbatch: warning: something"; echo "4242;cluster"`)
	write("squeue", `printf '%s\n' '7_[3-9%2]|7|N/A|PENDING|JobArrayTaskLimit||0:00' '7_1|7|1|RUNNING|None|node1|1:02' '7_2|7|2|PENDING|JobHeldAdmin||0:00'`)
	t.Setenv("PATH", dir+":"+os.Getenv("PATH"))
	c := slurm.New()
	id, err := c.Submit(context.Background(), "/x/job.sbatch", "--array=0-3")
	if err != nil || id != "4242" {
		t.Fatalf("Submit = %q, %v", id, err)
	}
	tasks, err := c.Tasks(context.Background(), "7")
	if err != nil || len(tasks) != 3 {
		t.Fatalf("Tasks = %+v, %v", tasks, err)
	}
	if tasks[0].TaskID != -1 || tasks[1].TaskID != 1 || tasks[1].Node != "node1" || !tasks[2].Held() || tasks[1].Held() {
		t.Errorf("tasks %+v", tasks)
	}
	write("sbatch", `echo "sbatch: error: Batch job submission failed: Unable to contact slurm controller (connect failure)" >&2; exit 1`)
	_, err = c.Submit(context.Background(), "/x/job.sbatch")
	var se *slurm.Error
	if !errors.As(err, &se) || !strings.Contains(err.Error(), "Unable to contact slurm controller") {
		t.Errorf("failed sbatch: %v", err)
	}
	t.Setenv("PATH", dir)
	os.Remove(filepath.Join(dir, "scontrol"))
	if err := c.Hold(context.Background(), "1"); !errors.Is(err, slurm.ErrNoSlurm) {
		t.Errorf("missing scontrol: %v", err)
	}
}

// A real job array on the project's single-node Slurm: every task runs once and sees its
// own SLURM_ARRAY_TASK_ID and the array's SLURM_ARRAY_JOB_ID.
func TestRealArray(t *testing.T) {
	c := slurmtest.Require(t)
	dir := t.TempDir()
	script := filepath.Join(dir, "job.sbatch")
	body := "#!/bin/bash\necho \"$SLURM_ARRAY_JOB_ID $SLURM_ARRAY_TASK_ID\" > " + dir + "/task-$SLURM_ARRAY_TASK_ID\n"
	if err := os.WriteFile(script, []byte(body), 0o755); err != nil {
		t.Fatal(err)
	}
	id, err := c.Submit(context.Background(), script, "--array=0-19%8", "--job-name=migrator-test",
		"--chdir="+dir, "--output="+filepath.Join(dir, "%A_%a.out"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Cancel(context.Background(), id) })
	slurmtest.Wait(t, c, 60*time.Second, id)
	for i := 0; i < 20; i++ {
		b, err := os.ReadFile(filepath.Join(dir, fmt.Sprintf("task-%d", i)))
		if err != nil {
			t.Errorf("task %d did not run: %v", i, err)
			continue
		}
		if got, want := strings.TrimSpace(string(b)), fmt.Sprintf("%s %d", id, i); got != want {
			t.Errorf("task %d wrote %q, want %q", i, got, want)
		}
	}
}
