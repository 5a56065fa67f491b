package launch

import (
	"context"
	"fmt"
	"path/filepath"

	"migrator/durable"
	"migrator/slurm"
	"migrator/templates"
)

// ScanScripts are the job scripts of a distributed scan (plan --scan-tasks), in the
// campaign's scan/ directory.
type ScanScripts struct{ Scan, Seal string }

// WriteScanScripts renders the scan array of tasks tasks and its seal job (built-in
// templates) and writes them durably into scanDir.
func WriteScanScripts(r Round, tasks int, scanDir string) (ScanScripts, error) {
	d := r.data()
	d.Shards = tasks
	d.Array = fmt.Sprintf("0-%d", max(tasks-1, 0))
	s := ScanScripts{Scan: filepath.Join(scanDir, "scan.sbatch"), Seal: filepath.Join(scanDir, "seal.sbatch")}
	for name, path := range map[string]string{templates.Scan: s.Scan, templates.Seal: s.Seal} {
		text, err := templates.Render("", name, d)
		if err != nil {
			return s, err
		}
		if err := durable.WriteFile(path, text, 0o700); err != nil {
			return s, err
		}
	}
	return s, nil
}

// SubmitScan submits the scan array and the seal job that runs after it whatever its
// outcome (afterany: the seal scans what failed tasks left).
func SubmitScan(ctx context.Context, c *slurm.Client, s ScanScripts) (scanID, sealID string, err error) {
	if scanID, err = c.Submit(ctx, s.Scan); err != nil {
		return "", "", fmt.Errorf("submitting the scan array: %w", err)
	}
	if sealID, err = c.Submit(ctx, s.Seal, "--dependency=afterany:"+scanID); err != nil {
		return scanID, "", fmt.Errorf("scan array %s submitted; submitting its seal job: %w", scanID, err)
	}
	return scanID, sealID, nil
}
