package lfs

import (
	"fmt"
	"strconv"
	"strings"
)

// HSM state flags, as in Lustre's enum hsm_states.
const (
	HSExists    = 0x01
	HSDirty     = 0x02
	HSReleased  = 0x04
	HSArchived  = 0x08
	HSNoRelease = 0x10
	HSNoArchive = 0x20
	HSLost      = 0x40
)

// HSMState is a file's HSM state as "lfs hsm_state" reports it.
type HSMState struct {
	Flags     uint32
	ArchiveID uint32
}

// Released reports whether the file's data is only in the archive. Such a file must not be
// migrated: lfs migrate would first restore it from tape.
func (s HSMState) Released() bool { return s.Flags&HSReleased != 0 }

var hsmFlagNames = []struct {
	flag uint32
	name string
}{
	{HSReleased, "released"}, {HSExists, "exists"}, {HSDirty, "dirty"}, {HSArchived, "archived"},
	{HSNoRelease, "never_release"}, {HSNoArchive, "never_archive"}, {HSLost, "lost_from_hsm"},
}

// String formats the state as lfs hsm_state prints it after "FILE: ".
func (s HSMState) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "(0x%08x)", s.Flags)
	for _, f := range hsmFlagNames {
		if s.Flags&f.flag != 0 {
			b.WriteString(" " + f.name)
		}
	}
	if s.ArchiveID != 0 {
		fmt.Fprintf(&b, ", archive_id:%d", s.ArchiveID)
	}
	return b.String()
}

// ParseHSMState parses what lfs hsm_state prints after "FILE: ", e.g.
// "(0x0000000d) released exists archived, archive_id:1". The hex flags are authoritative;
// the words are only checked to be known.
func ParseHSMState(s string) (HSMState, error) {
	s = strings.TrimSpace(s)
	if !strings.HasPrefix(s, "(") {
		return HSMState{}, fmt.Errorf("hsm_state %q: want (0xFLAGS)", s)
	}
	end := strings.IndexByte(s, ')')
	if end < 0 {
		return HSMState{}, fmt.Errorf("hsm_state %q: missing )", s)
	}
	flags, err := strconv.ParseUint(s[1:end], 0, 32)
	if err != nil {
		return HSMState{}, fmt.Errorf("hsm_state %q: bad flags", s)
	}
	st := HSMState{Flags: uint32(flags)}
	rest := s[end+1:]
	if words, id, ok := strings.Cut(rest, ", archive_id:"); ok {
		v, err := strconv.ParseUint(strings.TrimSpace(id), 10, 32)
		if err != nil {
			return HSMState{}, fmt.Errorf("hsm_state %q: bad archive_id", s)
		}
		st.ArchiveID = uint32(v)
		rest = words
	}
	for _, w := range strings.Fields(rest) {
		known := false
		for _, f := range hsmFlagNames {
			known = known || f.name == w
		}
		if !known {
			return HSMState{}, fmt.Errorf("hsm_state %q: unknown flag %q", s, w)
		}
	}
	return st, nil
}
