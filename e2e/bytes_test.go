package e2e

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"migrator/campaign"
	"migrator/lfssim"
)

// Arguments arrive byte for byte (issue 14): a scan path, an exclude, a campaign path and
// an lfs binary path that are not UTF-8 reach plan and work unchanged. The excluded directory's files are not
// migrated; everything else below the scan path is.
func TestNonUTF8Arguments(t *testing.T) {
	e := newEnv(t)
	e.tree = filepath.Join(e.root, "fs\xff")
	e.camp = filepath.Join(e.root, "camp\xfd")
	lfsBin := filepath.Join(e.root, "bin\xf9", "lfs")
	os.Mkdir(filepath.Dir(lfsBin), 0o755)
	copyFile(t, e.sim, lfsBin)
	os.Chmod(lfsBin, 0o755)
	e.sim = lfsBin
	e.mktree(lfssim.TreeOptions{Files: 200, Seed: 41, SourceShare: 1, HostileEvery: 7})
	skip := filepath.Join(e.tree, "skip\xfe")
	if err := os.MkdirAll(skip, 0o755); err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 20; i++ {
		p := filepath.Join(skip, "f\xfa"+string(rune('a'+i)))
		os.WriteFile(p, []byte(p), 0o644)
		lfssim.SetLayout(p, lfssim.PlainLayout(2))
	}
	before := e.snapshot()
	sel := e.selected(before, skip)
	all := e.selected(before)
	if len(all)-len(sel) != 20 {
		t.Fatalf("%d files under the exclude, want 20", len(all)-len(sel))
	}
	e.mustRun(0, e.planArgs("--scheduler", "local", "--exclude", skip, "--shard-files", "100")...)
	e.checkMigrated(before, e.snapshot(), sel)
	spec, err := campaign.Dir{Root: e.camp}.Load()
	if err != nil {
		t.Fatal(err)
	}
	if got := campaign.Strings(spec.Selection.Excludes); len(got) != 1 || got[0] != skip {
		t.Errorf("campaign.json excludes %q, want %q", got, skip)
	}
	if spec.LFS != lfsBin {
		t.Errorf("campaign.json lfs %q, want %q", spec.LFS, lfsBin)
	}
	if got := campaign.Strings(spec.Selection.ScanPaths); len(got) != 1 || got[0] != e.tree {
		t.Errorf("campaign.json scan paths %q, want %q", got, e.tree)
	}
	st := e.status()
	if st.Files.Migrated != uint64(len(sel)) || !strings.Contains(e.camp, "\xfd") {
		t.Errorf("migrated %d, want %d", st.Files.Migrated, len(sel))
	}
}
