package htmlreport

import (
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"

	"github.com/dustin/go-humanize"
)

// palette colours the series of a chart, in order (then again).
var palette = []string{"#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22", "#17becf"}

// lineChart is an SVG line chart, laid out here and drawn by the "line" template.
type lineChart struct {
	ID, Title  string
	W, H       int
	L, R, T, B float64 // plot area
	Lines      []line
	XTicks     []tick
	YTicks     []tick
	Note       string // shown instead of lines when there is nothing to draw
}

type line struct {
	Name, Color, Points string
	LegendX, LegendY    float64
}

type tick struct {
	Pos   float64
	Label string
}

// newLineChart lays out series ys (one value per x) over times xs. yLabel formats the
// value axis; binary puts its ticks at round numbers of KiB, MiB, ... rather than of tens.
func newLineChart(id, title string, xs []time.Time, names []string, ys [][]float64, yLabel func(float64) string, binary bool) lineChart {
	c := lineChart{ID: id, Title: title, W: 1080, H: 300, L: 80, R: 860, T: 20, B: 260}
	if len(xs) < 2 {
		c.Note = "not enough activity over time to draw yet"
		return c
	}
	t0, t1 := xs[0], xs[len(xs)-1]
	span := t1.Sub(t0).Seconds()
	if span <= 0 {
		span = 1
	}
	top := 0.0
	for _, s := range ys {
		for _, v := range s {
			top = math.Max(top, v)
		}
	}
	step := niceStep(top / 4)
	if binary && top >= 1024 {
		unit := math.Pow(1024, math.Floor(math.Log(top/4)/math.Log(1024)))
		step = niceStep(top/4/unit) * unit
	}
	top = math.Max(step*math.Ceil(top/step), step)
	x := func(t time.Time) float64 { return c.L + (c.R-c.L)*t.Sub(t0).Seconds()/span }
	y := func(v float64) float64 { return c.B - (c.B-c.T)*v/top }
	for v := 0.0; v <= top*1.0001; v += step {
		c.YTicks = append(c.YTicks, tick{Pos: round1(y(v)), Label: yLabel(v)})
	}
	layout := timeLayout(t1.Sub(t0))
	for i := 0; i <= 4; i++ {
		t := t0.Add(time.Duration(float64(t1.Sub(t0)) * float64(i) / 4))
		c.XTicks = append(c.XTicks, tick{Pos: round1(x(t)), Label: t.UTC().Format(layout)})
	}
	for i, s := range ys {
		var pts strings.Builder
		for j, v := range s {
			fmt.Fprintf(&pts, "%s,%s ", fmtF(x(xs[j])), fmtF(y(v)))
		}
		c.Lines = append(c.Lines, line{Name: names[i], Color: palette[i%len(palette)], Points: strings.TrimSpace(pts.String()),
			LegendX: c.R + 20, LegendY: c.T + 10 + float64(i)*18})
	}
	return c
}

// barChart is a horizontal SVG bar chart.
type barChart struct {
	ID, Title string
	W, H      int
	Bars      []bar
	Note      string
}

type bar struct {
	Label, Value string
	Y, Width     float64
	Color        string
}

func newBarChart(id, title string, labels []string, values []uint64) barChart {
	c := barChart{ID: id, Title: title, W: 1080, H: 24*len(labels) + 10}
	var top uint64
	for _, v := range values {
		top = max(top, v)
	}
	if top == 0 {
		c.Note = "none"
		c.H = 0
		return c
	}
	for i, l := range labels {
		c.Bars = append(c.Bars, bar{Label: l, Value: strconv.FormatUint(values[i], 10), Y: float64(5 + 24*i),
			Width: round1(700 * float64(values[i]) / float64(top)), Color: palette[i%len(palette)]})
	}
	return c
}

// niceStep rounds a raw step up to 1, 2 or 5 times a power of ten.
func niceStep(raw float64) float64 {
	if raw <= 0 {
		return 1
	}
	p := math.Pow(10, math.Floor(math.Log10(raw)))
	for _, m := range []float64{1, 2, 5, 10} {
		if raw <= m*p {
			return m * p
		}
	}
	return 10 * p
}

func timeLayout(span time.Duration) string {
	switch {
	case span > 48*time.Hour:
		return "Jan 2 15h"
	case span > 10*time.Minute:
		return "Jan 2 15:04"
	default:
		return "15:04:05"
	}
}

func round1(v float64) float64 { return math.Round(v*10) / 10 }

func fmtF(v float64) string { return strconv.FormatFloat(round1(v), 'f', -1, 64) }

func countLabel(v float64) string {
	if v >= 10000 {
		return humanize.SIWithDigits(v, 1, "")
	}
	return strconv.FormatFloat(v, 'f', -1, 64)
}

func rateLabel(v float64) string { return countLabel(v) + "/s" }

func bytesRateLabel(v float64) string { return humanize.IBytes(uint64(v)) + "/s" }
