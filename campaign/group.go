package campaign

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/user"
	"path/filepath"
	"strconv"
	"syscall"
)

// LookupGroup resolves a group name or numeric ID to a gid.
func LookupGroup(name string) (int, error) {
	if g, err := user.LookupGroup(name); err == nil {
		return strconv.Atoi(g.Gid)
	}
	if id, err := strconv.ParseUint(name, 10, 31); err == nil {
		return int(id), nil
	}
	return 0, fmt.Errorf("group %q: no such group on this node", name)
}

// ShareWithGroup makes the campaign readable by group gid and writable only by its owner:
// every directory group gid, mode 2750 (set-group-ID, so whatever is created in it later
// belongs to gid too, and package durable makes it group-readable), every file group gid,
// group read (and execute where the owner has it), nothing for others. Symbolic links
// only change group. It is safe to run again on a campaign that is already shared, or one
// that has grown since. Group write is never given: a campaign anyone else can write is
// one whose tasks they can steer (see CheckSafe).
func (d Dir) ShareWithGroup(gid int) error {
	return filepath.WalkDir(d.Root, func(p string, e fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if err := os.Lchown(p, -1, gid); err != nil {
			if errors.Is(err, syscall.EPERM) {
				return fmt.Errorf("%s: cannot give it to group %d: %w (you must own it and be a member of the group)", p, gid, err)
			}
			return err
		}
		if e.Type()&fs.ModeSymlink != 0 {
			return nil
		}
		fi, err := e.Info()
		if err != nil {
			return err
		}
		perm := fi.Mode().Perm() & 0o700
		if e.IsDir() {
			return os.Chmod(p, perm|(perm&0o500)>>3|os.ModeSetgid)
		}
		return os.Chmod(p, perm|(perm&0o500)>>3)
	})
}
