package main

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// lfs-sim --help lists every command lfssim.Run knows and every LFS_SIM_* setting the
// simulator reads, found in package lfssim's source, so a new one cannot be left out.
func TestHelpListsEverything(t *testing.T) {
	files, err := filepath.Glob("../../lfssim/*.go")
	if err != nil || len(files) == 0 {
		t.Fatalf("lfssim's source: %v", err)
	}
	knobs := map[string]bool{}
	var cmds, mktree []string
	knob := regexp.MustCompile(`LFS_SIM_[A-Z0-9_]+`)
	for _, f := range files {
		if strings.HasSuffix(f, "_test.go") {
			continue
		}
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		for _, k := range knob.FindAllString(string(data), -1) {
			knobs[k] = true
		}
		// The commands: the cases of Run's switch on cmd.
		src := string(data)
		// sim-mktree's flags, from its flag set.
		if strings.Contains(src, `flag.NewFlagSet("sim-mktree"`) {
			for _, m := range regexp.MustCompile(`fs\.\w+\("([a-z-]+)"`).FindAllStringSubmatch(src, -1) {
				mktree = append(mktree, m[1])
			}
		}
		if i := strings.Index(src, "switch cmd {"); i >= 0 {
			body := src[i:]
			body = body[:strings.Index(body, "\n\t}\n")]
			for _, m := range regexp.MustCompile(`case ((?:"[^"]+"(?:, )?)+):`).FindAllStringSubmatch(body, -1) {
				for _, c := range strings.Split(m[1], ", ") {
					cmds = append(cmds, strings.Trim(c, `"`))
				}
			}
		}
	}
	if len(knobs) < 10 || len(cmds) < 10 {
		t.Fatalf("found only %d settings and %d commands in lfssim: is the search still right?", len(knobs), len(cmds))
	}
	for k := range knobs {
		if !strings.Contains(helpText, "\n  "+k+"=") {
			t.Errorf("lfs-sim --help does not document %s", k)
		}
	}
	for _, c := range cmds {
		if !regexp.MustCompile(`\n  (\S+, )*` + regexp.QuoteMeta(c) + `[ ,]`).MatchString(helpText) {
			t.Errorf("lfs-sim --help does not list the command %s", c)
		}
	}
	if len(mktree) < 10 {
		t.Fatalf("found only %d flags of sim-mktree: is the search still right?", len(mktree))
	}
	for _, f := range mktree {
		if !strings.Contains(helpText, "--"+f+" ") && !strings.Contains(helpText, "--"+f+",") && !strings.Contains(helpText, "--"+f+"\n") {
			t.Errorf("lfs-sim --help does not list sim-mktree --%s", f)
		}
	}
	for _, a := range []string{"--help", "-h", "help"} {
		if !isHelp(a) {
			t.Errorf("%s is not taken for help", a)
		}
	}
}
