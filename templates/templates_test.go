package templates

import (
	"flag"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

var update = flag.Bool("update", false, "rewrite the golden files")

func sample() Data {
	return Data{
		Version: "1.2.3", By: "plan", CampaignID: "c-20261122-063044-8909fa8c", Campaign: "/lustre/admin/drain-ost10",
		Exe: "/opt/migrator/bin/migrator", Round: 0, Shards: 12, JobName: "migrator-drain-ost10", Array: "0-11%16",
		SignalSeconds: 300, Time: "24:00:00", Partition: "service", Account: "storage", QOS: "long",
		SbatchArgs:  []string{"--constraint=lustre", "--nodes=1"},
		CPUsPerTask: 8, Mem: "768M", CollectCPUsPerTask: 4, CollectMem: "256M",
	}
}

func TestGolden(t *testing.T) {
	for _, name := range []string{Job, Collect} {
		got, err := Render("", name, sample())
		if err != nil {
			t.Fatal(err)
		}
		golden := filepath.Join("testdata", strings.TrimSuffix(name, ".tmpl")+".golden")
		if *update {
			os.WriteFile(golden, got, 0o644)
		}
		want, err := os.ReadFile(golden)
		if err != nil {
			t.Fatalf("%v (run go test ./templates -update)", err)
		}
		if diff := cmp.Diff(string(want), string(got)); diff != "" {
			t.Errorf("%s (-golden +rendered):\n%s", name, diff)
		}
		cmd := exec.Command("bash", "-n")
		cmd.Stdin = strings.NewReader(string(got))
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Errorf("bash -n %s: %v\n%s", name, err, out)
		}
	}
}

// Every #SBATCH directive comes before the first command: sbatch stops reading them there.
func TestDirectivesFirst(t *testing.T) {
	got, _ := Render("", Job, sample())
	seenCommand := false
	for _, line := range strings.Split(string(got), "\n") {
		switch {
		case strings.HasPrefix(line, "#SBATCH"):
			if seenCommand {
				t.Errorf("directive after a command: %s", line)
			}
		case line != "" && !strings.HasPrefix(line, "#"):
			seenCommand = true
		}
	}
}

func TestUnsafeValuesAreRefused(t *testing.T) {
	for _, mutate := range []func(*Data){
		func(d *Data) { d.Campaign = "/with space/x" },
		func(d *Data) { d.Partition = "a\nb" },
		func(d *Data) { d.Account = `x"y` },
		func(d *Data) { d.SbatchArgs = []string{"--comment=two words"} },
		func(d *Data) { d.SbatchArgs = []string{"-N1"} },
		func(d *Data) { d.SbatchArgs = []string{"--job-name=other"} },
		func(d *Data) { d.SbatchArgs = []string{"--mem=1G", "--chdir=/tmp"} },
		func(d *Data) { d.SbatchArgs = []string{"--no-requeue"} },
		func(d *Data) { d.SbatchArgs = []string{"--time=10"} },
		func(d *Data) { d.QOS = "$(reboot)" },
	} {
		d := sample()
		mutate(&d)
		if _, err := Render("", Job, d); err == nil {
			t.Errorf("rendered with %+v", d)
		}
	}
}

func TestShellQuote(t *testing.T) {
	for _, s := range []string{"plain", "it's", `a"b`, "$(x) `y` \\z", "-dash", "new\nline", "\xff\xfe"} {
		out, err := exec.Command("bash", "-c", "printf %s "+ShellQuote(s)).Output()
		if err != nil || string(out) != s {
			t.Errorf("ShellQuote(%q) through bash: %q, %v", s, out, err)
		}
	}
}

func TestTemplateDir(t *testing.T) {
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, Job), []byte("#!/bin/bash\n#SBATCH --array={{.Array}}\nexec {{sq .Exe}} work {{sq .Campaign}}\n"), 0o644)
	got, err := Render(dir, Job, sample())
	if err != nil || !strings.Contains(string(got), "exec '/opt/migrator/bin/migrator' work") {
		t.Errorf("%s %v", got, err)
	}
	if _, err := Render(dir, Collect, sample()); err == nil {
		t.Error("a missing template was not an error")
	}
	os.WriteFile(filepath.Join(dir, Collect), []byte("{{.NoSuchField}}"), 0o644)
	if _, err := Render(dir, Collect, sample()); err == nil {
		t.Error("a template using an unknown field was not an error")
	}
}
