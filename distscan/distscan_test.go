package distscan

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"migrator/campaign"
	"migrator/checkpoint"
	"migrator/internal/treelfs"
	"migrator/lfs"
	"migrator/manifest"
)

// treeLFS serves the test tree in-process.
type treeLFS = treelfs.LFS

// setup makes a tree of 6 directories of 3 files, the last file of each hard-linked into
// the next directory, and a campaign over it with plan.json for 2 tasks.
func setup(t *testing.T) (campaign.Dir, *campaign.Spec, Plan) {
	t.Helper()
	return newCampaign(t, setupTree(t), 1)
}

// setupTree makes setup's tree and returns its root.
func setupTree(t *testing.T) string {
	t.Helper()
	tree := filepath.Join(t.TempDir(), "fs")
	for d := 0; d < 6; d++ {
		dir := filepath.Join(tree, "d"+string(rune('a'+d)))
		if err := os.MkdirAll(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		for f := 0; f < 3; f++ {
			os.WriteFile(filepath.Join(dir, "f"+string(rune('0'+f))), []byte(strings.Repeat("x", f)), 0o644)
		}
	}
	for d := 0; d < 5; d++ {
		os.Link(filepath.Join(tree, "d"+string(rune('a'+d)), "f2"), filepath.Join(tree, "d"+string(rune('a'+d+1)), "link"))
	}
	return tree
}

// newCampaign makes a campaign over tree, in a directory of its own, with plan.json for 2
// tasks of workers lfs find processes each.
func newCampaign(t *testing.T, tree string, workers int) (campaign.Dir, *campaign.Spec, Plan) {
	t.Helper()
	d := campaign.Dir{Root: filepath.Join(t.TempDir(), "camp")}
	if err := d.Prepare(); err != nil {
		t.Fatal(err)
	}
	spec := &campaign.Spec{Format: campaign.Format, ID: "c-test", Request: campaign.Request{
		Selection: campaign.Selection{OSTs: "1", ScanPaths: []campaign.Path{campaign.Path(tree)}, Excludes: []campaign.Path{}},
		Work:      campaign.Work{ShardFiles: 4, ShardBytes: 1 << 40}}}
	p, err := Prepare(d, spec, Plan{Tasks: 2, Workers: workers, Then: ThenLocal, Target: 6})
	if err != nil {
		t.Fatal(err)
	}
	return d, spec, p
}

func merged(t *testing.T, d campaign.Dir, spec *campaign.Spec) ([]manifest.Entry, MergeStats, error) {
	var all []manifest.Entry
	ms, err := Merge(d, spec, func(e *manifest.Entry) error { all = append(all, *e); return nil })
	return all, ms, err
}

func TestTasksMergeOnceEach(t *testing.T) {
	d, spec, p := setup(t)
	if len(p.Units) != 6 {
		t.Fatalf("%d units, want the 6 directories", len(p.Units))
	}
	me := checkpoint.CurrentHolder(func(string) string { return "" })
	// A live holder (this very process) claims unit 0: the tasks leave it alone.
	held, err := checkpoint.AcquireLock(claimFile(d, 0), me, checkpoint.LockOptions{})
	if err != nil {
		t.Fatal(err)
	}
	var st0, st1 Stats
	if err := RunTask(context.Background(), treeLFS{}, d, spec, TaskOptions{Task: 0, Holder: me}, &st0); err != nil {
		t.Fatal(err)
	}
	if err := RunTask(context.Background(), treeLFS{}, d, spec, TaskOptions{Task: 1, Holder: me}, &st1); err != nil {
		t.Fatal(err)
	}
	if st0.Scanned != 5 || st0.Busy != 1 || st1.Scanned != 0 || st1.Done != 5 || st1.Busy != 1 {
		t.Errorf("task 0 scanned %d, busy %d; task 1 scanned %d, done %d, busy %d: want 5 scanned by task 0 (its share and task 1's), unit 0 busy for both",
			st0.Scanned, st0.Busy, st1.Scanned, st1.Done, st1.Busy)
	}
	if _, _, err := merged(t, d, spec); !errors.Is(err, ErrIncomplete) {
		t.Fatalf("merge with unit 0 unscanned: %v, want ErrIncomplete", err)
	}
	held.Release()
	var sts Stats
	if err := RunTask(context.Background(), treeLFS{}, d, spec, TaskOptions{Task: -1, Holder: me}, &sts); err != nil || sts.Scanned != 1 {
		t.Fatalf("seal's pass: %v, %d scanned; want unit 0 scanned", err, sts.Scanned)
	}
	all, ms, err := merged(t, d, spec)
	if err != nil {
		t.Fatal(err)
	}
	// 18 files; 5 second names of hard-linked files (each in another directory's part).
	if len(all) != 18 || ms.HardLinks != 5 {
		t.Errorf("merged %d entries, %d hard-link duplicates; want 18 and 5", len(all), ms.HardLinks)
	}
	seen := map[lfs.FID]bool{}
	for _, e := range all {
		if seen[e.FID] {
			t.Errorf("FID %v twice", e.FID)
		}
		seen[e.FID] = true
	}
}

// A damaged plan.json is refused, and Prepare replaces it (with the parts scanned against it).
func TestPlanDamaged(t *testing.T) {
	d, spec, p := setup(t)
	data, _ := os.ReadFile(PlanFile(d))
	os.WriteFile(PlanFile(d), []byte(strings.Replace(string(data), `"tasks":2`, `"tasks":3`, 1)), 0o600)
	if _, err := ReadPlan(d); !errors.Is(err, campaign.ErrDamaged) {
		t.Fatalf("tampered plan.json: %v, want ErrDamaged", err)
	}
	var st Stats
	if err := RunTask(context.Background(), treeLFS{}, d, spec, TaskOptions{Task: 0}, &st); err == nil {
		t.Fatal("a task ran from a damaged plan.json")
	}
	p2, err := Prepare(d, spec, Plan{Tasks: 2, Workers: 1, Then: ThenLocal, Target: 6})
	if err != nil || p2.SHA256 != p.SHA256 {
		t.Fatalf("Prepare over a damaged plan: %v, sha %s, want %s", err, p2.SHA256, p.SHA256)
	}
}
