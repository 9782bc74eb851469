package portal

import (
	"net/http/httptest"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/reckon-billing/reckon/internal/money"
)

func mustDec(t *testing.T, s string) money.Decimal {
	t.Helper()
	d, err := money.ParseDecimal(s)
	if err != nil {
		t.Fatal(err)
	}
	return d
}

var rectRE = regexp.MustCompile(`<rect class="bar (c\d)" x="([0-9.]+)" y="([0-9.]+)" width="([0-9.]+)" height="([0-9.]+)" data-day="([0-9-]+)" data-category="([^"]*)" data-cost="([^"]+)">`)

// TestStackedBars checks the chart's segments: exact costs, stacked in
// series order, heights proportional to the costs, a credit drawn below
// the zero line, small series lumped into "Other".
func TestStackedBars(t *testing.T) {
	day0 := time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC)
	c := newStackedBars("c", "Test chart", "USD", locale{tag: "en-US"}, day0, 3)
	c.add(day0, "Compute", mustDec(t, "100.123456789"))
	c.add(day0, "Storage", mustDec(t, "50"))
	c.add(day0.AddDate(0, 0, 1), "Compute", mustDec(t, "200"))
	c.add(day0.AddDate(0, 0, 2), "Credit", mustDec(t, "-25.5"))
	c.add(day0.AddDate(0, 0, 3), "Compute", mustDec(t, "999")) // outside: ignored
	svg := string(c.SVG())
	if !strings.Contains(svg, `role="img"`) || !strings.Contains(svg, `aria-label="Test chart"`) || !strings.Contains(svg, `id="c"`) {
		t.Fatalf("chart lacks its accessible name: %.200s", svg)
	}
	rects := rectRE.FindAllStringSubmatch(svg, -1)
	if len(rects) != 4 {
		t.Fatalf("%d segments, want 4:\n%s", len(rects), svg)
	}
	f := func(s string) float64 { v, _ := strconv.ParseFloat(s, 64); return v }
	byKey := map[string][]string{}
	for _, r := range rects {
		byKey[r[6]+"/"+r[7]] = r
	}
	compute := byKey["2026-11-01/Compute"]
	storage := byKey["2026-11-01/Storage"]
	compute2 := byKey["2026-11-02/Compute"]
	credit := byKey["2026-11-03/Credit"]
	if compute == nil || storage == nil || compute2 == nil || credit == nil {
		t.Fatalf("segments %v", byKey)
	}
	if compute[8] != "100.123456789" || credit[8] != "-25.5" {
		t.Errorf("data-cost %s, %s: not exact", compute[8], credit[8])
	}
	// Compute is the largest series: drawn first (at the bottom) in c0.
	if compute[1] != "c0" || storage[1] != "c1" {
		t.Errorf("classes %s %s", compute[1], storage[1])
	}
	if y0, h0, y1 := f(compute[3]), f(compute[5]), f(storage[3]); y1+f(storage[5]) > y0+0.01 || h0 <= 0 {
		t.Errorf("storage (y %v) is not stacked on compute (y %v)", y1, y0)
	}
	// Heights are proportional: 200 is twice 100.12.
	if r := f(compute2[5]) / f(compute[5]); r < 1.99 || r > 2.0 {
		t.Errorf("height ratio %v", r)
	}
	// The credit hangs below the zero line, where compute stands on it.
	zero := f(compute[3]) + f(compute[5])
	if y := f(credit[3]); y < zero-0.01 || y > zero+0.01 {
		t.Errorf("credit starts at %v, zero line at %v", y, zero)
	}
	// Axis ticks are amounts in the locale.
	if !strings.Contains(svg, ">$0.00<") || !strings.Contains(svg, ">-$") {
		t.Error("no $0.00 or negative tick")
	}

	// Many series: the smallest are lumped, and the legend's totals add up.
	c = newStackedBars("m", "Many", "EUR", locale{tag: "de-DE"}, day0, 1)
	var sum money.Decimal
	for i := 0; i < 14; i++ {
		v := money.DecimalFromInt(int64(100 + i))
		c.add(day0, "S"+strconv.Itoa(i), v)
		sum = sum.Add(v)
	}
	legend := c.Legend()
	if len(legend) != maxSeries+1 || legend[maxSeries].Name != otherSeries {
		t.Fatalf("legend %+v", legend)
	}
	var got money.Decimal
	for _, l := range legend {
		got = got.Add(mustDec(t, l.Cost))
	}
	if got.Cmp(sum) != 0 {
		t.Errorf("legend adds to %s, want %s", got, sum)
	}
	if legend[0].Name != "S13" || legend[0].Total != "113,00\u00a0€" {
		t.Errorf("first legend item %+v", legend[0])
	}
	if n := len(rectRE.FindAllString(string(c.SVG()), -1)); n != maxSeries+1 {
		t.Errorf("%d segments, want %d", n, maxSeries+1)
	}
}

// TestLocale checks the choice of locale and the formats.
func TestLocale(t *testing.T) {
	p := &Portal{}
	for _, c := range []struct{ header, fallback, want string }{
		{"", "", "en-US"}, {"", "de-DE", "de-DE"}, {"fr-CH, fr;q=0.9, en;q=0.8", "de-DE", "fr-CH"},
		{"de", "", "de-DE"}, {"en", "de-DE", "en-US"}, {"*", "ja-JP", "ja-JP"}, {"not a language!!", "nl-NL", "nl-NL"},
	} {
		r := httptest.NewRequest("GET", "/portal", nil)
		if c.header != "" {
			r.Header.Set("Accept-Language", c.header)
		}
		if got := p.localeFor(r, c.fallback).tag; got != c.want {
			t.Errorf("Accept-Language %q, fallback %q: %s, want %s", c.header, c.fallback, got, c.want)
		}
	}
	d := time.Date(2026, 3, 7, 0, 0, 0, 0, time.UTC)
	amount := mustDec(t, "1234567.125")
	for _, c := range []struct{ tag, date, amount string }{
		{"en-US", "Mar 7, 2026", "$1,234,567.13"},
		{"en-GB", "7 Mar 2026", "US$1,234,567.13"},
		{"de-DE", "07.03.2026", "1.234.567,13\u00a0$"},
		{"ja-JP", "2026/03/07", "$1,234,567.13"},
	} {
		l := locale{tag: c.tag}
		if got := l.date(d); got != c.date {
			t.Errorf("%s date %q, want %q", c.tag, got, c.date)
		}
		if got := l.amount("USD", amount); got != c.amount {
			t.Errorf("%s amount %q, want %q", c.tag, got, c.amount)
		}
	}
	if got := (locale{tag: "de-DE"}).number(mustDec(t, "1234.5")); got != "1.234,5" {
		t.Errorf("de-DE number %q", got)
	}
	// Rate card prices: exact, with the symbol where the locale puts it.
	for _, c := range []struct{ tag, cur, price, want string }{
		{"en-US", "USD", "0.382", "$0.382"},
		{"en-US", "USD", "0.1", "$0.10"},
		{"en-US", "USD", "1234.000016", "$1,234.000016"},
		{"en-US", "USD", "-0.5", "-$0.50"},
		{"de-DE", "EUR", "0.000016", "0,000016\u00a0€"},
		{"de-DE", "EUR", "1234.5", "1.234,50\u00a0€"},
		{"ja-JP", "JPY", "12", "￥12"},
	} {
		if got := (locale{tag: c.tag}).priceSym(c.cur, mustDec(t, c.price)); got != c.want {
			t.Errorf("%s price %s %s: %q, want %q", c.tag, c.price, c.cur, got, c.want)
		}
	}
	// Counts are grouped for the locale.
	for _, c := range []struct {
		tag  string
		n    int
		want string
	}{{"en-US", 48852, "48,852"}, {"de-DE", 48852, "48.852"}, {"en-US", 7, "7"}, {"en-US", 1234567, "1,234,567"}} {
		if got := (locale{tag: c.tag}).count(c.n); got != c.want {
			t.Errorf("%s count %d: %q, want %q", c.tag, c.n, got, c.want)
		}
	}
}

// TestChartFitsPhones checks the hooks the phone style sheet uses: the
// chart scales (viewBox, no fixed width), the last day is always labelled,
// every other day label is marked to hide on narrow screens, and exactly
// one y label (the top line's) is marked to stay.
func TestChartFitsPhones(t *testing.T) {
	day0 := time.Date(2026, 10, 1, 0, 0, 0, 0, time.UTC)
	for _, days := range []int{30, 90} {
		c := newStackedBars("c", "Test chart", "USD", locale{tag: "en-US"}, day0, days)
		for i := range days {
			c.add(day0.AddDate(0, 0, i), "Compute", mustDec(t, "10"))
		}
		svg := string(c.SVG())
		if !strings.Contains(svg, `viewBox="0 0 `) || strings.Contains(svg, `<svg id="c" width=`) {
			t.Errorf("%d days: the chart does not scale: %.200s", days, svg)
		}
		last := c.Loc.shortDay(day0.AddDate(0, 0, days-1))
		xs := regexp.MustCompile(`<text class="tick x-tick( x-alt)?"[^>]*>([^<]*)</text>`).FindAllStringSubmatch(svg, -1)
		if len(xs) < 4 || len(xs) > 9 {
			t.Fatalf("%d days: %d day labels, want 4 to 9", days, len(xs))
		}
		if xs[0][2] != last || xs[0][1] != "" {
			t.Errorf("%d days: first label drawn %q (%q), want the last day %q, always shown", days, xs[0][2], xs[0][1], last)
		}
		shown := 0
		for _, x := range xs {
			if x[1] == "" {
				shown++
			}
		}
		if shown > 5 || shown < 2 {
			t.Errorf("%d days: %d day labels on a phone, want 2 to 5", days, shown)
		}
		if n := strings.Count(svg, `y-tick y-top"`); n != 1 {
			t.Errorf("%d days: %d top y labels, want 1", days, n)
		}
		if n := len(rectRE.FindAllString(svg, -1)); n != days {
			t.Errorf("%d days: %d bars", days, n)
		}
	}
}
