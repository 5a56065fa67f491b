package planner

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"migrator/campaign"
	"migrator/checkpoint"
	"migrator/distscan"
	"migrator/manifest"
)

// SealResult is a sealed distributed scan.
type SealResult struct {
	Result
	Plan  distscan.Plan
	Task  distscan.Stats      // units the seal scanned itself (left by dead or failed tasks)
	Merge distscan.MergeStats // zero when the campaign was already sealed
}

// Seal finishes a plan whose scan ran as distributed tasks (Options.Distributed): it scans
// every unit still without a part (a task that failed, or died and whose claim went stale:
// AcquireLock waits out the stale period), then merges the parts into the round's shards
// and writes index.json last, under the plan lock. A campaign already sealed is left as it
// is (Resumed). Killed at any point, it can be run again: without an index, the shards are
// written over from the parts. holder describes this process in the claims it takes.
func Seal(ctx context.Context, l LFS, d campaign.Dir, holder checkpoint.LockInfo) (*SealResult, error) {
	lock, err := checkpoint.AcquireLock(filepath.Join(d.Root, "plan.lock"), checkpoint.CurrentHolder(os.Getenv), checkpoint.LockOptions{})
	if err != nil {
		return nil, badInput("another plan is running: %v", err)
	}
	defer lock.Release()
	spec, err := d.Load()
	if err != nil {
		return nil, badInput("%v", err)
	}
	p, err := distscan.ReadPlan(d)
	if err != nil {
		return nil, badInput("%s: no distributed scan to seal (%v)", d.Root, err)
	}
	res := &SealResult{Result: Result{Spec: spec}, Plan: p}
	r0 := d.Round(0)
	idx, err := manifest.ReadIndex(r0.Manifests)
	switch {
	case err == nil && idx.Campaign == spec.ID:
		res.Index, res.Resumed = idx, true
		return res, nil
	case err == nil:
		return nil, badInput("%s belongs to campaign %s, not %s", filepath.Join(r0.Manifests, manifest.IndexFile), idx.Campaign, spec.ID)
	case !errors.Is(err, os.ErrNotExist):
		return nil, badInput("%v", err)
	}
	if err := distscan.RunTask(ctx, l, d, spec, distscan.TaskOptions{Task: -1, Holder: holder}, &res.Task); err != nil {
		return nil, err
	}
	if res.Task.Busy > 0 {
		return nil, fmt.Errorf("%d units of the scan are held by live scan tasks: run the seal again once they have ended", res.Task.Busy)
	}
	if err := clearManifests(r0.Manifests); err != nil {
		return nil, err
	}
	w, err := manifest.NewWriter(manifest.WriterOptions{Dir: r0.Manifests, Campaign: spec.ID, Round: 0,
		MaxFiles: spec.Work.ShardFiles, MaxBytes: spec.Work.ShardBytes})
	if err != nil {
		return nil, err
	}
	res.Merge, err = distscan.Merge(d, spec, w.Write)
	if err != nil {
		w.Abort()
		clearManifests(r0.Manifests)
		return nil, err
	}
	if res.Index, err = w.Close(); err != nil {
		return nil, err
	}
	if p.MaxShards > 0 && len(res.Index.Shards) > p.MaxShards {
		res.Resharded = len(res.Index.Shards)
		if res.Index, err = Reshard(d, r0, res.Index, p.MaxShards); err != nil {
			return nil, err
		}
	}
	return res, nil
}
