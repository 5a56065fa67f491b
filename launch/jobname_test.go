package launch

import (
	"testing"

	"migrator/campaign"
)

// squeue -n splits its list on commas, and Named splits squeue's lines on "|": a job name
// holding either would never be found (or break the parse), so such a campaign directory
// name gives way to the campaign id.
func TestJobName(t *testing.T) {
	spec := &campaign.Spec{ID: "c0ffee"}
	for _, tc := range []struct{ dir, want string }{
		{"/scratch/drain-ost10", "migrator-drain-ost10"},
		{"/scratch/a,b", "migrator-c0ffee"},
		{"/scratch/a|b", "migrator-c0ffee"},
		{"/scratch/a b", "migrator-c0ffee"},
	} {
		if got := JobName(campaign.Dir{Root: tc.dir}, spec); got != tc.want {
			t.Errorf("JobName(%q) = %q, want %q", tc.dir, got, tc.want)
		}
	}
}
