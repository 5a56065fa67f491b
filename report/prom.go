package report

import (
	"fmt"
	"io"
	"sort"
	"strconv"
	"strings"
)

// WriteProm writes the status in the Prometheus text exposition format (version 0.0.4),
// for node_exporter's textfile collector: collect's status.prom, and the live textfile
// (package metrics). The states are gauges: the campaign's state when it was collected;
// the checkpoints' records are counters (_total), which only grow, for rates. Per-shard
// series are limited to the pending and failed files, the ones worth an alert, to keep
// the file small for campaigns of thousands of shards.
func WriteProm(w io.Writer, st *Status) {
	c := label("campaign", st.Campaign)
	counter(w, "migrator_outcomes_total", "Outcome records of the checkpoints, by outcome; a file failed in one round and migrated in the next counts in both.")
	outcomes := sortedKeys(st.Events.Outcomes)
	for _, k := range outcomes {
		fmt.Fprintf(w, "migrator_outcomes_total{%s,%s} %d\n", c, label("outcome", k), st.Events.Outcomes[k])
	}
	counter(w, "migrator_migrated_bytes_total", "Bytes of the files recorded as migrated, sizes when they were migrated.")
	fmt.Fprintf(w, "migrator_migrated_bytes_total{%s} %d\n", c, st.Events.MigratedBytes)
	counter(w, "migrator_migrate_attempts_total", "lfs migrate runs started (attempt records).")
	fmt.Fprintf(w, "migrator_migrate_attempts_total{%s} %d\n", c, st.Events.Attempts)
	counter(w, "migrator_task_runs_total", "Runs of migrator work (run-start records).")
	fmt.Fprintf(w, "migrator_task_runs_total{%s} %d\n", c, st.Events.Runs)
	family(w, "migrator_running_shards", "Shards a live task holds the lock of.")
	fmt.Fprintf(w, "migrator_running_shards{%s} %d\n", c, st.RunningShards)
	states := func(x Counts) [][2]string {
		return [][2]string{{"planned", u(x.Planned)}, {"migrated", u(x.Migrated)}, {"skipped", u(x.Skipped)},
			{"failed", u(x.Failed)}, {"pending", u(x.Pending)}, {"would_migrate", u(x.WouldMigrate)}}
	}
	family(w, "migrator_scan_unfinished", "1 while the campaign's scan has not written round 0: nothing is planned yet, and the files and bytes by state and the files left per source OST are not given.")
	unfinished := 0
	if st.ScanUnfinished {
		unfinished = 1
	}
	fmt.Fprintf(w, "migrator_scan_unfinished{%s} %d\n", c, unfinished)
	if !st.ScanUnfinished { // zeros would read as a campaign done and its OSTs drained
		family(w, "migrator_files", "Files of the campaign by state; planned is the total, would_migrate is part of pending.")
		for _, s := range states(st.Files) {
			fmt.Fprintf(w, "migrator_files{%s,%s} %s\n", c, label("state", s[0]), s[1])
		}
		family(w, "migrator_bytes", "Bytes of the campaign's files by state, sizes as planned.")
		for _, s := range states(st.Bytes) {
			fmt.Fprintf(w, "migrator_bytes{%s,%s} %s\n", c, label("state", s[0]), s[1])
		}
	}
	family(w, "migrator_skipped_files", "Skipped files by reason.")
	for _, k := range sortedKeys(st.SkippedByReason) {
		fmt.Fprintf(w, "migrator_skipped_files{%s,%s} %d\n", c, label("reason", k), st.SkippedByReason[k])
	}
	family(w, "migrator_failed_files", "Failed files by class.")
	for _, k := range sortedKeys(st.FailedByClass) {
		fmt.Fprintf(w, "migrator_failed_files{%s,%s} %d\n", c, label("class", k), st.FailedByClass[k])
	}
	family(w, "migrator_source_ost_remaining_files", "Failed or pending files with an object on a source OST, per OST.")
	osts := sortedKeys(st.SourceOSTsRemaining)
	sort.Slice(osts, func(i, j int) bool { a, _ := strconv.Atoi(osts[i]); b, _ := strconv.Atoi(osts[j]); return a < b })
	for _, k := range osts {
		fmt.Fprintf(w, "migrator_source_ost_remaining_files{%s,%s} %d\n", c, label("ost", k), st.SourceOSTsRemaining[k])
	}
	family(w, "migrator_shard_files", "Pending and failed files per round and shard.")
	for _, s := range st.Shards {
		for _, kv := range [][2]string{{"pending", u(s.Files.Pending)}, {"failed", u(s.Files.Failed)}} {
			fmt.Fprintf(w, "migrator_shard_files{%s,%s,%s,%s} %s\n", c, label("round", strconv.Itoa(s.Round)),
				label("shard", strconv.Itoa(s.Shard)), label("state", kv[0]), kv[1])
		}
	}
	family(w, "migrator_files_per_second", "Files handled per second between the first and last activity.")
	fmt.Fprintf(w, "migrator_files_per_second{%s} %g\n", c, st.FilesPerSecond)
	family(w, "migrator_migrated_bytes_per_second", "Bytes migrated per second between the first and last activity.")
	fmt.Fprintf(w, "migrator_migrated_bytes_per_second{%s} %g\n", c, st.BytesPerSecond)
	if st.LastActivity != nil {
		family(w, "migrator_last_activity_timestamp_seconds", "When a task last recorded anything.")
		fmt.Fprintf(w, "migrator_last_activity_timestamp_seconds{%s} %d\n", c, st.LastActivity.Unix())
	}
	if st.Sweep != nil {
		writeSweepProm(w, c, st.Sweep)
	}
	family(w, "migrator_report_timestamp_seconds", "When these figures were collected: the file's freshness.")
	fmt.Fprintf(w, "migrator_report_timestamp_seconds{%s} %d\n", c, st.Generated.Unix())
}

func family(w io.Writer, name, help string) {
	fmt.Fprintf(w, "# HELP %s %s\n# TYPE %s gauge\n", name, help, name)
}

func counter(w io.Writer, name, help string) {
	fmt.Fprintf(w, "# HELP %s %s\n# TYPE %s counter\n", name, help, name)
}

func u(v uint64) string { return strconv.FormatUint(v, 10) }

// label formats name="value" with the exposition format's escapes.
func label(name, value string) string {
	r := strings.NewReplacer(`\`, `\\`, `"`, `\"`, "\n", `\n`)
	return name + `="` + r.Replace(value) + `"`
}

func sortedKeys(m map[string]uint64) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
