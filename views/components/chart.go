package components

import (
	"math"
	"strconv"
	"strings"
)

// A chart is drawn twice, in SVG user units: a wide drawing for desktops and a narrow one for
// phones, each scaling to its container's width. Their widths are chosen so that the 12-unit
// labels stay at least 11 CSS pixels: the wide one shows from 1024 px (where it is drawn at least
// 720 px wide), the narrow one below (a 360 px phone draws it about 300 px wide).
const (
	chartWideW, chartNarrowW = 720, 320
	chartH                   = 220
	chartLeft, chartRight    = 56, 8
	chartTop, chartBottom    = 12, 28
	chartPlotH               = chartH - chartTop - chartBottom
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
	// Wide and Narrow are the same points drawn for a desktop and for a phone.
	Wide, Narrow ChartDrawing
	Empty        bool
	// Table is the fallback: its header and rows.
	TableHead []string
	TableRows [][]string
}

// ChartDrawing is one drawing of a chart's points at a width.
type ChartDrawing struct {
	W    int
	Bars []ChartBar
	// Area and Line are SVG path data of an area chart.
	Area, Line string
	YTicks     []ChartTick
	XTicks     []ChartTick
}

// Size is the SVG viewBox.
func (d ChartDrawing) Size() string { return "0 0 " + itoa(d.W) + " " + itoa(chartH) }

// PlotRight is where the plot's grid lines end.
func (d ChartDrawing) PlotRight() string { return itoa(d.W - chartRight) }

// Middle is the x of the drawing's centre.
func (d ChartDrawing) Middle() string { return itoa(d.W / 2) }

func itoa(n int) string { return strconv.Itoa(n) }

// f1 is x with one decimal, as %.1f writes it; a chart writes four of these per bar.
func f1(x float64) string { return strconv.FormatFloat(x, 'f', 1, 64) }

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

// NewChart lays out points as bars or an area, wide and narrow. format writes the y axis's numbers.
func NewChart(id, title, desc string, kind ChartKind, pts []ChartPoint, format func(int64) string) Chart {
	c := Chart{ID: id, Title: title, Desc: desc, Kind: kind}
	var top int64
	for _, p := range pts {
		top = max(top, p.Value)
	}
	c.Empty = top == 0
	top = niceCeil(top)
	// The narrow drawing labels every other tick of the wide one, so its labels do not touch.
	c.Wide = draw(chartWideW, kind, pts, top, format, 1)
	c.Narrow = draw(chartNarrowW, kind, pts, top, format, 2)
	return c
}

// draw lays out the points across a drawing w units wide, labelling every tickEvery-th tick.
func draw(w int, kind ChartKind, pts []ChartPoint, top int64, format func(int64) string, tickEvery int) ChartDrawing {
	d := ChartDrawing{W: w}
	plotW := float64(w - chartLeft - chartRight)
	y := func(v int64) float64 { return chartTop + chartPlotH*(1-float64(v)/float64(top)) }
	for _, v := range []int64{0, top / 2, top} {
		if v == top/2 && top%2 != 0 {
			continue // a half that is not a whole number would read oddly
		}
		d.YTicks = append(d.YTicks, ChartTick{Pos: f1(y(v)), Label: format(v)})
	}
	n := len(pts)
	if n == 0 {
		return d
	}
	band := plotW / float64(n)
	x := func(i int) float64 { return chartLeft + band*(float64(i)+0.5) }
	ticks := 0
	for i, p := range pts {
		if p.Tick == "" {
			continue
		}
		ticks++
		if (ticks-1)%tickEvery != 0 {
			continue
		}
		anchor := "middle"
		switch {
		case x(i) > float64(w-chartRight-24):
			anchor = "end"
		case x(i) < chartLeft+24:
			anchor = "start"
		}
		d.XTicks = append(d.XTicks, ChartTick{Pos: f1(x(i)), Label: p.Tick, Anchor: anchor})
	}
	switch kind {
	case ChartBars:
		bw := math.Max(band*0.8, 1)
		for i, p := range pts {
			h := chartPlotH * float64(p.Value) / float64(top)
			if p.Value > 0 {
				h = math.Max(h, 1) // a small value stays visible
			}
			d.Bars = append(d.Bars, ChartBar{X: f1(x(i) - bw/2), Y: f1(chartTop + chartPlotH - h), W: f1(bw), H: f1(h), Label: p.Label})
		}
	case ChartArea:
		var line strings.Builder
		for i, p := range pts {
			cmd := "L"
			if i == 0 {
				cmd = "M"
			}
			line.WriteString(cmd + f1(x(i)) + " " + f1(y(p.Value)) + " ")
		}
		d.Line = strings.TrimSpace(line.String())
		base := f1(chartTop + chartPlotH)
		d.Area = "M" + f1(x(0)) + " " + base + " " + "L" + strings.TrimPrefix(d.Line, "M") + " L" + f1(x(n-1)) + " " + base + " Z"
	}
	return d
}
