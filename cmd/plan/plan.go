// Package plan is "migrator plan": scan for the files to move, write the campaign's
// manifests, and submit the job array that migrates them.
package plan

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"
	"unicode/utf8"

	"github.com/dustin/go-humanize"

	"migrator/campaign"
	"migrator/checkpoint"
	"migrator/cmd/cli"
	"migrator/distscan"
	"migrator/launch"
	"migrator/lfs"
	"migrator/manifest"
	"migrator/metrics"
	"migrator/planner"
	"migrator/progress"
	"migrator/scan"
	"migrator/slurm"
	"migrator/templates"
)

// Cmd is "migrator plan CAMPAIGN --osts LIST --scan-path PATH ...".
type Cmd struct {
	Campaign string `arg:"" help:"Campaign directory on shared storage (created 0700; must not hold a different campaign)." type:"path"`

	OSTs     cli.OSTs `name:"osts" placeholder:"LIST" help:"OSTs to drain (required, except with --go or --update): indices (7), ranges (10-20), lists (1,3-5), hex (0x1a) or target names (fs1-OST000a). Leading zeros are refused (lfs reads them as octal)."`
	ScanPath []string `name:"scan-path" sep:"none" placeholder:"PATH" help:"Absolute directory to scan (required, except with --go or --update); repeat for several. Only files below the scan paths are touched."`
	Exclude  []string `sep:"none" placeholder:"PATH" help:"Absolute directory to leave alone, with everything below it; repeat for several. /a/foo excludes /a/foo/... but not /a/foobar."`

	MinSize cli.Size `name:"min-size" help:"Only files of at least this size (4096, 64k, 4M, 100MB, 1G; powers of 1024)."`
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
	MaxAttempts int           `name:"max-attempts" default:"5" help:"Tries for a busy or changing file (lfs migrate EBUSY/EAGAIN) within a task, with growing waits, before it is recorded as failed (retryable)."`
	ErrorStreak int           `name:"max-error-streak" default:"50" help:"Stop a task (exit 4) after this many failures in a row with the same errno on distinct files, in one run (a filesystem that went away); failures a retry round repeats do not count. 0: never."`

	ShardFiles  int      `name:"shard-files" default:"100000" help:"Most files per shard (one array task per shard)."`
	ShardBytes  cli.Size `name:"shard-bytes" default:"1T" help:"Most bytes of data per shard; a larger file gets a shard of its own."`
	ScanTasks   int      `name:"scan-tasks" placeholder:"N" help:"Scan as N tasks: a Slurm array of N scan tasks and a seal job after it that merges their parts and submits the round (with --scheduler local, N scan processes here). 0: plan scans itself."`
	ScanWorkers int      `name:"scan-workers" default:"8" help:"lfs find processes to run at once over subtrees of the scan paths (in each scan task, with --scan-tasks)."`
	FindThreads int      `name:"find-threads" default:"0" help:"Threads of each lfs find (lfs find --threads, Lustre 2.17+); 0 leaves it to lfs, which on 2.17+ runs min(4 x MDTs, CPUs/2), at least 4. Ignored with a warning on older clients."`
	Workers     int      `default:"8" help:"Concurrent lfs migrate processes in each array task."`
	LFS         string   `name:"lfs" placeholder:"PATH" env:"MIGRATOR_LFS" default:"lfs" help:"The lfs binary (a path, or a name on PATH). Recorded in the campaign, so work uses the same one."`

	Scheduler string `enum:"slurm,local" default:"slurm" help:"slurm: submit a job array and a dependent collect job; local: run the shards here, in the foreground. One of: ${enum}."`
	NoSubmit  bool   `name:"no-submit" help:"Write the campaign and job scripts, print the sbatch command, submit nothing."`
	Emit      bool   `name:"emit-script" help:"Like --no-submit, but write the array job script to stdout (everything else goes to stderr), for: migrator plan ... --emit-script | sbatch"`
	DryRun    bool   `name:"dry-run" help:"Plan, and run tasks that check every file and record what they would migrate, changing nothing."`

	Go       bool          `name:"go" help:"Make a planned dry run real: a new round over what it would migrate (no new scan), campaign.json rewritten without the dry-run mode, then submitted or run like a plan. Takes every setting from campaign.json."`
	Progress time.Duration `default:"30s" help:"With --scheduler local: interval of the progress lines when stderr is not a terminal (on one, a live bar)."`

	Partition     string   `help:"Slurm partition (sbatch --partition)."`
	Account       string   `help:"Slurm account (sbatch --account)."`
	QOS           string   `name:"qos" help:"Slurm QOS (sbatch --qos)."`
	Time          string   `default:"24:00:00" help:"Time limit of each array task (sbatch --time); tasks checkpoint and requeue before it ends."`
	ArrayThrottle int      `name:"array-throttle" default:"16" help:"Most array tasks running at once (the %N of --array); change it live with migrator throttle."`
	SbatchArg     []string `name:"sbatch-arg" sep:"none" placeholder:"ARG" help:"Extra sbatch option, as one argument (e.g. --sbatch-arg=--mem=2G); repeat for several."`
	CPUsPerTask   int      `name:"cpus-per-task" placeholder:"N" help:"CPUs of each array task (sbatch --cpus-per-task). Default: one per --workers."`
	Mem           cli.Size `name:"mem" placeholder:"SIZE" help:"Memory of each array task (sbatch --mem; 2G, 1500M). Default: 128 MiB plus 80 MiB per --workers (each lfs migrate holds a 64 MiB copy buffer)."`
	TextfileDir   string   `name:"textfile-dir" type:"path" placeholder:"DIR" help:"node_exporter's textfile collector directory: running tasks rewrite DIR/migrator-<campaign>.prom (Prometheus metrics, mode 0644) every 30 s (spaced out on campaigns where a collect takes seconds). Kept in the campaign; a rerun of plan with it changes it."`
	TemplateDir   string   `name:"template-dir" type:"existingdir" placeholder:"DIR" help:"Directory with job.sbatch.tmpl and collect.sbatch.tmpl (and, optionally, scan.sbatch.tmpl and seal.sbatch.tmpl for --scan-tasks) to use instead of the built-in templates."`

	Update bool   `name:"update" help:"Top up a planned campaign: sweep its scan paths and make a new round of every file still on a source OST that no round will handle (new files, missed files, earlier failures), with the campaign's own selection and settings. Takes only --scheduler, --no-submit, --emit-script and --scan-workers."`
	Group  string `placeholder:"GROUP" help:"Make the campaign readable by this group (name or GID): directories 2750, files 0640, writable only by you."`
}

// Validate checks what can be checked without touching the filesystem.
func (c *Cmd) Validate() error {
	if c.ScanTasks < 0 || (c.ScanTasks > 0 && (c.Go || c.Update)) {
		return fmt.Errorf("--scan-tasks %d: want a positive count of scan tasks, for a new plan only", c.ScanTasks)
	}
	if c.ScanTasks > 0 && c.Emit {
		return fmt.Errorf("--emit-script with --scan-tasks: the round's job script exists only once the distributed scan is sealed; use --no-submit (the scan's scripts are written, nothing is submitted) and start the scan with migrator retry CAMPAIGN")
	}
	if c.Go && c.Update {
		return fmt.Errorf("--go and --update are separate steps: make the dry run real with --go first, then top it up with --update")
	}
	if c.Update {
		return c.validateUpdate()
	}
	if c.Go {
		if c.DryRun {
			return fmt.Errorf("--go makes a dry run real: it cannot be a dry run itself")
		}
	} else if len(c.OSTs.OSTList) == 0 || len(c.ScanPath) == 0 {
		return fmt.Errorf("missing flags: --osts and --scan-path are required (or --go, to make a dry run real, or --update, to top up a planned campaign)")
	}
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
	if c.ShardFiles > manifest.MaxShardFiles {
		return fmt.Errorf("--shard-files %d: at most %d", c.ShardFiles, manifest.MaxShardFiles)
	}
	if c.FindThreads < 0 {
		return fmt.Errorf("--find-threads %d: want 0 (lfs decides) or a positive count", c.FindThreads)
	}
	if c.ErrorStreak < 0 {
		return fmt.Errorf("--max-error-streak %d: want a count, or 0 for no limit", c.ErrorStreak)
	}
	if c.Batch < 0 || c.Bandwidth < 0 || c.FileTimeout < 0 || c.MaxAttempts < 1 {
		return fmt.Errorf("--batch, --bandwidth and --file-timeout cannot be negative, --max-attempts must be positive")
	}
	if err := launch.CheckSlurmTime(c.Time); err != nil {
		return err
	}
	if c.Group != "" {
		if _, err := campaign.LookupGroup(c.Group); err != nil {
			return err
		}
	}
	if c.CPUsPerTask < 0 {
		return fmt.Errorf("--cpus-per-task %d: want a positive count (0: one per worker)", c.CPUsPerTask)
	}
	if c.StripeCount < -1 {
		return fmt.Errorf("--stripe-count %d: want -1 (all) or a positive count", c.StripeCount)
	}
	return nil
}

// request is what was asked, as campaign.json records it.
func (c *Cmd) request() campaign.Request {
	lfsPath := c.LFS
	if strings.Contains(lfsPath, "/") {
		if abs, err := filepath.Abs(lfsPath); err == nil {
			lfsPath = abs // tasks run elsewhere (--chdir): keep a path that works there
		}
	}
	r := campaign.Request{
		Selection: campaign.Selection{OSTs: c.OSTs.String(), ScanPaths: campaign.Paths(cleanAll(c.ScanPath)),
			Excludes: campaign.Paths(cleanAll(c.Exclude)), MinSize: uint64(c.MinSize), MaxSize: uint64(c.MaxSize),
			UID: c.UID, GID: c.GID, Pool: c.Pool, MTime: c.MTime},
		Target: campaign.Target{StripeCount: c.StripeCount, StripeSize: uint64(c.StripeSize), Pool: c.TargetPool,
			Mode: c.Mode, BandwidthMB: c.Bandwidth},
		Work: campaign.Work{Workers: c.Workers, Batch: c.Batch, FileTimeout: campaign.Duration(c.FileTimeout), MaxAttempts: c.MaxAttempts,
			ShardFiles: uint64(c.ShardFiles), ShardBytes: uint64(c.ShardBytes), MaxErrorStreak: &c.ErrorStreak},
		LFS: lfsPath, DryRun: c.DryRun,
		Slurm: campaign.Slurm{Scheduler: c.Scheduler, Partition: c.Partition, Account: c.Account, QOS: c.QOS,
			Time: c.Time, Throttle: c.ArrayThrottle, SbatchArgs: c.SbatchArg, TemplateDir: campaign.Path(c.TemplateDir),
			CPUsPerTask: c.CPUsPerTask, MemMiB: (uint64(c.Mem) + 1<<20 - 1) >> 20},
	}
	if r.Selection.Excludes == nil {
		r.Selection.Excludes = []campaign.Path{}
	}
	if len(c.TargetOSTs.OSTList) > 0 {
		r.Target.OSTs = c.TargetOSTs.String()
	}
	if c.TextfileDir != "" {
		r.Monitoring.TextfileDir = filepath.Clean(c.TextfileDir)
	}
	return r
}

func cleanAll(ps []string) []string {
	out := make([]string, len(ps))
	for i, p := range ps {
		out[i] = filepath.Clean(p)
	}
	return out
}

// Run plans the campaign, then submits it, runs it here, or prints how to submit it.
func (c *Cmd) Run(env *cli.Env) (err error) {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	defer func() { // a signal ends the command with one line saying how to go on, not "context canceled"
		if err != nil && ctx.Err() != nil && cli.ExitCode(err) != cli.ExitInterrupted {
			err = cli.WithCode(cli.ExitInterrupted, fmt.Errorf("interrupted; to continue: %s", commandLine()))
		}
	}()
	if c.Go {
		return c.goLive(ctx, env)
	}
	if c.Update {
		return c.runUpdate(ctx, env)
	}
	req := c.request()
	if req.Slurm.Templates, err = campaign.SnapshotTemplates(c.TemplateDir); err != nil {
		return cli.BadInput(err)
	}
	dir := campaign.Dir{Root: c.Campaign}
	if err := templates.CheckToken("campaign directory", dir.Root); err != nil {
		return cli.BadInput(err)
	}
	if err := templates.CheckToken("migrator binary", env.Exe); err != nil {
		return cli.BadInput(err)
	}
	// A campaign already there must be asked for with the same settings: say so first.
	if spec, err := dir.Load(); err == nil {
		if spec.Slurm.Scheduler == "local" && req.Slurm.Scheduler == "local" {
			// A local run's --array-throttle is how many shards it runs at once, not a
			// setting of the campaign: a rerun may name another (migrator throttle says
			// so); campaign.json keeps the plan's.
			req.Slurm.Throttle = spec.Slurm.Throttle
		}
		if ch := planner.Changes(spec.Request, req); len(ch) > 0 {
			return badInput(planner.RefuseChanges(dir, spec, ch))
		}
		// Its records before anything else is asked (Slurm, the filesystem): a damaged
		// submissions.jsonl is the first thing to say, with or without Slurm.
		if _, err := dir.Submissions(); err != nil {
			return cli.BadInput(err)
		}
	}
	// Render the job scripts from the request first: an option a script cannot carry, or
	// a broken --template-dir, is bad input to refuse before anything is written.
	trial := launch.Round{Dir: dir, Spec: &campaign.Spec{ID: "c-trial", Request: req}, Shards: 1, Exe: env.Exe, By: "plan"}
	if _, err := launch.JobScript(trial); err != nil {
		return cli.BadInput(err)
	}
	if _, err := launch.CollectScript(trial); err != nil {
		return cli.BadInput(err)
	}
	if c.ScanTasks > 0 {
		for _, name := range []string{templates.Scan, templates.Seal} {
			if _, err := launch.ScanScript(trial, c.ScanTasks, name); err != nil {
				return cli.BadInput(err)
			}
		}
	}
	if d := req.Monitoring.TextfileDir; d != "" {
		if err := metrics.CheckDir(d); err != nil {
			return cli.BadInput(err)
		}
	}
	if err := planner.CheckPaths(req, dir.Root); err != nil {
		return badInput(err)
	}
	var maxShards int
	if c.Scheduler == "slurm" {
		sc := slurm.New()
		sc.Timeout = 20 * time.Second
		n, warn, err := launch.SlurmPreflight(ctx, sc, !c.NoSubmit && !c.Emit)
		if err != nil {
			return cli.BadInput(err)
		}
		if warn != "" {
			fmt.Fprintf(env.Stderr, "warning: %s\n", warn)
		}
		maxShards = n
		if n > 0 && c.ScanTasks > n {
			return cli.BadInputf("--scan-tasks %d: Slurm's MaxArraySize allows arrays of %d tasks", c.ScanTasks, n)
		}
	}
	lfsPath, err := campaign.ResolveLFS(req.LFS) // run by the path checked, not looked up again
	if err != nil {
		return cli.BadInput(err)
	}
	client := lfs.New(lfsPath)
	if err := client.Check(); err != nil {
		return cli.BadInput(err)
	}
	pf, err := planner.Check(ctx, client, req)
	if err != nil {
		return badInput(err)
	}
	for _, o := range []cli.OSTs{c.OSTs, c.TargetOSTs} { // names must be of the filesystem lfs df shows
		if err := lfs.CheckOSTNames(o.Given, pf.Targets); err != nil {
			return cli.BadInput(err)
		}
	}
	threads := pf.FindThreads(c.FindThreads)
	out := env.Stderr
	describe(out, dir, req, pf)
	for _, w := range pf.Warnings {
		fmt.Fprintf(out, "warning: %s\n", w)
	}

	if c.Group != "" { // before planner.Plan creates anything in it, so that all of it inherits the group
		if err := shareWithGroup(dir, c.Group); err != nil {
			return err
		}
	}
	var st scan.Stats
	start := time.Now()
	rep := progress.Start(ctx, progress.Options{Out: out, Terminal: progress.IsTerminal(out), Prefix: "scan"}, func() string {
		el := time.Since(start)
		return fmt.Sprintf("%d files, %s found, %d dirs listed, subtrees %d/%d, %s, %s",
			st.Files.Load(), humanize.IBytes(uint64(st.Bytes.Load())), st.DirsListed.Load(),
			st.UnitsDone.Load(), st.Units.Load(), progress.Rate(st.Found.Load(), el), el.Round(time.Second))
	})
	var dist *distscan.Plan
	if c.ScanTasks > 0 {
		then := distscan.ThenSubmit
		if c.Scheduler == "local" {
			then = distscan.ThenLocal
		} else if c.NoSubmit || c.Emit {
			then = distscan.ThenNoSubmit
		}
		dist = &distscan.Plan{Tasks: c.ScanTasks, Workers: c.ScanWorkers, Threads: threads,
			NoPrintf: !pf.Version.HasFindPrintf(), Then: then, MaxShards: maxShards}
	}
	res, err := planner.Plan(ctx, client, planner.Options{Dir: dir, Request: req, Tool: env.Version,
		Workers: c.ScanWorkers, Threads: threads, NoPrintf: !pf.Version.HasFindPrintf(), Stats: &st, MaxShards: maxShards,
		Distributed: dist})
	rep.Stop()
	if err == nil && res.Distributed != nil {
		if c.Scheduler != "local" {
			return c.submitScan(ctx, env, dir, res)
		}
		res, err = c.localScan(ctx, env, dir, res)
	}
	if err != nil && ctx.Err() != nil && dist != nil {
		// Once scan/plan.json is written, the advice status and cancel give for a stopped
		// scan; before, only this plan command can start it.
		again := commandLine()
		if _, perr := distscan.ReadPlan(dir); perr == nil {
			again = launch.ContinueScan(dir)
		}
		return cli.WithCode(cli.ExitInterrupted, fmt.Errorf("interrupted during the distributed scan; nothing was submitted; to continue it (the units already scanned are kept): %s", again))
	}
	if err != nil && ctx.Err() != nil {
		return cli.WithCode(cli.ExitInterrupted, fmt.Errorf("interrupted during the scan; nothing was submitted; to start it over: %s", commandLine()))
	}
	if err != nil {
		return badInput(err)
	}
	idx := res.Index
	if res.Resumed {
		fmt.Fprintf(out, "campaign %s was already planned: %s, %s in %s\n", res.Spec.ID, progress.Plural(idx.Files, "file"), humanize.IBytes(idx.Bytes), progress.Plural(len(idx.Shards), "shard"))
	} else if dist != nil {
		fmt.Fprintf(out, "planned campaign %s: %s, %s in %s (distributed scan and seal %s)\n",
			res.Spec.ID, progress.Plural(idx.Files, "file"), humanize.IBytes(idx.Bytes), progress.Plural(len(idx.Shards), "shard"), time.Since(start).Round(time.Second))
	} else {
		fmt.Fprintf(out, "planned campaign %s: %s, %s in %s (scan %s: %d paths found, %d hard-link duplicates left out, %d gone meanwhile)\n",
			res.Spec.ID, progress.Plural(idx.Files, "file"), humanize.IBytes(idx.Bytes), progress.Plural(len(idx.Shards), "shard"), time.Since(start).Round(time.Second),
			st.Found.Load(), st.HardLinks.Load(), st.Vanished.Load())
	}
	if res.Resumed {
		// A later round (retry, plan --go) holds round 0's unfinished files: running or
		// submitting round 0 again would only have each task refuse it as superseded.
		rounds, err := dir.Rounds()
		if err != nil {
			return err
		}
		if n := slices.Max(append(rounds, 0)); n > 0 {
			return cli.BadInputf("campaign %s in %s has moved on: round %d holds the files round 0 left, so this plan has nothing to run; continue with: %s (see migrator status %s)",
				res.Spec.ID, dir.Root, n, launch.CommandLine(os.Args[0], "retry", dir.Root, "--scheduler", res.Spec.Slurm.Scheduler), dir.Root)
		}
	}
	if res.Resharded > 0 {
		fmt.Fprintf(out, "warning: the scan made %d shards, more than Slurm's MaxArraySize (%d) allows in one array: cut again into %s of up to %d files (--shard-bytes not applied)\n",
			res.Resharded, maxShards, progress.Plural(len(idx.Shards), "shard"), idx.Shards[0].Files)
	}
	if err := metrics.Keep(dir, res.Spec, req.Monitoring); err != nil {
		return err
	}
	if w := pf.SpaceWarning(req, idx.Bytes); w != "" {
		fmt.Fprintf(out, "warning: %s\n", w)
	}
	fmt.Fprintln(out, createReminder(pf.FSName, req.Selection.SourceOSTs()))

	round := launch.Round{Dir: dir, Spec: res.Spec, N: 0, Shards: len(idx.Shards), Exe: env.Exe, Version: env.Version, By: "plan"}
	script, err := launch.WriteScripts(round)
	if err != nil {
		return err
	}
	if round.Shards == 0 {
		fmt.Fprintf(out, "nothing to migrate\n")
		return nil
	}
	switch {
	case c.Emit:
		fmt.Fprintf(out, "job script on stdout (also in %s); the first task to run records its job id in %s\n",
			round.Dir.Round(0).JobScript, campaign.SubmissionsFile)
		_, err := env.Stdout.Write(script)
		return err
	case c.NoSubmit:
		fmt.Fprintf(out, "not submitted; to submit:\n")
		fmt.Fprintln(env.Stdout, launch.SbatchCommands(round))
		return nil
	case c.Scheduler == "local":
		return launch.RunLocal(ctx, env.Stderr, round, c.ArrayThrottle, c.Progress, commandLine())
	}
	if done, err := finishSubmission(ctx, out, round); done || err != nil {
		return err
	}
	arrayID, collectID, err := launch.Slurm(ctx, slurm.New(), round)
	if err != nil {
		return fmt.Errorf("%w (the campaign is planned; rerun migrator plan with the same options to submit it)", err)
	}
	fmt.Fprintf(out, "submitted job array %s (%d tasks, at most %d at once) and collect job %s (afterany:%s)\n",
		arrayID, round.Shards, c.ArrayThrottle, collectID, arrayID)
	fmt.Fprintln(env.Stdout, arrayID)
	return nil
}

// goLive is plan --go: the dry run in the campaign becomes real.
func (c *Cmd) goLive(ctx context.Context, env *cli.Env) error {
	out := env.Stderr
	dir := campaign.Dir{Root: c.Campaign}
	spec, err := dir.Load()
	if err != nil {
		return cli.BadInput(err)
	}
	if len(c.OSTs.OSTList) == 0 {
		// Just the campaign directory with --go: every setting comes from campaign.json,
		// so one given here would be ignored without a word. Refuse it instead.
		if ignored := settingsGiven(os.Args[1:]); len(ignored) > 0 {
			return cli.BadInputf("plan --go takes every setting from %s's campaign.json, so %s would be ignored: leave it out (or give the plan's whole command line with --go, which must match it)",
				dir.Root, strings.Join(ignored, ", "))
		}
	}
	if len(c.OSTs.OSTList) > 0 {
		// The plan's own command line with --go: it must ask for the same campaign.
		req := c.request()
		req.DryRun = spec.DryRun
		if ch := planner.Changes(spec.Request, req); len(ch) > 0 {
			return cli.BadInputf("%s holds campaign %s, planned with different settings: %s; --go takes them from campaign.json (give just the campaign directory)",
				dir.Root, spec.ID, strings.Join(ch, ", "))
		}
	}
	if !spec.DryRun {
		return cli.BadInputf("campaign %s in %s is not a dry run (anymore): nothing to make real; a round prepared but not started runs with migrator retry %s", spec.ID, dir.Root, dir.Root)
	}
	rounds, err := dir.Rounds()
	if err != nil {
		return err
	}
	if len(rounds) > 0 {
		if err := launch.CheckRoundOver(ctx, out, dir, spec, rounds[len(rounds)-1], spec.Slurm.Scheduler == "local"); err != nil {
			return err
		}
	}
	n, idx, spec, err := planner.GoLive(ctx, dir)
	if err != nil {
		return badInput(err)
	}
	if len(idx.Shards) == 0 {
		fmt.Fprintf(out, "campaign %s is real now, but its dry run found nothing to migrate\n", spec.ID)
		return nil
	}
	fmt.Fprintf(out, "campaign %s is real now: round %d takes what the dry run would migrate (and what it left pending or failed retryably), without a new scan: %s, %s in %s\n",
		spec.ID, n, progress.Plural(idx.Files, "file"), humanize.IBytes(idx.Bytes), progress.Plural(len(idx.Shards), "shard"))
	round := launch.Round{Dir: dir, Spec: spec, N: n, Shards: len(idx.Shards), Exe: env.Exe, Version: env.Version, By: "plan --go"}
	retry := launch.CommandLine(os.Args[0], "retry", dir.Root, "--scheduler", spec.Slurm.Scheduler)
	return launch.Start(ctx, round, launch.How{Emit: c.Emit, NoSubmit: c.NoSubmit, Local: spec.Slurm.Scheduler == "local",
		Progress: c.Progress, Continue: retry, Resubmit: retry, Out: out, Stdout: env.Stdout})
}

// settingsGiven lists the flags in args (a plan --go command line) that set something
// of the campaign: all but --go and how this run launches its round.
func settingsGiven(args []string) []string {
	var out []string
	for _, a := range args {
		if a == "--" {
			break
		}
		name, _, _ := strings.Cut(a, "=")
		switch {
		case !strings.HasPrefix(name, "--"), slices.Contains([]string{"--go", "--no-submit", "--emit-script", "--progress", "--help"}, name):
		default:
			out = append(out, name)
		}
	}
	return out
}

// commandLine is this process's command line: what to run to continue.
func commandLine() string { return launch.CommandLine(os.Args...) }

// finishSubmission handles a plan run again after its campaign was submitted, perhaps by a
// plan killed halfway through submitting: the array is recorded, or queued but not yet
// recorded (killed between sbatch and the record, or a script piped into sbatch by hand);
// a recorded array whose collect job is neither recorded nor queued gets one now. It
// reports whether the array was already submitted. squeue is asked only when
// submissions.jsonl does not settle it.
func finishSubmission(ctx context.Context, out io.Writer, round launch.Round) (bool, error) {
	dir := round.Dir
	subs, err := dir.Submissions()
	if err != nil {
		return false, err
	}
	prev, recorded := campaign.LatestArray(subs, 0)
	if recorded {
		fmt.Fprintf(out, "already submitted as job %s; see migrator status %s\n", prev.JobID, dir.Root)
		if hasCollect(subs, prev.JobID) {
			return true, nil
		}
	}
	sc := slurm.New()
	queued, err := launch.Unrecorded(ctx, sc, dir, round.Spec, subs)
	if err != nil {
		return recorded, fmt.Errorf("asking Slurm whether this campaign is already queued: %w", err)
	}
	for _, q := range queued {
		switch {
		case q.Kind == "array" && !recorded:
			fmt.Fprintf(out, "already submitted as job %s (queued, not recorded yet: its first task records it); see migrator status %s\n", q.JobID, dir.Root)
			return true, nil
		case q.Kind == "collect" && recorded:
			return true, nil
		}
	}
	if !recorded {
		return false, nil
	}
	collectID, err := launch.Collect(ctx, sc, round, prev.JobID)
	if err != nil {
		return true, err
	}
	fmt.Fprintf(out, "its collect job was missing: submitted collect job %s (afterany:%s)\n", collectID, prev.JobID)
	return true, nil
}

// hasCollect reports whether submissions.jsonl records a collect job after array job arrayID.
func hasCollect(subs []campaign.Submission, arrayID string) bool {
	return slices.ContainsFunc(subs, func(s campaign.Submission) bool {
		return s.Kind == "collect" && s.Depend == launch.CollectDependency(arrayID)
	})
}

func badInput(err error) error {
	if errors.Is(err, planner.ErrBadInput) || errors.Is(err, lfs.ErrNoLFS) {
		return cli.BadInput(errors.New(strings.TrimPrefix(err.Error(), planner.ErrBadInput.Error()+": ")))
	}
	return err
}

// describe prints back what will be done, before anything runs.
func describe(w io.Writer, dir campaign.Dir, r campaign.Request, pf *planner.Preflight) {
	src := r.Selection.SourceOSTs()
	names := ""
	switch {
	case pf.FSName == "" || len(src) == 0:
	case len(src) == 1:
		names = " (" + lfs.OSTName(pf.FSName, src[0]) + ")"
	default:
		names = fmt.Sprintf(" (%s … %s)", lfs.OSTName(pf.FSName, src[0]), lfs.OSTName(pf.FSName, src[len(src)-1]))
	}
	fmt.Fprintf(w, "campaign:    %s\n", dir.Root)
	fmt.Fprintf(w, "source OSTs: %s%s, %d OSTs\n", src, names, len(src))
	for _, p := range r.Selection.ScanPaths {
		fmt.Fprintf(w, "scan path:   %s\n", printable(string(p)))
	}
	for _, p := range r.Selection.Excludes {
		fmt.Fprintf(w, "exclude:     %s (and everything below)\n", printable(string(p)))
	}
	var f []string
	if r.Selection.MinSize > 0 {
		f = append(f, "size >= "+humanize.IBytes(r.Selection.MinSize))
	}
	if r.Selection.MaxSize > 0 {
		f = append(f, "size <= "+humanize.IBytes(r.Selection.MaxSize))
	}
	if r.Selection.UID != "" {
		f = append(f, "uid "+r.Selection.UID)
	}
	if r.Selection.GID != "" {
		f = append(f, "gid "+r.Selection.GID)
	}
	if r.Selection.Pool != "" {
		f = append(f, "pool "+r.Selection.Pool)
	}
	for _, m := range r.Selection.MTime {
		f = append(f, "mtime "+m)
	}
	if len(f) == 0 {
		f = []string{"none (every regular file with an object on a source OST)"}
	}
	fmt.Fprintf(w, "filters:     %s\n", strings.Join(f, ", "))
	opts := r.Target.MigrateOptions()
	layout := "each file's own layout, new OSTs chosen by the MDS"
	if opts.ExplicitLayout() {
		layout = "explicit"
	}
	fmt.Fprintf(w, "target:      %s: lfs migrate %s FILE\n", layout, strings.Join(opts.Args(), " "))
	fmt.Fprintf(w, "lfs:         %s (%s)\n", r.LFS, pf.Version)
	if r.DryRun {
		fmt.Fprintf(w, "dry run:     tasks check every file and record what they would migrate; nothing changes\n")
	}
}

// printable shows a path as is when it is plain text, quoted otherwise.
func printable(p string) string {
	for _, r := range p {
		if r < ' ' || r == 0x7f || r == utf8.RuneError {
			return strconv.Quote(p)
		}
	}
	return p
}

// submitScan submits the scan array of a distributed plan and its seal job, which goes on
// where plan stops. Run again before the seal has written the index, plan submits them
// again unless Slurm still holds one of them: the published parts make a second array's
// tasks skip what the first one scanned.
func (c *Cmd) submitScan(ctx context.Context, env *cli.Env, dir campaign.Dir, res *planner.Result) error {
	round := launch.Round{Dir: dir, Spec: res.Spec, Exe: env.Exe, Version: env.Version, By: "plan --scan-tasks"}
	p := res.Distributed
	if c.NoSubmit {
		// Submit nothing, as --no-submit says: the scan's scripts are written for review,
		// and the advice for a scan that nothing runs (status gives it too) starts it.
		scripts, err := launch.WriteScanScripts(round, p.Tasks, filepath.Join(dir.Root, "scan"))
		if err != nil {
			return err
		}
		fmt.Fprintf(env.Stderr, "planned the distributed scan of campaign %s: %d units for %d tasks; submitted nothing (--no-submit): the scan array's script is %s, the seal's %s; to start the scan: %s (the seal then writes the round's job scripts and submits nothing)\n",
			res.Spec.ID, len(p.Units), p.Tasks, scripts.Scan, scripts.Seal, launch.ContinueScan(dir))
		return nil
	}
	scanID, sealID, err := launch.ResumeScan(ctx, slurm.New(), round, p.Tasks, env.Stderr)
	if err != nil {
		return fmt.Errorf("%w (rerun migrator plan with the same options, or migrator retry %s, to submit the scan)", err, dir.Root)
	}
	if scanID == "" || sealID == "" { // already queued: ResumeScan said so
		return nil
	}
	fmt.Fprintf(env.Stderr, "distributed scan of campaign %s: %d units; submitted scan array %s (%d tasks) and seal job %s (afterany:%s), which merges the parts and %s; watch it with migrator status %s\n",
		res.Spec.ID, len(p.Units), scanID, p.Tasks, sealID, scanID, map[bool]string{true: "submits the round", false: "writes the round's scripts"}[p.Then == distscan.ThenSubmit], dir.Root)
	fmt.Fprintln(env.Stdout, scanID)
	return nil
}

// localScan runs the N scan tasks of a distributed plan here, as processes of their own
// ("migrator scan-task", logs in logs/scan-local-K.out), then seals the scan.
func (c *Cmd) localScan(ctx context.Context, env *cli.Env, dir campaign.Dir, res *planner.Result) (*planner.Result, error) {
	p := res.Distributed
	start := time.Now()
	round := launch.Round{Dir: dir, Spec: res.Spec, Exe: env.Exe, Version: env.Version, By: "plan --scan-tasks"}
	if err := launch.LocalScanTasks(ctx, round, p.Tasks, env.Stderr); err != nil {
		return nil, err
	}
	sres, err := planner.Seal(ctx, lfs.New(res.Spec.LFS), dir, checkpoint.CurrentHolder(env.Getenv))
	if err != nil {
		return nil, err
	}
	fmt.Fprintf(env.Stderr, "distributed scan: %d tasks over %d units in %s; the seal scanned %d units itself and left out %d hard-link duplicates across parts\n",
		p.Tasks, len(p.Units), time.Since(start).Round(time.Millisecond), sres.Task.Scanned, sres.Merge.HardLinks)
	return &sres.Result, nil
}
