// Package tail is "migrator tail": the per-file outcomes of a campaign's tasks as they
// land, from its checkpoints (package events).
package tail

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"strconv"
	"syscall"
	"time"
	"unicode/utf8"

	"migrator/campaign"
	"migrator/checkpoint"
	"migrator/cmd/cli"
	"migrator/events"
	"migrator/manifest"
)

// Cmd is "migrator tail CAMPAIGN [-f] [--json] [--from CURSOR]".
type Cmd struct {
	Campaign string        `arg:"" help:"Campaign directory." type:"path"`
	Follow   bool          `short:"f" help:"Keep following: new records, and new rounds as retry makes them, until interrupted."`
	JSON     bool          `name:"json" help:"One JSON object per event (paths encoded as in failures.jsonl), and a {\"cursor\": ...} object after each batch."`
	From     string        `placeholder:"CURSOR" help:"Start after this position, as printed by an earlier tail (the cursor line), instead of the beginning."`
	Interval time.Duration `default:"1s" help:"With -f, how often to look for new records."`
}

// Run prints the events.
func (c *Cmd) Run(env *cli.Env) error {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	d := campaign.Dir{Root: c.Campaign}
	spec, err := d.Load()
	if err != nil {
		return cli.BadInput(err)
	}
	var from events.Cursor
	if c.From != "" {
		if from, err = events.ParseCursor(c.From); err != nil {
			return cli.BadInput(err)
		}
		if err := events.Check(d, spec, from); err != nil {
			return cli.BadInput(err)
		}
	}
	t := events.New(d, spec, from)
	defer t.Close()
	out := bufio.NewWriter(env.Stdout)
	defer out.Flush()
	enc := json.NewEncoder(out)
	emit := func(ev *events.Event) error {
		if c.JSON {
			return enc.Encode(ev)
		}
		_, err := fmt.Fprintln(out, line(ev))
		return err
	}
	printed := ""
	cursor := func() error {
		cur := t.Cursor().String()
		if cur == printed {
			return nil
		}
		printed = cur
		if c.JSON {
			return enc.Encode(struct {
				Cursor string `json:"cursor"`
			}{cur})
		}
		if err := out.Flush(); err != nil {
			return err
		}
		fmt.Fprintf(env.Stderr, "cursor: %s\n", cur)
		return nil
	}
	for {
		n, err := t.Poll(ctx, emit)
		if ctx.Err() != nil {
			return cursor() // interrupted: say where to resume
		}
		if err != nil {
			if errors.Is(err, checkpoint.ErrCorrupt) || errors.Is(err, manifest.ErrCorrupt) {
				err = cli.BadInput(err)
			}
			cursor()
			return err
		}
		if n > 0 && c.JSON {
			if err := cursor(); err != nil {
				return err
			}
		}
		if err := out.Flush(); err != nil {
			return err
		}
		if n > 0 {
			continue // catching up: read on at once
		}
		if !c.Follow {
			return cursor() // past the last records of other kinds too, if any
		}
		select {
		case <-ctx.Done():
			return cursor()
		case <-time.After(c.Interval):
		}
	}
}

// line is an event for people: time, round and shard, outcome and why, the path (quoted
// when it is not plain text), and the message of a failure.
func line(ev *events.Event) string {
	what := ev.Outcome
	switch {
	case ev.Reason != "":
		what += " (" + ev.Reason + ")"
	case ev.Class != "":
		what += " (" + ev.Class
		if ev.ErrnoName != "" {
			what += " " + ev.ErrnoName
		}
		what += ")"
	}
	s := fmt.Sprintf("%s round %d shard %d %s %s", ev.Time.Local().Format("2006-01-02 15:04:05.000"), ev.Round, ev.Shard, what, printable(string(ev.Path)))
	if ev.Message != "" && ev.Outcome == "failed" {
		s += ": " + printable(ev.Message)
	}
	return s
}

func printable(p string) string {
	if !utf8.ValidString(p) {
		return strconv.Quote(p)
	}
	for _, r := range p {
		if r < ' ' || r == 0x7f || r == '"' {
			return strconv.Quote(p)
		}
	}
	return p
}
