package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// The man pages cover every command, with its flags, and render without groff warnings.
func TestManPages(t *testing.T) {
	dir := t.TempDir()
	if code, _, stderr := runCLI(t, "man", dir); code != 0 {
		t.Fatalf("man: exit %d: %s", code, stderr)
	}
	ents, _ := os.ReadDir(dir)
	var names []string
	for _, e := range ents {
		names = append(names, e.Name())
	}
	want := []string{"migrator-cancel.1", "migrator-collect.1", "migrator-completion.1", "migrator-pause.1", "migrator-plan.1",
		"migrator-report.1", "migrator-resume.1", "migrator-retry.1", "migrator-status.1", "migrator-tail.1", "migrator-throttle.1", "migrator-verify.1",
		"migrator-version.1", "migrator-work.1", "migrator.1"}
	if diff := cmp.Diff(want, names); diff != "" {
		t.Errorf("pages (-want +got):\n%s", diff)
	}
	main, _ := os.ReadFile(filepath.Join(dir, "migrator.1"))
	plan, _ := os.ReadFile(filepath.Join(dir, "migrator-plan.1"))
	for _, s := range []string{".TH MIGRATOR 1", ".SH COMMANDS", "migrator plan <campaign> [options]", `\fBmigrator\-report\fR(1)`, `\fB\-\-version\fR`} {
		if !strings.Contains(string(main), s) {
			t.Errorf("migrator.1 lacks %q", s)
		}
	}
	if strings.Contains(string(main), "migrator man") {
		t.Error("migrator.1 lists the hidden man command")
	}
	for _, s := range []string{`\fB\-\-osts\fR=\fILIST\fR`, `\fB\-\-mode\fR=\fInonblock|block\fR`, `\fBMIGRATOR_LFS\fR`, `\fB\-\-group\fR=\fIGROUP\fR`, "Default: 100000."} {
		if !strings.Contains(string(plan), s) {
			t.Errorf("migrator-plan.1 lacks %q", s)
		}
	}
	groff, err := exec.LookPath("groff")
	if err != nil {
		t.Skip("groff not installed: pages not rendered")
	}
	for _, n := range names {
		out, err := exec.Command(groff, "-man", "-Tutf8", "-ww", "-z", filepath.Join(dir, n)).CombinedOutput()
		if err != nil || len(out) > 0 {
			t.Errorf("groff %s: %v\n%s", n, err, out)
		}
	}
}

// The bash completion completes commands, each command's flags and enum values.
func TestBashCompletion(t *testing.T) {
	bash, err := exec.LookPath("bash")
	if err != nil {
		t.Skip("no bash")
	}
	code, script, stderr := runCLI(t, "completion", "bash")
	if code != 0 {
		t.Fatalf("completion bash: exit %d: %s", code, stderr)
	}
	f := filepath.Join(t.TempDir(), "migrator.bash")
	os.WriteFile(f, []byte(script), 0o644)
	complete := func(words ...string) string {
		t.Helper()
		// words end with the one being completed; quote them into a bash array.
		var q []string
		for _, w := range words {
			q = append(q, "'"+w+"'")
		}
		prog := ". " + f + "\nCOMP_WORDS=(" + strings.Join(q, " ") + ")\nCOMP_CWORD=" +
			strconv.Itoa(len(words)-1) + "\n_migrator\necho \"${COMPREPLY[*]}\"\n"
		out, err := exec.Command(bash, "--norc", "-c", prog).CombinedOutput()
		if err != nil {
			t.Fatalf("bash: %v\n%s", err, out)
		}
		return strings.TrimSpace(string(out))
	}
	for _, c := range []struct {
		words []string
		want  string
	}{
		{[]string{"migrator", "pl"}, "plan"},
		{[]string{"migrator", "re"}, "resume retry report"},
		{[]string{"migrator", "plan", "/c", "--mo"}, "--mode"},
		{[]string{"migrator", "plan", "/c", "--mode", "b"}, "block"},
		{[]string{"migrator", "plan", "--scheduler", "="}, "slurm local"},
		{[]string{"migrator", "report", "/c", "--h"}, "--html --help"},
		{[]string{"migrator", "--v"}, "--version"},
	} {
		if got := complete(c.words...); got != c.want {
			t.Errorf("complete %q = %q, want %q", c.words, got, c.want)
		}
	}
}
