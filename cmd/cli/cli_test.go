package cli

import (
	"errors"
	"fmt"
	"strings"
	"testing"

	"migrator/checkpoint"
	"migrator/lfs"
	"migrator/planner"
)

// Sizes as lfs writes them and as people do, all in powers of 1024.
func TestParseSize(t *testing.T) {
	const (
		k = uint64(1) << 10
		m = uint64(1) << 20
		g = uint64(1) << 30
	)
	good := []struct {
		in   string
		want uint64
	}{
		{"4096", 4096}, {"0", 0}, {"64k", 64 * k}, {"64K", 64 * k}, {"4M", 4 * m}, {"4m", 4 * m},
		{"100MB", 100 * m}, {"100mb", 100 * m}, {"100MiB", 100 * m}, {"100 MB", 100 * m}, {" 100MB ", 100 * m},
		{"4kB", 4 * k}, {"4KiB", 4 * k}, {"512B", 512}, {"512b", 512}, {"1.5G", g + g/2}, {"1.5GiB", g + g/2},
		{".5k", 512}, {"2T", 2 << 40}, {"1P", 1 << 50}, {"7E", 7 << 60}, {"8E", 1 << 63}, {"1.", 1},
	}
	for _, tt := range good {
		got, err := ParseSize(tt.in)
		if err != nil || got != tt.want {
			t.Errorf("ParseSize(%q) = %d, %v; want %d", tt.in, got, err, tt.want)
		}
	}
	bad := []string{"", "MB", "-1M", "1Z", "100 M B", "NaN", "Inf", "1e3", "0x10", "16E", "9E", "1..5M", "100iB", "100BB", "4MBs", "lots"}
	for _, in := range bad {
		if got, err := ParseSize(in); err == nil {
			t.Errorf("ParseSize(%q) = %d, want an error", in, got)
		} else if !strings.Contains(err.Error(), "size") {
			t.Errorf("ParseSize(%q): %v does not say what it wanted", in, err)
		}
	}
}

// Exit codes are decided here, once, for the errors every command may meet.
func TestExitCode(t *testing.T) {
	for _, tt := range []struct {
		err  error
		want int
	}{
		{errors.New("io"), ExitFailure},
		{fmt.Errorf("seal: %w: the campaign has no plan", planner.ErrBadInput), ExitUsage},
		{fmt.Errorf("x: %w", checkpoint.ErrLocked), ExitLocked},
		{fmt.Errorf("x: %w", lfs.ErrNoLFS), ExitUsage},
		{BadInputf("bad"), ExitUsage},
	} {
		if got := ExitCode(tt.err); got != tt.want {
			t.Errorf("ExitCode(%v) = %d, want %d", tt.err, got, tt.want)
		}
	}
}
