package e2e

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"migrator/campaign"
	"migrator/lfssim"
)

// Every command refuses a campaign another user could have written (issue 14): a parent
// directory without the sticky bit that others can write, a campaign.json of another
// user, an lfs binary others can write. One line, exit 2, before anything runs.
func TestEveryCommandTrustsNothing(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root to give files to another user")
	}
	e := newEnv(t)
	e.mktree(lfssim.TreeOptions{Files: 50, Seed: 31, SourceShare: 1})
	e.plan()
	before := e.snapshot()
	commands := [][]string{
		{"work", e.camp, "--shard", "0"}, {"collect", e.camp}, {"status", e.camp}, {"retry", e.camp, "--scheduler", "local"},
		{"pause", e.camp}, {"resume", e.camp}, {"cancel", e.camp}, {"throttle", e.camp, "3"},
		e.planArgs("--no-submit"),
	}
	lfsCopy := filepath.Join(e.root, "bin", "lfs")
	os.MkdirAll(filepath.Dir(lfsCopy), 0o755)
	copyFile(t, e.sim, lfsCopy)
	for _, tc := range []struct {
		name        string
		setup, undo func()
		msg         string
		skipPlan    bool
		writersOnly bool // a check of what only commands that write or run things rely on
	}{
		{"parent open to the group", func() { os.Chmod(e.root, 0o775) }, func() { os.Chmod(e.root, 0o700) },
			e.root + " is writable by group or others without the sticky bit", false, false},
		// Read-only commands (status) accept another owner's campaign that nobody else
		// can write (plan --group), but not one whose owner could have swapped our files.
		{"campaign directory of another user", func() { os.Chown(e.camp, 12345, 12345) }, func() { os.Chown(e.camp, 0, 0) },
			"uid 12345", false, false},
		{"campaign.json of another user", func() { os.Chown(filepath.Join(e.camp, campaign.SpecFile), 12345, 0) },
			func() { os.Chown(filepath.Join(e.camp, campaign.SpecFile), 0, 0) }, "campaign file " + filepath.Join(e.camp, campaign.SpecFile), false, false},
		{"checkpoints/ open to the group", func() { os.Chmod(filepath.Join(e.camp, "checkpoints"), 0o770) },
			func() { os.Chmod(filepath.Join(e.camp, "checkpoints"), 0o700) }, filepath.Join(e.camp, "checkpoints") + ": is writable by group or others", false, false},
		// plan is run with its own --lfs, so this case is about the recorded one.
		{"lfs writable by others", func() { editSpec(t, e.camp, e.sim, lfsCopy); os.Chmod(lfsCopy, 0o777) },
			func() { editSpec(t, e.camp, lfsCopy, e.sim) }, "lfs binary " + lfsCopy, true, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tc.setup()
			defer tc.undo()
			for _, args := range commands {
				if tc.skipPlan && args[0] == "plan" {
					continue
				}
				if tc.writersOnly && args[0] == "status" {
					continue // status runs nothing the campaign names
				}
				r := e.run(args...)
				if r.code != 2 || !strings.Contains(lastLine(r.stderr), tc.msg) || (args[0] != "plan" && strings.Count(r.stderr, "\n") != 1) {
					t.Errorf("%s: exit %d, stderr %q; want 2 and one line containing %q", args[0], r.code, r.stderr, tc.msg)
				}
			}
			e.checkMigrated(before, e.snapshot(), nil)
		})
	}
	// plan refuses an --lfs that others can write, before it runs it (into a new campaign
	// directory: the one above would refuse the changed --lfs as a changed setting first).
	os.Chmod(lfsCopy, 0o777)
	args := append(e.planArgs("--no-submit"), "--lfs", lfsCopy)
	args[1] = filepath.Join(e.root, "campaign-2")
	r := e.run(args...)
	if r.code != 2 || !strings.Contains(r.stderr, "lfs binary "+lfsCopy) {
		t.Errorf("plan --lfs writable by others: exit %d, stderr %q", r.code, r.stderr)
	}
}

// --template-dir: refused when others can write it; otherwise read once, at plan time, and
// kept in campaign.json, so a later retry renders the same templates with the directory gone.
func TestTemplateDirSnapshot(t *testing.T) {
	e := newEnv(t)
	e.mktree(lfssim.TreeOptions{Files: 20, Seed: 32, SourceShare: 1})
	tmpl := filepath.Join(e.root, "tmpl")
	os.Mkdir(tmpl, 0o755)
	for _, name := range []string{"job.sbatch.tmpl", "collect.sbatch.tmpl"} {
		text, err := os.ReadFile(filepath.Join("..", "templates", name))
		if err != nil {
			t.Fatal(err)
		}
		shebang, rest, _ := strings.Cut(string(text), "\n")
		os.WriteFile(filepath.Join(tmpl, name), []byte(shebang+"\n# site template\n"+rest), 0o644)
	}
	os.Chmod(tmpl, 0o777)
	r := e.run(e.planArgs("--no-submit", "--template-dir", tmpl)...)
	if r.code != 2 || strings.Count(r.stderr, "\n") != 1 || !strings.Contains(r.stderr, "template directory "+tmpl) {
		t.Fatalf("plan with a template dir others can write: exit %d, stderr %q", r.code, r.stderr)
	}
	os.Chmod(tmpl, 0o755)
	e.mustRun(0, e.planArgs("--no-submit", "--template-dir", tmpl)...)
	if job, _ := os.ReadFile(filepath.Join(e.camp, "job.sbatch")); !strings.HasPrefix(string(job), "#!/bin/bash\n# site template\n") {
		t.Fatalf("plan's job script does not come from the template dir:\n%s", job)
	}
	os.RemoveAll(tmpl)
	// Nothing ran, so every file is pending: retry makes round 1 from the snapshot.
	e.mustRun(0, "retry", e.camp, "--no-submit", "--scheduler", "local")
	for _, p := range []string{filepath.Join(e.camp, "rounds", "001", "job.sbatch"), filepath.Join(e.camp, "collect.sbatch")} {
		if b, _ := os.ReadFile(p); !strings.HasPrefix(string(b), "#!/bin/bash\n# site template\n") {
			t.Errorf("%s after retry does not come from the snapshot:\n%s", p, b)
		}
	}
}
