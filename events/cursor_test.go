package events

import (
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestCursorRoundTrip(t *testing.T) {
	c := Cursor{{0, 10}: 4096, {0, 2}: 28, {1, 0}: 0, {12, 999}: 1 << 40}
	s := c.String()
	if want := "v1;0.2=28;0.10=4096;1.0=0;12.999=1099511627776"; s != want {
		t.Errorf("String() = %q, want %q", s, want)
	}
	got, err := ParseCursor(s)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(c, got, cmp.AllowUnexported(logKey{})); diff != "" {
		t.Errorf("round trip (-want +got):\n%s", diff)
	}
	if got, err := ParseCursor("v1"); err != nil || len(got) != 0 {
		t.Errorf("empty cursor: %v, %v", got, err)
	}
}

func TestParseCursorRefuses(t *testing.T) {
	for _, bad := range []string{"", "v2;0.0=1", "0.0=1", "v1;0.0", "v1;0=1", "v1;a.0=1", "v1;0.0=-1", "v1;-1.0=1", "v1;0.0=1;", "v1;0.0=1x"} {
		if c, err := ParseCursor(bad); err == nil || !strings.Contains(err.Error(), "cursor") {
			t.Errorf("ParseCursor(%q) = %v, %v; want an error naming the cursor", bad, c, err)
		}
	}
}

// Whatever ParseCursor accepts, it writes back the same way and reads again to the same.
func FuzzParseCursor(f *testing.F) {
	for _, s := range []string{"v1", "v1;0.0=0", "v1;0.2=28;0.10=4096;12.999=1099511627776", "v1;1.1=1;1.1=2", "v1;00.01=007"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		c, err := ParseCursor(s)
		if err != nil {
			return
		}
		again, err := ParseCursor(c.String())
		if err != nil {
			t.Fatalf("ParseCursor(%q) gave %v, whose String %q does not parse: %v", s, c, c.String(), err)
		}
		if diff := cmp.Diff(c, again, cmp.AllowUnexported(logKey{})); diff != "" {
			t.Fatalf("%q: (-first +again):\n%s", s, diff)
		}
	})
}
