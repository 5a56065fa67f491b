package manifest

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"os"
	"path/filepath"

	"migrator/durable"
)

// SupersedesFile lists, in a top-up round's manifest directory (plan --update), the entries
// of earlier rounds that the round takes over beyond its retry set: files the sweep found
// still on a source OST although their record says failed (and not retryable), migrated or
// skipped. The reports count those files in the top-up round only. FORMAT.md describes it.
const SupersedesFile = "supersedes"

const supersedesMagic = "MGRSUPS1"

// Origin is one entry of a round: the round, the shard and the entry's position in it.
type Origin struct {
	Round int
	Shard int
	Index uint64
}

// WriteSupersedes writes the supersedes file of a manifest directory (durably). It must be
// written before the directory's index, which publishes the round.
func WriteSupersedes(dir string, origins []Origin) error {
	b := []byte(supersedesMagic)
	b = binary.LittleEndian.AppendUint64(b, uint64(len(origins)))
	for _, o := range origins {
		b = binary.LittleEndian.AppendUint32(b, uint32(o.Round))
		b = binary.LittleEndian.AppendUint32(b, uint32(o.Shard))
		b = binary.LittleEndian.AppendUint64(b, o.Index)
	}
	b = binary.LittleEndian.AppendUint32(b, crc32.Checksum(b, crc32.MakeTable(crc32.Castagnoli)))
	return durable.WriteFile(filepath.Join(dir, SupersedesFile), b, 0o600)
}

// ReadSupersedes reads the supersedes file of a manifest directory whose index is idx;
// none, nil when the round has none (every round but a top-up round that took over
// earlier entries). The index says how many entries the file lists (Index.Supersedes):
// a file that is missing, or lists another number, is an error. An index written before
// it said (0) takes the file as it is.
func ReadSupersedes(dir string, idx Index) ([]Origin, error) {
	path := filepath.Join(dir, SupersedesFile)
	b, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		if idx.Supersedes > 0 {
			return nil, &FormatError{File: path, Msg: fmt.Sprintf("missing: %s says it lists %d entries of earlier rounds this round took over", IndexFile, idx.Supersedes)}
		}
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	bad := func(msg string) error { return &FormatError{File: path, Msg: msg} }
	if len(b) < 20 || string(b[:8]) != supersedesMagic {
		return nil, bad("not a supersedes file")
	}
	n := binary.LittleEndian.Uint64(b[8:])
	if n > uint64(len(b)) || uint64(len(b)) != 20+16*n {
		return nil, bad(fmt.Sprintf("%d bytes for %d entries", len(b), n))
	}
	if crc32.Checksum(b[:len(b)-4], crc32.MakeTable(crc32.Castagnoli)) != binary.LittleEndian.Uint32(b[len(b)-4:]) {
		return nil, bad("checksum mismatch")
	}
	if idx.Supersedes > 0 && n != idx.Supersedes {
		return nil, bad(fmt.Sprintf("%d entries, %s says %d", n, IndexFile, idx.Supersedes))
	}
	out := make([]Origin, n)
	for i := range out {
		r := b[16+16*i:]
		out[i] = Origin{Round: int(binary.LittleEndian.Uint32(r)), Shard: int(binary.LittleEndian.Uint32(r[4:])),
			Index: binary.LittleEndian.Uint64(r[8:])}
	}
	return out, nil
}
