package clidoc

import "testing"

// Help text can never turn into roff requests or escapes.
func TestRoff(t *testing.T) {
	for _, c := range []struct{ in, want string }{
		{"plain", "plain"},
		{"--flag", `\-\-flag`},
		{`C:\path`, `C:\epath`},
		{".TH evil", `\&.TH evil`},
		{"a\n.SH x\n'br", "a\n\\&.SH x\n\\&'br"},
	} {
		if got := roff(c.in); got != c.want {
			t.Errorf("roff(%q) = %q, want %q", c.in, got, c.want)
		}
	}
	if got := paragraphs("one\n  two\n\nthree"); got != "one two\n.PP\nthree" {
		t.Errorf("paragraphs: %q", got)
	}
}
