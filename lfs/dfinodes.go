package lfs

import "context"

// TargetInodes is one OST's line of "lfs df -i": on an OST the inodes are its objects.
type TargetInodes struct {
	UUID  string
	Index uint32
	Total uint64 // Inodes
	Used  uint64 // IUsed: os_files - os_ffree, the objects in use (a few are Lustre's own)
	Free  uint64 // IFree
}

// DFInodes runs "lfs df -i PATH" and returns the OSTs' inode (object) counts of the
// filesystem holding path. lfs.c's showdf prints the same columns as "lfs df" with
// Inodes, IUsed and IFree in place of 1K-blocks, Used and Available, so it is read by
// ParseDF.
func (c *Client) DFInodes(ctx context.Context, path string) ([]TargetInodes, error) {
	if err := checkPaths([]string{path}); err != nil {
		return nil, err
	}
	r := c.run(ctx, nil, "df", "-i", path)
	if r.err != nil {
		return nil, r.err
	}
	ts, err := ParseDF(string(r.stdout))
	if err != nil {
		return nil, err
	}
	out := make([]TargetInodes, len(ts))
	for i, t := range ts {
		out[i] = TargetInodes{UUID: t.UUID, Index: t.Index, Total: t.TotalKB, Used: t.UsedKB, Free: t.AvailKB}
	}
	return out, nil
}
