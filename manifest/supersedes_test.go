package manifest

import (
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestSupersedes(t *testing.T) {
	dir := t.TempDir()
	if got, err := ReadSupersedes(dir, Index{}); got != nil || err != nil {
		t.Fatalf("none: %v %v", got, err)
	}
	// The index says there is one: a lost file is an error, not entries counted twice.
	if _, err := ReadSupersedes(dir, Index{Supersedes: 2}); !errors.Is(err, ErrCorrupt) {
		t.Fatalf("lost: %v", err)
	}
	want := []Origin{{Round: 0, Shard: 3, Index: 7}, {Round: 2, Shard: 0, Index: 1 << 40}}
	if err := WriteSupersedes(dir, want); err != nil {
		t.Fatal(err)
	}
	got, err := ReadSupersedes(dir, Index{Supersedes: 2})
	if err != nil || !cmp.Equal(got, want) {
		t.Fatalf("got %v %v", got, err)
	}
	if _, err := ReadSupersedes(dir, Index{Supersedes: 3}); !errors.Is(err, ErrCorrupt) {
		t.Fatalf("another count than the index's: %v", err)
	}
	path := filepath.Join(dir, SupersedesFile)
	good, _ := os.ReadFile(path)
	for i := range good {
		bad := append([]byte(nil), good...)
		bad[i] ^= 1
		os.WriteFile(path, bad, 0o600)
		if _, err := ReadSupersedes(dir, Index{Supersedes: 2}); !errors.Is(err, ErrCorrupt) {
			t.Fatalf("flipped byte %d: %v", i, err)
		}
	}
	os.WriteFile(path, good[:len(good)-1], 0o600)
	if _, err := ReadSupersedes(dir, Index{Supersedes: 2}); !errors.Is(err, ErrCorrupt) {
		t.Errorf("truncated: %v", err)
	}
}
