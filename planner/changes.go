package planner

import (
	"fmt"
	"reflect"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"migrator/campaign"
)

// flagOf names, for each setting of campaign.json (by its JSON path), the plan flag that
// sets it, so a refusal speaks the admin's language.
var flagOf = map[string]string{
	"selection.osts": "--osts", "selection.scan_paths": "--scan-path", "selection.excludes": "--exclude",
	"selection.min_size": "--min-size", "selection.max_size": "--max-size", "selection.uid": "--uid",
	"selection.gid": "--gid", "selection.pool": "--pool", "selection.mtime": "--mtime",
	"target.stripe_count": "--stripe-count", "target.stripe_size": "--stripe-size", "target.pool": "--target-pool",
	"target.osts": "--target-osts", "target.mode": "--mode", "target.bandwidth_mb": "--bandwidth",
	"work.workers": "--workers", "work.batch": "--batch", "work.file_timeout": "--file-timeout",
	"work.max_attempts": "--max-attempts", "work.shard_files": "--shard-files", "work.shard_bytes": "--shard-bytes",
	"work.max_error_streak": "--max-error-streak",
	"lfs":                   "--lfs", "dry_run": "--dry-run",
	"slurm.scheduler": "--scheduler", "slurm.partition": "--partition", "slurm.account": "--account",
	"slurm.qos": "--qos", "slurm.time": "--time", "slurm.array_throttle": "--array-throttle",
	"slurm.sbatch_args": "--sbatch-arg", "slurm.template_dir": "--template-dir",
}

// Changes lists every setting in which req differs from the campaign's old request, one
// "--flag old → new" each, in the order of campaign.json. Nothing may change silently
// between two plans of one campaign: not the selection, not the layout, not the Slurm
// settings, and not the mode (a dry run becomes real only with plan --go).
func Changes(old, req campaign.Request) []string {
	var out []string
	diff(&out, "", reflect.ValueOf(old), reflect.ValueOf(req))
	return out
}

func diff(out *[]string, path string, a, b reflect.Value) {
	if a.Kind() == reflect.Struct && a.Type() != reflect.TypeOf(time.Time{}) {
		t := a.Type()
		for i := range t.NumField() {
			f := t.Field(i)
			name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
			if name == "" || name == "-" {
				name = strings.ToLower(f.Name)
			}
			p := name
			if path != "" {
				p = path + "." + name
			}
			diff(out, p, a.Field(i), b.Field(i))
		}
		return
	}
	va, vb := show(a), show(b)
	if va == vb {
		return
	}
	name := flagOf[path]
	if name == "" {
		name = path
	}
	*out = append(*out, fmt.Sprintf("%s %s → %s", name, va, vb))
}

// show renders a setting's value for the refusal message. Nil pointers show the default
// they stand for.
func show(v reflect.Value) string {
	if v.Kind() == reflect.Pointer {
		if v.IsNil() {
			if v.Type() == reflect.TypeOf((*int)(nil)) {
				return strconv.Itoa(campaign.DefaultErrorStreak) // the only optional setting
			}
			return "(unset)"
		}
		v = v.Elem()
	}
	switch x := v.Interface().(type) {
	case campaign.Duration:
		return time.Duration(x).String()
	case string:
		return quoted(x)
	case campaign.Path:
		return quoted(string(x))
	case bool:
		return strconv.FormatBool(x)
	}
	if v.Kind() == reflect.Slice {
		if v.Len() == 0 {
			return "(none)"
		}
		parts := make([]string, v.Len())
		for i := range v.Len() {
			parts[i] = show(v.Index(i))
			if strings.Contains(parts[i], ",") && !strings.HasPrefix(parts[i], `"`) {
				parts[i] = strconv.Quote(parts[i])
			}
		}
		return strings.Join(parts, ",")
	}
	return fmt.Sprint(v.Interface())
}

// quoted shows a string as is when it is plain, non-empty text, quoted otherwise.
func quoted(s string) string {
	if s == "" {
		return `""`
	}
	for _, r := range s {
		if r <= ' ' || r == 0x7f || r == utf8.RuneError || r == '"' {
			return strconv.Quote(s)
		}
	}
	return s
}

// RefuseChanges is the refusal (bad input) of a plan whose settings differ from the campaign's.
func RefuseChanges(d campaign.Dir, spec *campaign.Spec, changes []string) error {
	hint := "rerun plan with the campaign's settings (see " + d.SpecPath() + "), or plan into another directory"
	if spec.DryRun {
		for _, c := range changes {
			if strings.HasPrefix(c, "--dry-run ") {
				hint = "a dry run becomes real only with: migrator plan " + d.Root + " --go"
			}
		}
	}
	return badInput("%s holds campaign %s, planned with different settings: %s; %s", d.Root, spec.ID, strings.Join(changes, ", "), hint)
}
