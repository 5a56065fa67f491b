package lfssim

import (
	"bytes"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// A synthetic namespace: find over its directories streams exactly the files on the OSTs
// asked for, and find FILE... --printf describes a synthetic name as find printed it.
func TestSyntheticNamespace(t *testing.T) {
	root := t.TempDir()
	dirs, err := MakeSynthetic(root, 3, 10)
	if err != nil {
		t.Fatal(err)
	}
	getenv := func(k string) string {
		return map[string]string{EnvSynthetic: "1", EnvOSTs: "8"}[k]
	}
	run := func(args ...string) (string, int) {
		var out, errb bytes.Buffer
		rc := Run(append([]string{"lfs"}, args...), getenv, nil, &out, &errb)
		if errb.Len() > 0 {
			t.Logf("stderr: %s", errb.String())
		}
		return out.String(), rc
	}
	out, rc := run("find", root, "-O", "1,2", "-type", "f", "!", "--layout", "released", "-0")
	got := strings.Split(strings.TrimSuffix(out, "\x00"), "\x00")
	want := []string{dirs[0] + "/f0000000001", dirs[0] + "/f0000000002", dirs[1] + "/f0000000005",
		dirs[1] + "/f0000000006", dirs[2] + "/f0000000009"}
	if diff := cmp.Diff(want, got); rc != 0 || diff != "" {
		t.Fatalf("find -O 1,2: exit %d, -want +got:\n%s", rc, diff)
	}
	out, rc = run("find", dirs[1]+"/f0000000005", dirs[1]+"/f0000000004", dirs[1]+"/f0000000000", "--maxdepth", "0",
		"-type", "f", "--printf", "%p %LF %s %n %Lo\n")
	wantOut := dirs[1] + "/f0000000005 " + syntheticEntry(&Config{}, "", 5, 0).id.FID().String() + " 24576 1 [1]\n" +
		dirs[1] + "/f0000000004 " + syntheticEntry(&Config{}, "", 4, 0).id.FID().String() + " 20480 1 [0]\n"
	if rc != 2 || out != wantOut { // f0000000000 is in another directory's range: ENOENT
		t.Errorf("find FILE... --printf: exit %d, got\n%q\nwant\n%q", rc, out, wantOut)
	}
	// Without the mode, the same directories are empty.
	getenv = func(k string) string { return "" }
	if out, rc := run("find", root, "-type", "f"); rc != 0 || out != "" {
		t.Errorf("without %s: exit %d, %q", EnvSynthetic, rc, out)
	}
}
