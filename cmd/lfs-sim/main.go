// Command lfs-sim is migrator's stand-in for Lustre's lfs command. It runs the subset of
// lfs that migrator uses (find, getstripe, path2fid, hsm_state, migrate, df, --version) plus
// setstripe and hsm_set/hsm_release to build test trees, on an ordinary directory tree,
// with the same arguments, output formats and exit codes. Layouts are kept in extended
// attributes. See package migrator/lfssim for its configuration and fault injection.
package main

import (
	"fmt"
	"io"
	"os"

	"migrator/lfssim"
)

func main() {
	if len(os.Args) < 2 || isHelp(os.Args[1]) {
		help(os.Stdout)
		return
	}
	os.Exit(lfssim.Run(os.Args, os.Getenv, os.Stdin, os.Stdout, os.Stderr))
}

func isHelp(arg string) bool { return arg == "--help" || arg == "-h" || arg == "help" }

// helpText is what lfs-sim --help prints: every command and every LFS_SIM_* setting
// (TestHelpListsEverything checks both against package lfssim).
const helpText = `Usage: lfs-sim COMMAND [ARGS]

A stand-in for Lustre's lfs on an ordinary directory tree, for migrator's demo and tests
and for rehearsing a campaign: migrator plan ... --lfs /path/to/lfs-sim. Arguments,
output and exit codes (0, or the errno of the first failure) are lfs's.

Commands, as lfs has them:
  find DIR|FILE...     -O/--ost LIST, -type, --maxdepth, --mindepth, -size, -uid, -gid,
                       --pool, -mtime, --layout, "!", -print, -0/-print0, --printf, --threads
  getstripe FILE...    -y/--yaml, -i, -c, -S, -p, -F, -L, -d, -v, -q
  path2fid FILE...     prints "FILE: [FID]" per file
  fid2path [--print-fid] [--print0] MOUNT FID...   every name of each FID
  hsm_state FILE...    prints "FILE: (0xFLAGS) ..." per file
  migrate FILE...      -n (non-block), -b (block), -v, -c, -S, -p, -o, -W, -0, --files-from
  df [-i] [PATH]       free space (-i: objects) per OST
  pool_list FSNAME.POOL   the pool's OSTs, "Pool: FSNAME.POOL" then one target a line
  setstripe FILE       -E (composite layouts), -c, -S, -i, -p, -o: set a file's layout
  hsm_set, hsm_clear   FLAGS FILE...: change a file's HSM flags
  hsm_release FILE...  release an archived file (no objects left on any OST)
  --version, version   the version lfs --version would print

Commands of the simulator's own:
  sim-mktree [flags] DIR   build a tree of files, some on the source OSTs:
                           --files N, --sources LIST (required), --source-share F,
                           --seed N, --max-size BYTES, --hostile-every N, --link-every N,
                           --special-every N, --dangling-every N, --kinds-every N
                           (PFL, DoM, FLR), --released-every N (HSM), --wide-every N
                           (300 stripes; LFS_SIM_OSTS above 300), --empty
  --help, -h, help         this text

Configuration (environment):
  LFS_SIM_OSTS=8            number of OSTs
  LFS_SIM_FSNAME=simfs      filesystem name, for target names (simfs-OST0003)
  LFS_SIM_VERSION=2.16.0    what lfs --version reports; below 2.16 a plain migrate keeps the OSTs
  LFS_SIM_STRIPE_SIZE=1048576  default stripe size, bytes
  LFS_SIM_POOLS="fast=0-3;slow=4-7"  OST pools
  LFS_SIM_NOCREATE=2,3      OSTs where no new objects are created (max_create_count=0)
  LFS_SIM_AVAIL_KB=3=0      free space lfs df reports for some OSTs (OST=KB,...)
  LFS_SIM_MOUNT=/mnt/fs1    the filesystem's mount point, for fid2path (default: fid2path's MOUNT)

Fault injection (environment):
  LFS_SIM_LATENCY=5ms       added to every migrated file
  LFS_SIM_FIND_LATENCY=1s   added to every lfs find (a slow MDS: a scan to watch, pause or kill)
  LFS_SIM_FAIL_EVERY=N      files whose FID hashes to 0 mod N fail "data copy failed"
  LFS_SIM_FAIL_ERRNO=EIO    the errno of those failures
  LFS_SIM_CRASH_PROB=0.1    probability that lfs-sim SIGKILLs itself halfway through a copy
  LFS_SIM_NOSPACE=1         every migrate fails "cannot create volatile file: ENOSPC"
  LFS_SIM_NO_LEASE=1        do not use kernel leases to detect writers
  LFS_SIM_FIND_FAIL=text    find cannot read directories, or check files, whose path contains text (EIO)
  LFS_SIM_SWAP=symlink:N    before the N-th migrate process, the path below is replaced by a
                            symlink to the target (link:N: a hard link of it renamed over it)
  LFS_SIM_SWAP_PATH=/p      the path swapped (a file or a directory)
  LFS_SIM_SWAP_TARGET=/t    what it is swapped for
  LFS_SIM_SWAP_COUNT=/f     the file counting migrate processes (one byte each)

A tree whose root holds a directory .lustre/fid takes ROOT/.lustre/fid/FID for a file in
migrate and hsm_state, as Lustre does.

Benchmark mode (environment):
  LFS_SIM_SYNTHETIC=1       directories marked by lfssim.MakeSynthetic hold generated files that
                            exist as no inode: find streams and describes them (see README)
`

func help(w io.Writer) { fmt.Fprint(w, helpText) }
