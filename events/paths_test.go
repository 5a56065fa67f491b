package events

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"migrator/campaign"
	"migrator/lfs"
	"migrator/manifest"
)

// Paths are found whatever order the entries are asked in: forward, back within the
// window, far back (the shard is reopened), across shards beyond the open limit; an entry
// past the end is an error.
func TestPathCache(t *testing.T) {
	d := campaign.Dir{Root: t.TempDir()}
	rd := d.Round(0)
	os.MkdirAll(rd.Manifests, 0o700)
	const n = 3 * window
	idx := manifest.Index{Campaign: "c-p", Round: 0}
	for k := 0; k < 3; k++ {
		f, err := os.Create(filepath.Join(rd.Manifests, manifest.ShardName(k)))
		if err != nil {
			t.Fatal(err)
		}
		w, err := manifest.NewShardWriter(f, manifest.Header{Campaign: "c-p", Round: 0, Shard: k})
		if err != nil {
			t.Fatal(err)
		}
		for i := 0; i < n; i++ {
			e := manifest.Entry{Path: pathOf(k, i), FID: lfs.FID{Seq: 0x200000400, Oid: uint32(i + 1)}, Nlink: 1, OSTs: []uint32{1}}
			if err := w.Write(&e); err != nil {
				t.Fatal(err)
			}
		}
		if _, err := w.Close(); err != nil {
			t.Fatal(err)
		}
		f.Close()
		idx.Shards = append(idx.Shards, manifest.ShardIndex{Shard: k, File: manifest.ShardName(k), Files: n})
	}
	c := newPathCache(2)
	defer c.close()
	asks := [][2]int{{0, 5}, {0, 3}, {0, 100}, {0, 99}, {0, 2 * window}, {0, window + 1}, {0, 7}, {1, n - 1}, {2, 0}, {0, 8}, {1, 0}, {0, n - 1}, {0, n - window}}
	for _, a := range asks {
		got, err := c.path(rd, idx.Shards[a[0]], idx, uint64(a[1]))
		if err != nil || got != pathOf(a[0], a[1]) {
			t.Errorf("shard %d entry %d: %q, %v; want %q", a[0], a[1], got, err, pathOf(a[0], a[1]))
		}
		if len(c.open) > 2 {
			t.Errorf("%d shards open, limit 2", len(c.open))
		}
	}
	if _, err := c.path(rd, idx.Shards[0], idx, n); err == nil || !strings.Contains(err.Error(), "no entry") {
		t.Errorf("entry past the end: %v", err)
	}
}

func pathOf(k, i int) string { return fmt.Sprintf("/fs/shard-%d/\xff\nfile-%06d", k, i) }
