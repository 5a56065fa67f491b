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
	"os/signal"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"migrator/campaign"
	"migrator/durable"
	"migrator/progress"
	"migrator/slurm"
	"migrator/templates"
	"migrator/trust"
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
// the campaign id when the name would not be a plain token, or holds a "," (squeue -n
// splits its list of names on commas, so the job would never be found) or a "|" (the
// separator of the squeue format Named parses).
func JobName(d campaign.Dir, s *campaign.Spec) string {
	name := "migrator-" + filepath.Base(d.Root)
	if templates.CheckToken("job name", name) != nil || len(name) > 64 || strings.ContainsAny(name, ",|") {
		return "migrator-" + s.ID
	}
	return name
}

// Unrecorded finds the campaign's jobs that Slurm has queued or running but
// submissions.jsonl does not list: a script piped into sbatch by hand is recorded only when
// its first task starts (and a scan array or seal job when a plan was killed between sbatch
// and its record). They are found by the job names of the campaign's scripts and the
// campaign directory as working directory (both set by the scripts' #SBATCH lines). Their
// Round is campaign.RoundUnrecorded (0 for a scan or seal job) and By is "squeue".
func Unrecorded(ctx context.Context, sc *slurm.Client, d campaign.Dir, spec *campaign.Spec, subs []campaign.Submission) ([]campaign.Submission, error) {
	name := JobName(d, spec)
	kinds := map[string]string{name: campaign.KindArray, name + "-collect": campaign.KindCollect,
		name + "-scan": campaign.KindScan, name + "-seal": campaign.KindSeal}
	jobs, err := sc.Named(ctx, name, name+"-collect", name+"-scan", name+"-seal")
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
		round := campaign.RoundUnrecorded
		if k := kinds[j.Name]; k == campaign.KindScan || k == campaign.KindSeal {
			round = 0 // a scan is always round 0's
		}
		out = append(out, campaign.Submission{Round: round, Kind: kinds[j.Name], JobID: j.JobID, By: "squeue"})
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
// "days-hours", "days-hours:minutes" or "days-hours:minutes:seconds" (man sbatch). It
// reports false for no limit (0, UNLIMITED, INFINITE) and for anything else.
func ParseSlurmTime(s string) (time.Duration, bool) {
	d, err := slurmTime(s)
	return d, err == nil && d > 0
}

// CheckSlurmTime checks an sbatch --time value: one of the forms of man sbatch, 0 or
// UNLIMITED (no limit), or empty (the partition's default).
func CheckSlurmTime(s string) error {
	if s == "" {
		return nil
	}
	_, err := slurmTime(s)
	return err
}

func slurmTime(s string) (time.Duration, error) {
	bad := fmt.Errorf("--time %q: want minutes, MM:SS, HH:MM:SS, D-HH, D-HH:MM, D-HH:MM:SS, or UNLIMITED (man sbatch)", s)
	if u := strings.ToUpper(s); u == "UNLIMITED" || u == "INFINITE" {
		return 0, nil
	}
	num := func(p string) (int, bool) {
		if p == "" || len(p) > 9 || strings.Trim(p, "0123456789") != "" {
			return 0, false
		}
		n, err := strconv.Atoi(p)
		return n, err == nil
	}
	days, rest, hasDays := strings.Cut(s, "-")
	var d int
	if hasDays {
		n, ok := num(days)
		if !ok {
			return 0, bad
		}
		d = n
	} else {
		rest = s
	}
	var v []int
	for p := range strings.SplitSeq(rest, ":") {
		n, ok := num(p)
		if !ok {
			return 0, bad
		}
		v = append(v, n)
	}
	var h, m, sec int
	switch {
	case hasDays && len(v) == 1:
		h = v[0]
	case hasDays && len(v) == 2:
		h, m = v[0], v[1]
	case len(v) == 3:
		h, m, sec = v[0], v[1], v[2]
	case len(v) == 1:
		m = v[0]
	case len(v) == 2:
		m, sec = v[0], v[1]
	default:
		return 0, bad
	}
	return time.Duration(d)*24*time.Hour + time.Duration(h)*time.Hour + time.Duration(m)*time.Minute + time.Duration(sec)*time.Second, nil
}

// JobScript renders the round's array job script.
func JobScript(r Round) ([]byte, error) {
	return templates.RenderSet(r.Spec.Slurm.Templates, templates.Job, r.data())
}

// CollectScript renders the campaign's collect job script.
func CollectScript(r Round) ([]byte, error) {
	return templates.RenderSet(r.Spec.Slurm.Templates, templates.Collect, r.data())
}

// WriteScripts renders both scripts and writes them into the campaign durably. It returns
// the job script's content. The migrator binary they exec must be one nobody else could
// replace before the jobs run (CheckExe).
func WriteScripts(r Round) ([]byte, error) {
	if err := CheckExe(r.Exe); err != nil {
		return nil, err
	}
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
	Code  int    // exit code of migrator work (-1: it could not be started, or was killed)
	Last  string // the last line of its log, for a task that did not end cleanly
}

// LocalOptions control a local run.
type LocalOptions struct {
	Throttle int // tasks at once
	// Kill, when closed, stops the running tasks at once (SIGKILL to each task's process
	// group, its lfs processes included).
	Kill <-chan struct{}
	// Exited, if set, is called as each task ends.
	Exited func(LocalResult)
}

// Local runs "migrator work" for every shard of the round, at most o.Throttle at once,
// each with its output in logs/local-R-K.out like a Slurm task's, then "migrator collect".
// Each task runs in a process group of its own, so a Ctrl-C on the terminal does not reach
// it: cancelling ctx sends it exactly one SIGTERM (it checkpoints and stops, as under
// scancel) and starts no new task; collect is then left out. It returns the tasks' exit
// codes, in the order they ended.
func Local(ctx context.Context, r Round, o LocalOptions, stderr io.Writer) ([]LocalResult, error) {
	if err := CheckExe(r.Exe); err != nil {
		return nil, err
	}
	throttle := max(o.Throttle, 1)
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
			name := fmt.Sprintf("local-%d-%d.out", r.N, k)
			code, err := runLogged(ctx, o.Kill, r, name, "work", r.Dir.Root, "--round", strconv.Itoa(r.N), "--shard", strconv.Itoa(k))
			res := LocalResult{Shard: k, Code: code}
			if err != nil {
				res.Last = err.Error()
			} else if code != 0 {
				res.Last = lastLine(filepath.Join(r.Dir.Logs(), name))
			}
			mu.Lock()
			results = append(results, res)
			if code == 4 { // stopped to protect the filesystem: do not start more
				stopped = true
			}
			mu.Unlock()
			if o.Exited != nil {
				o.Exited(res)
			}
		}(k)
	}
	wg.Wait()
	if ctx.Err() != nil {
		return results, ctx.Err()
	}
	if code, err := runLogged(ctx, o.Kill, r, "local-collect.out", "collect", r.Dir.Root); err != nil || code != 0 {
		if err == nil {
			err = fmt.Errorf("exit %d: %s", code, lastLine(filepath.Join(r.Dir.Logs(), "local-collect.out")))
		}
		return results, fmt.Errorf("collect: %w", err)
	}
	return results, nil
}

// CheckExe refuses a migrator binary that someone else could have written or swapped
// (package trust's rules for executables, as for lfs): the job scripts exec it by its
// path, maybe days later and as whoever submitted them, and the local runner execs it
// for every shard.
func CheckExe(exe string) error { return trust.Executable("migrator binary", exe) }

// runLogged runs the migrator binary with args in a process group of its own, appending its
// output to logs/name: one SIGTERM when ctx is cancelled, SIGKILL to the group on kill.
func runLogged(ctx context.Context, kill <-chan struct{}, r Round, name string, args ...string) (int, error) {
	logf, err := durable.OpenFile(filepath.Join(r.Dir.Logs(), name), os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o600)
	if err != nil {
		return -1, err
	}
	defer logf.Close()
	cmd := exec.Command(r.Exe, args...)
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.Env = os.Environ()
	// Out of the terminal's foreground process group: a Ctrl-C reaches the runner only,
	// which forwards one SIGTERM (SIGINT and SIGTERM both would count as two signals in
	// work, which skips the grace period).
	// No orphans: if this process dies, even by SIGKILL, the child gets SIGKILL (and its
	// lfs children theirs, see lfs.Client), so a rerun never meets a task of the dead run.
	// The kernel sends it when the thread that forked the child exits, not the process:
	// the goroutine stays locked to its thread until the child is waited for, so no
	// thread exit of the Go runtime can fire it early (see childAttr).
	unlock := lockThread()
	defer unlock()
	cmd.SysProcAttr = childAttr()
	if err := cmd.Start(); err != nil {
		return -1, err
	}
	done := make(chan struct{})
	go func() {
		select {
		case <-ctx.Done():
			cmd.Process.Signal(syscall.SIGTERM) // as scancel would: the task checkpoints and stops
		case <-done:
			return
		}
		select {
		case <-kill:
			syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) // the task and its lfs processes
		case <-done:
		}
	}()
	err = cmd.Wait()
	close(done)
	var xe *exec.ExitError
	if errors.As(err, &xe) {
		if ws, ok := xe.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
			// Before its signal handlers were set up, or by the second Ctrl-C's SIGKILL.
			return -1, fmt.Errorf("killed by %s", unix.SignalName(ws.Signal()))
		}
		return xe.ExitCode(), nil
	}
	if err != nil {
		return -1, err
	}
	return 0, nil
}

// lastLine returns the last non-empty line of a log (its last 4 KiB).
func lastLine(path string) string {
	f, err := os.Open(path)
	if err != nil {
		return ""
	}
	defer f.Close()
	if st, err := f.Stat(); err == nil && st.Size() > 4096 {
		f.Seek(-4096, io.SeekEnd)
	}
	b, _ := io.ReadAll(f)
	lines := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	return strings.TrimSpace(lines[len(lines)-1])
}

// ExitMeaning says what a migrator exit code means (the README's table).
func ExitMeaning(code int) string {
	switch code {
	case 0:
		return "done"
	case 1:
		return "an unexpected error"
	case 2:
		return "bad input"
	case 3:
		return "finished, but some files failed or remain"
	case 4:
		return "stopped early to protect the filesystem"
	case 5:
		return "interrupted by a signal; a rerun continues"
	case 6:
		return "another task holds the shard's lock"
	case -1:
		return "killed by a signal, or could not be started"
	}
	return "exit " + strconv.Itoa(code)
}

// RunLocal runs the round here (see Local) for a command in the foreground: it takes the
// campaign's run lock, shows overall progress (a bar on a terminal, a line every 30 s
// otherwise), reports each task's exit as it happens with its meaning, prints collect's
// summary at the end (for a dry run, what would be migrated per source OST), and turns
// how the tasks ended into the command's exit: the worst task exit code, or 5 if stopped
// by a signal. The first SIGINT or SIGTERM (ctx) stops it gracefully, a second one at
// once; either way the last line says how to continue: the command cont (after tasks that
// ended badly: a local retry). every is the
// interval of progress lines when out is not a terminal (0: 30 s).
func RunLocal(ctx context.Context, out io.Writer, r Round, throttle int, every time.Duration, cont string) error {
	unlock, err := LockRun(r.Dir)
	if err != nil {
		return err
	}
	defer unlock()
	fmt.Fprintf(out, "running %s here, %d at once (logs in %s); Ctrl-C: stop after the files in flight, twice: at once\n",
		progress.Plural(r.Shards, "shard"), throttle, r.Dir.Logs())
	kill := make(chan struct{})
	// SIGHUP too: the tasks are out of the terminal's process group, so when the terminal
	// goes away only the runner hears of it, and they must not run on without it.
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	sigs := make(chan os.Signal, 2)
	signal.Notify(sigs, os.Interrupt, syscall.SIGTERM, syscall.SIGHUP)
	defer signal.Stop(sigs)
	w := newWatch(r)
	rep := progress.Start(context.Background(), progress.Options{Out: out, Terminal: progress.IsTerminal(out),
		Every: every, Prefix: fmt.Sprintf("round %d", r.N), Total: w.total, Done: w.done}, w.status)
	defer rep.Stop()
	over := make(chan struct{})
	defer close(over)
	go func() {
		for n := 1; ; n++ {
			select {
			case s := <-sigs:
				cancel()
				if n == 1 {
					rep.Printf("%s: stopping: the running shards finish their current files and checkpoint (again to stop them at once)\n", s)
					continue
				}
				rep.Printf("%s again: killing the running shards now (SIGKILL); files they were moving stay pending, their originals intact\n", s)
				close(kill)
				return
			case <-over:
				return
			}
		}
	}()
	results, err := Local(ctx, r, LocalOptions{Throttle: throttle, Kill: kill, Exited: func(res LocalResult) {
		w.exited(res)
		if res.Code == 0 {
			rep.Printf("shard %d: done\n", res.Shard)
			return
		}
		why := ""
		if res.Last != "" {
			why = ": " + res.Last
		}
		rep.Printf("shard %d: exit %d, %s%s\n", res.Shard, res.Code, ExitMeaning(res.Code), why)
	}}, out)
	rep.Stop()
	worst, failed := 0, 0
	for _, res := range results {
		if res.Code != 0 {
			failed++
			worst = max(worst, res.Code)
		}
	}
	if err != nil && ctx.Err() != nil {
		fmt.Fprintf(out, "stopped: %d of %s ended (%d not cleanly), %d never started; their progress is checkpointed\n",
			len(results), progress.Plural(r.Shards, "shard"), failed, r.Shards-len(results))
		return exitError{5, fmt.Errorf("interrupted; continue with: %s", cont)}
	}
	if err != nil {
		return exitError{1, fmt.Errorf("%w; continue with: %s", err, cont)}
	}
	printSummary(out, r)
	if worst != 0 {
		// What is left is pending or failed: a retry round takes it (a dry run has none).
		next := CommandLine(r.Exe, "retry", r.Dir.Root, "--scheduler", "local")
		if r.Spec.DryRun {
			next = CommandLine(r.Exe, "status", r.Dir.Root)
		}
		return exitError{worst, fmt.Errorf("%s of %d did not finish cleanly (see above); continue with: %s",
			progress.Plural(failed, "shard"), r.Shards, next)}
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

// childAttr is how local tasks are started: in a process group of their own (see
// runLogged), and they die with SIGKILL when the thread that started them ends (prctl PR_SET_PDEATHSIG, set by the Go runtime between fork and exec,
// which also kills the child at once if the parent died before that).
func childAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
}

// lockThread locks the calling goroutine to its thread, so that a child it starts with
// childAttr sees its "parent" (that thread) live as long as the goroutine waits for it.
// The Go runtime ends a thread only when a goroutine locked to it returns without
// unlocking; unlock is called after Wait.
func lockThread() (unlock func()) {
	runtime.LockOSThread()
	return runtime.UnlockOSThread
}
