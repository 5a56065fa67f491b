package lfssim_test

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"migrator/lfs"
)

// lfs pool_list FSNAME.POOL lists a pool's OSTs; a pool that does not exist is ErrNoPool.
func TestContractPoolList(t *testing.T) {
	e := newEnv(t, "LFS_SIM_POOLS=fast=0-3;odd=1,3,5,7")
	ctx := context.Background()
	ts, err := e.c.DF(ctx, e.dir)
	if err != nil || len(ts) == 0 {
		t.Fatalf("df: %v %v", ts, err)
	}
	fsname := strings.TrimSuffix(ts[0].UUID, "_UUID")
	fsname = fsname[:strings.LastIndex(fsname, "-OST")]
	if _, err := e.c.PoolMembers(ctx, fsname, "migrator-no-such-pool"); !errors.Is(err, lfs.ErrNoPool) {
		t.Errorf("a pool that does not exist: %v, want ErrNoPool", err)
	}
	if e.real {
		return
	}
	for pool, want := range map[string]lfs.OSTList{"fast": {0, 1, 2, 3}, "odd": {1, 3, 5, 7}} {
		got, err := e.c.PoolMembers(ctx, fsname, pool)
		if err != nil {
			t.Errorf("pool %s: %v", pool, err)
		}
		if d := cmp.Diff(want, got); d != "" {
			t.Errorf("pool %s (-want +got):\n%s", pool, d)
		}
	}
}
