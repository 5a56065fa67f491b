// Package plan is "migrator plan": scan for the files to move, write the campaign's
// manifests, and submit the job array that migrates them.
package plan

import (
	"fmt"
	"path/filepath"
	"strings"
	"time"

	"migrator/cmd/cli"
)

// Cmd is "migrator plan CAMPAIGN --osts LIST --scan-path PATH ...".
type Cmd struct {
	Campaign string `arg:"" help:"Campaign directory on shared storage (created 0700; must not hold a different campaign)." type:"path"`

	OSTs     cli.OSTs `name:"osts" required:"" placeholder:"LIST" help:"OSTs to drain: indices (7), ranges (10-20), lists (1,3-5), hex (0x1a) or target names (fs1-OST000a). Leading zeros are refused (lfs reads them as octal)."`
	ScanPath []string `name:"scan-path" required:"" sep:"none" placeholder:"PATH" help:"Absolute directory to scan; repeat for several. Only files below the scan paths are touched."`
	Exclude  []string `sep:"none" placeholder:"PATH" help:"Absolute directory to leave alone, with everything below it; repeat for several. /a/foo excludes /a/foo/... but not /a/foobar."`

	MinSize cli.Size `name:"min-size" help:"Only files of at least this size (4096, 64k, 4M, 1G; powers of 1024)."`
	MaxSize cli.Size `name:"max-size" help:"Only files of at most this size."`
	UID     string   `name:"uid" placeholder:"UID" help:"Only files owned by this numeric user ID."`
	GID     string   `name:"gid" placeholder:"GID" help:"Only files of this numeric group ID."`
	Pool    string   `placeholder:"NAME" help:"Only files whose layout was created in this OST pool."`
	MTime   []string `name:"mtime" sep:"none" placeholder:"[+-]N[smhdwy]" help:"Only files modified [+-]N[smhdwy] ago, as lfs find -mtime (days by default); repeat to bound both sides."`

	StripeCount int           `name:"stripe-count" help:"Target stripe count (-1: all OSTs in the target pool). Default: keep each file's own."`
	StripeSize  cli.Size      `name:"stripe-size" help:"Target stripe size in bytes (4M, 1G). Default: keep each file's own."`
	TargetPool  string        `name:"target-pool" placeholder:"NAME" help:"OST pool to move the files into. The usual way to keep them off the drained OSTs."`
	TargetOSTs  cli.OSTs      `name:"target-osts" placeholder:"LIST" help:"Exact target OSTs (lfs migrate -o: stripe i goes to the i-th OST). Prefer --target-pool."`
	Mode        string        `enum:"nonblock,block" default:"nonblock" help:"nonblock (lfs migrate -n): skip files open for write and retry them later; block (-b): take a group lock, blocking other access during each copy. One of: ${enum}."`
	Bandwidth   int           `help:"Bandwidth limit of each lfs migrate, in MiB/s (lfs migrate -W); 0 for none."`
	Batch       int           `default:"0" help:"Files per lfs migrate call for small files (needs an explicit target layout); 0 lets work choose, 1 disables batching."`
	FileTimeout time.Duration `name:"file-timeout" default:"0s" help:"Give up on one lfs migrate after this long (0: no limit; it is retried later)."`

	ShardFiles  int      `name:"shard-files" default:"100000" help:"Most files per shard (one array task per shard)."`
	ShardBytes  cli.Size `name:"shard-bytes" default:"1T" help:"Most bytes of data per shard; a larger file gets a shard of its own."`
	ScanWorkers int      `name:"scan-workers" default:"8" help:"lfs find processes to run at once over subtrees of the scan paths."`
	Workers     int      `default:"8" help:"Concurrent lfs migrate processes in each array task."`
	LFS         string   `name:"lfs" placeholder:"PATH" env:"MIGRATOR_LFS" default:"lfs" help:"The lfs binary (a path, or a name on PATH). Recorded in the campaign, so work uses the same one."`

	Scheduler string `enum:"slurm,local" default:"slurm" help:"slurm: submit a job array and a dependent collect job; local: run the shards here, in the foreground. One of: ${enum}."`
	NoSubmit  bool   `name:"no-submit" help:"Write the campaign and job scripts, print the sbatch command, submit nothing."`
	DryRun    bool   `name:"dry-run" help:"Plan, and run tasks that check every file and record what they would migrate, changing nothing."`

	Partition     string   `help:"Slurm partition (sbatch --partition)."`
	Account       string   `help:"Slurm account (sbatch --account)."`
	QOS           string   `name:"qos" help:"Slurm QOS (sbatch --qos)."`
	Time          string   `default:"24:00:00" help:"Time limit of each array task (sbatch --time); tasks checkpoint and requeue before it ends."`
	ArrayThrottle int      `name:"array-throttle" default:"16" help:"Most array tasks running at once (the %N of --array); change it live with migrator throttle."`
	SbatchArg     []string `name:"sbatch-arg" sep:"none" placeholder:"ARG" help:"Extra sbatch option, as one argument (e.g. --sbatch-arg=--mem=2G); repeat for several."`
	TemplateDir   string   `name:"template-dir" type:"existingdir" placeholder:"DIR" help:"Directory with job.sbatch.tmpl and collect.sbatch.tmpl to use instead of the built-in templates."`
}

// Validate checks what can be checked without touching the filesystem.
func (c *Cmd) Validate() error {
	for _, p := range append(append([]string{}, c.ScanPath...), c.Exclude...) {
		if !filepath.IsAbs(p) {
			return fmt.Errorf("path %q is not absolute", p)
		}
		if strings.IndexByte(p, 0) >= 0 {
			return fmt.Errorf("path %q contains NUL", p)
		}
	}
	if c.MaxSize != 0 && c.MinSize > c.MaxSize {
		return fmt.Errorf("--min-size %d is above --max-size %d", c.MinSize, c.MaxSize)
	}
	if c.ShardFiles < 1 || c.ShardBytes < 1 || c.ScanWorkers < 1 || c.Workers < 1 || c.ArrayThrottle < 1 {
		return fmt.Errorf("--shard-files, --shard-bytes, --scan-workers, --workers and --array-throttle must be positive")
	}
	if c.Batch < 0 || c.Bandwidth < 0 || c.FileTimeout < 0 {
		return fmt.Errorf("--batch, --bandwidth and --file-timeout cannot be negative")
	}
	if c.StripeCount < -1 {
		return fmt.Errorf("--stripe-count %d: want -1 (all) or a positive count", c.StripeCount)
	}
	return nil
}

// Run plans the campaign.
func (c *Cmd) Run(env *cli.Env) error {
	return cli.ErrNotImplemented
}
