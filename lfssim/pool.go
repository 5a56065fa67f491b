package lfssim

import (
	"bufio"
	"fmt"
	"strings"
	"syscall"

	"migrator/lfs"
)

// runPoolList is "lfs pool_list FSNAME.POOL": "Pool: FSNAME.POOL", then the pool's targets
// one per line (llapi_get_poolmembers()); a pool that does not exist fails with ENOENT, as
// opening its pools/POOL file does. "lfs pool_list FSNAME" lists the pools instead
// ("Pools from FSNAME:", then FSNAME.POOL per line, llapi_get_poollist()).
func runPoolList(cfg *Config, args []string, out, stderr *bufio.Writer, prog string) int {
	if len(args) != 1 {
		fmt.Fprintf(stderr, "usage: pool_list <fsname>[.<pool>] | <pathname>\n")
		return int(syscall.EINVAL)
	}
	fsname, pool, isPool := strings.Cut(args[0], ".")
	if fsname != cfg.FSName {
		fmt.Fprintf(stderr, "%s pool_list: Lustre filesystem '%s' not found: %s\n", prog, fsname, errText(syscall.ENOENT))
		return int(syscall.ENOENT)
	}
	if !isPool {
		fmt.Fprintf(out, "Pools from %s:\n", fsname)
		for name := range cfg.Pools {
			fmt.Fprintf(out, "%s.%s\n", fsname, name)
		}
		return 0
	}
	fmt.Fprintf(out, "Pool: %s.%s\n", fsname, pool)
	members, ok := cfg.Pools[pool]
	if !ok {
		fmt.Fprintf(stderr, "%s pool_list: cannot open /sys/fs/lustre/lov/%s-clilov/pools/%s: %s\n", prog, fsname, pool, errText(syscall.ENOENT))
		return int(syscall.ENOENT)
	}
	for _, o := range members {
		fmt.Fprintf(out, "%s_UUID\n", lfs.OSTName(cfg.FSName, o))
	}
	return 0
}
