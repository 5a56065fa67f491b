package planner

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"migrator/campaign"
	"migrator/checkpoint"
	"migrator/manifest"
)

func names(t *testing.T, dir string) []string {
	t.Helper()
	ents, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, e := range ents {
		out = append(out, e.Name())
	}
	return out
}

// What a killed retry leaves (a temporary round, or an older release's round directory
// without an index) is removed by the next one; a round is renamed into place whole.
func TestStageAndPublishRound(t *testing.T) {
	d := campaign.Dir{Root: t.TempDir()}
	rounds := filepath.Join(d.Root, "rounds")
	os.MkdirAll(filepath.Join(rounds, ".tmp-001.dead", "manifests"), 0o700)
	os.MkdirAll(filepath.Join(rounds, "001", "manifests"), 0o700)
	os.WriteFile(filepath.Join(rounds, "001", "manifests", "shard-000000.zst"), []byte("partial"), 0o600)

	r, err := StageRound(d, 1)
	if err != nil {
		t.Fatal(err)
	}
	if got := names(t, rounds); len(got) != 1 || got[0] != filepath.Base(r.Base) || !strings.HasPrefix(got[0], ".tmp-001.") {
		t.Fatalf("rounds/ holds %v after staging", got)
	}
	if rs, _ := d.Rounds(); len(rs) != 0 {
		t.Errorf("a staged round counts as a round: %v", rs)
	}
	if _, err := PublishRound(d, r); err == nil {
		t.Error("a round without an index was published")
	}
	os.WriteFile(filepath.Join(r.Manifests, manifest.IndexFile), []byte("{}"), 0o600)
	final, err := PublishRound(d, r)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]string{"001"}, names(t, rounds)); diff != "" || final != d.Round(1) {
		t.Errorf("after publishing (-want +got):\n%s", diff)
	}
	if _, err := StageRound(d, 1); err == nil {
		t.Error("staged a round over a published one")
	}
}

// A round directory without an index but with a checkpoint log is not the leftover of a
// killed retry: it is refused, never removed.
func TestStageRoundKeepsLogs(t *testing.T) {
	d := campaign.Dir{Root: t.TempDir()}
	r1 := d.Round(1)
	os.MkdirAll(r1.Checkpoints, 0o700)
	log := checkpoint.LogPath(r1.Checkpoints, 0)
	os.WriteFile(log, []byte("x"), 0o600)
	if _, err := StageRound(d, 1); err == nil || !strings.Contains(err.Error(), "checkpoint logs") {
		t.Errorf("StageRound = %v", err)
	}
	if _, err := os.Stat(log); err != nil {
		t.Errorf("the log was removed: %v", err)
	}
}
