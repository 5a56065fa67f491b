package launch

import (
	"fmt"
	"strings"

	"migrator/campaign"
)

// Memory and CPUs a task asks Slurm for, by default. Slurm's --mem bounds the job's whole
// cgroup, the lfs migrate children included, so the figure is migrator's own plus one lfs
// migrate per worker.
const (
	// WorkBaseMiB is migrator work's own memory: its peak RSS was 21 MiB with 1 worker
	// and 24 MiB with 32 on a 20,000-entry shard (README, "Job resources"); the rest is
	// headroom for larger shards (a bit per entry) and batches.
	WorkBaseMiB = 128
	// LFSMigrateMiB is one lfs migrate process: its copy buffer is 64 MiB since Lustre
	// 2.16 (migrate_copy_data() in lfs.c: DEFAULT_IO_BUFLEN, or the file's stripe size if
	// larger; 4 MiB before 2.16), mlock()ed, plus the process itself.
	LFSMigrateMiB = 80
	// CollectMiB is the collect job: one byte per entry of the shards it reads at once
	// (4 by default, 100,000 entries each), the zstd decoders and the reports' buffers;
	// its peak RSS was 15 MiB on a 20,000-file campaign.
	CollectMiB = 256
	// CollectCPUs is collect's default --workers: shards read at once.
	CollectCPUs = 4
)

// Resources returns what one array task asks for: --cpus-per-task (one CPU per worker:
// each lfs migrate copies with one thread) and --mem (WorkBaseMiB plus LFSMigrateMiB per
// worker), unless the campaign sets its own (plan --cpus-per-task, --mem), or an
// --sbatch-arg asks for CPUs or memory itself, which then wins and the derived line is
// left out. mem is "" when left out, cpus 0.
func Resources(s *campaign.Spec) (cpus int, mem string) {
	workers := max(s.Work.Workers, 1)
	cpus = workers
	if s.Slurm.CPUsPerTask > 0 {
		cpus = s.Slurm.CPUsPerTask
	}
	mib := uint64(WorkBaseMiB + LFSMigrateMiB*workers)
	if s.Slurm.MemMiB > 0 {
		mib = s.Slurm.MemMiB
	}
	mem = fmt.Sprintf("%dM", mib)
	if sbatchArgSets(s.Slurm.SbatchArgs, "cpus-per-task") {
		cpus = 0
	}
	if sbatchArgSets(s.Slurm.SbatchArgs, "mem", "mem-per-cpu", "mem-per-gpu") {
		mem = ""
	}
	return cpus, mem
}

// CollectResources returns what the collect job asks for: CollectCPUs and CollectMiB,
// left out like Resources' when an --sbatch-arg sets them.
func CollectResources(s *campaign.Spec) (cpus int, mem string) {
	cpus, mem = CollectCPUs, fmt.Sprintf("%dM", CollectMiB)
	if sbatchArgSets(s.Slurm.SbatchArgs, "cpus-per-task") {
		cpus = 0
	}
	if sbatchArgSets(s.Slurm.SbatchArgs, "mem", "mem-per-cpu", "mem-per-gpu") {
		mem = ""
	}
	return cpus, mem
}

// sbatchArgSets reports whether an extra sbatch option is one of names (--name or
// --name=value; extra options are always in their long form, templates checks that).
func sbatchArgSets(args []string, names ...string) bool {
	for _, a := range args {
		for _, n := range names {
			if a == "--"+n || strings.HasPrefix(a, "--"+n+"=") {
				return true
			}
		}
	}
	return false
}
