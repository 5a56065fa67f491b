package status

import (
	"encoding/json"
	"regexp"
	"testing"

	"migrator/report"
	"migrator/triage"
)

// Durations in status --json are numbers of seconds, never Go duration strings.
func TestJSONDurationsAreSeconds(t *testing.T) {
	v := View{Status: &report.Status{ETASeconds: 90}, Jobs: []JobView{}, Unfinished: []triage.Shard{},
		Running: []ShardView{{Round: 1, Shard: 2, Host: "n1", PID: 3, HeartbeatAgeSeconds: 4, InFlight: 5}},
		Tasks:   []TaskView{{Job: "7", Shard: 2, State: "RUNNING", Node: "n1", ElapsedSeconds: 62}}}
	data, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	var m struct {
		Running []map[string]any `json:"running"`
		Tasks   []map[string]any `json:"tasks"`
		ETA     any              `json:"eta_seconds"`
	}
	if err := json.Unmarshal(data, &m); err != nil {
		t.Fatal(err)
	}
	for what, got := range map[string]any{"heartbeat_age_seconds": m.Running[0]["heartbeat_age_seconds"],
		"elapsed_seconds": m.Tasks[0]["elapsed_seconds"], "eta_seconds": m.ETA} {
		if _, ok := got.(float64); !ok {
			t.Errorf("%s is %T (%v), want a number", what, got, got)
		}
	}
	if regexp.MustCompile(`"[0-9.]+(ns|µs|ms|s|m|h)"|"[0-9]+:[0-9]{2}"`).Match(data) {
		t.Errorf("a duration written as a string:\n%s", data)
	}
}
