package invoicepdf_test

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"image"
	"image/color"
	"image/png"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/pdfcpu/pdfcpu/pkg/api"
	"github.com/pdfcpu/pdfcpu/pkg/pdfcpu/model"

	"github.com/reckon-billing/reckon/internal/invoicepdf"
	"github.com/reckon-billing/reckon/internal/invoicing"
	"github.com/reckon-billing/reckon/internal/money"
)

// tool returns the path of a poppler-utils command. It skips the test when
// the command is missing on a developer's machine, and fails it in CI
// (CI=true), where .ci/run installs poppler-utils.
func tool(t *testing.T, name string) string {
	t.Helper()
	p, err := exec.LookPath(name)
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("%s is required in CI (apt-get install poppler-utils): %v", name, err)
		}
		t.Skipf("%s not installed (apt-get install poppler-utils)", name)
	}
	return p
}

func render(t testing.TB, inv *invoicing.Invoice) []byte {
	t.Helper()
	pdf, err := invoicepdf.New(invoicepdf.Options{Note: "Bank transfer to IBAN DE89 3704 0044 0532 0130 00."}).Render(inv)
	if err != nil {
		t.Fatalf("Render: %v", err)
	}
	return pdf
}

func writeTemp(t *testing.T, pdf []byte) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "invoice.pdf")
	if err := os.WriteFile(path, pdf, 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// pdftotext returns the PDF's text laid out as on the page (-layout), one
// form feed after each page.
func pdftotext(t *testing.T, pdf []byte) string {
	t.Helper()
	bin := tool(t, "pdftotext")
	out, err := exec.Command(bin, "-layout", "-enc", "UTF-8", writeTemp(t, pdf), "-").Output()
	if err != nil {
		t.Fatalf("pdftotext: %v", err)
	}
	return string(out)
}

// extracted is what a reader of the PDF's text finds: the amount of every
// invoice line and the totals, as printed.
type extracted struct {
	lines     []money.Decimal
	groups    map[string]money.Decimal // group subtotals by title
	subtotal  money.Decimal
	tax       *money.Decimal
	total     money.Decimal
	pages     int
	headers   int // column-header rows
	pageMarks []string
}

var columns = regexp.MustCompile(`\s{2,}`)

// extract reads the text of a PDF the way the package documentation says
// it is laid out: an invoice line's row ends with its amount (with the
// currency symbol); subtotal, tax and total rows start with their labels.
func extract(t *testing.T, text string, f invoicepdf.Format, taxLabel string) extracted {
	t.Helper()
	e := extracted{groups: map[string]money.Decimal{}}
	sym := strings.ReplaceAll(f.Symbol(), "\u00a0", " ")
	pageMark := regexp.MustCompile(`Page (\d+) of (\d+)$`)
	seen := 0
	for _, page := range strings.Split(text, "\f") {
		if strings.TrimSpace(page) == "" {
			continue
		}
		e.pages++
		for _, row := range strings.Split(page, "\n") {
			row = strings.TrimSpace(row)
			if row == "" {
				continue
			}
			if m := pageMark.FindStringSubmatch(row); m != nil {
				e.pageMarks = append(e.pageMarks, m[0])
				continue
			}
			cells := columns.Split(row, -1)
			if cells[0] == "Meter" && cells[len(cells)-1] == "Amount" {
				e.headers++
				continue
			}
			last := cells[len(cells)-1]
			if !strings.Contains(last, sym) || !strings.ContainsAny(last, "0123456789") || len(cells) < 2 {
				continue
			}
			amount, err := f.ParseAmount(last)
			if err != nil {
				t.Fatalf("row %q ends with %q: %v", row, last, err)
			}
			seen++
			switch first := cells[0]; {
			case first == "Subtotal":
				e.subtotal = amount
			case strings.HasPrefix(first, "Subtotal "):
				e.groups[strings.TrimPrefix(first, "Subtotal ")] = amount
			case first == taxLabel:
				e.tax = &amount
			case strings.HasPrefix(first, "Total"):
				e.total = amount
			default:
				e.lines = append(e.lines, amount)
			}
		}
	}
	if seen == 0 {
		t.Fatalf("no amount found in the text:\n%s", text)
	}
	return e
}

func sortedStrings(ds []money.Decimal) []string {
	out := make([]string, len(ds))
	for i, d := range ds {
		out[i] = d.String()
	}
	slices.Sort(out)
	return out
}

// TestTextReconciles renders invoices in several locales and currencies and
// reads them back with pdftotext: every line's amount is there, the
// extracted line amounts sum to the subtotal shown, subtotal and tax to the
// total shown, and both equal the invoice's figures exactly.
func TestTextReconciles(t *testing.T) {
	cases := []struct {
		locale, currency string
		tax              bool
	}{
		{"en-US", "USD", false},
		{"de-DE", "EUR", true},
		{"fr-FR", "EUR", true},
		{"ja-JP", "JPY", true},
		{"en-IN", "INR", true},
		{"en-US", "KWD", false},
		{"de-CH", "CHF", true},
	}
	for _, c := range cases {
		t.Run(c.locale+"-"+c.currency, func(t *testing.T) {
			t.Parallel()
			inv := sample(90, c.locale, c.currency, c.tax)
			text := pdftotext(t, render(t, inv))
			f := invoicepdf.NewFormat(c.locale, money.MustParseCurrency(c.currency))
			taxLabel := ""
			if inv.Tax != nil {
				taxLabel = inv.Tax.Label
			}
			e := extract(t, text, f, taxLabel)

			want := make([]money.Decimal, len(inv.Lines))
			for i, l := range inv.Lines {
				want[i] = l.Amount
			}
			if got, w := sortedStrings(e.lines), sortedStrings(want); !slices.Equal(got, w) {
				t.Fatalf("line amounts extracted (%d) differ from the invoice's (%d):\n got %v\nwant %v", len(got), len(w), got, w)
			}
			var sum money.Decimal
			for _, a := range e.lines {
				sum = sum.Add(a)
			}
			if sum.Cmp(e.subtotal) != 0 || sum.Cmp(inv.SubTotal) != 0 {
				t.Fatalf("extracted lines sum to %s; subtotal shown %s; invoice subtotal %s", sum, e.subtotal, inv.SubTotal)
			}
			var groups money.Decimal
			for _, g := range e.groups {
				groups = groups.Add(g)
			}
			if groups.Cmp(sum) != 0 || len(e.groups) < 6 {
				t.Fatalf("group subtotals %v sum to %s, lines to %s", e.groups, groups, sum)
			}
			total := e.subtotal
			if inv.Tax != nil {
				if e.tax == nil || e.tax.Cmp(inv.Tax.Amount) != 0 {
					t.Fatalf("tax shown %v, invoice tax %s", e.tax, inv.Tax.Amount)
				}
				total = total.Add(*e.tax)
			} else if e.tax != nil {
				t.Fatalf("tax shown without a tax: %s", e.tax)
			}
			if total.Cmp(e.total) != 0 || e.total.Cmp(inv.Total) != 0 {
				t.Fatalf("subtotal + tax = %s; total shown %s; invoice total %s", total, e.total, inv.Total)
			}
			if want := f.Amount(inv.Total); !strings.Contains(text, strings.ReplaceAll(want, "\u00a0", " ")) {
				t.Errorf("total %q not in the text", want)
			}

			// Multi-page: "Page i of N" and the column headers on every page.
			if e.pages < 3 {
				t.Fatalf("%d pages; the fixture is meant to span several", e.pages)
			}
			for i := 1; i <= e.pages; i++ {
				if mark := fmt.Sprintf("Page %d of %d", i, e.pages); i > len(e.pageMarks) || e.pageMarks[i-1] != mark {
					t.Fatalf("page %d: marks %v, want %q", i, e.pageMarks, mark)
				}
			}
			if e.headers != e.pages {
				t.Fatalf("column headers on %d of %d pages", e.headers, e.pages)
			}

			for _, s := range []string{
				"Invoice", "CONTOSO-000042", "Reckon Cloud GmbH", "Müllerstraße 12", "80469 München",
				"Tax ID: DE123456789", "Contoso Ltd.", "Tax ID: GB987654321",
				"2024-04-04", "2024-05-04", "2024-03-01 – 2024-03-31", "202404-1", inv.SubscriptionID,
				"Datenübertragung", "Größe S1 Überlauf", "Late usage from 202403-1", "tiered",
				"Recurring Charge", "Monetary Commitment", "Monetary Credit", "Offer terms",
				"Unit price (" + c.currency + ")", "Payment due by 2024-05-04.", "IBAN DE89",
			} {
				if !strings.Contains(text, s) {
					t.Errorf("text lacks %q", s)
				}
			}
		})
	}
}

// TestLargeInvoice renders the benchmark's 1,000-line invoice and
// reconciles it like TestTextReconciles: 1,003 line amounts, their sum,
// the page count.
func TestLargeInvoice(t *testing.T) {
	inv := sample(1000, "de-DE", "EUR", true)
	pdf := render(t, inv)
	text := pdftotext(t, pdf)
	f := invoicepdf.NewFormat("de-DE", money.MustParseCurrency("EUR"))
	e := extract(t, text, f, inv.Tax.Label)
	if len(e.lines) != len(inv.Lines) {
		t.Fatalf("%d line amounts extracted, invoice has %d lines", len(e.lines), len(inv.Lines))
	}
	var sum money.Decimal
	for _, a := range e.lines {
		sum = sum.Add(a)
	}
	if sum.Cmp(inv.SubTotal) != 0 || e.subtotal.Cmp(sum) != 0 || e.total.Cmp(inv.Total) != 0 || e.subtotal.Add(*e.tax).Cmp(e.total) != 0 {
		t.Fatalf("sum %s, subtotal %s/%s, total %s/%s", sum, e.subtotal, inv.SubTotal, e.total, inv.Total)
	}
	if e.pages < 20 || e.headers != e.pages || len(e.pageMarks) != e.pages {
		t.Fatalf("%d pages, %d column headers, %d page marks", e.pages, e.headers, len(e.pageMarks))
	}
	t.Logf("1,000-line invoice: %d pages, %d bytes", e.pages, len(pdf))
}

func TestDeterministic(t *testing.T) {
	inv := sample(200, "de-DE", "EUR", true)
	inv.Seller.LogoPNG = logoPNG(t, true)
	first := render(t, inv)
	for i := range 3 {
		// A fresh renderer and a deep copy of the invoice.
		again := sample(200, "de-DE", "EUR", true)
		again.Seller.LogoPNG = logoPNG(t, true)
		if b := render(t, again); !bytes.Equal(b, first) {
			t.Fatalf("render %d differs: %d vs %d bytes", i+2, len(b), len(first))
		}
	}
	ja := sample(50, "ja-JP", "JPY", true)
	ja.Lines[0].MeterName = "仮想マシン Größe"
	if a, b := render(t, ja), render(t, sample(0, "", "USD", false)); bytes.Equal(a, b) {
		t.Fatal("different invoices give the same bytes")
	}
	if !bytes.Equal(render(t, ja), render(t, ja)) {
		t.Fatal("the Japanese invoice (fallback font) renders differently twice")
	}
}

// goldenSHA256 is the sha256 of golden()'s PDF. It changes when the layout,
// fpdf, a font or Go's compress/flate changes; then look at the new PDF
// and update it. (Issued invoices are not affected: their PDF is stored.)
const goldenSHA256 = "dac7af788a2779ebc9379b6170c21a7c100f97dd6ed88967cae94ea5a8c81ae8"

func golden(t testing.TB) *invoicing.Invoice {
	inv := sample(40, "de-DE", "EUR", true)
	inv.Lines[1].MeterName = "仮想マシン"
	inv.Seller.LogoPNG = logoPNG(t, true)
	return inv
}

// TestGoldenSHA256 proves the bytes do not depend on the process, the
// machine or the time of rendering: a fixed invoice always has the same
// sha256, here and in a second process.
func TestGoldenSHA256(t *testing.T) {
	if os.Getenv("INVOICEPDF_HELPER") == "1" {
		fmt.Printf("sha256=%x\n", sha256.Sum256(render(t, golden(t))))
		return
	}
	sum := sha256.Sum256(render(t, golden(t)))
	got := hex.EncodeToString(sum[:])
	cmd := exec.Command(os.Args[0], "-test.run=^TestGoldenSHA256$", "-test.count=1")
	cmd.Env = append(os.Environ(), "INVOICEPDF_HELPER=1")
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("helper process: %v\n%s", err, out)
	}
	if !strings.Contains(string(out), "sha256="+got+"\n") {
		t.Fatalf("another process rendered a different PDF: %s, here sha256=%s", out, got)
	}
	if got != goldenSHA256 {
		t.Fatalf("sha256 %s, golden %s: if the change is intended, look at the PDF and update goldenSHA256", got, goldenSHA256)
	}
}

// logoPNG returns a 300 × 100 PNG: pure red, with a transparent band when
// alpha is set.
func logoPNG(t testing.TB, alpha bool) []byte {
	t.Helper()
	img := image.NewNRGBA(image.Rect(0, 0, 300, 100))
	for y := range 100 {
		for x := range 300 {
			c := color.NRGBA{R: 255, A: 255}
			if alpha && y >= 40 && y < 60 {
				c.A = 0
			}
			img.SetNRGBA(x, y, c)
		}
	}
	var buf bytes.Buffer
	if err := png.Encode(&buf, img); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// rasterize renders one page with pdftoppm at 40 dpi and decodes the PNG.
func rasterize(t *testing.T, pdf []byte, page int) image.Image {
	t.Helper()
	bin := tool(t, "pdftoppm")
	dir := t.TempDir()
	out, err := exec.Command(bin, "-png", "-r", "40", "-f", fmt.Sprint(page), "-l", fmt.Sprint(page), "-singlefile",
		writeTemp(t, pdf), filepath.Join(dir, "page")).CombinedOutput()
	if err != nil || len(bytes.TrimSpace(out)) > 0 {
		t.Fatalf("pdftoppm: %v\n%s", err, out)
	}
	b, err := os.ReadFile(filepath.Join(dir, "page.png"))
	if err != nil {
		t.Fatal(err)
	}
	img, err := png.Decode(bytes.NewReader(b))
	if err != nil {
		t.Fatal(err)
	}
	return img
}

// TestRasterizes renders the first and last pages with pdftoppm: A4 at 40
// dpi, ink on the page, and the red logo in the top right corner.
func TestRasterizes(t *testing.T) {
	inv := sample(60, "en-IN", "INR", true)
	inv.Seller.LogoPNG = logoPNG(t, false)
	pdf := render(t, inv)
	for _, page := range []int{1, 3} {
		img := rasterize(t, pdf, page)
		b := img.Bounds()
		if w, h := b.Dx(), b.Dy(); w < 328 || w > 332 || h < 466 || h > 470 {
			t.Fatalf("page %d is %d × %d px at 40 dpi, want A4 (331 × 468)", page, w, h)
		}
		ink, red := 0, 0
		for y := b.Min.Y; y < b.Max.Y; y++ {
			for x := b.Min.X; x < b.Max.X; x++ {
				r, g, bl, _ := img.At(x, y).RGBA()
				if r < 0xC000 && g < 0xC000 && bl < 0xC000 {
					ink++
				}
				if r > 0xE000 && g < 0x2000 && bl < 0x2000 {
					red++
					if x < b.Dx()/2 || y > b.Dy()/4 {
						t.Fatalf("page %d: red pixel at (%d, %d), outside the logo's corner", page, x, y)
					}
				}
			}
		}
		if ink < 3000 {
			t.Errorf("page %d: only %d inked pixels: nothing drawn?", page, ink)
		}
		if page == 1 && red < 500 {
			t.Errorf("page 1: %d red pixels, the logo is missing", red)
		}
		if page != 1 && red != 0 {
			t.Errorf("page %d: the logo is drawn on a later page", page)
		}
	}
}

// TestGlyphs: currency symbols, accented and CJK text come back from
// pdftotext exactly, the fonts are embedded (subsets), and the CJK
// fallback font is embedded only when the text needs it.
func TestGlyphs(t *testing.T) {
	cases := []struct {
		locale, currency string
		names            []string
		symbol           string
		fallback         bool
	}{
		{"de-DE", "EUR", []string{"Überweisung ü ö ä ß", "Données €uro £ ¥ ₩ ₽"}, "€", false},
		{"en-IN", "INR", []string{"Bandwidth ₹"}, "₹", false},
		{"en-US", "JPY", []string{"Plain"}, "¥", false},
		{"ja-JP", "JPY", []string{"仮想マシン", "数据传输 Größe"}, "￥", true},
		{"ko-KR", "KRW", []string{"가상 머신 ₿"}, "₩", true}, // 가 has a glyph; 상, 머, 신 and ₿ show as boxes
	}
	pdffonts := tool(t, "pdffonts")
	for _, c := range cases {
		t.Run(c.locale, func(t *testing.T) {
			inv := sample(3, c.locale, c.currency, false)
			for i, n := range c.names {
				inv.Lines[i].MeterName = n
			}
			pdf := render(t, inv)
			text := pdftotext(t, pdf)
			for _, s := range append([]string{c.symbol}, c.names...) {
				if !strings.Contains(text, s) {
					t.Errorf("text lacks %q", s)
				}
			}
			out, err := exec.Command(pdffonts, writeTemp(t, pdf)).Output()
			if err != nil {
				t.Fatal(err)
			}
			fonts := string(out)
			// fpdf names the fonts "utf8" + family (+ style).
			for _, want := range []string{"utf8dejavu ", "utf8dejavuB "} {
				if !strings.Contains(fonts, want) {
					t.Errorf("pdffonts lacks %q:\n%s", want, fonts)
				}
			}
			if got := strings.Contains(fonts, "utf8droidfallback "); got != c.fallback {
				t.Errorf("fallback font embedded: %v, want %v\n%s", got, c.fallback, fonts)
			}
			for _, row := range strings.Split(fonts, "\n")[2:] {
				if row == "" {
					continue
				}
				// name type… encoding emb sub uni object ID
				f := strings.Fields(row)
				if len(f) < 7 || f[len(f)-5] != "yes" || f[len(f)-3] != "yes" {
					t.Errorf("font not embedded with a ToUnicode map: %q", row)
				}
			}
			// fpdf embeds subsets (without pdffonts' subset tag): the
			// document is far smaller than the fonts it uses.
			if max := 150 << 10; len(pdf) > max {
				t.Errorf("%d bytes: fonts embedded whole?", len(pdf))
			}
		})
	}
}

// TestValidatesStrict runs pdfcpu's strict validation on an invoice with a
// logo (with alpha), CJK text and several pages, and on a credit note.
func TestValidatesStrict(t *testing.T) {
	inv := sample(120, "ja-JP", "JPY", true)
	inv.Lines[0].MeterName = "仮想マシン"
	inv.Seller.LogoPNG = logoPNG(t, true)
	for _, pdf := range [][]byte{render(t, inv), render(t, creditNote())} {
		conf := model.NewDefaultConfiguration()
		conf.ValidationMode = model.ValidationStrict
		if err := api.Validate(bytes.NewReader(pdf), conf); err != nil {
			t.Fatalf("pdfcpu strict validation: %v", err)
		}
	}
}

func creditNote() *invoicing.Invoice {
	inv := sample(0, "de-DE", "EUR", true)
	inv.Name = "CONTOSO-000043"
	inv.Kind = invoicing.KindCreditNote
	inv.Corrects = "CONTOSO-000042"
	inv.Reason = "Meter D2 v3 was rated at the wrong price"
	inv.Lines = []invoicing.Line{
		{Kind: invoicing.LineCorrection, MeterID: "m1", MeterName: "D2 v3", MeterCategory: "Virtual Machines",
			Quantity: dec("-10"), Unit: "1 Hour", Amount: dec("-12.34"), Description: "Price correction"},
		{Kind: invoicing.LineCorrection, Description: "Goodwill credit", Amount: dec("-5")},
	}
	inv.SubTotal = dec("-17.34")
	inv.Tax.Amount = dec("-3.29")
	inv.Total = dec("-20.63")
	return inv
}

func TestCreditNote(t *testing.T) {
	inv := creditNote()
	text := pdftotext(t, render(t, inv))
	f := invoicepdf.NewFormat("de-DE", money.MustParseCurrency("EUR"))
	e := extract(t, text, f, inv.Tax.Label)
	if got := sortedStrings(e.lines); !slices.Equal(got, []string{"-12.34", "-5"}) {
		t.Fatalf("line amounts %v", got)
	}
	if e.total.Cmp(dec("-20.63")) != 0 || e.subtotal.Cmp(dec("-17.34")) != 0 || e.tax.Cmp(dec("-3.29")) != 0 {
		t.Fatalf("totals %s %s %s", e.subtotal, e.tax, e.total)
	}
	for _, s := range []string{
		"Credit note", "Corrects CONTOSO-000042: Meter D2 v3 was rated at the wrong price",
		"Credit note number", "CONTOSO-000043", "Total credited", "-20,63 €",
		"Corrections", "Goodwill credit", "Correction · Price correction",
		"This credit note corrects invoice CONTOSO-000042.",
	} {
		if !strings.Contains(text, s) {
			t.Errorf("text lacks %q", s)
		}
	}
	if strings.Contains(text, "Payment due") {
		t.Error("a credit note asks for payment")
	}
}

func TestZeroInvoice(t *testing.T) {
	inv := sample(0, "en-US", "USD", false)
	inv.Lines = nil
	inv.SubTotal, inv.Total = money.Zero, money.Zero
	text := pdftotext(t, render(t, inv))
	for _, s := range []string{"No charges in this period.", "Subtotal", "$0.00", "Page 1 of 1"} {
		if !strings.Contains(text, s) {
			t.Errorf("text lacks %q", s)
		}
	}
	if strings.Contains(text, "Payment due") {
		t.Error("a zero invoice asks for payment")
	}
}

func TestRenderRejects(t *testing.T) {
	r := invoicepdf.New(invoicepdf.Options{})
	if _, err := r.Render(nil); err == nil {
		t.Error("nil invoice rendered")
	}
	cases := map[string]struct {
		edit func(*invoicing.Invoice)
		is   error
	}{
		"lines do not sum to subtotal": {func(inv *invoicing.Invoice) { inv.Lines[0].Amount = inv.Lines[0].Amount.Add(dec("0.01")) }, invoicepdf.ErrInconsistent},
		"total is not subtotal + tax":  {func(inv *invoicing.Invoice) { inv.Total = inv.Total.Add(dec("1")) }, invoicepdf.ErrInconsistent},
		"tax missing from total":       {func(inv *invoicing.Invoice) { inv.Tax = nil }, invoicepdf.ErrInconsistent},
		"unrounded amount": {func(inv *invoicing.Invoice) {
			inv.Lines[0].Amount = inv.Lines[0].Amount.Add(dec("0.001"))
			inv.Lines[1].Amount = inv.Lines[1].Amount.Sub(dec("0.001"))
		}, invoicepdf.ErrInconsistent},
		"unknown currency":  {func(inv *invoicing.Invoice) { inv.Currency = "XXX" }, money.ErrCurrencyUnknown},
		"unknown kind":      {func(inv *invoicing.Invoice) { inv.Kind = "Receipt" }, nil},
		"logo is not a PNG": {func(inv *invoicing.Invoice) { inv.Seller.LogoPNG = []byte("GIF89a not a png") }, nil},
	}
	for name, c := range cases {
		inv := sample(5, "de-DE", "EUR", true)
		c.edit(inv)
		pdf, err := r.Render(inv)
		if err == nil {
			t.Errorf("%s: rendered %d bytes", name, len(pdf))
			continue
		}
		if c.is != nil && !errors.Is(err, c.is) {
			t.Errorf("%s: %v, want %v", name, err, c.is)
		}
		if name == "logo is not a PNG" && !strings.Contains(err.Error(), "logo") {
			t.Errorf("%s: %v does not say what is wrong", name, err)
		}
	}
}

// TestHostileText: control characters, characters outside the BMP and very
// long words neither crash nor break the layout.
func TestHostileText(t *testing.T) {
	inv := sample(4, "en-US", "USD", false)
	inv.Lines[0].MeterName = "tab\tnew\nline 😀 \U00010000 \u0000 end"
	inv.Lines[1].MeterName = strings.Repeat("W", 300)
	inv.Lines[2].MeterName = strings.Repeat("長", 200)
	inv.Seller.Name = strings.Repeat("Very long seller name ", 20)
	inv.Lines[3].MeterName = strings.Repeat("Long name ", 1000)
	text := pdftotext(t, render(t, inv))
	for _, s := range []string{"tab new line \uFFFD \uFFFD", "end", "WWWWWWWWWW", "長長長長長長", "Long name…"} {
		if !strings.Contains(text, s) {
			t.Errorf("text lacks %q", s)
		}
	}
	e := extract(t, text, invoicepdf.NewFormat("en-US", money.MustParseCurrency("USD")), "")
	if len(e.lines) != len(inv.Lines) || e.total.Cmp(inv.Total) != 0 {
		t.Fatalf("%d lines, total %s; want %d, %s", len(e.lines), e.total, len(inv.Lines), inv.Total)
	}
}

// TestConcurrentRender: one Renderer used from several goroutines gives
// every caller the same bytes as a sequential render (the embedded fonts
// are shared and must not be modified; run with -race).
func TestConcurrentRender(t *testing.T) {
	r := invoicepdf.New(invoicepdf.Options{})
	invs := []*invoicing.Invoice{sample(30, "de-DE", "EUR", true), sample(30, "ja-JP", "JPY", true)}
	want := make([][]byte, len(invs))
	for i, inv := range invs {
		var err error
		if want[i], err = r.Render(inv); err != nil {
			t.Fatal(err)
		}
	}
	errs := make(chan error, 8)
	for g := range 8 {
		go func() {
			i := g % len(invs)
			got, err := r.Render(invs[i])
			if err == nil && !bytes.Equal(got, want[i]) {
				err = fmt.Errorf("goroutine %d: invoice %d renders differently", g, i)
			}
			errs <- err
		}()
	}
	for range 8 {
		if err := <-errs; err != nil {
			t.Error(err)
		}
	}
}
