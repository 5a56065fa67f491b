package main

import (
	"fmt"
	"os"
	"path/filepath"

	"github.com/alecthomas/kong"

	"migrator/cmd/cli"
	"migrator/durable"
	"migrator/internal/clidoc"
)

// title is migrator(1)'s one-line description.
const title = "drain Lustre OSTs with lfs migrate and Slurm job arrays"

// CompletionCmd is "migrator completion bash".
type CompletionCmd struct {
	Shell string `arg:"" enum:"bash" help:"Shell to complete for. One of: ${enum}."`
}

// Run prints the completion script, generated from the command line definitions.
func (c *CompletionCmd) Run(env *cli.Env, k *kong.Context) error {
	return clidoc.Bash(env.Stdout, k.Model)
}

// ManCmd is "migrator man DIR": the man pages, for packages (make package).
type ManCmd struct {
	Dir string `arg:"" placeholder:"DIR" help:"Directory to write migrator.1 and migrator-COMMAND.1 into (created if missing)."`
}

// Run writes the man pages, generated from the command line definitions.
func (c *ManCmd) Run(env *cli.Env, k *kong.Context) error {
	if err := os.MkdirAll(c.Dir, 0o755); err != nil {
		return err
	}
	pages := clidoc.ManPages(k.Model, env.Version, title)
	for _, p := range pages {
		if err := durable.WriteFile(filepath.Join(c.Dir, p.Name), []byte(p.Content), 0o644); err != nil {
			return err
		}
	}
	fmt.Fprintf(env.Stderr, "%d man pages in %s\n", len(pages), c.Dir)
	return nil
}
