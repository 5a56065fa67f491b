package lfssim

import (
	"fmt"
	"io"
	"strings"

	"migrator/lfs"
)

// writeYAML prints a layout as "lfs getstripe -y" does (Lustre 2.15+), field for field:
// a plain layout as lmm_* lines, a composite one with an lcm_* header and components.
// Like the real command it never names the file.
func writeYAML(w io.Writer, l lfs.Layout, fid lfs.FID) {
	if isForeign(l) {
		// lov_dump_foreign_lmm() (liblustreapi.c): lfm_* fields, no objects.
		fmt.Fprintf(w, "lfm_magic:         0x0BD70BD0\n")
		fmt.Fprintf(w, "lfm_length:        %d\n", len(l.Components[0].Pool))
		fmt.Fprintf(w, "lfm_type:          0x00000000 (none)\n")
		fmt.Fprintf(w, "lfm_flags:         0x00000000\n")
		fmt.Fprintf(w, "lfm_value:         '%s'\n", l.Components[0].Pool)
		return
	}
	if !l.Composite {
		writeLmm(w, l, 0, fid, "")
		return
	}
	fmt.Fprintf(w, "lcm_layout_gen:    %d\n", l.Gen)
	fmt.Fprintf(w, "lcm_mirror_count:  %d\n", max(l.MirrorCount, 1))
	fmt.Fprintf(w, "lcm_entry_count:   %d\n", len(l.Components))
	fmt.Fprintf(w, "components:\n")
	for i, c := range l.Components {
		fmt.Fprintf(w, "  - lcme_id:             %d\n", c.ID)
		fmt.Fprintf(w, "    lcme_mirror_id:      %d\n", c.MirrorID)
		flags := c.Flags
		if flags == "" {
			flags = "0"
		}
		fmt.Fprintf(w, "    lcme_flags:          %s\n", flags)
		fmt.Fprintf(w, "    lcme_extent.e_start: %d\n", c.Start)
		if c.End == lfs.EOF {
			fmt.Fprintf(w, "    lcme_extent.e_end:   EOF\n")
		} else {
			fmt.Fprintf(w, "    lcme_extent.e_end:   %d\n", c.End)
		}
		fmt.Fprintf(w, "    sub_layout:\n")
		writeLmm(w, l, i, fid, "      ")
	}
}

// writeLmm prints one lov_user_md, component ci of l: the header fields, then the objects
// when the component is instantiated and not released. A component's own lmm_layout_gen is
// 0; a plain layout's is the layout generation.
func writeLmm(w io.Writer, l lfs.Layout, ci int, fid lfs.FID, indent string) {
	c := l.Components[ci]
	composite := l.Composite
	init := c.Init() || !composite
	var gen uint32
	if !composite {
		gen = l.Gen
	}
	fmt.Fprintf(w, "%slmm_stripe_count:  %d\n", indent, c.StripeCount)
	fmt.Fprintf(w, "%slmm_stripe_size:   %d\n", indent, c.StripeSize)
	fmt.Fprintf(w, "%slmm_pattern:       %s\n", indent, c.Pattern)
	fmt.Fprintf(w, "%slmm_layout_gen:    %d\n", indent, gen)
	offset := -1
	if init && len(c.OSTs) > 0 {
		offset = int(c.OSTs[0])
	} else if c.Offset >= 0 {
		offset = c.Offset
	} else if !composite {
		offset = 0
	}
	fmt.Fprintf(w, "%slmm_stripe_offset: %d\n", indent, offset)
	if c.Pool != "" {
		fmt.Fprintf(w, "%slmm_pool:          %s\n", indent, c.Pool)
	}
	if !init || strings.Contains(c.Pattern, "released") {
		return
	}
	fmt.Fprintf(w, "%slmm_objects:\n", indent)
	for s, ost := range c.OSTs {
		seq, oid := objectID(fid, l.Gen, ci, s, ost)
		fmt.Fprintf(w, "      - l_ost_idx: %d\n", ost)
		fmt.Fprintf(w, "        l_fid:     %#x:%#x:0x0\n", seq, oid)
	}
}

// writePlain prints a layout as plain "lfs getstripe FILE" does for a raid0 file: the file
// name, the lmm_ fields, and the object table. Composite layouts are printed as YAML with
// the file name first, as lfs does.
func writePlain(w io.Writer, path string, l lfs.Layout, fid lfs.FID) {
	fmt.Fprintf(w, "%s\n", path)
	if l.Composite {
		writeYAML(w, l, fid)
		fmt.Fprintln(w)
		return
	}
	c := l.Components[0]
	fmt.Fprintf(w, "lmm_stripe_count:  %d\n", c.StripeCount)
	fmt.Fprintf(w, "lmm_stripe_size:   %d\n", c.StripeSize)
	fmt.Fprintf(w, "lmm_pattern:       %s\n", c.Pattern)
	fmt.Fprintf(w, "lmm_layout_gen:    %d\n", l.Gen)
	off := 0
	if len(c.OSTs) > 0 {
		off = int(c.OSTs[0])
	}
	fmt.Fprintf(w, "lmm_stripe_offset: %d\n", off)
	if c.Pool != "" {
		fmt.Fprintf(w, "lmm_pool:          %s\n", c.Pool)
	}
	if !strings.Contains(c.Pattern, "released") {
		fmt.Fprintf(w, "\tobdidx\t\t objid\t\t objid\t\t group\n")
		for s, ost := range c.OSTs {
			seq, oid := objectID(fid, l.Gen, 0, s, ost)
			fmt.Fprintf(w, "\t%6d\t%14d\t%#13x\t%#14x\n", ost, oid, oid, seq)
		}
	}
	fmt.Fprintln(w)
}

// isForeign reports whether l is a foreign layout (LOV_MAGIC_FOREIGN): in the simulator, a
// plain layout whose one component has the pattern "foreign" (its value in Pool).
func isForeign(l lfs.Layout) bool {
	return !l.Composite && len(l.Components) == 1 && l.Components[0].Pattern == "foreign"
}
