package events

import (
	"fmt"
	"io"
	"path/filepath"

	"migrator/campaign"
	"migrator/manifest"
)

// pathCache finds an entry's path in its shard's manifest. Tasks record entries in
// manifest order give or take a batch (checks and migrations of a batch of files finish
// in any order), so each shard keeps a reader that moves forward and remembers the paths
// of the last window entries it passed; only an entry further back (a busy file retried
// at the end of the task) reopens the shard. At most max shards are held open.
type pathCache struct {
	max   int
	open  map[string]*shardCursor
	clock int
}

// window is how many of the latest entries' paths each open shard remembers.
const window = 8192

type shardCursor struct {
	r    *manifest.ShardReader
	next uint64   // index of the entry Next returns next
	ring []string // ring[i%window]: the path of entry i, for next-window <= i < next
	e    manifest.Entry
	used int
}

func newPathCache(max int) *pathCache { return &pathCache{max: max, open: map[string]*shardCursor{}} }

func (c *pathCache) path(rd campaign.Round, sh manifest.ShardIndex, idx manifest.Index, i uint64) (string, error) {
	file := filepath.Join(rd.Manifests, sh.File)
	c.clock++
	sc := c.open[file]
	if sc != nil && i < sc.next && i+window >= sc.next {
		sc.used = c.clock
		return sc.ring[i%window], nil
	}
	if sc != nil && i < sc.next {
		sc.r.Close()
		delete(c.open, file)
		sc = nil
	}
	if sc == nil {
		if len(c.open) >= c.max {
			c.evict()
		}
		r, err := manifest.OpenShard(file, "") // its SHA-256 was checked by the task that ran it
		if err != nil {
			return "", err
		}
		if h := r.Header(); h.Campaign != idx.Campaign || h.Round != idx.Round || h.Shard != sh.Shard {
			r.Close()
			return "", fmt.Errorf("%s: shard header says campaign %s round %d shard %d", file, h.Campaign, h.Round, h.Shard)
		}
		sc = &shardCursor{r: r, ring: make([]string, window)}
		c.open[file] = sc
	}
	sc.used = c.clock
	for sc.next <= i {
		if err := sc.r.Next(&sc.e); err == io.EOF {
			return "", fmt.Errorf("%s: no entry %d (the shard has %d)", file, i, sc.next)
		} else if err != nil {
			return "", err
		}
		sc.ring[sc.next%window] = sc.e.Path
		sc.next++
	}
	return sc.e.Path, nil
}

// drop closes the shard's manifest, if open.
func (c *pathCache) drop(rd campaign.Round, sh manifest.ShardIndex) {
	file := filepath.Join(rd.Manifests, sh.File)
	if sc := c.open[file]; sc != nil {
		sc.r.Close()
		delete(c.open, file)
	}
}

func (c *pathCache) evict() {
	var oldest string
	for f, sc := range c.open {
		if oldest == "" || sc.used < c.open[oldest].used {
			oldest = f
		}
	}
	c.open[oldest].r.Close()
	delete(c.open, oldest)
}

func (c *pathCache) close() {
	for f, sc := range c.open {
		sc.r.Close()
		delete(c.open, f)
	}
}
