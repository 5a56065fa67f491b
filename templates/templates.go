// Package templates renders the Slurm job scripts of a campaign from text/template files:
// the built-in ones embedded here, or an admin's own from --template-dir.
//
// Every value that reaches a script is either shell-quoted (in the script body) or checked
// to be a plain token (in #SBATCH lines, which sbatch splits on whitespace): a path or
// option that would need quoting there is refused, not passed through.
package templates

import (
	"bytes"
	"embed"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"text/template"
	"unicode/utf8"
)

//go:embed *.tmpl
var builtin embed.FS

// Names of the templates.
const (
	Job     = "job.sbatch.tmpl"
	Collect = "collect.sbatch.tmpl"
	// Scan and Seal are the distributed scan's array and its seal job (plan --scan-tasks);
	// a --template-dir may hold its own (optional: the built-in ones otherwise).
	Scan = "scan.sbatch.tmpl"
	Seal = "seal.sbatch.tmpl"
)

// Data is what the templates can use.
type Data struct {
	Version    string
	By         string // "plan" or "retry"
	CampaignID string
	Campaign   string // absolute campaign directory
	// CampaignPattern is Campaign escaped for an sbatch filename pattern (#SBATCH --output,
	// --error, --input), where "%" starts a replacement symbol: every "%" is written "%%".
	// render sets it from Campaign.
	CampaignPattern string
	Exe             string // absolute path of the migrator binary
	Round           int
	Shards          int
	JobName         string
	Array           string // "0-N%T"
	SignalSeconds   int    // USR1 this many seconds before the time limit
	Time            string
	Partition       string
	Account         string
	QOS             string
	SbatchArgs      []string
	// Resources of one array task and of the collect job (sbatch --cpus-per-task and
	// --mem); 0 or "" leaves the line out.
	CPUsPerTask        int
	Mem                string // e.g. "1024M"
	CollectCPUsPerTask int
	CollectMem         string
}

// Render renders template name from dir (if not empty) or the built-in set.
func Render(dir, name string, d Data) ([]byte, error) {
	var text []byte
	var err error
	if dir != "" {
		text, err = os.ReadFile(filepath.Join(dir, name))
	} else {
		text, err = builtin.ReadFile(name)
	}
	if err != nil {
		return nil, fmt.Errorf("template %s: %w", name, err)
	}
	return render(name, string(text), d)
}

// RenderSet renders template name from set (a campaign's snapshot of an admin's
// templates, by file name) if it holds it, or from the built-in set.
func RenderSet(set map[string]string, name string, d Data) ([]byte, error) {
	if text, ok := set[name]; ok {
		return render(name, text, d)
	}
	return Render("", name, d)
}

func render(name, text string, d Data) ([]byte, error) {
	if err := d.check(); err != nil {
		return nil, err
	}
	d.CampaignPattern = FilenamePattern(d.Campaign)
	t, err := template.New(name).Funcs(template.FuncMap{"sq": ShellQuote}).Option("missingkey=error").Parse(text)
	if err != nil {
		return nil, fmt.Errorf("template %s: %w", name, err)
	}
	var b bytes.Buffer
	if err := t.Execute(&b, d); err != nil {
		return nil, fmt.Errorf("template %s: %w", name, err)
	}
	// sbatch refuses a script that does not start with "#!" (its batch-script check: "The
	// first line must start with #! followed by the path to an interpreter"): refused
	// here, before a campaign exists, not by sbatch after.
	if !bytes.HasPrefix(b.Bytes(), []byte("#!")) {
		return nil, fmt.Errorf("template %s: the script must start with #! and the path of an interpreter (sbatch refuses any other)", name)
	}
	if err := checkPatterns(b.Bytes(), d); err != nil {
		return nil, fmt.Errorf("template %s: %w", name, err)
	}
	return b.Bytes(), nil
}

// FilenamePattern escapes a path for an sbatch filename pattern (man sbatch, "filename
// pattern"): "%" followed by a letter, optionally after a number, is a replacement symbol
// (%A %a %J %j %N %n %s %t %u %x), and "%%" is one "%". A "\\" anywhere turns every
// replacement off, so the caller's own %A_%a would break: paths with a backslash are
// refused before they get here (CheckToken).
func FilenamePattern(path string) string { return strings.ReplaceAll(path, "%", "%%") }

// checkPatterns refuses a rendered script whose #SBATCH --output, --error or --input
// writes the campaign path unescaped when it holds a "%" (an admin's template using
// {{.Campaign}} where {{.CampaignPattern}} is needed): sbatch would expand it, and the
// logs would go elsewhere.
func checkPatterns(script []byte, d Data) error {
	if !strings.Contains(d.Campaign, "%") {
		return nil
	}
	for _, line := range strings.Split(string(script), "\n") {
		rest, ok := strings.CutPrefix(line, "#SBATCH ")
		if !ok {
			continue
		}
		for _, opt := range []string{"--output=", "--error=", "--input=", "-o ", "-e ", "-i ", "-o", "-e", "-i"} {
			if v, ok := strings.CutPrefix(strings.TrimSpace(rest), opt); ok &&
				strings.HasPrefix(v, d.Campaign) && !strings.HasPrefix(v, d.CampaignPattern) {
				return fmt.Errorf("line %q writes the campaign path, which holds %%, unescaped into a filename pattern: use {{.CampaignPattern}}", line)
			}
		}
	}
	return nil
}

// ShellQuote quotes s for bash: single quotes, with each ' written as '\”.
func ShellQuote(s string) string {
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}

// check refuses values that cannot be put in an #SBATCH line as they are.
func (d Data) check() error {
	plain := map[string]string{"campaign directory": d.Campaign, "job name": d.JobName, "time": d.Time,
		"partition": d.Partition, "account": d.Account, "qos": d.QOS, "array": d.Array,
		"memory": d.Mem, "collect memory": d.CollectMem}
	for what, v := range plain {
		if err := CheckToken(what, v); err != nil {
			return err
		}
	}
	for what, v := range map[string]string{"time": d.Time, "partition": d.Partition, "account": d.Account, "qos": d.QOS} {
		if !utf8.ValidString(v) { // campaign.json keeps them as JSON strings
			return fmt.Errorf("%s %q: not UTF-8", what, v)
		}
	}
	for _, a := range d.SbatchArgs {
		if !strings.HasPrefix(a, "--") {
			return fmt.Errorf("sbatch option %q: give it in its long form, --name=value", a)
		}
		if err := CheckToken("sbatch option", a); err != nil {
			return err
		}
		if !utf8.ValidString(a) { // campaign.json keeps it as a JSON string
			return fmt.Errorf("sbatch option %q: not UTF-8", a)
		}
		// sbatch reads #SBATCH lines with getopt_long, which takes any unique prefix of
		// a long option for the option: --out= is --output=.
		name, _, _ := strings.Cut(strings.TrimPrefix(a, "--"), "=")
		full, _, err := resolveSbatchOption(name)
		if err != nil {
			return fmt.Errorf("sbatch option %q: %v", a, err)
		}
		if why, ok := ownOptions[full]; ok {
			if full != name {
				return fmt.Errorf("sbatch option %q (sbatch reads it as --%s): %s", a, full, why)
			}
			return fmt.Errorf("sbatch option %q: %s", a, why)
		}
	}
	return nil
}

// ownOptions are the sbatch options the job scripts set themselves, which an extra option
// must not override, with what to do instead.
var ownOptions = map[string]string{
	"job-name":   "the scripts set it; migrator finds a campaign's unstarted jobs by it",
	"chdir":      "the scripts run in the campaign directory; migrator finds a campaign's unstarted jobs by it",
	"array":      "the array is one task per shard; use --array-throttle for the %N",
	"output":     "the scripts log to the campaign's logs/",
	"error":      "the scripts log to the campaign's logs/",
	"open-mode":  "the scripts append, so a requeued task keeps its log",
	"signal":     "the scripts ask for USR1 ahead of the time limit, to checkpoint and requeue",
	"no-requeue": "tasks must stay requeueable",
	"time":       "use migrator's --time",
	"partition":  "use migrator's --partition",
	"account":    "use migrator's --account",
	"qos":        "use migrator's --qos",
	"wrap":       "the job script is migrator's",
}

// CheckToken reports an error if v holds whitespace, quotes, backslashes, '#' or control
// characters: things an #SBATCH line cannot carry unquoted.
func CheckToken(what, v string) error {
	for _, r := range v {
		if r <= ' ' || r == 0x7f || strings.ContainsRune(`"'\#$`+"`", r) {
			return fmt.Errorf("%s %q: contains %q, which a job script's #SBATCH line cannot carry; choose a plain name", what, v, r)
		}
	}
	return nil
}
