package migrate

import (
	"context"
	"os"
	"path/filepath"
	"sort"
	"syscall"
	"testing"

	"github.com/google/go-cmp/cmp"

	"migrator/campaign"
	"migrator/checkpoint"
	"migrator/lfs"
)

func campaignPath(p string) campaign.Path { return campaign.Path(p) }

// FIDToPath answers from the fake's names, like lfs fid2path: every name of the FID.
func (f *fakeLFS) FIDToPath(_ context.Context, root string, fids []lfs.FID, nul bool) ([]lfs.FIDPathResult, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.fid2path++
	out := make([]lfs.FIDPathResult, len(fids))
	for i, fid := range fids {
		for p, ff := range f.files {
			if ff.fid == fid {
				out[i].Paths = append(out[i].Paths, p)
			}
		}
		sort.Strings(out[i].Paths)
		if len(out[i].Paths) == 0 {
			out[i].Err = &lfs.FileError{Path: fid.String(), Errno: syscall.ENOENT}
		}
	}
	return out, nil
}

// rename renames a file on disk and in the fake's names.
func (f *fakeLFS) rename(t *testing.T, from, to string) {
	t.Helper()
	os.MkdirAll(filepath.Dir(to), 0o755)
	if err := os.Rename(from, to); err != nil {
		t.Fatal(err)
	}
	f.mu.Lock()
	f.files[to] = f.files[from]
	delete(f.files, from)
	f.mu.Unlock()
}

// moveAll is a migrate that moves every file it is given off the sources.
func moveAll(f *fakeLFS, files []string) ([]lfs.MigrateResult, error) {
	res := make([]lfs.MigrateResult, len(files))
	for i, p := range files {
		f.mu.Lock()
		f.migrated = append(f.migrated, p)
		f.mu.Unlock()
		f.move(p)
		res[i].Status = lfs.MigrateOK
	}
	return res, nil
}

type outcome struct {
	Outcome  checkpoint.Outcome
	Reason   checkpoint.SkipReason
	OnSource bool
}

// Files are known by FID: a path that is gone, or names another file, is looked up by FID
// (lfs fid2path) and the file handled where it is now.
func TestRelocateByFID(t *testing.T) {
	f, es, sel := setup(t, 7)
	root := string(sel.ScanPaths[0])
	outside := t.TempDir()
	// 0: its directory renamed between plan and work.
	f.rename(t, es[0].Path, filepath.Join(root, "renamed-dir", "f000"))
	// 1: hard-linked; the name plan kept is removed, another survives.
	other := filepath.Join(root, "other-name")
	if err := os.Link(es[1].Path, other); err != nil {
		t.Fatal(err)
	}
	f.files[other] = f.files[es[1].Path]
	os.Remove(es[1].Path)
	delete(f.files, es[1].Path)
	// 2: moved out of the scan paths, still on a source OST.
	f.rename(t, es[2].Path, filepath.Join(outside, "f002"))
	// 3: moved out, already off the sources.
	f.rename(t, es[3].Path, filepath.Join(outside, "f003"))
	f.move(filepath.Join(outside, "f003"))
	// 4: removed: its FID is gone.
	os.Remove(es[4].Path)
	delete(f.files, es[4].Path)
	// 5: renamed, and another file took its old name.
	f.rename(t, es[5].Path, filepath.Join(root, "f005.renamed"))
	os.WriteFile(es[5].Path, []byte("new"), 0o644)
	f.files[es[5].Path] = &fakeFile{fid: lfs.FID{Seq: 0x200000400, Oid: 999}, osts: []uint32{1}}
	// 6: moved under an exclude.
	sel.Excludes = append(sel.Excludes, sel.ScanPaths[0]+"/excluded")
	f.rename(t, es[6].Path, filepath.Join(root, "excluded", "f006"))
	f.migrate = moveAll

	rec, err := run(t, f, es, sel, Options{Workers: 2}, State{})
	if err != nil {
		t.Fatal(err)
	}
	got := map[int]outcome{}
	for i := range es {
		r := rec.recs[uint64(i)]
		got[i] = outcome{r.Outcome, r.Reason, r.OnSource}
	}
	want := map[int]outcome{
		0: {Outcome: checkpoint.Migrated},
		1: {Outcome: checkpoint.Migrated},
		2: {Outcome: checkpoint.Skipped, Reason: checkpoint.SkipMovedOut, OnSource: true},
		3: {Outcome: checkpoint.Skipped, Reason: checkpoint.SkipMovedOut},
		4: {Outcome: checkpoint.Skipped, Reason: checkpoint.SkipGone},
		5: {Outcome: checkpoint.Migrated},
		6: {Outcome: checkpoint.Skipped, Reason: checkpoint.SkipMovedOut, OnSource: true},
	}
	if d := cmp.Diff(want, got); d != "" {
		t.Errorf("outcomes -want +got:\n%s", d)
	}
	sort.Strings(f.migrated)
	wantMigrated := []string{filepath.Join(root, "f005.renamed"), other, filepath.Join(root, "renamed-dir", "f000")}
	sort.Strings(wantMigrated)
	if d := cmp.Diff(wantMigrated, f.migrated); d != "" {
		t.Errorf("lfs migrate ran on -want +got:\n%s", d)
	}
	if f.files[es[5].Path].osts[0] != 1 {
		t.Error("the new file under an old name was migrated")
	}
	if f.fid2path != 1 {
		t.Errorf("%d fid2path calls, want 1 (batched)", f.fid2path)
	}
}

// A file renamed while lfs migrate runs on it (lfs says ENOENT, or the verification no
// longer finds it) is found again by FID and recorded as migrated, never as gone.
func TestRenamedDuringMigrate(t *testing.T) {
	for _, tc := range []struct {
		name     string
		vanished bool // lfs migrate fails with ENOENT (else it succeeds, then the rename)
	}{{"lfs says vanished", true}, {"renamed before verify", false}} {
		t.Run(tc.name, func(t *testing.T) {
			f, es, sel := setup(t, 1)
			to := filepath.Join(string(sel.ScanPaths[0]), "later")
			f.migrate = func(f *fakeLFS, files []string) ([]lfs.MigrateResult, error) {
				if f.calls == 1 {
					f.rename(t, files[0], to)
					if tc.vanished {
						return []lfs.MigrateResult{{Status: lfs.MigrateFailed, Errno: syscall.ENOENT, Reason: "cannot open"}}, nil
					}
					f.move(to)
					return []lfs.MigrateResult{{Status: lfs.MigrateOK}}, nil
				}
				return moveAll(f, files)
			}
			rec, err := run(t, f, es, sel, Options{Workers: 1}, State{})
			if err != nil {
				t.Fatal(err)
			}
			if r := rec.recs[0]; r.Outcome != checkpoint.Migrated {
				t.Errorf("%+v, want migrated", r)
			}
			if f.files[to].osts[0] != 7 {
				t.Error("not moved off the sources")
			}
		})
	}
}

// A scan path given through a symbolic link: fid2path prints the real path, which is
// still inside the scan path.
func TestRelocateThroughSymlinkedScanPath(t *testing.T) {
	f, es, sel := setup(t, 1)
	real := string(sel.ScanPaths[0])
	link := filepath.Join(t.TempDir(), "link")
	if err := os.Symlink(real, link); err != nil {
		t.Fatal(err)
	}
	sel.ScanPaths[0] = campaignPath(link)
	es[0].Path = filepath.Join(link, filepath.Base(es[0].Path))
	f.rename(t, filepath.Join(real, filepath.Base(es[0].Path)), filepath.Join(real, "renamed"))
	f.migrate = moveAll
	rec, err := run(t, f, es, sel, Options{Workers: 1}, State{})
	if err != nil {
		t.Fatal(err)
	}
	if r := rec.recs[0]; r.Outcome != checkpoint.Migrated {
		t.Errorf("%+v, want migrated", r)
	}
}

// The scan path itself renamed: fid2path is asked from an ancestor that exists, and the
// files, now outside the scan path, are moved-out.
func TestRelocateScanPathRenamed(t *testing.T) {
	f, es, sel := setup(t, 2)
	root := string(sel.ScanPaths[0])
	for _, e := range es {
		f.mu.Lock()
		f.files[filepath.Join(root+".old", filepath.Base(e.Path))] = f.files[e.Path]
		delete(f.files, e.Path)
		f.mu.Unlock()
	}
	if err := os.Rename(root, root+".old"); err != nil {
		t.Fatal(err)
	}
	if got := fidRoot(sel); got != filepath.Dir(root) {
		t.Errorf("fidRoot = %q, want %q", got, filepath.Dir(root))
	}
	f.migrate = moveAll
	rec, err := run(t, f, es, sel, Options{Workers: 1}, State{})
	if err != nil {
		t.Fatal(err)
	}
	for i := range es {
		if r := rec.recs[uint64(i)]; r.Reason != checkpoint.SkipMovedOut || !r.OnSource {
			t.Errorf("entry %d: %+v, want moved-out, still on source", i, r)
		}
	}
}
