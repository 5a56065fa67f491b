package launch

import (
	"testing"
	"time"
)

func TestSlurmTime(t *testing.T) {
	tests := []struct {
		in    string
		want  time.Duration
		valid bool
	}{
		{"90", 90 * time.Minute, true},
		{"10:30", 10*time.Minute + 30*time.Second, true},
		{"12:00:00", 12 * time.Hour, true},
		{"2-12", 60 * time.Hour, true},
		{"0-12", 12 * time.Hour, true}, // days may be 0
		{"1-02:30", 26*time.Hour + 30*time.Minute, true},
		{"1-02:30:15", 26*time.Hour + 30*time.Minute + 15*time.Second, true},
		{"0", 0, true},
		{"UNLIMITED", 0, true},
		{"infinite", 0, true},
		{"", 0, true},
		{"2days", 0, false},
		{"12h", 0, false},
		{"1-", 0, false},
		{"-5", 0, false},
		{"1:2:3:4", 0, false},
		{"1-2:3:4:5", 0, false},
		{"+5", 0, false},
		{"1.5", 0, false},
	}
	for _, tt := range tests {
		err := CheckSlurmTime(tt.in)
		if (err == nil) != tt.valid {
			t.Errorf("CheckSlurmTime(%q) = %v, want valid %v", tt.in, err, tt.valid)
		}
		d, ok := ParseSlurmTime(tt.in)
		if d != tt.want || ok != (tt.want > 0) {
			t.Errorf("ParseSlurmTime(%q) = %v, %v; want %v", tt.in, d, ok, tt.want)
		}
	}
}
