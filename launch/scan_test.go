package launch

import (
	"strings"
	"testing"

	"migrator/campaign"
	"migrator/templates"
)

// The scan array and seal job scripts come from the campaign's snapshot of --template-dir
// when it holds them, from the built-in templates otherwise; either way with the scan's
// own array (one task per scan task, no throttle) and a broken site template refused.
func TestScanScriptTemplates(t *testing.T) {
	site := "#!/bin/bash\n# site scan template\n#SBATCH --job-name={{.JobName}}-scan\n#SBATCH --array={{.Array}}\nexec {{sq .Exe}} scan-task {{sq .Campaign}} --task \"$SLURM_ARRAY_TASK_ID\"\n"
	for _, tc := range []struct {
		name      string
		set       map[string]string
		tmpl      string
		want      []string
		wantNot   []string
		wantError string
	}{
		{"built-in scan", nil, templates.Scan,
			[]string{"#SBATCH --array=0-3\n", "#SBATCH --job-name=migrator-drain-scan\n", "'/bin/migrator' scan-task '/c/drain' --task"}, []string{"site"}, ""},
		{"built-in seal", nil, templates.Seal,
			[]string{"#SBATCH --job-name=migrator-drain-seal\n", "'/bin/migrator' seal '/c/drain'"}, []string{"site", "--array"}, ""},
		{"site scan", map[string]string{templates.Job: "x", templates.Collect: "x", templates.Scan: site}, templates.Scan,
			[]string{"# site scan template\n", "#SBATCH --array=0-3\n"}, nil, ""},
		{"site set without a seal template: built-in seal", map[string]string{templates.Job: "x", templates.Collect: "x", templates.Scan: site}, templates.Seal,
			[]string{"#SBATCH --job-name=migrator-drain-seal\n"}, []string{"site"}, ""},
		{"broken site seal", map[string]string{templates.Seal: "{{.NoSuchField}}"}, templates.Seal, nil, nil, "seal.sbatch.tmpl"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			spec := &campaign.Spec{ID: "c-1", Request: campaign.Request{Work: campaign.Work{Workers: 2},
				Slurm: campaign.Slurm{Throttle: 16, Time: "1:00:00", Templates: tc.set}}}
			r := Round{Dir: campaign.Dir{Root: "/c/drain"}, Spec: spec, Exe: "/bin/migrator", By: "plan --scan-tasks"}
			got, err := ScanScript(r, 4, tc.tmpl)
			if tc.wantError != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantError) {
					t.Fatalf("err %v, want one naming %s", err, tc.wantError)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			for _, w := range tc.want {
				if !strings.Contains(string(got), w) {
					t.Errorf("script lacks %q:\n%s", w, got)
				}
			}
			for _, w := range tc.wantNot {
				if strings.Contains(string(got), w) {
					t.Errorf("script has %q:\n%s", w, got)
				}
			}
		})
	}
}
