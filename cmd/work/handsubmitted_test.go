package work

import (
	"os"
	"path/filepath"
	"testing"

	"migrator/campaign"
)

// A task records the array it runs in from SLURM_ARRAY_JOB_ID. Only a Slurm job id (digits)
// is recorded: anything else would name a marker file outside the campaign
// (.recorded-JOBID) and reach scancel and scontrol as an argument (a "--user=..." there
// cancels every job of that user).
func TestRecordHandSubmittedOnlyJobIDs(t *testing.T) {
	for _, tc := range []struct {
		job    string
		record bool
	}{
		{"4242", true},
		{"a/../../escaped", false},
		{"--user=root", false},
		{"12 13", false},
	} {
		t.Run(tc.job, func(t *testing.T) {
			base := t.TempDir()
			d := campaign.Dir{Root: filepath.Join(base, "c")}
			if err := d.Prepare(); err != nil {
				t.Fatal(err)
			}
			env := map[string]string{"SLURM_ARRAY_JOB_ID": tc.job, "SLURM_ARRAY_TASK_MIN": "0", "SLURM_ARRAY_TASK_MAX": "3"}
			recordHandSubmitted(d, 0, func(k string) string { return env[k] }, 4)
			subs, err := d.Submissions()
			if err != nil {
				t.Fatal(err)
			}
			if got := len(subs) == 1 && subs[0].JobID == tc.job; got != tc.record || (!tc.record && len(subs) != 0) {
				t.Fatalf("submissions %+v, want recorded %v", subs, tc.record)
			}
			if _, err := os.Stat(filepath.Join(base, "escaped")); err == nil {
				t.Fatalf("a marker file was made outside the campaign")
			}
		})
	}
}
