package campaign

import (
	"encoding/json"
	"testing"
	"time"
)

// Durations are numbers of seconds in campaign.json; the strings of older versions read.
func TestDurationJSON(t *testing.T) {
	for _, d := range []time.Duration{0, 200 * time.Millisecond, 90 * time.Second, 36 * time.Hour, 1234567891 * time.Nanosecond} {
		data, err := json.Marshal(Duration(d))
		if err != nil {
			t.Fatal(err)
		}
		var back Duration
		if err := json.Unmarshal(data, &back); err != nil || time.Duration(back) != d {
			t.Errorf("%v -> %s -> %v, %v", d, data, time.Duration(back), err)
		}
		if len(data) == 0 || data[0] == '"' {
			t.Errorf("%v written as %s, not a number", d, data)
		}
	}
	for in, want := range map[string]time.Duration{`90`: 90 * time.Second, `0.25`: 250 * time.Millisecond, `"90s"`: 90 * time.Second, `"1m30s"`: 90 * time.Second} {
		var d Duration
		if err := json.Unmarshal([]byte(in), &d); err != nil || time.Duration(d) != want {
			t.Errorf("%s read as %v, %v; want %v", in, time.Duration(d), err, want)
		}
	}
	for _, in := range []string{`-1`, `1e300`, `"soon"`, `true`, `{}`} {
		var d Duration
		if err := json.Unmarshal([]byte(in), &d); err == nil {
			t.Errorf("%s read as %v, want an error", in, time.Duration(d))
		}
	}
}
