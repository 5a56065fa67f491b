package durable

import (
	"errors"
	"os"
	"path/filepath"
)

// Perm is the mode for a new file or directory in dir: perm, plus read (and search or
// execute, where perm gives them to the owner) for the group when dir is shared with its
// group: set-group-ID and group-readable. That is how a campaign shared with a group
// (plan --group: directories 2750) stays readable by that group as it grows, while one of
// the owner alone (0700, or any directory without the set-group-ID bit) keeps every new
// file 0600. Never write permission: only the owner writes a campaign.
func Perm(dir string, perm os.FileMode) os.FileMode {
	st, err := os.Stat(dir)
	if err != nil || st.Mode()&os.ModeSetgid == 0 || st.Mode().Perm()&0o040 == 0 {
		return perm
	}
	return perm | (perm&0o500)>>3
}

// OpenFile is os.OpenFile with the permissions of Perm for a file it creates, kept whatever
// the process's umask.
func OpenFile(name string, flag int, perm os.FileMode) (*os.File, error) {
	p := Perm(filepath.Dir(name), perm)
	f, err := os.OpenFile(name, flag, p)
	if err == nil && flag&os.O_CREATE != 0 && p != perm {
		f.Chmod(p) // an existing file of someone else's: leave it as it is
	}
	return f, err
}

// MkdirAll is os.MkdirAll with the permissions of Perm, taken from the nearest existing
// ancestor, for every directory it creates, whatever the umask. New directories under a
// set-group-ID one inherit the group and the bit (Linux, POSIX).
func MkdirAll(path string, perm os.FileMode) error {
	var created []string
	p := filepath.Clean(path)
	for {
		if _, err := os.Lstat(p); err == nil || !errors.Is(err, os.ErrNotExist) {
			break
		}
		created = append(created, p)
		parent := filepath.Dir(p)
		if parent == p {
			break
		}
		p = parent
	}
	mode := Perm(p, perm)
	if err := os.MkdirAll(path, mode); err != nil {
		return err
	}
	if mode == perm {
		return nil
	}
	for _, c := range created {
		st, err := os.Stat(c)
		if err != nil {
			return err
		}
		if err := os.Chmod(c, mode|st.Mode()&os.ModeSetgid); err != nil {
			return err
		}
	}
	return nil
}

// MkdirTemp is os.MkdirTemp with the permissions of Perm(dir, 0o700), keeping the
// set-group-ID bit the new directory inherited.
func MkdirTemp(dir, pattern string) (string, error) {
	name, err := os.MkdirTemp(dir, pattern)
	if err != nil {
		return "", err
	}
	if mode := Perm(dir, 0o700); mode != 0o700 {
		st, err := os.Stat(name)
		if err == nil {
			err = os.Chmod(name, mode|st.Mode()&os.ModeSetgid)
		}
		if err != nil {
			os.Remove(name)
			return "", err
		}
	}
	return name, nil
}
