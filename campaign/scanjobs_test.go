package campaign

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"migrator/templates"
)

// A distributed scan's scan array goes with the arrays (held, released, throttled); its
// seal job with the single jobs (cancelled with them); each job once.
func TestJobsScanAndSeal(t *testing.T) {
	subs := []Submission{
		{Kind: KindScan, JobID: "10"}, {Kind: KindSeal, JobID: "11"},
		{Kind: KindScan, JobID: "12"}, {Kind: KindSeal, JobID: "13"},
		{Kind: KindArray, JobID: "14"}, {Kind: KindCollect, JobID: "15"},
		{Kind: KindArray, JobID: "14", By: "task"},
	}
	arrays, singles := Jobs(subs)
	ids := func(ss []Submission) (out []string) {
		for _, s := range ss {
			out = append(out, s.Kind+":"+s.JobID)
		}
		return out
	}
	if diff := cmp.Diff([]string{"scan:10", "scan:12", "array:14"}, ids(arrays)); diff != "" {
		t.Errorf("arrays (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([]string{"seal:11", "seal:13", "collect:15"}, ids(singles)); diff != "" {
		t.Errorf("single jobs (-want +got):\n%s", diff)
	}
	if a, ok := LatestArray(subs[:4], 0); ok {
		t.Errorf("LatestArray took scan job %s for round 0's migrate array", a.JobID)
	}
	// The records keep their kind through submissions.jsonl.
	d := Dir{Root: t.TempDir()}
	for _, s := range subs[:2] {
		if err := d.AppendSubmission(s); err != nil {
			t.Fatal(err)
		}
	}
	got, err := d.Submissions()
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]string{"scan:10", "seal:11"}, ids(got)); diff != "" {
		t.Errorf("submissions.jsonl (-want +got):\n%s", diff)
	}
}

// --template-dir: the job and collect templates are required; the scan and seal templates
// are taken when present (and checked like the others), and left to the built-in ones when
// absent.
func TestSnapshotTemplatesScan(t *testing.T) {
	write := func(dir string, names ...string) {
		for _, n := range names {
			if err := os.WriteFile(filepath.Join(dir, n), []byte("# site "+n+"\n"), 0o644); err != nil {
				t.Fatal(err)
			}
		}
	}
	keys := func(m map[string]string) (out []string) {
		for _, n := range []string{templates.Job, templates.Collect, templates.Scan, templates.Seal} {
			if text, ok := m[n]; ok {
				if text != "# site "+n+"\n" {
					t.Errorf("snapshot of %s: %q", n, text)
				}
				out = append(out, n)
			}
		}
		return out
	}
	for _, tc := range []struct {
		name    string
		files   []string
		want    []string
		wantErr string
	}{
		{"job and collect only", []string{templates.Job, templates.Collect}, []string{templates.Job, templates.Collect}, ""},
		{"scan too", []string{templates.Job, templates.Collect, templates.Scan}, []string{templates.Job, templates.Collect, templates.Scan}, ""},
		{"all four", []string{templates.Job, templates.Collect, templates.Scan, templates.Seal},
			[]string{templates.Job, templates.Collect, templates.Scan, templates.Seal}, ""},
		{"scan without job", []string{templates.Collect, templates.Scan}, nil, templates.Job},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			os.Chmod(dir, 0o755)
			write(dir, tc.files...)
			set, err := SnapshotTemplates(dir)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("err %v, want one naming %s", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tc.want, keys(set)); diff != "" {
				t.Errorf("snapshot (-want +got):\n%s", diff)
			}
		})
	}
	// A scan template others could write is refused like a job template.
	dir := t.TempDir()
	os.Chmod(dir, 0o755)
	write(dir, templates.Job, templates.Collect, templates.Seal)
	os.Chmod(filepath.Join(dir, templates.Seal), 0o666)
	if _, err := SnapshotTemplates(dir); err == nil || !strings.Contains(err.Error(), templates.Seal) {
		t.Errorf("a seal template writable by others: err %v, want a refusal naming it", err)
	}
}
