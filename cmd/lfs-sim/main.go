// Command lfs-sim is migrator's stand-in for Lustre's lfs command. It runs the subset of
// lfs that migrator uses (find, getstripe, path2fid, hsm_state, migrate, df, --version) plus
// setstripe and hsm_set/hsm_release to build test trees, on an ordinary directory tree,
// with the same arguments, output formats and exit codes. Layouts are kept in extended
// attributes. See package migrator/lfssim for its configuration and fault injection.
package main

import (
	"os"

	"migrator/lfssim"
)

func main() {
	os.Exit(lfssim.Run(os.Args, os.Getenv, os.Stdin, os.Stdout, os.Stderr))
}
