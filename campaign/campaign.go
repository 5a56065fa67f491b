// Package campaign is the campaign directory: its layout, campaign.json (what was asked),
// the log of Slurm submissions, and the checks that keep a campaign from being mixed up
// with another one. The directory is the campaign's only state.
package campaign

import (
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"strings"
	"syscall"
	"time"
	"unicode/utf8"

	"migrator/durable"
	"migrator/lfs"
	"migrator/templates"
	"migrator/trust"
)

// Format is the campaign.json format version. Version 2 added the "sha256" field; a
// version 1 campaign.json, which has none, is refused (see Load).
const Format = 2

// Spec is campaign.json: what the admin asked for, fixed when the campaign is planned.
type Spec struct {
	Format    int       `json:"format"`
	ID        string    `json:"id"`
	CreatedAt time.Time `json:"created_at"`
	Tool      string    `json:"tool_version"`
	Request
	// SHA256 is the hex SHA-256 of the spec's canonical form: its compact JSON encoding
	// with this field empty. Save sets it; Load refuses a spec that does not match, so a
	// flipped byte anywhere that changes what the spec says is an error, never a new
	// OST list or scan path.
	SHA256 string `json:"sha256"`
}

// specJSON is Spec without its JSON methods.
type specJSON Spec

// MarshalJSON implements json.Marshaler: LFS is written byte for byte (as LFSBytes).
func (s Spec) MarshalJSON() ([]byte, error) {
	s.LFSBytes = Path(s.LFS)
	return json.Marshal(specJSON(s))
}

// UnmarshalJSON implements json.Unmarshaler: LFS is read back from LFSBytes.
func (s *Spec) UnmarshalJSON(data []byte) error {
	if err := json.Unmarshal(data, (*specJSON)(s)); err != nil {
		return err
	}
	s.LFS, s.LFSBytes = string(s.LFSBytes), ""
	return nil
}

// Checksum returns the SHA-256 (hex) of the spec's canonical form (its compact JSON
// encoding with the SHA256 field empty).
func (s Spec) Checksum() (string, error) {
	s.SHA256 = ""
	return durable.JSONSum(s)
}

// Request is everything plan was told. Selection, Target, Work and LFS define the campaign:
// a rerun of plan must ask for the same. Slurm settings may change between submissions.
type Request struct {
	Selection Selection `json:"selection"`
	Target    Target    `json:"target"`
	Work      Work      `json:"work"`
	LFS       string    `json:"-"` // the lfs binary: a path, or a name looked up in PATH
	// LFSBytes is LFS as campaign.json holds it, byte for byte (a Path: JSON strings cannot
	// carry bytes that are not UTF-8). Spec's JSON methods fill it from LFS and back; in
	// memory it stays empty: use LFS.
	LFSBytes Path  `json:"lfs"`
	DryRun   bool  `json:"dry_run"`
	Slurm    Slurm `json:"slurm"`
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
	// MaxErrorStreak is how many failures in a row with the same errno, on distinct files,
	// stop a task (0: never). Campaigns planned before it existed have none: the default.
	MaxErrorStreak *int `json:"max_error_streak,omitempty"`
}

// DefaultErrorStreak is the streak guard of campaigns that do not set one.
const DefaultErrorStreak = 50

// ErrorStreak is the campaign's streak guard: MaxErrorStreak, or the default when unset.
func (w Work) ErrorStreak() int {
	if w.MaxErrorStreak == nil {
		return DefaultErrorStreak
	}
	return *w.MaxErrorStreak
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
	TemplateDir Path     `json:"template_dir,omitempty"`
	// Templates are the job templates read from TemplateDir at plan time, by file name
	// (job.sbatch.tmpl, collect.sbatch.tmpl); empty for the built-in ones.
	Templates map[string]string `json:"templates,omitempty"`
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
	return reflect.DeepEqual(r.Selection, o.Selection) && r.Target == o.Target && reflect.DeepEqual(r.Work, o.Work) && r.LFS == o.LFS
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

// Load reads campaign.json, after checking that nobody but us could have written the
// campaign directory, any directory above it, or campaign.json (package trust's rules,
// the same plan applies to a directory it creates), and that the lfs binary the campaign
// names is one nobody else could have replaced. Every command opens its campaign this way.
func (d Dir) Load() (*Spec, error) {
	if err := d.CheckSafe(); err != nil {
		return nil, err
	}
	if _, err := os.Lstat(d.SpecPath()); errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("%s: %w (no %s; run migrator plan first)", d.Root, ErrNotCampaign, SpecFile)
	}
	if err := trust.File("campaign file", d.SpecPath()); err != nil {
		return nil, err
	}
	data, err := os.ReadFile(d.SpecPath())
	if err != nil {
		return nil, err
	}
	s, err := DecodeSpec(data)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", d.SpecPath(), err)
	}
	if err := CheckLFS(s.LFS); err != nil {
		return nil, err
	}
	return s, nil
}

// LoadToRead reads campaign.json for a command that only reads the campaign (status,
// report): the campaign may belong to another user (one who shared it with a group this
// user is in, plan --group) but must be writable by nobody but its owner, with
// campaign.json that owner's too. Such a command runs nothing the campaign names (no lfs),
// so only another writer could make it believe something false.
func (d Dir) LoadToRead() (*Spec, error) {
	uid, err := trust.Readable("campaign directory", d.Root)
	if err != nil {
		return nil, err
	}
	if clean := filepath.Clean(d.Root); clean != d.Root { // see CheckSafe
		if _, err := trust.Readable("campaign directory", clean); err != nil {
			return nil, err
		}
	}
	if err := d.checkLayout(uid); err != nil {
		return nil, err
	}
	if _, err := os.Lstat(d.SpecPath()); errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("%s: %w (no %s; run migrator plan first)", d.Root, ErrNotCampaign, SpecFile)
	}
	if err := trust.ReadableFile("campaign file", d.SpecPath(), uid); err != nil {
		return nil, err
	}
	data, err := os.ReadFile(d.SpecPath())
	if err != nil {
		return nil, err
	}
	s, err := DecodeSpec(data)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", d.SpecPath(), err)
	}
	return s, nil
}

// CheckLFS refuses an lfs binary (a path, or a name looked up in PATH) that someone else
// could have written or swapped. A binary that cannot be found is left to the caller,
// which reports it when it needs lfs (status and collect do not).
func CheckLFS(name string) error {
	_, err := ResolveLFS(name)
	return err
}

// ResolveLFS returns the path of the lfs binary name names (name itself when it cannot be
// found), after CheckLFS's check of that very path. Commands run lfs by the path it returns,
// never by name: a name is looked up in PATH again at every exec, and an lfs put later into
// an earlier PATH directory that others can write would be run without any check.
func ResolveLFS(name string) (string, error) {
	path, err := exec.LookPath(name)
	if err != nil {
		return name, nil
	}
	if err := trust.Executable("lfs binary", path); err != nil {
		return "", err
	}
	if !filepath.IsAbs(path) {
		return filepath.Abs(path)
	}
	return path, nil
}

// SnapshotTemplates reads the job templates of a --template-dir once, at plan time, for
// campaign.json to keep (job and collect templates required; the distributed scan's scan
// and seal templates if the directory has them): retry and every later submission render from the snapshot and
// never read the directory again. The directory and the templates must be ones nobody
// else could have written. An empty dir means the built-in templates (nil).
func SnapshotTemplates(dir string) (map[string]string, error) {
	if dir == "" {
		return nil, nil
	}
	if err := trust.Input("template directory", dir); err != nil {
		return nil, err
	}
	set := map[string]string{}
	for _, name := range []string{templates.Job, templates.Collect, templates.Scan, templates.Seal} {
		p := filepath.Join(dir, name)
		if name == templates.Scan || name == templates.Seal {
			// The distributed scan's templates are optional: a directory written before
			// plan --scan-tasks existed keeps working, and the built-in ones render
			// what it lacks (templates.RenderSet), as for any name not in the set.
			if _, err := os.Lstat(p); errors.Is(err, os.ErrNotExist) {
				continue
			}
		}
		if err := trust.Input("template", p); err != nil {
			return nil, err
		}
		text, err := os.ReadFile(p)
		if err != nil {
			return nil, fmt.Errorf("template %s: %w", p, err)
		}
		if !utf8.Valid(text) {
			return nil, fmt.Errorf("template %s: not UTF-8 text", p)
		}
		set[name] = string(text)
	}
	return set, nil
}

// ErrDamaged is matched (errors.Is) by errors about a campaign record whose checksum does
// not match or that cannot be decoded: campaign.json or a line of submissions.jsonl.
var ErrDamaged = errors.New("damaged")

// DecodeSpec decodes and checks campaign.json's content: format, checksum, OST list.
func DecodeSpec(data []byte) (*Spec, error) {
	var probe struct {
		Format int `json:"format"`
	}
	if err := json.Unmarshal(data, &probe); err != nil {
		return nil, fmt.Errorf("%w: not valid JSON: %v", ErrDamaged, err)
	}
	if probe.Format != Format {
		if probe.Format == 1 {
			return nil, fmt.Errorf("campaign format 1 (no checksum), this migrator reads %d: finish the campaign with the migrator that planned it, or plan a new campaign", Format)
		}
		return nil, fmt.Errorf("campaign format %d, this migrator reads %d", probe.Format, Format)
	}
	var s Spec
	if err := json.Unmarshal(data, &s); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrDamaged, err)
	}
	sum, err := s.Checksum()
	if err != nil {
		return nil, err
	}
	if s.SHA256 != sum {
		return nil, fmt.Errorf("%w: its sha256 field (%.12s) does not match its content (%.12s); restore it from a backup, or plan a new campaign", ErrDamaged, s.SHA256, sum)
	}
	if _, err := lfs.ParseOSTList(s.Selection.OSTs); err != nil {
		return nil, err
	}
	return &s, nil
}

// Save writes campaign.json durably, with its checksum. A string it cannot keep byte for
// byte is refused (CheckStrings).
func (d Dir) Save(s *Spec) error {
	if err := s.Request.CheckStrings(); err != nil {
		return err
	}
	sum, err := s.Checksum()
	if err != nil {
		return err
	}
	s.SHA256 = sum
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

// CheckSafe refuses a campaign directory that another user could write to, or swap for
// another by writing a directory above it: whoever can write it can change what every
// array task migrates (see package trust for the rules). The directories inside it
// (rounds/, and every round's manifests/ and checkpoints/, logs/, reports/) must be real
// directories, ours, that nobody else can write either (trust.Within).
func (d Dir) CheckSafe() error {
	if err := trust.Dir("campaign directory", d.Root); err != nil {
		return err
	}
	// The files are reached through filepath.Join, which cleans "link/.." lexically
	// where the kernel would not: that directory must pass too.
	if clean := filepath.Clean(d.Root); clean != d.Root {
		if err := trust.Dir("campaign directory", clean); err != nil {
			return err
		}
	}
	return d.checkLayout(os.Geteuid())
}

// checkLayout checks the directories inside the campaign: real directories of the
// campaign's owner (uid), writable by nobody else.
func (d Dir) checkLayout(uid int) error {
	inside := []string{filepath.Join(d.Root, "rounds")}
	ents, err := os.ReadDir(filepath.Join(d.Root, "rounds"))
	if err != nil && !errors.Is(err, os.ErrNotExist) && !errors.Is(err, syscall.ENOTDIR) {
		return err
	}
	for _, e := range ents {
		if e.IsDir() || e.Type()&fs.ModeSymlink != 0 {
			inside = append(inside, filepath.Join(d.Root, "rounds", e.Name()))
		}
	}
	for _, n := range append([]string{d.Root}, inside[1:]...) {
		r := Round{Manifests: filepath.Join(n, "manifests"), Checkpoints: filepath.Join(n, "checkpoints")}
		inside = append(inside, r.Manifests, r.Checkpoints)
	}
	inside = append(inside, d.Logs(), d.Reports())
	for _, p := range inside {
		if err := trust.WithinOwnedBy("campaign directory", p, uid); err != nil {
			return err
		}
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
		if err := durable.MkdirAll(p, 0o700); err != nil { // 0750 in a campaign shared with a group
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
	Kind   string    `json:"kind"` // KindArray, KindCollect, KindScan or KindSeal
	JobID  string    `json:"job_id"`
	Array  string    `json:"array,omitempty"`      // e.g. "0-99%16"
	Shards int       `json:"shards,omitempty"`     // tasks in the array
	Depend string    `json:"dependency,omitempty"` // e.g. "afterany:1234"
	Script string    `json:"script,omitempty"`
	By     string    `json:"by"` // "plan", "retry", "task" (recorded by the first task of a hand-submitted array)
	// AfterTorn says that the line before this one was torn (a crash while appending it)
	// when this one was appended: its writer ended the torn line, and readers forgive it.
	AfterTorn bool `json:"after_torn,omitempty"`
	// SHA256 is the hex SHA-256 of the record's compact JSON encoding with this field
	// empty: a line whose content changed is an error, not a different job.
	SHA256 string `json:"sha256"`
}

// Kinds of job (Submission.Kind).
const (
	KindArray   = "array"   // a round's migrate array
	KindCollect = "collect" // the job after it that collects the round's reports
	// KindScan is the scan array of a distributed scan (plan --scan-tasks), and KindSeal the
	// job after it that merges the parts and submits round 0 (Round is 0 for both).
	KindScan = "scan"
	KindSeal = "seal"
)

// checksum returns the SHA-256 (hex) of the record's canonical form.
func (s Submission) checksum() (string, error) {
	s.SHA256 = ""
	return durable.JSONSum(s)
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
// several tasks do not interleave. A torn last line (no newline at the end of the file)
// is ended first, in the same write, and the new record says so (AfterTorn).
func (d Dir) AppendSubmission(s Submission) error {
	f, err := durable.OpenFile(filepath.Join(d.Root, SubmissionsFile), os.O_RDWR|os.O_APPEND|os.O_CREATE, 0o600)
	if err != nil {
		return err
	}
	var line []byte
	if st, err := f.Stat(); err == nil && st.Size() > 0 {
		var last [1]byte
		if _, err := f.ReadAt(last[:], st.Size()-1); err == nil && last[0] != '\n' {
			line, s.AfterTorn = []byte{'\n'}, true
		}
	}
	s.SHA256 = ""
	if s.SHA256, err = s.checksum(); err != nil {
		f.Close()
		return err
	}
	data, err := json.Marshal(s)
	if err != nil {
		f.Close()
		return err
	}
	_, err = f.Write(append(append(line, data...), '\n'))
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

// Submissions reads submissions.jsonl. Every line must be a record whose checksum
// matches; the only line forgiven is a torn one: the last line when the file does not end
// with a newline (a crash while appending), or a line the next record says was torn
// (AfterTorn). Anything else is an error naming the file and line (ErrDamaged).
func (d Dir) Submissions() ([]Submission, error) {
	path := filepath.Join(d.Root, SubmissionsFile)
	data, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	return decodeSubmissions(path, data)
}

// maxSubmissionLine bounds one line of submissions.jsonl (a record is a few hundred bytes).
const maxSubmissionLine = 64 << 10

func decodeSubmissions(path string, data []byte) ([]Submission, error) {
	var subs []Submission
	var bad int // line number of a damaged line not yet forgiven, 0 if none
	var why error
	damaged := func() error {
		return fmt.Errorf("%s: line %d: %w record (%v); only a torn last line is forgiven", path, bad, ErrDamaged, why)
	}
	lines := bytes.SplitAfter(data, []byte{'\n'})
	for i, line := range lines {
		n := i + 1
		if len(line) == 0 {
			continue // after the final newline
		}
		torn := line[len(line)-1] != '\n'
		line = bytes.TrimSuffix(line, []byte{'\n'})
		s, err := decodeSubmission(line)
		if err == nil {
			if bad != 0 && !s.AfterTorn {
				return nil, damaged()
			}
			bad = 0
			subs = append(subs, s)
			continue
		}
		if bad != 0 {
			return nil, damaged()
		}
		if torn {
			break // a torn last line: a crash while appending
		}
		bad, why = n, err
	}
	if bad != 0 {
		return nil, damaged()
	}
	return subs, nil
}

func decodeSubmission(line []byte) (Submission, error) {
	var s Submission
	if len(line) > maxSubmissionLine {
		return s, errors.New("line too long")
	}
	if err := json.Unmarshal(line, &s); err != nil {
		return s, err
	}
	sum, err := s.checksum()
	if err != nil {
		return s, err
	}
	if s.SHA256 != sum || s.JobID == "" {
		return s, errors.New("checksum mismatch")
	}
	return s, nil
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

// Jobs splits submissions into array jobs (migrate and scan arrays) and single jobs
// (collect and seal jobs), each job once, oldest first.
func Jobs(subs []Submission) (arrays, collects []Submission) {
	seen := map[string]bool{}
	for _, s := range subs {
		if seen[s.JobID] {
			continue
		}
		seen[s.JobID] = true
		if s.Kind == KindCollect || s.Kind == KindSeal {
			collects = append(collects, s)
		} else {
			arrays = append(arrays, s)
		}
	}
	return arrays, collects
}

// CheckStrings refuses a string of r that campaign.json could not keep byte for byte: a
// JSON string carries UTF-8 only (encoding/json writes other bytes as U+FFFD), so such a
// value (a --pool, --mtime, --uid ...) would be recorded as something else and the
// checksum would never match again. Paths (Path, and LFS, kept as a Path) hold any byte
// and are not checked. The error names the field by its place in campaign.json.
func (r Request) CheckStrings() error { return checkStrings(reflect.ValueOf(r), "") }

var pathType = reflect.TypeOf(Path(""))

func checkStrings(v reflect.Value, at string) error {
	switch v.Kind() {
	case reflect.String:
		if v.Type() != pathType && !utf8.ValidString(v.String()) {
			return fmt.Errorf("%s %q: not UTF-8, which campaign.json cannot keep", at, v.String())
		}
	case reflect.Struct:
		for i := 0; i < v.NumField(); i++ {
			f := v.Type().Field(i)
			name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
			if !f.IsExported() || name == "-" {
				continue
			}
			where := name
			if f.Anonymous || name == "" {
				where = at
			} else if at != "" {
				where = at + "." + name
			}
			if err := checkStrings(v.Field(i), where); err != nil {
				return err
			}
		}
	case reflect.Slice, reflect.Array:
		for i := 0; i < v.Len(); i++ {
			if err := checkStrings(v.Index(i), at); err != nil {
				return err
			}
		}
	case reflect.Map:
		it := v.MapRange()
		for it.Next() {
			if err := checkStrings(it.Key(), at); err != nil {
				return err
			}
			if err := checkStrings(it.Value(), at); err != nil {
				return err
			}
		}
	case reflect.Pointer:
		if !v.IsNil() {
			return checkStrings(v.Elem(), at)
		}
	}
	return nil
}
