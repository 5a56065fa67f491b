package sweep

import (
	"encoding/binary"
	"hash/crc32"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"migrator/campaign"
	"migrator/fidindex"
	"migrator/lfs"
	"migrator/manifest"
)

// A round's FID index is built once (in a memory budget small enough to spill), found
// again as is, and rebuilt when it no longer matches the round's manifest index.
func TestRoundIndexes(t *testing.T) {
	d := campaign.Dir{Root: t.TempDir()}
	spec := &campaign.Spec{ID: "c1"}
	rd := d.Round(0)
	if err := d.MkdirAll(rd); err != nil {
		t.Fatal(err)
	}
	w, err := manifest.NewWriter(manifest.WriterOptions{Dir: rd.Manifests, Campaign: "c1", MaxFiles: 700, MaxBytes: 1 << 40})
	if err != nil {
		t.Fatal(err)
	}
	const n = 2000
	for i := 0; i < n; i++ {
		// FIDs in an order unlike the entries', so the index must sort them.
		e := manifest.Entry{Path: "/fs/f" + string(rune('a'+i%26)), FID: lfs.FID{Seq: 0x200000400 + uint64(i*7919%n), Oid: 1}, OSTs: []uint32{1}}
		if err := w.Write(&e); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := w.Close(); err != nil {
		t.Fatal(err)
	}
	rs, built, err := openRounds(d, spec, t.TempDir(), 4096)
	if err != nil || built != 1 {
		t.Fatalf("built %d, %v", built, err)
	}
	for i := 0; i < n; i++ {
		ls, err := rs[0].fid.Lookup(lfs.FID{Seq: 0x200000400 + uint64(i*7919%n), Oid: 1})
		want := []fidindex.Loc{{Shard: uint32(i / 700), Index: uint64(i % 700)}}
		if err != nil || !cmp.Equal(ls, want) {
			t.Fatalf("entry %d: %v %v, want %v", i, ls, err, want)
		}
	}
	closeRounds(rs)
	if rs, built, err = openRounds(d, spec, t.TempDir(), 0); err != nil || built != 0 {
		t.Fatalf("second open built %d, %v", built, err)
	}
	closeRounds(rs)
	// A damaged block (its CRC fails only when a lookup reads it): the index is rebuilt
	// from the manifests, once, and the lookup answered.
	raw, err := os.ReadFile(IndexPath(d, 0))
	if err != nil {
		t.Fatal(err)
	}
	good := append([]byte(nil), raw...)
	raw[len(raw)/2] ^= 0xff // in a data block (the fences are the last 0.2%)
	if err := os.WriteFile(IndexPath(d, 0), raw, 0o600); err != nil {
		t.Fatal(err)
	}
	if rs, built, err = openRounds(d, spec, t.TempDir(), 0); err != nil || built != 0 {
		t.Fatalf("open of a damaged index: built %d, %v", built, err)
	}
	for i := 0; i < n; i++ {
		fid := lfs.FID{Seq: 0x200000400 + uint64(i*7919%n), Oid: 1}
		ls, _, err := rs[0].lookup(fid)
		want := []fidindex.Loc{{Shard: uint32(i / 700), Index: uint64(i % 700)}}
		if err != nil || !cmp.Equal(ls, want) {
			t.Fatalf("entry %d in a damaged index: %v %v, want %v", i, ls, err, want)
		}
	}
	closeRounds(rs)
	// A damaged fence is found when the index is opened: rebuilt there.
	good[len(good)-10] ^= 0xff
	if err := os.WriteFile(IndexPath(d, 0), good, 0o600); err != nil {
		t.Fatal(err)
	}
	if rs, built, err = openRounds(d, spec, t.TempDir(), 0); err != nil || built != 1 {
		t.Fatalf("open of an index with a damaged fence: built %d, %v", built, err)
	}
	if ls, _, err := rs[0].lookup(lfs.FID{Seq: 0x200000400, Oid: 1}); err != nil || len(ls) != 1 {
		t.Fatalf("lookup after the rebuild: %v %v", ls, err)
	}
	closeRounds(rs)
	// A build killed long ago left its temporary file (it may be gigabytes): the next
	// build removes it, not one being written now by another sweep.
	old := filepath.Join(d.Root, IndexDir, ".tmp-round-000.idx.0123456789ab")
	fresh := filepath.Join(d.Root, IndexDir, ".tmp-round-000.idx.ba9876543210")
	os.WriteFile(old, []byte("partial"), 0o600)
	os.WriteFile(fresh, []byte("partial"), 0o600)
	long := time.Now().Add(-7 * time.Hour)
	os.Chtimes(old, long, long)
	// The manifest index changed (rewritten): the FID index is stale and rebuilt.
	idx := filepath.Join(rd.Manifests, manifest.IndexFile)
	data, _ := os.ReadFile(idx)
	os.WriteFile(idx, append(data, '\n'), 0o600)
	if rs, built, err = openRounds(d, spec, t.TempDir(), 0); err != nil || built != 1 {
		t.Fatalf("after the manifest index changed: built %d, %v", built, err)
	}
	closeRounds(rs)
	if _, err := os.Stat(old); !os.IsNotExist(err) {
		t.Errorf("a killed build's temporary index is still there: %v", err)
	}
	if _, err := os.Stat(fresh); err != nil {
		t.Errorf("a temporary index being written was removed: %v", err)
	}
	// A version-1 index left by the previous release (header CRC valid): rebuilt, and the
	// rebuilt one is version 2 and answers.
	v1, _ := os.ReadFile(IndexPath(d, 0))
	binary.LittleEndian.PutUint32(v1[8:], 1)
	hend := 16 + int(binary.LittleEndian.Uint32(v1[12:]))
	binary.LittleEndian.PutUint32(v1[hend:], crc32.Checksum(v1[:hend], crc32.MakeTable(crc32.Castagnoli)))
	os.WriteFile(IndexPath(d, 0), v1, 0o600)
	if rs, built, err = openRounds(d, spec, t.TempDir(), 0); err != nil || built != 1 {
		t.Fatalf("a version-1 index: built %d, %v", built, err)
	}
	if ls, _, err := rs[0].lookup(lfs.FID{Seq: 0x200000400, Oid: 1}); err != nil || len(ls) != 1 {
		t.Fatalf("lookup after rebuilding a version-1 index: %v %v", ls, err)
	}
	closeRounds(rs)
	if raw, _ := os.ReadFile(IndexPath(d, 0)); binary.LittleEndian.Uint32(raw[8:]) != fidindex.Version {
		t.Errorf("the rebuilt index is version %d", binary.LittleEndian.Uint32(raw[8:]))
	}
}
