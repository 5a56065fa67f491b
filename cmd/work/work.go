// Package work is "migrator work": one array task, migrating the files of one shard.
package work

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/dustin/go-humanize"

	"migrator/campaign"
	"migrator/checkpoint"
	"migrator/cmd/cli"
	"migrator/lfs"
	"migrator/manifest"
	"migrator/metrics"
	"migrator/migrate"
	"migrator/progress"
	"migrator/slurm"
)

// Cmd is "migrator work CAMPAIGN [--shard K]".
type Cmd struct {
	Campaign string `arg:"" help:"Campaign directory." type:"path"`

	Shard       int           `default:"-1" env:"SLURM_ARRAY_TASK_ID" help:"Shard to migrate (default: this array task's index)."`
	Round       int           `default:"0" help:"Round of the campaign: 0 for the plan, N for retry round N (the job script passes it)."`
	Workers     int           `help:"Concurrent lfs migrate processes (default: the campaign's --workers)."`
	Batch       int           `help:"Files per lfs migrate call (default: the campaign's; 1 disables batching)."`
	FileTimeout time.Duration `name:"file-timeout" help:"Give up on one lfs migrate after this long (default: the campaign's)."`
	Grace       time.Duration `default:"60s" help:"After SIGTERM or USR1, how long running lfs migrate processes may finish before they are stopped."`
	RetryBase   time.Duration `name:"retry-base" default:"2s" env:"MIGRATOR_RETRY_BASE" help:"First wait before retrying a busy file (doubling each time, at most 2m)."`
	Progress    time.Duration `default:"30s" help:"Interval of progress lines in the task's log."`
	ErrorStreak int           `name:"max-error-streak" default:"-1" help:"Failures in a row with the same errno that stop the task (default: the campaign's; 0: never)."`
	// LockStale shortens the shard lock's stale age for tests of lock takeover; the
	// default (3 minutes) suits every cluster.
	LockStale time.Duration `name:"lock-stale-after" hidden:"" env:"MIGRATOR_LOCK_STALE_AFTER" help:"A shard lock untouched this long (then watched as long) is stale (default 3m)."`

	MetricsEvery time.Duration `name:"metrics-every" default:"30s" env:"MIGRATOR_METRICS_EVERY" help:"With a textfile directory in the campaign: the age at which a task refreshes migrator-<campaign>.prom there."`
}

// Run migrates the shard.
func (c *Cmd) Run(env *cli.Env) error {
	// First: a signal during the checks below must stop the task gracefully too (exit 5),
	// not kill it by the default action.
	stop, kill, why := c.signals(env.Stderr)
	dir := campaign.Dir{Root: c.Campaign}
	spec, err := dir.Load()
	if err != nil {
		return cli.BadInput(err)
	}
	if c.Shard < 0 {
		return cli.BadInputf("no shard: give --shard K, or run as a Slurm array task ($SLURM_ARRAY_TASK_ID)")
	}
	round := dir.Round(c.Round)
	idx, err := manifest.ReadIndex(round.Manifests)
	if err != nil {
		return cli.BadInput(err)
	}
	if idx.Campaign != spec.ID || idx.Round != c.Round {
		return cli.BadInputf("manifest index %s belongs to campaign %s round %d, not %s round %d",
			filepath.Join(round.Manifests, manifest.IndexFile), idx.Campaign, idx.Round, spec.ID, c.Round)
	}
	if c.Shard >= len(idx.Shards) {
		return cli.BadInputf("shard %d does not exist: round %d of %s has %s", c.Shard, c.Round, dir.Root, progress.Plural(len(idx.Shards), "shard"))
	}
	if err := notSuperseded(dir, spec, c.Round); err != nil {
		return err
	}
	sh := idx.Shards[c.Shard]
	shardPath := filepath.Join(round.Manifests, sh.File)
	if err := manifest.Verify(shardPath, sh.SHA256); err != nil {
		return cli.BadInput(err)
	}
	lfsPath, err := campaign.ResolveLFS(spec.LFS) // run by the path checked, not looked up again
	if err != nil {
		return cli.BadInput(err)
	}
	client := lfs.New(lfsPath)
	if err := client.Check(); err != nil {
		return cli.BadInput(err)
	}
	v, err := client.Version(context.Background())
	if err != nil {
		return cli.BadInput(fmt.Errorf("lfs %s: %w", spec.LFS, err))
	}

	holder := checkpoint.CurrentHolder(env.Getenv)
	if tf := spec.Monitoring.TextfileDir; tf != "" {
		// Stopped after the shard's lock is released (deferred first, run last), so the
		// last refresh does not count this task as running.
		live := metrics.Start(dir, spec, metrics.Options{Dir: tf, Holder: holder, Log: env.Stderr,
			Every: c.MetricsEvery, CheckEvery: min(metrics.CheckEvery, c.MetricsEvery/3)})
		defer live.Stop(10 * time.Second)
	}
	lock, err := checkpoint.AcquireLock(checkpoint.LockPath(round.Checkpoints, c.Shard), holder, checkpoint.LockOptions{StaleAfter: c.LockStale})
	if err != nil {
		return err // another holder: exit 6 (cli.ExitCode)
	}
	defer lock.Release()
	recordHandSubmitted(dir, c.Round, env.Getenv, len(idx.Shards))

	hdr := checkpoint.Header{Campaign: spec.ID, Round: c.Round, Shard: c.Shard, Entries: sh.Files, ShardSHA256: sh.SHA256}
	done, attempted := checkpoint.NewDone(sh.Files), checkpoint.NewDone(sh.Files)
	log, rec, err := checkpoint.OpenWriter(checkpoint.LogPath(round.Checkpoints, c.Shard), hdr, checkpoint.WriterOptions{},
		checkpoint.Visitor{
			Outcome: func(r *checkpoint.Record) error {
				if r.Outcome != checkpoint.WouldMigrate || spec.DryRun { // a dry run's verdict is never "done" for a real one
					done.Add(r.Index)
				}
				return nil
			},
			Attempt: func(a *checkpoint.Attempt) error { attempted.Add(a.Index); return nil },
		})
	if err != nil {
		if errors.Is(err, checkpoint.ErrCorrupt) {
			return cli.BadInput(err)
		}
		return err
	}
	out := env.Stderr
	if rec.TornBytes > 0 {
		fmt.Fprintf(out, "checkpoint: cut a torn tail of %d bytes after %d records\n", rec.TornBytes, rec.Records)
	}
	if rec.Damage != nil {
		fmt.Fprintf(out, "%s\ncheckpoint: set the damaged log aside as %s and rebuilt it from its %d valid records; the other files are re-checked\n",
			cli.OneLine(rec.Damage), filepath.Base(rec.SetAside), rec.Records)
	}
	start := checkpoint.RunStart{Time: time.Now(), Host: holder.Host, PID: holder.PID, Job: holder.Job, Task: holder.Task, Restart: holder.Restart}
	if err := log.AppendRunStart(&start); err != nil {
		log.Close()
		return err
	}
	fmt.Fprintf(out, "shard %d of campaign %s round %d: %s, %s; %d done before this run\n",
		c.Shard, spec.ID, c.Round, progress.Plural(sh.Files, "file"), humanize.IBytes(sh.Bytes), done.Count())

	src, err := manifest.OpenIndexed(round.Manifests, sh)
	if err != nil {
		log.Close()
		return cli.BadInput(err)
	}
	defer src.Close()

	opts := migrate.Options{
		Selection: spec.Selection, Target: spec.Target.MigrateOptions(), DryRun: spec.DryRun,
		Workers: pick(c.Workers, spec.Work.Workers), Batch: pick(c.Batch, spec.Work.Batch),
		FileTimeout: time.Duration(spec.Work.FileTimeout), RetryBase: c.RetryBase, NoPrintf: !v.HasFindPrintf(),
		FIDPrint0:   v.HasFIDToPathPrint0(),
		MaxAttempts: spec.Work.MaxAttempts, StreakLimit: spec.Work.ErrorStreak(), Owned: lock.Check,
		OnSwap: func(path, msg string) { fmt.Fprintf(out, "ALARM swapped: %q: %s\n", path, msg) },
	}
	if c.ErrorStreak >= 0 {
		opts.StreakLimit = c.ErrorStreak
	}
	if c.FileTimeout > 0 {
		opts.FileTimeout = c.FileTimeout
	}
	if opts.Batch == 0 {
		opts.Batch = defaultBatch(sh)
	}
	if !spec.DryRun {
		var why string
		if opts.FIDRoot, why = migrate.FIDRootOf(spec.Selection); opts.FIDRoot != "" {
			fmt.Fprintf(out, "lfs migrate is given each file by FID, under %q\n", opts.FIDRoot+"/.lustre/fid")
		} else {
			fmt.Fprintf(out, "lfs migrate is given each file by its walked path: %s; see the trust model in the README\n", why)
		}
	}

	var lockLost atomic.Bool
	go func() { // the lock was broken by another task: stop writing at once
		select {
		case <-lock.Lost():
			lockLost.Store(true)
			why.Store("loss of the shard lock")
			kill.cancel()
			stop.cancel()
		case <-kill.ctx.Done():
		}
	}()
	var st migrate.Stats
	flying := newInFlight(log)
	t0 := time.Now()
	remaining := int64(sh.Files - done.Count())
	rep := progress.Start(stop.ctx, progress.Options{Out: out, Terminal: progress.IsTerminal(out), Every: c.Progress,
		Prefix: fmt.Sprintf("shard %d", c.Shard)}, func() string { return status(&st, flying, remaining, t0) })
	runErr := migrate.Run(stop.ctx, kill.ctx, client, src, migrate.State{Done: done, Attempted: attempted}, flying, opts, &st)
	rep.Stop()
	kill.cancel()

	end := checkpoint.RunEnd{Time: time.Now()}
	code := cli.ExitOK
	var result error
	switch {
	case errors.Is(runErr, migrate.ErrNoSpace):
		end.Status, code, result = checkpoint.RunNoSpace, cli.ExitStopped, runErr
	case errors.Is(runErr, migrate.ErrErrorStreak):
		end.Status, code, result = checkpoint.RunErrorStreak, cli.ExitStopped, runErr
	case runErr != nil:
		end.Status, code, result = checkpoint.RunFailed, cli.ExitFailure, runErr
	case why.Load() != "":
		end.Status, code = checkpoint.RunInterrupted, cli.ExitInterrupted
		result = fmt.Errorf("stopped by %s; the checkpoint is flushed and a rerun continues", why.Load())
	case st.Swapped.Load() > 0:
		code, result = cli.ExitIncomplete, fmt.Errorf("ALARM: %s swapped after their check (not migrated through the swap; see the trust model in the README), %s failed in all",
			progress.Plural(st.Swapped.Load(), "path"), progress.Plural(st.Failed.Load(), "file"))
	case st.Failed.Load() > 0:
		code, result = cli.ExitIncomplete, fmt.Errorf("%s failed; see migrator collect %s", progress.Plural(st.Failed.Load(), "file"), dir.Root)
	case st.Interrupts.Load() > 0:
		code, result = cli.ExitIncomplete, fmt.Errorf("%s interrupted (lfs migrate got a signal); rerun the shard to finish them", progress.Plural(st.Interrupts.Load(), "file"))
	}
	if result != nil {
		end.Message = result.Error()
	}
	if errors.Is(runErr, checkpoint.ErrLockLost) {
		lockLost.Store(true)
	}
	if lockLost.Load() {
		// Someone else writes this log now: append nothing more.
		log.Close()
		return cli.WithCode(cli.ExitLocked, errors.New("the shard's lock was broken by another task; stopped"))
	}
	if err := log.AppendRunEnd(&end); err != nil && result == nil {
		result, code = err, cli.ExitFailure
	}
	if err := log.Close(); err != nil && result == nil {
		result, code = err, cli.ExitFailure
	}
	fmt.Fprintf(out, "shard %d: %s in %s (%s)\n", c.Shard, status(&st, flying, remaining, t0), time.Since(t0).Round(time.Second), end.Status)
	if why.Load() == "USR1" && st.Done.Load() < remaining {
		requeue(out, env.Getenv) // files are left, and the time limit is near
	}
	return cli.WithCode(code, result)
}

func pick(flag, campaignValue int) int {
	if flag > 0 {
		return flag
	}
	return campaignValue
}

// defaultBatch batches small files, 100 per lfs migrate call: with files under 1 MiB on
// average, the fork+exec of lfs migrate costs more than the copy (see BENCHMARKS.md).
// Batching needs an explicit target layout; the engine falls back to 1 without one.
func defaultBatch(sh manifest.ShardIndex) int {
	if sh.Files > 0 && sh.Bytes/sh.Files < 1<<20 {
		return 100
	}
	return 1
}

func status(st *migrate.Stats, flying *inFlight, remaining int64, t0 time.Time) string {
	el := time.Since(t0)
	return fmt.Sprintf("%d/%d files done (%d migrated, %s; %d skipped; %d failed; %d would migrate), %s, %d retries, %d files in flight",
		st.Done.Load(), remaining, st.Migrated.Load(), humanize.IBytes(uint64(st.Bytes.Load())), st.Skipped.Load(),
		st.Failed.Load(), st.Would.Load(), progress.Rate(st.Done.Load(), el), st.Retries.Load(), flying.Files())
}

type cancelCtx struct {
	ctx    context.Context
	cancel context.CancelFunc
}

// signals sets up the task's two stops. The first SIGTERM, SIGINT or USR1 stops taking
// new files; running lfs migrate processes get c.Grace to finish (scancel signals them too,
// and lfs guarantees the original stays intact either way). A second signal, or the end
// of the grace, stops them at once.
func (c *Cmd) signals(out io.Writer) (stop, kill cancelCtx, why *reason) {
	stop.ctx, stop.cancel = context.WithCancel(context.Background())
	kill.ctx, kill.cancel = context.WithCancel(context.Background())
	why = &reason{}
	ch := make(chan os.Signal, 4)
	signal.Notify(ch, syscall.SIGTERM, syscall.SIGINT, syscall.SIGUSR1)
	go func() {
		n := 0
		for {
			select {
			case s := <-ch:
				n++
				name := signalNames[s]
				if n == 1 {
					why.Store(name)
					fmt.Fprintf(out, "%s: %s: finishing running files (at most %v), then checkpointing\n", time.Now().Format(time.DateTime), name, c.Grace)
					stop.cancel()
					time.AfterFunc(c.Grace, kill.cancel)
				} else {
					fmt.Fprintf(out, "%s: second signal: stopping running lfs migrate now\n", time.Now().Format(time.DateTime))
					kill.cancel()
				}
			case <-kill.ctx.Done():
				// Still registered: a late signal (the runner's, scancel's) is ignored
				// while the checkpoint is closed, rather than killing the task mid-write.
				return
			}
		}
	}()
	return stop, kill, why
}

var signalNames = map[os.Signal]string{syscall.SIGTERM: "SIGTERM", syscall.SIGINT: "SIGINT", syscall.SIGUSR1: "USR1"}

// reason is why the task stopped early ("" if it did not); the first reason stays.
type reason struct{ v atomic.Pointer[string] }

func (r *reason) Store(s string) { r.v.CompareAndSwap(nil, &s) }

func (r *reason) Load() string {
	if p := r.v.Load(); p != nil {
		return *p
	}
	return ""
}

// requeue asks Slurm to run this array task again: it was stopped before its time limit
// (USR1 from --signal) and has files left.
func requeue(out io.Writer, getenv func(string) string) {
	job, task := getenv("SLURM_ARRAY_JOB_ID"), getenv("SLURM_ARRAY_TASK_ID")
	id := getenv("SLURM_JOB_ID")
	if job != "" && task != "" {
		id = job + "_" + task
	}
	if id == "" {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := slurm.New().Requeue(ctx, id, false); err != nil {
		fmt.Fprintf(out, "requeueing %s failed: %v; resubmit the shard with migrator retry\n", id, err)
		return
	}
	fmt.Fprintf(out, "requeued %s to continue after the time limit\n", id)
}

// recordHandSubmitted notes in submissions.jsonl an array that was submitted by hand
// (migrator plan --emit-script | sbatch), so status and the control commands find it. All
// tasks start at once; AppendSubmissionOnce lets exactly one of them write the record.
func recordHandSubmitted(dir campaign.Dir, round int, getenv func(string) string, shards int) {
	job := getenv("SLURM_ARRAY_JOB_ID")
	if job == "" || strings.Trim(job, "0123456789") != "" {
		// not a Slurm job id: it would name a marker file outside the campaign and reach
		// scancel and scontrol as an argument
		return
	}
	subs, err := dir.Submissions()
	if err != nil {
		return
	}
	for _, s := range subs {
		if s.JobID == job {
			return
		}
	}
	dir.AppendSubmissionOnce(campaign.Submission{Time: time.Now().UTC(), Round: round, Kind: "array", JobID: job,
		Shards: shards, Array: getenv("SLURM_ARRAY_TASK_MIN") + "-" + getenv("SLURM_ARRAY_TASK_MAX"), By: "task"})
}

// notSuperseded refuses a round that a later round took over: the later round holds its
// unfinished files now, so running it again would handle them twice and make the campaign's
// counts disagree with themselves.
func notSuperseded(dir campaign.Dir, spec *campaign.Spec, round int) error {
	rounds, err := dir.Rounds()
	if err != nil {
		return err
	}
	if len(rounds) == 0 || rounds[len(rounds)-1] <= round {
		return nil
	}
	latest := rounds[len(rounds)-1]
	shards := "its shards"
	if idx, err := manifest.ReadIndex(dir.Round(latest).Manifests); err == nil && idx.Campaign == spec.ID {
		shards = fmt.Sprintf("its shards 0-%d", len(idx.Shards)-1)
		if len(idx.Shards) == 1 {
			shards = "its shard 0"
		}
	}
	return cli.BadInputf("round %d of %s was superseded by round %d, which holds its unfinished files now: run round %d instead "+
		"(migrator work %s --round %d --shard K for %s), or see migrator status %s", round, dir.Root, latest, latest, dir.Root, latest, shards, dir.Root)
}
