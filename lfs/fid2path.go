package lfs

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"strings"
	"syscall"
)

// FIDPathResult is where one FID is now: every name of the file (a hard-linked file has
// several), or why lfs could not tell.
type FIDPathResult struct {
	Paths []string
	// Err is a *FileError (its Path is the FID) when lfs failed for this FID;
	// errors.Is(Err, syscall.ENOENT) means the FID no longer exists.
	Err error
}

// Gone reports whether lfs said the FID no longer exists.
func (r FIDPathResult) Gone() bool { return r.Err != nil && IsGone(r.Err) }

// FIDToPath runs "lfs fid2path --print-fid [--print0] ROOT FID..." and returns one result
// per FID, in order. root is any path inside the filesystem (lfs resolves its mount point
// and prints every name as MOUNT/RELATIVE-PATH). nul asks for --print0, which lfs has
// from 2.16 on (LU-16605); without it names are newline-separated and a name that contains
// a newline is told from the next record only by the FID prefix every record starts with,
// so callers must check a name's FID before trusting it (they do anyway: a file can move
// again at any time).
//
// Facts from lustre/utils/lfs.c, lfs_fid2path: the first operand is a filesystem name or
// a path (then the mount point is printed before each name); every further operand is a
// FID; without --link every name of the file is printed (llapi_fid2path_at is called with
// increasing link numbers until it stops changing); --print-fid prints the FID operand as
// given and a space before each name; --print0 ends each name with NUL instead of a
// newline; a FID that cannot be resolved is reported on stderr as "lfs fid2path: cannot
// find ROOT FID: STRERROR" and the others go on; the exit status is the first failure's
// errno. An unknown FID is ENOENT (the MDT's fid2path).
func (c *Client) FIDToPath(ctx context.Context, root string, fids []FID, nul bool) ([]FIDPathResult, error) {
	if err := checkPaths([]string{root}); err != nil {
		return nil, err
	}
	results := make([]FIDPathResult, len(fids))
	for start := 0; start < len(fids); start += maxBatchFiles {
		end := min(start+maxBatchFiles, len(fids))
		if err := c.fidToPath(ctx, root, fids[start:end], nul, results[start:end]); err != nil {
			return nil, err
		}
	}
	return results, nil
}

func (c *Client) fidToPath(ctx context.Context, root string, fids []FID, nul bool, results []FIDPathResult) error {
	args := []string{"fid2path", "--print-fid"}
	if nul {
		args = append(args, "--print0")
	}
	args = append(args, root)
	for _, f := range fids {
		args = append(args, f.String())
	}
	r := c.run(ctx, nil, args...)
	if err := batchRunError(r); err != nil {
		return err
	}
	paths, err := ParseFIDToPath(r.stdout, fids, nul)
	if err != nil {
		if len(fids) == 1 {
			return fmt.Errorf("lfs fid2path %s: %w", fids[0], err)
		}
		// Not attributable as a whole: ask one FID at a time.
		for i := range fids {
			if err := c.fidToPath(ctx, root, fids[i:i+1], nul, results[i:i+1]); err != nil {
				return err
			}
		}
		return nil
	}
	var missing []int
	for i := range fids {
		if len(paths[i]) > 0 {
			results[i] = FIDPathResult{Paths: paths[i]}
			continue
		}
		if e, ok := fidErrno(r.stderr, fids[i]); ok {
			results[i] = FIDPathResult{Err: &FileError{Path: fids[i].String(), Errno: e}}
			continue
		}
		missing = append(missing, i)
	}
	if len(missing) == 0 {
		return nil
	}
	if len(fids) == 1 {
		// lfs said nothing about this FID: a failure of the whole call (no mount point).
		if r.err != nil {
			return r.err
		}
		return fmt.Errorf("lfs fid2path %s: printed no name and no error", fids[0])
	}
	for _, i := range missing {
		if err := c.fidToPath(ctx, root, fids[i:i+1], nul, results[i:i+1]); err != nil {
			return err
		}
	}
	return nil
}

// fidErrno finds lfs's "cannot find ROOT FID: STRERROR" line for fid in stderr.
func fidErrno(stderr []byte, fid FID) (syscall.Errno, bool) {
	key := " " + fid.String() + ": "
	for _, line := range strings.Split(string(stderr), "\n") {
		if !strings.Contains(line, "fid2path: cannot find ") {
			continue
		}
		i := strings.LastIndex(line, key)
		if i < 0 {
			continue
		}
		if e, ok := ErrnoFromText(line[i+len(key):]); ok {
			return e, true
		}
	}
	return 0, false
}

// errUnattributable is output that cannot be matched to the FIDs asked, in their order.
var errUnattributable = errors.New("output does not match the FIDs asked for")

// ParseFIDToPath attributes the output of "lfs fid2path --print-fid [--print0] ROOT FID..."
// to the FIDs asked: every record is "FID PATH" and lfs prints them in argument order (a
// FID that failed has none, a hard-linked file several). With nul the records end with
// NUL; without, with a newline, and a line that does not start with one of the FIDs still
// to come continues the name before it (a name with a newline).
func ParseFIDToPath(out []byte, fids []FID, nul bool) ([][]string, error) {
	sep := byte('\n')
	if nul {
		sep = 0
	}
	paths := make([][]string, len(fids))
	if len(out) == 0 {
		return paths, nil
	}
	if out[len(out)-1] != sep {
		return nil, fmt.Errorf("lfs fid2path: output ends in the middle of a record")
	}
	keys := make([]string, len(fids))
	for i, f := range fids {
		keys[i] = f.String() + " "
	}
	// next finds the FID (at or after i) that starts rec.
	next := func(i int, rec []byte) int {
		for j := max(i, 0); j < len(fids); j++ {
			if bytes.HasPrefix(rec, []byte(keys[j])) && len(rec) > len(keys[j]) && rec[len(keys[j])] == '/' {
				return j
			}
		}
		return -1
	}
	cur := -1
	for _, rec := range bytes.Split(out[:len(out)-1], []byte{sep}) {
		j := next(cur, rec)
		if j < 0 {
			if nul || cur < 0 {
				return nil, fmt.Errorf("lfs fid2path: %q: %w", rec, errUnattributable)
			}
			last := &paths[cur][len(paths[cur])-1]
			*last += "\n" + string(rec)
			continue
		}
		cur = j
		p := string(rec[len(keys[j]):])
		if strings.HasPrefix(p, "//") { // lfs prints "/" + "/" + name for a filesystem mounted at /
			p = p[1:]
		}
		paths[j] = append(paths[j], p)
	}
	return paths, nil
}

// HasFIDToPathPrint0 reports whether "lfs fid2path" takes --print0: added in 2.16
// (LU-16605, first in 2.15.58).
func (v Version) HasFIDToPathPrint0() bool { return v.AtLeast(2, 16) }
