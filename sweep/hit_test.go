package sweep

import (
	"testing"

	"github.com/google/go-cmp/cmp"

	"migrator/lfs"
	"migrator/manifest"
)

// A hit keeps the file as found byte for byte (any name), and its sort key orders hits by
// round, then shard, then entry.
func TestHitRoundTrip(t *testing.T) {
	e := manifest.Entry{Path: "/fs/new\nline-\xff\xfe", FID: lfs.FID{Seq: 0x200000401, Oid: 7, Ver: 1}, Size: 1 << 40,
		Nlink: 2, UID: 1000, GID: 100, OSTs: []uint32{2, 3}}
	rn, sh, idx, got, err := decodeHit(encodeHit(3, 1001, 1<<33, &e))
	if err != nil || rn != 3 || sh != 1001 || idx != 1<<33 {
		t.Fatalf("%d %d %d %v", rn, sh, idx, err)
	}
	if d := cmp.Diff(e, got); d != "" {
		t.Errorf("-want +got:\n%s", d)
	}
	a, b := encodeHit(1, 2, 300, &e), encodeHit(2, 0, 0, &e)
	if string(a) >= string(b) {
		t.Error("round 1 does not sort before round 2")
	}
}

func FuzzDecodeHit(f *testing.F) {
	e := manifest.Entry{Path: "/x", OSTs: []uint32{1}}
	f.Add(encodeHit(0, 0, 0, &e))
	f.Fuzz(func(t *testing.T, b []byte) {
		decodeHit(b)
	})
}
