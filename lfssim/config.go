package lfssim

import (
	"fmt"
	"strconv"
	"strings"
	"syscall"
	"time"

	"migrator/lfs"
)

// Config is the simulated filesystem and its fault injection, read from the environment
// (see the package documentation for the variables).
type Config struct {
	FSName     string
	OSTCount   int
	Version    string
	StripeSize uint64
	Pools      map[string]lfs.OSTList
	// NoCreate are OSTs where the MDS no longer creates objects (max_create_count=0), as an
	// admin sets before draining them. Other OSTs may receive new objects of migrated files.
	NoCreate lfs.OSTList
	// AvailKB overrides the free space "lfs df" reports per OST.
	AvailKB map[uint32]uint64

	Latency   time.Duration // added to every file migrate
	FailEvery int           // every file whose FID hashes to 0 mod FailEvery fails
	FailErrno syscall.Errno // errno of those failures
	CrashProb float64       // probability of SIGKILLing ourselves halfway through a copy
	NoSpace   bool          // every migrate fails "cannot create volatile file: ENOSPC"
	FindFail  string        // find cannot read directories, or check files, whose path contains this (EIO)
	Lease     bool          // detect files open for write with a kernel read lease
	// Mount is the directory fid2path takes for the filesystem's mount point (LFS_SIM_MOUNT);
	// without it, the tree under fid2path's ROOT argument.
	Mount string
	// Swap, if set, swaps a path before the N-th lfs migrate process (swap.go).
	Swap *Swap
	// Synthetic turns on the synthetic namespaces of benchmarks (LFS_SIM_SYNTHETIC=1, see
	// synthetic.go).
	Synthetic bool
	// FindLatency is added to every lfs find, before it prints anything: a slow MDS, so
	// that tests can watch (pause, cancel, kill) a scan while it runs.
	FindLatency time.Duration
}

// Environment variables read by ConfigFromEnv.
const (
	EnvOSTs       = "LFS_SIM_OSTS"
	EnvFSName     = "LFS_SIM_FSNAME"
	EnvVersion    = "LFS_SIM_VERSION"
	EnvStripeSize = "LFS_SIM_STRIPE_SIZE"
	EnvPools      = "LFS_SIM_POOLS"
	EnvNoCreate   = "LFS_SIM_NOCREATE"
	EnvAvailKB    = "LFS_SIM_AVAIL_KB"
	EnvLatency    = "LFS_SIM_LATENCY"
	EnvFailEvery  = "LFS_SIM_FAIL_EVERY"
	EnvFailErrno  = "LFS_SIM_FAIL_ERRNO"
	EnvCrashProb  = "LFS_SIM_CRASH_PROB"
	EnvNoSpace    = "LFS_SIM_NOSPACE"
	EnvNoLease    = "LFS_SIM_NO_LEASE"
	EnvFindFail   = "LFS_SIM_FIND_FAIL"
	EnvMount      = "LFS_SIM_MOUNT"
)

// EnvFindLatency is Config.FindLatency.
const EnvFindLatency = "LFS_SIM_FIND_LATENCY"

// ConfigFromEnv reads the configuration; getenv is os.Getenv in the binary.
func ConfigFromEnv(getenv func(string) string) (Config, error) {
	c := Config{
		FSName: "simfs", OSTCount: 8, Version: "2.16.0", StripeSize: 1 << 20,
		FailErrno: syscall.EIO, Lease: true,
	}
	var err error
	setInt := func(name string, dst *int) {
		if v := getenv(name); v != "" && err == nil {
			if *dst, err = strconv.Atoi(v); err != nil {
				err = fmt.Errorf("%s=%q: not a number", name, v)
			}
		}
	}
	setInt(EnvOSTs, &c.OSTCount)
	setInt(EnvFailEvery, &c.FailEvery)
	if v := getenv(EnvFSName); v != "" {
		c.FSName = v
	}
	if v := getenv(EnvVersion); v != "" {
		c.Version = v
	}
	if v := getenv(EnvStripeSize); v != "" && err == nil {
		if c.StripeSize, err = strconv.ParseUint(v, 10, 64); err != nil {
			err = fmt.Errorf("%s=%q: not a number", EnvStripeSize, v)
		}
	}
	if v := getenv(EnvPools); v != "" && err == nil {
		c.Pools, err = parsePools(v)
	}
	if v := getenv(EnvNoCreate); v != "" && err == nil {
		if c.NoCreate, err = lfs.ParseOSTList(v); err != nil {
			err = fmt.Errorf("%s: %w", EnvNoCreate, err)
		}
	}
	if v := getenv(EnvAvailKB); v != "" && err == nil {
		c.AvailKB, err = parseAvail(v)
	}
	if v := getenv(EnvLatency); v != "" && err == nil {
		if c.Latency, err = time.ParseDuration(v); err != nil {
			err = fmt.Errorf("%s=%q: %w", EnvLatency, v, err)
		}
	}
	if v := getenv(EnvFindLatency); v != "" && err == nil {
		if c.FindLatency, err = time.ParseDuration(v); err != nil {
			err = fmt.Errorf("%s=%q: %w", EnvFindLatency, v, err)
		}
	}
	if v := getenv(EnvFailErrno); v != "" && err == nil {
		e, ok := lfs.ErrnoByName(v)
		if !ok {
			err = fmt.Errorf("%s=%q: unknown errno name", EnvFailErrno, v)
		}
		c.FailErrno = e
	}
	if v := getenv(EnvCrashProb); v != "" && err == nil {
		if c.CrashProb, err = strconv.ParseFloat(v, 64); err != nil || c.CrashProb < 0 || c.CrashProb > 1 {
			err = fmt.Errorf("%s=%q: want a probability between 0 and 1", EnvCrashProb, v)
		}
	}
	c.NoSpace = getenv(EnvNoSpace) == "1"
	c.FindFail = getenv(EnvFindFail)
	c.Synthetic = getenv(EnvSynthetic) == "1"
	c.Mount = getenv(EnvMount)
	c.Lease = getenv(EnvNoLease) != "1"
	if err == nil {
		c.Swap, err = swapFromEnv(getenv)
	}
	if err == nil && (c.OSTCount < 1 || c.OSTCount > lfs.MaxOSTIndex+1) {
		err = fmt.Errorf("%s=%d: want 1 to %d OSTs", EnvOSTs, c.OSTCount, lfs.MaxOSTIndex+1)
	}
	return c, err
}

// lacks reports whether the simulated client's version is one without a feature (has
// tells which versions have it, e.g. lfs.Version.HasFindThreads). An unreadable version
// lacks nothing.
func (c *Config) lacks(has func(lfs.Version) bool) bool {
	v, err := lfs.ParseVersion("lfs " + c.Version)
	return err == nil && !has(v)
}

// parsePools reads "fast=0-3;slow=4-7".
func parsePools(s string) (map[string]lfs.OSTList, error) {
	pools := map[string]lfs.OSTList{}
	for _, def := range strings.Split(s, ";") {
		name, list, ok := strings.Cut(def, "=")
		if !ok || name == "" {
			return nil, fmt.Errorf("%s: %q is not NAME=OSTLIST", EnvPools, def)
		}
		l, err := lfs.ParseOSTList(list)
		if err != nil {
			return nil, fmt.Errorf("%s: pool %s: %w", EnvPools, name, err)
		}
		pools[name] = l
	}
	return pools, nil
}

// parseAvail reads "0=1000,3=0" (OST index = free KiB).
func parseAvail(s string) (map[uint32]uint64, error) {
	m := map[uint32]uint64{}
	for _, def := range strings.Split(s, ",") {
		idx, kb, ok := strings.Cut(def, "=")
		i, err1 := strconv.ParseUint(idx, 10, 32)
		k, err2 := strconv.ParseUint(kb, 10, 64)
		if !ok || err1 != nil || err2 != nil {
			return nil, fmt.Errorf("%s: %q is not INDEX=KIB", EnvAvailKB, def)
		}
		m[uint32(i)] = k
	}
	return m, nil
}

// candidates returns the OSTs new objects may go to: the pool's (or all), minus NoCreate.
func (c Config) candidates(pool string) (lfs.OSTList, error) {
	var from lfs.OSTList
	if pool != "" {
		p, ok := c.Pools[pool]
		if !ok {
			return nil, fmt.Errorf("pool %q does not exist", pool)
		}
		from = p
	} else {
		for i := 0; i < c.OSTCount; i++ {
			from = append(from, uint32(i))
		}
	}
	var out lfs.OSTList
	for _, i := range from {
		if int(i) < c.OSTCount && !c.NoCreate.Contains(i) {
			out = append(out, i)
		}
	}
	return out, nil
}
