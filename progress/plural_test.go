package progress

import "testing"

func TestPlural(t *testing.T) {
	tests := []struct {
		got, want string
	}{
		{Plural(0, "shard"), "0 shards"},
		{Plural(1, "shard"), "1 shard"},
		{Plural(2, "shard"), "2 shards"},
		{Plural(uint64(1), "file"), "1 file"},
		{Plural(uint64(1000), "file"), "1000 files"},
		{Plural(int64(-1), "run"), "-1 runs"},
	}
	for _, tt := range tests {
		if tt.got != tt.want {
			t.Errorf("got %q, want %q", tt.got, tt.want)
		}
	}
}
