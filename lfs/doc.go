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
// The facts behind these rules come from Lustre's lfs.c and liblustreapi (release 2.17).
package lfs
