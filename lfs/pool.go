package lfs

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"syscall"
)

// ErrNoPool is matched when "lfs pool_list FSNAME.POOL" says the pool does not exist.
var ErrNoPool = errors.New("no such OST pool")

// ParsePoolList reads the output of "lfs pool_list FSNAME.POOL": a "Pool: FSNAME.POOL"
// line, then one target per line ("fs1-OST0003_UUID"), as llapi_get_poolmembers() reads
// them from the lov's pools/POOL file and llapi_poollist() prints them. It returns the
// pool's OST indices, ascending.
func ParsePoolList(out string) (OSTList, error) {
	lines := strings.Split(strings.TrimRight(out, "\n"), "\n")
	if len(lines) == 0 || !strings.HasPrefix(lines[0], "Pool: ") {
		return nil, fmt.Errorf("lfs pool_list: output does not start with \"Pool: \": %q", firstLine(out))
	}
	var l OSTList
	for _, line := range lines[1:] {
		name := strings.TrimSpace(line)
		if name == "" {
			continue
		}
		idx, ok, err := parseOSTName(name)
		if !ok || err != nil {
			return nil, fmt.Errorf("lfs pool_list: bad target name %q", name)
		}
		l = append(l, idx)
	}
	slices.Sort(l)
	return slices.Compact(l), nil
}

func firstLine(s string) string {
	s, _, _ = strings.Cut(s, "\n")
	return s
}

// PoolMembers runs "lfs pool_list FSNAME.POOL" (lfs_poollist(), llapi_poollist()) and
// returns the pool's OSTs. A pool that does not exist is ErrNoPool: llapi_get_poolmembers()
// fails to open its pools/POOL file, and lfs exits with that errno (ENOENT).
func (c *Client) PoolMembers(ctx context.Context, fsname, pool string) (OSTList, error) {
	r := c.run(ctx, nil, "pool_list", fsname+"."+pool)
	if r.err != nil {
		var xe *ExitError
		if errors.As(r.err, &xe) && xe.Errno() == syscall.ENOENT {
			return nil, fmt.Errorf("%w: %s.%s", ErrNoPool, fsname, pool)
		}
		return nil, r.err
	}
	return ParsePoolList(string(r.stdout))
}
