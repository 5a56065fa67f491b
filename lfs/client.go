package lfs

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"
	"unicode"
	"unicode/utf8"

	"golang.org/x/sys/unix"
)

// Client runs the lfs command. It never uses a shell: every path is one argv element.
// The zero value is not usable; use New.
type Client struct {
	path string   // the lfs binary as given (name on PATH or a path)
	env  []string // extra environment for the child, e.g. simulator settings

	// Grace is how long an lfs process gets after SIGTERM when its context is cancelled,
	// before it is killed. lfs migrate guarantees the original file stays intact either way.
	Grace time.Duration
}

// New returns a client for the lfs binary at path ("lfs" to search PATH).
func New(path string) *Client {
	if path == "" {
		path = "lfs"
	}
	return &Client{path: path, Grace: 30 * time.Second}
}

// WithEnv returns a copy of c that adds env (KEY=VALUE) to every child's environment.
func (c *Client) WithEnv(env ...string) *Client {
	d := *c
	d.env = append(append([]string(nil), c.env...), env...)
	return &d
}

// Path returns the lfs binary this client runs, as it was given.
func (c *Client) Path() string { return c.path }

// ErrNoLFS is returned (wrapped) when the lfs binary cannot be found or executed.
var ErrNoLFS = errors.New("lfs command not found")

// Check verifies that the lfs binary exists and is executable, naming it in the error.
func (c *Client) Check() error {
	if _, err := exec.LookPath(c.path); err != nil {
		return fmt.Errorf("%w: %q (set --lfs or MIGRATOR_LFS): %v", ErrNoLFS, c.path, unwrapExec(err))
	}
	return nil
}

func unwrapExec(err error) error {
	var ee *exec.Error
	if errors.As(err, &ee) {
		return ee.Err
	}
	return err
}

// ExitError is an lfs invocation that exited non-zero (or was killed).
type ExitError struct {
	Args   []string // the lfs subcommand and its arguments (paths may be elided)
	Code   int      // exit status; -1 if killed by a signal
	Signal syscall.Signal
	Stderr string // the first part of stderr
}

func (e *ExitError) Error() string {
	what := "exit status " + fmt.Sprint(e.Code)
	if e.Code < 0 {
		what = "killed by " + e.Signal.String()
	}
	msg := strings.TrimSpace(e.Stderr)
	if i := strings.IndexByte(msg, '\n'); i >= 0 {
		msg = msg[:i] + " …"
	}
	if msg != "" {
		return fmt.Sprintf("lfs %s: %s: %s", strings.Join(e.Args, " "), what, msg)
	}
	return fmt.Sprintf("lfs %s: %s", strings.Join(e.Args, " "), what)
}

// Errno returns the exit status as an errno: lfs exits with the errno of its first failure.
func (e *ExitError) Errno() syscall.Errno {
	if e.Code <= 0 {
		return 0
	}
	return syscall.Errno(e.Code)
}

// result is the outcome of one lfs run.
type result struct {
	stdout []byte
	stderr []byte
	err    error // nil, *ExitError, or an exec/context error
}

// maxStderr bounds how much stderr we keep; lfs can be verbose on a failing batch.
const maxStderr = 1 << 20

// run executes lfs with args, collecting stdout (all of it) and stderr (bounded).
//
// The child writes both into in-memory files (memfd) that are read back once it has
// exited. Pipes would need a copying goroutine each and, measured with eight lfs calls
// at once, made every call take twice as long (see BENCHMARKS.md); lfs output is small and
// only read at the end anyway.
func (c *Client) run(ctx context.Context, stdin io.Reader, args ...string) result {
	outF, errF, err := memfiles()
	if err != nil { // no memfd (very old kernel): fall back to pipes
		var stdout bytes.Buffer
		r := c.runTo(ctx, stdin, &stdout, args...)
		r.stdout = stdout.Bytes()
		return r
	}
	defer outF.Close()
	defer errF.Close()
	cmd := c.command(ctx, args...)
	cmd.Stdin, cmd.Stdout, cmd.Stderr = stdin, outF, errF
	runErr := cmd.Run()
	stdout, err := readBack(outF, -1)
	stderr, _ := readBack(errF, maxStderr)
	if runErr == nil && err != nil {
		runErr = err
	}
	return result{stdout: stdout, stderr: stderr, err: c.exitError(runErr, args, stderr)}
}

// runTo executes lfs with args, streaming stdout to w (lfs find's output can be huge).
func (c *Client) runTo(ctx context.Context, stdin io.Reader, w io.Writer, args ...string) result {
	cmd := c.command(ctx, args...)
	cmd.Stdin = stdin
	cmd.Stdout = w
	var stderr []byte
	if errF, err := memfile("lfs-stderr"); err == nil {
		defer errF.Close()
		cmd.Stderr = errF
		runErr := cmd.Run()
		stderr, _ = readBack(errF, maxStderr)
		return result{stderr: stderr, err: c.exitError(runErr, args, stderr)}
	}
	lb := &limitedBuffer{max: maxStderr}
	cmd.Stderr = lb
	runErr := cmd.Run()
	return result{stderr: lb.Bytes(), err: c.exitError(runErr, args, lb.Bytes())}
}

// memfiles returns two in-memory files for a child's stdout and stderr.
func memfiles() (stdout, stderr *os.File, err error) {
	if stdout, err = memfile("lfs-stdout"); err != nil {
		return nil, nil, err
	}
	if stderr, err = memfile("lfs-stderr"); err != nil {
		stdout.Close()
		return nil, nil, err
	}
	return stdout, stderr, nil
}

func memfile(name string) (*os.File, error) {
	fd, err := unix.MemfdCreate(name, unix.MFD_CLOEXEC)
	if err != nil {
		return nil, err
	}
	return os.NewFile(uintptr(fd), name), nil
}

// readBack reads what a child wrote into f, at most max bytes (all if max < 0).
func readBack(f *os.File, max int64) ([]byte, error) {
	if _, err := f.Seek(0, io.SeekStart); err != nil {
		return nil, err
	}
	var r io.Reader = f
	if max >= 0 {
		r = io.LimitReader(f, max)
	}
	return io.ReadAll(r)
}

func (c *Client) command(ctx context.Context, args ...string) *exec.Cmd {
	cmd := exec.CommandContext(ctx, c.path, args...)
	// If migrator dies (even by SIGKILL), its lfs children die too, as Slurm would kill a
	// task's whole process tree: an orphaned lfs migrate must not race the rerun of the
	// same shard. lfs migrate leaves the original intact when killed. (Pdeathsig follows
	// the creating thread; the Go runtime does not end threads of goroutines that did not
	// lock them.)
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	cmd.Cancel = func() error { return cmd.Process.Signal(syscall.SIGTERM) }
	cmd.WaitDelay = c.Grace
	if len(c.env) > 0 {
		cmd.Env = append(os.Environ(), c.env...)
	}
	return cmd
}

func (c *Client) exitError(err error, args []string, stderr []byte) error {
	if err == nil {
		return nil
	}
	var xe *exec.ExitError
	if errors.As(err, &xe) {
		e := &ExitError{Args: shortArgs(args), Code: xe.ExitCode(), Stderr: string(stderr)}
		if ws, ok := xe.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
			e.Code, e.Signal = -1, ws.Signal()
		}
		return e
	}
	var ee *exec.Error
	if errors.As(err, &ee) {
		return fmt.Errorf("%w: %q: %v", ErrNoLFS, c.path, ee.Err)
	}
	if errors.Is(err, os.ErrNotExist) || errors.Is(err, syscall.EACCES) {
		return fmt.Errorf("%w: %q: %v", ErrNoLFS, c.path, err)
	}
	return fmt.Errorf("lfs %s: %w", strings.Join(shortArgs(args), " "), err)
}

// shortArgs keeps an error message readable, and on one line, when a batch passed
// hundreds of paths or names with newlines: odd arguments are Go-quoted.
func shortArgs(args []string) []string {
	n := min(len(args), 6)
	if len(args) <= 8 {
		n = len(args)
	}
	out := make([]string, 0, n+1)
	for _, a := range args[:n] {
		out = append(out, quoteOdd(a))
	}
	if n < len(args) {
		out = append(out, fmt.Sprintf("… (%d more)", len(args)-n))
	}
	return out
}

// quoteOdd Go-quotes s if it holds anything but printable UTF-8 without spaces or quotes.
func quoteOdd(s string) string {
	if !utf8.ValidString(s) || strings.ContainsFunc(s, func(r rune) bool {
		return !unicode.IsPrint(r) || unicode.IsSpace(r) || r == '"' || r == '\'' || r == '\\'
	}) {
		return strconv.Quote(s)
	}
	return s
}

type limitedBuffer struct {
	buf bytes.Buffer
	max int
}

func (b *limitedBuffer) Write(p []byte) (int, error) {
	if room := b.max - b.buf.Len(); room > 0 {
		b.buf.Write(p[:min(len(p), room)])
	}
	return len(p), nil
}

func (b *limitedBuffer) Bytes() []byte { return b.buf.Bytes() }

// FindOptions selects what lfs find matches. Only the fields migrator needs are here.
type FindOptions struct {
	OSTs     OSTList  // -O: has an object on any of these OSTs
	Type     string   // -type: "f" for regular files
	MaxDepth int      // --maxdepth; negative means unlimited
	Threads  int      // --threads (Lustre 2.17+ parallel find); 0 leaves it to lfs
	Size     []string // -size arguments, e.g. "+1M", "-10G"
	UID      string   // -uid
	GID      string   // -gid
	Pool     string   // --pool
	MTime    []string // -mtime arguments, e.g. "+30"
	// NotReleased adds "! --layout released", leaving out HSM-released files.
	NotReleased bool
}

func (o FindOptions) args() []string {
	var a []string
	if o.MaxDepth > 0 {
		a = append(a, "--maxdepth", fmt.Sprint(o.MaxDepth))
	}
	if o.Threads > 0 {
		a = append(a, "--threads", fmt.Sprint(o.Threads))
	}
	if o.Type != "" {
		a = append(a, "-type", o.Type)
	}
	if len(o.OSTs) > 0 {
		a = append(a, "-O", o.OSTs.FindArg())
	}
	for _, s := range o.Size {
		a = append(a, "-size", s)
	}
	if o.UID != "" {
		a = append(a, "-uid", o.UID)
	}
	if o.GID != "" {
		a = append(a, "-gid", o.GID)
	}
	if o.Pool != "" {
		a = append(a, "--pool", o.Pool)
	}
	for _, m := range o.MTime {
		a = append(a, "-mtime", m)
	}
	if o.NotReleased {
		a = append(a, "!", "--layout", "released")
	}
	return a
}

// Find runs "lfs find ROOT... OPTIONS -0" and calls fn for every path printed, in order.
// Paths are byte-exact (NUL-separated output). If fn returns an error, lfs is stopped and
// that error is returned. A non-zero exit of lfs is returned as *ExitError after every
// printed path has been delivered: lfs find reports unreadable directories and carries on.
func (c *Client) Find(ctx context.Context, roots []string, opts FindOptions, fn func(path string) error) error {
	if err := checkPaths(roots); err != nil {
		return err
	}
	args := append([]string{"find"}, roots...)
	args = append(args, opts.args()...)
	args = append(args, "-0")

	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	pr, pw := io.Pipe()
	done := make(chan result, 1)
	go func() {
		r := c.runTo(ctx, nil, pw, args...)
		pw.CloseWithError(io.EOF)
		done <- r
	}()

	var fnErr error
	br := bufio.NewReaderSize(pr, 256<<10)
	for {
		rec, err := br.ReadSlice(0)
		if err == bufio.ErrBufferFull {
			// A path longer than the buffer: collect it whole.
			long := append([]byte(nil), rec...)
			for err == bufio.ErrBufferFull {
				rec, err = br.ReadSlice(0)
				long = append(long, rec...)
			}
			rec = long
		}
		if err == nil {
			if fnErr = fn(string(rec[:len(rec)-1])); fnErr != nil {
				cancel()
				break
			}
			continue
		}
		if len(rec) > 0 {
			// Output ended without a NUL: lfs was killed mid-record. Drop the partial path.
			fnErr = fmt.Errorf("lfs find: output ended in the middle of a path")
		}
		break
	}
	pr.CloseWithError(errors.New("reader stopped"))
	r := <-done
	if fnErr != nil {
		return fnErr
	}
	if r.err == nil {
		return skippedDirError(r.stderr)
	}
	return r.err
}

// skippedDirError reads lfs find's stderr after a successful exit. Through 2.14,
// llapi_semantic_traverse() (liblustreapi.c) walks with a PATH_MAX+1 buffer and, at the
// first entry of a directory that does not fit ("string buffer too small"), skips the rest
// of that directory and exits 0: the walk is incomplete and must not pass for complete.
func skippedDirError(stderr []byte) error {
	const msg = "string buffer too small"
	i := bytes.Index(stderr, []byte(msg))
	if i < 0 {
		return nil
	}
	line := stderr[i:]
	if j := bytes.IndexByte(line, '\n'); j >= 0 {
		line = line[:j]
	}
	return fmt.Errorf("lfs find skipped the rest of a directory whose paths are too long for its buffer (lfs before 2.15): %q; use a 2.15+ client or --exclude that directory", line)
}

// FindAmong runs "lfs find FILE... --maxdepth 0 OPTIONS -0" over known files and reports,
// for each, whether it matched. This is the batched membership test ("which of these files
// still have an object on a source OST"). Files that vanished do not match.
//
// lfs find reports a file it cannot check on stderr, carries on with the others and exits
// with the first errno; the output alone cannot tell "no match" from "could not look".
// So after a failed run, the unmatched files that still exist are asked again on their
// own, and if lfs still fails for one of them FindAmong returns an error naming it: a
// file lfs could not read never passes as "not on the source OSTs".
func (c *Client) FindAmong(ctx context.Context, files []string, opts FindOptions) ([]bool, error) {
	if err := checkPaths(files); err != nil {
		return nil, err
	}
	matched, failed, err := c.findAmong(ctx, files, opts)
	if err != nil || failed == nil {
		return matched, err
	}
	// With -type f, a file that is no longer a regular file (a dangling symlink fails the
	// call: llapi_semantic_traverse() opens each operand, following symlinks) cannot match.
	still, failed, err := askAgain(files, func(i int) bool { return !matched[i] }, opts.Type == "f",
		func(idx []int, sub []string) (*ExitError, error) {
			m, failed, err := c.findAmong(ctx, sub, opts)
			if err == nil {
				for k, i := range idx {
					matched[i] = m[k]
				}
			}
			return failed, err
		})
	if err != nil {
		return nil, err
	}
	if len(still) > 0 {
		return nil, fmt.Errorf("lfs find could not check %q: %w", files[still[0]], failed)
	}
	return matched, nil
}

// findAmong is one FindAmong run. failed is lfs's non-zero exit, after which the unmatched
// files are unsure; err is a run that produced nothing to go by.
func (c *Client) findAmong(ctx context.Context, files []string, opts FindOptions) (matched []bool, failed *ExitError, err error) {
	opts.MaxDepth = 0
	args := append([]string{"find"}, files...)
	args = append(args, "--maxdepth", "0")
	args = append(args, opts.args()...)
	args = append(args, "-0")
	r := c.run(ctx, nil, args...)
	if err := batchRunError(r); err != nil {
		return nil, nil, err
	}
	errors.As(r.err, &failed)
	matched, err = matchNULList(r.stdout, files)
	return matched, failed, err
}

// askAgain follows a batched lfs run that exited non-zero. lfs goes on past a file it
// cannot read and says so only on stderr, so a file it gave no answer for (missing) that
// still exists (as a regular file, if regular) is not known to be anything: those are
// asked again in one run of their own, run, which gets their indices in files and records
// its answers. askAgain returns the indices of the files lfs still gave no answer for,
// with that run's failure.
func askAgain(files []string, missing func(i int) bool, regular bool, run func(idx []int, sub []string) (*ExitError, error)) (still []int, failed *ExitError, err error) {
	unsure := func(idx []int) []int {
		var out []int
		for _, i := range idx {
			if !missing(i) {
				continue
			}
			fi, err := os.Lstat(files[i])
			switch {
			case IsGone(err):
			case err == nil && regular && !fi.Mode().IsRegular():
			default:
				out = append(out, i)
			}
		}
		return out
	}
	all := make([]int, len(files))
	for i := range all {
		all[i] = i
	}
	again := unsure(all)
	if len(again) == 0 {
		return nil, nil, nil // only files that are gone failed
	}
	sub := make([]string, len(again))
	for k, i := range again {
		sub[k] = files[i]
	}
	if failed, err = run(again, sub); err != nil || failed == nil {
		return nil, nil, err
	}
	return unsure(again), failed, nil
}

// matchNULList attributes NUL-separated output records to files, which lfs printed in
// argument order (a subset of them).
func matchNULList(out []byte, files []string) ([]bool, error) {
	matched := make([]bool, len(files))
	i := 0
	for len(out) > 0 {
		end := bytes.IndexByte(out, 0)
		if end < 0 {
			return nil, fmt.Errorf("lfs find: output ends without NUL")
		}
		rec := string(out[:end])
		out = out[end+1:]
		for i < len(files) && files[i] != rec {
			i++
		}
		if i == len(files) {
			return nil, fmt.Errorf("lfs find: printed a path that was not asked for")
		}
		matched[i] = true
		i++
	}
	return matched, nil
}

// checkPaths refuses relative paths and paths with a NUL. Every path migrator hands lfs is
// absolute, which also means none can be mistaken for an option (no leading dash).
func checkPaths(paths []string) error {
	for _, p := range paths {
		if !strings.HasPrefix(p, "/") {
			return fmt.Errorf("lfs: path %q is not absolute", p)
		}
		if strings.IndexByte(p, 0) >= 0 {
			return fmt.Errorf("lfs: path %q contains NUL", p)
		}
	}
	return nil
}

// GetLayout runs "lfs getstripe -y FILE" and parses the layout. One file per call: with
// several files, lfs getstripe -y does not name each YAML block, so a file that fails
// would shift every block after it onto the wrong file.
func (c *Client) GetLayout(ctx context.Context, file string) (Layout, error) {
	if err := checkPaths([]string{file}); err != nil {
		return Layout{}, err
	}
	r := c.run(ctx, nil, "getstripe", "-y", file)
	if r.err != nil {
		return Layout{}, fileError(r, file)
	}
	l, err := ParseLayoutYAML(r.stdout)
	if err != nil {
		return Layout{}, fmt.Errorf("%s: %w", file, err)
	}
	return l, nil
}

// FileError is a failure of lfs on one file, with the errno when lfs told us.
type FileError struct {
	Path  string
	Errno syscall.Errno // 0 if unknown
	Msg   string
}

func (e *FileError) Error() string {
	if e.Errno != 0 {
		return fmt.Sprintf("%s: %s", e.Path, Strerror(e.Errno))
	}
	return fmt.Sprintf("%s: %s", e.Path, e.Msg)
}

// Unwrap lets errors.Is(err, fs.ErrNotExist) and friends work on the errno.
func (e *FileError) Unwrap() error {
	if e.Errno != 0 {
		return e.Errno
	}
	return nil
}

// fileError turns a failed single-file run into a FileError when lfs exited with an errno.
func fileError(r result, file string) error {
	var xe *ExitError
	if errors.As(r.err, &xe) && xe.Code > 0 {
		return &FileError{Path: file, Errno: xe.Errno(), Msg: strings.TrimSpace(string(r.stderr))}
	}
	return r.err
}

// FIDResult is the FID of one file, or why it could not be read.
type FIDResult struct {
	FID FID
	Err error // *FileError when lfs reported this file as failed
}

// PathToFID runs "lfs path2fid FILE..." and returns one result per file, in order.
//
// With several files lfs prints "FILE: [FID]" per success in argument order and reports
// failures only on stderr. Output is attributed by matching each expected "FILE: " prefix
// line by line, so names containing a newline are looked up one per call; anything the
// batch output cannot attribute is retried one file at a time.
func (c *Client) PathToFID(ctx context.Context, files []string) ([]FIDResult, error) {
	if err := checkPaths(files); err != nil {
		return nil, err
	}
	results := make([]FIDResult, len(files))
	err := c.batched(ctx, files, func(idx []int, batch []string) error {
		if len(batch) == 1 {
			fid, err := c.pathToFIDOne(ctx, batch[0])
			if err != nil && !isFileError(err) {
				return err
			}
			results[idx[0]] = FIDResult{FID: fid, Err: err}
			return nil
		}
		r := c.run(ctx, nil, append([]string{"path2fid"}, batch...)...)
		if err := batchRunError(r); err != nil {
			return err
		}
		fids := make([]FID, len(batch))
		found, ok := matchPrefixedLines(r.stdout, batch, func(i int, val string) bool {
			f, err := ParseFID(val)
			fids[i] = f
			return err == nil
		})
		for i := range batch {
			switch {
			case ok && found[i]:
				results[idx[i]] = FIDResult{FID: fids[i]}
			default: // unattributed or failed in the batch: ask again alone for the reason
				fid, err := c.pathToFIDOne(ctx, batch[i])
				if err != nil && !isFileError(err) {
					return err
				}
				results[idx[i]] = FIDResult{FID: fid, Err: err}
			}
		}
		return nil
	})
	return results, err
}

func (c *Client) pathToFIDOne(ctx context.Context, file string) (FID, error) {
	r := c.run(ctx, nil, "path2fid", file)
	if r.err != nil {
		return FID{}, fileError(r, file)
	}
	return ParseFID(strings.TrimSpace(string(r.stdout)))
}

func isFileError(err error) bool {
	var fe *FileError
	return errors.As(err, &fe)
}

// batchRunError returns the error of a batched run that is not about individual files:
// the binary is missing, or lfs was killed. A plain non-zero exit is per-file and not fatal.
func batchRunError(r result) error {
	if r.err == nil {
		return nil
	}
	var xe *ExitError
	if errors.As(r.err, &xe) && xe.Code > 0 {
		return nil
	}
	return r.err
}

// HSMResult is the HSM state of one file, or why it could not be read.
type HSMResult struct {
	State HSMState
	Err   error
}

// HSMStates runs "lfs hsm_state FILE..." and returns one result per file, in order.
// Attribution works as for PathToFID.
func (c *Client) HSMStates(ctx context.Context, files []string) ([]HSMResult, error) {
	if err := checkPaths(files); err != nil {
		return nil, err
	}
	results := make([]HSMResult, len(files))
	err := c.batched(ctx, files, func(idx []int, batch []string) error {
		r := c.run(ctx, nil, append([]string{"hsm_state"}, batch...)...)
		if err := batchRunError(r); err != nil {
			return err
		}
		states := make([]HSMState, len(batch))
		parse := func(i int, val string) bool {
			s, err := ParseHSMState(val)
			states[i] = s
			return err == nil
		}
		var found []bool
		ok := true
		if len(batch) == 1 {
			found = []bool{matchOneLine(r.stdout, batch[0], parse)}
		} else {
			found, ok = matchPrefixedLines(r.stdout, batch, parse)
		}
		var rest []int // not answered: asked again
		for i := range batch {
			if ok && found[i] {
				results[idx[i]] = HSMResult{State: states[i]}
				continue
			}
			if len(batch) == 1 {
				results[idx[i]] = HSMResult{Err: fileError(r, batch[i])}
				if results[idx[i]].Err == nil {
					results[idx[i]].Err = &FileError{Path: batch[i], Msg: "lfs hsm_state printed nothing for it"}
				}
				continue
			}
			if _, err := os.Lstat(batch[i]); IsGone(err) {
				results[idx[i]] = HSMResult{Err: &FileError{Path: batch[i], Errno: syscall.ENOENT}}
				continue
			}
			rest = append(rest, i)
		}
		// Before 2.16 lfs_hsm_state() (lfs.c) stops at the first file it fails on and says
		// nothing about the files after it. Unless lfs answered for a file after the first
		// unanswered one (it went on: the unanswered ones failed), that file is asked alone
		// (for its error) and the others again as one batch, not one call each.
		wentOn := len(rest) > 0 && slices.ContainsFunc(found[rest[0]+1:], func(b bool) bool { return b })
		for k := 0; k < len(rest); k++ {
			if k == 1 && !wentOn {
				sub := make([]string, 0, len(rest)-1)
				for _, i := range rest[1:] {
					sub = append(sub, batch[i])
				}
				more, err := c.HSMStates(ctx, sub)
				if err != nil {
					return err
				}
				for j, i := range rest[1:] {
					results[idx[i]] = more[j]
				}
				break
			}
			one, err := c.HSMStates(ctx, batch[rest[k]:rest[k]+1])
			if err != nil {
				return err
			}
			results[idx[rest[k]]] = one[0]
		}
		return nil
	})
	return results, err
}

// maxBatchArgBytes bounds the argv of one batched call, far below ARG_MAX.
const maxBatchArgBytes = 256 << 10

// maxBatchFiles bounds the number of files in one batched call.
const maxBatchFiles = 512

// batched splits files into calls: names with a newline alone (their output lines cannot
// be attributed in a batch), the rest in groups bounded by count and argv bytes.
// fn gets the indices into files and the names.
func (c *Client) batched(ctx context.Context, files []string, fn func(idx []int, batch []string) error) error {
	var idx []int
	var batch []string
	size := 0
	flush := func() error {
		if len(batch) == 0 {
			return nil
		}
		err := fn(idx, batch)
		idx, batch, size = nil, nil, 0
		return err
	}
	for i, f := range files {
		if err := ctx.Err(); err != nil {
			return err
		}
		if strings.IndexByte(f, '\n') >= 0 {
			if err := fn([]int{i}, []string{f}); err != nil {
				return err
			}
			continue
		}
		if len(batch) == maxBatchFiles || size+len(f)+1 > maxBatchArgBytes {
			if err := flush(); err != nil {
				return err
			}
		}
		idx = append(idx, i)
		batch = append(batch, f)
		size += len(f) + 1
	}
	return flush()
}

// matchPrefixedLines attributes "FILE: VALUE" lines to files. lfs prints them in argument
// order, skipping files that failed. parse checks and stores the value for file i.
// ok is false if any line could not be attributed, in which case nothing is trusted.
// No file in files may contain a newline.
func matchPrefixedLines(out []byte, files []string, parse func(i int, val string) bool) (found []bool, ok bool) {
	found = make([]bool, len(files))
	i := 0
	for _, line := range strings.SplitAfter(string(out), "\n") {
		if line == "" {
			continue
		}
		if !strings.HasSuffix(line, "\n") {
			return found, false // truncated output
		}
		line = line[:len(line)-1]
		for ; i < len(files); i++ {
			prefix := files[i] + ": "
			if strings.HasPrefix(line, prefix) && parse(i, line[len(prefix):]) {
				break
			}
		}
		if i == len(files) {
			return found, false
		}
		found[i] = true
		i++
	}
	return found, true
}

// matchOneLine attributes the output of a single-file call, "FILE: VALUE\n", where FILE may
// contain newlines.
func matchOneLine(out []byte, file string, parse func(i int, val string) bool) bool {
	val, ok := strings.CutPrefix(string(out), file+": ")
	if !ok || !strings.HasSuffix(val, "\n") {
		return false
	}
	return parse(0, val[:len(val)-1])
}
