package scan

import (
	"context"
	"os"
	"path/filepath"
	"testing"

	"github.com/google/go-cmp/cmp"

	"migrator/lfs"
	"migrator/manifest"
)

// descLFS answers as a client whose --printf description of some files fell short (cut, or
// garbled): FileInfo shows them with no OST, while lfs find -O knows better.
type descLFS struct {
	short   map[string]bool     // FileInfo shows no OST for these
	onSrc   map[string][]uint32 // what lfs find -O and the per-OST description see
	asked   [][]string          // FindAmong calls
	options []lfs.FindOptions
}

func (d *descLFS) Find(_ context.Context, roots []string, o lfs.FindOptions, fn func(string) error) error {
	d.options = append(d.options, o)
	for p := range d.onSrc {
		if err := fn(p); err != nil {
			return err
		}
	}
	return nil
}

func (d *descLFS) FindAmong(_ context.Context, files []string, o lfs.FindOptions) ([]bool, error) {
	d.asked = append(d.asked, files)
	d.options = append(d.options, o)
	m := make([]bool, len(files))
	for i, f := range files {
		m[i] = o.OSTs.ContainsAny(d.onSrc[f])
	}
	return m, nil
}

func (d *descLFS) FileInfoOn(_ context.Context, files []string, _ lfs.OSTList) ([]lfs.FileInfoResult, error) {
	res := make([]lfs.FileInfoResult, len(files))
	for i, f := range files {
		res[i] = lfs.FileInfoResult{OK: true, Info: lfs.FileInfo{FID: lfs.FID{Seq: 0x200000400, Oid: uint32(i + 1)}, Nlink: 1}}
		if !d.short[f] {
			res[i].Info.OSTs = d.onSrc[f]
		}
	}
	return res, nil
}

func (d *descLFS) FileInfoCompat(_ context.Context, files []string, osts lfs.OSTList) ([]lfs.FileInfoResult, error) {
	res := make([]lfs.FileInfoResult, len(files))
	for i, f := range files {
		var on []uint32
		for _, o := range d.onSrc[f] {
			if osts.Contains(o) {
				on = append(on, o)
			}
		}
		res[i] = lfs.FileInfoResult{OK: true, Info: lfs.FileInfo{FID: lfs.FID{Seq: 0x200000400, Oid: 99}, Nlink: 1, OSTs: on}}
	}
	return res, nil
}

// A file whose description shows no source OST is kept when lfs find -O still matches it
// (described again one OST at a time), and counted as gone from the sources only when
// -O does not. Every find leaves released files out.
func TestOffSourceIsDecidedByFind(t *testing.T) {
	dir := t.TempDir()
	d := &descLFS{short: map[string]bool{}, onSrc: map[string][]uint32{}}
	for name, osts := range map[string][]uint32{"plain": {2}, "cut": {1, 4, 3}, "moved": {5}} {
		p := filepath.Join(dir, "sub", name)
		os.MkdirAll(filepath.Dir(p), 0o755)
		os.WriteFile(p, nil, 0o644)
		d.onSrc[p] = osts
	}
	d.short[filepath.Join(dir, "sub", "cut")] = true
	d.short[filepath.Join(dir, "sub", "moved")] = true // and -O (5 is no source) agrees
	var got []manifest.Entry
	var st Stats
	err := Run(context.Background(), d, Options{Roots: []string{dir}, Find: lfs.FindOptions{OSTs: lfs.OSTList{2, 3}}, Units: 1,
		SpoolDir: t.TempDir()}, &st, func(es []manifest.Entry) error { got = append(got, es...); return nil })
	if err != nil {
		t.Fatal(err)
	}
	osts := map[string][]uint32{}
	for _, e := range got {
		osts[filepath.Base(e.Path)] = e.OSTs
	}
	if diff := cmp.Diff(map[string][]uint32{"plain": {2}, "cut": {3}}, osts); diff != "" {
		t.Errorf("entries (-want +got):\n%s", diff)
	}
	if st.Vanished.Load() != 1 {
		t.Errorf("%d vanished, want 1 (moved)", st.Vanished.Load())
	}
	for _, o := range d.options {
		if !o.NotReleased || o.Type != "f" {
			t.Errorf("lfs find asked without -type f ! --layout released: %+v", o)
		}
	}
}
