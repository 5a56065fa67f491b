// Package planner makes a campaign: preflight checks against the lfs client and the
// filesystem, the campaign directory and campaign.json, the scan into sharded manifests,
// and the job scripts. Submitting is the caller's (see package launch).
//
// Planning is crash-safe: campaign.json is written before the scan and the manifest index
// after it, so a killed plan leaves either nothing, or a campaign without an index that
// nothing can run and that the next plan of the same request starts over.
package planner

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"time"

	"github.com/dustin/go-humanize"

	"migrator/campaign"
	"migrator/checkpoint"
	"migrator/distscan"
	"migrator/durable"
	"migrator/lfs"
	"migrator/manifest"
	"migrator/report"
	"migrator/scan"
)

// LFS is what planning needs from the lfs command.
type LFS interface {
	scan.LFS
	Version(ctx context.Context) (lfs.Version, error)
	DF(ctx context.Context, path string) ([]lfs.TargetSpace, error)
	PoolMembers(ctx context.Context, fsname, pool string) (lfs.OSTList, error)
}

// ErrBadInput is matched by errors about what the admin asked for (exit code 2).
var ErrBadInput = errors.New("bad input")

func badInput(format string, args ...any) error {
	return fmt.Errorf("%w: %s", ErrBadInput, fmt.Sprintf(format, args...))
}

// Preflight is what the checks before planning found.
type Preflight struct {
	Version  lfs.Version
	FSName   string            // from lfs df target names, if known
	Targets  []lfs.TargetSpace // every OST of the filesystem, if lfs df answered
	Warnings []string
}

// Check runs the preflight checks: lfs answers, the client version supports the request,
// scan paths exist, and every source OST exists in the filesystem. Nothing is written.
func Check(ctx context.Context, l LFS, req campaign.Request) (*Preflight, error) {
	p := &Preflight{}
	var dev0 uint64
	for i, sp := range req.Selection.ScanPaths {
		fi, err := os.Stat(string(sp))
		if err != nil {
			return nil, badInput("scan path %s: %v", sp, unwrapPath(err))
		}
		if !fi.IsDir() {
			return nil, badInput("scan path %s: not a directory", sp)
		}
		// OST indices name the OSTs of one filesystem: lfs find -O re-reads them for each
		// Lustre mount it meets (cb_find_init(), "a lustre/lustre mount point is crossed"),
		// so on another filesystem -O LIST would select files of other OSTs.
		dev := uint64(fi.Sys().(*syscall.Stat_t).Dev)
		if i == 0 {
			dev0 = dev
		} else if dev != dev0 {
			return nil, badInput("scan path %q is on another filesystem than %q (followed through any symlink): OST indices are per filesystem; plan one campaign per filesystem", sp, req.Selection.ScanPaths[0])
		}
	}
	// Overlapping scan paths, by name or through symlinks, would list every file of the
	// overlap twice, under two names.
	real := make([]string, len(req.Selection.ScanPaths))
	for i, sp := range req.Selection.ScanPaths {
		r, err := filepath.EvalSymlinks(string(sp))
		if err != nil {
			return nil, badInput("scan path %s: %v", sp, unwrapPath(err))
		}
		real[i] = r
		for j := 0; j < i; j++ {
			if campaign.Under(real[i], real[j]) || campaign.Under(real[j], real[i]) {
				return nil, badInput("scan paths %q and %q overlap (%q and %q, symlinks followed): each file would be listed twice; give only the outer one", req.Selection.ScanPaths[j], sp, real[j], real[i])
			}
		}
	}
	v, err := l.Version(ctx)
	if err != nil {
		return nil, err
	}
	p.Version = v
	explicit := req.Target.MigrateOptions().ExplicitLayout()
	if !v.KeepsLayoutOnPlainMigrate() {
		if !explicit {
			return nil, badInput("lfs %s is older than 2.16, where a plain lfs migrate may leave a file on the same OSTs: give a target layout (--target-pool, --stripe-count, --stripe-size or --target-osts)", v)
		}
		p.Warnings = append(p.Warnings, fmt.Sprintf("lfs client %s is older than 2.16; using the explicit target layout", v))
	}
	if req.Target.BandwidthMB > 0 && !v.HasMigrateBandwidth() {
		return nil, badInput("lfs %s has no lfs migrate --bandwidth (Lustre 2.16+): leave out --bandwidth, or use a newer client", v)
	}
	if !v.HasFindPrintf() {
		p.Warnings = append(p.Warnings, fmt.Sprintf("lfs client %s has no find --printf (Lustre 2.15+): files are described with lstat, lfs path2fid and one lfs find per source OST, which is slower", v))
	}
	ts, err := l.DF(ctx, string(req.Selection.ScanPaths[0]))
	if err != nil {
		p.Warnings = append(p.Warnings, fmt.Sprintf("lfs df failed (%v): cannot check the OST list or free space", oneLine(err)))
		return p, nil
	}
	p.Targets = ts
	var have lfs.OSTList
	for _, t := range ts {
		have = append(have, t.Index)
		if p.FSName == "" {
			p.FSName = fsName(t.UUID)
		}
	}
	slices.Sort(have)
	have = slices.Compact(have)
	for _, o := range req.Selection.SourceOSTs() {
		if !have.Contains(o) {
			return nil, badInput("OST %d is not in the filesystem of %s (lfs df lists OSTs %s)", o, req.Selection.ScanPaths[0], have)
		}
	}
	if req.Target.OSTs != "" {
		for _, o := range lfs.MustParseOSTList(req.Target.OSTs) {
			if !have.Contains(o) {
				return nil, badInput("target OST %d is not in the filesystem (lfs df lists OSTs %s)", o, have)
			}
			if req.Selection.SourceOSTs().Contains(o) {
				return nil, badInput("target OST %d is also a source OST", o)
			}
		}
	}
	if err := p.checkTarget(ctx, l, req); err != nil {
		return nil, err
	}
	return p, nil
}

func fsName(uuid string) string {
	if i := strings.LastIndex(uuid, "-OST"); i > 0 {
		return uuid[:i]
	}
	return ""
}

// SpaceWarning compares the bytes to move with the free space on the OSTs they can go to
// (the target OSTs, or every OST but the sources) and warns when it is short.
func (p *Preflight) SpaceWarning(req campaign.Request, bytes uint64) string {
	if len(p.Targets) == 0 {
		return ""
	}
	var targets lfs.OSTList
	if req.Target.OSTs != "" {
		targets = lfs.MustParseOSTList(req.Target.OSTs)
	}
	src := req.Selection.SourceOSTs()
	var free uint64
	for _, t := range p.Targets {
		if src.Contains(t.Index) || (targets != nil && !targets.Contains(t.Index)) {
			continue
		}
		free += t.AvailKB * 1024
	}
	where := "the other OSTs"
	if req.Target.Pool != "" {
		where = "the OSTs outside the sources (pool " + req.Target.Pool + " is a subset; check it with lfs df -p)"
	}
	if free < bytes+bytes/10 {
		return fmt.Sprintf("%s to move but only %s free on %s: the targets may fill up", humanize.IBytes(bytes), humanize.IBytes(free), where)
	}
	return ""
}

// FindThreads returns the --threads to give each lfs find: n where the client takes the
// option (Lustre 2.17+), else 0 with a warning. 0 asks for nothing: a 2.17 client then
// parallelises each find by itself.
func (p *Preflight) FindThreads(n int) int {
	if n > 0 && !p.Version.HasFindThreads() {
		p.Warnings = append(p.Warnings, fmt.Sprintf("lfs client %s has no find --threads (Lustre 2.17+): --find-threads %d ignored", p.Version, n))
		return 0
	}
	return n
}

// Options are a plan's inputs beyond the request.
type Options struct {
	Dir      campaign.Dir
	Request  campaign.Request
	Tool     string // migrator version
	Workers  int    // lfs find processes at once
	Threads  int    // lfs find --threads of each; 0 leaves it to lfs
	NoPrintf bool   // the client has no lfs find --printf (before 2.15)
	SpoolDir string
	Stats    *scan.Stats
	// MaxShards, if set, bounds the shards of the plan (Slurm's MaxArraySize): more are cut
	// again, by file count, to fit.
	MaxShards int
	// Distributed, if set, makes the plan stop before the scan: it writes scan/plan.json
	// (the units for Distributed.Tasks scan tasks, see package distscan) and returns with
	// Result.Distributed set. Seal finishes the plan once the tasks have run.
	Distributed *distscan.Plan
}

// Result is a planned campaign.
type Result struct {
	Spec    *campaign.Spec
	Index   manifest.Index
	Resumed bool // the campaign was already fully planned; nothing was scanned
	// Resharded is the number of shards the scan made when they were cut again to fit
	// MaxShards (0: they were not).
	Resharded int
	// Distributed is the distributed scan prepared (Options.Distributed); Index is empty.
	Distributed *distscan.Plan
}

// Plan makes (or finds) the campaign in o.Dir.
func Plan(ctx context.Context, l LFS, o Options) (*Result, error) {
	d := o.Dir
	if err := o.Request.CheckStrings(); err != nil { // before anything is created
		return nil, badInput("%v", err)
	}
	if err := d.Prepare(); err != nil {
		return nil, badInput("%v", err)
	}
	lock, err := checkpoint.AcquireLock(filepath.Join(d.Root, "plan.lock"), checkpoint.CurrentHolder(os.Getenv), checkpoint.LockOptions{})
	if err != nil {
		return nil, badInput("another plan is running: %v", err)
	}
	defer lock.Release()
	spec, err := d.Load()
	switch {
	case errors.Is(err, campaign.ErrNotCampaign):
		if err := checkEmpty(d); err != nil {
			return nil, err
		}
		now := time.Now().UTC()
		spec = &campaign.Spec{Format: campaign.Format, ID: campaign.NewID(now), CreatedAt: now.Truncate(time.Second),
			Tool: o.Tool, Request: o.Request}
	case err != nil:
		return nil, badInput("%v", err)
	default:
		if ch := Changes(spec.Request, o.Request); len(ch) > 0 {
			return nil, RefuseChanges(d, spec, ch)
		}
	}
	r0 := d.Round(0)
	idx, err := manifest.ReadIndex(r0.Manifests)
	switch {
	case err == nil && idx.Campaign == spec.ID:
		if err := d.Save(spec); err != nil {
			return nil, err
		}
		return &Result{Spec: spec, Index: idx, Resumed: true}, nil
	case err == nil:
		return nil, badInput("%s belongs to campaign %s, not %s", filepath.Join(r0.Manifests, manifest.IndexFile), idx.Campaign, spec.ID)
	case !errors.Is(err, os.ErrNotExist):
		return nil, badInput("%v", err) // damaged: never rescanned over
	}
	// No index: a plan killed before it wrote one, or an index lost since. A new scan
	// must not meet outcomes recorded against the old one's shards.
	if err := checkNoOutcomes(d); err != nil {
		return nil, err
	}
	// campaign.json first: until it exists, a killed plan leaves nothing checkEmpty refuses.
	if err := d.Save(spec); err != nil {
		return nil, err
	}
	if err := d.MkdirAll(r0); err != nil {
		return nil, err
	}
	// An earlier plan of this campaign died before its index: start the scan over.
	if err := clearManifests(r0.Manifests); err != nil {
		return nil, err
	}
	if err := os.RemoveAll(r0.Manifests + ".unsized"); err != nil { // left by a Reshard cut short
		return nil, err
	}
	if o.Distributed != nil {
		p, err := distscan.Prepare(d, spec, *o.Distributed)
		if err != nil {
			return nil, err
		}
		return &Result{Spec: spec, Distributed: &p}, nil
	}
	w, err := manifest.NewWriter(manifest.WriterOptions{Dir: r0.Manifests, Campaign: spec.ID, Round: 0,
		MaxFiles: spec.Work.ShardFiles, MaxBytes: spec.Work.ShardBytes})
	if err != nil {
		return nil, err
	}
	sel := spec.Selection
	find := lfs.FindOptions{OSTs: sel.SourceOSTs(), UID: sel.UID, GID: sel.GID, Pool: sel.Pool, MTime: sel.MTime,
		Threads: o.Threads}
	if sel.MinSize > 0 {
		find.Size = append(find.Size, fmt.Sprintf("+%dc", sel.MinSize-1))
	}
	if sel.MaxSize > 0 {
		find.Size = append(find.Size, fmt.Sprintf("-%dc", sel.MaxSize+1))
	}
	err = scan.Run(ctx, l, scan.Options{
		Roots: campaign.Strings(sel.ScanPaths), Excludes: campaign.Strings(sel.Excludes), Find: find,
		Workers: o.Workers, SpoolDir: o.SpoolDir, NoPrintf: o.NoPrintf,
	}, o.Stats, func(batch []manifest.Entry) error {
		for i := range batch {
			if err := w.Write(&batch[i]); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		w.Abort() // no index: nothing can run this partial plan
		clearManifests(r0.Manifests)
		return nil, err
	}
	idx, err = w.Close()
	if err != nil {
		return nil, err
	}
	res := &Result{Spec: spec, Index: idx}
	if o.MaxShards > 0 && len(idx.Shards) > o.MaxShards {
		res.Resharded = len(idx.Shards)
		if res.Index, err = Reshard(d, r0, idx, o.MaxShards); err != nil {
			return nil, err
		}
	}
	return res, nil
}

// checkNoOutcomes refuses to scan again into a campaign whose checkpoints record work:
// outcomes or attempts in any round's logs (their shards are gone with the index, and a
// new scan's shards are other files). Logs that record no work (a run start, nothing
// else) are removed, since no shard of the new scan could open them.
func checkNoOutcomes(d campaign.Dir) error {
	if rounds, err := d.Rounds(); err != nil {
		return err
	} else if len(rounds) > 0 {
		return badInput("%s has lost %s, but has retry rounds built from it (rounds/%03d): a new scan would not match them. Top the campaign up with migrator plan --update %s, or plan a new campaign in another directory",
			d.Root, filepath.Join("manifests", manifest.IndexFile), rounds[len(rounds)-1], d.Root)
	}
	logs, _ := filepath.Glob(filepath.Join(d.Round(0).Checkpoints, "shard-*.log"))
	more, _ := filepath.Glob(filepath.Join(d.Root, "rounds", "*", "checkpoints", "shard-*.log"))
	logs = append(logs, more...)
	var files uint64
	var empty []string
	for _, l := range logs {
		var n uint64
		_, _, err := checkpoint.Inspect(l, checkpoint.Visitor{
			Outcome: func(*checkpoint.Record) error { n++; return nil },
			Attempt: func(*checkpoint.Attempt) error { n++; return nil },
		})
		if err != nil {
			return badInput("%s has no manifest index, and its checkpoint %s cannot be read (%v): plan a new campaign in another directory", d.Root, l, err)
		}
		if n == 0 {
			empty = append(empty, l)
		}
		files += n
	}
	if files > 0 {
		// Not plan --update: with no round left it has nothing to top up, and says to plan.
		return badInput("%s has lost %s, but its checkpoints record %d outcomes and attempts: a new scan would not match them. Restore %s from a backup, or plan a new campaign in another directory",
			d.Root, filepath.Join("manifests", manifest.IndexFile), files, filepath.Join(d.Root, "manifests", manifest.IndexFile))
	}
	for _, l := range empty {
		if err := os.Remove(l); err != nil {
			return err
		}
	}
	return nil
}

// checkEmpty refuses a directory that holds anything but what a plan killed before it
// wrote campaign.json may have left: the plan lock and what taking or breaking it leaves
// (markers, temporary files, clock probes), a temporary campaign.json, and empty
// directories of the campaign layout (made before campaign.json by earlier releases).
func checkEmpty(d campaign.Dir) error {
	ents, err := os.ReadDir(d.Root)
	if err != nil {
		return err
	}
	for _, e := range ents {
		name := e.Name()
		switch {
		case name == "plan.lock" || checkpoint.IsLockLeftover(name, "plan.lock"):
		case durable.IsTempOf(name, campaign.SpecFile):
			if err := os.Remove(filepath.Join(d.Root, name)); err != nil {
				return err
			}
		case e.IsDir() && emptyLayoutDir(d, name):
		default:
			return badInput("%s is not empty (it holds %s) and is not a campaign; use a new directory", d.Root, name)
		}
	}
	return nil
}

// emptyLayoutDir reports whether name is an empty directory of a campaign's round 0 layout.
func emptyLayoutDir(d campaign.Dir, name string) bool {
	if !slices.Contains(d.LayoutDirs(d.Round(0)), filepath.Join(d.Root, name)) {
		return false
	}
	ents, err := os.ReadDir(filepath.Join(d.Root, name))
	return err == nil && len(ents) == 0
}

func clearManifests(dir string) error {
	ents, err := os.ReadDir(dir)
	if err != nil {
		return err
	}
	for _, e := range ents {
		if durable.IsTemp(e.Name()) || strings.HasPrefix(e.Name(), "shard-") {
			if err := os.Remove(filepath.Join(dir, e.Name())); err != nil {
				return err
			}
		}
	}
	return nil
}

func unwrapPath(err error) error {
	var pe *os.PathError
	if errors.As(err, &pe) {
		return pe.Err
	}
	return err
}

func oneLine(err error) string { return strings.ReplaceAll(err.Error(), "\n", " ") }

// NextRound builds the next round of the campaign from the latest round's pending entries
// and the failures take selects (of the latest round, and those no later round took over
// from earlier ones), which the caller has made sure no task still works on. It returns
// the round's number and index, and the campaign's status before the round; an index with
// no shards means nothing to retry (and no round is created).
func NextRound(ctx context.Context, d campaign.Dir, spec *campaign.Spec, take campaign.Takeover) (int, manifest.Index, *report.Status, error) {
	return nextRound(ctx, d, spec, take, nil)
}

// nextRound writes the next round's manifests: the latest round's pending entries and the
// failures take selects, then what more writes (if not nil), with the earlier entries more
// took over recorded in the round's supersedes file. The round is built aside and
// published whole (see StageRound); the caller holds the campaign lock
// (launch.LockCampaign).
func nextRound(ctx context.Context, d campaign.Dir, spec *campaign.Spec, take campaign.Takeover,
	more func(write func(*manifest.Entry) error) ([]manifest.Origin, error)) (int, manifest.Index, *report.Status, error) {
	rounds, err := d.Rounds()
	if err != nil {
		return 0, manifest.Index{}, nil, err
	}
	if len(rounds) == 0 {
		return 0, manifest.Index{}, nil, badInput("%s has no planned round to retry", d.Root)
	}
	next := rounds[len(rounds)-1] + 1
	rd, err := StageRound(d, next) // published whole below, or not at all
	if err != nil {
		return 0, manifest.Index{}, nil, err
	}
	defer os.RemoveAll(rd.Base) // nothing left once published
	// Before the index: a round that exists says what it took over.
	if err := campaign.SaveTakeover(rd, take); err != nil {
		return 0, manifest.Index{}, nil, err
	}
	w, err := manifest.NewWriter(manifest.WriterOptions{Dir: rd.Manifests, Campaign: spec.ID, Round: next,
		MaxFiles: spec.Work.ShardFiles, MaxBytes: spec.Work.ShardBytes})
	if err != nil {
		return 0, manifest.Index{}, nil, err
	}
	st, err := report.Collect(ctx, d, spec, report.Options{RetryPending: true, Take: &take,
		Retry: func(e manifest.Entry) error { return w.Write(&e) }})
	var taken []manifest.Origin
	if err == nil && more != nil {
		taken, err = more(w.Write)
	}
	if err == nil && len(taken) > 0 && w.Count() > 0 {
		err = manifest.WriteSupersedes(rd.Manifests, taken) // before the index publishes the round
		w.SetSupersedes(uint64(len(taken)))
	}
	if err != nil {
		w.Abort()
		return 0, manifest.Index{}, nil, err
	}
	if w.Count() == 0 {
		w.Abort()
		return next, manifest.Index{}, st, nil
	}
	idx, err := w.Close()
	if err != nil {
		return 0, manifest.Index{}, nil, err
	}
	if _, err := PublishRound(d, rd); err != nil {
		return 0, manifest.Index{}, nil, err
	}
	return next, idx, st, nil
}

// GoLive turns a dry-run campaign into a real one, reusing what the dry run found: a new
// round over the dry run's would-migrate, pending and retryable failed entries (without a
// new scan), then campaign.json rewritten (durably) without the dry-run mode. The dry
// run's would-migrate records stay in its round, which that new round supersedes, so they
// never count as done. A round made by an earlier GoLive that was killed before rewriting
// campaign.json is reused. It returns the round, its index and the campaign as rewritten.
// The caller has made sure no dry-run task still runs.
func GoLive(ctx context.Context, d campaign.Dir) (int, manifest.Index, *campaign.Spec, error) {
	var spec *campaign.Spec
	lock, err := checkpoint.AcquireLock(filepath.Join(d.Root, "plan.lock"), checkpoint.CurrentHolder(os.Getenv), checkpoint.LockOptions{})
	if err != nil {
		return 0, manifest.Index{}, nil, badInput("another plan is running: %v", err)
	}
	defer lock.Release()
	if spec, err = d.Load(); err != nil { // as it is under the lock
		return 0, manifest.Index{}, nil, err
	}
	if !spec.DryRun {
		return 0, manifest.Index{}, nil, badInput("campaign %s in %s is not a dry run (its rounds run with migrator retry)", spec.ID, d.Root)
	}
	rounds, err := d.Rounds()
	if err != nil {
		return 0, manifest.Index{}, nil, err
	}
	if len(rounds) == 0 {
		return 0, manifest.Index{}, nil, badInput("%s has no planned round (the dry run's plan did not finish; rerun it first)", d.Root)
	}
	var n int
	var idx manifest.Index
	if latest := rounds[len(rounds)-1]; latest > 0 {
		// Dry runs have no retry rounds: this one is ours, made before a kill.
		n = latest
		if idx, err = manifest.ReadIndex(d.Round(n).Manifests); err != nil {
			return 0, manifest.Index{}, nil, err
		}
	} else if n, idx, _, err = NextRound(ctx, d, spec, campaign.Takeover{Failed: campaign.DefaultFailed}); err != nil {
		return 0, manifest.Index{}, nil, err
	}
	spec.DryRun = false
	if err := d.Save(spec); err != nil {
		return 0, manifest.Index{}, nil, err
	}
	return n, idx, spec, nil
}
