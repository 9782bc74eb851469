package portal

import (
	"fmt"
	"html"
	"html/template"
	"math"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/reckon-billing/reckon/internal/money"
)

// maxSeries is how many series a chart draws in their own colour; the
// smallest beyond them are drawn together as otherSeries.
const (
	maxSeries   = 9
	otherSeries = "Other"
)

// stackedBars is a daily stacked bar chart: one bar per day, one segment
// per series. Amounts are exact decimals; only pixel positions are floats.
type stackedBars struct {
	ID, Label string
	Currency  string
	Loc       locale
	Days      []time.Time
	// values[day index][series] is the exact cost.
	values []map[string]money.Decimal
	totals map[string]money.Decimal
}

func newStackedBars(id, label, currency string, loc locale, from time.Time, days int) *stackedBars {
	c := &stackedBars{ID: id, Label: label, Currency: currency, Loc: loc, totals: map[string]money.Decimal{}}
	for i := 0; i < days; i++ {
		c.Days = append(c.Days, from.AddDate(0, 0, i))
		c.values = append(c.values, map[string]money.Decimal{})
	}
	return c
}

// add adds cost to series on day (ignored outside the chart's days).
func (c *stackedBars) add(day time.Time, series string, cost money.Decimal) {
	if len(c.Days) == 0 {
		return
	}
	i := int(day.Sub(c.Days[0]) / (24 * time.Hour))
	if day.Before(c.Days[0]) || i >= len(c.Days) {
		return
	}
	c.values[i][series] = c.values[i][series].Add(cost)
	c.totals[series] = c.totals[series].Add(cost)
}

// legendItem is a series of the legend.
type legendItem struct {
	Name  string
	Class string
	Total string // formatted
	Cost  string // exact
}

// series returns the series in drawing order (largest total first, the
// lumped "Other" last) and maps every series to the one it is drawn as.
func (c *stackedBars) series() ([]string, map[string]string) {
	names := make([]string, 0, len(c.totals))
	for n := range c.totals {
		names = append(names, n)
	}
	slices.SortFunc(names, func(a, b string) int {
		if x := c.totals[b].Abs().Cmp(c.totals[a].Abs()); x != 0 {
			return x
		}
		return strings.Compare(a, b)
	})
	as := map[string]string{}
	if len(names) <= maxSeries+1 {
		for _, n := range names {
			as[n] = n
		}
		return names, as
	}
	for i, n := range names {
		if i < maxSeries {
			as[n] = n
		} else {
			as[n] = otherSeries
		}
	}
	return append(names[:maxSeries:maxSeries], otherSeries), as
}

// Legend returns the legend, in drawing order.
func (c *stackedBars) Legend() []legendItem {
	order, as := c.series()
	tot := map[string]money.Decimal{}
	for n, v := range c.totals {
		tot[as[n]] = tot[as[n]].Add(v)
	}
	out := make([]legendItem, len(order))
	for i, n := range order {
		out[i] = legendItem{Name: n, Class: "c" + strconv.Itoa(i), Total: c.Loc.amount(c.Currency, tot[n]), Cost: tot[n].String()}
	}
	return out
}

// pixels converts an exact amount to a float for drawing only.
func pixels(d money.Decimal) float64 {
	f, _ := strconv.ParseFloat(d.String(), 64)
	return f
}

// niceStep returns a round tick step for a range.
func niceStep(span float64, ticks int) float64 {
	if span <= 0 {
		return 1
	}
	raw := span / float64(ticks)
	mag := math.Pow(10, math.Floor(math.Log10(raw)))
	for _, m := range []float64{1, 2, 2.5, 5, 10} {
		if m*mag >= raw {
			return m * mag
		}
	}
	return 10 * mag
}

// SVG draws the chart. It scales to its container's width (viewBox): on a
// phone the whole range fits without scrolling, with bars thinner and the
// style sheet showing fewer, larger tick labels (class "x-alt" marks the
// labels a narrow screen hides; y labels move inside the plot there).
func (c *stackedBars) SVG() template.HTML {
	const (
		width, height            = 960.0, 340.0
		left, right, top, bottom = 72.0, 12.0, 30.0, 40.0
	)
	order, as := c.series()
	class := map[string]string{}
	for i, n := range order {
		class[n] = "c" + strconv.Itoa(i)
	}
	// Stack per day, in series order.
	type seg struct {
		series string
		cost   money.Decimal
	}
	stacks := make([][]seg, len(c.Days))
	maxV, minV := 0.0, 0.0
	for i, vals := range c.values {
		merged := map[string]money.Decimal{}
		for n, v := range vals {
			merged[as[n]] = merged[as[n]].Add(v)
		}
		pos, neg := 0.0, 0.0
		for _, n := range order {
			v, ok := merged[n]
			if !ok {
				continue
			}
			stacks[i] = append(stacks[i], seg{n, v})
			if f := pixels(v); f >= 0 {
				pos += f
			} else {
				neg += f
			}
		}
		maxV, minV = math.Max(maxV, pos), math.Min(minV, neg)
	}
	if maxV == 0 && minV == 0 {
		maxV = 1
	}
	step := niceStep(maxV-minV, 4)
	hi := math.Ceil(maxV/step) * step
	lo := math.Floor(minV/step) * step
	plotH := height - top - bottom
	plotW := width - left - right
	y := func(v float64) float64 { return top + (hi-v)/(hi-lo)*plotH }
	var b strings.Builder
	fmt.Fprintf(&b, `<svg id="%s" class="chart" role="img" aria-label="%s" viewBox="0 0 %g %g" preserveAspectRatio="xMidYMid meet" xmlns="http://www.w3.org/2000/svg">`,
		html.EscapeString(c.ID), html.EscapeString(c.Label), width, height)
	fmt.Fprintf(&b, `<title>%s</title>`, html.EscapeString(c.Label))
	// Grid lines first; their labels are drawn last, over the bars (a
	// narrow screen shows them inside the plot).
	var yLabels strings.Builder
	yLabels.WriteString(`<g class="axis y-axis">`)
	b.WriteString(`<g class="axis grid-lines">`)
	for v := lo; v <= hi+step/2; v += step {
		yy := y(v)
		label := c.Loc.amount(c.Currency, decimalOf(v))
		cls := "tick y-tick"
		if v+step > hi+step/2 {
			cls += " y-top" // the only one a narrow screen shows, above the top line
		}
		fmt.Fprintf(&b, `<line class="grid" x1="%g" x2="%g" y1="%.1f" y2="%.1f"/>`, left, width-right, yy, yy)
		fmt.Fprintf(&yLabels, `<text class="%s" x="%g" y="%.1f" text-anchor="end" dominant-baseline="middle">%s</text>`, cls, left-6, yy, html.EscapeString(label))
	}
	b.WriteString(`</g>`)
	yLabels.WriteString(`</g>`)
	n := len(c.Days)
	if n == 0 {
		b.WriteString(yLabels.String())
		b.WriteString(`</svg>`)
		return template.HTML(b.String())
	}
	slot := plotW / float64(n)
	barW := math.Max(1, slot*0.72)
	// About 8 day labels, counted back from the last day so that the latest
	// is always labelled; every other one is hidden on narrow screens.
	every := max(1, int(math.Ceil(float64(n)/8)))
	b.WriteString(`<g class="axis x-axis">`)
	for k, i := 0, n-1; i >= 0; k, i = k+1, i-every {
		x := left + slot*float64(i) + slot/2
		anchor := "middle"
		if i == n-1 && slot/2 < 30 {
			anchor = "end"
			x = left + slot*float64(i+1)
		}
		cls := "tick x-tick"
		if k%2 == 1 {
			cls += " x-alt"
		}
		fmt.Fprintf(&b, `<text class="%s" x="%.1f" y="%g" text-anchor="%s">%s</text>`, cls, x, height-12, anchor, html.EscapeString(c.Loc.shortDay(c.Days[i])))
	}
	fmt.Fprintf(&b, `<line class="zero" x1="%g" x2="%g" y1="%.1f" y2="%.1f"/>`, left, width-right, y(0), y(0))
	b.WriteString(`</g><g class="bars">`)
	for i, d := range c.Days {
		x := left + slot*float64(i) + (slot-barW)/2
		pos, neg := 0.0, 0.0
		day := d.Format("2006-01-02")
		for _, s := range stacks[i] {
			f := pixels(s.cost)
			var y0, y1 float64
			if f >= 0 {
				y0, y1 = y(pos+f), y(pos)
				pos += f
			} else {
				y0, y1 = y(neg), y(neg+f)
				neg += f
			}
			h := math.Max(0, y1-y0)
			fmt.Fprintf(&b, `<rect class="bar %s" x="%.2f" y="%.2f" width="%.2f" height="%.2f" data-day="%s" data-category="%s" data-cost="%s"><title>%s · %s: %s</title></rect>`,
				class[s.series], x, y0, barW, h, day, html.EscapeString(s.series), s.cost.String(),
				html.EscapeString(c.Loc.date(d)), html.EscapeString(s.series), html.EscapeString(c.Loc.amount(c.Currency, s.cost)))
		}
	}
	b.WriteString(`</g>`)
	b.WriteString(yLabels.String())
	b.WriteString(`</svg>`)
	return template.HTML(b.String())
}

// decimalOf turns an axis tick (a float, for labels only) into a decimal.
func decimalOf(v float64) money.Decimal {
	d, err := money.ParseDecimal(strconv.FormatFloat(v, 'f', -1, 64))
	if err != nil {
		return money.Zero
	}
	return d
}
