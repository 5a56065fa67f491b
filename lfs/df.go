package lfs

import (
	"context"
	"fmt"
	"strconv"
	"strings"
)

// TargetSpace is one OST's line of "lfs df".
type TargetSpace struct {
	UUID    string // "fs1-OST0003_UUID"
	Index   uint32
	TotalKB uint64
	UsedKB  uint64
	AvailKB uint64
}

// ParseDF reads "lfs df" output and returns the OST lines. MDT lines, the summary and
// inactive targets ("fs1-OST0002_UUID   : inactive device") are skipped.
func ParseDF(out string) ([]TargetSpace, error) {
	var ts []TargetSpace
	for _, line := range strings.Split(out, "\n") {
		f := strings.Fields(line)
		if len(f) < 6 || !strings.HasSuffix(f[0], "_UUID") || !strings.Contains(f[len(f)-1], "[OST:") {
			continue
		}
		idx, ok, err := parseOSTName(f[0])
		if !ok || err != nil {
			return nil, fmt.Errorf("lfs df: bad target name %q", f[0])
		}
		var n [3]uint64
		for i := range n {
			if n[i], err = strconv.ParseUint(f[i+1], 10, 64); err != nil {
				return nil, fmt.Errorf("lfs df: %s: bad number %q", f[0], f[i+1])
			}
		}
		ts = append(ts, TargetSpace{UUID: f[0], Index: idx, TotalKB: n[0], UsedKB: n[1], AvailKB: n[2]})
	}
	return ts, nil
}

// DF runs "lfs df PATH" and returns the OSTs of the filesystem holding path.
func (c *Client) DF(ctx context.Context, path string) ([]TargetSpace, error) {
	if err := checkPaths([]string{path}); err != nil {
		return nil, err
	}
	r := c.run(ctx, nil, "df", path)
	if r.err != nil {
		return nil, r.err
	}
	return ParseDF(string(r.stdout))
}
