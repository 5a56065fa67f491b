package campaign

import (
	"errors"
	"os"
	"path/filepath"
	"testing"

	"migrator/trust"
)

// A directory inside the campaign that another user can write (or a symbolic link in its
// place) lets that user swap manifests, checkpoints or logs, or point a log at a file of
// ours: CheckSafe refuses it like a writable campaign directory.
func TestCheckSafeLayout(t *testing.T) {
	for _, tc := range []struct {
		name   string
		break_ func(t *testing.T, d Dir)
	}{
		{"checkpoints 0777", func(t *testing.T, d Dir) { chmodOrFail(t, d.Round(0).Checkpoints, 0o777) }},
		{"manifests 0770", func(t *testing.T, d Dir) { chmodOrFail(t, d.Round(0).Manifests, 0o770) }},
		{"logs 0757", func(t *testing.T, d Dir) { chmodOrFail(t, d.Logs(), 0o757) }},
		{"reports 0777", func(t *testing.T, d Dir) { chmodOrFail(t, d.Reports(), 0o777) }},
		{"rounds 0777", func(t *testing.T, d Dir) { chmodOrFail(t, filepath.Join(d.Root, "rounds"), 0o777) }},
		{"round 1 checkpoints 0777", func(t *testing.T, d Dir) { chmodOrFail(t, d.Round(1).Checkpoints, 0o777) }},
		{"checkpoints a symlink", func(t *testing.T, d Dir) {
			elsewhere := t.TempDir()
			if err := os.RemoveAll(d.Round(0).Checkpoints); err != nil {
				t.Fatal(err)
			}
			if err := os.Symlink(elsewhere, d.Round(0).Checkpoints); err != nil {
				t.Fatal(err)
			}
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			d := Dir{Root: filepath.Join(t.TempDir(), "c")}
			if err := d.Prepare(); err != nil {
				t.Fatal(err)
			}
			for _, n := range []int{0, 1} {
				if err := d.MkdirAll(d.Round(n)); err != nil {
					t.Fatal(err)
				}
			}
			if err := d.CheckSafe(); err != nil {
				t.Fatalf("intact campaign refused: %v", err)
			}
			tc.break_(t, d)
			err := d.CheckSafe()
			if !errors.Is(err, trust.ErrUntrusted) {
				t.Fatalf("CheckSafe = %v, want a refusal", err)
			}
		})
	}
}

func chmodOrFail(t *testing.T, p string, m os.FileMode) {
	t.Helper()
	if err := os.Chmod(p, m); err != nil {
		t.Fatal(err)
	}
}

// "link/.." in a campaign path: the kernel goes to the link target's parent, but the
// campaign's files are reached through filepath.Join, which cleans it away lexically. Both
// directories must pass.
func TestCheckSafeDotDot(t *testing.T) {
	b := t.TempDir()
	for _, p := range []string{b + "/priv", b + "/priv/sub", b + "/priv/c", b + "/c"} {
		if err := os.Mkdir(p, 0o700); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Symlink(b+"/priv/sub", b+"/link"); err != nil {
		t.Fatal(err)
	}
	d := Dir{Root: b + "/link/../c"}
	if err := d.CheckSafe(); err != nil {
		t.Fatalf("both directories private, yet refused: %v", err)
	}
	chmodOrFail(t, b+"/c", 0o777) // the lexical one, which Join reaches
	if err := d.CheckSafe(); !errors.Is(err, trust.ErrUntrusted) {
		t.Fatalf("CheckSafe = %v, want a refusal of %s/c", err, b)
	}
}

// lfs given by name is resolved once, to the path that was checked: PATH is not searched
// again at each exec, where an lfs dropped later into an earlier directory that others
// can write would run unchecked.
func TestResolveLFS(t *testing.T) {
	b := t.TempDir()
	open, sys := filepath.Join(b, "open"), filepath.Join(b, "sys")
	for _, p := range []string{open, sys} {
		if err := os.Mkdir(p, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	chmodOrFail(t, open, 0o777)
	if err := os.WriteFile(filepath.Join(sys, "lfs"), []byte("#!/bin/sh\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	t.Setenv("PATH", open+":"+sys)
	got, err := ResolveLFS("lfs")
	if err != nil || got != filepath.Join(sys, "lfs") {
		t.Fatalf("ResolveLFS(lfs) = %q, %v; want %s", got, err, filepath.Join(sys, "lfs"))
	}
	// Someone drops an lfs into the open directory now: the name would find it.
	if err := os.WriteFile(filepath.Join(open, "lfs"), []byte("#!/bin/sh\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	if _, err := ResolveLFS("lfs"); !errors.Is(err, trust.ErrUntrusted) {
		t.Fatalf("ResolveLFS with an lfs in a directory others can write: %v, want a refusal", err)
	}
	if got, err := ResolveLFS("no-such-lfs"); err != nil || got != "no-such-lfs" {
		t.Fatalf("ResolveLFS(missing) = %q, %v; want the name back for the caller to report", got, err)
	}
}
