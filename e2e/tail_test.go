package e2e

import (
	"bufio"
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"syscall"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/google/go-cmp/cmp"

	"migrator/campaign"
	"migrator/lfssim"
)

// tailLine is one line of migrator tail --json: an event, or a cursor.
type tailLine struct {
	Cursor  string        `json:"cursor"`
	Round   int           `json:"round"`
	Shard   int           `json:"shard"`
	Index   uint64        `json:"index"`
	Path    campaign.Path `json:"path"`
	Outcome string        `json:"outcome"`
}

// tail -f --json shows the outcomes of a running local campaign as they land, every file
// of the plan once, with hostile names (newlines, non-UTF-8) exact; a tail resumed from a
// cursor it printed gets everything after it, and nothing is lost between the two.
func TestTailFollowsRunningCampaign(t *testing.T) {
	e := newEnv(t, "LFS_SIM_LATENCY=40ms")
	e.mktree(lfssim.TreeOptions{Files: 300, SourceShare: 1, HostileEvery: 4})
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	planDone := make(chan result, 1)
	go func() {
		planDone <- e.runCtx(ctx, e.planArgs("--scheduler", "local", "--workers", "1", "--shard-files", "100", "--array-throttle", "2")...)
	}()
	for { // tail needs a planned campaign
		if _, err := os.Stat(filepath.Join(e.camp, "manifests", "index.json")); err == nil {
			break
		}
		select {
		case r := <-planDone:
			t.Fatalf("plan ended before tail could start: %d\n%s", r.code, r.stderr)
		case <-time.After(50 * time.Millisecond):
		}
	}
	tail := exec.CommandContext(ctx, e.migrator, "tail", e.camp, "-f", "--json", "--interval", "100ms")
	stdout, err := tail.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := tail.Start(); err != nil {
		t.Fatal(err)
	}
	planned := e.manifests(0)
	lines := make(chan tailLine)
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			var l tailLine
			if err := json.Unmarshal(sc.Bytes(), &l); err != nil {
				t.Errorf("tail printed %q: %v", sc.Bytes(), err)
				continue
			}
			lines <- l
		}
		close(lines)
	}()
	got := map[[3]uint64]string{}
	var whilePlanRan, dups int
	var midCursor string
	var beforeMid map[[3]uint64]string
	running := true
	for len(got) < len(planned) {
		select {
		case r := <-planDone:
			if r.code != 0 {
				t.Fatalf("plan: exit %d\n%s", r.code, r.stderr)
			}
			running = false
		case l, ok := <-lines:
			if !ok {
				t.Fatalf("tail -f ended after %d events", len(got))
			}
			if l.Cursor != "" {
				if midCursor == "" && len(got) > 0 && len(got) < len(planned) {
					midCursor = l.Cursor
					beforeMid = map[[3]uint64]string{}
					for k, v := range got {
						beforeMid[k] = v
					}
				}
				continue
			}
			k := [3]uint64{uint64(l.Round), uint64(l.Shard), l.Index}
			if _, seen := got[k]; seen {
				dups++
			}
			got[k] = string(l.Path)
			if running {
				whilePlanRan++
			}
		case <-ctx.Done():
			t.Fatalf("tail -f showed %d of %d events", len(got), len(planned))
		}
	}
	tail.Process.Signal(syscall.SIGINT)
	for range lines {
	}
	if code := exitCode(tail.Wait()); code != 0 {
		t.Errorf("tail -f after SIGINT: exit %d, want 0", code)
	}
	if running {
		if r := <-planDone; r.code != 0 {
			t.Fatalf("plan: exit %d\n%s", r.code, r.stderr)
		}
	}
	if whilePlanRan == 0 || dups > 0 {
		t.Errorf("tail -f showed %d events while the campaign ran (want some), %d twice (want none)", whilePlanRan, dups)
	}
	// Every planned entry once, with its exact path.
	wantPaths := map[[3]uint64]string{}
	shardOf := shardsOf(t, e)
	hostile := 0
	for i, en := range planned {
		wantPaths[shardOf[i]] = en.Path
		if !utf8.ValidString(en.Path) || strings.ContainsAny(en.Path, "\n\t\"\\") {
			hostile++
		}
	}
	if hostile == 0 {
		t.Fatal("the tree has no hostile names; the test proves nothing about them")
	}
	if diff := cmp.Diff(wantPaths, got); diff != "" {
		t.Errorf("tail -f events (-want +got):\n%s", diff)
	}

	// Resume from the cursor printed mid-stream: the rest, exactly.
	if midCursor == "" {
		t.Fatal("tail printed no cursor before the end of the stream")
	}
	r := e.mustRun(0, "tail", e.camp, "--json", "--from", midCursor)
	after := map[[3]uint64]string{}
	for _, ln := range strings.Split(strings.TrimSpace(r.stdout), "\n") {
		var l tailLine
		if err := json.Unmarshal([]byte(ln), &l); err != nil {
			t.Fatalf("tail --from printed %q: %v", ln, err)
		}
		if l.Cursor == "" {
			after[[3]uint64{uint64(l.Round), uint64(l.Shard), l.Index}] = string(l.Path)
		}
	}
	union := map[[3]uint64]string{}
	for k, v := range beforeMid {
		union[k] = v
	}
	for k, v := range after {
		if _, twice := beforeMid[k]; twice {
			t.Errorf("event %v before the cursor and again after it", k)
		}
		union[k] = v
	}
	if diff := cmp.Diff(wantPaths, union); diff != "" {
		t.Errorf("events before the cursor and after it (-want +got):\n%s", diff)
	}
	for _, bad := range []string{"v1;0.0=3", "v1;0.0=100", "v1;0.9=0", "v2;0.0=0", "0.0=1"} {
		if r := e.run("tail", e.camp, "--from", bad); r.code != 2 || !strings.Contains(r.stderr, "cursor") || r.stdout != "" {
			t.Errorf("tail --from %s: exit %d, %d bytes on stdout, stderr %s; want exit 2 naming the cursor, nothing printed", bad, r.code, len(r.stdout), r.stderr)
		}
	}
}

// shardsOf maps the position of each entry in e.manifests(0) to its round, shard and index.
func shardsOf(t *testing.T, e *env) [][3]uint64 {
	t.Helper()
	var idx struct {
		Shards []struct {
			Shard int    `json:"shard"`
			Files uint64 `json:"files"`
		} `json:"shards"`
	}
	data, err := os.ReadFile(filepath.Join(e.camp, "manifests", "index.json"))
	if err != nil || json.Unmarshal(data, &idx) != nil {
		t.Fatalf("index.json: %v", err)
	}
	sort.Slice(idx.Shards, func(i, j int) bool { return idx.Shards[i].Shard < idx.Shards[j].Shard })
	var out [][3]uint64
	for _, s := range idx.Shards {
		for i := uint64(0); i < s.Files; i++ {
			out = append(out, [3]uint64{0, uint64(s.Shard), i})
		}
	}
	return out
}
