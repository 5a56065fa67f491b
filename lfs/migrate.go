package lfs

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"syscall"
)

// MigrateOptions is the target layout and mode of "lfs migrate".
type MigrateOptions struct {
	StripeCount int     // -c; 0 leaves it to lfs, -1 means all OSTs
	StripeSize  uint64  // -S in bytes; 0 leaves it to lfs
	Pool        string  // -p: target pool
	OSTs        OSTList // -o: exact target OSTs (stripe i on the i-th OST)
	Block       bool    // -b: group lock, blocks other access; otherwise -n (non-block)
	// BandwidthMB limits the copy with -W, in MiB/s; 0 means unlimited.
	BandwidthMB int
}

// ExplicitLayout reports whether the options name a target layout. Without one, lfs
// migrate copies the file's current layout (Lustre 2.16+ resets the OST indices so the MDS
// chooses again; older clients may put the objects right back on the same OSTs), and with
// several files a vanished one aborts the rest of the batch.
func (o MigrateOptions) ExplicitLayout() bool {
	return o.StripeCount != 0 || o.StripeSize != 0 || o.Pool != "" || len(o.OSTs) > 0
}

// Args returns the lfs migrate options, without the files.
func (o MigrateOptions) Args() []string {
	var a []string
	if o.Block {
		a = append(a, "-b")
	} else {
		a = append(a, "-n")
	}
	if o.StripeCount != 0 {
		a = append(a, "-c", strconv.Itoa(o.StripeCount))
	}
	if o.StripeSize != 0 {
		a = append(a, "-S", strconv.FormatUint(o.StripeSize, 10))
	}
	if o.Pool != "" {
		a = append(a, "-p", o.Pool)
	}
	if len(o.OSTs) > 0 {
		a = append(a, "-o", o.OSTs.String())
	}
	if o.BandwidthMB > 0 {
		a = append(a, "-W", strconv.Itoa(o.BandwidthMB))
	}
	return a
}

// MigrateStatus is what lfs said about one file of a migrate call.
type MigrateStatus uint8

// The statuses of one file after a migrate call.
const (
	// MigrateUnknown: lfs said nothing we could attribute to the file (a batch was aborted,
	// or output was ambiguous). The caller must check the file itself before deciding.
	MigrateUnknown MigrateStatus = iota
	MigrateOK                    // lfs reported success
	MigrateFailed                // lfs reported a failure (Errno, Reason)
)

// MigrateResult is the outcome lfs reported for one file.
type MigrateResult struct {
	Status MigrateStatus
	Errno  syscall.Errno // for MigrateFailed; 0 if lfs printed an errno text we do not know
	Reason string        // lfs's reason, e.g. "cannot get lease"; or the whole message
}

// Class is the failure class of a MigrateFailed result.
func (r MigrateResult) Class() Class { return Classify(r.Errno) }

// ErrBatchNeedsLayout is returned when Migrate is asked for several files without an
// explicit target layout.
var ErrBatchNeedsLayout = errors.New("lfs migrate: several files per call need an explicit target layout")

// Migrate runs "lfs migrate -v OPTIONS FILE..." and returns one result per file.
//
// Per-file failures are not errors: they are results (MigrateFailed). The error is non-nil
// only when the call as a whole failed: lfs is missing, or it was killed (for instance
// because ctx was cancelled), in which case the results say what was known before.
//
// With one file the exit status is the file's errno. With several, lfs exits with only the
// first failure's errno, prints "error: lfs migrate: FILE: REASON: STRERROR" per failure on
// stderr and, with -v, "FILE" per success on stdout; each file is attributed by exact match
// in argument order. Names containing a newline cannot be attributed and must be migrated
// one per call; Migrate refuses them in a batch.
func (c *Client) Migrate(ctx context.Context, opts MigrateOptions, files []string) ([]MigrateResult, error) {
	if err := checkPaths(files); err != nil {
		return nil, err
	}
	if len(files) > 1 {
		if !opts.ExplicitLayout() {
			return nil, ErrBatchNeedsLayout
		}
		for _, f := range files {
			if strings.IndexByte(f, '\n') >= 0 {
				return nil, fmt.Errorf("lfs migrate: %q contains a newline and must be migrated alone", f)
			}
		}
	}
	// -v names the successes, which only a batch needs.
	args := []string{"migrate"}
	if len(files) > 1 {
		args = append(args, "-v")
	}
	args = append(args, opts.Args()...)
	args = append(args, files...)
	r := c.run(ctx, nil, args...)

	results := make([]MigrateResult, len(files))
	var xe *ExitError
	exitErr := errors.As(r.err, &xe)
	if r.err != nil && (!exitErr || xe.Code < 0) {
		// Missing binary, or killed (interrupted): nothing is known for sure.
		return results, r.err
	}
	if len(files) == 1 {
		results[0] = singleMigrateResult(r, files[0])
		return results, nil
	}
	attributeMigrate(results, files, string(r.stdout), string(r.stderr))
	return results, nil
}

func singleMigrateResult(r result, file string) MigrateResult {
	if r.err == nil {
		return MigrateResult{Status: MigrateOK}
	}
	var xe *ExitError
	errors.As(r.err, &xe)
	res := MigrateResult{Status: MigrateFailed, Errno: xe.Errno()}
	for _, line := range strings.Split(string(r.stderr), "\n") {
		if rest, ok := cutMigrateError(line); ok {
			if tail, ok := strings.CutPrefix(rest, file+": "); ok {
				res.Reason, _ = splitReason(tail)
				return res
			}
		}
	}
	res.Reason = strings.TrimSpace(string(r.stderr))
	return res
}

// attributeMigrate fills results from a batch's output. Successes (stdout, -v) and failures
// (stderr) each come in argument order; a file named in both, or in neither, stays Unknown.
func attributeMigrate(results []MigrateResult, files []string, stdout, stderr string) {
	ok := make([]bool, len(files))
	i := 0
	for _, line := range strings.Split(stdout, "\n") {
		if line == "" {
			continue
		}
		for j := i; j < len(files); j++ {
			if files[j] == line {
				ok[j] = true
				i = j + 1
				break
			}
		}
	}
	failed := make([]bool, len(files))
	i = 0
	for _, line := range strings.Split(stderr, "\n") {
		rest, isErr := cutMigrateError(line)
		if !isErr {
			continue
		}
		for j := i; j < len(files); j++ {
			tail, match := strings.CutPrefix(rest, files[j]+": ")
			if !match {
				continue
			}
			reason, errno := splitReason(tail)
			failed[j] = true
			results[j] = MigrateResult{Status: MigrateFailed, Errno: errno, Reason: reason}
			i = j + 1
			break
		}
	}
	for j := range files {
		switch {
		case ok[j] && failed[j]:
			results[j] = MigrateResult{Status: MigrateUnknown}
		case ok[j]:
			results[j] = MigrateResult{Status: MigrateOK}
		}
	}
}

// cutMigrateError recognises "error: lfs migrate: REST". The program name is whatever the
// binary is called ("lfs", or a simulator's name), so only " migrate: " is required.
func cutMigrateError(line string) (rest string, ok bool) {
	after, ok := strings.CutPrefix(line, "error: ")
	if !ok {
		return "", false
	}
	_, rest, ok = strings.Cut(after, " migrate: ")
	return rest, ok
}

// splitReason splits "REASON: STRERROR" and maps STRERROR to its errno.
func splitReason(tail string) (reason string, errno syscall.Errno) {
	i := strings.LastIndex(tail, ": ")
	if i < 0 {
		return tail, 0
	}
	if e, ok := ErrnoFromText(tail[i+2:]); ok {
		return tail[:i], e
	}
	return tail, 0
}
