// Package lfs is migrator's interface to Lustre: it runs the real lfs command (or the
// project's simulator, which behaves the same) and parses its real output formats.
//
// Every call execs lfs with an argument vector, never through a shell, and every path is
// an absolute path passed as one argument, so a file name may hold any byte but NUL.
// Output that names files is attributed by exact match in argument order:
//
//   - lfs find ... -0 prints NUL-terminated paths: byte-exact for any name.
//   - lfs path2fid FILE... and lfs hsm_state FILE... print "FILE: VALUE" lines for the
//     files that succeeded; files with a newline in their name are asked one per call, and
//     a batch whose output cannot be attributed line by line is asked again file by file.
//   - lfs getstripe -y does not name its YAML blocks, so it is run one file per call.
//   - lfs migrate exits with the first failure's errno only; with -v it names successes on
//     stdout and failures on stderr ("error: lfs migrate: FILE: REASON: STRERROR").
//
// Where the output of lfs can be cut it is never trusted for a decision: lfs find --printf
// stops at 1023 bytes per file (FileInfo recognises a cut record and describes that file
// from lstat, path2fid and getstripe -y), and "off the source OSTs" is decided by lfs find
// -O, which reads the whole layout.
//
// Every behaviour relied on is listed in LUSTRE.md with the Lustre function it comes from
// (lfs.c, liblustreapi*.c, releases 2.12 to 2.17).
package lfs
