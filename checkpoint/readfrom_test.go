package checkpoint

import (
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
)

// ReadFrom continues at any record end that Position reported, and reads exactly the
// records after it; an offset that is not a record's end is an error, never a misread.
func TestReadFrom(t *testing.T) {
	path := filepath.Join(t.TempDir(), LogName(42))
	recs := sampleRecords()
	writeLog(t, path, recs)
	var ends []int64
	var starts []int64
	if _, err := Read(path, hdr, Visitor{Position: func(s, e int64) { starts, ends = append(starts, s), append(ends, e) }}); err != nil {
		t.Fatal(err)
	}
	if len(ends) != len(recs) {
		t.Fatalf("Position called %d times for %d records", len(ends), len(recs))
	}
	from := append([]int64{0}, ends...)
	for i, off := range from {
		var got []Record
		info, err := ReadFrom(path, hdr, off, Visitor{Outcome: func(r *Record) error { got = append(got, *r); return nil }})
		if err != nil {
			t.Fatalf("ReadFrom(%d): %v", off, err)
		}
		if diff := cmp.Diff(recs[i:], got, cmpopts.EquateEmpty(), cmp.Comparer(func(a, b Record) bool {
			return a.Index == b.Index && a.Outcome == b.Outcome && a.Time.Equal(b.Time) && a.Message == b.Message
		})); diff != "" {
			t.Errorf("ReadFrom(%d) (-want +got):\n%s", off, diff)
		}
		if info.End != ends[len(ends)-1] {
			t.Errorf("ReadFrom(%d): End %d, want %d", off, info.End, ends[len(ends)-1])
		}
	}
	// A torn tail after the last record: nothing more, reported as torn, no error.
	f, _ := os.OpenFile(path, os.O_WRONLY|os.O_APPEND, 0)
	f.Write([]byte{50, 0, 0, 0, 1, 2})
	f.Close()
	last := ends[len(ends)-1]
	if info, err := ReadFrom(path, hdr, last, Visitor{Outcome: func(*Record) error { t.Error("a record after the last"); return nil }}); err != nil || info.Torn != 6 {
		t.Errorf("ReadFrom(last end) with a torn tail: %+v, %v", info, err)
	}
	for _, bad := range []int64{3, starts[0] - 1, ends[0] + 3, last + 100} {
		if _, err := ReadFrom(path, hdr, bad, Visitor{}); !errors.Is(err, ErrCorrupt) {
			t.Errorf("ReadFrom(%d): %v, want a corrupt-checkpoint error", bad, err)
		}
	}
}
