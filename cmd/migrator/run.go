package main

import (
	"fmt"
	"strings"

	"github.com/alecthomas/kong"

	"migrator/cmd/cli"
	"migrator/cmd/collect"
	"migrator/cmd/control"
	"migrator/cmd/plan"
	"migrator/cmd/report"
	"migrator/cmd/retry"
	"migrator/cmd/scanout"
	"migrator/cmd/status"
	"migrator/cmd/tail"
	"migrator/cmd/verify"
	"migrator/cmd/work"
)

// CLI is the whole command line. Each subcommand is its own package; this only wires them.
type CLI struct {
	Version kong.VersionFlag `help:"Print the version and exit."`

	Plan     plan.Cmd            `cmd:"" help:"Scan for files on the OSTs to drain, write the campaign's manifests and submit the job array."`
	Work     work.Cmd            `cmd:"" help:"Migrate the files of one shard (what each array task runs)."`
	Collect  collect.Cmd         `cmd:"" help:"Merge all checkpoints into reports/: status, failures and retry manifests."`
	Status   status.Cmd          `cmd:"" help:"Show a campaign's progress and its Slurm tasks."`
	Pause    control.PauseCmd    `cmd:"" help:"Hold the campaign's pending array tasks (scontrol hold)."`
	Resume   control.ResumeCmd   `cmd:"" help:"Release held array tasks (scontrol release)."`
	Cancel   control.CancelCmd   `cmd:"" help:"Cancel the campaign's array and collect jobs (scancel); tasks checkpoint first."`
	Throttle control.ThrottleCmd `cmd:"" help:"Change how many array tasks run at once, live (scontrol update ArrayTaskThrottle)."`
	Retry    retry.Cmd           `cmd:"" help:"Start a new round over the files that failed with a retryable error."`
	Verify   verify.Cmd          `cmd:"" help:"Sweep for every file still on a source OST and account for each one (exit 3 if any is unaccounted)."`
	Report   report.Cmd          `cmd:"" help:"Write the campaign's report as one self-contained HTML page: progress, throughput, failures, slowest files."`
	Tail     tail.Cmd            `cmd:"" help:"Print the per-file outcomes of all tasks as they land (-f to follow, --json)."`
	Version_ VersionCmd          `cmd:"" name:"version" help:"Print the version, the commit it was built from and the Go version."`

	Completion CompletionCmd `cmd:"" help:"Print a shell completion script: source <(migrator completion bash)."`
	Man        ManCmd        `cmd:"" hidden:"" help:"Write the man pages into a directory (for packages)."`

	ScanTask scanout.ScanTaskCmd `cmd:"" name:"scan-task" hidden:"" help:"Scan a share of a distributed scan (one task of plan --scan-tasks's scan array)."`
	Seal     scanout.SealCmd     `cmd:"" hidden:"" help:"Merge a distributed scan's parts into the campaign's shards, then submit the round."`
}

const description = `Drain Lustre OSTs: find every file with objects on a set of OSTs and move it
elsewhere with lfs migrate, as a Slurm job array. All state lives in the campaign
directory; any task can be killed and rerun. Exit codes: 0 done, 1 error, 2 bad input,
3 files failed or remain, 4 stopped to protect the filesystem, 5 interrupted by a signal,
6 shard locked by another task.`

// run parses args and runs the chosen subcommand, returning the exit code. A bare
// "migrator" prints the help, with the list of commands, and exits 0: it asks what the
// tool can do, which is not a mistake (kong's default would be one line, "expected one of
// ...", and exit 2).
func run(args []string, env *cli.Env) int {
	if len(args) == 0 {
		args = []string{"--help"}
	}
	exited := false
	exitCode := 0
	parser, err := kong.New(&CLI{},
		kong.Name("migrator"),
		kong.Description(description),
		kong.Writers(env.Stdout, env.Stderr),
		kong.Vars{"version": env.Version},
		kong.Exit(func(code int) { exited, exitCode = true, code }),
		kong.ConfigureHelp(kong.HelpOptions{Compact: true}),
		cli.Mappers(), // arguments arrive byte for byte (non-UTF-8 paths)
	)
	if err != nil {
		fmt.Fprintf(env.Stderr, "migrator: %v\n", err)
		return cli.ExitFailure
	}
	ctx, err := parser.Parse(args)
	if exited { // --help or --version
		return exitCode
	}
	if err != nil {
		fmt.Fprintf(env.Stderr, "migrator: %s\n", cli.OneLine(err))
		return cli.ExitUsage
	}
	err = ctx.Run(env)
	if err != nil {
		fmt.Fprintf(env.Stderr, "migrator %s: %s\n", strings.Fields(ctx.Command())[0], cli.OneLine(err))
	}
	return cli.ExitCode(err)
}
