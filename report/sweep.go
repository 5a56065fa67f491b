package report

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"migrator/campaign"
	"migrator/durable"
)

// Files of the verify sweep in reports/.
const (
	SweepJSON      = "verify.json" // the last sweep's figures (Sweep)
	UnaccountedDir = "unaccounted" // its unaccounted files, as a manifest (a link to unaccounted.XXXX)
)

// Sweep classes: why a file the sweep found on a source OST is still there.
const (
	ClassFailed        = "failed"          // its latest outcome is a failure
	ClassSwapped       = "swapped"         // its latest outcome is a failure of class swapped: an alarm
	ClassPending       = "pending"         // no outcome yet in the latest round that holds it
	ClassExcluded      = "excluded"        // under an exclude, or outside the campaign's filters
	ClassOutside       = "outside"         // outside the scan paths (found with --path)
	ClassNotInCampaign = "not-in-campaign" // no round holds its FID: new since the plan, or missed
	ClassRecordedDone  = "recorded-done"   // an outcome says migrated or skipped, yet it is there: an alarm
)

// SweepClasses lists the classes in the order they are shown.
func SweepClasses() []string {
	return []string{ClassFailed, ClassSwapped, ClassPending, ClassExcluded, ClassOutside, ClassNotInCampaign, ClassRecordedDone}
}

// OSTSweep is one source OST's figures in a sweep.
type OSTSweep struct {
	OnSource    uint64 `json:"on_source"`   // files found with an object on it
	Unaccounted uint64 `json:"unaccounted"` // of which not in the campaign or recorded done
	// ObjectsInUse is lfs df -i's IUsed for the OST: objects of the whole filesystem,
	// including Lustre's own few; absent when lfs df -i did not answer.
	ObjectsInUse *uint64 `json:"objects_in_use,omitempty"`
}

// Sweep is what verify found: reports/verify.json. Unaccounted is not-in-campaign plus
// recorded-done; verify exits 0 only when it is 0.
type Sweep struct {
	Campaign string          `json:"campaign"`
	Time     time.Time       `json:"time"`
	Seconds  float64         `json:"seconds"`
	Paths    []campaign.Path `json:"paths"`
	// Uncovered are the scan paths under none of Paths (verify --path of a part): such a
	// sweep is not a measure of what is left, and the reports say so.
	Uncovered   []campaign.Path     `json:"uncovered_scan_paths,omitempty"`
	OnSource    uint64              `json:"on_source"`
	Unaccounted uint64              `json:"unaccounted"`
	Classes     map[string]uint64   `json:"classes"`
	PerOST      map[string]OSTSweep `json:"per_ost"`
	// Manifest is the unaccounted files' manifest directory, relative to reports/.
	Manifest string `json:"unaccounted_manifest,omitempty"`
	// Examples are the first unaccounted files found (at most MaxSweepExamples).
	Examples []SweepExample `json:"unaccounted_examples,omitempty"`
	Warnings []string       `json:"warnings,omitempty"`
	// SHA256 is the hex SHA-256 of the sweep's compact JSON encoding with this field
	// empty: the figures the reports show as measured cannot change silently.
	SHA256 string `json:"sha256,omitempty"`
}

// checksum returns the SHA-256 (hex) of the sweep's canonical form.
func (s Sweep) checksum() (string, error) {
	s.SHA256 = ""
	return durable.JSONSum(s)
}

// MaxSweepExamples bounds Sweep.Examples.
const MaxSweepExamples = 20

// SweepExample is one unaccounted file and its class.
type SweepExample struct {
	Path  campaign.Path `json:"path"`
	Class string        `json:"class"`
}

// WriteSweep writes reports/verify.json durably.
func WriteSweep(d campaign.Dir, s *Sweep) error {
	sum, err := s.checksum()
	if err != nil {
		return err
	}
	s.SHA256 = sum
	data, err := json.MarshalIndent(s, "", "  ")
	if err != nil {
		return err
	}
	if err := durable.MkdirAll(d.Reports(), 0o700); err != nil {
		return err
	}
	return durable.WriteFile(filepath.Join(d.Reports(), SweepJSON), append(data, '\n'), 0o600)
}

// ReadSweep reads the last sweep; nil, nil when there was none.
func ReadSweep(d campaign.Dir) (*Sweep, error) {
	path := filepath.Join(d.Reports(), SweepJSON)
	data, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var s Sweep
	if err := json.Unmarshal(data, &s); err != nil {
		return nil, fmt.Errorf("%s: %v", path, err)
	}
	sum, err := s.checksum()
	if err != nil {
		return nil, err
	}
	if s.SHA256 != sum {
		return nil, fmt.Errorf("%s: checksum mismatch (damaged, or written by hand): run migrator verify again", path)
	}
	return &s, nil
}

// WriteSweepHuman prints a sweep's summary.
func WriteSweepHuman(w io.Writer, s *Sweep) {
	fmt.Fprintf(w, "sweep of %s (%s, %.0f s): %d files on source OSTs, %d unaccounted\n",
		s.Time.Local().Format(time.DateTime), pathList(s.Paths), s.Seconds, s.OnSource, s.Unaccounted)
	for _, c := range SweepClasses() {
		if n := s.Classes[c]; n > 0 || c == ClassNotInCampaign || c == ClassRecordedDone || c == ClassSwapped {
			fmt.Fprintf(w, "  %-16s %d\n", c, n)
		}
	}
	fmt.Fprintf(w, "  per source OST:  %s\n", sweepByOST(s))
	if len(s.Uncovered) > 0 {
		fmt.Fprintf(w, "  not swept:       %s (scan paths under none of the paths swept; the reports keep their estimate)\n", pathList(s.Uncovered))
	}
	if len(s.Examples) > 0 {
		fmt.Fprintf(w, "  unaccounted files (the first %d):\n", len(s.Examples))
	}
	for _, e := range s.Examples {
		fmt.Fprintf(w, "    %-16s %s\n", e.Class, printable(string(e.Path)))
	}
	if n := uint64(len(s.Examples)); s.Unaccounted > n {
		fmt.Fprintf(w, "  … and %d more unaccounted\n", s.Unaccounted-n)
	}
	for _, warn := range s.Warnings {
		fmt.Fprintf(w, "  warning: %s\n", warn)
	}
}

func pathList(ps []campaign.Path) string {
	if len(ps) == 1 {
		return fmt.Sprintf("%q", string(ps[0]))
	}
	return fmt.Sprintf("%d paths", len(ps))
}

func sweepByOST(s *Sweep) string {
	m := map[string]uint64{}
	for k, v := range s.PerOST {
		m[k] = v.OnSource
	}
	out := byOST(m)
	inUse := map[string]uint64{}
	for k, v := range s.PerOST {
		if v.ObjectsInUse != nil {
			inUse[k] = *v.ObjectsInUse
		}
	}
	if len(inUse) > 0 {
		out += "; objects in use (lfs df -i): " + byOST(inUse)
	}
	return out
}

// leftLine is the summary's "left on source OSTs" line: measured by the last sweep when
// there is one, else the estimate from the records.
func leftLine(st *Status) string {
	if s := st.Sweep; s != nil && len(s.Uncovered) > 0 {
		return fmt.Sprintf("left on source OSTs (estimate: the last sweep, of %s, covered only %s, not %s; failed or pending): %s",
			s.Time.Local().Format(time.DateTime), pathList(s.Paths), pathList(s.Uncovered), byOST(st.SourceOSTsRemaining))
	}
	if s := st.Sweep; s != nil {
		stale := ""
		if st.LastActivity != nil && st.LastActivity.After(s.End()) {
			stale = ", before the last activity: run migrator verify again"
		}
		line := fmt.Sprintf("left on source OSTs (sweep of %s: %d files, %d unaccounted%s): %s",
			s.Time.Local().Format(time.DateTime), s.OnSource, s.Unaccounted, stale, sweepByOST(s))
		if st.MovedOutOnSource > 0 && s.Classes[ClassOutside] == 0 {
			line += fmt.Sprintf("; and %d files moved out of the scan paths while on a source OST (records; migrator verify --path MOUNT finds them)",
				st.MovedOutOnSource)
		}
		return line
	}
	if st.SweepError != "" {
		return fmt.Sprintf("left on source OSTs (estimate: the last sweep is unreadable, run migrator verify again; failed or pending): %s", byOST(st.SourceOSTsRemaining))
	}
	return fmt.Sprintf("left on source OSTs (estimate: no sweep yet; failed or pending): %s", byOST(st.SourceOSTsRemaining))
}

// writeSweepProm adds the last sweep's figures to status.prom.
func writeSweepProm(w io.Writer, c string, s *Sweep) {
	family(w, "migrator_sweep_files", "Files the last verify sweep found on the source OSTs, by class.")
	for _, k := range SweepClasses() {
		fmt.Fprintf(w, "migrator_sweep_files{%s,%s} %d\n", c, label("class", k), s.Classes[k])
	}
	family(w, "migrator_sweep_unaccounted_files", "Files the last sweep found on a source OST that no record accounts for.")
	fmt.Fprintf(w, "migrator_sweep_unaccounted_files{%s} %d\n", c, s.Unaccounted)
	family(w, "migrator_sweep_source_ost_files", "Files the last sweep found with an object on the OST.")
	osts := make([]string, 0, len(s.PerOST))
	for k := range s.PerOST {
		osts = append(osts, k)
	}
	sort.Slice(osts, func(i, j int) bool { a, _ := strconv.Atoi(osts[i]); b, _ := strconv.Atoi(osts[j]); return a < b })
	for _, k := range osts {
		fmt.Fprintf(w, "migrator_sweep_source_ost_files{%s,%s} %d\n", c, label("ost", k), s.PerOST[k].OnSource)
	}
	family(w, "migrator_sweep_timestamp_seconds", "When the last sweep started.")
	fmt.Fprintf(w, "migrator_sweep_timestamp_seconds{%s} %d\n", c, s.Time.Unix())
	family(w, "migrator_sweep_end_timestamp_seconds", "When the last sweep ended: a task that recorded anything later (migrator_last_activity_timestamp_seconds) may have changed what it counted.")
	fmt.Fprintf(w, "migrator_sweep_end_timestamp_seconds{%s} %d\n", c, s.End().Unix())
	family(w, "migrator_sweep_covers_scan_paths", "1 when the last sweep covered every scan path; 0 when it swept only a part (verify --path), so its figures do not measure what is left.")
	covers := 1
	if len(s.Uncovered) > 0 {
		covers = 0
	}
	fmt.Fprintf(w, "migrator_sweep_covers_scan_paths{%s} %d\n", c, covers)
}

// End is when the sweep ended.
func (s *Sweep) End() time.Time { return s.Time.Add(time.Duration(s.Seconds * float64(time.Second))) }

// printable shows a path as is when it is plain printable UTF-8, Go-quoted otherwise.
func printable(p string) string {
	if !utf8.ValidString(p) || strings.ContainsFunc(p, func(r rune) bool { return !unicode.IsPrint(r) }) {
		return strconv.Quote(p)
	}
	return p
}
