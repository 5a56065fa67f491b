package campaign

import "path/filepath"

// Resolved returns s with every scan path and exclude that goes through a symbolic link
// resolved (those that cannot be resolved stay as they are). lfs prints some names from
// the real mount point (fid2path), which a scan path given through a link (/scratch ->
// /lustre/scratch) does not start with; such a name is in scope when it is in scope for
// s or for s.Resolved().
func (s Selection) Resolved() Selection {
	resolve := func(ps []Path) []Path {
		out := make([]Path, len(ps))
		for i, p := range ps {
			out[i] = p
			if r, err := filepath.EvalSymlinks(string(p)); err == nil {
				out[i] = Path(r)
			}
		}
		return out
	}
	s.ScanPaths = resolve(s.ScanPaths)
	s.Excludes = resolve(s.Excludes)
	return s
}
