// Package launch starts a round of a campaign: it renders the round's job scripts and
// either submits them to Slurm (an array of one task per shard and a collect job that
// depends on it) or runs the same "migrator work" commands here, in the foreground.
package launch

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"migrator/campaign"
	"migrator/durable"
	"migrator/progress"
	"migrator/slurm"
	"migrator/templates"
)

// Round is a round ready to launch.
type Round struct {
	Dir     campaign.Dir
	Spec    *campaign.Spec
	N       int    // round number (0: the plan)
	Shards  int    // array tasks
	Exe     string // the migrator binary the scripts run
	Version string
	By      string // "plan" or "retry"
}

func (r Round) data() templates.Data {
	s := r.Spec.Slurm
	d := templates.Data{
		Version: r.Version, By: r.By, CampaignID: r.Spec.ID, Campaign: r.Dir.Root, Exe: r.Exe,
		Round: r.N, Shards: r.Shards, JobName: JobName(r.Dir, r.Spec),
		Array:         fmt.Sprintf("0-%d%%%d", max(r.Shards-1, 0), s.Throttle),
		SignalSeconds: SignalLead(s.Time), Time: s.Time, Partition: s.Partition, Account: s.Account,
		QOS: s.QOS, SbatchArgs: s.SbatchArgs,
	}
	d.CPUsPerTask, d.Mem = Resources(r.Spec)
	d.CollectCPUsPerTask, d.CollectMem = CollectResources(r.Spec)
	return d
}

// JobName is the Slurm job name of a campaign: "migrator-" and the directory's name, or
// the campaign id when the name would not be a plain token.
func JobName(d campaign.Dir, s *campaign.Spec) string {
	name := "migrator-" + filepath.Base(d.Root)
	if templates.CheckToken("job name", name) != nil || len(name) > 64 {
		return "migrator-" + s.ID
	}
	return name
}

// Unrecorded finds the campaign's jobs that Slurm has queued or running but
// submissions.jsonl does not list: a script piped into sbatch by hand is recorded only when
// its first task starts. They are found by the job names of the campaign's scripts and the
// campaign directory as working directory (both set by the scripts' #SBATCH lines). Their
// Round is campaign.RoundUnrecorded and By is "squeue".
func Unrecorded(ctx context.Context, sc *slurm.Client, d campaign.Dir, spec *campaign.Spec, subs []campaign.Submission) ([]campaign.Submission, error) {
	name := JobName(d, spec)
	jobs, err := sc.Named(ctx, name, name+"-collect")
	if err != nil {
		return nil, err
	}
	known := map[string]bool{}
	for _, s := range subs {
		known[s.JobID] = true
	}
	var out []campaign.Submission
	for _, j := range jobs {
		if known[j.JobID] || filepath.Clean(j.WorkDir) != filepath.Clean(d.Root) {
			continue
		}
		kind := "array"
		if j.Name == name+"-collect" {
			kind = "collect"
		}
		out = append(out, campaign.Submission{Round: campaign.RoundUnrecorded, Kind: kind, JobID: j.JobID, By: "squeue"})
	}
	return out, nil
}

// SignalLead is how many seconds before the time limit a task gets USR1: 5 minutes, or a
// tenth of a short limit.
func SignalLead(limit string) int {
	d, ok := ParseSlurmTime(limit)
	if !ok || d >= 50*time.Minute {
		return 300
	}
	return max(int(d.Seconds()/10), 10)
}

// ParseSlurmTime reads sbatch --time: "minutes", "minutes:seconds", "hours:minutes:seconds",
// "days-hours", "days-hours:minutes" or "days-hours:minutes:seconds".
func ParseSlurmTime(s string) (time.Duration, bool) {
	if s == "" || s == "UNLIMITED" || s == "infinite" {
		return 0, false
	}
	days := 0
	if d, rest, ok := strings.Cut(s, "-"); ok {
		n, err := strconv.Atoi(d)
		if err != nil {
			return 0, false
		}
		days, s = n, rest
	}
	parts := strings.Split(s, ":")
	var v []int
	for _, p := range parts {
		n, err := strconv.Atoi(p)
		if err != nil || n < 0 {
			return 0, false
		}
		v = append(v, n)
	}
	var h, m, sec int
	switch {
	case days > 0 && len(v) == 1:
		h = v[0]
	case days > 0 && len(v) == 2:
		h, m = v[0], v[1]
	case len(v) == 1:
		m = v[0]
	case len(v) == 2 && days == 0:
		m, sec = v[0], v[1]
	case len(v) == 3:
		h, m, sec = v[0], v[1], v[2]
	default:
		return 0, false
	}
	return time.Duration(days)*24*time.Hour + time.Duration(h)*time.Hour + time.Duration(m)*time.Minute + time.Duration(sec)*time.Second, true
}

// JobScript renders the round's array job script.
func JobScript(r Round) ([]byte, error) {
	return templates.Render(r.Spec.Slurm.TemplateDir, templates.Job, r.data())
}

// CollectScript renders the campaign's collect job script.
func CollectScript(r Round) ([]byte, error) {
	return templates.Render(r.Spec.Slurm.TemplateDir, templates.Collect, r.data())
}

// WriteScripts renders both scripts and writes them into the campaign durably. It returns
// the job script's content.
func WriteScripts(r Round) ([]byte, error) {
	job, err := JobScript(r)
	if err != nil {
		return nil, err
	}
	coll, err := CollectScript(r)
	if err != nil {
		return nil, err
	}
	if err := durable.WriteFile(r.Dir.Round(r.N).JobScript, job, 0o700); err != nil {
		return nil, err
	}
	if err := durable.WriteFile(r.Dir.CollectScript(), coll, 0o700); err != nil {
		return nil, err
	}
	return job, nil
}

// SbatchCommands returns the shell commands that submit the round, for --no-submit.
func SbatchCommands(r Round) string {
	job := templates.ShellQuote(r.Dir.Round(r.N).JobScript)
	coll := templates.ShellQuote(r.Dir.CollectScript())
	return fmt.Sprintf("jobid=$(sbatch --parsable %s) && sbatch --dependency=afterany:${jobid%%%%;*} %s", job, coll)
}

// Slurm submits the round's array and a collect job that runs after it whatever its outcome
// (afterany: afterok would wait forever once one task failed), and records both in
// submissions.jsonl. The scripts must have been written.
func Slurm(ctx context.Context, c *slurm.Client, r Round) (arrayID, collectID string, err error) {
	if r.Shards == 0 {
		return "", "", nil
	}
	rd := r.Dir.Round(r.N)
	arrayID, err = c.Submit(ctx, rd.JobScript)
	if err != nil {
		return "", "", fmt.Errorf("submitting the array: %w", err)
	}
	now := time.Now().UTC()
	if err := r.Dir.AppendSubmission(campaign.Submission{Time: now, Round: r.N, Kind: "array", JobID: arrayID,
		Array: r.data().Array, Shards: r.Shards, Script: rd.JobScript, By: r.By}); err != nil {
		return arrayID, "", fmt.Errorf("array job %s submitted, but recording it failed: %w", arrayID, err)
	}
	collectID, err = Collect(ctx, c, r, arrayID)
	return arrayID, collectID, err
}

// CollectDependency is the sbatch dependency of the collect job of array job arrayID:
// afterany, since afterok would wait forever once one task failed.
func CollectDependency(arrayID string) string { return "afterany:" + arrayID }

// Collect submits the collect job that runs after the array arrayID, whatever its outcome,
// and records it in submissions.jsonl.
func Collect(ctx context.Context, c *slurm.Client, r Round, arrayID string) (string, error) {
	dep := CollectDependency(arrayID)
	collectID, err := c.Submit(ctx, r.Dir.CollectScript(), "--dependency="+dep)
	if err != nil {
		return "", fmt.Errorf("array job %s submitted; submitting its collect job: %w", arrayID, err)
	}
	err = r.Dir.AppendSubmission(campaign.Submission{Time: time.Now().UTC(), Round: r.N, Kind: "collect",
		JobID: collectID, Depend: dep, Script: r.Dir.CollectScript(), By: r.By})
	return collectID, err
}

// LocalResult is how each shard's task ended when run locally.
type LocalResult struct {
	Shard int
	Code  int // exit code of migrator work
}

// Local runs "migrator work" for every shard of the round, at most throttle at once, each
// with its output in logs/local-R-K.out like a Slurm task's, then "migrator collect".
// Cancelling ctx sends SIGTERM to the running tasks, which checkpoint and stop; no new
// task starts. It returns the tasks' exit codes.
func Local(ctx context.Context, r Round, throttle int, stderr io.Writer) ([]LocalResult, error) {
	if throttle < 1 {
		throttle = 1
	}
	results := make([]LocalResult, 0, r.Shards)
	var mu sync.Mutex
	sem := make(chan struct{}, throttle)
	var wg sync.WaitGroup
	stopped := false
	for k := 0; k < r.Shards; k++ {
		select {
		case sem <- struct{}{}:
		case <-ctx.Done():
		}
		if ctx.Err() != nil {
			break
		}
		mu.Lock()
		halt := stopped
		mu.Unlock()
		if halt {
			<-sem
			break
		}
		wg.Add(1)
		go func(k int) {
			defer wg.Done()
			defer func() { <-sem }()
			code, err := runLogged(ctx, r, fmt.Sprintf("local-%d-%d.out", r.N, k),
				"work", r.Dir.Root, "--round", strconv.Itoa(r.N), "--shard", strconv.Itoa(k))
			if err != nil {
				fmt.Fprintf(stderr, "migrator: shard %d: %v\n", k, err)
			}
			mu.Lock()
			results = append(results, LocalResult{Shard: k, Code: code})
			if code == 4 { // stopped to protect the filesystem: do not start more
				stopped = true
			}
			mu.Unlock()
		}(k)
	}
	wg.Wait()
	if ctx.Err() != nil {
		return results, ctx.Err()
	}
	if _, err := runLogged(ctx, r, "local-collect.out", "collect", r.Dir.Root); err != nil {
		return results, fmt.Errorf("collect: %w", err)
	}
	return results, nil
}

// runLogged runs the migrator binary with args, appending its output to logs/name.
func runLogged(ctx context.Context, r Round, name string, args ...string) (int, error) {
	logf, err := os.OpenFile(filepath.Join(r.Dir.Logs(), name), os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o600)
	if err != nil {
		return -1, err
	}
	defer logf.Close()
	cmd := exec.Command(r.Exe, args...)
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.Env = os.Environ()
	if err := cmd.Start(); err != nil {
		return -1, err
	}
	done := make(chan struct{})
	go func() {
		select {
		case <-ctx.Done():
			cmd.Process.Signal(syscall.SIGTERM) // as scancel would: the task checkpoints and stops
		case <-done:
		}
	}()
	err = cmd.Wait()
	close(done)
	var xe *exec.ExitError
	if errors.As(err, &xe) {
		return xe.ExitCode(), nil
	}
	if err != nil {
		return -1, err
	}
	return 0, nil
}

// RunLocalReport runs the round with Local and turns how its tasks ended into the
// command's exit: the worst task exit code, or "interrupted" if stopped by a signal.
func RunLocalReport(ctx context.Context, out io.Writer, r Round, throttle int) error {
	fmt.Fprintf(out, "running %s here, %d at once (logs in %s)\n", progress.Plural(r.Shards, "shard"), throttle, r.Dir.Logs())
	results, err := Local(ctx, r, throttle, out)
	worst := 0
	for _, res := range results {
		if res.Code != 0 {
			fmt.Fprintf(out, "shard %d: migrator work exited %d\n", res.Shard, res.Code)
			worst = max(worst, res.Code)
		}
	}
	if err != nil {
		return exitError{5, err}
	}
	if worst != 0 {
		return exitError{worst, fmt.Errorf("some shards did not finish cleanly; see migrator status %s", r.Dir.Root)}
	}
	return nil
}

// exitError carries a task's exit code up to the command (cmd/cli maps ExitCoder).
type exitError struct {
	code int
	err  error
}

func (e exitError) Error() string { return e.err.Error() }
func (e exitError) Unwrap() error { return e.err }
func (e exitError) ExitCode() int { return e.code }
