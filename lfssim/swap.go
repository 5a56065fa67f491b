package lfssim

import (
	"fmt"
	"os"
	"strconv"
	"strings"
)

// Swap is a fault to inject into a running migrator task: before the At-th lfs migrate
// process (counted in the file Count, one byte appended per process), Path is swapped for
// Target, as a user who can rename entries in a scanned directory could:
//
//	symlink  Path (a file or a directory) is renamed to Path.swapped and replaced by a
//	         symbolic link to Target
//	link     a hard link of Target is renamed over Path
//
// It makes the race of issue 18 (a path swapped between a batch's check and the file's lfs
// migrate) deterministic in end-to-end tests.
type Swap struct {
	Kind         string
	At           int
	Path, Target string
	Count        string
}

// Environment variables of the swap.
const (
	EnvSwap       = "LFS_SIM_SWAP"        // KIND:N, e.g. symlink:2
	EnvSwapPath   = "LFS_SIM_SWAP_PATH"   // the path swapped
	EnvSwapTarget = "LFS_SIM_SWAP_TARGET" // what it is swapped for
	EnvSwapCount  = "LFS_SIM_SWAP_COUNT"  // the counter file
)

func swapFromEnv(getenv func(string) string) (*Swap, error) {
	v := getenv(EnvSwap)
	if v == "" {
		return nil, nil
	}
	kind, n, _ := strings.Cut(v, ":")
	at, err := strconv.Atoi(n)
	s := &Swap{Kind: kind, At: at, Path: getenv(EnvSwapPath), Target: getenv(EnvSwapTarget), Count: getenv(EnvSwapCount)}
	if err != nil || at < 1 || (kind != "symlink" && kind != "link") || s.Path == "" || s.Target == "" || s.Count == "" {
		return nil, fmt.Errorf("%s=%q: want symlink:N or link:N (N >= 1), with %s, %s and %s set", EnvSwap, v, EnvSwapPath, EnvSwapTarget, EnvSwapCount)
	}
	return s, nil
}

// before counts one lfs migrate process and makes the swap when its turn has come.
func (s *Swap) before() error {
	f, err := os.OpenFile(s.Count, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o644)
	if err != nil {
		return err
	}
	_, err = f.Write([]byte{'.'})
	st, serr := f.Stat()
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = serr
	}
	if err != nil || st.Size() != int64(s.At) {
		return err
	}
	switch s.Kind {
	case "symlink":
		if err := os.Rename(s.Path, s.Path+".swapped"); err != nil {
			return err
		}
		return os.Symlink(s.Target, s.Path)
	default:
		tmp := s.Path + ".swap-tmp"
		if err := os.Link(s.Target, tmp); err != nil {
			return err
		}
		return os.Rename(tmp, s.Path)
	}
}
