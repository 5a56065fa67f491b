package trust

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

const other = 12345 // a uid that is neither us nor root

// Each case builds a layout under a fresh directory and checks one path; want is "" for
// trusted, else a piece of the refusal (which names the path that broke the rule).
func TestRules(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root to give files to another user")
	}
	type layout func(t *testing.T, base string) string // returns the path to check
	mkdir := func(t *testing.T, p string, mode os.FileMode) string {
		if err := os.Mkdir(p, mode); err != nil {
			t.Fatal(err)
		}
		os.Chmod(p, mode) // past the umask
		return p
	}
	file := func(t *testing.T, p string, mode os.FileMode) string {
		if err := os.WriteFile(p, []byte("x"), mode); err != nil {
			t.Fatal(err)
		}
		os.Chmod(p, mode)
		return p
	}
	for _, tc := range []struct {
		name  string
		check func(what, path string) error
		make  layout
		want  string
	}{
		{"own private dir", Dir, func(t *testing.T, b string) string { return mkdir(t, b+"/c", 0o700) }, ""},
		{"dir writable by group", Dir, func(t *testing.T, b string) string { return mkdir(t, b+"/c", 0o770) }, "writable by group or others"},
		{"dir of another user", Dir, func(t *testing.T, b string) string {
			p := mkdir(t, b+"/c", 0o700)
			os.Chown(p, other, other)
			return p
		}, "owned by uid 12345"},
		{"group-writable parent without sticky bit", Dir, func(t *testing.T, b string) string {
			mkdir(t, b+"/shared", 0o775)
			return mkdir(t, b+"/shared/c", 0o700)
		}, "/shared is writable by group or others without the sticky bit"},
		{"sticky world-writable parent", Dir, func(t *testing.T, b string) string {
			mkdir(t, b+"/tmp", os.ModeSticky|0o777)
			return mkdir(t, b+"/tmp/c", 0o700)
		}, ""},
		{"parent owned by another user", Dir, func(t *testing.T, b string) string {
			p := mkdir(t, b+"/theirs", 0o755)
			os.Chown(p, other, other)
			return mkdir(t, b+"/theirs/c", 0o700)
		}, "/theirs is owned by uid 12345"},
		{"link owned by another user in a sticky dir", Dir, func(t *testing.T, b string) string {
			mkdir(t, b+"/tmp", os.ModeSticky|0o777)
			mkdir(t, b+"/real", 0o700)
			os.Symlink(b+"/real", b+"/tmp/link")
			os.Lchown(b+"/tmp/link", other, other)
			return b + "/tmp/link"
		}, "is owned by uid 12345, who could replace"},
		{"link to a dir below an open parent", Dir, func(t *testing.T, b string) string {
			mkdir(t, b+"/open", 0o777)
			mkdir(t, b+"/open/c", 0o700)
			os.Symlink(b+"/open/c", b+"/link")
			return b + "/link"
		}, "/open is writable by group or others without the sticky bit"},
		{"link through a link that sits below an open parent", Dir, func(t *testing.T, b string) string {
			// link -> open/hop -> c: both ends are fine, but whoever can write open/ can
			// point hop elsewhere after the check.
			mkdir(t, b+"/open", 0o777)
			mkdir(t, b+"/c", 0o700)
			os.Symlink(b+"/c", b+"/open/hop")
			os.Symlink(b+"/open/hop", b+"/link")
			return b + "/link"
		}, "/open is writable by group or others without the sticky bit"},
		{"relative link through an open parent", Dir, func(t *testing.T, b string) string {
			mkdir(t, b+"/open", 0o777)
			mkdir(t, b+"/c", 0o700)
			os.Symlink("../c", b+"/open/hop")
			os.Symlink("open/hop", b+"/link")
			return b + "/link"
		}, "/open is writable by group or others without the sticky bit"},
		{"link to a private dir through a relative link", Dir, func(t *testing.T, b string) string {
			mkdir(t, b+"/priv", 0o700)
			mkdir(t, b+"/c", 0o700)
			os.Symlink("../c", b+"/priv/hop")
			os.Symlink("priv/hop", b+"/link")
			return b + "/link"
		}, ""},
		{"dot-dot after a link", Dir, func(t *testing.T, b string) string {
			// The kernel resolves link/.. to open/, not to b: b/c is not what is used.
			mkdir(t, b+"/open", 0o777)
			mkdir(t, b+"/open/sub", 0o700)
			mkdir(t, b+"/open/c", 0o700)
			mkdir(t, b+"/c", 0o700)
			os.Symlink(b+"/open/sub", b+"/link")
			return b + "/link/../c"
		}, "/open is writable by group or others without the sticky bit"},
		{"campaign.json", File, func(t *testing.T, b string) string { return file(t, b+"/campaign.json", 0o600) }, ""},
		{"campaign.json writable by others", File, func(t *testing.T, b string) string { return file(t, b+"/campaign.json", 0o606) }, "writable by group or others"},
		{"campaign.json of another user", File, func(t *testing.T, b string) string {
			p := file(t, b+"/campaign.json", 0o600)
			os.Chown(p, other, other)
			return p
		}, "owned by uid 12345"},
		{"campaign.json is a directory", File, func(t *testing.T, b string) string { return mkdir(t, b+"/campaign.json", 0o700) }, "not a regular file"},
		{"lfs of root", Executable, func(t *testing.T, b string) string { return file(t, b+"/lfs", 0o755) }, ""},
		{"lfs writable by group", Executable, func(t *testing.T, b string) string { return file(t, b+"/lfs", 0o775) }, "writable by group or others"},
		{"lfs of another user", Executable, func(t *testing.T, b string) string {
			p := file(t, b+"/lfs", 0o755)
			os.Chown(p, other, other)
			return p
		}, "owned by uid 12345"},
		{"template dir writable by others", Input, func(t *testing.T, b string) string { return mkdir(t, b+"/tmpl", 0o757) }, "writable by group or others"},
		{"missing", Dir, func(t *testing.T, b string) string { return b + "/nothing" }, "no such file"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			base := t.TempDir()
			p := tc.make(t, base)
			err := tc.check("thing", p)
			if tc.want == "" {
				if err != nil {
					t.Fatalf("refused: %v", err)
				}
				return
			}
			if !errors.Is(err, ErrUntrusted) || !strings.Contains(err.Error(), tc.want) || !strings.HasPrefix(err.Error(), "thing "+p+": ") ||
				strings.Contains(err.Error(), "\n") {
				t.Fatalf("got %v, want one line naming %s and saying %q", err, p, tc.want)
			}
		})
	}
}

// The real system paths a test runs under pass: /, /tmp, the test's own directory.
func TestTempDirTrusted(t *testing.T) {
	d := filepath.Join(t.TempDir(), "c")
	os.Mkdir(d, 0o700)
	if err := Dir("campaign directory", d); err != nil {
		t.Fatal(err)
	}
}
