package slurmtest

import (
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
)

func TestUnavailable(t *testing.T) {
	conf := func(k string) string {
		if k == "SLURM_CONF" {
			return "/etc/slurm/slurm.conf"
		}
		return ""
	}
	noConf := func(string) string { return "" }
	found := func(name string) (string, error) { return "/usr/bin/" + name, nil }
	lacks := func(missing string) func(string) (string, error) {
		return func(name string) (string, error) {
			if name == missing {
				return "", exec.ErrNotFound
			}
			return "/usr/bin/" + name, nil
		}
	}
	up := func() error { return nil }
	down := func() error { return errors.New("scontrol ping: DOWN") }
	tests := []struct {
		name   string
		getenv func(string) string
		look   func(string) (string, error)
		ping   func() error
		want   string // in the reason; "" means available
	}{
		{"all there", conf, found, up, ""},
		{"no squeue", conf, lacks("squeue"), up, "Slurm's commands are not installed (squeue"},
		{"no scancel, no conf", noConf, lacks("scancel"), up, "not installed (scancel"},
		{"no conf", noConf, found, up, "SLURM_CONF is not set"},
		{"controller down", conf, found, down, "Slurm is not reachable (scontrol ping: DOWN)"},
	}
	for _, tt := range tests {
		pinged := false
		got := Unavailable(tt.getenv, tt.look, func() error { pinged = true; return tt.ping() })
		if tt.want == "" && got != "" || tt.want != "" && !strings.Contains(got, tt.want) {
			t.Errorf("%s: reason %q, want %q", tt.name, got, tt.want)
		}
		if pinged && strings.Contains(tt.want, "not installed") {
			t.Errorf("%s: pinged a Slurm whose commands are missing", tt.name)
		}
	}

	// With the real PATH lookup: a PATH without Slurm's commands.
	t.Setenv("PATH", t.TempDir())
	if got := Unavailable(conf, exec.LookPath, up); !strings.Contains(got, "not installed (sbatch") {
		t.Errorf("empty PATH: reason %q", got)
	}
	// A command hidden behind an empty, non-executable file (as ci/test.sh's no-Slurm pass
	// bind-mounts /dev/null over them) is not installed either.
	dir := t.TempDir()
	for _, name := range Commands {
		os.WriteFile(filepath.Join(dir, name), nil, 0o644)
	}
	t.Setenv("PATH", dir)
	if got := Unavailable(conf, exec.LookPath, up); !strings.Contains(got, "not installed (sbatch") {
		t.Errorf("hidden commands: reason %q", got)
	}
}

// In ci/test.sh's pass without Slurm (MIGRATOR_EXPECT_NO_SLURM=1) a test that needs Slurm
// must skip, not fail: this is the check that the hiding worked.
func TestRequireSkipsWithoutSlurm(t *testing.T) {
	if os.Getenv("MIGRATOR_EXPECT_NO_SLURM") != "1" {
		t.Skip("only in ci/test.sh's pass without Slurm (MIGRATOR_EXPECT_NO_SLURM=1)")
	}
	for _, name := range Commands {
		if p, err := exec.LookPath(name); err == nil {
			t.Errorf("%s is still found, at %s", name, p)
		}
	}
	var sub *testing.T
	t.Run("needs-slurm", func(t *testing.T) {
		sub = t
		Require(t)
		t.Error("Require returned without Slurm")
	})
	if !sub.Skipped() || sub.Failed() {
		t.Errorf("a test needing Slurm did not skip: skipped %v, failed %v", sub.Skipped(), sub.Failed())
	}
}

// ci/noslurm.sh hides Slurm and nothing else: the tests still run as who they are. As a
// user other than root it used a user namespace (unshare -rm), where the user is uid 0 and
// root's files belong to the overflow uid 65534; migrator's trust checks then refused every
// campaign ("/ is owned by uid 65534"), and tests that give files to another user when run
// as root could not. The file system's owners must look as they do outside.
func TestNoSlurmKeepsWhoIsWho(t *testing.T) {
	if os.Getenv("MIGRATOR_EXPECT_NO_SLURM") != "1" {
		t.Skip("only in ci/test.sh's pass without Slurm (MIGRATOR_EXPECT_NO_SLURM=1)")
	}
	var st syscall.Stat_t
	if err := syscall.Stat("/", &st); err != nil {
		t.Fatal(err)
	}
	if st.Uid != 0 {
		t.Errorf("/ is owned by uid %d here (a user namespace?), not root", st.Uid)
	}
	if data, err := os.ReadFile("/proc/self/uid_map"); err == nil {
		if f := strings.Fields(string(data)); len(f) != 3 || f[0] != "0" || f[1] != "0" || f[2] != "4294967295" {
			t.Errorf("the tests run in a user namespace: uid_map %q", data)
		}
	}
}
