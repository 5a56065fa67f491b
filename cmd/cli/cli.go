// Package cli is what migrator's subcommands share: the process environment they run in,
// the flag types admins type (sizes, OST lists), and the one table of exit codes.
package cli

import (
	"errors"
	"fmt"
	"io"
	"regexp"
	"strconv"
	"strings"

	"github.com/alecthomas/kong"

	"migrator/campaign"
	"migrator/checkpoint"
	"migrator/fidindex"
	"migrator/lfs"
	"migrator/manifest"
	"migrator/planner"
	"migrator/trust"
)

// Env is the process environment, bound into every subcommand's Run instead of globals,
// so commands can be driven from tests.
type Env struct {
	Stdin  io.Reader
	Stdout io.Writer // machine output (JSON, scripts) and the human report
	Stderr io.Writer // progress, warnings and errors
	Getenv func(string) string
	// Exe is the migrator binary itself, which job scripts and the local scheduler run.
	Exe     string
	Version string
}

// Exit codes. They are the same for every subcommand and documented in the README.
const (
	ExitOK          = 0 // done: everything asked for is done
	ExitFailure     = 1 // an unexpected error (I/O, Slurm, lfs itself)
	ExitUsage       = 2 // bad input: flags, campaign, shard, lfs binary; nothing was changed
	ExitIncomplete  = 3 // the run finished but some files failed or remain (see the report)
	ExitStopped     = 4 // stopped early to protect the filesystem: no space, or a streak of identical errors
	ExitInterrupted = 5 // stopped by a signal (scancel, time limit); the checkpoint is flushed, rerun to continue
	ExitLocked      = 6 // another process holds a lock the command needs (a shard's, the campaign's)
)

type codeError struct {
	code int
	err  error
}

func (e *codeError) Error() string { return e.err.Error() }
func (e *codeError) Unwrap() error { return e.err }

// WithCode marks err to make the process exit with code. A nil err stays nil.
func WithCode(code int, err error) error {
	if err == nil {
		return nil
	}
	return &codeError{code: code, err: err}
}

// BadInput marks err as bad input (exit code 2).
func BadInput(err error) error { return WithCode(ExitUsage, err) }

// BadInputf is BadInput(fmt.Errorf(...)).
func BadInputf(format string, args ...any) error { return BadInput(fmt.Errorf(format, args...)) }

// ErrNotImplemented is returned by subcommands that only validate their flags so far.
var ErrNotImplemented = BadInput(errors.New("not implemented yet"))

// OneLine is err's message on the one line the README promises.
func OneLine(err error) string {
	return strings.ReplaceAll(strings.TrimSpace(err.Error()), "\n", " ")
}

// ExitCode maps an error to the process exit code: the code it was marked with, 2 for
// command-line parse errors, 1 otherwise.
func ExitCode(err error) int {
	if err == nil {
		return ExitOK
	}
	var ce *codeError
	if errors.As(err, &ce) {
		return ce.code
	}
	var pe *kong.ParseError
	if errors.As(err, &pe) {
		return ExitUsage
	}
	var ec interface{ ExitCode() int }
	if errors.As(err, &ec) {
		return ec.ExitCode()
	}
	if errors.Is(err, checkpoint.ErrLocked) { // a shard's, the campaign's: another process holds it
		return ExitLocked
	}
	if errors.Is(err, lfs.ErrNoLFS) || errors.Is(err, planner.ErrBadInput) { // what the admin asked for
		return ExitUsage
	}
	// A damaged record (campaign.json, submissions.jsonl, an index, a shard or a log) is
	// bad input: nothing was changed, and the message names the file.
	if errors.Is(err, campaign.ErrDamaged) || errors.Is(err, manifest.ErrCorrupt) || errors.Is(err, checkpoint.ErrCorrupt) ||
		errors.Is(err, fidindex.ErrCorrupt) {
		return ExitUsage
	}
	if errors.Is(err, trust.ErrUntrusted) { // a path someone else could have written
		return ExitUsage
	}
	return ExitFailure
}

// Size is a byte count given as a number with an optional binary suffix, as lfs reads
// sizes: 4096, 64k, 4M, 1.5G, 2T; also with a B, as people write them: 100MB, 100MiB,
// 4kB, 512B. Every suffix is a power of 1024 (lfs's own convention: 1M is 1048576).
type Size uint64

// Decode implements kong.MapperValue.
func (s *Size) Decode(ctx *kong.DecodeContext) error {
	var text string
	if err := ctx.Scan.PopValueInto("size", &text); err != nil {
		return err
	}
	v, err := ParseSize(text)
	if err != nil {
		return err
	}
	*s = Size(v)
	return nil
}

// sizeRE is a size: a decimal number, then an optional unit (k, M, G, T, P, E, either
// case), optional i, optional B; blanks allowed between number and unit.
var sizeRE = regexp.MustCompile(`^([0-9]+(?:\.[0-9]*)?|\.[0-9]+)\s*(?:([kKmMgGtTpPeE])(?:[iI]?[bB])?|[bB])?$`)

// ParseSize reads a Size.
func ParseSize(text string) (uint64, error) {
	m := sizeRE.FindStringSubmatch(strings.TrimSpace(text))
	bad := fmt.Errorf("size %q: want a number with an optional unit: 4096, 64k, 4M, 100MB, 1.5GiB, 2T (powers of 1024)", text)
	if m == nil {
		return 0, bad
	}
	f, err := strconv.ParseFloat(m[1], 64)
	if err != nil {
		return 0, bad
	}
	shift := map[string]uint{"": 0, "K": 10, "M": 20, "G": 30, "T": 40, "P": 50, "E": 60}[strings.ToUpper(m[2])]
	v := f * float64(uint64(1)<<shift)
	if v > 1<<63 { // beyond what lfs find -size and int64 byte counts can hold
		return 0, fmt.Errorf("size %q: too large", text)
	}
	return uint64(v), nil
}

// OSTs is an OST list flag in any form lfs.ParseOSTList accepts.
type OSTs struct {
	lfs.OSTList
	Given string // as written, for lfs.CheckOSTNames once lfs df is known
}

// Decode implements kong.MapperValue.
func (o *OSTs) Decode(ctx *kong.DecodeContext) error {
	var text string
	if err := ctx.Scan.PopValueInto("ost-list", &text); err != nil {
		return err
	}
	l, err := lfs.ParseOSTList(text)
	if err != nil {
		return err
	}
	o.OSTList, o.Given = l, text
	return nil
}
