package campaign

import (
	"testing"

	"migrator/lfs"
)

func TestTakeover(t *testing.T) {
	tests := []struct {
		failed string
		canon  string
		takes  map[lfs.Class][2]bool // class -> takes it when {retryable, not retryable}
	}{
		{"retryable", "retryable", map[lfs.Class][2]bool{lfs.ClassPermission: {true, false}, lfs.ClassIO: {true, false}}},
		{"all", "all", map[lfs.Class][2]bool{lfs.ClassPermission: {true, true}, lfs.ClassVanished: {true, true}}},
		{"permission,io, permission", "io,permission", map[lfs.Class][2]bool{lfs.ClassPermission: {true, true},
			lfs.ClassIO: {true, true}, lfs.ClassOther: {false, false}}},
		{"retryable,permission", "permission,retryable", map[lfs.Class][2]bool{lfs.ClassPermission: {true, true},
			lfs.ClassOther: {true, false}}},
	}
	for _, tt := range tests {
		tk, err := ParseFailed(tt.failed)
		if err != nil || tk.Failed != tt.canon {
			t.Errorf("ParseFailed(%q) = %q, %v; want %q", tt.failed, tk.Failed, err, tt.canon)
		}
		for c, want := range tt.takes {
			if got := [2]bool{tk.Takes(c, true), tk.Takes(c, false)}; got != want {
				t.Errorf("--failed %s takes %s: %v, want %v", tt.failed, c, got, want)
			}
		}
	}
	for _, bad := range []string{"", "permision", "all,", "EACCES"} {
		if _, err := ParseFailed(bad); err == nil {
			t.Errorf("ParseFailed(%q) accepted", bad)
		}
	}
	d := Dir{Root: t.TempDir()}
	if tk, err := d.LoadTakeover(1); err != nil || tk.Failed != DefaultFailed {
		t.Errorf("a round without takeover.json: %v, %v", tk, err)
	}
}
