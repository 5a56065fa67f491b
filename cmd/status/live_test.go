package status

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"migrator/campaign"
	"migrator/checkpoint"
	"migrator/cmd/cli"
	"migrator/distscan"
	"migrator/internal/treelfs"
	"migrator/launch"
	"migrator/planner"
	"migrator/report"
)

// treeLFS serves the test tree in-process.
type treeLFS = treelfs.LFS

// jsonView is what a script reads of status --json about the scan and the figures.
type jsonView struct {
	ScanUnfinished bool              `json:"scan_unfinished"`
	Files          report.Counts     `json:"files"`
	Remaining      map[string]uint64 `json:"source_osts_remaining"`
	Scan           *struct {
		distscan.Progress
		Next string `json:"next"`
	} `json:"scan"`
}

// status runs migrator status on the campaign, human and --json.
func status(t *testing.T, d campaign.Dir) (string, jsonView) {
	t.Helper()
	var human, js bytes.Buffer
	env := &cli.Env{Stdout: &human, Stderr: &bytes.Buffer{}, Getenv: os.Getenv}
	if err := (&Cmd{Campaign: d.Root, Shards: 40}).Run(env); err != nil {
		t.Fatalf("status: %v", err)
	}
	env.Stdout = &js
	if err := (&Cmd{Campaign: d.Root, JSON: true, Shards: 40}).Run(env); err != nil {
		t.Fatalf("status --json: %v", err)
	}
	var v jsonView
	if err := json.Unmarshal(js.Bytes(), &v); err != nil {
		t.Fatalf("status --json: %v\n%s", err, js.Bytes())
	}
	return human.String(), v
}

// What status says of a real campaign through its distributed scan (scan/plan.json, parts
// published by a task, a claim a live task holds, then the seal): until round 0 exists, no
// files bar, no percentage, no files left per OST, in the human view or in --json; the
// scan's line carries the progress; stopped, and with every unit scanned but the seal
// cancelled, the way on is launch.ContinueScan, whatever the scheduler; sealed, the figures
// come back.
func TestStatusThroughDistributedScan(t *testing.T) {
	for _, sched := range []string{"slurm", "local"} {
		t.Run(sched, func(t *testing.T) {
			root := t.TempDir()
			tree := filepath.Join(root, "fs")
			for _, dir := range []string{"a", "b", "c", "d"} {
				os.MkdirAll(filepath.Join(tree, dir), 0o755)
				for _, f := range []string{"f0", "f1"} {
					os.WriteFile(filepath.Join(tree, dir, f), []byte(dir+f), 0o644)
				}
			}
			d := campaign.Dir{Root: filepath.Join(root, "camp")}
			if err := d.Prepare(); err != nil {
				t.Fatal(err)
			}
			spec := &campaign.Spec{Format: campaign.Format, ID: "c-test", Request: campaign.Request{
				Selection: campaign.Selection{OSTs: "1", ScanPaths: []campaign.Path{campaign.Path(tree)}, Excludes: []campaign.Path{}},
				Work:      campaign.Work{ShardFiles: 4, ShardBytes: 1 << 40},
				Slurm:     campaign.Slurm{Scheduler: sched}}}
			if err := d.Save(spec); err != nil {
				t.Fatal(err)
			}
			p, err := distscan.Prepare(d, spec, distscan.Plan{Tasks: 2, Workers: 1, Then: distscan.ThenLocal, Target: 4})
			if err != nil || len(p.Units) != 4 {
				t.Fatalf("plan.json: %v, %d units; want the 4 directories", err, len(p.Units))
			}
			me := checkpoint.CurrentHolder(func(string) string { return "" })
			// Mid-scan: a live task (this process) holds unit 0, task 1 published the others.
			claim, err := checkpoint.AcquireLock(filepath.Join(distscan.Root(d), "claims", "unit-000000.lock"), me, checkpoint.LockOptions{})
			if err != nil {
				t.Fatal(err)
			}
			var st distscan.Stats
			if err := distscan.RunTask(context.Background(), treeLFS{}, d, spec, distscan.TaskOptions{Task: 1, Holder: me}, &st); err != nil {
				t.Fatal(err)
			}
			noFigures := func(when, human string, v jsonView) {
				t.Helper()
				for _, bad := range []string{"%", "handled", "OST", "files:", "planned,"} {
					if strings.Contains(human, bad) {
						t.Errorf("%s: status says %q before round 0:\n%s", when, bad, human)
					}
				}
				if !strings.Contains(human, report.ScanUnfinishedLine+"\n") {
					t.Errorf("%s: status does not say nothing is planned yet:\n%s", when, human)
				}
				if !v.ScanUnfinished || len(v.Remaining) != 0 || v.Files != (report.Counts{}) || v.Scan == nil || v.Scan.Sealed {
					t.Errorf("%s: status --json: scan_unfinished %v, source_osts_remaining %v, files %+v, scan %+v",
						when, v.ScanUnfinished, v.Remaining, v.Files, v.Scan)
				}
			}
			human, v := status(t, d)
			noFigures("mid-scan", human, v)
			if !strings.Contains(human, "scanning: 3 of 4 units done, 1 being scanned\n") || strings.Contains(human, "stopped") ||
				v.Scan.Done != 3 || v.Scan.Scanning != 1 || v.Scan.Next != "" {
				t.Errorf("mid-scan: %+v\n%s", v.Scan, human)
			}

			// Stopped: the claim released, nothing runs.
			claim.Release()
			advice := launch.ContinueScan(d)
			human, v = status(t, d)
			noFigures("stopped", human, v)
			if !strings.Contains(human, "continue it with: "+advice+"\n") || v.Scan.Next != advice {
				t.Errorf("stopped: next %q, want %q\n%s", v.Scan.Next, advice, human)
			}

			// Every unit scanned, the seal cancelled before it wrote round 0.
			if err := distscan.RunTask(context.Background(), treeLFS{}, d, spec, distscan.TaskOptions{Task: 0, Holder: me}, &st); err != nil {
				t.Fatal(err)
			}
			human, v = status(t, d)
			noFigures("seal cancelled", human, v)
			if !strings.Contains(human, "scanning: 4 of 4 units done, 0 being scanned\n") || !strings.Contains(human, "continue it with: "+advice+"\n") ||
				v.Scan.Done != 4 || v.Scan.Next != advice {
				t.Errorf("seal cancelled: %+v\n%s", v.Scan, human)
			}

			// Sealed: round 0 exists, the figures are back and the scan says so.
			if err := d.MkdirAll(d.Round(0)); err != nil { // as planner.Plan leaves it
				t.Fatal(err)
			}
			if _, err := planner.Seal(context.Background(), treeLFS{}, d, me); err != nil {
				t.Fatal(err)
			}
			human, v = status(t, d)
			if v.ScanUnfinished || v.Files.Planned != 8 || v.Files.Pending != 8 || v.Remaining["1"] != 8 || v.Scan == nil || !v.Scan.Sealed || v.Scan.Next != "" {
				t.Errorf("sealed: status --json: scan_unfinished %v, files %+v, remaining %v, scan %+v", v.ScanUnfinished, v.Files, v.Remaining, v.Scan)
			}
			for _, want := range []string{"  0.0% of 8 files handled\n", "distributed scan: sealed (4 units, 2 tasks)\n", "OST1 8"} {
				if !strings.Contains(human, want) {
					t.Errorf("sealed: status lacks %q:\n%s", want, human)
				}
			}
			if strings.Contains(human, report.ScanUnfinishedLine) {
				t.Errorf("sealed: status still says nothing is planned:\n%s", human)
			}
		})
	}
}
