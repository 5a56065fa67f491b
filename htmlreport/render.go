package htmlreport

import (
	_ "embed"
	"fmt"
	"html/template"
	"io"
	"sort"
	"strconv"
	"time"

	"github.com/dustin/go-humanize"

	"migrator/campaign"
)

//go:embed page.tmpl
var pageTemplate string

var page = template.Must(template.New("page").Funcs(template.FuncMap{
	"ibytes":    func(v uint64) string { return humanize.IBytes(v) },
	"printable": func(p campaign.Path) string { return Printable(string(p)) },
	"text":      Printable,
	"time":      func(t time.Time) string { return t.UTC().Format("2006-01-02 15:04:05 UTC") },
	"ptime": func(t *time.Time) string {
		if t == nil {
			return "-"
		}
		return t.UTC().Format("2006-01-02 15:04:05 UTC")
	},
	"dur": func(d time.Duration) string { return d.Round(time.Millisecond).String() },
	"secs": func(s float64) string {
		return (time.Duration(s * float64(time.Second))).Round(time.Second).String()
	},
	"f1":       func(v float64) string { return strconv.FormatFloat(v, 'f', 1, 64) },
	"pct":      pct,
	"sub":      func(a, b uint64) uint64 { return a - min(a, b) },
	"sub64":    func(a, b float64) float64 { return a - b },
	"add64":    func(a, b float64) float64 { return a + b },
	"ibytes64": func(v float64) string { return humanize.IBytes(uint64(v)) },
}).Parse(pageTemplate))

func pct(part, whole uint64) string {
	if whole == 0 {
		return "-"
	}
	return strconv.FormatFloat(100*float64(part)/float64(whole), 'f', 1, 64) + "%"
}

// view is what the template reads.
type view struct {
	*Report
	Generated   time.Time
	Handled     uint64
	States      []stateRow
	Skipped     []kv
	Failed      []kv
	OSTRows     []ostRow
	OSTChart    lineChart
	FilesChart  lineChart
	BytesChart  lineChart
	ClassChart  barChart
	SweepOSTs   []sweepOST
	SweepClass  []kv
	ScanPaths   []string
	Excludes    []string
	DirsCapped  bool
	TotalGroups int
}

type stateRow struct {
	Name         string
	Files, Bytes uint64
}

type kv struct {
	Key   string
	Value uint64
}

type ostRow struct {
	OST                uint32
	Planned, Remaining uint64
}

type sweepOST struct {
	OST                   string
	OnSource, Unaccounted uint64
}

// maxDirRows bounds the failures-by-directory table, maxOSTLines the OSTs drawn over time.
const (
	maxDirRows  = 50
	maxOSTLines = 12
)

// Render writes the page.
func Render(w io.Writer, r *Report) error {
	st := r.Status
	v := &view{Report: r, Generated: st.Generated, Handled: st.Files.Migrated + st.Files.Skipped + st.Files.Failed}
	v.States = []stateRow{{"planned", st.Files.Planned, st.Bytes.Planned}, {"migrated", st.Files.Migrated, st.Bytes.Migrated},
		{"skipped", st.Files.Skipped, st.Bytes.Skipped}, {"failed", st.Files.Failed, st.Bytes.Failed},
		{"pending", st.Files.Pending, st.Bytes.Pending}, {"would_migrate", st.Files.WouldMigrate, st.Bytes.WouldMigrate}}
	v.Skipped = kvs(st.SkippedByReason)
	v.Failed = kvs(st.FailedByClass)
	for i, o := range r.SourceOSTs {
		if st.ScanUnfinished { // nothing planned on any OST yet: no row saying 0 left
			break
		}
		v.OSTRows = append(v.OSTRows, ostRow{OST: o, Planned: r.PlannedOnOST[i], Remaining: st.SourceOSTsRemaining[strconv.Itoa(int(o))]})
	}
	v.charts()
	var labels []string
	var values []uint64
	for _, f := range v.Failed {
		labels, values = append(labels, f.Key), append(values, f.Value)
	}
	v.ClassChart = newBarChart("chart-failed-by-class", "Failed files by class", labels, values)
	v.ScanPaths = printables(r.Spec.Selection.ScanPaths)
	v.Excludes = printables(r.Spec.Selection.Excludes)
	v.TotalGroups = len(r.FailuresByDir)
	if len(r.FailuresByDir) > maxDirRows {
		v.FailuresByDir, v.DirsCapped = r.FailuresByDir[:maxDirRows], true
	}
	if s := r.Sweep; s != nil {
		for k, o := range s.PerOST {
			v.SweepOSTs = append(v.SweepOSTs, sweepOST{OST: k, OnSource: o.OnSource, Unaccounted: o.Unaccounted})
		}
		sort.Slice(v.SweepOSTs, func(i, j int) bool {
			a, _ := strconv.Atoi(v.SweepOSTs[i].OST)
			b, _ := strconv.Atoi(v.SweepOSTs[j].OST)
			return a < b
		})
		v.SweepClass = kvs(s.Classes)
	}
	return page.Execute(w, v)
}

// charts lays out the charts over time from the series.
func (v *view) charts() {
	bins := v.Series.Bins(200)
	r := v.Report
	// Remaining files per source OST: planned at the start of the first bin, then after
	// each bin; the last point is status.json's source_osts_remaining.
	var xs []time.Time
	ost := make([][]float64, len(r.SourceOSTs))
	names := make([]string, len(r.SourceOSTs))
	left := append([]uint64(nil), r.PlannedOnOST...)
	for i, o := range r.SourceOSTs {
		names[i] = fmt.Sprintf("OST%d", o)
	}
	if len(bins) > 0 {
		xs = append(xs, bins[0].Start)
		for i := range ost {
			ost[i] = append(ost[i], float64(left[i]))
		}
	}
	var mids []time.Time
	var files, bytes []float64
	for _, b := range bins {
		xs = append(xs, b.Start.Add(b.Width))
		for i := range ost {
			left[i] -= min(left[i], b.Done[i])
			ost[i] = append(ost[i], float64(left[i]))
		}
		mids = append(mids, b.Start.Add(b.Width/2))
		files = append(files, float64(b.Handled)/b.Width.Seconds())
		bytes = append(bytes, float64(b.MigratedBytes)/b.Width.Seconds())
	}
	if len(bins) == 1 { // one bucket: draw it as a flat line over its width
		mids = []time.Time{bins[0].Start, bins[0].Start.Add(bins[0].Width)}
		files = append(files, files[0])
		bytes = append(bytes, bytes[0])
	}
	title := "Files left on each source OST (not yet migrated or skipped)"
	if len(ost) > maxOSTLines { // a legend of hundreds says nothing: the OSTs with most files; all are in the table
		order := make([]int, len(ost))
		for i := range order {
			order[i] = i
		}
		sort.SliceStable(order, func(a, b int) bool { return r.PlannedOnOST[order[a]] > r.PlannedOnOST[order[b]] })
		order = order[:maxOSTLines]
		sort.Ints(order)
		var n []string
		var o [][]float64
		for _, i := range order {
			n, o = append(n, names[i]), append(o, ost[i])
		}
		title = fmt.Sprintf("Files left on the %d source OSTs (of %d) that had most files", maxOSTLines, len(ost))
		names, ost = n, o
	}
	v.OSTChart = newLineChart("chart-ost-progress", title, xs, names, ost, countLabel, false)
	v.FilesChart = newLineChart("chart-files-rate", "Files handled per second", mids, []string{"files/s"}, [][]float64{files}, rateLabel, false)
	v.BytesChart = newLineChart("chart-bytes-rate", "Bytes migrated per second", mids, []string{"bytes/s"}, [][]float64{bytes}, bytesRateLabel, true)
}

func kvs(m map[string]uint64) []kv {
	out := make([]kv, 0, len(m))
	for k, v := range m {
		out = append(out, kv{k, v})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Key < out[j].Key })
	return out
}

func printables(ps []campaign.Path) []string {
	out := make([]string, len(ps))
	for i, p := range ps {
		out[i] = Printable(string(p))
	}
	return out
}
