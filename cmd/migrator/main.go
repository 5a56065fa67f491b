// Command migrator drains Lustre OSTs: it finds every file with objects on a set of OSTs
// and moves it elsewhere with lfs migrate, as a Slurm job array whose only state is the
// campaign directory on shared storage.
package main

import (
	"os"

	"migrator/cmd/cli"
)

// version and commit are set at build time with -ldflags "-X main.version=... -X main.commit=...".
var (
	version = "dev"
	commit  = ""
)

func main() {
	exe, err := os.Executable()
	if err != nil {
		exe = os.Args[0]
	}
	env := &cli.Env{
		Stdin: os.Stdin, Stdout: os.Stdout, Stderr: os.Stderr,
		Getenv: os.Getenv, Exe: exe, Version: version,
	}
	os.Exit(run(os.Args[1:], env))
}
