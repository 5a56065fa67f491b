// Package distscan runs a campaign's scan as many tasks (a Slurm array, or processes on
// one node) and merges what they found (the seal).
//
// The plan splits the scan paths into units (subtrees and batches of loose files, as
// package scan does) and writes them, with how to scan them, into scan/plan.json (durably,
// with a SHA-256 of its content). Each task then scans units, up to Plan.Workers at once:
// first its own share (unit i belongs to task i mod Tasks), then any other left undone, so
// the survivors of a dead task finish its share. A unit is claimed with a checkpoint lock
// (scan/claims/unit-N.lock): a live holder keeps the others off it, a dead one's lock goes
// stale and is broken (checkpoint.AcquireLock). A unit's result is a manifest directory of its own, written
// under a temporary name and renamed into scan/parts/unit-N when its index is written: it
// is either complete or absent, so a task killed or requeued, or run twice, never yields a
// unit twice or half. The seal scans whatever unit is still missing, then merges the parts
// in unit order, leaving out second names of hard-linked files across all parts (found with
// an external sort, in bounded memory).
package distscan

import (
	"bufio"
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync"

	"migrator/campaign"
	"migrator/checkpoint"
	"migrator/durable"
	"migrator/extsort"
	"migrator/lfs"
	"migrator/manifest"
	"migrator/scan"
)

// Format is the version of scan/plan.json.
const Format = 1

// What the seal does once the manifests are written (Plan.Then).
const (
	ThenSubmit   = "submit"    // submit the migrate array and its collect job
	ThenNoSubmit = "no-submit" // write the job scripts, print the sbatch commands
	ThenLocal    = "local"     // nothing: plan --scheduler local runs the round itself
)

// Plan is scan/plan.json: the units to scan and how.
type Plan struct {
	Format    int    `json:"format"`
	Campaign  string `json:"campaign"`
	Tasks     int    `json:"tasks"`
	Workers   int    `json:"workers"`           // lfs find processes at once in each task
	Threads   int    `json:"threads,omitempty"` // lfs find --threads
	NoPrintf  bool   `json:"no_printf,omitempty"`
	Then      string `json:"then"`
	MaxShards int    `json:"max_shards,omitempty"` // Slurm's MaxArraySize, for the seal
	// Target is how many units to aim for (default 16 per lfs find process of all tasks).
	Target int    `json:"target,omitempty"`
	Units  []Unit `json:"units"`
	// SHA256 is the hex SHA-256 of the compact JSON encoding with this field empty.
	SHA256 string `json:"sha256"`
}

// Unit is a subtree (Dir) or a batch of loose files (Files). Paths are any bytes
// (campaign.Path escapes what is not UTF-8).
type Unit struct {
	Dir   campaign.Path   `json:"dir,omitempty"`
	Files []campaign.Path `json:"files,omitempty"`
}

func (p Plan) checksum() (string, error) {
	p.SHA256 = ""
	return durable.JSONSum(p)
}

// Layout of a distributed scan in the campaign directory.

// Root is the scan directory of the campaign in d.
func Root(d campaign.Dir) string { return filepath.Join(d.Root, "scan") }

// PlanFile is scan/plan.json.
func PlanFile(d campaign.Dir) string { return filepath.Join(Root(d), "plan.json") }

func partsDir(d campaign.Dir) string  { return filepath.Join(Root(d), "parts") }
func claimsDir(d campaign.Dir) string { return filepath.Join(Root(d), "claims") }

// PartDir is where unit k's manifest lands when it is complete.
func PartDir(d campaign.Dir, k int) string {
	return filepath.Join(partsDir(d), fmt.Sprintf("unit-%06d", k))
}

func claimFile(d campaign.Dir, k int) string {
	return filepath.Join(claimsDir(d), fmt.Sprintf("unit-%06d.lock", k))
}

// FindOptions are the lfs find options of the campaign's selection (as planner uses).
func FindOptions(sel campaign.Selection, threads int) lfs.FindOptions {
	find := lfs.FindOptions{OSTs: sel.SourceOSTs(), UID: sel.UID, GID: sel.GID, Pool: sel.Pool, MTime: sel.MTime,
		Threads: threads}
	if sel.MinSize > 0 {
		find.Size = append(find.Size, fmt.Sprintf("+%dc", sel.MinSize-1))
	}
	if sel.MaxSize > 0 {
		find.Size = append(find.Size, fmt.Sprintf("-%dc", sel.MaxSize+1))
	}
	return find
}

// Prepare writes scan/plan.json for spec, splitting its scan paths into about 16 units per
// lfs find process of all tasks. A valid plan.json of the same campaign already there is
// kept as it is (with the parts already scanned against it); a damaged one is replaced and
// the parts and claims removed. The caller holds the plan lock.
func Prepare(d campaign.Dir, spec *campaign.Spec, p Plan) (Plan, error) {
	if old, err := ReadPlan(d); err == nil && old.Campaign == spec.ID {
		return old, nil
	}
	if err := os.RemoveAll(Root(d)); err != nil {
		return Plan{}, err
	}
	sel := spec.Selection
	if p.Target < 1 {
		p.Target = 16 * p.Tasks * max(p.Workers, 1)
	}
	units, err := scan.Split(campaign.Strings(sel.ScanPaths), campaign.Strings(sel.Excludes), p.Target, 512)
	if err != nil {
		return Plan{}, err
	}
	p.Format, p.Campaign = Format, spec.ID
	p.Units = make([]Unit, len(units))
	for i, u := range units {
		p.Units[i] = Unit{Dir: campaign.Path(u.Dir), Files: campaign.Paths(u.Files)}
		if u.Files == nil {
			p.Units[i].Files = nil
		}
	}
	if p.SHA256, err = p.checksum(); err != nil {
		return Plan{}, err
	}
	data, err := json.Marshal(p)
	if err != nil {
		return Plan{}, err
	}
	for _, dir := range []string{partsDir(d), claimsDir(d)} {
		if err := durable.MkdirAll(dir, 0o700); err != nil {
			return Plan{}, err
		}
	}
	if err := durable.WriteFile(PlanFile(d), append(data, '\n'), 0o600); err != nil {
		return Plan{}, err
	}
	return p, nil
}

// ReadPlan reads and checks scan/plan.json.
func ReadPlan(d campaign.Dir) (Plan, error) {
	path := PlanFile(d)
	data, err := os.ReadFile(path)
	if err != nil {
		return Plan{}, err
	}
	var p Plan
	if err := json.Unmarshal(data, &p); err != nil {
		return Plan{}, fmt.Errorf("%s: %w: %v", path, campaign.ErrDamaged, err)
	}
	sum, err := p.checksum()
	if err != nil {
		return Plan{}, err
	}
	if p.Format != Format || sum != p.SHA256 || p.Tasks < 1 {
		return Plan{}, fmt.Errorf("%s: %w: format %d, checksum %s, recorded %s", path, campaign.ErrDamaged, p.Format, sum, p.SHA256)
	}
	return p, nil
}

// Stats count a task's units. Scanned, Done and Busy are final once RunTask returns; the
// Scan counters (atomic) may be read at any time.
type Stats struct {
	Scan    scan.Stats // of the units this task scanned and published
	Scanned int        // units this task scanned
	Done    int        // units found already done
	Busy    int        // units another live task holds
}

// TaskOptions say which units a task takes.
type TaskOptions struct {
	Task int // 0..Tasks-1; -1 takes every unit (the seal)
	// Holder describes this process in the claims it takes.
	Holder checkpoint.LockInfo
	Lock   checkpoint.LockOptions
}

// RunTask scans the units of task o.Task that are not done, then every other unit not
// done, each under its claim, up to plan.json's Workers units at once (one lfs find each;
// a plan of a version without Workers scans one at a time). A unit is claimed only when a
// worker is free to scan it, in that order, so the claims a task holds are the units it is
// scanning. A unit another live task holds is left to it (Stats.Busy). A cancelled ctx
// starts no new unit and drops those in progress; the first unit that fails does the same,
// and its error, naming the unit, is returned. Either way the units stopped leave no part.
func RunTask(ctx context.Context, l scan.LFS, d campaign.Dir, spec *campaign.Spec, o TaskOptions, st *Stats) error {
	p, err := ReadPlan(d)
	if err != nil {
		return err
	}
	if p.Campaign != spec.ID {
		return fmt.Errorf("%s belongs to campaign %s, not %s", PlanFile(d), p.Campaign, spec.ID)
	}
	order := make([]int, 0, len(p.Units))
	if o.Task >= 0 {
		for k := range p.Units {
			if k%p.Tasks == o.Task%p.Tasks {
				order = append(order, k)
			}
		}
	}
	for k := range p.Units {
		if o.Task < 0 || k%p.Tasks != o.Task%p.Tasks {
			order = append(order, k)
		}
	}
	stop, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	var (
		mu    sync.Mutex // guards st's counts and first
		first error      // of the first unit that failed
		wg    sync.WaitGroup
	)
	count := func(n *int) { mu.Lock(); *n++; mu.Unlock() }
	free := make(chan struct{}, max(p.Workers, 1)) // a token per unit being scanned
claiming:
	for _, k := range order {
		if stop.Err() != nil {
			break
		}
		if Done(d, k) {
			count(&st.Done)
			continue
		}
		select { // wait for a worker before claiming
		case free <- struct{}{}:
		case <-stop.Done():
			break claiming
		}
		if stop.Err() != nil {
			<-free
			break
		}
		lock, err := checkpoint.AcquireLock(claimFile(d, k), o.Holder, o.Lock)
		if errors.Is(err, checkpoint.ErrLocked) {
			<-free
			count(&st.Busy)
			continue
		}
		if err != nil {
			<-free
			mu.Lock()
			if first == nil {
				first = fmt.Errorf("claiming unit %d: %w", k, err)
				cancel(first)
			}
			mu.Unlock()
			break
		}
		if stop.Err() != nil { // stopped while we waited for the claim
			lock.Release()
			<-free
			break
		}
		if Done(d, k) { // finished by another task since we looked
			lock.Release()
			<-free
			count(&st.Done)
			continue
		}
		wg.Add(1)
		go func(k int) {
			defer wg.Done()
			defer func() { <-free }()
			var us scan.Stats // scan.Run sets its Units: one per unit, summed below
			err := scanUnit(stop, l, d, spec, p, k, lock, &us)
			lock.Release()
			mu.Lock()
			defer mu.Unlock()
			if err != nil {
				if first == nil {
					first = fmt.Errorf("unit %d (%s): %w", k, p.Units[k].describe(), err)
					cancel(first)
				}
				return
			}
			st.Scanned++
			st.Scan.Add(&us)
		}(k)
	}
	wg.Wait()
	if first != nil {
		return first
	}
	return ctx.Err()
}

func (u Unit) describe() string {
	if u.Dir != "" {
		return fmt.Sprintf("%q", string(u.Dir))
	}
	if len(u.Files) == 0 {
		return "no files"
	}
	return fmt.Sprintf("%d files in %q", len(u.Files), filepath.Dir(string(u.Files[0])))
}

// Done reports whether unit k's part is published.
func Done(d campaign.Dir, k int) bool {
	_, err := os.Stat(filepath.Join(PartDir(d, k), manifest.IndexFile))
	return err == nil
}

// scanUnit scans unit k into a manifest directory under a temporary name and renames it
// into place once its index is written, unless the claim was lost meanwhile.
func scanUnit(ctx context.Context, l scan.LFS, d campaign.Dir, spec *campaign.Spec, p Plan, k int, lock *checkpoint.Lock, st *scan.Stats) error {
	tmp, err := durable.MkdirTemp(partsDir(d), durable.TempPrefix+fmt.Sprintf("unit-%06d.", k))
	if err != nil {
		return err
	}
	defer os.RemoveAll(tmp) // gone once renamed
	w, err := manifest.NewWriter(manifest.WriterOptions{Dir: tmp, Campaign: spec.ID, Round: 0,
		MaxFiles: manifest.MaxShardFiles, MaxBytes: ^uint64(0)})
	if err != nil {
		return err
	}
	u := p.Units[k]
	sel := spec.Selection
	err = scan.Run(ctx, l, scan.Options{
		Given:    []scan.Unit{{Dir: string(u.Dir), Files: campaign.Strings(u.Files)}},
		Excludes: campaign.Strings(sel.Excludes), Find: FindOptions(sel, p.Threads),
		Workers: 1, NoPrintf: p.NoPrintf, SpoolDir: tmp,
	}, st, func(batch []manifest.Entry) error {
		for i := range batch {
			if err := w.Write(&batch[i]); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		w.Abort()
		return err
	}
	if _, err := w.Close(); err != nil {
		return err
	}
	if err := lock.Check(); err != nil { // taken for dead: the new holder publishes
		return err
	}
	final := PartDir(d, k)
	if err := os.Rename(tmp, final); err != nil {
		if Done(d, k) {
			return nil // published by a task that broke our claim
		}
		return err
	}
	return durable.SyncDir(partsDir(d))
}

// ErrIncomplete is matched by Merge when a unit has no part.
var ErrIncomplete = errors.New("distributed scan incomplete")

// MergeStats are what Merge found.
type MergeStats struct {
	Entries   uint64
	HardLinks uint64 // second names of hard-linked files across parts, left out
}

// Merge reads every unit's part, in unit order, checking each part's index and shards
// (SHA-256), and writes each entry once: of the names of a hard-linked file (one FID) found
// in several parts, the first in unit order. Memory is bounded whatever the number of
// hard-linked files: a first pass sorts their (FID, unit, position) with an external sort
// (package extsort, spilling into scan/), which yields the positions of the second names,
// sorted, into a temporary file; the second pass reads the parts again and skips those.
// Temporary parts left by killed tasks are removed first.
func Merge(d campaign.Dir, spec *campaign.Spec, write func(*manifest.Entry) error) (MergeStats, error) {
	var ms MergeStats
	p, err := ReadPlan(d)
	if err != nil {
		return ms, err
	}
	if err := removeTemps(partsDir(d)); err != nil {
		return ms, err
	}
	// Pass 1: every hard-linked entry's FID and position, sorted by FID then position.
	links := extsort.New(Root(d), 0)
	defer links.Close()
	var rec [28]byte
	err = eachEntry(d, spec, p, func(k int, i uint64, e *manifest.Entry) error {
		if e.Nlink <= 1 {
			return nil
		}
		binary.BigEndian.PutUint64(rec[0:], e.FID.Seq)
		binary.BigEndian.PutUint32(rec[8:], e.FID.Oid)
		binary.BigEndian.PutUint32(rec[12:], e.FID.Ver)
		binary.BigEndian.PutUint32(rec[16:], uint32(k))
		binary.BigEndian.PutUint64(rec[20:], i)
		return links.Add(rec[:])
	})
	if err != nil {
		return ms, err
	}
	// The second and later names of each FID, sorted by position.
	dups := extsort.New(Root(d), 0)
	defer dups.Close()
	var last [16]byte
	first := true
	err = links.Sort(func(r []byte) error {
		if !first && bytes.Equal(r[:16], last[:]) {
			return dups.Add(r[16:28])
		}
		first = false
		copy(last[:], r[:16])
		return nil
	})
	if err != nil {
		return ms, err
	}
	f, err := os.CreateTemp(Root(d), durable.TempPrefix+"dups-")
	if err != nil {
		return ms, err
	}
	defer os.Remove(f.Name())
	defer f.Close()
	bw := bufio.NewWriter(f)
	if err := dups.Sort(func(r []byte) error { _, err := bw.Write(r); return err }); err != nil {
		return ms, err
	}
	if err := bw.Flush(); err != nil {
		return ms, err
	}
	if _, err := f.Seek(0, io.SeekStart); err != nil {
		return ms, err
	}
	br := bufio.NewReader(f)
	var next [12]byte
	more := func() bool { _, err := io.ReadFull(br, next[:]); return err == nil }
	have := more()
	// Pass 2: everything but the second names.
	err = eachEntry(d, spec, p, func(k int, i uint64, e *manifest.Entry) error {
		if have && binary.BigEndian.Uint32(next[0:]) == uint32(k) && binary.BigEndian.Uint64(next[4:]) == i {
			ms.HardLinks++
			have = more()
			return nil
		}
		ms.Entries++
		return write(e)
	})
	return ms, err
}

// eachEntry calls fn with every entry of every part, in unit order, with its unit and its
// position in the part.
func eachEntry(d campaign.Dir, spec *campaign.Spec, p Plan, fn func(k int, i uint64, e *manifest.Entry) error) error {
	for k := range p.Units {
		dir := PartDir(d, k)
		idx, err := manifest.ReadIndex(dir)
		if errors.Is(err, os.ErrNotExist) {
			return fmt.Errorf("%w: unit %d (%s) has no part yet", ErrIncomplete, k, p.Units[k].describe())
		}
		if err != nil {
			return err
		}
		if idx.Campaign != spec.ID {
			return fmt.Errorf("%s belongs to campaign %s, not %s", dir, idx.Campaign, spec.ID)
		}
		var i uint64
		for _, s := range idx.Shards {
			r, err := manifest.OpenIndexed(dir, s)
			if err != nil {
				return err
			}
			var e manifest.Entry
			for {
				if err = r.Next(&e); err != nil {
					break
				}
				if err = fn(k, i, &e); err != nil {
					break
				}
				i++
			}
			r.Close()
			if err != io.EOF {
				return err
			}
		}
	}
	return nil
}

func removeTemps(dir string) error {
	ents, err := os.ReadDir(dir)
	if err != nil {
		return err
	}
	for _, e := range ents {
		if strings.HasPrefix(e.Name(), durable.TempPrefix) {
			if err := os.RemoveAll(filepath.Join(dir, e.Name())); err != nil {
				return err
			}
		}
	}
	return nil
}

// Progress is how far a distributed scan has got, from its files: what status shows.
type Progress struct {
	Tasks int `json:"tasks"`
	Units int `json:"units"`
	Done  int `json:"done"` // units whose part is published
	// Scanning are the units a live task holds the claim of; Stale the claims left by a
	// task that died (a node lost, a kill -9): the next task to reach the unit, or the
	// seal, breaks such a claim and scans the unit again from the start.
	Scanning int  `json:"scanning"`
	Stale    int  `json:"stale_claims,omitempty"`
	Sealed   bool `json:"sealed"` // round 0's index is written: the scan is over
}

// ReadProgress reads the progress of the distributed scan of the campaign in d. It
// returns an error matching os.ErrNotExist when the campaign has no distributed scan.
func ReadProgress(d campaign.Dir) (Progress, error) {
	p, err := ReadPlan(d)
	if err != nil {
		return Progress{}, err
	}
	pr := Progress{Tasks: p.Tasks, Units: len(p.Units)}
	_, err = os.Stat(filepath.Join(d.Round(0).Manifests, manifest.IndexFile))
	pr.Sealed = err == nil
	for k := range p.Units {
		if Done(d, k) {
			pr.Done++
			continue
		}
		info, age, err := checkpoint.ReadLock(claimFile(d, k))
		switch {
		case err != nil: // unclaimed
		case checkpoint.HolderGone(info, age):
			pr.Stale++
		default:
			pr.Scanning++
		}
	}
	return pr, nil
}
