package sweep

import (
	"context"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"migrator/campaign"
	"migrator/checkpoint"
	"migrator/lfs"
	"migrator/manifest"
	"migrator/report"
)

// raceLFS is an lfs whose files are on OST 1 while the scan lists and describes them;
// those in movedLater are migrated off (by a task still running) before the sweep reads
// their outcomes.
type raceLFS struct {
	mu         sync.Mutex
	files      map[string]lfs.FID
	movedLater map[string]bool
	scanned    bool
}

func (f *raceLFS) Find(_ context.Context, roots []string, _ lfs.FindOptions, fn func(string) error) error {
	for p := range f.files {
		if campaign.UnderAny(p, roots) {
			if err := fn(p); err != nil {
				return err
			}
		}
	}
	return nil
}

// FindAmong says which files are on a source OST now: during the scan all are; after it,
// the ones moved meanwhile are not.
func (f *raceLFS) FindAmong(_ context.Context, files []string, _ lfs.FindOptions) ([]bool, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	out := make([]bool, len(files))
	for i, p := range files {
		out[i] = !(f.scanned && f.movedLater[p])
	}
	return out, nil
}

func (f *raceLFS) FileInfoOn(_ context.Context, files []string, _ lfs.OSTList) ([]lfs.FileInfoResult, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	out := make([]lfs.FileInfoResult, len(files))
	for i, p := range files {
		out[i] = lfs.FileInfoResult{OK: true, Info: lfs.FileInfo{FID: f.files[p], Nlink: 1, OSTs: []uint32{1}}}
	}
	return out, nil
}

func (f *raceLFS) FileInfoCompat(ctx context.Context, files []string, o lfs.OSTList) ([]lfs.FileInfoResult, error) {
	return f.FileInfoOn(ctx, files, o)
}

func (f *raceLFS) DFInodes(context.Context, string) ([]lfs.TargetInodes, error) { return nil, nil }

// A sweep while a round runs: a file found on a source OST and migrated by a task before
// the sweep reads its shard's checkpoint is not "recorded-done" (an alarm), it has left;
// one the records call migrated that is still there is.
func TestSweepDuringRound(t *testing.T) {
	root := t.TempDir()
	tree := filepath.Join(root, "fs")
	os.MkdirAll(tree, 0o755)
	d := campaign.Dir{Root: filepath.Join(root, "camp")}
	os.MkdirAll(d.Root, 0o700)
	spec := &campaign.Spec{Format: campaign.Format, ID: "c1", Request: campaign.Request{
		Selection: campaign.Selection{OSTs: "1", ScanPaths: []campaign.Path{campaign.Path(tree)}},
		Work:      campaign.Work{ShardFiles: 100, ShardBytes: 1 << 40},
	}}
	if err := d.Save(spec); err != nil {
		t.Fatal(err)
	}
	rd := d.Round(0)
	if err := d.MkdirAll(rd); err != nil {
		t.Fatal(err)
	}
	f := &raceLFS{files: map[string]lfs.FID{}, movedLater: map[string]bool{}}
	w, err := manifest.NewWriter(manifest.WriterOptions{Dir: rd.Manifests, Campaign: "c1", MaxFiles: 100, MaxBytes: 1 << 40})
	if err != nil {
		t.Fatal(err)
	}
	names := []string{"just-migrated", "really-left", "pending"}
	for i, n := range names {
		p := filepath.Join(tree, n)
		f.files[p] = lfs.FID{Seq: 0x200000400, Oid: uint32(i + 1)}
		os.WriteFile(p, []byte(n), 0o644)
		if err := w.Write(&manifest.Entry{Path: p, FID: f.files[p], OSTs: []uint32{1}}); err != nil {
			t.Fatal(err)
		}
	}
	f.movedLater[filepath.Join(tree, "just-migrated")] = true
	idx, err := w.Close()
	if err != nil {
		t.Fatal(err)
	}
	cw, _, err := checkpoint.OpenWriter(checkpoint.LogPath(rd.Checkpoints, 0),
		checkpoint.Header{Campaign: "c1", Round: 0, Shard: 0, Entries: 3, ShardSHA256: idx.Shards[0].SHA256},
		checkpoint.WriterOptions{}, checkpoint.Visitor{})
	if err != nil {
		t.Fatal(err)
	}
	cw.AppendRunStart(&checkpoint.RunStart{Time: time.Unix(1000, 0), Host: "node1"})
	for _, i := range []uint64{0, 1} {
		cw.Append(&checkpoint.Record{Index: i, Outcome: checkpoint.Migrated, Time: time.Unix(1001, 0)})
	}
	cw.Close()

	s, err := Run(context.Background(), &lateLFS{f}, d, spec, Options{Workers: 1, SpoolDir: t.TempDir(), NoReport: true})
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]uint64{}
	for k, v := range s.Classes {
		if v > 0 {
			got[k] = v
		}
	}
	if d := cmp.Diff(map[string]uint64{report.ClassRecordedDone: 1, report.ClassPending: 1}, got); d != "" {
		t.Errorf("classes -want +got:\n%s", d)
	}
	if s.OnSource != 2 || s.Unaccounted != 1 {
		t.Errorf("on source %d, unaccounted %d; want 2, 1", s.OnSource, s.Unaccounted)
	}
}

// lateLFS marks the end of the scan at its first call after the scan's finds: outcomes are
// read after that.
type lateLFS struct{ *raceLFS }

func (l *lateLFS) FileInfoOn(ctx context.Context, files []string, o lfs.OSTList) ([]lfs.FileInfoResult, error) {
	res, err := l.raceLFS.FileInfoOn(ctx, files, o)
	l.mu.Lock()
	l.scanned = true // the scan has described its files: a task moves some now
	l.mu.Unlock()
	return res, err
}

func (l *lateLFS) FileInfoCompat(ctx context.Context, files []string, o lfs.OSTList) ([]lfs.FileInfoResult, error) {
	return l.FileInfoOn(ctx, files, o)
}
