package lfs

import (
	"context"
	"fmt"
	"strconv"
	"strings"
)

// Version is the Lustre release of the lfs client.
type Version struct {
	Major, Minor, Patch int
	Raw                 string // as printed, e.g. "2.15.4" or "2.12.9_ddn12"
}

// String returns the version as lfs printed it.
func (v Version) String() string { return v.Raw }

// AtLeast reports whether v is major.minor or newer.
func (v Version) AtLeast(major, minor int) bool {
	return v.Major > major || v.Major == major && v.Minor >= minor
}

// KeepsLayoutOnPlainMigrate reports whether a plain "lfs migrate FILE" (no layout options)
// lets the MDS choose new OSTs. Before 2.16 it may copy the layout with the same OST
// indices, so a drain must give an explicit target layout.
func (v Version) KeepsLayoutOnPlainMigrate() bool { return v.AtLeast(2, 16) }

// HasFindPrintf reports whether "lfs find" takes --printf with the Lustre directives
// (%LF, %Lo): added in 2.15.
func (v Version) HasFindPrintf() bool { return v.AtLeast(2, 15) }

// HasMigrateBandwidth reports whether "lfs migrate" takes -W/--bandwidth: added in 2.16.
func (v Version) HasMigrateBandwidth() bool { return v.AtLeast(2, 16) }

// HasFindThreads reports whether "lfs find" takes --threads N. Lustre 2.17 added it and
// made find parallel by default (min(4 × MDTs, CPUs / 2) threads, at least 4); older
// clients refuse the option.
func (v Version) HasFindThreads() bool { return v.AtLeast(2, 17) }

// ParseVersion parses the output of "lfs --version": "lfs 2.15.4", also with vendor
// suffixes ("lfs 2.12.9_ddn12", "lfs 2.14.0-1.el8").
func ParseVersion(out string) (Version, error) {
	f := strings.Fields(out)
	if len(f) < 2 {
		return Version{}, fmt.Errorf("lfs --version printed %q, want \"lfs X.Y.Z\"", strings.TrimSpace(out))
	}
	raw := f[len(f)-1]
	nums := raw
	if i := strings.IndexFunc(nums, func(r rune) bool { return r != '.' && (r < '0' || r > '9') }); i >= 0 {
		nums = nums[:i]
	}
	parts := strings.Split(strings.Trim(nums, "."), ".")
	var v [3]int
	for i := 0; i < len(parts) && i < 3; i++ {
		n, err := strconv.Atoi(parts[i])
		if err != nil {
			return Version{}, fmt.Errorf("lfs --version printed %q: no version number", strings.TrimSpace(out))
		}
		v[i] = n
	}
	if len(parts) < 2 {
		return Version{}, fmt.Errorf("lfs --version printed %q: no version number", strings.TrimSpace(out))
	}
	return Version{Major: v[0], Minor: v[1], Patch: v[2], Raw: raw}, nil
}

// Version runs "lfs --version".
func (c *Client) Version(ctx context.Context) (Version, error) {
	r := c.run(ctx, nil, "--version")
	if r.err != nil {
		return Version{}, r.err
	}
	return ParseVersion(string(r.stdout))
}
