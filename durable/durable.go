// Package durable writes files that must survive a crash: written under a temporary name
// in the same directory, fsynced, renamed into place, and the directory fsynced. A reader
// sees either the old file (or none) or the complete new one, never a part of it.
//
// This is the only way migrator writes a final file; the only files that grow in place
// are the append-only checkpoint logs, which carry their own per-record checksums.
package durable

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
)

// TempPrefix starts the name of every file being written; such files are never final and
// may be removed by whoever finds them after a crash.
const TempPrefix = ".tmp-"

// File is a file being written under a temporary name until Commit renames it into place.
// It is unusable after its first error (a sticky error) and after Commit or Abort.
type File struct {
	f       *os.File
	path    string // the final name
	written int64
	err     error
	done    bool
}

// Create starts writing the file that Commit will put at path, with permissions perm.
func Create(path string, perm os.FileMode) (*File, error) {
	tmp, err := tempName(path)
	if err != nil {
		return nil, err
	}
	f, err := OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_EXCL, perm) // group-readable in a shared campaign
	if err != nil {
		return nil, fmt.Errorf("create %s: %w", path, err)
	}
	return &File{f: f, path: path}, nil
}

// Write implements io.Writer.
func (d *File) Write(p []byte) (int, error) {
	if d.err != nil {
		return 0, d.err
	}
	if d.done {
		return 0, fmt.Errorf("write %s: already committed or aborted", d.path)
	}
	n, err := d.f.Write(p)
	d.written += int64(n)
	if err == nil && n != len(p) {
		err = errors.New("short write")
	}
	if err != nil {
		d.err = fmt.Errorf("write %s: %w", d.path, unwrapPath(err))
	}
	return n, d.err
}

// Commit checks that every byte was written, fsyncs the file, closes it, renames it into
// place and fsyncs the directory. On any error the temporary file is removed and the
// previous file at path, if any, is untouched.
func (d *File) Commit() error {
	if d.done {
		return fmt.Errorf("commit %s: already committed or aborted", d.path)
	}
	d.done = true
	tmp := d.f.Name()
	err := d.err
	if err == nil {
		if st, serr := d.f.Stat(); serr != nil || st.Size() != d.written {
			err = fmt.Errorf("commit %s: wrote %d bytes but the file has a different size", d.path, d.written)
		}
	}
	if err == nil {
		if serr := d.f.Sync(); serr != nil {
			err = fmt.Errorf("fsync %s: %w", d.path, unwrapPath(serr))
		}
	}
	if cerr := d.f.Close(); err == nil && cerr != nil {
		err = fmt.Errorf("close %s: %w", d.path, unwrapPath(cerr))
	}
	if err == nil {
		if rerr := os.Rename(tmp, d.path); rerr != nil {
			err = fmt.Errorf("rename into %s: %w", d.path, unwrapPath(rerr))
		}
	}
	if err != nil {
		os.Remove(tmp)
		d.err = err
		return err
	}
	return SyncDir(filepath.Dir(d.path))
}

// Chmod sets the file's permissions, which Create's perm cannot promise under a umask.
func (d *File) Chmod(perm os.FileMode) error {
	if d.err == nil {
		if err := d.f.Chmod(perm); err != nil {
			d.err = fmt.Errorf("chmod %s: %w", d.path, unwrapPath(err))
		}
	}
	return d.err
}

// Abort discards the file. It is safe to call after Commit (it does nothing then), so it
// can be deferred.
func (d *File) Abort() {
	if d.done {
		return
	}
	d.done = true
	d.f.Close()
	os.Remove(d.f.Name())
}

// WriteFile writes data to path durably.
func WriteFile(path string, data []byte, perm os.FileMode) error {
	f, err := Create(path, perm)
	if err != nil {
		return err
	}
	defer f.Abort()
	if _, err := f.Write(data); err != nil {
		return err
	}
	return f.Commit()
}

// SyncDir fsyncs a directory, making the creations, renames and removals in it durable.
func SyncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return fmt.Errorf("fsync directory %s: %w", dir, unwrapPath(err))
	}
	defer d.Close()
	if err := d.Sync(); err != nil {
		return fmt.Errorf("fsync directory %s: %w", dir, unwrapPath(err))
	}
	return nil
}

// tempName returns a fresh temporary name for path, in the same directory:
// TempPrefix, path's base name, a dot and random hex.
func tempName(path string) (string, error) {
	var rnd [6]byte
	if _, err := rand.Read(rnd[:]); err != nil {
		return "", err
	}
	dir, base := filepath.Split(path)
	return filepath.Join(dir, TempPrefix+base+"."+hex.EncodeToString(rnd[:])), nil
}

// IsTemp reports whether name (a base name) is a temporary file left by an interrupted write.
func IsTemp(name string) bool { return strings.HasPrefix(name, TempPrefix) }

// IsTempOf reports whether name (a base name) is a temporary file left by an interrupted
// write of the file named base.
func IsTempOf(name, base string) bool { return strings.HasPrefix(name, TempPrefix+base+".") }

// RemoveTemps removes the temporary files in dir left by writes that never committed.
// Only call it when no writer can be active in dir.
func RemoveTemps(dir string) error {
	ents, err := os.ReadDir(dir)
	if err != nil {
		return err
	}
	for _, e := range ents {
		if IsTemp(e.Name()) {
			if err := os.Remove(filepath.Join(dir, e.Name())); err != nil && !errors.Is(err, os.ErrNotExist) {
				return err
			}
		}
	}
	return nil
}

// unwrapPath drops the *PathError wrapper, whose path is the temporary name: the messages
// above name the final file instead.
func unwrapPath(err error) error {
	var pe *os.PathError
	if errors.As(err, &pe) {
		return pe.Err
	}
	return err
}

// PublishDir points link, a symbolic link, at dir, a complete directory beside it, in one
// rename: a file opened through link is found in the old directory or in the new one, never
// in neither, and a crash leaves one of them in place whole. It returns the directory link
// pointed at before ("" if none), for the caller to remove once nobody needs it (a reader
// that resolved link just before the switch may still be reading it). A real directory
// found at link (written by an older release) is first moved aside and returned as the old one.
func PublishDir(link, dir string) (old string, err error) {
	parent := filepath.Dir(link)
	if filepath.Dir(dir) != parent {
		return "", fmt.Errorf("publish %s as %s: not in the same directory", dir, link)
	}
	tmp, err := tempName(link)
	if err != nil {
		return "", err
	}
	// A relative target, so the link stays right wherever the directory is mounted.
	if err := os.Symlink(filepath.Base(dir), tmp); err != nil {
		return "", fmt.Errorf("publish %s: %w", link, err)
	}
	fi, err := os.Lstat(link)
	switch {
	case errors.Is(err, os.ErrNotExist):
	case err != nil:
		os.Remove(tmp)
		return "", fmt.Errorf("publish %s: %w", link, err)
	case fi.Mode()&os.ModeSymlink != 0:
		if t, err := os.Readlink(link); err == nil && !filepath.IsAbs(t) {
			old = filepath.Join(parent, t)
		}
	case fi.IsDir():
		old = filepath.Join(parent, strings.TrimPrefix(filepath.Base(tmp), TempPrefix)) // link.RANDOM
		if err := os.Rename(link, old); err != nil {
			os.Remove(tmp)
			return "", fmt.Errorf("publish %s: moving the old directory aside: %w", link, unwrapPath(err))
		}
	}
	if err := os.Rename(tmp, link); err != nil {
		os.Remove(tmp)
		return "", fmt.Errorf("publish %s: %w", link, unwrapPath(err))
	}
	return old, SyncDir(parent)
}
