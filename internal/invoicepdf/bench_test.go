package invoicepdf_test

import (
	"bytes"
	"os"
	"testing"

	"codeberg.org/go-pdf/fpdf"

	"github.com/reckon-billing/reckon/internal/invoicepdf"
)

// BenchmarkRender1000Lines renders a 1,000-line invoice (plus the three
// offer-term lines, tier breakdowns, late usage, tax; de-DE, EUR; about 25
// pages). The target is < 200 ms per invoice.
//
//	go test -run '^$' -bench 'Render|Baseline' -benchtime 20x ./internal/invoicepdf/
func BenchmarkRender1000Lines(b *testing.B) {
	benchRender(b, "de-DE", "EUR")
}

// BenchmarkRender1000LinesJapanese is the same invoice in ja-JP and JPY:
// the "￥" sign needs the CJK fallback font, which is parsed and
// subset on top of DejaVu Sans.
func BenchmarkRender1000LinesJapanese(b *testing.B) {
	benchRender(b, "ja-JP", "JPY")
}

func benchRender(b *testing.B, locale, currency string) {
	inv := sample(1000, locale, currency, true)
	r := invoicepdf.New(invoicepdf.Options{})
	var size int
	b.ReportAllocs()
	for b.Loop() {
		pdf, err := r.Render(inv)
		if err != nil {
			b.Fatal(err)
		}
		size = len(pdf)
	}
	b.ReportMetric(float64(size), "bytes/pdf")
}

// BenchmarkBaseline1000PlainLines is the same-run baseline: an fpdf
// document with the same embedded fonts and the same number of rows of
// plain text (the line's name, quantity and amount as one string), with
// fpdf's automatic page breaks and no layout logic at all.
func BenchmarkBaseline1000PlainLines(b *testing.B) {
	inv := sample(1000, "de-DE", "EUR", true)
	regular, err := os.ReadFile("fonts/DejaVuSans.ttf")
	if err != nil {
		b.Fatal(err)
	}
	bold, err := os.ReadFile("fonts/DejaVuSans-Bold.ttf")
	if err != nil {
		b.Fatal(err)
	}
	rows := make([]string, len(inv.Lines))
	for i, l := range inv.Lines {
		rows[i] = l.MeterName + " " + l.Quantity.String() + " " + l.Amount.String() + " EUR"
	}
	var size int
	b.ReportAllocs()
	for b.Loop() {
		f := fpdf.New("P", "mm", "A4", "")
		f.SetCreationDate(inv.IssuedAt)
		f.SetModificationDate(inv.IssuedAt)
		f.SetCatalogSort(true)
		f.AddUTF8FontFromBytes("DejaVu", "", regular)
		f.AddUTF8FontFromBytes("DejaVu", "B", bold)
		f.AddPage()
		f.SetFont("DejaVu", "B", 12)
		f.CellFormat(0, 8, "Invoice "+inv.Name, "", 1, "L", false, 0, "")
		f.SetFont("DejaVu", "", 8.5)
		for _, r := range rows {
			f.CellFormat(0, 4.3, r, "", 1, "L", false, 0, "")
		}
		var buf bytes.Buffer
		if err := f.Output(&buf); err != nil {
			b.Fatal(err)
		}
		size = buf.Len()
	}
	b.ReportMetric(float64(size), "bytes/pdf")
}
