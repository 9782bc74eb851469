package loadtest

import (
	"bufio"
	"fmt"
	"image"
	"image/color"
	"image/draw"
	"image/png"
	"math"
	"os"
	"slices"
	"strconv"

	"golang.org/x/image/font"
	"golang.org/x/image/font/basicfont"
	"golang.org/x/image/math/fixed"
)

// The chart is drawn with the standard library's image packages and the
// basic bitmap font of golang.org/x/image: five panels over the intervals
// of a run (server RSS, goroutines, latency percentiles, requests per
// second by operation, ingested records per second).

const (
	chartW      = 1200
	panelH      = 230
	chartTop    = 56
	plotLeft    = 90
	plotRight   = 190 // room for the legend
	panelGap    = 24
	panelTitleH = 20
)

var (
	colBG     = color.RGBA{255, 255, 255, 255}
	colAxis   = color.RGBA{60, 60, 60, 255}
	colGrid   = color.RGBA{225, 225, 225, 255}
	colText   = color.RGBA{20, 20, 20, 255}
	palette   = []color.RGBA{{31, 119, 180, 255}, {255, 127, 14, 255}, {44, 160, 44, 255}, {214, 39, 40, 255}, {148, 103, 189, 255}, {140, 86, 75, 255}}
	chartFace = basicfont.Face7x13
)

type chartSeries struct {
	name string
	ys   []float64 // NaN: no value
}

// WriteChart draws the result's intervals as a PNG.
func WriteChart(r *Result, path string) error {
	img := Chart(r)
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	w := bufio.NewWriter(f)
	if err := png.Encode(w, img); err != nil {
		f.Close()
		return err
	}
	if err := w.Flush(); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// Chart draws the result's intervals.
func Chart(r *Result) *image.RGBA {
	xs := make([]float64, len(r.Intervals))
	for i, iv := range r.Intervals {
		xs[i] = iv.End
	}
	val := func(f func(iv *Interval) float64) []float64 {
		ys := make([]float64, len(r.Intervals))
		for i := range r.Intervals {
			ys[i] = f(&r.Intervals[i])
		}
		return ys
	}
	orNaN := func(v int64, scale float64) float64 {
		if v <= 0 { // unknown (-1), or absent from an older file (0)
			return math.NaN()
		}
		return float64(v) / scale
	}
	type panel struct {
		title  string
		series []chartSeries
	}
	tput := []chartSeries{{"total", val(func(iv *Interval) float64 { return iv.Total.RequestsPerSec })}}
	for _, op := range Ops() {
		name := op.String()
		if !containsOp(r.Mix, name) {
			continue
		}
		tput = append(tput, chartSeries{name, val(func(iv *Interval) float64 { return iv.Ops[name].RequestsPerSec })})
	}
	panels := []panel{
		{"server memory (MiB)", []chartSeries{
			{"RSS", val(func(iv *Interval) float64 { return orNaN(iv.Server.RSSBytes, 1<<20) })},
			{"Go heap in use", val(func(iv *Interval) float64 { return orNaN(iv.Server.HeapBytes, 1<<20) })},
		}},
		{"server goroutines", []chartSeries{{"goroutines", val(func(iv *Interval) float64 { return orNaN(iv.Server.Goroutines, 1) })}}},
		{"latency of all requests per interval (ms)", []chartSeries{
			{"p50", val(func(iv *Interval) float64 { return iv.Total.P50Ms })},
			{"p95", val(func(iv *Interval) float64 { return iv.Total.P95Ms })},
			{"p99", val(func(iv *Interval) float64 { return iv.Total.P99Ms })},
		}},
		{"throughput (requests/s)", tput},
		{"ingestion (records accepted/s)", []chartSeries{{"records/s", val(func(iv *Interval) float64 { return iv.Ops[OpIngest.String()].ItemsPerSec })}}},
	}
	h := chartTop + len(panels)*(panelH+panelGap) + 30
	img := image.NewRGBA(image.Rect(0, 0, chartW, h))
	draw.Draw(img, img.Bounds(), &image.Uniform{colBG}, image.Point{}, draw.Src)
	title := fmt.Sprintf("reckon loadtest: %d clients, %.0f s from %s against %s", r.Clients, r.Elapsed, r.Started.UTC().Format("2006-01-02 15:04 UTC"), r.Server)
	text(img, 20, 22, title, colText)
	text(img, 20, 40, fmt.Sprintf("mix %s; %d intervals; %d requests, %d errors, %d records ingested", r.Mix, len(r.Intervals), r.Total.Requests, r.Total.Errors, r.Ingest.Accepted), colText)
	xmax := 1.0
	if len(xs) > 0 {
		xmax = max(xs[len(xs)-1], 1)
	}
	for i, p := range panels {
		top := chartTop + i*(panelH+panelGap)
		drawPanel(img, image.Rect(plotLeft, top+panelTitleH, chartW-plotRight, top+panelH), p.title, xs, xmax, p.series)
	}
	unit := "s"
	if xmax > 600 {
		unit = "min"
	}
	text(img, plotLeft, h-10, "time since the start of the measurement ("+unit+")", colText)
	return img
}

func containsOp(mix, name string) bool {
	m, err := ParseMix(mix)
	if err != nil {
		return true
	}
	for i, n := range opNames {
		if n == name {
			return m[i] > 0
		}
	}
	return false
}

// drawPanel draws the series over xs in the plot rectangle pr, with axes
// from 0, a title above and a legend to the right.
func drawPanel(img *image.RGBA, pr image.Rectangle, title string, xs []float64, xmax float64, series []chartSeries) {
	text(img, pr.Min.X, pr.Min.Y-6, title, colText)
	ymax := 0.0
	for _, s := range series {
		for _, y := range s.ys {
			if !math.IsNaN(y) && y > ymax {
				ymax = y
			}
		}
	}
	step := niceStep(ymax)
	top := step * math.Ceil(ymax*1.05/step)
	if top <= 0 {
		top, step = 1, 0.25
	}
	px := func(x float64) int { return pr.Min.X + int(math.Round(x/xmax*float64(pr.Dx()))) }
	py := func(y float64) int { return pr.Max.Y - int(math.Round(y/top*float64(pr.Dy()))) }
	// Grid and y ticks.
	for y := 0.0; y <= top+step/2; y += step {
		yy := py(y)
		hline(img, pr.Min.X, pr.Max.X, yy, colGrid)
		label := strconv.FormatFloat(y, 'f', -1, 64)
		if step < 1 {
			label = strconv.FormatFloat(y, 'f', decimals(step), 64)
		}
		text(img, pr.Min.X-8-7*len(label), yy+4, label, colText)
	}
	// X ticks.
	unitDiv := 1.0
	if xmax > 600 {
		unitDiv = 60
	}
	xstep := niceStep(xmax / unitDiv)
	for x := 0.0; x <= xmax/unitDiv+xstep/1000; x += xstep {
		xx := px(x * unitDiv)
		vline(img, xx, pr.Min.Y, pr.Max.Y, colGrid)
		label := strconv.FormatFloat(x, 'f', decimals(xstep), 64)
		text(img, xx-7*len(label)/2, pr.Max.Y+14, label, colText)
	}
	hline(img, pr.Min.X, pr.Max.X, pr.Max.Y, colAxis)
	vline(img, pr.Min.X, pr.Min.Y, pr.Max.Y, colAxis)
	shown := 0
	for si, s := range series {
		if !slices.ContainsFunc(s.ys, func(y float64) bool { return !math.IsNaN(y) }) {
			continue // no value at all (a figure the run could not read): no line, no legend
		}
		c := palette[si%len(palette)]
		prevOK := false
		var px0, py0 int
		for i, y := range s.ys {
			if math.IsNaN(y) || i >= len(xs) {
				prevOK = false
				continue
			}
			x1, y1 := px(xs[i]), py(y)
			if prevOK {
				line(img, px0, py0, x1, y1, c)
			} else {
				dot(img, x1, y1, c)
			}
			px0, py0, prevOK = x1, y1, true
		}
		ly := pr.Min.Y + 14 + shown*16
		shown++
		for d := 0; d < 3; d++ {
			hline(img, pr.Max.X+12, pr.Max.X+32, ly-4+d-1, c)
		}
		text(img, pr.Max.X+38, ly, s.name, colText)
	}
}

// niceStep is a tick step of 1, 2 or 5 times a power of ten giving about
// five ticks up to v.
func niceStep(v float64) float64 {
	if v <= 0 || math.IsNaN(v) || math.IsInf(v, 0) {
		return 1
	}
	raw := v / 5
	p := math.Pow(10, math.Floor(math.Log10(raw)))
	for _, m := range []float64{1, 2, 5, 10} {
		if m*p >= raw {
			return m * p
		}
	}
	return 10 * p
}

func decimals(step float64) int {
	if step >= 1 {
		return 0
	}
	return int(math.Ceil(-math.Log10(step) - 1e-9))
}

func text(img *image.RGBA, x, y int, s string, c color.Color) {
	d := &font.Drawer{Dst: img, Src: image.NewUniform(c), Face: chartFace, Dot: fixed.P(x, y)}
	d.DrawString(s)
}

func hline(img *image.RGBA, x0, x1, y int, c color.RGBA) {
	for x := x0; x <= x1; x++ {
		img.SetRGBA(x, y, c)
	}
}

func vline(img *image.RGBA, x, y0, y1 int, c color.RGBA) {
	for y := y0; y <= y1; y++ {
		img.SetRGBA(x, y, c)
	}
}

func dot(img *image.RGBA, x, y int, c color.RGBA) {
	for dx := -1; dx <= 1; dx++ {
		for dy := -1; dy <= 1; dy++ {
			img.SetRGBA(x+dx, y+dy, c)
		}
	}
}

// line draws a two-pixel line (Bresenham).
func line(img *image.RGBA, x0, y0, x1, y1 int, c color.RGBA) {
	dx, dy := abs(x1-x0), -abs(y1-y0)
	sx, sy := 1, 1
	if x0 > x1 {
		sx = -1
	}
	if y0 > y1 {
		sy = -1
	}
	e := dx + dy
	for {
		img.SetRGBA(x0, y0, c)
		img.SetRGBA(x0+1, y0, c)
		img.SetRGBA(x0, y0+1, c)
		if x0 == x1 && y0 == y1 {
			return
		}
		e2 := 2 * e
		if e2 >= dy {
			e += dy
			x0 += sx
		}
		if e2 <= dx {
			e += dx
			y0 += sy
		}
	}
}

func abs(v int) int {
	if v < 0 {
		return -v
	}
	return v
}
