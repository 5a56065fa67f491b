package launch

import (
	"context"
	"fmt"
	"io"
	"path/filepath"
	"strconv"
	"sync"
	"time"

	"migrator/campaign"
	"migrator/durable"
	"migrator/slurm"
	"migrator/templates"
)

// ScanScripts are the job scripts of a distributed scan (plan --scan-tasks), in the
// campaign's scan/ directory.
type ScanScripts struct{ Scan, Seal string }

// ScanScript renders template name (templates.Scan or templates.Seal) for a scan of tasks
// tasks: from the campaign's snapshot of a --template-dir if it holds it, else built in.
func ScanScript(r Round, tasks int, name string) ([]byte, error) {
	d := r.data()
	d.Shards = tasks
	d.Array = fmt.Sprintf("0-%d", max(tasks-1, 0))
	return templates.RenderSet(r.Spec.Slurm.Templates, name, d)
}

// WriteScanScripts renders the scan array of tasks tasks and its seal job and writes them
// durably into scanDir.
func WriteScanScripts(r Round, tasks int, scanDir string) (ScanScripts, error) {
	if err := CheckExe(r.Exe); err != nil {
		return ScanScripts{}, err
	}
	s := ScanScripts{Scan: filepath.Join(scanDir, "scan.sbatch"), Seal: filepath.Join(scanDir, "seal.sbatch")}
	for _, f := range []struct{ name, path string }{{templates.Scan, s.Scan}, {templates.Seal, s.Seal}} {
		text, err := ScanScript(r, tasks, f.name)
		if err != nil {
			return s, err
		}
		if err := durable.WriteFile(f.path, text, 0o700); err != nil {
			return s, err
		}
	}
	return s, nil
}

// SubmitScan submits the scan array and the seal job that runs after it whatever its
// outcome (afterany: the seal scans what failed tasks left), and records both in
// submissions.jsonl (kinds campaign.KindScan and campaign.KindSeal, round 0), so that
// status sees them and pause, resume, cancel and throttle act on them.
func SubmitScan(ctx context.Context, c *slurm.Client, r Round, tasks int, s ScanScripts) (scanID, sealID string, err error) {
	if scanID, err = c.Submit(ctx, s.Scan); err != nil {
		return "", "", fmt.Errorf("submitting the scan array: %w", err)
	}
	if err := r.Dir.AppendSubmission(campaign.Submission{Time: time.Now().UTC(), Round: 0, Kind: campaign.KindScan,
		JobID: scanID, Array: fmt.Sprintf("0-%d", max(tasks-1, 0)), Shards: tasks, Script: s.Scan, By: r.By}); err != nil {
		return scanID, "", fmt.Errorf("scan array %s submitted, but recording it failed: %w", scanID, err)
	}
	dep := "afterany:" + scanID
	if sealID, err = c.Submit(ctx, s.Seal, "--dependency="+dep); err != nil {
		return scanID, "", fmt.Errorf("scan array %s submitted; submitting its seal job: %w", scanID, err)
	}
	if err := r.Dir.AppendSubmission(campaign.Submission{Time: time.Now().UTC(), Round: 0, Kind: campaign.KindSeal,
		JobID: sealID, Depend: dep, Script: s.Seal, By: r.By}); err != nil {
		return scanID, sealID, fmt.Errorf("seal job %s submitted, but recording it failed: %w", sealID, err)
	}
	return scanID, sealID, nil
}

// QueuedScan lists the campaign's scan arrays and seal jobs that Slurm still has queued
// or running: the recorded ones, and any found by name that a plan killed between sbatch
// and its record left behind (Round campaign.RoundUnrecorded).
func QueuedScan(ctx context.Context, sc *slurm.Client, d campaign.Dir, spec *campaign.Spec, subs []campaign.Submission) ([]campaign.Submission, error) {
	extra, err := Unrecorded(ctx, sc, d, spec, subs)
	if err != nil {
		return nil, err
	}
	var scan []campaign.Submission
	var ids []string
	for _, s := range append(append([]campaign.Submission{}, subs...), extra...) {
		if s.Kind == campaign.KindScan || s.Kind == campaign.KindSeal {
			scan = append(scan, s)
			ids = append(ids, s.JobID)
		}
	}
	tasks, err := sc.Tasks(ctx, ids...)
	if err != nil {
		return nil, err
	}
	in := map[string]bool{}
	for _, t := range tasks {
		in[t.ArrayJobID] = true
	}
	var out []campaign.Submission
	seen := map[string]bool{}
	for _, s := range scan {
		if in[s.JobID] && !seen[s.JobID] {
			seen[s.JobID] = true
			out = append(out, s)
		}
	}
	return out, nil
}

// ResumeScan submits the scan array and seal job of a distributed scan that is not sealed
// yet, unless Slurm still holds one of the campaign's (then it returns that job, and
// submits nothing). A scan resubmitted after a cancel rescans no finished unit: the new
// tasks find their parts published and skip them (package distscan).
func ResumeScan(ctx context.Context, sc *slurm.Client, r Round, tasks int, out io.Writer) (scanID, sealID string, err error) {
	subs, err := r.Dir.Submissions()
	if err != nil {
		return "", "", err
	}
	queued, err := QueuedScan(ctx, sc, r.Dir, r.Spec, subs)
	if err != nil {
		return "", "", fmt.Errorf("asking Slurm whether the campaign's scan is still queued: %w", err)
	}
	if len(queued) > 0 {
		q := queued[0]
		fmt.Fprintf(out, "the scan is already submitted: %s job %s is queued or running; see migrator status %s\n", q.Kind, q.JobID, r.Dir.Root)
		if q.Kind == campaign.KindScan {
			return q.JobID, "", nil
		}
		return "", q.JobID, nil
	}
	scripts, err := WriteScanScripts(r, tasks, filepath.Join(r.Dir.Root, "scan"))
	if err != nil {
		return "", "", err
	}
	return SubmitScan(ctx, sc, r, tasks, scripts)
}

// LocalScanTasks runs the tasks scan tasks of a distributed scan here ("migrator
// scan-task", each a process of its own with its output in logs/scan-local-K.out), all at
// once, and waits for them. Cancelling ctx sends each one SIGTERM: it stops, releasing its
// claim, and what it scanned stays. A task that fails is reported on warn: the seal scans
// what it left.
func LocalScanTasks(ctx context.Context, r Round, tasks int, warn io.Writer) error {
	if err := CheckExe(r.Exe); err != nil {
		return err
	}
	if err := durable.MkdirAll(r.Dir.Logs(), 0o700); err != nil {
		return err
	}
	var wg sync.WaitGroup
	for k := 0; k < tasks; k++ {
		wg.Add(1)
		go func(k int) {
			defer wg.Done()
			name := fmt.Sprintf("scan-local-%d.out", k)
			code, err := runLogged(ctx, nil, r, name, "scan-task", r.Dir.Root, "--task", strconv.Itoa(k))
			if err == nil && code != 0 {
				err = fmt.Errorf("exit %d: %s", code, lastLine(filepath.Join(r.Dir.Logs(), name)))
			}
			if err != nil && ctx.Err() == nil {
				fmt.Fprintf(warn, "warning: scan task %d: %v (see %s)\n", k, err, filepath.Join(r.Dir.Logs(), name))
			}
		}(k)
	}
	wg.Wait()
	return ctx.Err()
}

// ContinueScan is the one advice every command gives for a distributed scan that is not
// sealed and that nothing runs or waits for (cancelled, its seal cancelled, stopped by
// Ctrl-C, its jobs lost): migrator retry CAMPAIGN. retry continues it with the campaign's
// own scheduler (a new scan array and seal job on Slurm; for a campaign planned with
// --scheduler local, the scan tasks, the seal and round 0 run here), keeping every unit
// already scanned, and starts no second scan while one of the campaign's scan or seal jobs
// is still queued.
func ContinueScan(d campaign.Dir) string { return "migrator retry " + d.Root }
