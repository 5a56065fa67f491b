// Package slurm is migrator's interface to Slurm: sbatch, squeue, scontrol and scancel,
// run with argument vectors (never a shell) and parsed from their text output.
//
// Facts it relies on, checked against Slurm 22.05 (Debian bookworm):
//   - sbatch --parsable prints "JOBID" or "JOBID;CLUSTER". Options placed after the script
//     become script arguments, so the script always comes last.
//   - squeue --json ignores -j and -r in 22.05, so the text format is parsed; -r lists each
//     pending array task on its own line.
//   - scancel of an unknown job exits 0 silently; scontrol hold/release/requeue of an unknown
//     or finished job exit 1.
//   - Finished jobs leave squeue after MinJobAge (300 s by default) and sacct needs
//     slurmdbd, so Slurm only tells what is queued or running; a campaign's final state
//     comes from its own files.
//   - While slurmctld is down every client waits about 9 s before failing.
package slurm

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"sort"
	"strconv"
	"strings"
	"time"
)

// Client runs the Slurm commands found on PATH.
type Client struct {
	// Env is added to every command's environment (e.g. SLURM_CONF=...).
	Env []string
	// Timeout bounds every command; Slurm clients can hang on an unreachable controller.
	Timeout time.Duration
}

// New returns a client with a 60 s timeout per command.
func New() *Client { return &Client{Timeout: 60 * time.Second} }

// ErrNoSlurm is returned (wrapped) when a Slurm command is not installed.
var ErrNoSlurm = errors.New("slurm command not found")

// Error is a Slurm command that failed, with what it printed.
type Error struct {
	Cmd    string // "sbatch", "scontrol hold", ...
	Code   int
	Stderr string
}

// Error is one line naming the command: the line of Slurm's output that says the most
// (Slurm clients print a chain of "error:" lines ending in a "fatal:" one), without the
// client's own prefix, plus a hint for the failures an admin meets most.
func (e *Error) Error() string {
	msg := Summary(e.Stderr)
	if msg == "" {
		msg = fmt.Sprintf("exit status %d", e.Code)
	}
	return e.Cmd + ": " + msg
}

// Summary reduces what a Slurm client printed on stderr to one line: its "fatal:" line if
// any, else its first line that says "error", else its first line; the client's name and
// the "error:" marker are cut, runs of blanks become one space, and a hint is added where
// the cause is known (no configuration, controller unreachable, no node big enough).
func Summary(stderr string) string {
	var lines []string
	for _, l := range strings.Split(stderr, "\n") {
		if l = strings.Join(strings.Fields(l), " "); l != "" {
			lines = append(lines, l)
		}
	}
	if len(lines) == 0 {
		return ""
	}
	pick := lines[0]
	for _, l := range lines {
		if strings.Contains(l, "error") {
			pick = l
			break
		}
	}
	for _, l := range lines {
		if strings.Contains(l, "fatal:") {
			pick = l
			break
		}
	}
	pick = trimClient(pick)
	for _, l := range lines {
		switch {
		case strings.Contains(l, "Could not establish a configuration source"), strings.Contains(l, "Unable to process configuration file"):
			return pick + " (Slurm has no configuration here: set SLURM_CONF, or run where Slurm is set up)"
		case strings.Contains(l, "Unable to contact slurm controller"):
			return pick + " (is slurmctld running and reachable from here?)"
		case strings.Contains(l, "Memory specification can not be satisfied"), strings.Contains(l, "Requested node configuration is not available"):
			return pick + " (no node offers what the job script asks: compare its --mem and --cpus-per-task with the nodes' RealMemory and CPUs in scontrol show node)"
		}
	}
	return pick
}

func (c *Client) run(ctx context.Context, stdin []byte, name string, args ...string) ([]byte, error) {
	if c.Timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, c.Timeout)
		defer cancel()
	}
	cmd := exec.CommandContext(ctx, name, args...)
	if len(c.Env) > 0 {
		cmd.Env = append(os.Environ(), c.Env...)
	}
	if stdin != nil {
		cmd.Stdin = bytes.NewReader(stdin)
	}
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	what := name
	if len(args) > 0 && (name == "scontrol") {
		what += " " + args[0]
	}
	var ee *exec.Error
	var xe *exec.ExitError
	switch {
	case err == nil:
		return stdout.Bytes(), nil
	case errors.As(err, &ee):
		return nil, fmt.Errorf("%w: %s (is Slurm installed and on PATH?)", ErrNoSlurm, name)
	case ctx.Err() != nil:
		return nil, fmt.Errorf("%s: no answer within %v (is slurmctld reachable?)", what, c.Timeout)
	case errors.As(err, &xe):
		return nil, &Error{Cmd: what, Code: xe.ExitCode(), Stderr: stderr.String()}
	}
	return nil, fmt.Errorf("%s: %w", what, err)
}

// Submit runs "sbatch --parsable OPTIONS SCRIPT" and returns the job id. The options come
// before the script, where sbatch reads them.
func (c *Client) Submit(ctx context.Context, script string, options ...string) (string, error) {
	args := append([]string{"--parsable"}, options...)
	args = append(args, script)
	out, err := c.run(ctx, nil, "sbatch", args...)
	if err != nil {
		return "", err
	}
	return parseJobID(out)
}

// SubmitStdin runs "sbatch --parsable OPTIONS" with the script on standard input.
func (c *Client) SubmitStdin(ctx context.Context, script []byte, options ...string) (string, error) {
	out, err := c.run(ctx, script, "sbatch", append([]string{"--parsable"}, options...)...)
	if err != nil {
		return "", err
	}
	return parseJobID(out)
}

func parseJobID(out []byte) (string, error) {
	s := strings.TrimSpace(string(out))
	if i := strings.LastIndexByte(s, '\n'); i >= 0 { // warnings before the id
		s = s[i+1:]
	}
	id, _, _ := strings.Cut(s, ";")
	if _, err := strconv.ParseUint(id, 10, 64); err != nil {
		return "", fmt.Errorf("sbatch: no job id in its output %q", strings.TrimSpace(string(out)))
	}
	return id, nil
}

// Task is one line of squeue -r: an array task (or a whole job).
type Task struct {
	ID         string // as squeue prints it: "123_4", or "123" for a plain job
	ArrayJobID string // "123"; the job's own id for plain jobs
	TaskID     int    // array index, -1 for a plain job
	State      string // PENDING, RUNNING, COMPLETING, REQUEUED, ...
	Reason     string // JobHeldAdmin, JobArrayTaskLimit, Resources, None, ...
	Node       string
	Elapsed    string // squeue %M: [days-]hours:minutes:seconds
}

// Held reports whether the task is held (by an admin or its user).
func (t Task) Held() bool { return strings.HasPrefix(t.Reason, "JobHeld") }

const squeueFormat = "%i|%F|%K|%T|%r|%N|%M"

// Tasks lists the queued and running tasks of the given jobs, one per array task.
// Jobs that have left the queue are simply absent.
func (c *Client) Tasks(ctx context.Context, jobIDs ...string) ([]Task, error) {
	if len(jobIDs) == 0 {
		return nil, nil
	}
	out, err := c.run(ctx, nil, "squeue", "-h", "-r", "-j", strings.Join(jobIDs, ","), "-o", squeueFormat)
	if err != nil {
		var se *Error
		// squeue exits 1 with "Invalid job id specified" once every listed job is gone.
		if errors.As(err, &se) && strings.Contains(se.Stderr, "Invalid job id") {
			return nil, nil
		}
		return nil, err
	}
	return parseSqueue(out)
}

// ElapsedTime is Elapsed as a duration: squeue's %M is [days-][hours:]minutes:seconds.
// It is 0 for a task that has not started or a form it does not know.
func (t Task) ElapsedTime() time.Duration {
	s := t.Elapsed
	var days int
	if d, rest, ok := strings.Cut(s, "-"); ok {
		n, err := strconv.Atoi(d)
		if err != nil {
			return 0
		}
		days, s = n, rest
	}
	parts := strings.Split(s, ":")
	if len(parts) < 2 || len(parts) > 3 {
		return 0
	}
	var secs int
	for _, p := range parts {
		n, err := strconv.Atoi(p)
		if err != nil || n < 0 {
			return 0
		}
		secs = secs*60 + n
	}
	return time.Duration(days)*24*time.Hour + time.Duration(secs)*time.Second
}

// NamedJob is a queued or running job found by name.
type NamedJob struct {
	JobID   string // the array job's id (squeue %F), or the job's own
	Name    string
	UID     int // the job's user (squeue %U)
	WorkDir string
}

// Named lists this user's queued and running jobs with one of the given names, one line
// per job (an array's tasks are not expanded). Another user's job of the same name and
// working directory is never taken for ours: squeue is asked for this user's jobs only
// (-u), and each line's user ID is checked as well.
func (c *Client) Named(ctx context.Context, names ...string) ([]NamedJob, error) {
	if len(names) == 0 {
		return nil, nil
	}
	uid := os.Geteuid()
	out, err := c.run(ctx, nil, "squeue", "-h", "-u", strconv.Itoa(uid), "-n", strings.Join(names, ","), "-o", "%F|%j|%U|%Z")
	if err != nil {
		return nil, err
	}
	var jobs []NamedJob
	seen := map[string]bool{}
	for _, line := range strings.Split(string(out), "\n") {
		if strings.TrimSpace(line) == "" {
			continue
		}
		f := strings.SplitN(line, "|", 4) // the working directory last: it may hold anything
		if len(f) != 4 {
			return nil, fmt.Errorf("squeue: unexpected line %q", line)
		}
		u, err := strconv.Atoi(f[2])
		if err != nil {
			return nil, fmt.Errorf("squeue: unexpected line %q", line)
		}
		if u != uid {
			continue
		}
		if !seen[f[0]] {
			seen[f[0]] = true
			jobs = append(jobs, NamedJob{JobID: f[0], Name: f[1], UID: u, WorkDir: f[3]})
		}
	}
	return jobs, nil
}

func parseSqueue(out []byte) ([]Task, error) {
	var tasks []Task
	for _, line := range strings.Split(string(out), "\n") {
		if strings.TrimSpace(line) == "" {
			continue
		}
		f := strings.Split(line, "|")
		if len(f) != 7 {
			return nil, fmt.Errorf("squeue: unexpected line %q", line)
		}
		t := Task{ID: f[0], ArrayJobID: f[1], TaskID: -1, State: f[3], Reason: f[4], Node: f[5], Elapsed: f[6]}
		if n, err := strconv.Atoi(f[2]); err == nil {
			t.TaskID = n
		}
		tasks = append(tasks, t)
	}
	return tasks, nil
}

// Hold holds the pending tasks of a job (scontrol hold). Running tasks go on.
func (c *Client) Hold(ctx context.Context, jobID string) error {
	_, err := c.run(ctx, nil, "scontrol", "hold", jobID)
	return partlyFinished(err)
}

// Release releases held tasks (scontrol release).
func (c *Client) Release(ctx context.Context, jobID string) error {
	_, err := c.run(ctx, nil, "scontrol", "release", jobID)
	return partlyFinished(err)
}

// partlyFinished forgives scontrol's complaint about the finished tasks of an array when
// every other task was handled: on an array with finished tasks, scontrol hold, release and
// update report "190_0-1: Job has already finished 190_2-10: No error" and exit 1.
func partlyFinished(err error) error {
	var se *Error
	if !errors.As(err, &se) {
		return err
	}
	if !strings.Contains(se.Stderr, "Job has already finished") {
		return err
	}
	// Once the two results are removed, only the task ids they were about ("190_0-1:")
	// may remain.
	rest := strings.NewReplacer("Job has already finished", "", "No error", "").Replace(se.Stderr)
	for _, f := range strings.Fields(rest) {
		if !strings.HasSuffix(f, ":") {
			return err
		}
	}
	return nil
}

// Requeue requeues a job or task (scontrol requeue); with hold, it is requeued held.
func (c *Client) Requeue(ctx context.Context, jobID string, hold bool) error {
	cmd := "requeue"
	if hold {
		cmd = "requeuehold"
	}
	_, err := c.run(ctx, nil, "scontrol", cmd, jobID)
	return err
}

// Cancel cancels jobs (scancel). Running tasks get SIGCONT and SIGTERM, children included.
// Unknown jobs are ignored, as scancel does.
func (c *Client) Cancel(ctx context.Context, jobIDs ...string) error {
	if len(jobIDs) == 0 {
		return nil
	}
	_, err := c.run(ctx, nil, "scancel", jobIDs...)
	return err
}

// Signal sends sig (e.g. "TERM") to the running tasks of a job, batch shell included.
func (c *Client) Signal(ctx context.Context, jobID, sig string) error {
	_, err := c.run(ctx, nil, "scancel", "--batch", "--signal="+sig, jobID)
	return err
}

// SetThrottle changes how many tasks of an array run at once (0: no limit).
func (c *Client) SetThrottle(ctx context.Context, jobID string, n int) error {
	_, err := c.run(ctx, nil, "scontrol", "update", "JobId="+jobID, "ArrayTaskThrottle="+strconv.Itoa(n))
	return partlyFinished(err)
}

// Ping checks that the controller answers (scontrol ping).
func (c *Client) Ping(ctx context.Context) error {
	out, err := c.run(ctx, nil, "scontrol", "ping")
	if err != nil {
		return err
	}
	if !strings.Contains(string(out), "is UP") {
		return &Error{Cmd: "scontrol ping", Stderr: strings.TrimSpace(string(out))}
	}
	return nil
}

// trimClient cuts a Slurm client's prefix from a line of its stderr: "squeue: error: X",
// "sbatch: fatal: X", "sbatch: X" and "slurm_load_jobs error: X" all become "X".
func trimClient(l string) string {
	word := func(w string) bool {
		return w != "" && strings.Trim(w, "abcdefghijklmnopqrstuvwxyz_") == ""
	}
	if name, rest, ok := strings.Cut(l, " error: "); ok && word(name) {
		return rest
	}
	if name, rest, ok := strings.Cut(l, ": "); ok && word(name) {
		for _, m := range []string{"error: ", "fatal: "} {
			rest = strings.TrimPrefix(rest, m)
		}
		return rest
	}
	return l
}

// FormatRange writes array task ids as Slurm does: ascending, runs as ranges ("0-3,7,9-12").
func FormatRange(ids []int) string {
	s := append([]int(nil), ids...)
	sort.Ints(s)
	var b strings.Builder
	for i := 0; i < len(s); {
		j := i
		for j+1 < len(s) && s[j+1] <= s[j]+1 {
			j++
		}
		if b.Len() > 0 {
			b.WriteByte(',')
		}
		if s[j] == s[i] {
			fmt.Fprintf(&b, "%d", s[i])
		} else {
			fmt.Fprintf(&b, "%d-%d", s[i], s[j])
		}
		i = j + 1
	}
	return b.String()
}
