// Package checkpoint is the append-only log in which a work task records the outcome of
// every manifest entry of its shard, and the lock that makes one task its only writer.
// FORMAT.md describes the bytes.
package checkpoint

import (
	"encoding/binary"
	"errors"
	"fmt"
	"syscall"
	"time"

	"migrator/lfs"
)

// Outcome is what happened to a manifest entry.
type Outcome uint8

// Outcomes. An entry with any outcome record is done for this round.
const (
	Migrated     Outcome = 1
	Skipped      Outcome = 2 // with a SkipReason
	Failed       Outcome = 3 // with a Class, errno and message
	WouldMigrate Outcome = 4 // dry run: every check passed, nothing was changed
)

var outcomeNames = map[Outcome]string{Migrated: "migrated", Skipped: "skipped", Failed: "failed", WouldMigrate: "would-migrate"}

func (o Outcome) String() string {
	if n, ok := outcomeNames[o]; ok {
		return n
	}
	return fmt.Sprintf("outcome-%d", uint8(o))
}

// SkipReason says why an entry was not migrated although nothing failed.
type SkipReason uint8

// Skip reasons.
const (
	SkipGone         SkipReason = 1 // the path no longer exists
	SkipNotRegular   SkipReason = 2 // it is now a symlink, directory, FIFO, socket or device
	SkipFIDChanged   SkipReason = 3 // another file took the name
	SkipOffSource    SkipReason = 4 // no object on a source OST any more (moved by someone, or by an earlier run)
	SkipReleased     SkipReason = 5 // HSM-released: migrating would restore it from the archive
	SkipExcluded     SkipReason = 6 // under an exclude
	SkipHardLinkDone SkipReason = 7 // another name of the same inode was migrated
	// SkipMovedOut: found by its FID outside the scan paths or under an exclude. Record.OnSource
	// says whether it still had an object on a source OST (then it counts as left there).
	SkipMovedOut  SkipReason = 8
	maxSkipReason            = SkipMovedOut
)

var reasonNames = map[SkipReason]string{
	SkipGone: "gone", SkipNotRegular: "not-regular", SkipFIDChanged: "fid-changed",
	SkipOffSource: "off-source", SkipReleased: "hsm-released", SkipExcluded: "excluded",
	SkipHardLinkDone: "hardlink-done", SkipMovedOut: "moved-out",
}

func (r SkipReason) String() string {
	if n, ok := reasonNames[r]; ok {
		return n
	}
	return fmt.Sprintf("reason-%d", uint8(r))
}

// SkipReasons lists every reason, in order, for reports.
func SkipReasons() []SkipReason {
	var rs []SkipReason
	for r := SkipReason(1); r <= maxSkipReason; r++ {
		rs = append(rs, r)
	}
	return rs
}

// Record is the outcome of one manifest entry (record kind 1).
type Record struct {
	Index     uint64
	Outcome   Outcome
	Reason    SkipReason    // Skipped only
	Class     lfs.Class     // Failed only
	Errno     syscall.Errno // Failed only
	Retryable bool
	// OnSource is set on a moved-out skip whose file still had an object on a source OST.
	OnSource bool
	Attempts uint32
	Bytes    uint64
	Duration time.Duration
	Time     time.Time
	Message  string // at most MaxMessage bytes
}

// RunStart marks the start of a work run (record kind 2).
type RunStart struct {
	Time    time.Time
	Host    string
	PID     int
	Job     string
	Task    int
	Restart int
}

// Attempt says that lfs migrate is about to run on an entry (record kind 4). It does not
// make the entry done. A rerun that finds an attempted file already off the source OSTs,
// still the same file, knows the earlier run moved it (and was stopped before recording
// so), and records it as migrated rather than as skipped.
type Attempt struct {
	Index uint64
	Time  time.Time
}

// RunStatus is how a run ended.
type RunStatus uint8

// Run statuses.
const (
	RunFinished    RunStatus = 0
	RunInterrupted RunStatus = 1
	RunNoSpace     RunStatus = 2
	RunErrorStreak RunStatus = 3
	RunFailed      RunStatus = 4
)

var runStatusNames = map[RunStatus]string{RunFinished: "finished", RunInterrupted: "interrupted",
	RunNoSpace: "stopped: no space", RunErrorStreak: "stopped: error streak", RunFailed: "failed"}

func (s RunStatus) String() string {
	if n, ok := runStatusNames[s]; ok {
		return n
	}
	return fmt.Sprintf("status-%d", uint8(s))
}

// RunEnd marks the clean end of a work run (record kind 3).
type RunEnd struct {
	Time    time.Time
	Status  RunStatus
	Message string
}

const (
	kindOutcome  = 1
	kindRunStart = 2
	kindRunEnd   = 3
	kindAttempt  = 4

	// MaxMessage bounds a record's message.
	MaxMessage = 4096
	maxRecord  = 65536
)

func truncate(s string) string {
	if len(s) > MaxMessage {
		return s[:MaxMessage]
	}
	return s
}

func appendString(b []byte, s string) []byte {
	b = binary.AppendUvarint(b, uint64(len(s)))
	return append(b, s...)
}

func boolByte(v bool) byte {
	if v {
		return 1
	}
	return 0
}

func (r *Record) appendBody(b []byte) []byte {
	b = append(b, kindOutcome)
	b = binary.AppendUvarint(b, r.Index)
	b = append(b, byte(r.Outcome), byte(r.Reason), byte(r.Class))
	b = binary.AppendUvarint(b, uint64(r.Errno))
	b = append(b, boolByte(r.Retryable)|boolByte(r.OnSource)<<1)
	b = binary.AppendUvarint(b, uint64(r.Attempts))
	b = binary.AppendUvarint(b, r.Bytes)
	b = binary.AppendUvarint(b, uint64(max(r.Duration, 0)))
	b = binary.AppendVarint(b, r.Time.UnixNano())
	return appendString(b, truncate(r.Message))
}

func (s *RunStart) appendBody(b []byte) []byte {
	b = append(b, kindRunStart)
	b = binary.AppendVarint(b, s.Time.UnixNano())
	b = appendString(b, s.Host)
	b = binary.AppendUvarint(b, uint64(s.PID))
	b = appendString(b, s.Job)
	b = binary.AppendVarint(b, int64(s.Task))
	return binary.AppendUvarint(b, uint64(s.Restart))
}

func (a *Attempt) appendBody(b []byte) []byte {
	b = append(b, kindAttempt)
	b = binary.AppendUvarint(b, a.Index)
	return binary.AppendVarint(b, a.Time.UnixNano())
}

func decodeAttempt(body []byte, a *Attempt) error {
	r := reader{b: body[1:]}
	a.Index = r.uvarint()
	a.Time = time.Unix(0, r.varint())
	return r.err
}

func (e *RunEnd) appendBody(b []byte) []byte {
	b = append(b, kindRunEnd)
	b = binary.AppendVarint(b, e.Time.UnixNano())
	b = append(b, byte(e.Status))
	return appendString(b, truncate(e.Message))
}

// reader decodes fields with a sticky error.
type reader struct {
	b   []byte
	err error
}

var errShort = errors.New("record ends early")

func (r *reader) byte() byte {
	if r.err != nil || len(r.b) == 0 {
		r.err = errShort
		return 0
	}
	v := r.b[0]
	r.b = r.b[1:]
	return v
}

func (r *reader) uvarint() uint64 {
	if r.err != nil {
		return 0
	}
	v, n := binary.Uvarint(r.b)
	if n <= 0 {
		r.err = errShort
		return 0
	}
	r.b = r.b[n:]
	return v
}

func (r *reader) varint() int64 {
	if r.err != nil {
		return 0
	}
	v, n := binary.Varint(r.b)
	if n <= 0 {
		r.err = errShort
		return 0
	}
	r.b = r.b[n:]
	return v
}

func (r *reader) string() string {
	n := r.uvarint()
	if r.err != nil {
		return ""
	}
	if n > uint64(len(r.b)) {
		r.err = errShort
		return ""
	}
	s := string(r.b[:n])
	r.b = r.b[n:]
	return s
}

func decodeRecord(body []byte, rec *Record) error {
	r := reader{b: body[1:]}
	rec.Index = r.uvarint()
	rec.Outcome = Outcome(r.byte())
	rec.Reason = SkipReason(r.byte())
	rec.Class = lfs.Class(r.byte())
	rec.Errno = syscall.Errno(r.uvarint())
	flags := r.byte()
	rec.Retryable = flags&1 != 0
	rec.OnSource = flags&2 != 0
	rec.Attempts = uint32(r.uvarint())
	rec.Bytes = r.uvarint()
	rec.Duration = time.Duration(r.uvarint())
	rec.Time = time.Unix(0, r.varint())
	rec.Message = r.string()
	if r.err == nil && (rec.Outcome < Migrated || rec.Outcome > WouldMigrate) {
		return fmt.Errorf("unknown outcome %d", rec.Outcome)
	}
	return r.err
}

func decodeRunStart(body []byte, s *RunStart) error {
	r := reader{b: body[1:]}
	s.Time = time.Unix(0, r.varint())
	s.Host = r.string()
	s.PID = int(r.uvarint())
	s.Job = r.string()
	s.Task = int(r.varint())
	s.Restart = int(r.uvarint())
	return r.err
}

func decodeRunEnd(body []byte, e *RunEnd) error {
	r := reader{b: body[1:]}
	e.Time = time.Unix(0, r.varint())
	e.Status = RunStatus(r.byte())
	e.Message = r.string()
	return r.err
}
