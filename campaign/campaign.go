// Package campaign is the campaign directory: its layout, campaign.json (what was asked),
// the log of Slurm submissions, and the checks that keep a campaign from being mixed up
// with another one. The directory is the campaign's only state.
package campaign

import (
	"bufio"
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"syscall"
	"time"

	"migrator/durable"
	"migrator/lfs"
)

// Format is the campaign.json format version.
const Format = 1

// Spec is campaign.json: what the admin asked for, fixed when the campaign is planned.
type Spec struct {
	Format    int       `json:"format"`
	ID        string    `json:"id"`
	CreatedAt time.Time `json:"created_at"`
	Tool      string    `json:"tool_version"`
	Request
}

// Request is everything plan was told. Selection, Target, Work and LFS define the campaign:
// a rerun of plan must ask for the same. Slurm settings may change between submissions.
type Request struct {
	Selection Selection `json:"selection"`
	Target    Target    `json:"target"`
	Work      Work      `json:"work"`
	LFS       string    `json:"lfs"`
	DryRun    bool      `json:"dry_run"`
	Slurm     Slurm     `json:"slurm"`
	// Monitoring may change between submissions too (plan or retry --textfile-dir).
	Monitoring Monitoring `json:"monitoring"`
}

// Monitoring is where the campaign's live figures go.
type Monitoring struct {
	// TextfileDir, if set, is the directory of node_exporter's textfile collector, where
	// tasks keep migrator-<id>.prom fresh (package metrics).
	TextfileDir string `json:"textfile_dir,omitempty"`
}

// Selection is which files the campaign moves.
type Selection struct {
	OSTs      string   `json:"osts"` // canonical list of source OSTs, e.g. "10-20"
	ScanPaths []Path   `json:"scan_paths"`
	Excludes  []Path   `json:"excludes"`
	MinSize   uint64   `json:"min_size,omitempty"`
	MaxSize   uint64   `json:"max_size,omitempty"`
	UID       string   `json:"uid,omitempty"`
	GID       string   `json:"gid,omitempty"`
	Pool      string   `json:"pool,omitempty"`
	MTime     []string `json:"mtime,omitempty"`
}

// SourceOSTs parses the source OST list.
func (s Selection) SourceOSTs() lfs.OSTList { return lfs.MustParseOSTList(s.OSTs) }

// Excluded reports whether path is an exclude or below one. Subtree-correct: "/a/foo"
// excludes "/a/foo" and "/a/foo/x", not "/a/foobar".
func (s Selection) Excluded(path string) bool { return UnderAny(path, Strings(s.Excludes)) }

// InScope reports whether path is at or below a scan path.
func (s Selection) InScope(path string) bool { return UnderAny(path, Strings(s.ScanPaths)) }

// Under reports whether path is dir or below it, by whole components: "/a/foo/x" is under
// "/a/foo", "/a/foobar" is not.
func Under(path, dir string) bool {
	dir = strings.TrimRight(dir, "/")
	if dir == "" {
		return strings.HasPrefix(path, "/")
	}
	return path == dir || strings.HasPrefix(path, dir+"/")
}

// UnderAny reports whether path is under any of dirs.
func UnderAny(path string, dirs []string) bool {
	for _, d := range dirs {
		if Under(path, d) {
			return true
		}
	}
	return false
}

// Target is where and how files are moved: lfs migrate's layout options and mode.
type Target struct {
	StripeCount int    `json:"stripe_count,omitempty"`
	StripeSize  uint64 `json:"stripe_size,omitempty"`
	Pool        string `json:"pool,omitempty"`
	OSTs        string `json:"osts,omitempty"`
	Mode        string `json:"mode"` // "nonblock" or "block"
	BandwidthMB int    `json:"bandwidth_mb,omitempty"`
}

// MigrateOptions returns the lfs migrate options for this target.
func (t Target) MigrateOptions() lfs.MigrateOptions {
	o := lfs.MigrateOptions{StripeCount: t.StripeCount, StripeSize: t.StripeSize, Pool: t.Pool,
		Block: t.Mode == "block", BandwidthMB: t.BandwidthMB}
	if t.OSTs != "" {
		o.OSTs = lfs.MustParseOSTList(t.OSTs)
	}
	return o
}

// Work is how tasks run and how the list is cut.
type Work struct {
	Workers     int      `json:"workers"`
	Batch       int      `json:"batch"`
	FileTimeout Duration `json:"file_timeout"`
	MaxAttempts int      `json:"max_attempts"`
	ShardFiles  uint64   `json:"shard_files"`
	ShardBytes  uint64   `json:"shard_bytes"`
}

// Slurm is how the job array is submitted.
type Slurm struct {
	Scheduler   string   `json:"scheduler"`
	Partition   string   `json:"partition,omitempty"`
	Account     string   `json:"account,omitempty"`
	QOS         string   `json:"qos,omitempty"`
	Time        string   `json:"time,omitempty"`
	Throttle    int      `json:"array_throttle"`
	SbatchArgs  []string `json:"sbatch_args,omitempty"`
	TemplateDir string   `json:"template_dir,omitempty"`
	// CPUsPerTask and MemMiB, if set, replace what the job scripts ask for by default
	// (derived from Work.Workers; see launch.Resources).
	CPUsPerTask int    `json:"cpus_per_task,omitempty"`
	MemMiB      uint64 `json:"mem_mib,omitempty"`
}

// Duration is a time.Duration written in JSON as a number of seconds (90, 0.25), as every
// duration in migrator's JSON is. It also reads the Go duration strings ("90s") that
// earlier versions wrote.
type Duration time.Duration

// MarshalJSON implements json.Marshaler.
func (d Duration) MarshalJSON() ([]byte, error) { return json.Marshal(time.Duration(d).Seconds()) }

// UnmarshalJSON implements json.Unmarshaler.
func (d *Duration) UnmarshalJSON(b []byte) error {
	var secs float64
	if err := json.Unmarshal(b, &secs); err == nil {
		if secs < 0 || secs > float64(math.MaxInt64)/1e9 {
			return fmt.Errorf("duration of %v seconds is out of range", secs)
		}
		*d = Duration(math.Round(secs * 1e9))
		return nil
	}
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		return fmt.Errorf("duration: want a number of seconds, got %s", b)
	}
	v, err := time.ParseDuration(s)
	*d = Duration(v)
	return err
}

// SameCampaign reports whether two requests describe the same campaign (everything but
// the Slurm settings and dry-run flag agree).
func (r Request) SameCampaign(o Request) bool {
	return reflect.DeepEqual(r.Selection, o.Selection) && r.Target == o.Target && r.Work == o.Work && r.LFS == o.LFS
}

// Dir is a campaign directory.
type Dir struct{ Root string }

// Files and directories of a campaign.
const (
	SpecFile        = "campaign.json"
	SubmissionsFile = "submissions.jsonl"
)

// SpecPath is campaign.json.
func (d Dir) SpecPath() string { return filepath.Join(d.Root, SpecFile) }

// Logs is the directory of Slurm task logs.
func (d Dir) Logs() string { return filepath.Join(d.Root, "logs") }

// Reports is collect's output directory.
func (d Dir) Reports() string { return filepath.Join(d.Root, "reports") }

// Round returns the directories of round n: round 0 is the plan, rounds 1.. are retries.
func (d Dir) Round(n int) Round {
	base := d.Root
	if n > 0 {
		base = filepath.Join(d.Root, "rounds", fmt.Sprintf("%03d", n))
	}
	return Round{N: n, Base: base, Manifests: filepath.Join(base, "manifests"),
		Checkpoints: filepath.Join(base, "checkpoints"), JobScript: filepath.Join(base, "job.sbatch")}
}

// Round is one array's worth of a campaign: its manifests, checkpoints and job script.
type Round struct {
	N           int
	Base        string
	Manifests   string
	Checkpoints string
	JobScript   string
}

// CollectScript is the collect job's script.
func (d Dir) CollectScript() string { return filepath.Join(d.Root, "collect.sbatch") }

// Rounds returns the numbers of the rounds that have a manifest index, in order.
func (d Dir) Rounds() ([]int, error) {
	var rounds []int
	if _, err := os.Stat(filepath.Join(d.Round(0).Manifests, "index.json")); err == nil {
		rounds = append(rounds, 0)
	}
	ents, err := os.ReadDir(filepath.Join(d.Root, "rounds"))
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		return nil, err
	}
	for _, e := range ents {
		var n int
		if _, err := fmt.Sscanf(e.Name(), "%03d", &n); err == nil && n > 0 && fmt.Sprintf("%03d", n) == e.Name() {
			if _, err := os.Stat(filepath.Join(d.Round(n).Manifests, "index.json")); err == nil {
				rounds = append(rounds, n)
			}
		}
	}
	return rounds, nil
}

// NewID returns a fresh campaign id.
func NewID(now time.Time) string {
	var b [4]byte
	rand.Read(b[:])
	return "c-" + now.UTC().Format("20060102-150405") + "-" + hex.EncodeToString(b[:])
}

// ErrNotCampaign is matched when a directory holds no campaign.
var ErrNotCampaign = errors.New("not a campaign directory")

// Load reads campaign.json.
func (d Dir) Load() (*Spec, error) {
	data, err := os.ReadFile(d.SpecPath())
	if errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("%s: %w (no %s; run migrator plan first)", d.Root, ErrNotCampaign, SpecFile)
	}
	if err != nil {
		return nil, err
	}
	var s Spec
	if err := json.Unmarshal(data, &s); err != nil {
		return nil, fmt.Errorf("%s: %w", d.SpecPath(), err)
	}
	if s.Format != Format {
		return nil, fmt.Errorf("%s: campaign format %d, this migrator reads %d", d.SpecPath(), s.Format, Format)
	}
	if _, err := lfs.ParseOSTList(s.Selection.OSTs); err != nil {
		return nil, fmt.Errorf("%s: %w", d.SpecPath(), err)
	}
	return &s, nil
}

// Save writes campaign.json durably.
func (d Dir) Save(s *Spec) error {
	data, err := json.MarshalIndent(s, "", "  ")
	if err != nil {
		return err
	}
	return durable.WriteFile(d.SpecPath(), append(data, '\n'), 0o600)
}

// Prepare makes sure the directory can hold a campaign: it is created 0700 if missing;
// an existing one must be a directory owned by us that nobody else can write to.
func (d Dir) Prepare() error {
	if err := os.Mkdir(d.Root, 0o700); err != nil && !errors.Is(err, os.ErrExist) {
		return fmt.Errorf("campaign directory %s: %w", d.Root, err)
	}
	return d.CheckSafe()
}

// CheckSafe refuses a campaign directory that another user could write to: whoever can
// write it can change what every array task migrates.
func (d Dir) CheckSafe() error {
	st, err := os.Stat(d.Root)
	if err != nil {
		return fmt.Errorf("campaign directory %s: %w", d.Root, err)
	}
	if !st.IsDir() {
		return fmt.Errorf("campaign directory %s: not a directory", d.Root)
	}
	if st.Mode().Perm()&0o022 != 0 {
		return fmt.Errorf("campaign directory %s: writable by group or others (mode %o); chmod go-w it", d.Root, st.Mode().Perm())
	}
	if sys, ok := st.Sys().(*syscall.Stat_t); ok && int(sys.Uid) != os.Geteuid() {
		return fmt.Errorf("campaign directory %s: owned by uid %d, not by us (uid %d)", d.Root, sys.Uid, os.Geteuid())
	}
	return nil
}

// LayoutDirs are the directories a campaign needs for round r.
func (d Dir) LayoutDirs(r Round) []string {
	return []string{r.Manifests, r.Checkpoints, d.Logs(), d.Reports()}
}

// MkdirAll creates the campaign's directories for round r.
func (d Dir) MkdirAll(r Round) error {
	for _, p := range d.LayoutDirs(r) {
		if err := os.MkdirAll(p, 0o700); err != nil {
			return err
		}
	}
	return nil
}

// Submission is one line of submissions.jsonl: a job sbatch accepted (or a job a task
// found itself running in, when the script was submitted by hand).
type Submission struct {
	Time   time.Time `json:"time"`
	Round  int       `json:"round"`
	Kind   string    `json:"kind"` // "array" or "collect"
	JobID  string    `json:"job_id"`
	Array  string    `json:"array,omitempty"`      // e.g. "0-99%16"
	Shards int       `json:"shards,omitempty"`     // tasks in the array
	Depend string    `json:"dependency,omitempty"` // e.g. "afterany:1234"
	Script string    `json:"script,omitempty"`
	By     string    `json:"by"` // "plan", "retry", "task" (recorded by the first task of a hand-submitted array)
}

// RoundUnrecorded is the Round of a job that squeue shows but no submission records yet:
// a script piped into sbatch by hand, before its first task starts.
const RoundUnrecorded = -1

// RoundLabel names a job's round for people.
func RoundLabel(round int) string {
	if round == RoundUnrecorded {
		return "submitted by hand, not started yet"
	}
	return fmt.Sprintf("round %d", round)
}

// AppendSubmission adds a line to submissions.jsonl and fsyncs it. Lines are small
// (well under PIPE_BUF), written with one O_APPEND write, so concurrent appenders from
// several tasks do not interleave.
func (d Dir) AppendSubmission(s Submission) error {
	data, err := json.Marshal(s)
	if err != nil {
		return err
	}
	f, err := os.OpenFile(filepath.Join(d.Root, SubmissionsFile), os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o600)
	if err != nil {
		return err
	}
	_, err = f.Write(append(data, '\n'))
	if serr := f.Sync(); err == nil {
		err = serr
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return err
}

// AppendSubmissionOnce appends s unless a submission of the same job was already recorded
// this way. Every task of a hand-submitted array races to record it; an O_EXCL marker file
// (.recorded-JOBID, which works on Lustre and NFS alike) picks the one that writes.
func (d Dir) AppendSubmissionOnce(s Submission) error {
	marker := filepath.Join(d.Root, ".recorded-"+s.JobID)
	f, err := os.OpenFile(marker, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if errors.Is(err, os.ErrExist) {
		return nil
	}
	if err != nil {
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	return d.AppendSubmission(s)
}

// Submissions reads submissions.jsonl. A torn last line (a crash while appending) is ignored.
func (d Dir) Submissions() ([]Submission, error) {
	data, err := os.ReadFile(filepath.Join(d.Root, SubmissionsFile))
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var subs []Submission
	sc := bufio.NewScanner(bytes.NewReader(data))
	for sc.Scan() {
		var s Submission
		if json.Unmarshal(sc.Bytes(), &s) == nil && s.JobID != "" {
			subs = append(subs, s)
		}
	}
	return subs, nil
}

// LatestArray returns the most recent array submission of a round, if any.
func LatestArray(subs []Submission, round int) (Submission, bool) {
	for i := len(subs) - 1; i >= 0; i-- {
		if subs[i].Kind == "array" && subs[i].Round == round {
			return subs[i], true
		}
	}
	return Submission{}, false
}

// Jobs splits submissions into array jobs and collect jobs, each job once, oldest first.
func Jobs(subs []Submission) (arrays, collects []Submission) {
	seen := map[string]bool{}
	for _, s := range subs {
		if seen[s.JobID] {
			continue
		}
		seen[s.JobID] = true
		if s.Kind == "collect" {
			collects = append(collects, s)
		} else {
			arrays = append(arrays, s)
		}
	}
	return arrays, collects
}
