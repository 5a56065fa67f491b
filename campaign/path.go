package campaign

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"unicode/utf8"
)

// Path is a file path in a JSON document. A path is bytes, and JSON strings cannot carry
// bytes that are not UTF-8 (encoding/json would replace them with U+FFFD), so:
//
//   - a path that is valid UTF-8 is a JSON string (newlines, tabs and quotes are escaped
//     by JSON and come back exactly);
//   - any other path is an object {"base64": "..."} holding its bytes in standard base64.
//
// Both forms decode back to the exact bytes.
type Path string

// MarshalJSON implements json.Marshaler.
func (p Path) MarshalJSON() ([]byte, error) {
	if utf8.ValidString(string(p)) {
		return json.Marshal(string(p))
	}
	return json.Marshal(struct {
		Base64 string `json:"base64"`
	}{base64.StdEncoding.EncodeToString([]byte(p))})
}

// UnmarshalJSON implements json.Unmarshaler.
func (p *Path) UnmarshalJSON(data []byte) error {
	data = bytes.TrimSpace(data)
	if len(data) > 0 && data[0] == '"' {
		var s string
		if err := json.Unmarshal(data, &s); err != nil {
			return err
		}
		*p = Path(s)
		return nil
	}
	var o struct {
		Base64 *string `json:"base64"`
	}
	if err := json.Unmarshal(data, &o); err != nil {
		return err
	}
	if o.Base64 == nil {
		return errors.New("path: want a string or {\"base64\": ...}")
	}
	b, err := base64.StdEncoding.DecodeString(*o.Base64)
	if err != nil {
		return err
	}
	*p = Path(b)
	return nil
}

// Paths converts a string slice.
func Paths(ss []string) []Path {
	ps := make([]Path, len(ss))
	for i, s := range ss {
		ps[i] = Path(s)
	}
	return ps
}

// Strings converts back.
func Strings(ps []Path) []string {
	ss := make([]string, len(ps))
	for i, p := range ps {
		ss[i] = string(p)
	}
	return ss
}
