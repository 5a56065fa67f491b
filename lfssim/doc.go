// Package lfssim is a stand-in for Lustre's lfs command on an ordinary directory tree, for
// migrator's demo and tests and for admins who want to rehearse a campaign. The lfs-sim
// binary (cmd/lfs-sim) runs Run; the helpers here build test trees.
//
// It implements the lfs subcommands migrator uses, with lfs's arguments, output formats
// and exit codes (0, or the errno of the first failure): find (with -O/--ost, -type,
// --maxdepth, -size, -uid, -gid, --pool, -mtime, --layout, "!", -0, --printf), getstripe
// (-y and the plain form), path2fid, fid2path (-0, -f, -c, -l; names are found by walking
// LFS_SIM_MOUNT, or fid2path's ROOT when it is unset), hsm_state, migrate (-n, -b, -v,
// -c, -S, -p, -o, -W, -0, --files-from), df (-i splits the inodes evenly) and --version;
// plus setstripe (with -E for composite layouts), hsm_set, hsm_clear and hsm_release to
// build trees.
//
// It follows Lustre's source where migrator depends on it (lfs/LUSTRE.md), each place
// citing the function it mirrors: find opens operands as llapi_semantic_traverse() does,
// cuts --printf records at 1023 bytes (printf_format_string()), prints %Lo as
// printf_format_ost_indices() does, reads -O as setup_indexes() and matches it as
// check_obd_match(); a released file keeps stale stripe slots that -O may match.
//
// # Simulated state
//
// A file's layout lives in the extended attribute user.lfs_sim.layout; a file without one
// has one stripe on an OST chosen from its identity. Its FID is derived from the inode and
// birth time, so hard links share it and a new file under an old name gets a new one. HSM
// state lives in user.lfs_sim.hsm.
//
// migrate copies every byte into a volatile file beside the original (so a full filesystem
// fails it with ENOSPC, as on Lustre), checks that the file did not change meanwhile, and
// swaps the layout with one setxattr on the open inode. The original's bytes are never
// written: inode, owner, mode and mtime stay, and a crash at any point leaves it intact.
// In non-block mode (-n) it takes a kernel read lease, so a file someone has open for write
// fails with EBUSY ("cannot get lease"), and a writer appearing during the copy aborts it.
// Migrating an HSM-released file first "restores" it and records that it did
// (Restored), which a drain must never cause.
//
// # Configuration (environment)
//
//	LFS_SIM_OSTS=8            number of OSTs
//	LFS_SIM_FSNAME=simfs      filesystem name, for target names (simfs-OST0003)
//	LFS_SIM_VERSION=2.16.0    what lfs --version reports; below 2.16 a plain migrate keeps the OSTs
//	LFS_SIM_STRIPE_SIZE=1048576
//	LFS_SIM_POOLS="fast=0-3;slow=4-7"
//	LFS_SIM_NOCREATE=2,3      OSTs where no new objects are created (max_create_count=0)
//	LFS_SIM_AVAIL_KB=3=0      free space lfs df reports for some OSTs
//	LFS_SIM_MOUNT=/dir        the "mount point" fid2path resolves names under
//
// # Fault injection (environment)
//
//	LFS_SIM_LATENCY=5ms       added to every migrated file
//	LFS_SIM_FIND_LATENCY=1s   added to every lfs find (a slow MDS: a scan to watch, pause or kill)
//	LFS_SIM_FAIL_EVERY=N      files whose FID hashes to 0 mod N fail "data copy failed"
//	LFS_SIM_FAIL_ERRNO=EIO    the errno of those failures
//	LFS_SIM_CRASH_PROB=0.1    probability that lfs-sim SIGKILLs itself halfway through a copy
//	LFS_SIM_NOSPACE=1         every migrate fails "cannot create volatile file: ENOSPC"
//	LFS_SIM_NO_LEASE=1        do not use kernel leases to detect writers
//	LFS_SIM_FIND_FAIL=text    find cannot read directories, or check files, whose path contains text (EIO)
//	LFS_SIM_SWAP=symlink:N    before the N-th migrate process, LFS_SIM_SWAP_PATH is replaced by a
//	                          symlink to LFS_SIM_SWAP_TARGET (link:N: a hard link of it renamed
//	                          over it); processes are counted in the file LFS_SIM_SWAP_COUNT
//
// MarkBusy makes a file look open for write without keeping it open.
package lfssim
