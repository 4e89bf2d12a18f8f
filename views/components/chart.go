package components

import (
	"fmt"
	"math"
	"strings"
)

// The chart's drawing area, in SVG user units; the SVG scales to its container's width.
const (
	chartW, chartH         = 720, 220
	chartLeft, chartRight  = 56, 8
	chartTop, chartBottom  = 12, 28
	chartPlotW, chartPlotH = chartW - chartLeft - chartRight, chartH - chartTop - chartBottom
)

// ChartPoint is one value of a chart. Tick, when set, labels the point on the x axis; Label names
// it in the bar's tooltip.
type ChartPoint struct {
	Value int64
	Tick  string
	Label string
}

// ChartBar is one drawn bar.
type ChartBar struct {
	X, Y, W, H string
	Label      string
}

// ChartTick is one axis label at a position along its axis. Anchor is the SVG text-anchor that
// keeps a label at either end of the x axis inside the picture.
type ChartTick struct {
	Pos    string
	Label  string
	Anchor string
}

// ChartKind says how the points are drawn.
type ChartKind int

// Bars suit a few dozen points; an area suits hundreds or thousands.
const (
	ChartBars ChartKind = iota
	ChartArea
)

// Chart is a chart drawn on the server as SVG, readable without JavaScript, with a title and a
// description for screen readers and its numbers as a table.
type Chart struct {
	ID    string
	Title string
	Desc  string
	Kind  ChartKind
	Bars  []ChartBar
	// Area and Line are SVG path data of an area chart.
	Area, Line string
	YTicks     []ChartTick
	XTicks     []ChartTick
	Empty      bool
	// Table is the fallback: its header and rows.
	TableHead []string
	TableRows [][]string
}

// Size is the SVG viewBox.
func (c Chart) Size() string { return fmt.Sprintf("0 0 %d %d", chartW, chartH) }

func f1(x float64) string { return fmt.Sprintf("%.1f", x) }

// niceCeil is the smallest of 1, 2, 2.5, 5 × 10ⁿ at or above n, so the axis reads in round numbers.
func niceCeil(n int64) int64 {
	if n <= 0 {
		return 1
	}
	p := math.Pow(10, math.Floor(math.Log10(float64(n))))
	for _, m := range []float64{1, 2, 2.5, 5, 10} {
		if v := int64(math.Ceil(m * p)); v >= n {
			return v
		}
	}
	return n
}

// NewChart lays out points as bars or an area. format writes the y axis's numbers.
func NewChart(id, title, desc string, kind ChartKind, pts []ChartPoint, format func(int64) string) Chart {
	c := Chart{ID: id, Title: title, Desc: desc, Kind: kind}
	var top int64
	for _, p := range pts {
		top = max(top, p.Value)
	}
	c.Empty = top == 0
	top = niceCeil(top)
	y := func(v int64) float64 { return chartTop + chartPlotH*(1-float64(v)/float64(top)) }
	for _, v := range []int64{0, top / 2, top} {
		if v == top/2 && top%2 != 0 {
			continue // a half that is not a whole number would read oddly
		}
		c.YTicks = append(c.YTicks, ChartTick{Pos: f1(y(v)), Label: format(v)})
	}
	n := len(pts)
	if n == 0 {
		return c
	}
	band := float64(chartPlotW) / float64(n)
	x := func(i int) float64 { return chartLeft + band*(float64(i)+0.5) }
	for i, p := range pts {
		if p.Tick != "" {
			anchor := "middle"
			switch {
			case x(i) > chartW-chartRight-24:
				anchor = "end"
			case x(i) < chartLeft+24:
				anchor = "start"
			}
			c.XTicks = append(c.XTicks, ChartTick{Pos: f1(x(i)), Label: p.Tick, Anchor: anchor})
		}
	}
	switch kind {
	case ChartBars:
		w := math.Max(band*0.8, 1)
		for i, p := range pts {
			h := chartPlotH * float64(p.Value) / float64(top)
			if p.Value > 0 {
				h = math.Max(h, 1) // a small value stays visible
			}
			c.Bars = append(c.Bars, ChartBar{X: f1(x(i) - w/2), Y: f1(chartTop + chartPlotH - h), W: f1(w), H: f1(h), Label: p.Label})
		}
	case ChartArea:
		var line strings.Builder
		for i, p := range pts {
			cmd := "L"
			if i == 0 {
				cmd = "M"
			}
			fmt.Fprintf(&line, "%s%s %s ", cmd, f1(x(i)), f1(y(p.Value)))
		}
		c.Line = strings.TrimSpace(line.String())
		base := f1(chartTop + chartPlotH)
		c.Area = "M" + f1(x(0)) + " " + base + " " + "L" + strings.TrimPrefix(c.Line, "M") + " L" + f1(x(n-1)) + " " + base + " Z"
	}
	return c
}
