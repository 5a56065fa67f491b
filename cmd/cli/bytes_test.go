package cli

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/alecthomas/kong"
	"github.com/google/go-cmp/cmp"
)

// Every string argument keeps its bytes: positional paths, repeated path flags, plain
// strings, --flag=value forms, defaults and the env.
func TestMappersKeepBytes(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "d\xfb")
	os.Mkdir(dir, 0o700)
	type cmd struct {
		Camp  string   `arg:"" type:"path"`
		Ex    []string `sep:"none"`
		LFS   string   `name:"lfs" default:"lfs"`
		Env   string   `env:"TEST_MAPPERS_ENV"`
		Tmpl  string   `type:"existingdir"`
		Rel   string   `type:"path"`
		MTime []string `name:"mtime" sep:"none"`
	}
	t.Setenv("TEST_MAPPERS_ENV", "/e/\xf0")
	wd, _ := os.Getwd()
	for _, tc := range []struct {
		args []string
		want cmd
	}{
		{[]string{"/a/\xff", "--ex", "/b/\xfe", "--ex=/c/\xfd,x\\,y", "--tmpl", dir, "--rel", "r\xf1", "--mtime=-3"},
			cmd{Camp: "/a/\xff", Ex: []string{"/b/\xfe", "/c/\xfd,x\\,y"}, LFS: "lfs", Env: "/e/\xf0", Tmpl: dir,
				Rel: filepath.Join(wd, "r\xf1"), MTime: []string{"-3"}}},
		{[]string{"/a", "--lfs", "/bin/\xfclfs"}, cmd{Camp: "/a", LFS: "/bin/\xfclfs", Env: "/e/\xf0"}},
	} {
		var c cmd
		p, err := kong.New(&c, Mappers())
		if err != nil {
			t.Fatal(err)
		}
		if _, err := p.Parse(tc.args); err != nil {
			t.Fatalf("%q: %v", tc.args, err)
		}
		if diff := cmp.Diff(tc.want, c); diff != "" {
			t.Errorf("%q (-want +got):\n%s", tc.args, diff)
		}
	}
	var c cmd
	p, _ := kong.New(&c, Mappers())
	if _, err := p.Parse([]string{"/a", "--tmpl", dir + "/nothing"}); err == nil {
		t.Errorf("existingdir of a missing directory: no error")
	}
}
