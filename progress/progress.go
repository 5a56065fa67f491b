// Package progress shows how a long run is going: a live bar on a terminal, and a plain
// line every 30 seconds in batch logs (Slurm output files), from one status function over
// the run's atomic counters.
package progress

import (
	"context"
	"fmt"
	"io"
	"os"
	"sync"
	"time"

	"github.com/schollz/progressbar/v3"
	"golang.org/x/term"
)

// IsTerminal reports whether w is a terminal.
func IsTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	return ok && term.IsTerminal(int(f.Fd()))
}

// Reporter renders status lines until stopped.
type Reporter struct {
	stop chan struct{}
	done chan struct{}
	once sync.Once

	mu  sync.Mutex // serialises output: the bar's redraws and Printf's lines
	out io.Writer
	cur *progressbar.ProgressBar // the live bar, if one is drawn
}

// Options configure a Reporter.
type Options struct {
	Out      io.Writer
	Terminal bool          // draw a live bar (else print plain lines)
	Every    time.Duration // plain-line interval (default 30 s)
	Prefix   string        // e.g. "plan"
	// Total and Done, if Total is set, drive the bar's percentage.
	Total func() int64
	Done  func() int64
}

// Start shows status() until Stop. status must be safe to call concurrently with the work
// (read atomic counters).
func Start(ctx context.Context, o Options, status func() string) *Reporter {
	if o.Every <= 0 {
		o.Every = 30 * time.Second
	}
	r := &Reporter{stop: make(chan struct{}), done: make(chan struct{}), out: o.Out}
	go func() {
		defer close(r.done)
		if o.Terminal {
			r.bar(ctx, o, status)
			return
		}
		t := time.NewTicker(o.Every)
		defer t.Stop()
		for {
			select {
			case <-r.stop:
				return
			case <-ctx.Done():
				return
			case <-t.C:
				line := status()
				r.mu.Lock()
				fmt.Fprintf(o.Out, "%s %s: %s\n", time.Now().Format(time.DateTime), o.Prefix, line)
				r.mu.Unlock()
			}
		}
	}()
	return r
}

func (r *Reporter) bar(ctx context.Context, o Options, status func() string) {
	total := int64(-1)
	if o.Total != nil {
		total = o.Total()
	}
	bar := progressbar.NewOptions64(total,
		progressbar.OptionSetWriter(o.Out),
		progressbar.OptionSetDescription(o.Prefix),
		progressbar.OptionShowElapsedTimeOnFinish(),
		progressbar.OptionSetElapsedTime(true),
		progressbar.OptionFullWidth(),
		progressbar.OptionThrottle(200*time.Millisecond),
		progressbar.OptionClearOnFinish(),
	)
	r.mu.Lock()
	r.cur = bar
	r.mu.Unlock()
	finish := func() {
		r.mu.Lock()
		bar.Finish()
		r.cur = nil
		r.mu.Unlock()
	}
	t := time.NewTicker(250 * time.Millisecond)
	defer t.Stop()
	for {
		select {
		case <-r.stop:
			finish()
			return
		case <-ctx.Done():
			finish()
			return
		case <-t.C:
			line := status()
			var total, done int64
			if o.Total != nil {
				total, done = max(o.Total(), 1), o.Done()
			}
			r.mu.Lock()
			bar.Describe(o.Prefix + ": " + line)
			if o.Total != nil {
				bar.ChangeMax64(total)
				bar.Set64(done)
			} else {
				bar.Add(1)
			}
			r.mu.Unlock()
		}
	}
}

// Printf prints a line (events such as "shard 3 finished") without garbling the display:
// on a terminal the bar is cleared first and redrawn at its next update.
func (r *Reporter) Printf(format string, args ...any) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.cur != nil {
		r.cur.Clear()
	}
	fmt.Fprintf(r.out, format, args...)
}

// Stop ends the display and waits for it.
func (r *Reporter) Stop() {
	r.once.Do(func() { close(r.stop) })
	<-r.done
}

// Rate formats a count per second over elapsed.
func Rate(n int64, elapsed time.Duration) string {
	if elapsed <= 0 {
		return "0/s"
	}
	return fmt.Sprintf("%.0f/s", float64(n)/elapsed.Seconds())
}
