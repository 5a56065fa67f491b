package slurm

import "testing"

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
