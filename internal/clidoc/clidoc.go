// Package clidoc writes a kong command line's documentation for packages: man pages in
// roff, one for the tool (with the list of commands) and one per command, and a bash
// completion script. Both are generated from the kong model, the same definitions --help
// prints, so they cannot drift from the binary.
package clidoc

import (
	"fmt"
	"io"
	"regexp"
	"sort"
	"strings"

	"github.com/alecthomas/kong"
)

// Page is one man page.
type Page struct {
	Name    string // file name, e.g. "migrator-plan.1"
	Content string
}

// ManPages returns the tool's page (NAME.1) and one per visible command (NAME-CMD.1,
// nested commands joined by dashes). version goes in the footer; title is the one-line
// description of the tool.
func ManPages(app *kong.Application, version, title string) []Page {
	name := app.Name
	cmds := commands(app.Node)
	var b strings.Builder
	header(&b, name, name, version)
	fmt.Fprintf(&b, ".SH NAME\n%s \\- %s\n", name, roff(title))
	fmt.Fprintf(&b, ".SH SYNOPSIS\n.B %s\n.I command\n.RI [ options ]\n", name)
	fmt.Fprintf(&b, ".SH DESCRIPTION\n%s\n", paragraphs(app.Help))
	if app.Detail != "" {
		fmt.Fprintf(&b, ".PP\n%s\n", paragraphs(app.Detail))
	}
	b.WriteString(".SH COMMANDS\n")
	for _, c := range cmds {
		fmt.Fprintf(&b, ".TP\n.B %s\n%s\nSee \\fB%s\\fR(1).\n", roff(synopsis(c)), roff(c.Help), roff(pageName(c)))
	}
	options(&b, "OPTIONS", app.Flags)
	b.WriteString(".SH SEE ALSO\n")
	var see []string
	for _, c := range cmds {
		see = append(see, fmt.Sprintf("\\fB%s\\fR(1)", roff(pageName(c))))
	}
	b.WriteString(strings.Join(see, ",\n") + "\n")
	pages := []Page{{Name: name + ".1", Content: b.String()}}
	for _, c := range cmds {
		var b strings.Builder
		header(&b, pageName(c), name, version)
		fmt.Fprintf(&b, ".SH NAME\n%s \\- %s\n", roff(pageName(c)), roff(c.Help))
		fmt.Fprintf(&b, ".SH SYNOPSIS\n.B %s\n", roff(synopsis(c)))
		fmt.Fprintf(&b, ".SH DESCRIPTION\n%s\n", paragraphs(c.Help))
		if c.Detail != "" {
			fmt.Fprintf(&b, ".PP\n%s\n", paragraphs(c.Detail))
		}
		if len(c.Positional) > 0 {
			b.WriteString(".SH ARGUMENTS\n")
			for _, p := range c.Positional {
				fmt.Fprintf(&b, ".TP\n.I %s\n%s\n", roff(p.Summary()), paragraphs(p.Help))
			}
		}
		options(&b, "OPTIONS", visibleFlags(c))
		fmt.Fprintf(&b, ".SH SEE ALSO\n\\fB%s\\fR(1)\n", name)
		pages = append(pages, Page{Name: pageName(c) + ".1", Content: b.String()})
	}
	return pages
}

func header(b *strings.Builder, page, tool, version string) {
	b.WriteString(".\\\" Generated from the kong command line definitions (package clidoc); do not edit.\n")
	fmt.Fprintf(b, ".TH %s 1 \"\" \"%s %s\" \"User Commands\"\n", strings.ToUpper(roff(page)), roff(tool), roff(version))
}

func options(b *strings.Builder, title string, flags []*kong.Flag) {
	var vis []*kong.Flag
	for _, f := range flags {
		if !f.Hidden {
			vis = append(vis, f)
		}
	}
	if len(vis) == 0 {
		return
	}
	fmt.Fprintf(b, ".SH %s\n", title)
	for _, f := range vis {
		fmt.Fprintf(b, ".TP\n%s\n%s\n", flagTerm(f), paragraphs(f.Help))
		var notes []string
		if f.HasDefault && f.Default != "" && !f.IsBool() {
			notes = append(notes, "Default: "+roff(f.Default)+".")
		}
		if len(f.Envs) > 0 {
			var envs []string
			for _, e := range f.Envs {
				envs = append(envs, "\\fB"+roff(e)+"\\fR")
			}
			notes = append(notes, "Environment: "+strings.Join(envs, ", ")+".")
		}
		if len(notes) > 0 {
			b.WriteString(strings.Join(notes, " ") + "\n")
		}
	}
}

// flagTerm is "\fB--name\fR=\fIPLACEHOLDER\fR" (with the short form first, if any).
func flagTerm(f *kong.Flag) string {
	s := "\\fB\\-\\-" + roff(f.Name) + "\\fR"
	if f.Short != 0 {
		s = "\\fB\\-" + string(f.Short) + "\\fR, " + s
	}
	switch {
	case f.IsBool() || f.IsCounter():
	case f.Enum != "":
		s += "=\\fI" + roff(strings.ReplaceAll(f.Enum, ",", "|")) + "\\fR"
	default:
		s += "=\\fI" + roff(f.FormatPlaceHolder()) + "\\fR"
	}
	return s
}

func visibleFlags(n *kong.Node) []*kong.Flag {
	var out []*kong.Flag
	for _, f := range n.Flags {
		if !f.Hidden && f.Name != "help" {
			out = append(out, f)
		}
	}
	return out
}

// commands lists the visible leaf commands, depth first, in definition order.
func commands(n *kong.Node) []*kong.Node {
	var out []*kong.Node
	for _, c := range n.Children {
		if c.Hidden || c.Type != kong.CommandNode {
			continue
		}
		if len(c.Children) == 0 {
			out = append(out, c)
		} else {
			out = append(out, commands(c)...)
		}
	}
	return out
}

func pageName(c *kong.Node) string { return strings.ReplaceAll(c.FullPath(), " ", "-") }

// synopsis is "migrator plan <campaign> [flags]".
func synopsis(c *kong.Node) string {
	s := c.FullPath()
	for _, p := range c.Positional {
		s += " " + p.Summary()
	}
	if len(visibleFlags(c)) > 0 {
		s += " [options]"
	}
	return s
}

var blankLines = regexp.MustCompile(`\n\s*\n`)

// paragraphs escapes text for roff, keeping blank-line paragraph breaks.
func paragraphs(s string) string {
	parts := blankLines.Split(strings.TrimSpace(s), -1)
	for i, p := range parts {
		parts[i] = roff(strings.Join(strings.Fields(p), " "))
	}
	return strings.Join(parts, "\n.PP\n")
}

// roff escapes text for a roff line: backslashes, dashes, and a leading dot or quote
// that would make the line a request.
func roff(s string) string {
	s = strings.ReplaceAll(s, `\`, `\e`)
	s = strings.ReplaceAll(s, "-", `\-`)
	var lines []string
	for _, l := range strings.Split(s, "\n") {
		if strings.HasPrefix(l, ".") || strings.HasPrefix(l, "'") {
			l = `\&` + l
		}
		lines = append(lines, l)
	}
	return strings.Join(lines, "\n")
}

// Bash writes a bash completion script: commands, then each command's flags, the values
// of enum flags, and file names for everything else.
func Bash(w io.Writer, app *kong.Application) error {
	name := app.Name
	fn := "_" + strings.NewReplacer("-", "_", ".", "_").Replace(name)
	var top []string
	for _, c := range app.Children {
		if !c.Hidden && c.Type == kong.CommandNode {
			top = append(top, c.Name)
		}
	}
	for _, f := range app.Flags {
		if !f.Hidden {
			top = append(top, "--"+f.Name)
		}
	}
	var b strings.Builder
	fmt.Fprintf(&b, "# bash completion for %s. Generated from the kong command line definitions; do not edit.\n", name)
	fmt.Fprintf(&b, "%s() {\n", fn)
	b.WriteString("\tlocal cur=${COMP_WORDS[COMP_CWORD]} prev=${COMP_WORDS[COMP_CWORD-1]} cmd= i\n")
	b.WriteString("\tif [[ $cur == = ]]; then cur=; fi\n")
	b.WriteString("\tif [[ $prev == = && $COMP_CWORD -ge 2 ]]; then prev=${COMP_WORDS[COMP_CWORD-2]}; fi\n")
	b.WriteString("\tfor ((i = 1; i < COMP_CWORD; i++)); do\n\t\tcase ${COMP_WORDS[i]} in\n\t\t-* | =) ;;\n\t\t*) cmd=${COMP_WORDS[i]}; break ;;\n\t\tesac\n\tdone\n")
	b.WriteString("\tlocal flags=\n\tcase $cmd in\n")
	fmt.Fprintf(&b, "\t\"\")\n\t\tCOMPREPLY=($(compgen -W %s -- \"$cur\"))\n\t\treturn ;;\n", shellWords(top))
	for _, c := range commands(app.Node) {
		var flags []string
		enums := map[string][]string{}
		for _, f := range visibleFlags(c) {
			flags = append(flags, "--"+f.Name)
			if f.Enum != "" {
				vals := strings.Split(f.Enum, ",")
				for i := range vals {
					vals[i] = strings.TrimSpace(vals[i])
				}
				enums["--"+f.Name] = vals
			}
		}
		flags = append(flags, "--help")
		fmt.Fprintf(&b, "\t%s)\n\t\tflags=%s\n", shellQuote(c.FullPath()[len(name)+1:]), shellWords(flags))
		if len(enums) > 0 {
			keys := make([]string, 0, len(enums))
			for k := range enums {
				keys = append(keys, k)
			}
			sort.Strings(keys)
			b.WriteString("\t\tcase $prev in\n")
			for _, k := range keys {
				fmt.Fprintf(&b, "\t\t%s)\n\t\t\tCOMPREPLY=($(compgen -W %s -- \"$cur\"))\n\t\t\treturn ;;\n", k, shellWords(enums[k]))
			}
			b.WriteString("\t\tesac\n")
		}
		b.WriteString("\t\t;;\n")
	}
	b.WriteString("\tesac\n")
	b.WriteString("\tif [[ $cur == -* ]]; then\n\t\tCOMPREPLY=($(compgen -W \"$flags\" -- \"$cur\"))\n\telse\n\t\tCOMPREPLY=($(compgen -f -- \"$cur\"))\n\tfi\n}\n")
	fmt.Fprintf(&b, "complete -o filenames -F %s %s\n", fn, name)
	_, err := io.WriteString(w, b.String())
	return err
}

func shellWords(ws []string) string { return shellQuote(strings.Join(ws, " ")) }

// shellQuote quotes s for bash with single quotes.
func shellQuote(s string) string { return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'" }
