package sweep

import (
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"

	"migrator/campaign"
	"migrator/durable"
	"migrator/extsort"
	"migrator/fidindex"
	"migrator/lfs"
	"migrator/manifest"
)

// IndexDir is where the rounds' FID indexes live in a campaign directory.
const IndexDir = "fidindex"

// IndexPath returns the FID index file of round n.
func IndexPath(d campaign.Dir, n int) string {
	return filepath.Join(d.Root, IndexDir, fmt.Sprintf("round-%03d.idx", n))
}

// round is one round's manifest index and FID index.
type round struct {
	n   int
	idx manifest.Index
	fid *fidindex.Reader
	// To rebuild the FID index when a block of it turns out damaged.
	rd          campaign.Round
	want        fidindex.Header
	path, spool string
	mem         int
	rebuilt     bool
}

// lookup finds fid in the round's FID index. The index is derived data, so a block that
// fails its CRC (found only when read) has the whole index rebuilt from the round's
// manifests, once, and the lookup asked again: a damaged index neither decides an
// outcome nor stops every later sweep (collect's among them) until someone removes it.
func (r *round) lookup(fid lfs.FID) ([]fidindex.Loc, bool, error) {
	ls, err := r.fid.Lookup(fid)
	if err == nil || !errors.Is(err, fidindex.ErrCorrupt) || r.rebuilt {
		return ls, false, err
	}
	r.rebuilt = true
	r.fid.Close()
	if err := buildIndex(r.rd, r.idx, r.want, r.path, r.spool, r.mem); err != nil {
		return nil, true, err
	}
	if r.fid, err = fidindex.Open(r.path); err != nil {
		return nil, true, err
	}
	ls, err = r.fid.Lookup(fid)
	return ls, true, err
}

// openRounds opens the FID index of every round, building the ones that are missing or
// do not match their round's manifest index (an external sort of the round's entries in
// memBytes of memory). built counts the indexes it wrote.
func openRounds(d campaign.Dir, spec *campaign.Spec, spool string, memBytes int) (rs []*round, built int, err error) {
	ns, err := d.Rounds()
	if err != nil {
		return nil, 0, err
	}
	defer func() {
		if err != nil {
			closeRounds(rs)
			rs = nil
		}
	}()
	for _, n := range ns {
		rd := d.Round(n)
		idx, err := manifest.ReadIndex(rd.Manifests)
		if err != nil {
			return rs, built, err
		}
		if idx.Campaign != spec.ID || idx.Round != n {
			return rs, built, fmt.Errorf("%s: manifest index of campaign %s round %d, not %s round %d", rd.Manifests, idx.Campaign, idx.Round, spec.ID, n)
		}
		raw, err := os.ReadFile(filepath.Join(rd.Manifests, manifest.IndexFile))
		if err != nil {
			return rs, built, err
		}
		want := fidindex.Header{Campaign: spec.ID, Round: n, ManifestSHA256: sha256.Sum256(raw), Count: idx.Files}
		path := IndexPath(d, n)
		r, err := fidindex.Open(path)
		if err == nil && r.Header() != want {
			r.Close()
			err = errors.New("stale")
		}
		if err != nil {
			if err := buildIndex(rd, idx, want, path, spool, memBytes); err != nil {
				return rs, built, err
			}
			built++
			if r, err = fidindex.Open(path); err != nil {
				return rs, built, err
			}
		}
		rs = append(rs, &round{n: n, idx: idx, fid: r, rd: rd, want: want, path: path, spool: spool, mem: memBytes})
	}
	return rs, built, nil
}

func closeRounds(rs []*round) {
	for _, r := range rs {
		r.fid.Close()
	}
}

// tempStaleAfter is how long a temporary FID index must have gone unwritten before a
// build removes it: its builder was killed, and it may be 28 bytes per entry (28 GB for
// 10^9 files). A live build may leave it unwritten while the sort merges runs before its
// first record (more than 128 runs: over 4 GB of FIDs), so the wait is long.
const tempStaleAfter = 6 * time.Hour

// removeStaleTemps removes the temporary files of index path left by killed builds.
func removeStaleTemps(path string) {
	dir, base := filepath.Split(path)
	ents, _ := os.ReadDir(dir)
	for _, e := range ents {
		if !durable.IsTempOf(e.Name(), base) {
			continue
		}
		if fi, err := e.Info(); err == nil && time.Since(fi.ModTime()) > tempStaleAfter {
			os.Remove(filepath.Join(dir, e.Name()))
		}
	}
}

// buildIndex reads every entry of the round's shards and writes their FIDs, sorted.
func buildIndex(rd campaign.Round, idx manifest.Index, h fidindex.Header, path, spool string, memBytes int) error {
	if err := durable.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return err
	}
	removeStaleTemps(path)
	s := extsort.New(spool, memBytes)
	defer s.Close()
	var e manifest.Entry
	for _, sh := range idx.Shards {
		r, err := manifest.OpenShard(filepath.Join(rd.Manifests, sh.File), sh.SHA256)
		if err != nil {
			return err
		}
		for i := uint64(0); ; i++ {
			err := r.Next(&e)
			if err == io.EOF {
				break
			}
			if err != nil {
				r.Close()
				return err
			}
			if err := s.Add(fidindex.Record(e.FID, fidindex.Loc{Shard: uint32(sh.Shard), Index: i})); err != nil {
				r.Close()
				return err
			}
		}
		r.Close()
	}
	// Sort hands records to a callback; Write pulls them: a goroutine joins the two.
	ch := make(chan []byte, 1024)
	errc := make(chan error, 1)
	stop := make(chan struct{})
	go func() {
		errc <- s.Sort(func(rec []byte) error {
			select {
			case ch <- append([]byte(nil), rec...):
				return nil
			case <-stop:
				return errors.New("stopped")
			}
		})
		close(ch)
	}()
	err := fidindex.Write(path, h, func() ([]byte, error) {
		rec, ok := <-ch
		if !ok {
			return nil, io.EOF
		}
		return rec, nil
	})
	close(stop)
	for range ch {
	}
	if serr := <-errc; err == nil && serr != nil {
		err = serr
	}
	return err
}
