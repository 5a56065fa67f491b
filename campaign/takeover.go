package campaign

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"migrator/durable"
	"migrator/lfs"
)

// TakeoverFile is, in a retry round's directory, which failures the round took over from
// the rounds before it (written before the round's manifest index, so a round that exists
// always has it; a round without it took the retryable ones).
const TakeoverFile = "takeover.json"

// Takeover says which entries of earlier rounds a retry round took over: every pending
// (and would-migrate) entry of the round just before it, and the failures, of any earlier
// round not already taken over, that Failed selects.
type Takeover struct {
	// Failed is "retryable", "all", or a comma-separated list of those and failure classes
	// (other, retry-later, vanished, no-space, permission, io).
	Failed string `json:"failed"`
}

// DefaultFailed is what retry takes by default.
const DefaultFailed = "retryable"

// ParseFailed checks a --failed value and returns its Takeover, canonical (sorted terms).
func ParseFailed(s string) (Takeover, error) {
	var terms []string
	for t := range strings.SplitSeq(s, ",") {
		t = strings.TrimSpace(t)
		if _, ok := lfs.ParseClass(t); !ok && t != "retryable" && t != "all" {
			var names []string
			for c := lfs.ClassOther; c <= lfs.LastClass; c++ {
				names = append(names, c.String())
			}
			return Takeover{}, fmt.Errorf("--failed %q: want retryable, all, or classes among %s, comma-separated", s, strings.Join(names, ", "))
		}
		terms = append(terms, t)
	}
	slices.Sort(terms)
	return Takeover{Failed: strings.Join(slices.Compact(terms), ",")}, nil
}

// Takes reports whether a failure of class c (retryable or not) is taken.
func (t Takeover) Takes(c lfs.Class, retryable bool) bool {
	f := t.Failed
	if f == "" {
		f = DefaultFailed
	}
	for term := range strings.SplitSeq(f, ",") {
		switch {
		case term == "all", term == "retryable" && retryable, term == c.String():
			return true
		}
	}
	return false
}

// SaveTakeover records what round r takes over, durably, in r's directory (a round being
// built aside, before it is published).
func SaveTakeover(r Round, t Takeover) error {
	data, err := json.Marshal(t)
	if err != nil {
		return err
	}
	return durable.WriteFile(filepath.Join(r.Base, TakeoverFile), append(data, '\n'), 0o600)
}

// LoadTakeover reads what round n (> 0) took over; a round without the file took the
// retryable failures.
func (d Dir) LoadTakeover(n int) (Takeover, error) {
	data, err := os.ReadFile(filepath.Join(d.Round(n).Base, TakeoverFile))
	if errors.Is(err, os.ErrNotExist) {
		return Takeover{Failed: DefaultFailed}, nil
	}
	if err != nil {
		return Takeover{}, err
	}
	var t Takeover
	if err := json.Unmarshal(data, &t); err != nil {
		return Takeover{}, fmt.Errorf("%s: %w", filepath.Join(d.Round(n).Base, TakeoverFile), err)
	}
	if _, err := ParseFailed(t.Failed); err != nil {
		return Takeover{}, fmt.Errorf("%s: %w", filepath.Join(d.Round(n).Base, TakeoverFile), err)
	}
	return t, nil
}
