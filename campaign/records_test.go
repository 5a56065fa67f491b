package campaign

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

func testSpec() *Spec {
	return &Spec{Format: Format, ID: "c-test", CreatedAt: time.Date(2026, 11, 22, 6, 0, 0, 0, time.UTC), Tool: "test",
		Request: Request{Selection: Selection{OSTs: "3,5", ScanPaths: Paths([]string{"/mnt/a", "/mnt/b\xff"}), Excludes: []Path{}},
			Target: Target{Mode: "nonblock"}, Work: Work{Workers: 2, Batch: 1, MaxAttempts: 5, ShardFiles: 10, ShardBytes: 100},
			LFS: "lfs", Slurm: Slurm{Scheduler: "slurm", Throttle: 4}}}
}

// A spec survives Save and Load unchanged, and any flipped byte that changes what it says
// is refused as damaged: never a different OST list or scan path.
func TestSpecChecksum(t *testing.T) {
	d := Dir{Root: t.TempDir()}
	s := testSpec()
	if err := d.Save(s); err != nil {
		t.Fatal(err)
	}
	got, err := d.Load()
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(s, got); diff != "" {
		t.Fatalf("loaded spec differs (-saved +loaded):\n%s", diff)
	}
	orig, _ := os.ReadFile(d.SpecPath())
	for _, tc := range []struct{ name, from, to string }{
		{"ost list", `"osts": "3,5"`, `"osts": "3,4"`},
		{"scan path", `"/mnt/a"`, `"/mnt/b"`},
		{"id", `"c-test"`, `"c-tesu"`},
		{"workers", `"workers": 2`, `"workers": 3`},
		{"lfs", `"lfs": "lfs"`, `"lfs": "lfz"`},
		{"throttle", `"array_throttle": 4`, `"array_throttle": 5`},
		{"checksum", `"sha256": "`, `"sha256": "0`},
		{"not json", `"osts": "3,5"`, `"osts": "3,5`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if !bytes.Contains(orig, []byte(tc.from)) {
				t.Fatalf("campaign.json lacks %s:\n%s", tc.from, orig)
			}
			if err := os.WriteFile(d.SpecPath(), bytes.Replace(orig, []byte(tc.from), []byte(tc.to), 1), 0o600); err != nil {
				t.Fatal(err)
			}
			_, err := d.Load()
			if !errors.Is(err, ErrDamaged) || !strings.Contains(err.Error(), d.SpecPath()) {
				t.Fatalf("Load of a campaign.json with %s changed: %v, want a damage error naming the file", tc.name, err)
			}
		})
	}
	// Whitespace changes nothing the spec says.
	os.WriteFile(d.SpecPath(), bytes.ReplaceAll(orig, []byte("\n  "), []byte("\n\t")), 0o600)
	if _, err := d.Load(); err != nil {
		t.Fatalf("re-indented campaign.json: %v", err)
	}
	// A version 1 campaign.json (no checksum) is refused with a way out.
	os.WriteFile(d.SpecPath(), []byte(`{"format": 1, "id": "c-old", "selection": {"osts": "1"}}`), 0o600)
	if _, err := d.Load(); err == nil || !strings.Contains(err.Error(), "format 1") {
		t.Fatalf("Load of a format 1 campaign.json: %v, want a refusal", err)
	}
}

// submissions.jsonl forgives a torn last line and nothing else.
func TestSubmissionsDamage(t *testing.T) {
	d := Dir{Root: t.TempDir()}
	path := filepath.Join(d.Root, SubmissionsFile)
	for _, id := range []string{"101", "102", "103"} {
		if err := d.AppendSubmission(Submission{Kind: "array", JobID: id, By: "plan"}); err != nil {
			t.Fatal(err)
		}
	}
	good, _ := os.ReadFile(path)
	lines := strings.SplitAfter(string(good), "\n")
	ids := func(subs []Submission) []string {
		var s []string
		for _, x := range subs {
			s = append(s, x.JobID)
		}
		return s
	}
	for _, tc := range []struct {
		name    string
		content string
		want    []string
		badLine int // 0: no error
	}{
		{"whole", string(good), []string{"101", "102", "103"}, 0},
		{"torn last line", lines[0] + lines[1] + lines[2][:20], []string{"101", "102"}, 0},
		{"middle line flipped", lines[0] + strings.Replace(lines[1], "102", "109", 1) + lines[2], nil, 2},
		{"middle line torn", lines[0] + lines[1][:20] + "\n" + lines[2], nil, 2},
		{"last line damaged but whole", lines[0] + lines[1] + strings.Replace(lines[2], "103", "108", 1), nil, 3},
		{"first line garbage", "garbage\n" + lines[1] + lines[2], nil, 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			os.WriteFile(path, []byte(tc.content), 0o600)
			subs, err := d.Submissions()
			if tc.badLine == 0 {
				if err != nil {
					t.Fatal(err)
				}
				if diff := cmp.Diff(tc.want, ids(subs)); diff != "" {
					t.Fatalf("jobs (-want +got):\n%s", diff)
				}
				return
			}
			want := path + ": line " + string(rune('0'+tc.badLine)) + ":"
			if !errors.Is(err, ErrDamaged) || !strings.HasPrefix(err.Error(), want) {
				t.Fatalf("Submissions: %v, want a damage error starting %q", err, want)
			}
		})
	}
	// A torn last line is ended by the next append, which says so; then it is still forgiven.
	os.WriteFile(path, []byte(lines[0]+lines[1][:20]), 0o600)
	if err := d.AppendSubmission(Submission{Kind: "collect", JobID: "104", By: "plan"}); err != nil {
		t.Fatal(err)
	}
	subs, err := d.Submissions()
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]string{"101", "104"}, ids(subs)); diff != "" || !subs[1].AfterTorn {
		t.Fatalf("after a torn line and an append: jobs (-want +got):\n%s (AfterTorn %v)", diff, subs[1].AfterTorn)
	}
}

// FuzzSubmissions: any bytes give records whose checksums match, or ErrDamaged; never a
// panic.
func FuzzSubmissions(f *testing.F) {
	d := Dir{Root: f.TempDir()}
	d.AppendSubmission(Submission{Kind: "array", JobID: "1", By: "plan"})
	d.AppendSubmission(Submission{Kind: "collect", JobID: "2", By: "plan"})
	good, _ := os.ReadFile(filepath.Join(d.Root, SubmissionsFile))
	f.Add(good)
	f.Add(good[:len(good)-7])
	f.Fuzz(func(t *testing.T, data []byte) {
		subs, err := decodeSubmissions("fuzz", data)
		if err != nil {
			if !errors.Is(err, ErrDamaged) {
				t.Fatalf("error %v is not ErrDamaged", err)
			}
			return
		}
		for _, s := range subs {
			if sum, _ := s.checksum(); sum != s.SHA256 {
				t.Fatalf("record %+v accepted with a wrong checksum", s)
			}
		}
	})
}

// FuzzDecodeSpec: any bytes decode to a spec whose checksum matches, or to an error; never
// a panic.
func FuzzDecodeSpec(f *testing.F) {
	d := Dir{Root: f.TempDir()}
	d.Save(testSpec())
	good, _ := os.ReadFile(d.SpecPath())
	f.Add(good)
	f.Fuzz(func(t *testing.T, data []byte) {
		s, err := DecodeSpec(data)
		if err != nil {
			return
		}
		if sum, _ := s.Checksum(); sum != s.SHA256 {
			t.Fatalf("spec accepted with a wrong checksum")
		}
	})
}

// A string campaign.json cannot keep byte for byte (not UTF-8: encoding/json writes
// U+FFFD) is refused by Save, naming it, instead of a campaign.json whose checksum never
// matches again; paths (Path) keep every byte and are accepted.
func TestSaveRefusesStringsJSONCannotKeep(t *testing.T) {
	for _, tc := range []struct {
		name   string
		mutate func(*Spec)
		want   string // "" for accepted
	}{
		{"pool", func(s *Spec) { s.Selection.Pool = "p\xff" }, "selection.pool"},
		{"mtime", func(s *Spec) { s.Selection.MTime = []string{"+1\xfe"} }, "selection.mtime"},
		{"uid", func(s *Spec) { s.Selection.UID = "\xc3" }, "selection.uid"},
		{"target pool", func(s *Spec) { s.Target.Pool = "t\xff" }, "target.pool"},
		{"sbatch arg", func(s *Spec) { s.Slurm.SbatchArgs = []string{"--comment=\xff"} }, "slurm.sbatch_args"},
		{"template", func(s *Spec) { s.Slurm.Templates = map[string]string{"job.sbatch.tmpl": "\xff"} }, "slurm.templates"},
		{"scan path", func(s *Spec) { s.Selection.ScanPaths = []Path{"/mnt/\xff"} }, ""},
		{"lfs", func(s *Spec) { s.LFS = "/opt/\xff/lfs" }, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			d := Dir{Root: t.TempDir()}
			s := testSpec()
			tc.mutate(s)
			err := d.Save(s)
			if tc.want == "" {
				if err != nil {
					t.Fatalf("Save: %v", err)
				}
				got, err := d.Load()
				if err != nil {
					t.Fatalf("Load: %v", err)
				}
				if diff := cmp.Diff(s, got); diff != "" {
					t.Fatalf("loaded spec differs (-saved +loaded):\n%s", diff)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("Save = %v, want a refusal naming %s", err, tc.want)
			}
			if _, err := os.Stat(d.SpecPath()); !errors.Is(err, os.ErrNotExist) {
				t.Fatalf("campaign.json written anyway: %v", err)
			}
		})
	}
}
