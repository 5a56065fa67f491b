// Package e2e runs migrator's commands as an admin would: the real binaries, on trees of
// the lfs simulator, with the local scheduler or the project's real Slurm. Expectations
// are computed independently of the code under test, from the simulator's own state.
package e2e

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/json"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"migrator/campaign"
	"migrator/internal/testbin"
	"migrator/lfs"
	"migrator/lfssim"
	"migrator/manifest"
	"migrator/report"
)

func TestMain(m *testing.M) {
	code := m.Run()
	testbin.Cleanup()
	os.Exit(code)
}

// env is one test's world: binaries, a simulated filesystem, a campaign directory.
type env struct {
	t        *testing.T
	migrator string
	sim      string
	root     string // temp dir
	tree     string // the simulated filesystem
	camp     string // campaign directory
	sources  lfs.OSTList
	simEnv   []string
	cfg      lfssim.Config
}

func newEnv(t *testing.T, simEnv ...string) *env {
	t.Helper()
	e := &env{t: t, migrator: testbin.Build(t, "cmd/migrator"), sim: testbin.Build(t, "cmd/lfs-sim"),
		root: t.TempDir(), sources: lfs.OSTList{2, 3}}
	e.tree = filepath.Join(e.root, "fs")
	e.camp = filepath.Join(e.root, "campaign")
	// The admin has stopped object creation on the sources (max_create_count=0).
	// fid2path finds names anywhere under root, also outside the tree (the scan path).
	e.simEnv = append([]string{"LFS_SIM_OSTS=8", "LFS_SIM_NOCREATE=2,3", "LFS_SIM_MOUNT=" + e.root}, simEnv...)
	cfg, err := lfssim.ConfigFromEnv(e.getenv)
	if err != nil {
		t.Fatal(err)
	}
	e.cfg = cfg
	return e
}

func (e *env) getenv(k string) string {
	for _, kv := range slices.Backward(e.simEnv) {
		if name, v, ok := strings.Cut(kv, "="); ok && name == k {
			return v
		}
	}
	return ""
}

// mktree builds the simulated filesystem.
func (e *env) mktree(o lfssim.TreeOptions) lfssim.TreeStats {
	e.t.Helper()
	o.Root = e.tree
	if o.Sources == nil {
		o.Sources = e.sources
	}
	st, err := lfssim.MakeTree(e.cfg, o)
	if err != nil {
		e.t.Fatal(err)
	}
	return st
}

type result struct {
	code           int
	stdout, stderr string
}

// run runs migrator with args, with the simulator's environment.
func (e *env) run(args ...string) result {
	e.t.Helper()
	return e.runCtx(context.Background(), args...)
}

func (e *env) runCtx(ctx context.Context, args ...string) result {
	cmd := exec.CommandContext(ctx, e.migrator, args...)
	cmd.Env = append(os.Environ(), e.simEnv...)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	code := 0
	if xe, ok := err.(*exec.ExitError); ok {
		code = xe.ExitCode()
	} else if err != nil {
		e.t.Fatalf("migrator %v: %v", args, err)
	}
	return result{code, out.String(), errb.String()}
}

// mustRun runs migrator and fails the test unless it exits with want.
func (e *env) mustRun(want int, args ...string) result {
	e.t.Helper()
	r := e.run(args...)
	if r.code != want {
		e.t.Fatalf("migrator %v: exit %d, want %d\nstdout:\n%s\nstderr:\n%s", args, r.code, want, r.stdout, r.stderr)
	}
	return r
}

// planArgs are the arguments of a plain plan of the env's tree.
func (e *env) planArgs(extra ...string) []string {
	return append([]string{"plan", e.camp, "--osts", e.sources.String(), "--scan-path", e.tree, "--lfs", e.sim}, extra...)
}

// fileState is everything about a file that a migration must not change, plus its layout.
type fileState struct {
	Mode    fs.FileMode
	Ino     uint64
	UID     uint32
	GID     uint32
	MTime   time.Time
	Nlink   uint64
	SHA256  [32]byte
	Link    string   // symlink target
	OSTs    []uint32 // regular files
	Gen     uint32
	Release bool
}

// snapshot records every file of the tree.
func (e *env) snapshot() map[string]fileState {
	e.t.Helper()
	snap := map[string]fileState{}
	err := filepath.WalkDir(e.tree, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if strings.HasPrefix(d.Name(), lfssim.VolatilePrefix) {
			return nil // the simulator's hidden in-flight copies
		}
		fi, err := os.Lstat(p)
		if err != nil {
			return err
		}
		sys := fi.Sys().(*syscall.Stat_t)
		s := fileState{Mode: fi.Mode(), Ino: sys.Ino, UID: sys.Uid, GID: sys.Gid, MTime: fi.ModTime(), Nlink: uint64(sys.Nlink)}
		switch {
		case fi.Mode().IsRegular():
			f, err := os.Open(p)
			if err != nil {
				return err
			}
			h := sha256.New()
			io.Copy(h, f)
			f.Close()
			copy(s.SHA256[:], h.Sum(nil))
			l, err := lfssim.Layout(e.cfg, p)
			if err != nil {
				return err
			}
			s.OSTs, s.Gen, s.Release = l.OSTs(), l.Gen, l.Released()
			if s.Release {
				s.OSTs = nil // a released layout holds no objects (the simulator keeps stale slots)
			}
		case fi.Mode()&fs.ModeSymlink != 0:
			s.Link, _ = os.Readlink(p)
		case fi.IsDir():
			s.MTime = time.Time{} // directories change when the simulator creates its volatile copies
		}
		snap[p] = s
		return nil
	})
	if err != nil {
		e.t.Fatal(err)
	}
	return snap
}

// selected returns the ground truth of a plan: the regular files with an object on a
// source OST, one name per inode, from the snapshot (the simulator's own state).
func (e *env) selected(snap map[string]fileState, excludes ...string) map[uint64][]string {
	sel := map[uint64][]string{}
	for p, s := range snap {
		if !s.Mode.IsRegular() || !e.sources.ContainsAny(s.OSTs) || campaign.UnderAny(p, excludes) {
			continue
		}
		sel[s.Ino] = append(sel[s.Ino], p)
	}
	return sel
}

// manifests reads every entry of a round's manifests.
func (e *env) manifests(round int) []manifest.Entry {
	e.t.Helper()
	d := campaign.Dir{Root: e.camp}.Round(round)
	idx, err := manifest.ReadIndex(d.Manifests)
	if err != nil {
		e.t.Fatal(err)
	}
	var all []manifest.Entry
	for _, s := range idx.Shards {
		r, err := manifest.OpenShard(filepath.Join(d.Manifests, s.File), s.SHA256)
		if err != nil {
			e.t.Fatal(err)
		}
		for {
			var en manifest.Entry
			err := r.Next(&en)
			if err == io.EOF {
				break
			}
			if err != nil {
				e.t.Fatal(err)
			}
			all = append(all, en)
		}
		r.Close()
	}
	return all
}

// checkSelection compares a plan's manifests with the ground truth: each selected inode
// exactly once, under one of its names, with its FID; nothing else.
func (e *env) checkSelection(entries []manifest.Entry, want map[uint64][]string, snap map[string]fileState) {
	e.t.Helper()
	seen := map[uint64]bool{}
	for _, en := range entries {
		s, ok := snap[en.Path]
		if !ok {
			e.t.Errorf("manifest holds %q, which is not a file of the tree", en.Path)
			continue
		}
		if _, ok := want[s.Ino]; !ok {
			e.t.Errorf("manifest holds %q, which should not be selected (OSTs %v)", en.Path, s.OSTs)
		}
		if seen[s.Ino] {
			e.t.Errorf("inode of %q is in the manifest twice", en.Path)
		}
		seen[s.Ino] = true
		if fid, _ := lfssim.FIDOf(en.Path); fid != en.FID {
			e.t.Errorf("%q: manifest FID %v, file FID %v", en.Path, en.FID, fid)
		}
	}
	for ino, names := range want {
		if !seen[ino] {
			e.t.Errorf("selected file %q (inode %d) is missing from the manifests", names[0], ino)
		}
	}
}

// checkMigrated verifies the tree after a campaign: every selected file was migrated exactly
// once and is off the source OSTs with content, inode, owner, mode and mtime unchanged, and
// nothing else changed at all.
func (e *env) checkMigrated(before, after map[string]fileState, selected map[uint64][]string) {
	e.t.Helper()
	for p, b := range before {
		a, ok := after[p]
		if !ok {
			e.t.Errorf("%q disappeared", p)
			continue
		}
		_, sel := selected[b.Ino]
		if b.Mode != a.Mode || b.Ino != a.Ino || b.UID != a.UID || b.GID != a.GID || !b.MTime.Equal(a.MTime) ||
			b.SHA256 != a.SHA256 || b.Link != a.Link || b.Nlink != a.Nlink {
			e.t.Errorf("%q changed: before %+v, after %+v", p, b, a)
		}
		switch {
		case sel && e.sources.ContainsAny(a.OSTs):
			e.t.Errorf("%q is still on a source OST: %v", p, a.OSTs)
		case sel && a.Gen != b.Gen+1:
			// The simulator bumps the layout generation once per migration.
			e.t.Errorf("%q was migrated %d times, not once", p, a.Gen-b.Gen)
		case !sel && (a.Gen != b.Gen || !slices.Equal(a.OSTs, b.OSTs)):
			e.t.Errorf("%q was not selected but its layout changed: %v -> %v", p, b.OSTs, a.OSTs)
		}
	}
	for p := range after {
		if _, ok := before[p]; !ok {
			e.t.Errorf("%q appeared", p)
		}
	}
}

// status reads reports/status.json.
func (e *env) status() *report.Status {
	e.t.Helper()
	data, err := os.ReadFile(filepath.Join(e.camp, "reports", report.StatusJSON))
	if err != nil {
		e.t.Fatal(err)
	}
	var st report.Status
	if err := json.Unmarshal(data, &st); err != nil {
		e.t.Fatal(err)
	}
	return &st
}
