package lfs

import (
	"fmt"
	"slices"
	"strconv"
	"strings"
)

// MaxOSTIndex is the largest OST index Lustre can address (LOV_V1_INSANE_STRIPE_COUNT - 1 is
// lower still, but indices above it are refused by every lfs command anyway).
const MaxOSTIndex = 65535

// OSTList is a set of OST indices, kept sorted and without duplicates.
//
// Its String form is the canonical decimal list with ranges ("1,3-5,10"), which every lfs
// command accepts unambiguously; that is the only form migrator ever passes to lfs.
type OSTList []uint32

// ParseOSTList reads an OST list in any of the forms Lustre admins write:
// single indices ("7"), ranges ("10-20"), comma-separated mixes ("1,3-5"), hexadecimal
// ("0x1a"), and target names with or without the UUID suffix ("fs1-OST000a",
// "fs1-OST000a_UUID"; the index in a name is hexadecimal, as Lustre prints it).
//
// A decimal index with a leading zero ("010") is refused: lfs reads it with strtol base 0,
// that is as octal 8, which is almost never what the admin meant.
func ParseOSTList(s string) (OSTList, error) {
	if strings.TrimSpace(s) == "" {
		return nil, fmt.Errorf("empty OST list")
	}
	var list OSTList
	for _, item := range strings.Split(s, ",") {
		item = strings.TrimSpace(item)
		if item == "" {
			return nil, fmt.Errorf("OST list %q: empty item", s)
		}
		lo, hi, err := parseOSTItem(item)
		if err != nil {
			return nil, fmt.Errorf("OST list %q: %w", s, err)
		}
		for i := lo; i <= hi; i++ {
			list = append(list, i)
		}
	}
	slices.Sort(list)
	return slices.Compact(list), nil
}

// MustParseOSTList is ParseOSTList for constants in tests and examples; it panics on error.
func MustParseOSTList(s string) OSTList {
	l, err := ParseOSTList(s)
	if err != nil {
		panic(err)
	}
	return l
}

func parseOSTItem(item string) (lo, hi uint32, err error) {
	if idx, ok, err := parseOSTName(item); ok || err != nil {
		return idx, idx, err
	}
	// A range: both ends are indices. lfs itself only accepts decimal ranges; we also
	// accept hex ends, since we pass lfs the expanded canonical list.
	if a, b, found := strings.Cut(item, "-"); found {
		lo, err := parseOSTIndex(a)
		if err != nil {
			return 0, 0, err
		}
		hi, err := parseOSTIndex(b)
		if err != nil {
			return 0, 0, err
		}
		if hi < lo {
			return 0, 0, fmt.Errorf("range %q runs backwards", item)
		}
		return lo, hi, nil
	}
	idx, err := parseOSTIndex(item)
	return idx, idx, err
}

// parseOSTName recognises "FSNAME-OSTxxxx" and "FSNAME-OSTxxxx_UUID". ok is false when item
// is not a target name at all.
func parseOSTName(item string) (idx uint32, ok bool, err error) {
	name := strings.TrimSuffix(item, "_UUID")
	i := strings.LastIndex(name, "-OST")
	if i < 0 {
		return 0, false, nil
	}
	if i == 0 {
		return 0, true, fmt.Errorf("target name %q has no filesystem name", item)
	}
	hex := name[i+len("-OST"):]
	if len(hex) == 0 || len(hex) > 4 {
		return 0, true, fmt.Errorf("target name %q: the index after OST must be 1 to 4 hex digits", item)
	}
	v, err := strconv.ParseUint(hex, 16, 32)
	if err != nil {
		return 0, true, fmt.Errorf("target name %q: %q is not a hex index", item, hex)
	}
	return uint32(v), true, nil
}

func parseOSTIndex(s string) (uint32, error) {
	var v uint64
	var err error
	switch {
	case strings.HasPrefix(s, "0x") || strings.HasPrefix(s, "0X"):
		v, err = strconv.ParseUint(s[2:], 16, 32)
	case len(s) > 1 && s[0] == '0':
		dec := strings.TrimLeft(s, "0")
		if dec == "" {
			dec = "0"
		}
		if oct, err := strconv.ParseUint(s, 8, 32); err == nil {
			return 0, fmt.Errorf("index %q is ambiguous: lfs reads a leading zero as octal (%d); write %s for decimal or 0x%x for hex", s, oct, dec, oct)
		}
		return 0, fmt.Errorf("index %q is ambiguous: lfs reads a leading zero as octal; write %s for decimal", s, dec)
	default:
		v, err = strconv.ParseUint(s, 10, 32)
	}
	if err != nil {
		return 0, fmt.Errorf("%q is not an OST index", s)
	}
	if v > MaxOSTIndex {
		return 0, fmt.Errorf("OST index %d is above the maximum %d", v, MaxOSTIndex)
	}
	return uint32(v), nil
}

// Contains reports whether idx is in the list.
func (l OSTList) Contains(idx uint32) bool {
	_, found := slices.BinarySearch(l, idx)
	return found
}

// ContainsAny reports whether any of idxs is in the list.
func (l OSTList) ContainsAny(idxs []uint32) bool {
	for _, i := range idxs {
		if l.Contains(i) {
			return true
		}
	}
	return false
}

// String returns the canonical form: ascending decimal indices, runs of three or more
// written as ranges ("0,2-5,9").
func (l OSTList) String() string {
	var b strings.Builder
	for i := 0; i < len(l); {
		j := i
		for j+1 < len(l) && l[j+1] == l[j]+1 {
			j++
		}
		if b.Len() > 0 {
			b.WriteByte(',')
		}
		switch {
		case j == i:
			fmt.Fprintf(&b, "%d", l[i])
		case j == i+1:
			fmt.Fprintf(&b, "%d,%d", l[i], l[j])
		default:
			fmt.Fprintf(&b, "%d-%d", l[i], l[j])
		}
		i = j + 1
	}
	return b.String()
}

// Names returns the target names ("fs1-OST000a") for each index, as Lustre prints them.
func (l OSTList) Names(fsname string) []string {
	names := make([]string, len(l))
	for i, idx := range l {
		names[i] = OSTName(fsname, idx)
	}
	return names
}

// OSTName returns the target name of OST idx in filesystem fsname, e.g. "fs1-OST000a".
func OSTName(fsname string, idx uint32) string {
	return fmt.Sprintf("%s-OST%04x", fsname, idx)
}
