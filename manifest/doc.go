// Package manifest writes and reads the campaign's file lists: shards of entries (path as
// raw bytes, FID, size, nlink, owner, source OSTs), zstd-compressed with block checksums,
// and an index of every shard with its SHA-256. FORMAT.md describes the bytes.
//
// Writer cuts a stream of entries into shards by count and by bytes, so array tasks get
// similar work; ShardReader streams one shard back with Next, handing out only entries from
// blocks whose checksum matched. Both use memory independent of the number of entries.
package manifest
