package slurm

import (
	"strings"
	"testing"
	"time"
)

func TestPartlyFinished(t *testing.T) {
	ok := []string{"190_0-1: Job has already finished 190_2-10: No error", "190_0: Job has already finished\n190_[2-10]: No error\n", "Job has already finished"}
	bad := []string{"Invalid job id specified", "190_0-1: Job has already finished 190_2-10: Access/permission denied", "slurm_suspend error: Invalid job id specified"}
	for _, m := range ok {
		if partlyFinished(&Error{Cmd: "scontrol hold", Code: 1, Stderr: m}) != nil {
			t.Errorf("not forgiven: %q", m)
		}
	}
	for _, m := range bad {
		if partlyFinished(&Error{Cmd: "scontrol hold", Code: 1, Stderr: m}) == nil {
			t.Errorf("forgiven: %q", m)
		}
	}
}

// What Slurm 22.05's clients print when they fail, reduced to one line that names the
// command (Error) and says what went wrong.
func TestErrorSummary(t *testing.T) {
	tests := []struct {
		cmd, stderr, want string
	}{
		{"squeue", "squeue: error: resolve_ctls_from_dns_srv: res_nsearch error: Unknown host\nsqueue: error: fetch_config: DNS SRV lookup failed\nsqueue: error: _establish_config_source: failed to fetch config\nsqueue: fatal: Could not establish a configuration source\n",
			"squeue: Could not establish a configuration source (Slurm has no configuration here: set SLURM_CONF, or run where Slurm is set up)"},
		{"squeue", "slurm_load_jobs error: Unable to contact slurm controller (connect failure)\n",
			"squeue: Unable to contact slurm controller (connect failure) (is slurmctld running and reachable from here?)"},
		{"sbatch", "sbatch: error: Batch job submission failed: Unable to contact slurm controller (connect failure)\n",
			"sbatch: Batch job submission failed: Unable to contact slurm controller (connect failure) (is slurmctld running and reachable from here?)"},
		{"sbatch", "sbatch: error: Memory specification can not be satisfied\nsbatch: error: Batch job submission failed: Requested node configuration is not available\n",
			"sbatch: Memory specification can not be satisfied (no node offers what the job script asks: compare its --mem and --cpus-per-task with the nodes' RealMemory and CPUs in scontrol show node)"},
		{"scontrol hold", "Invalid job id specified for job 999999\n", "scontrol hold: Invalid job id specified for job 999999"},
		{"scontrol release", "190_0: Job has already finished\n190_[2-10]: Access/permission denied\n", "scontrol release: 190_0: Job has already finished"},
		{"sbatch", "sbatch: unrecognized option '--bogus'\nTry \"sbatch --help\" for more information\n", "sbatch: unrecognized option '--bogus'"},
		{"scancel", "", "scancel: exit status 1"},
		{"scancel", "  \n\t\n", "scancel: exit status 1"},
	}
	for _, tt := range tests {
		got := (&Error{Cmd: tt.cmd, Code: 1, Stderr: tt.stderr}).Error()
		if got != tt.want {
			t.Errorf("%s %q:\n got %q\nwant %q", tt.cmd, tt.stderr, got, tt.want)
		}
		if strings.Contains(got, "\n") {
			t.Errorf("%q: more than one line", got)
		}
	}
}

func TestElapsedTime(t *testing.T) {
	tests := map[string]time.Duration{
		"0:00":       0,
		"1:02":       62 * time.Second,
		"1:02:03":    time.Hour + 2*time.Minute + 3*time.Second,
		"2-01:02:03": 49*time.Hour + 2*time.Minute + 3*time.Second,
		"":           0,
		"N/A":        0,
		"x-1:00":     0,
	}
	for in, want := range tests {
		if got := (Task{Elapsed: in}).ElapsedTime(); got != want {
			t.Errorf("%q: %v, want %v", in, got, want)
		}
	}
}
