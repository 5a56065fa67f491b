package launch

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"migrator/campaign"
	"migrator/trust"
)

// The job scripts exec the migrator binary by its path, maybe days later and as whoever
// submitted them (root, often): a binary that another user could replace in the meantime
// is refused before a script names it, as the lfs binary is.
func TestWriteScriptsChecksTheMigratorBinary(t *testing.T) {
	base := t.TempDir()
	for _, tc := range []struct {
		name    string
		dirMode os.FileMode
		exeMode os.FileMode
		refused bool
	}{
		{"private", 0o755, 0o755, false},
		{"binary writable by others", 0o755, 0o757, true},
		{"directory writable by others", 0o777, 0o755, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			bin := filepath.Join(base, strings.ReplaceAll(tc.name, " ", "-"))
			if err := os.Mkdir(bin, 0o700); err != nil {
				t.Fatal(err)
			}
			exe := filepath.Join(bin, "migrator")
			if err := os.WriteFile(exe, []byte("#!/bin/sh\n"), 0o700); err != nil {
				t.Fatal(err)
			}
			os.Chmod(exe, tc.exeMode)
			os.Chmod(bin, tc.dirMode)
			d := campaign.Dir{Root: filepath.Join(bin + ".campaign")}
			if err := d.Prepare(); err != nil {
				t.Fatal(err)
			}
			r := Round{Dir: d, Spec: &campaign.Spec{ID: "c-x", Request: campaign.Request{Slurm: campaign.Slurm{Throttle: 4}}},
				Shards: 1, Exe: exe, By: "plan"}
			_, err := WriteScripts(r)
			if got := errors.Is(err, trust.ErrUntrusted); got != tc.refused {
				t.Fatalf("WriteScripts = %v, want refused %v", err, tc.refused)
			}
			if _, serr := os.Stat(d.Round(0).JobScript); tc.refused && serr == nil {
				t.Fatalf("job script written with an untrusted binary")
			}
		})
	}
}
