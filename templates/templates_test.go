package templates

import (
	"flag"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
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
		// campaign.json keeps these as JSON strings, which turn bytes that are not UTF-8
		// into U+FFFD: the checksum would then never match again.
		func(d *Data) { d.Account = "a\xff" },
		func(d *Data) { d.Partition = "p\xfe" },
		func(d *Data) { d.QOS = "\xc3" },
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
	for _, text := range []string{"#SBATCH --array={{.Array}}\nexec {{sq .Exe}}\n", "\n#!/bin/bash\n", " #!/bin/sh\n"} {
		os.WriteFile(filepath.Join(dir, Collect), []byte(text), 0o644)
		if _, err := Render(dir, Collect, sample()); err == nil || !strings.Contains(err.Error(), "must start with #!") {
			t.Errorf("a script not starting with #! (%q): %v", text, err)
		}
	}
	os.WriteFile(filepath.Join(dir, Collect), []byte("{{.NoSuchField}}"), 0o644)
	if _, err := Render(dir, Collect, sample()); err == nil {
		t.Error("a template using an unknown field was not an error")
	}
}

// An --sbatch-arg is judged by the option sbatch's getopt_long will take it for: a unique
// prefix of a long option is that option, and a prefix of several is refused.
func TestSbatchArgAbbreviations(t *testing.T) {
	for _, tc := range []struct {
		arg  string
		want string // "" for accepted, else a piece of the refusal
	}{
		{"--out=/tmp/x", "reads it as --output"},
		{"--err=/tmp/x", "reads it as --error"},
		{"--no-req", "reads it as --no-requeue"},
		{"--chd=/tmp", "reads it as --chdir"},
		{"--job-n=other", "reads it as --job-name"},
		{"--j=other", "reads it as --job-name"},
		{"--sig=B:USR1@10", "reads it as --signal"},
		{"--open=truncate", "reads it as --open-mode"},
		{"--arr=0-3", "reads it as --array"},
		{"--o=/tmp/x", "ambiguous"},
		{"--no=x", "ambiguous"},
		{"--mem=2G", ""},       // exact, though --mem-bind and --mem-per-cpu start with it
		{"--mem-per-c=1G", ""}, // a unique prefix of an option the scripts leave alone
		{"--gres=gpu:1", ""},
		{"--some-future-option=1", ""}, // unknown to sbatch 22.05: that sbatch judges it
		{"--output=/tmp/x", "log to the campaign's logs/"},
		{"--wrap=hostname", "script is migrator's"},
	} {
		d := sample()
		d.SbatchArgs = []string{tc.arg}
		_, err := Render("", Job, d)
		switch {
		case tc.want == "" && err != nil:
			t.Errorf("%s: refused: %v", tc.arg, err)
		case tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)):
			t.Errorf("%s: %v, want a refusal containing %q", tc.arg, err, tc.want)
		}
	}
}

// The option table is sbatch's own: for every letter, the options getopt_long names for an
// ambiguous prefix (or the one it resolves a unique prefix to) are exactly the table's.
func TestSbatchOptionTableMatchesSbatch(t *testing.T) {
	if _, err := exec.LookPath("sbatch"); err != nil {
		t.Skip("no sbatch")
	}
	probe := func(arg string) string {
		out, _ := exec.Command("sbatch", arg, "/nonexistent/script").CombinedOutput()
		line, _, _ := strings.Cut(string(out), "\n")
		return line
	}
	if !strings.Contains(probe("--a=x"), "ambiguous") {
		t.Skip("sbatch does not get as far as parsing options here (no slurm.conf?)")
	}
	var got []string
	for c := 'a'; c <= 'z'; c++ {
		line := probe("--" + string(c) + "=x")
		switch {
		case strings.Contains(line, "ambiguous"):
			_, list, _ := strings.Cut(line, "possibilities:")
			for _, f := range strings.Fields(list) {
				got = append(got, strings.TrimPrefix(strings.Trim(f, "'"), "--"))
			}
		case strings.Contains(line, "unrecognized option"):
		default: // a unique prefix: whichever option it is, the table must have one
			var one []string
			for _, o := range sbatchLongOptions {
				if o[0] == byte(c) {
					one = append(one, o)
				}
			}
			if len(one) != 1 {
				t.Errorf("sbatch resolves --%c=x (%q); the table has %q", c, line, one)
			}
			got = append(got, one...)
		}
	}
	slices.Sort(got)
	want := slices.Clone(sbatchLongOptions)
	slices.Sort(want)
	if diff := cmp.Diff(want, slices.Compact(got)); diff != "" {
		t.Errorf("sbatch's long options (-table +sbatch):\n%s", diff)
	}
}

// A "%" in the campaign path is escaped in #SBATCH --output (sbatch would expand it), and
// an admin's template that writes the path there unescaped is refused.
func TestPercentInCampaignPath(t *testing.T) {
	d := sample()
	d.Campaign = "/lustre/c%j%%x"
	got, err := Render("", Job, d)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"#SBATCH --chdir=/lustre/c%j%%x\n", "#SBATCH --output=/lustre/c%%j%%%%x/logs/%A_%a.out\n",
		"work '/lustre/c%j%%x' --round"} {
		if !strings.Contains(string(got), want) {
			t.Errorf("job script lacks %q:\n%s", want, got)
		}
	}
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, Job), []byte("#!/bin/bash\n#SBATCH --output={{.Campaign}}/logs/%A_%a.out\n"), 0o644)
	if _, err := Render(dir, Job, d); err == nil || !strings.Contains(err.Error(), "CampaignPattern") {
		t.Errorf("template with an unescaped --output: %v", err)
	}
	os.WriteFile(filepath.Join(dir, Job), []byte("#!/bin/bash\n#SBATCH --error={{.CampaignPattern}}/logs/%A_%a.err\n"), 0o644)
	if _, err := Render(dir, Job, d); err != nil {
		t.Errorf("template with {{.CampaignPattern}}: %v", err)
	}
}
