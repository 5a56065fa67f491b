package main

import (
	"fmt"
	"runtime"
	"runtime/debug"

	"migrator/cmd/cli"
)

// VersionCmd is "migrator version": what this binary is, for bug reports and for checking
// that every node runs the same migrator.
type VersionCmd struct{}

// Run prints the version, the commit and the Go version.
func (VersionCmd) Run(env *cli.Env) error {
	bi, _ := debug.ReadBuildInfo()
	fmt.Fprint(env.Stdout, versionText(env.Version, commit, bi))
	return nil
}

// versionText describes the build: the version set with -ldflags "-X main.version=..."
// (make build sets it from git describe), else the module version go install recorded;
// the commit Go stamped (with its time, and "(modified)" if the tree had changes), else
// the one make build set with -X main.commit (builds with -buildvcs=false stamp none);
// the Go version.
func versionText(version, ldCommit string, bi *debug.BuildInfo) string {
	goVersion := runtime.Version()
	commit, when, modified := "unknown", "", false
	if ldCommit != "" {
		commit = ldCommit
	}
	if bi != nil {
		if version == "dev" && bi.Main.Version != "" && bi.Main.Version != "(devel)" {
			version = bi.Main.Version
		}
		if bi.GoVersion != "" {
			goVersion = bi.GoVersion
		}
		for _, s := range bi.Settings {
			switch s.Key {
			case "vcs.revision":
				commit = s.Value
			case "vcs.time":
				when = s.Value
			case "vcs.modified":
				modified = s.Value == "true"
			}
		}
	}
	if when != "" {
		commit += " (" + when + ")"
	}
	if modified {
		commit += " (modified)"
	}
	return fmt.Sprintf("migrator %s\ncommit:  %s\ngo:      %s %s/%s\n", version, commit, goVersion, runtime.GOOS, runtime.GOARCH)
}
