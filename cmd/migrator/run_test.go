package main

import (
	"bytes"
	"runtime"
	"runtime/debug"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

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
			"--qos", "--time", "--array-throttle", "--sbatch-arg", "--template-dir", "MIGRATOR_LFS", "--group=GROUP"},
		"work":     {"<campaign>", "--shard", "SLURM_ARRAY_TASK_ID"},
		"collect":  {"<campaign>", "--json"},
		"status":   {"<campaign>", "--json", "--watch"},
		"pause":    {"<campaign>"},
		"resume":   {"<campaign>"},
		"cancel":   {"<campaign>"},
		"throttle": {"<campaign>", "<n>"},
		"retry":    {"<campaign>", "--scheduler"},
		"report":   {"<campaign>", "--html=FILE"},
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

// A bare "migrator" lists the commands and exits 0; "migrator version" says what was built.
func TestBareAndVersion(t *testing.T) {
	code, out, errOut := runCLI(t)
	if code != 0 || errOut != "" {
		t.Errorf("bare migrator: exit %d, stderr %q", code, errOut)
	}
	for _, c := range []string{"plan", "work", "collect", "status", "pause", "resume", "cancel", "throttle", "retry", "version"} {
		if !strings.Contains(out, "\n  "+c+" ") {
			t.Errorf("bare migrator does not list %s:\n%s", c, out)
		}
	}
	code, out, _ = runCLI(t, "version")
	if code != 0 || !strings.HasPrefix(out, "migrator test\ncommit: ") || !strings.Contains(out, "\ngo:      go1.") {
		t.Errorf("version: exit %d\n%s", code, out)
	}
}

func TestVersionText(t *testing.T) {
	bi := func(main string, settings ...string) *debug.BuildInfo {
		b := &debug.BuildInfo{GoVersion: "go1.99.1", Main: debug.Module{Path: "migrator", Version: main}}
		for i := 0; i+1 < len(settings); i += 2 {
			b.Settings = append(b.Settings, debug.BuildSetting{Key: settings[i], Value: settings[i+1]})
		}
		return b
	}
	tail := " " + runtime.GOOS + "/" + runtime.GOARCH + "\n"
	tests := []struct {
		name, version, commit string
		bi                    *debug.BuildInfo
		want                  string
	}{
		{"make build, no vcs stamp", "v1.2-3-gabc", "abc123", bi("(devel)"),
			"migrator v1.2-3-gabc\ncommit:  abc123\ngo:      go1.99.1" + tail},
		{"go build with vcs", "dev", "", bi("(devel)", "vcs.revision", "deadbeef", "vcs.time", "2026-12-01T10:00:00Z", "vcs.modified", "true"),
			"migrator dev\ncommit:  deadbeef (2026-12-01T10:00:00Z) (modified)\ngo:      go1.99.1" + tail},
		{"go install module@version", "dev", "", bi("v1.4.0"),
			"migrator v1.4.0\ncommit:  unknown\ngo:      go1.99.1" + tail},
		{"no build info", "dev", "", nil,
			"migrator dev\ncommit:  unknown\ngo:      " + runtime.Version() + tail},
	}
	for _, tt := range tests {
		if diff := cmp.Diff(tt.want, versionText(tt.version, tt.commit, tt.bi)); diff != "" {
			t.Errorf("%s (-want +got):\n%s", tt.name, diff)
		}
	}
}
