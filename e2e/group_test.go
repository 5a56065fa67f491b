package e2e

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"

	"migrator/internal/testbin"
	"migrator/lfssim"
	"migrator/report"
)

// A campaign planned with --group is readable by a member of the group, a real second user:
// status, report and the reports work for them; writing anything does not.
func TestGroupReadsNobodyElseWrites(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root, to create a second user and group (useradd, groupadd)")
	}
	for _, tool := range []string{"useradd", "groupadd", "userdel", "groupdel"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Skipf("%s not found", tool)
		}
	}
	group, name := fmt.Sprintf("mgrg%d", os.Getpid()%100000), fmt.Sprintf("mgru%d", os.Getpid()%100000)
	sh := func(args ...string) {
		if out, err := exec.Command(args[0], args[1:]...).CombinedOutput(); err != nil {
			t.Fatalf("%v: %v\n%s", args, err, out)
		}
	}
	sh("groupadd", group)
	t.Cleanup(func() { exec.Command("groupdel", group).Run() })
	sh("useradd", "-M", "-N", "-G", group, "-s", "/usr/sbin/nologin", name)
	t.Cleanup(func() { exec.Command("userdel", name).Run() })
	u, err := user.Lookup(name)
	if err != nil {
		t.Fatal(err)
	}
	g, err := user.LookupGroup(group)
	if err != nil {
		t.Fatal(err)
	}
	uid, _ := strconv.Atoi(u.Uid)
	ugid, _ := strconv.Atoi(u.Gid)
	gid, _ := strconv.Atoi(g.Gid)

	e := newEnv(t)
	e.mktree(lfssim.TreeOptions{Files: 120, Seed: 71})
	// The member must reach the campaign and run the binary: open the temp dirs above
	// them to search (not read) by others, as a shared filesystem's parents would be.
	for _, d := range []string{filepath.Dir(e.root), e.root, testbin.Dir()} {
		if err := os.Chmod(d, 0o711); err != nil {
			t.Fatal(err)
		}
	}
	e.mustRun(0, e.planArgs("--group", group, "--scheduler", "local", "--shard-files", "40")...)
	e.mustRun(0, "collect", e.camp)

	// Every directory 2750 and every file group-readable at most, all of the group.
	n := 0
	err = filepath.WalkDir(e.camp, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		fi, err := os.Lstat(p)
		if err != nil {
			return err
		}
		n++
		if st := fi.Sys().(*syscall.Stat_t); int(st.Gid) != gid {
			t.Errorf("%s: group %d, want %d", p, st.Gid, gid)
		}
		perm := fi.Mode().Perm()
		switch {
		case fi.Mode()&fs.ModeSymlink != 0:
		case fi.IsDir():
			if perm != 0o750 || fi.Mode()&fs.ModeSetgid == 0 {
				t.Errorf("%s: directory mode %v, want 2750 (drwxr-s---)", p, fi.Mode())
			}
		default:
			if perm&0o040 == 0 || perm&0o022 != 0 { // others cannot reach it: the directories are 2750
				t.Errorf("%s: file mode %v, want group read, no write but the owner's", p, fi.Mode())
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if n < 10 {
		t.Fatalf("only %d entries in the campaign", n)
	}

	as := func(args ...string) result {
		t.Helper()
		cmd := exec.Command(args[0], args[1:]...)
		cmd.Env = append(os.Environ(), e.simEnv...)
		cmd.Dir = "/"
		cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: uint32(uid), Gid: uint32(ugid), Groups: []uint32{uint32(gid)}}}
		var out, errb bytes.Buffer
		cmd.Stdout, cmd.Stderr = &out, &errb
		err := cmd.Run()
		code := 0
		if xe, ok := err.(*exec.ExitError); ok {
			code = xe.ExitCode()
		} else if err != nil {
			t.Fatalf("%v: %v", args, err)
		}
		return result{code, out.String(), errb.String()}
	}
	statusJSON := filepath.Join(e.camp, "reports", report.StatusJSON)
	before, err := os.ReadFile(statusJSON)
	if err != nil {
		t.Fatal(err)
	}
	var want report.Status
	json.Unmarshal(before, &want)

	// Reading: status, report, the reports themselves.
	r := as(e.migrator, "status", e.camp, "--json")
	if r.code != 0 {
		t.Fatalf("status as %s: exit %d\n%s", name, r.code, r.stderr)
	}
	var got report.Status
	if err := json.Unmarshal([]byte(r.stdout), &got); err != nil {
		t.Fatalf("status --json as %s: %v", name, err)
	}
	if got.Files != want.Files || got.Files.Planned == 0 {
		t.Errorf("status as %s: files %+v, status.json %+v", name, got.Files, want.Files)
	}
	if r := as(e.migrator, "report", e.camp, "--html", "-"); r.code != 0 || !strings.Contains(r.stdout, want.Campaign) {
		t.Errorf("report as %s: exit %d\n%s", name, r.code, r.stderr)
	}
	if r := as("/bin/cat", statusJSON, filepath.Join(e.camp, "campaign.json")); r.code != 0 {
		t.Errorf("cat of the reports as %s: exit %d: %s", name, r.code, r.stderr)
	}

	// Writing: a new file, a change to a report, collect, verify, retry, plan again: all
	// refused.
	for _, args := range [][]string{
		{"/usr/bin/touch", filepath.Join(e.camp, "intruder")},
		{"/usr/bin/touch", filepath.Join(e.camp, "reports", "intruder")},
		{"/usr/bin/touch", statusJSON},
		{e.migrator, "collect", e.camp},
		{e.migrator, "verify", e.camp}, // writes reports/verify.json, may build the FID index
		{e.migrator, "retry", e.camp, "--scheduler", "local"},
		{e.migrator, "plan", e.camp, "--osts", e.sources.String(), "--scan-path", e.tree, "--lfs", e.sim, "--scheduler", "local"},
	} {
		r := as(args...)
		if r.code == 0 {
			t.Errorf("%v as %s succeeded; a group member must not change the campaign", args, name)
		}
		if !strings.Contains(strings.ToLower(r.stderr), "permission denied") && !strings.Contains(r.stderr, "not by us") {
			t.Errorf("%v as %s: exit %d without saying why:\n%s", args, name, r.code, r.stderr)
		}
	}
	after, err := os.ReadFile(statusJSON)
	if err != nil || !bytes.Equal(before, after) {
		t.Errorf("status.json changed under the group member's attempts (%v)", err)
	}
	for _, p := range []string{filepath.Join(e.camp, "intruder"), filepath.Join(e.camp, "reports", "intruder")} {
		if _, err := os.Lstat(p); err == nil {
			t.Errorf("%s was created by the group member", p)
		}
	}
}

// plan --group with a group that does not exist is refused before anything is written.
func TestGroupUnknownRefused(t *testing.T) {
	e := newEnv(t)
	e.mktree(lfssim.TreeOptions{Files: 10, Seed: 72})
	r := e.mustRun(2, e.planArgs("--group", "no-such-group-migrator", "--scheduler", "local")...)
	if !strings.Contains(r.stderr, `group "no-such-group-migrator"`) || strings.Count(strings.TrimSpace(r.stderr), "\n") > 3 {
		t.Errorf("stderr:\n%s", r.stderr)
	}
	if _, err := os.Stat(e.camp); err == nil {
		t.Errorf("the campaign directory was created")
	}
}
