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

// MaxListIndex is the largest index "lfs find -O" reads as an index: setup_indexes()
// (liblustreapi_pfind.c) takes a number only below LOV_V1_INSANE_STRIPE_COUNT, which is
// 0xffdf since 2.17 (65532 before); anything else is looked up as a target name.
const MaxListIndex = 0xffdf - 1

// OSTList is a set of OST indices, kept sorted and without duplicates.
//
// Its String form is the canonical decimal list with ranges ("1,3-5,10"), which is the only
// form migrator ever passes to lfs (lfs find reads "N-M" ranges from 2.17 on, so OSTList is
// expanded for older clients where it matters; see LUSTRE.md).
type OSTList []uint32

// ParseOSTList reads an OST list the way "lfs find --ost" reads one, refusing what lfs
// would read differently or not at all. lfs_find() (lfs.c) splits the list at commas and
// takes each item as a decimal range "N-M" (2.17+, regex ^([0-9]+)-([0-9]+)$), else
// setup_indexes() (liblustreapi_pfind.c) takes it as a number (strtol base 0: "0x1a" is
// hex) or, failing that, as a target name compared with llapi_uuid_match(): the exact name
// of one of the filesystem's targets, "_UUID" optional ("fs1-OST000a", "fs1-OST000a_UUID").
//
// Refused, with a message: a decimal index with a leading zero ("010", which strtol reads as
// octal 8), a range of names ("fs1-OST000a-fs1-OST000d", which lfs looks up as one name and
// rejects), a range with hex ends, and a target name whose index is not four lowercase hex
// digits (no target is named so). Spaces around items are the one liberty taken. Which
// filesystem a name belongs to is checked against "lfs df" by CheckOSTNames.
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

// OSTListNames returns the target names an OST list names (without "_UUID"), in order; an
// unparseable list has none.
func OSTListNames(s string) []string {
	var names []string
	for _, item := range strings.Split(s, ",") {
		item = strings.TrimSpace(item)
		if _, ok, err := parseOSTName(item); ok && err == nil {
			names = append(names, strings.TrimSuffix(item, "_UUID"))
		}
	}
	return names
}

// CheckOSTNames checks that every target name in the OST list s is the name of one of
// targets (from "lfs df"), as llapi_uuid_match() (liblustreapi.c) requires: "fs2-OST000a"
// on filesystem fs1 is no OST of fs1, and lfs find would fail on it with EINVAL.
func CheckOSTNames(s string, targets []TargetSpace) error {
	for _, name := range OSTListNames(s) {
		if len(targets) == 0 {
			return fmt.Errorf("cannot check OST name %s: lfs df listed no OSTs", name)
		}
		if !slices.ContainsFunc(targets, func(t TargetSpace) bool { return strings.TrimSuffix(t.UUID, "_UUID") == name }) {
			fs := "?"
			if len(targets) > 0 {
				fs = FSName(targets[0].UUID)
			}
			return fmt.Errorf("OST %s is not a target of this filesystem (%s; lfs df lists %s … %s)",
				name, fs, strings.TrimSuffix(targets[0].UUID, "_UUID"), strings.TrimSuffix(targets[len(targets)-1].UUID, "_UUID"))
		}
	}
	return nil
}

// FSName returns the filesystem name of a target name or UUID ("fs1" for "fs1-OST000a_UUID").
func FSName(uuid string) string {
	if i := strings.LastIndex(uuid, "-OST"); i > 0 {
		return uuid[:i]
	}
	return ""
}

func parseOSTItem(item string) (lo, hi uint32, err error) {
	if idx, ok, err := parseOSTName(item); ok || err != nil {
		return idx, idx, err
	}
	// A range: lfs_find() (2.17+) takes only "^([0-9]+)-([0-9]+)$", both ends decimal.
	if a, b, found := strings.Cut(item, "-"); found {
		if !isDecimal(a) || !isDecimal(b) {
			return 0, 0, fmt.Errorf("range %q: lfs find reads only decimal ranges such as 10-13 (target names cannot form a range)", item)
		}
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

func isDecimal(s string) bool { return s != "" && strings.Trim(s, "0123456789") == "" }

// parseOSTName recognises "FSNAME-OSTxxxx" and "FSNAME-OSTxxxx_UUID", xxxx being the index
// as Lustre names targets (four lowercase hex digits, "%s-OST%04x"). ok is false when item
// is not a target name at all.
func parseOSTName(item string) (idx uint32, ok bool, err error) {
	name := strings.TrimSuffix(item, "_UUID")
	i := strings.Index(name, "-OST")
	if i < 0 {
		return 0, false, nil
	}
	if i == 0 {
		return 0, true, fmt.Errorf("target name %q has no filesystem name", item)
	}
	if j := strings.LastIndex(name, "-OST"); j != i || strings.Contains(name[i+1:], "-") {
		return 0, true, fmt.Errorf("%q is not one target name: lfs reads no ranges of names; give indices (10-13) or list the names", item)
	}
	hex := name[i+len("-OST"):]
	if len(hex) != 4 || strings.ToLower(hex) != hex {
		return 0, true, fmt.Errorf("target name %q: the index after OST must be 4 lowercase hex digits, as lfs df prints it", item)
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
	if v > MaxListIndex {
		return 0, fmt.Errorf("OST index %d is above %d, the largest lfs find reads as an index", v, MaxListIndex)
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

// FindArg returns the list as "lfs find -O" reads it on every client: decimal indices
// separated by commas, no ranges. lfs_find() (lfs.c) reads "N-M" ranges only from 2.17
// (LU-16622); before, setup_indexes() looks "2-3" up as a target name and lfs find fails
// with EINVAL.
func (l OSTList) FindArg() string {
	var b strings.Builder
	for i, idx := range l {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteString(strconv.FormatUint(uint64(idx), 10))
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
