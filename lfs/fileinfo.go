package lfs

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"slices"
	"strconv"
	"strings"
	"syscall"
)

// FileInfo is what plan records about a file: its identity, size, links, owner and OSTs.
type FileInfo struct {
	FID   FID
	Size  uint64
	Nlink uint32
	UID   uint32
	GID   uint32
	OSTs  []uint32 // every OST with an object of the file, ascending
}

// FileInfoResult is one file's FileInfo. OK is false if the file vanished or is no longer
// a regular file; Err is set instead when lfs failed on a file that is still a regular
// file, which was therefore neither described nor shown to be gone.
type FileInfoResult struct {
	Info FileInfo
	OK   bool
	Err  error
}

// infoFormat is what FileInfo asks lfs find --printf for (Lustre 2.15+): no path, so no
// name can garble the output.
const infoFormat = `%LF %s %n %U %G %Lo\n`

// FileInfo describes regular files with "lfs find FILE... --maxdepth 0 -type f --printf".
//
// The output names no file, so it is attributed by order when every file answered with
// exactly one line; when some did not (vanished, or not a regular file any more), the
// batch's FIDs from "lfs path2fid" say which line is whose. When lfs exits non-zero, the
// unanswered files that are still regular files are asked again on their own, and those
// lfs still fails on get an Err. Needs lfs 2.15 or later.
func (c *Client) FileInfo(ctx context.Context, files []string) ([]FileInfoResult, error) {
	return c.FileInfoOn(ctx, files, nil)
}

// FileInfoOn is FileInfo for callers that only need to know which of the OSTs sources hold
// objects of each file. The files whose record lfs cut (every DoM file, and every PFL file
// with a component not instantiated whose stripe count is -1: see
// printf_format_ost_indices in LUSTRE.md) are then described together as FileInfoCompat
// does, with one lfs find -O per source OST for all of them, instead of one lfs getstripe
// each, when that takes fewer calls; their OSTs list only OSTs of sources.
func (c *Client) FileInfoOn(ctx context.Context, files []string, sources OSTList) ([]FileInfoResult, error) {
	if err := checkPaths(files); err != nil {
		return nil, err
	}
	results := make([]FileInfoResult, len(files))
	err := c.batched(ctx, files, func(idx []int, batch []string) error {
		res, failed, err := c.fileInfo(ctx, batch, sources)
		if err != nil {
			return err
		}
		if failed != nil {
			still, failed, err := askAgain(batch, func(j int) bool { return !res[j].OK }, true,
				func(again []int, sub []string) (*ExitError, error) {
					res2, failed, err := c.fileInfo(ctx, sub, sources)
					if err == nil {
						for k, j := range again {
							res[j] = res2[k]
						}
					}
					return failed, err
				})
			if err != nil {
				return err
			}
			for _, j := range still {
				res[j].Err = fmt.Errorf("lfs find gave no answer for it: %w", failed)
			}
		}
		for j := range batch {
			results[idx[j]] = res[j]
		}
		return nil
	})
	return results, err
}

// fileInfo is one lfs find --printf run over a batch. failed is lfs's non-zero exit.
//
// A record lfs may have cut (printf_format_string() in liblustreapi_pfind.c formats at most
// FORMATTED_BUF_LEN-1 = 1023 bytes per file, newline included, so a file striped over a few
// hundred OSTs loses the end of its %Lo and its newline), a record that does not parse, and
// a record without an OST list is never taken as the file's layout: that file is described
// alone by describeOne, from lstat, lfs path2fid and lfs getstripe -y, which are not cut.
// A "?" in %Lo is a stripe without an object (llapi_layout_ost_index_get() fails on a
// component that is not instantiated): no OST, rightly skipped, as check_obd_match()
// skips such components for -O.
func (c *Client) fileInfo(ctx context.Context, batch []string, sources OSTList) ([]FileInfoResult, *ExitError, error) {
	args := append([]string{"find"}, batch...)
	args = append(args, "--maxdepth", "0", "-type", "f", "--printf", infoFormat)
	r := c.run(ctx, nil, args...)
	if err := batchRunError(r); err != nil {
		return nil, nil, err
	}
	var failed *ExitError
	errors.As(r.err, &failed)
	recs := splitPrintfRecords(r.stdout)
	res := make([]FileInfoResult, len(batch))
	alone := make([]bool, len(batch)) // to be described by describeOne
	if len(recs) == len(batch) {
		for i, rec := range recs {
			in, whole := parseInfoRecord(rec)
			res[i] = FileInfoResult{Info: in, OK: whole}
			alone[i] = !whole // res[i].Info.FID is kept: describeOne need not ask for it
		}
	} else {
		if len(recs) > len(batch) {
			return nil, nil, fmt.Errorf("lfs find --printf: %d records for %d files", len(recs), len(batch))
		}
		// Some file printed nothing (vanished, or no longer a regular file): the batch's
		// FIDs say which record is whose. A file without a whole record is described alone.
		fids, err := c.PathToFID(ctx, batch)
		if err != nil {
			return nil, nil, err
		}
		type parsed struct {
			in    FileInfo
			whole bool
		}
		byFID := make(map[FID]parsed, len(recs))
		for _, rec := range recs {
			if in, whole := parseInfoRecord(rec); in.FID != (FID{}) {
				byFID[in.FID] = parsed{in, whole}
			}
		}
		for i := range batch {
			if fids[i].Err != nil {
				continue // gone meanwhile, or lfs failed on it: askAgain decides
			}
			p, ok := byFID[fids[i].FID]
			switch {
			case ok && p.whole:
				res[i] = FileInfoResult{Info: p.in, OK: true}
			case ok:
				res[i].Info.FID, alone[i] = fids[i].FID, true
			}
		}
	}
	var lone []int
	for i := range batch {
		if alone[i] {
			lone = append(lone, i)
		}
	}
	// One lfs getstripe per cut file, or lfs path2fid and one lfs find -O per source OST
	// for all of them (exact too: check_obd_match() reads the whole layout).
	if len(sources) > 0 && 1+len(sources) < len(lone) {
		sub := make([]string, len(lone))
		for k, i := range lone {
			sub[k] = batch[i]
		}
		infos, err := c.FileInfoCompat(ctx, sub, sources)
		if err != nil {
			return nil, nil, err
		}
		for k, i := range lone {
			res[i] = infos[k]
		}
		return res, failed, nil
	}
	for _, i := range lone {
		f := batch[i]
		one, err := c.describeOne(ctx, f, res[i].Info.FID)
		if err != nil {
			return nil, nil, err
		}
		res[i] = one
	}
	return res, failed, nil
}

// printfMax is the most bytes lfs find --printf prints for one file: printf_format_string()
// (liblustreapi_pfind.c) formats into char output[FORMATTED_BUF_LEN] (1024) and always
// keeps one byte for the terminating NUL.
const printfMax = 1023

// splitPrintfRecords splits lfs find --printf output made with a format that ends in "\n"
// and prints no newline elsewhere (infoFormat) into one record per file, without the
// newline. A record of printfMax bytes that does not end in a newline was cut: the next
// file's record starts right after it, and the cut one is returned with cut set.
func splitPrintfRecords(out []byte) []printfRecord {
	var recs []printfRecord
	for len(out) > 0 {
		nl := bytes.IndexByte(out, '\n')
		switch {
		case nl >= 0 && nl < printfMax:
			recs = append(recs, printfRecord{text: string(out[:nl])})
			out = out[nl+1:]
		case len(out) >= printfMax:
			recs = append(recs, printfRecord{text: string(out[:printfMax]), cut: true})
			out = out[printfMax:]
		default: // output ended in the middle of a record
			recs = append(recs, printfRecord{text: string(out), cut: true})
			out = nil
		}
	}
	return recs
}

// printfRecord is one file's lfs find --printf output.
type printfRecord struct {
	text string
	cut  bool // lfs cut it at printfMax bytes (or the output ended inside it)
}

// parseInfoRecord reads one infoFormat record. whole is true only when every field parsed
// and %Lo is a complete list of OST indices; otherwise in holds what could be read (the
// FID at least, when it parsed) and the file must be described another way.
func parseInfoRecord(rec printfRecord) (in FileInfo, whole bool) {
	f := strings.Fields(rec.text)
	if len(f) > 0 {
		in.FID, _ = ParseFID(f[0])
	}
	if rec.cut || len(f) != 6 {
		// Six fields always: %Lo of a regular file prints at least "[" or "]" (even for a
		// DoM-only or foreign layout), so five fields mean lfs could not read the layout.
		return in, false
	}
	full, err := parseInfoLine(rec.text)
	if err != nil {
		return in, false
	}
	return full, true
}

// describeOne describes one file without lfs find --printf: lstat for size, links and
// owner, lfs path2fid for the FID (unless fid, read from the start of a cut record, is
// known), lfs getstripe -y for every OST of the full layout. A file that is gone or no
// longer a regular file is not OK; a regular file lfs fails on gets an Err.
func (c *Client) describeOne(ctx context.Context, f string, fid FID) (FileInfoResult, error) {
	fi, err := os.Lstat(f)
	switch {
	case IsGone(err):
		return FileInfoResult{}, nil
	case err != nil:
		return FileInfoResult{Err: err}, nil
	case !fi.Mode().IsRegular():
		return FileInfoResult{}, nil
	}
	fids := []FIDResult{{FID: fid}}
	if fid == (FID{}) {
		if fids, err = c.PathToFID(ctx, []string{f}); err != nil {
			return FileInfoResult{}, err
		}
	}
	l, lerr := c.GetLayout(ctx, f)
	if ctx.Err() != nil {
		return FileInfoResult{}, ctx.Err()
	}
	for _, e := range []error{fids[0].Err, lerr} {
		if e == nil {
			continue
		}
		if _, err := os.Lstat(f); IsGone(err) {
			return FileInfoResult{}, nil
		}
		return FileInfoResult{Err: e}, nil
	}
	st := fi.Sys().(*syscall.Stat_t)
	return FileInfoResult{OK: true, Info: FileInfo{FID: fids[0].FID, Size: uint64(st.Size),
		Nlink: uint32(st.Nlink), UID: st.Uid, GID: st.Gid, OSTs: l.OSTs()}}, nil
}

// FileInfoCompat describes regular files on clients without lfs find --printf (before
// 2.15): lstat gives size, links and owner, a batched "lfs path2fid" the FID, and one
// batched "lfs find FILE... --maxdepth 0 -type f -O INDEX" per OST of osts which of those
// hold an object of each file; OSTs lists only OSTs of osts. That is 1 + len(osts) lfs
// calls per batch instead of one getstripe per file. Results mean what FileInfo's do: a
// file lfs find fails on, even asked alone, gets an Err.
func (c *Client) FileInfoCompat(ctx context.Context, files []string, osts OSTList) ([]FileInfoResult, error) {
	fids, err := c.PathToFID(ctx, files)
	if err != nil {
		return nil, err
	}
	results := make([]FileInfoResult, len(files))
	for i, f := range files {
		fi, err := os.Lstat(f)
		switch {
		case IsGone(err):
		case err != nil:
			results[i].Err = err
		case !fi.Mode().IsRegular():
		case fids[i].Err != nil:
			results[i].Err = fids[i].Err // a regular file lfs could not name
		default:
			st := fi.Sys().(*syscall.Stat_t)
			results[i] = FileInfoResult{OK: true, Info: FileInfo{FID: fids[i].FID, Size: uint64(st.Size),
				Nlink: uint32(st.Nlink), UID: st.Uid, GID: st.Gid}}
		}
	}
	for _, o := range osts {
		opts := FindOptions{Type: "f", OSTs: OSTList{o}}
		on, err := c.FindAmong(ctx, files, opts)
		var xe *ExitError
		if err != nil && (ctx.Err() != nil || !errors.As(err, &xe) || xe.Code < 0) {
			return nil, err
		}
		if err != nil {
			// lfs could not check some file even asked again: one file at a time, so that
			// only the files it fails on fail.
			on = make([]bool, len(files))
			for i, f := range files {
				if !results[i].OK {
					continue
				}
				m, err := c.FindAmong(ctx, []string{f}, opts)
				if ctx.Err() != nil {
					return nil, ctx.Err()
				}
				if err != nil {
					results[i] = FileInfoResult{Err: err}
					continue
				}
				on[i] = m[0]
			}
		}
		for i := range files {
			if on[i] && results[i].OK {
				results[i].Info.OSTs = append(results[i].Info.OSTs, o)
			}
		}
	}
	return results, nil
}

func parseInfoLine(line string) (FileInfo, error) {
	f := strings.Fields(line)
	if len(f) < 5 || len(f) > 6 {
		return FileInfo{}, errors.New("want FID SIZE NLINK UID GID OSTS")
	}
	fid, err := ParseFID(f[0])
	if err != nil {
		return FileInfo{}, err
	}
	var n [4]uint64
	for i := range n {
		bits := 32
		if i == 0 {
			bits = 64
		}
		if n[i], err = strconv.ParseUint(f[i+1], 10, bits); err != nil {
			return FileInfo{}, fmt.Errorf("field %d: %v", i+2, err)
		}
	}
	in := FileInfo{FID: fid, Size: n[0], Nlink: uint32(n[1]), UID: uint32(n[2]), GID: uint32(n[3])}
	if len(f) == 6 {
		if in.OSTs, err = parseOSTIndices(f[5]); err != nil {
			return FileInfo{}, err
		}
	}
	return in, nil
}

// parseOSTIndices reads %Lo: "[1,2][3]" (one bracket per component; "?" for an unknown
// index, which is skipped) into ascending unique indices.
func parseOSTIndices(s string) ([]uint32, error) {
	var list []uint32
	for _, part := range strings.FieldsFunc(s, func(r rune) bool { return r == '[' || r == ']' || r == ',' }) {
		if part == "?" {
			continue
		}
		v, err := strconv.ParseUint(part, 10, 32)
		if err != nil || v > MaxOSTIndex {
			return nil, fmt.Errorf("bad OST index %q", part)
		}
		list = append(list, uint32(v))
	}
	slices.Sort(list)
	return slices.Compact(list), nil
}
