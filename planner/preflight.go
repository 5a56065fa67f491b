package planner

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"

	"migrator/campaign"
	"migrator/durable"
	"migrator/lfs"
	"migrator/manifest"
)

// CheckPaths refuses, before anything is scanned, what a typo in a path would turn into a
// wrong campaign: an exclude that does not exist (the "frozen" project would be migrated)
// or lies outside every scan path (it excludes nothing), and a campaign directory inside a
// scan path and outside every exclude (the campaign would migrate its own files while it
// writes them).
func CheckPaths(req campaign.Request, campaignDir string) error {
	scan := campaign.Strings(req.Selection.ScanPaths)
	for _, x := range campaign.Strings(req.Selection.Excludes) {
		if _, err := os.Lstat(x); err != nil {
			return badInput("exclude %s: %v (a mistyped exclude protects nothing; fix it, or leave it out)", x, unwrapPath(err))
		}
		// Excludes match the paths found, which keep the scan paths' names (a symlinked scan
		// path is walked under its own name): one under no scan path leaves nothing out.
		if !campaign.UnderAny(x, scan) {
			return badInput("exclude %s is under no --scan-path (%s): it would exclude nothing (if a scan path is a symlink, write the exclude under the symlink's name); fix it, or leave it out", x, joinPaths(scan))
		}
		if err := checkNoLink(x, scan); err != nil {
			return err
		}
	}
	abs, err := filepath.Abs(campaignDir)
	if err != nil {
		return badInput("campaign directory %s: %v", campaignDir, err)
	}
	// Where the scan really goes: each scan path's real directory, walked without following
	// links; the campaign's real directory is in it, or it is not (a link on the way to
	// either side says nothing). Excludes are real directories (checkNoLink).
	real := realPath(abs)
	if campaign.UnderAny(real, realPaths(scan)) && !campaign.UnderAny(real, realPaths(campaign.Strings(req.Selection.Excludes))) {
		where := ""
		if real != abs {
			where = " (it is " + real + ")"
		}
		return badInput("campaign directory %s%s is inside a scan path (%s): put it elsewhere, or --exclude it", campaignDir, where, joinPaths(scan))
	}
	return nil
}

// checkNoLink refuses an exclude reached from its scan path through a symbolic link: the
// scan (lfs find) does not follow links, so it meets the directory under its real name,
// never under the exclude's, and would migrate what the exclude was meant to protect.
func checkNoLink(x string, scan []string) error {
	for _, s := range scan {
		rel, err := filepath.Rel(s, x)
		if err != nil || !campaign.Under(x, s) {
			continue
		}
		real, realScan := realPath(x), realPath(s)
		if real == filepath.Join(realScan, rel) {
			return nil
		}
		how := "it lies outside the scan paths"
		if r, err := filepath.Rel(realScan, real); err == nil && campaign.Under(real, realScan) {
			how = "exclude it as the scan reaches it: --exclude " + filepath.Join(s, r)
		}
		return badInput("exclude %s goes through a symbolic link (it is %s): the scan does not follow links, so it would exclude nothing; %s", x, real, how)
	}
	return nil
}

// realPath resolves symlinks in p, or in its nearest existing parent.
func realPath(p string) string {
	if r, err := filepath.EvalSymlinks(p); err == nil {
		return r
	}
	dir, base := filepath.Split(p)
	if dir == p || dir == "" {
		return p
	}
	return filepath.Join(realPath(filepath.Clean(dir)), base)
}

func realPaths(ps []string) []string {
	out := make([]string, len(ps))
	for i, p := range ps {
		out[i] = realPath(p)
	}
	return out
}

func joinPaths(ps []string) string {
	s := ""
	for i, p := range ps {
		if i > 0 {
			s += ", "
		}
		s += p
	}
	return s
}

// checkTarget checks the target pool and stripe count against the filesystem: the pool
// exists (else every lfs migrate fails with EINVAL) and is not made of source OSTs, and the
// stripe count fits in the OSTs files can go to. Source OSTs in the pool are a warning:
// with object creation stopped on them (max_create_count=0) the MDS leaves them out.
func (p *Preflight) checkTarget(ctx context.Context, l LFS, req campaign.Request) error {
	src := req.Selection.SourceOSTs()
	var dest lfs.OSTList // where new objects can go
	where := "the filesystem's OSTs other than the sources"
	for _, t := range p.Targets {
		if !src.Contains(t.Index) && !dest.Contains(t.Index) {
			dest = append(dest, t.Index)
		}
	}
	if pool := req.Target.Pool; pool != "" {
		if p.FSName == "" {
			p.Warnings = append(p.Warnings, fmt.Sprintf("cannot check target pool %s: the filesystem's name is unknown", pool))
			return nil
		}
		members, err := l.PoolMembers(ctx, p.FSName, pool)
		switch {
		case errors.Is(err, lfs.ErrNoPool):
			return badInput("target pool %s does not exist in %s (lfs pool_list %s.%s): every lfs migrate would fail; see lfs pool_list %s", pool, p.FSName, p.FSName, pool, p.FSName)
		case err != nil:
			p.Warnings = append(p.Warnings, fmt.Sprintf("cannot check target pool %s (%s)", pool, oneLine(err)))
			return nil
		case len(members) == 0:
			return badInput("target pool %s.%s has no OSTs", p.FSName, pool)
		}
		var in, out lfs.OSTList
		for _, o := range members {
			if src.Contains(o) {
				in = append(in, o)
			} else {
				out = append(out, o)
			}
		}
		if len(out) == 0 {
			return badInput("target pool %s.%s holds only source OSTs (%s): files cannot leave them", p.FSName, pool, in)
		}
		if len(in) > 0 {
			p.Warnings = append(p.Warnings, fmt.Sprintf("target pool %s.%s holds source OSTs %s: make sure object creation is stopped on them (max_create_count=0), or files may land there again", p.FSName, pool, in))
		}
		dest, where = out, "pool "+pool+" minus the source OSTs"
	}
	if req.Target.OSTs != "" {
		return nil // lfs migrate -o: the stripe count is the list's length
	}
	if n := req.Target.StripeCount; n > 0 && len(p.Targets) > 0 && n > len(dest) {
		return badInput("--stripe-count %d is more than the %d OSTs files can go to (%s: %s)", n, len(dest), where, dest)
	}
	return nil
}

// Reshard cuts a round's manifests again into at most maxShards shards (by file count
// only), for a Slurm whose MaxArraySize is below the number of shards. The old manifests
// are moved aside first: until the new index is written the round has none, so a kill
// leaves a campaign that the next plan scans again.
func Reshard(d campaign.Dir, r campaign.Round, idx manifest.Index, maxShards int) (manifest.Index, error) {
	aside := r.Manifests + ".unsized"
	if err := os.RemoveAll(aside); err != nil {
		return idx, err
	}
	if err := os.Rename(r.Manifests, aside); err != nil {
		return idx, err
	}
	if err := durable.SyncDir(r.Base); err != nil {
		return idx, err
	}
	perShard := (idx.Files + uint64(maxShards) - 1) / uint64(maxShards)
	w, err := manifest.NewWriter(manifest.WriterOptions{Dir: r.Manifests, Campaign: idx.Campaign, Round: r.N,
		MaxFiles: max(perShard, 1), MaxBytes: math.MaxUint64})
	if err != nil {
		return idx, err
	}
	for _, s := range idx.Shards {
		src, err := manifest.OpenShard(filepath.Join(aside, s.File), s.SHA256)
		if err != nil {
			w.Abort()
			return idx, err
		}
		var e manifest.Entry
		for {
			if err = src.Next(&e); err != nil {
				break
			}
			if err = w.Write(&e); err != nil {
				break
			}
		}
		src.Close()
		if err != io.EOF {
			w.Abort()
			return idx, err
		}
	}
	out, err := w.Close()
	if err != nil {
		return idx, err
	}
	return out, os.RemoveAll(aside)
}
