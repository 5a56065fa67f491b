package templates

import (
	"fmt"
	"strings"
)

// sbatchLongOptions are the long options of sbatch (Slurm 22.05.8, the version this is
// built against): the names getopt_long matches an --option of an #SBATCH line against.
// sbatch builds its table from Slurm's common option list (src/common/slurm_opt.c,
// slurm_option_table_create), which lists more than "sbatch --help" shows (--open-mode,
// --batch, --test-only ...). The list was taken from the binary itself: for every letter
// L, "sbatch --L=x" makes getopt_long name every long option starting with L
// ("option '--a=x' is ambiguous; possibilities: '--account' '--acctg-freq' '--array'"),
// and the letters with a single option (j, k, l) resolve to it.
var sbatchLongOptions = []string{
	"account",
	"acctg-freq",
	"array",
	"batch",
	"bb",
	"bbf",
	"begin",
	"chdir",
	"cluster",
	"cluster-constraint",
	"clusters",
	"comment",
	"constraint",
	"container",
	"context",
	"contiguous",
	"core-spec",
	"cores-per-socket",
	"cpu-freq",
	"cpus-per-gpu",
	"cpus-per-task",
	"deadline",
	"delay-boot",
	"dependency",
	"distribution",
	"error",
	"exclude",
	"exclusive",
	"export",
	"export-file",
	"extra-node-info",
	"get-user-env",
	"gid",
	"gpu-bind",
	"gpu-freq",
	"gpus",
	"gpus-per-node",
	"gpus-per-socket",
	"gpus-per-task",
	"gres",
	"gres-flags",
	"help",
	"hint",
	"hold",
	"ignore-pbs",
	"input",
	"job-name",
	"kill-on-invalid-dep",
	"licenses",
	"mail-type",
	"mail-user",
	"mcs-label",
	"mem",
	"mem-bind",
	"mem-per-cpu",
	"mem-per-gpu",
	"mincpus",
	"network",
	"nice",
	"no-kill",
	"no-requeue",
	"nodefile",
	"nodelist",
	"nodes",
	"ntasks",
	"ntasks-per-core",
	"ntasks-per-gpu",
	"ntasks-per-node",
	"ntasks-per-socket",
	"ntasks-per-tres",
	"open-mode",
	"output",
	"overcommit",
	"oversubscribe",
	"parsable",
	"partition",
	"power",
	"prefer",
	"priority",
	"profile",
	"propagate",
	"qos",
	"quiet",
	"reboot",
	"requeue",
	"reservation",
	"signal",
	"sockets-per-node",
	"spread-job",
	"switches",
	"tasks-per-node",
	"test-only",
	"thread-spec",
	"threads-per-core",
	"time",
	"time-min",
	"tmp",
	"uid",
	"usage",
	"use-min-nodes",
	"verbose",
	"version",
	"wait",
	"wait-all-nodes",
	"wckey",
	"wrap",
}

// resolveSbatchOption returns the long option an #SBATCH line's "--name" selects, the
// way sbatch's getopt_long does: an exact name is that option; otherwise a prefix of
// exactly one option is that option; a prefix of several is an error (getopt_long calls
// it ambiguous, and sbatch refuses the script). A name that matches nothing is returned
// as it is, with known false: an option of a newer sbatch, which that sbatch judges.
func resolveSbatchOption(name string) (full string, known bool, err error) {
	var matches []string
	for _, o := range sbatchLongOptions {
		if o == name {
			return o, true, nil
		}
		if strings.HasPrefix(o, name) {
			matches = append(matches, o)
		}
	}
	switch {
	case name == "":
		return "", false, fmt.Errorf("no option name")
	case len(matches) == 1:
		return matches[0], true, nil
	case len(matches) > 1:
		return "", false, fmt.Errorf("--%s is ambiguous in sbatch (it could be --%s)", name, strings.Join(matches, ", --"))
	}
	return name, false, nil
}
