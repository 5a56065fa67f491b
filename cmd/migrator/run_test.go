package main

import (
	"bytes"
	"strings"
	"testing"

	"migrator/cmd/cli"
)

func runCLI(t *testing.T, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	var out, errb bytes.Buffer
	env := &cli.Env{Stdout: &out, Stderr: &errb, Getenv: func(string) string { return "" }, Exe: "migrator", Version: "test"}
	code = run(args, env)
	return code, out.String(), errb.String()
}

// Every subcommand documents its final interface in --help.
func TestHelp(t *testing.T) {
	want := map[string][]string{
		"plan": {"--osts=LIST", "--scan-path=PATH", "--exclude=PATH", "--lfs=PATH", "--scheduler=",
			"--no-submit", "--dry-run", "--min-size", "--max-size", "--uid", "--gid", "--pool", "--mtime",
			"--stripe-count", "--stripe-size", "--target-pool", "--target-osts", "--mode", "--bandwidth",
			"--shard-files", "--shard-bytes", "--scan-workers", "--find-threads", "--workers", "--partition", "--account",
			"--qos", "--time", "--array-throttle", "--sbatch-arg", "--template-dir", "MIGRATOR_LFS"},
		"work":     {"<campaign>", "--shard", "SLURM_ARRAY_TASK_ID"},
		"collect":  {"<campaign>", "--json"},
		"status":   {"<campaign>", "--json", "--watch"},
		"pause":    {"<campaign>"},
		"resume":   {"<campaign>"},
		"cancel":   {"<campaign>"},
		"throttle": {"<campaign>", "<n>"},
		"retry":    {"<campaign>", "--scheduler"},
	}
	for cmd, flags := range want {
		code, out, _ := runCLI(t, cmd, "--help")
		if code != 0 {
			t.Errorf("%s --help exited %d", cmd, code)
		}
		for _, f := range flags {
			if !strings.Contains(out, f) {
				t.Errorf("%s --help does not mention %s", cmd, f)
			}
		}
	}
}

func TestBadInputIsOneLineAndExit2(t *testing.T) {
	tests := []struct {
		args []string
		msg  string
	}{
		{[]string{"plan", "/tmp/c", "--osts", "010", "--scan-path", "/x"}, "ambiguous"},
		{[]string{"plan", "/tmp/c", "--osts", "1", "--scan-path", "rel/path"}, `"rel/path" is not absolute`},
		{[]string{"plan", "/tmp/c", "--scan-path", "/x"}, "--osts"},
		{[]string{"plan", "/tmp/c", "--osts", "1", "--scan-path", "/x", "--min-size", "2M", "--max-size", "1M"}, "above --max-size"},
		{[]string{"plan", "/tmp/c", "--osts", "1", "--scan-path", "/x", "--shard-bytes", "lots"}, "size"},
		{[]string{"nosuchcommand"}, "unexpected argument"},
		{[]string{"throttle", "/tmp/c", "x"}, "<n>"},
	}
	for _, tt := range tests {
		code, _, stderr := runCLI(t, tt.args...)
		if code != cli.ExitUsage {
			t.Errorf("%v: exit %d, want %d", tt.args, code, cli.ExitUsage)
		}
		if strings.Count(stderr, "\n") != 1 || !strings.Contains(stderr, tt.msg) {
			t.Errorf("%v: stderr %q, want one line containing %q", tt.args, stderr, tt.msg)
		}
	}
}
