package lfs

import (
	"bufio"
	"bytes"
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"
)

// EOF is the end offset of a component that runs to the end of the file ("EOF" in lfs output).
const EOF = math.MaxUint64

// Layout is a file's striping as lfs getstripe -y reports it. A plain (v1/v3) layout is
// represented as a single initialised component covering the whole file, so callers never
// need to tell the two apart.
type Layout struct {
	Composite   bool        // lcm_* header present (PFL, FLR, SEL)
	Foreign     bool        // lfm_* fields: a foreign layout (or component), no OST objects
	Gen         uint32      // lcm_layout_gen or lmm_layout_gen
	MirrorCount int         // lcm_mirror_count (1 for plain layouts)
	Components  []Component // in the order lfs printed them
}

// Component is one component of a layout: an extent of the file with its own striping.
type Component struct {
	ID          uint32 // lcme_id (0 for plain layouts)
	MirrorID    uint32
	Flags       string // lcme_flags as printed ("init", "init,stale", "0")
	Start, End  uint64 // extent; End is EOF for "EOF"
	StripeCount int    // lmm_stripe_count (-1 means "all OSTs" before instantiation)
	StripeSize  uint64
	Pattern     string // lmm_pattern: "raid0", "raid0,overstriped", "mdt", "raid0,released"
	Pool        string
	Offset      int      // lmm_stripe_offset (-1 when not yet chosen)
	OSTs        []uint32 // l_ost_idx of every object, in stripe order (empty if not instantiated)
}

// Init reports whether the component is instantiated (has OST objects).
func (c Component) Init() bool {
	for _, f := range strings.Split(c.Flags, ",") {
		if f == "init" {
			return true
		}
	}
	return false
}

// OSTs returns every OST index holding an object of the file, ascending and unique.
// This, and not "lfs getstripe -i" (the first object's OST only), is the membership test
// for "is this file on a source OST".
func (l Layout) OSTs() []uint32 {
	var all []uint32
	for _, c := range l.Components {
		all = append(all, c.OSTs...)
	}
	slices.Sort(all)
	return slices.Compact(all)
}

// Released reports whether the file is HSM-released: its data lives only in the archive
// and it has no objects on any OST. Migrating it would force a restore.
func (l Layout) Released() bool {
	for _, c := range l.Components {
		if strings.Contains(c.Pattern, "released") {
			return true
		}
	}
	return false
}

// OnAny reports whether the file has an object on any OST in list.
func (l Layout) OnAny(list OSTList) bool { return list.ContainsAny(l.OSTs()) }

// ParseLayoutYAML parses the output of "lfs getstripe -y FILE" for one file.
//
// The parser is keyed on field names, not indentation, because the layout of the YAML has
// changed between Lustre releases (object lines were "- 0: { l_ost_idx: 0, l_fid: ... }" in
// older clients and "- l_ost_idx: 0" with l_fid on the next line in newer ones; component
// objects are indented differently again). Unknown fields are ignored.
func ParseLayoutYAML(out []byte) (Layout, error) {
	var l Layout
	var cur *Component // component being filled; for a plain layout, created on first lmm_ field
	sc := bufio.NewScanner(bytes.NewReader(out))
	sc.Buffer(make([]byte, 0, 4096), 1<<20)
	line := 0
	plainStarted := false
	for sc.Scan() {
		line++
		text := strings.TrimSpace(sc.Text())
		if text == "" {
			continue
		}
		text = strings.TrimPrefix(text, "- ")
		// "0: { l_ost_idx: 1, l_fid: [...] }": the old inline object form.
		if i := strings.Index(text, "l_ost_idx:"); i >= 0 {
			if cur == nil {
				return Layout{}, fmt.Errorf("getstripe yaml line %d: object before any layout", line)
			}
			v := strings.TrimSpace(text[i+len("l_ost_idx:"):])
			if j := strings.IndexAny(v, ", }"); j >= 0 {
				v = v[:j]
			}
			idx, err := strconv.ParseUint(v, 0, 32)
			if err != nil {
				return Layout{}, fmt.Errorf("getstripe yaml line %d: bad l_ost_idx %q", line, v)
			}
			cur.OSTs = append(cur.OSTs, uint32(idx))
			continue
		}
		key, val, ok := strings.Cut(text, ":")
		if !ok {
			continue
		}
		key = strings.TrimSpace(key)
		val = strings.TrimSpace(val)
		var err error
		switch key {
		case "lfm_magic":
			// A foreign layout: lov_dump_foreign_lmm() (liblustreapi.c) prints lfm_*
			// fields and no objects.
			l.Foreign = true
		case "lcm_layout_gen":
			l.Composite = true
			l.Gen, err = parseU32(val)
		case "lcm_mirror_count":
			l.Composite = true
			l.MirrorCount, err = strconv.Atoi(val)
		case "lcm_entry_count", "components":
			l.Composite = true
		case "lcme_id":
			l.Composite = true
			l.Components = append(l.Components, Component{Offset: -1})
			cur = &l.Components[len(l.Components)-1]
			if val != "N/A" {
				cur.ID, err = parseU32(val)
			}
		case "lcme_mirror_id":
			err = needComponent(cur, key)
			if err == nil && val != "N/A" {
				cur.MirrorID, err = parseU32(val)
			}
		case "lcme_flags":
			if err = needComponent(cur, key); err == nil {
				cur.Flags = val
			}
		case "lcme_extent.e_start":
			if err = needComponent(cur, key); err == nil {
				cur.Start, err = parseExtent(val)
			}
		case "lcme_extent.e_end":
			if err = needComponent(cur, key); err == nil {
				cur.End, err = parseExtent(val)
			}
		case "lmm_stripe_count", "lmm_stripe_size", "lmm_pattern", "lmm_pool",
			"lmm_stripe_offset", "lmm_layout_gen", "lmm_extension_size", "lmm_fid",
			"lmm_magic", "lmm_seq", "lmm_object_id", "lmm_mdt_index":
			if cur == nil && !l.Composite && !plainStarted {
				// A plain layout: one whole-file component.
				l.Components = append(l.Components, Component{Flags: "init", End: EOF, Offset: -1})
				cur = &l.Components[0]
				l.MirrorCount = 1
				plainStarted = true
			}
			if err = needComponent(cur, key); err != nil {
				break
			}
			err = setLmmField(cur, &l, key, val)
		}
		if err != nil {
			return Layout{}, fmt.Errorf("getstripe yaml line %d: %s: %w", line, key, err)
		}
	}
	if err := sc.Err(); err != nil {
		return Layout{}, fmt.Errorf("getstripe yaml: %w", err)
	}
	if len(l.Components) == 0 && !l.Foreign {
		return Layout{}, fmt.Errorf("getstripe yaml: no layout found")
	}
	return l, nil
}

func setLmmField(c *Component, l *Layout, key, val string) error {
	var err error
	switch key {
	case "lmm_stripe_count":
		c.StripeCount, err = strconv.Atoi(val)
	case "lmm_stripe_size":
		c.StripeSize, err = strconv.ParseUint(val, 10, 64)
	case "lmm_pattern":
		c.Pattern = val
	case "lmm_pool":
		c.Pool = val
	case "lmm_stripe_offset", "lmm_mdt_index":
		var v int64
		v, err = strconv.ParseInt(val, 0, 32)
		c.Offset = int(v)
	case "lmm_layout_gen":
		if !l.Composite {
			l.Gen, err = parseU32(val)
		}
	}
	return err
}

func needComponent(c *Component, key string) error {
	if c == nil {
		return fmt.Errorf("%s outside any component", key)
	}
	return nil
}

func parseU32(s string) (uint32, error) {
	v, err := strconv.ParseUint(s, 0, 32)
	return uint32(v), err
}

func parseExtent(s string) (uint64, error) {
	if s == "EOF" || s == "-1" {
		return EOF, nil
	}
	return strconv.ParseUint(s, 10, 64)
}
