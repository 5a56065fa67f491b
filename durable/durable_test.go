package durable

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
)

func TestWriteFileReplacesWhole(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "index.json")
	if err := WriteFile(p, []byte("one"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := WriteFile(p, []byte("two"), 0o600); err != nil {
		t.Fatal(err)
	}
	if b, _ := os.ReadFile(p); string(b) != "two" {
		t.Errorf("content %q", b)
	}
	if fi, _ := os.Stat(p); fi.Mode().Perm() != 0o600 {
		t.Errorf("mode %v", fi.Mode())
	}
	ents, _ := os.ReadDir(dir)
	if len(ents) != 1 {
		t.Errorf("left behind: %v", ents)
	}
}

func TestAbortLeavesOldFile(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "f")
	WriteFile(p, []byte("old"), 0o644)
	f, err := Create(p, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	f.Write([]byte("half of the new"))
	f.Abort()
	if b, _ := os.ReadFile(p); string(b) != "old" {
		t.Errorf("content %q", b)
	}
	if ents, _ := os.ReadDir(dir); len(ents) != 1 {
		t.Errorf("left behind: %v", ents)
	}
	if err := f.Commit(); err == nil {
		t.Error("commit after abort succeeded")
	}
}

func TestTempsAreRecognisedAndRemoved(t *testing.T) {
	dir := t.TempDir()
	f, _ := Create(filepath.Join(dir, "shard"), 0o644)
	f.Write([]byte("x")) // a crash here leaves the temp file
	os.WriteFile(filepath.Join(dir, "keep"), nil, 0o644)
	ents, _ := os.ReadDir(dir)
	temps := 0
	for _, e := range ents {
		if IsTemp(e.Name()) {
			temps++
		}
	}
	if temps != 1 {
		t.Fatalf("temps %d in %v", temps, ents)
	}
	if err := RemoveTemps(dir); err != nil {
		t.Fatal(err)
	}
	if ents, _ := os.ReadDir(dir); len(ents) != 1 || ents[0].Name() != "keep" {
		t.Errorf("after RemoveTemps: %v", ents)
	}
}

// A full disk: the error names the final file and the cause, and is sticky.
func TestFullDiskIsStickyAndNamed(t *testing.T) {
	if _, err := os.Stat("/dev/full"); err != nil {
		t.Skip("no /dev/full")
	}
	// /dev/full is not a directory, so simulate with a File on it directly.
	full, err := os.OpenFile("/dev/full", os.O_WRONLY, 0)
	if err != nil {
		t.Skip(err)
	}
	d := &File{f: full, path: "/campaign/manifests/shard-000001.zst"}
	_, err = d.Write([]byte("data"))
	if err == nil || !strings.Contains(err.Error(), "shard-000001.zst") || !strings.Contains(err.Error(), syscall.ENOSPC.Error()) {
		t.Errorf("write to a full disk: %v", err)
	}
	if _, err2 := d.Write([]byte("more")); err2 != err {
		t.Errorf("second write: %v, want the same sticky error", err2)
	}
}

func TestPublishDirNeverLeavesAGap(t *testing.T) {
	parent := t.TempDir()
	link := filepath.Join(parent, "retry")
	gen := func(i int) string {
		d, err := os.MkdirTemp(parent, "retry.")
		if err != nil {
			t.Fatal(err)
		}
		os.WriteFile(filepath.Join(d, "index.json"), []byte(strconv.Itoa(i)), 0o600)
		return d
	}
	if _, err := PublishDir(link, gen(0)); err != nil {
		t.Fatal(err)
	}
	stop := make(chan struct{})
	failed := make(chan string, 1)
	go func() {
		defer close(failed)
		for {
			select {
			case <-stop:
				return
			default:
			}
			if b, err := os.ReadFile(filepath.Join(link, "index.json")); err != nil || len(b) == 0 {
				failed <- fmt.Sprintf("read %q, %v", b, err)
				return
			}
		}
	}()
	for i := 1; i < 300; i++ {
		old, err := PublishDir(link, gen(i))
		if err != nil {
			t.Fatal(err)
		}
		// Kept until the end: a reader whose open resolved the link just before the switch
		// may still be on its way into the old directory.
		if b, _ := os.ReadFile(filepath.Join(old, "index.json")); string(b) != strconv.Itoa(i-1) {
			t.Fatalf("old directory holds %q, want generation %d", b, i-1)
		}
	}
	close(stop)
	if msg := <-failed; msg != "" {
		t.Fatalf("a reader found no complete directory: %s", msg)
	}
	if b, _ := os.ReadFile(filepath.Join(link, "index.json")); string(b) != "299" {
		t.Errorf("link shows %q", b)
	}
	if ents, _ := os.ReadDir(parent); len(ents) != 301 {
		t.Errorf("want 300 generations and the link, found %d entries", len(ents))
	}
}

func TestPublishDirMovesARealDirectoryAside(t *testing.T) {
	parent := t.TempDir()
	link := filepath.Join(parent, "retry")
	os.Mkdir(link, 0o700)
	os.WriteFile(filepath.Join(link, "index.json"), []byte("legacy"), 0o600)
	d := filepath.Join(parent, "retry.1")
	os.Mkdir(d, 0o700)
	os.WriteFile(filepath.Join(d, "index.json"), []byte("new"), 0o600)
	old, err := PublishDir(link, d)
	if err != nil {
		t.Fatal(err)
	}
	if b, _ := os.ReadFile(filepath.Join(old, "index.json")); string(b) != "legacy" {
		t.Errorf("old %s holds %q", old, b)
	}
	if b, _ := os.ReadFile(filepath.Join(link, "index.json")); string(b) != "new" {
		t.Errorf("link shows %q", b)
	}
	if _, err := PublishDir(link, "/elsewhere/retry.2"); err == nil {
		t.Error("published a directory that is not beside the link")
	}
}
