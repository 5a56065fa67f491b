package htmlreport

import (
	"fmt"
	"strings"
	"unicode"
	"unicode/utf8"
)

// Printable shows a path (any bytes) as text that names it unambiguously: valid UTF-8 is
// kept, a backslash is doubled, and every byte that is not valid UTF-8 or is a control
// character is written \xNN (a byte; newline \n, tab \t) or \uNNNN (a code point). html/template escapes text for HTML but
// passes invalid UTF-8 through, which a browser shows as U+FFFD, losing the byte: this is
// applied first.
func Printable(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); {
		r, n := utf8.DecodeRuneInString(s[i:])
		switch {
		case r == utf8.RuneError && n <= 1:
			fmt.Fprintf(&b, `\x%02x`, s[i])
		case r == '\\':
			b.WriteString(`\\`)
		case r == '\n':
			b.WriteString(`\n`)
		case r == '\t':
			b.WriteString(`\t`)
		case unicode.IsControl(r) || r == '\u2028' || r == '\u2029':
			if r < 0x80 {
				fmt.Fprintf(&b, `\x%02x`, r)
			} else {
				fmt.Fprintf(&b, `\u%04x`, r)
			}
		default:
			b.WriteString(s[i : i+n])
		}
		i += n
	}
	return b.String()
}
