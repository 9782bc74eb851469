// Package invoicepdf renders issued invoices and credit notes as PDF
// documents (invoicing.Renderer).
//
// The document is A4: the seller (name, address, tax id, logo), the buyer,
// the invoice number and kind, dates, billing period and currency; then the
// lines grouped by meter category, each group with a header and a subtotal,
// the offer-term lines (Recurring Charge, Monetary Commitment, Monetary
// Credit) and corrections in groups of their own; then subtotal, tax and
// total. Amounts are formatted for the invoice's locale (see Format).
// Pages carry "Page N of M" and repeat the column headers.
//
// # Determinism
//
// The same invoice always gives the same bytes: the document's dates are
// the invoice's IssuedAt, fpdf's catalogs are sorted, fonts are embedded
// from the binary, nothing depends on map order or on the clock. The bytes
// may change with a new fpdf or font version, which is why the invoicing
// service stores the PDF once at issue.
//
// # Fonts
//
// DejaVu Sans (regular and bold) covers Latin, Greek and Cyrillic text and
// the currency signs € £ ¥ ₹ ₩ ₽ ₺ ₪. Chinese and Japanese characters (and
// full-width forms such as ￥) are drawn with Droid Sans Fallback, which is
// embedded only in documents that need it and has only some Korean Hangul
// syllables. Characters neither font has (most Hangul, ₿…) are drawn as an
// empty box, but are still in the text layer, so they copy and extract
// correctly. Arabic and Hebrew are drawn unshaped, left to right (a
// currency symbol in those scripts is replaced by the ISO code).
// Characters outside the Basic Multilingual Plane become U+FFFD and
// control characters spaces.
//
// # Text layer
//
// Text extraction (pdftotext -layout) gives one row per line of the table:
// an invoice line's row ends with its amount, formatted with the currency
// symbol; tier-breakdown, detail and group-header rows never end with a
// formatted amount; group subtotal rows start with "Subtotal", the tax row
// with the tax label and the total row with "Total". Format.ParseAmount
// reads the amounts back exactly.
package invoicepdf

import (
	"bytes"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"codeberg.org/go-pdf/fpdf"

	"github.com/reckon-billing/reckon/internal/invoicing"
	"github.com/reckon-billing/reckon/internal/money"
	"github.com/reckon-billing/reckon/internal/rating"
)

// Options configures a Renderer.
type Options struct {
	// Note is printed after the totals of every document, for instance
	// payment instructions or bank details; "\n" separates lines.
	Note string
}

// Renderer renders invoices as PDF. It is safe for concurrent use.
type Renderer struct {
	opts Options
}

var _ invoicing.Renderer = (*Renderer)(nil)

// New returns a Renderer.
func New(opts Options) *Renderer { return &Renderer{opts: opts} }

// ErrInconsistent is returned for an invoice whose figures do not add up:
// an amount with more digits than the currency's minor unit, lines that do
// not sum to SubTotal, or SubTotal plus tax that is not Total.
var ErrInconsistent = errors.New("invoicepdf: inconsistent invoice")

// Render returns the invoice's PDF. It fails for an unknown kind or
// currency, an inconsistent invoice (ErrInconsistent) or a logo that is not
// a PNG image.
func (r *Renderer) Render(inv *invoicing.Invoice) ([]byte, error) {
	if inv == nil {
		return nil, errors.New("invoicepdf: nil invoice")
	}
	cur, err := money.ParseCurrency(inv.Currency)
	if err != nil {
		return nil, fmt.Errorf("invoicepdf: invoice %s: %w", inv.Name, err)
	}
	if inv.Kind != invoicing.KindInvoice && inv.Kind != invoicing.KindCreditNote {
		return nil, fmt.Errorf("invoicepdf: invoice %s: unknown kind %q", inv.Name, inv.Kind)
	}
	if err := checkFigures(inv, cur); err != nil {
		return nil, err
	}
	d := newDoc(inv, cur, r.opts)
	d.render()
	if err := d.f.Error(); err != nil {
		return nil, fmt.Errorf("invoicepdf: invoice %s: %w", inv.Name, err)
	}
	var buf bytes.Buffer
	buf.Grow(64 << 10)
	if err := d.f.Output(&buf); err != nil {
		return nil, fmt.Errorf("invoicepdf: invoice %s: %w", inv.Name, err)
	}
	return buf.Bytes(), nil
}

// checkFigures verifies what the PDF will print adds up.
func checkFigures(inv *invoicing.Invoice, cur money.Currency) error {
	minor := int(cur.MinorUnits())
	var sum money.Decimal
	for i := range inv.Lines {
		a := inv.Lines[i].Amount
		if a.Scale() > minor {
			return fmt.Errorf("%w: line %d amount %s has more than %d decimals for %s", ErrInconsistent, i+1, a, minor, cur)
		}
		sum = sum.Add(a)
	}
	if sum.Cmp(inv.SubTotal) != 0 {
		return fmt.Errorf("%w: lines sum to %s, subtotal is %s", ErrInconsistent, sum, inv.SubTotal)
	}
	total := inv.SubTotal
	if inv.Tax != nil {
		if inv.Tax.Amount.Scale() > minor {
			return fmt.Errorf("%w: tax %s has more than %d decimals for %s", ErrInconsistent, inv.Tax.Amount, minor, cur)
		}
		total = total.Add(inv.Tax.Amount)
	}
	if total.Cmp(inv.Total) != 0 {
		return fmt.Errorf("%w: subtotal and tax make %s, total is %s", ErrInconsistent, total, inv.Total)
	}
	return nil
}

// Page geometry, in millimetres.
const (
	pageW, pageH = 210.0, 297.0
	marginX      = 15.0
	marginTop    = 15.0
	bottomLimit  = pageH - 20.0 // content ends here; the footer is below
	contentW     = pageW - 2*marginX
	pad          = 1.2 // horizontal padding inside a cell
)

// Table columns: meter, quantity, included quantity, unit price, amount.
var (
	colX = [5]float64{marginX, marginX + 72, marginX + 100, marginX + 124, marginX + 150}
	colW = [5]float64{72, 28, 24, 26, 30}
)

// Font sizes (points) and row heights (mm).
const (
	sizeBody    = 8.5
	sizeSmall   = 7.0
	rowMain     = 4.3
	rowDetail   = 3.4
	rowHeader   = 6.0
	rowGroup    = 5.6
	rowSubtotal = 5.4
)

type rgb struct{ r, g, b int }

var (
	black     = rgb{0, 0, 0}
	grey      = rgb{105, 105, 105}
	rule      = rgb{170, 170, 170}
	headFill  = rgb{226, 230, 236}
	groupFill = rgb{243, 245, 248}
)

type doc struct {
	f    *fpdf.Fpdf
	inv  *invoicing.Invoice
	cur  money.Currency
	fmt  Format
	opts Options

	y            float64 // the next row's top
	inTable      bool    // new pages repeat the column headers
	bold         bool    // the current style
	size         float64 // the current size, points
	fallbackUsed bool

	// The font last selected in fpdf, to skip redundant selections.
	curFont *font
	curSize float64
	curPage int
}

func newDoc(inv *invoicing.Invoice, cur money.Currency, opts Options) *doc {
	f := fpdf.New("P", "mm", "A4", "")
	d := &doc{f: f, inv: inv, cur: cur, fmt: NewFormat(inv.Locale, cur), opts: opts}
	stamp := inv.IssuedAt
	if stamp.IsZero() {
		stamp = inv.InvoiceDate
	}
	if stamp.IsZero() {
		stamp = time.Unix(0, 0)
	}
	stamp = stamp.UTC().Truncate(time.Second)
	f.SetCreationDate(stamp)
	f.SetModificationDate(stamp)
	f.SetCatalogSort(true)
	f.SetCompression(true)
	// The page-count alias must be set before fonts are added (fpdf then
	// keeps the digits in every font subset).
	f.AliasNbPages("")
	f.AddUTF8FontFromBytes(fontRegular.family, fontRegular.style, fontRegular.ttf)
	f.AddUTF8FontFromBytes(fontBold.family, fontBold.style, fontBold.ttf)
	f.SetMargins(marginX, marginTop, marginX)
	f.SetAutoPageBreak(false, 0)
	f.SetTitle(clean(kindLabel(inv.Kind)+" "+inv.Name), true)
	f.SetAuthor(clean(inv.Seller.Name), true)
	f.SetSubject(clean(kindLabel(inv.Kind)+" "+inv.Name+" "+inv.PeriodName), true)
	f.SetCreator("Reckon", true)
	f.SetLang(d.fmt.Locale())
	f.SetHeaderFuncMode(d.pageHeader, false)
	f.SetFooterFunc(d.pageFooter)
	return d
}

func kindLabel(kind string) string {
	if kind == invoicing.KindCreditNote {
		return "Credit note"
	}
	return "Invoice"
}

func day(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.UTC().Format(time.DateOnly)
}

// --- text drawing ---------------------------------------------------------

// clean makes s printable: control characters become spaces and characters
// outside the Basic Multilingual Plane (which fpdf's fonts cannot address)
// become U+FFFD.
func clean(s string) string {
	ok := true
	for _, r := range s {
		if r < 0x20 || (r >= 0x7f && r < 0xa0) || r > 0xFFFD || r == '\uFFFE' {
			ok = false
			break
		}
	}
	if ok {
		return s
	}
	return strings.Map(func(r rune) rune {
		switch {
		case r < 0x20 || (r >= 0x7f && r < 0xa0):
			return ' '
		case r > 0xFFFD:
			return '\uFFFD'
		}
		return r
	}, s)
}

func (d *doc) setFont(bold bool, size float64) {
	d.bold, d.size = bold, size
	d.useFont(d.primary())
}

func (d *doc) primary() *font {
	if d.bold {
		return fontBold
	}
	return fontRegular
}

func (d *doc) useFont(fn *font) {
	if fn == d.curFont && d.size == d.curSize && d.f.PageNo() == d.curPage {
		return
	}
	if fn == fontFallback && !d.fallbackUsed {
		d.f.AddUTF8FontFromBytes(fontFallback.family, fontFallback.style, fontFallback.ttf)
		d.fallbackUsed = true
	}
	d.f.SetFont(fn.family, fn.style, d.size)
	d.curFont, d.curSize, d.curPage = fn, d.size, d.f.PageNo()
}

func (d *doc) color(c rgb) { d.f.SetTextColor(c.r, c.g, c.b) }

type run struct {
	fn *font
	s  string
}

// fontFor picks the first font of the current style's chain that has r.
func (d *doc) fontFor(r rune) *font {
	p := d.primary()
	if r < 0x250 || p.covers(r) { // DejaVu has all of Latin
		return p
	}
	if d.bold && fontRegular.covers(r) {
		return fontRegular
	}
	if fontFallback.covers(r) {
		return fontFallback
	}
	return p
}

// simple reports whether the current style's font draws all of s.
func (d *doc) simple(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] >= 0x80 {
			p := d.primary()
			for _, r := range s[i:] {
				if r >= 0x250 && !p.covers(r) {
					return false
				}
			}
			return true
		}
	}
	return true
}

// runs splits s into pieces drawn with one font each.
func (d *doc) runs(s string) []run {
	if d.simple(s) {
		return []run{{d.primary(), s}}
	}
	var out []run
	start := 0
	var cur *font
	for i, r := range s {
		fn := d.fontFor(r)
		if cur == nil {
			cur = fn
		} else if fn != cur {
			out = append(out, run{cur, s[start:i]})
			cur, start = fn, i
		}
	}
	if cur != nil {
		out = append(out, run{cur, s[start:]})
	}
	return out
}

// width returns the width of s in the current style and size.
func (d *doc) width(s string) float64 {
	if d.simple(s) {
		d.useFont(d.primary())
		return d.f.GetStringWidth(s)
	}
	rs := d.runs(s)
	w := 0.0
	for _, r := range rs {
		d.useFont(r.fn)
		w += d.f.GetStringWidth(r.s)
	}
	d.useFont(d.primary())
	return w
}

// text draws s in the box (x, y, w, h), vertically centred, aligned 'L',
// 'R' or 'C'. Text wider than the box is shrunk to fit when shrink is set
// (numbers are never cut), and overflows otherwise.
func (d *doc) text(x, y, w, h float64, s string, align byte, shrink bool) {
	if s == "" {
		return
	}
	size := d.size
	tw := d.width(s)
	if avail := w - 2*pad; shrink && tw > avail && avail > 0 {
		d.size = max(size*avail/tw, 4)
		d.useFont(d.primary())
		tw = d.width(s)
	}
	var tx float64
	switch align {
	case 'R':
		tx = x + w - pad - tw
	case 'C':
		tx = x + (w-tw)/2
	default:
		tx = x + pad
	}
	base := y + h/2 + 0.3*d.size*25.4/72
	if d.simple(s) {
		d.useFont(d.primary())
		d.f.Text(tx, base, s)
	} else {
		rs := d.runs(s)
		for _, r := range rs {
			d.useFont(r.fn)
			d.f.Text(tx, base, r.s)
			tx += d.f.GetStringWidth(r.s)
		}
	}
	if d.size != size {
		d.size = size
	}
	d.useFont(d.primary())
}

// wrap breaks s into lines no wider than w (less the padding), at spaces,
// or anywhere inside a word that is too long on its own.
func (d *doc) wrap(s string, w float64) []string {
	avail := w - 2*pad
	if s == "" || d.width(s) <= avail {
		return []string{s}
	}
	var lines []string
	line := ""
	for _, word := range strings.Fields(s) {
		cand := word
		if line != "" {
			cand = line + " " + word
		}
		if d.width(cand) <= avail {
			line = cand
			continue
		}
		if line != "" {
			lines = append(lines, line)
			line = ""
		}
		for d.width(word) > avail {
			cut := 0
			for i := range word {
				if i > 0 && d.width(word[:i]) > avail {
					break
				}
				cut = i
			}
			if cut == 0 { // one character wider than the box
				_, n := firstRune(word)
				cut = n
			}
			lines = append(lines, word[:cut])
			word = word[cut:]
		}
		line = word
	}
	if line != "" {
		lines = append(lines, line)
	}
	return lines
}

func firstRune(s string) (rune, int) {
	for i, r := range s {
		if i > 0 {
			return r, i
		}
	}
	return 0, len(s)
}

func (d *doc) fill(x, y, w, h float64, c rgb) {
	d.f.SetFillColor(c.r, c.g, c.b)
	d.f.Rect(x, y, w, h, "F")
}

func (d *doc) hline(y float64, x1, x2 float64, width float64, c rgb) {
	d.f.SetDrawColor(c.r, c.g, c.b)
	d.f.SetLineWidth(width)
	d.f.Line(x1, y, x2, y)
}

// need starts a new page when h more millimetres do not fit on this one.
func (d *doc) need(h float64) {
	if d.y+h > bottomLimit {
		d.f.AddPage()
	}
}

// --- page frame -------------------------------------------------------------

func (d *doc) pageHeader() {
	if d.f.PageNo() == 1 {
		d.y = marginTop
		return
	}
	bold, size := d.bold, d.size
	d.setFont(false, sizeSmall)
	d.color(grey)
	head := clean(d.inv.Seller.Name)
	if head != "" {
		head += " · "
	}
	head += kindLabel(d.inv.Kind) + " " + clean(d.inv.Name)
	d.text(marginX, 8, contentW, 5, head, 'L', true)
	d.text(marginX, 8, contentW, 5, day(d.inv.InvoiceDate), 'R', false)
	d.hline(13.5, marginX, pageW-marginX, 0.2, rule)
	d.y = 16
	if d.inTable {
		d.columnHeaders()
	}
	d.color(black)
	d.setFont(bold, size)
}

func (d *doc) pageFooter() {
	bold, size := d.bold, d.size
	d.setFont(false, sizeSmall)
	d.color(grey)
	d.hline(pageH-15, marginX, pageW-marginX, 0.2, rule)
	d.text(marginX, pageH-14, contentW, 5, kindLabel(d.inv.Kind)+" "+clean(d.inv.Name), 'L', false)
	d.text(marginX, pageH-14, contentW, 5, fmt.Sprintf("Page %d of {nb}", d.f.PageNo()), 'R', false)
	d.color(black)
	d.setFont(bold, size)
}

func (d *doc) columnHeaders() {
	d.setFont(true, sizeSmall+0.5)
	d.fill(marginX, d.y, contentW, rowHeader, headFill)
	d.color(black)
	code := d.cur.String()
	heads := [5]string{"Meter", "Quantity", "Included", "Unit price (" + code + ")", "Amount"}
	for i, h := range heads {
		align := byte('R')
		if i == 0 {
			align = 'L'
		}
		d.text(colX[i], d.y, colW[i], rowHeader, h, align, true)
	}
	d.y += rowHeader + 0.8
}

// --- document -----------------------------------------------------------------

func (d *doc) render() {
	d.f.AddPage()
	d.setFont(false, sizeBody)
	d.color(black)
	d.top()
	d.table()
	d.totals()
}

// top draws the first page's seller, title, buyer and invoice details.
func (d *doc) top() {
	inv := d.inv
	y0 := d.y

	// Seller, with the logo on the right.
	logoBottom := y0
	if len(inv.Seller.LogoPNG) > 0 {
		logoBottom = d.logo(y0)
	}
	sellerW := contentW - 62
	d.setFont(true, 11)
	for _, l := range d.wrap(clean(inv.Seller.Name), sellerW) {
		d.text(marginX, d.y, sellerW, 5, l, 'L', false)
		d.y += 5
	}
	d.setFont(false, sizeBody)
	d.color(grey)
	for _, a := range inv.Seller.Address {
		for _, l := range d.wrap(clean(a), sellerW) {
			d.text(marginX, d.y, sellerW, 4, l, 'L', false)
			d.y += 4
		}
	}
	if inv.Seller.TaxID != "" {
		d.text(marginX, d.y, sellerW, 4, "Tax ID: "+clean(inv.Seller.TaxID), 'L', false)
		d.y += 4
	}
	d.color(black)
	d.y = max(d.y, logoBottom) + 8

	// Title.
	d.setFont(true, 18)
	d.text(marginX, d.y, contentW, 9, kindLabel(inv.Kind), 'L', false)
	d.y += 10
	if inv.Kind == invoicing.KindCreditNote && (inv.Corrects != "" || inv.Reason != "") {
		d.setFont(false, 9.5)
		s := "Corrects " + clean(inv.Corrects)
		if inv.Reason != "" {
			s += ": " + clean(inv.Reason)
		}
		for _, l := range d.wrap(s, contentW) {
			d.text(marginX, d.y, contentW, 4.6, l, 'L', false)
			d.y += 4.6
		}
	}
	d.y += 3

	// Buyer on the left, details on the right.
	yStart := d.y
	buyerW := 88.0
	d.setFont(true, sizeSmall)
	d.color(grey)
	d.text(marginX, d.y, buyerW, 4, "Bill to", 'L', false)
	d.y += 4.5
	d.color(black)
	d.setFont(true, 9.5)
	for _, l := range d.wrap(clean(inv.Buyer.Name), buyerW) {
		d.text(marginX, d.y, buyerW, 4.8, l, 'L', false)
		d.y += 4.8
	}
	d.setFont(false, sizeBody)
	for _, a := range inv.Buyer.Address {
		for _, l := range d.wrap(clean(a), buyerW) {
			d.text(marginX, d.y, buyerW, 4, l, 'L', false)
			d.y += 4
		}
	}
	if inv.Buyer.Country != "" {
		d.text(marginX, d.y, buyerW, 4, clean(inv.Buyer.Country), 'L', false)
		d.y += 4
	}
	if inv.Buyer.TaxID != "" {
		d.text(marginX, d.y, buyerW, 4, "Tax ID: "+clean(inv.Buyer.TaxID), 'L', false)
		d.y += 4
	}
	buyerBottom := d.y

	d.y = yStart
	number := "Invoice number"
	if inv.Kind == invoicing.KindCreditNote {
		number = "Credit note number"
	}
	period := ""
	if !inv.PeriodStart.IsZero() && !inv.PeriodEnd.IsZero() {
		period = day(inv.PeriodStart) + " – " + day(inv.PeriodEnd.AddDate(0, 0, -1))
	}
	details := [][2]string{
		{number, inv.Name},
		{"Invoice date", day(inv.InvoiceDate)},
		{"Due date", day(inv.DueDate)},
		{"Billing period", period},
		{"Period name", inv.PeriodName},
		{"Subscription", inv.SubscriptionID},
		{"Billing account", inv.BillingAccount},
		{"Currency", d.cur.String()},
	}
	if inv.Kind == invoicing.KindCreditNote && inv.Corrects != "" {
		details = slices.Insert(details, 1, [2]string{"Corrects", inv.Corrects})
	}
	labelX, labelW := marginX+buyerW+4, 30.0
	valueX := labelX + labelW
	valueW := pageW - marginX - valueX
	for _, kv := range details {
		if kv[1] == "" {
			continue
		}
		d.setFont(false, sizeBody)
		d.color(grey)
		d.text(labelX, d.y, labelW, 4.3, kv[0], 'L', true)
		d.color(black)
		d.text(valueX, d.y, valueW, 4.3, clean(kv[1]), 'L', true)
		d.y += 4.3
	}
	d.y = max(d.y, buyerBottom) + 7
}

// logo draws the seller's logo in a 55 × 22 mm box at the top right and
// returns the box's bottom.
func (d *doc) logo(y float64) float64 {
	opts := fpdf.ImageOptions{ImageType: "PNG"}
	info := d.f.RegisterImageOptionsReader("logo", opts, bytes.NewReader(d.inv.Seller.LogoPNG))
	if err := d.f.Error(); err != nil {
		d.f.ClearError()
		d.f.SetError(fmt.Errorf("seller logo: %w", err))
		return y
	}
	if info == nil {
		return y
	}
	const boxW, boxH = 55.0, 22.0
	w, h := info.Width(), info.Height()
	if w <= 0 || h <= 0 {
		return y
	}
	scale := min(boxW/w, boxH/h)
	w, h = w*scale, h*scale
	d.f.ImageOptions("logo", pageW-marginX-w, y, w, h, false, opts, 0, "")
	return y + h
}

// group is the lines of one table section.
type group struct {
	rank  int // meter categories, uncategorised usage, offer terms, corrections
	title string
	lines []*invoicing.Line
}

const (
	rankCategory = iota
	rankOther
	rankTerms
	rankCorrections
)

func groupOf(l *invoicing.Line) (int, string) {
	if l.MeterCategory != "" {
		return rankCategory, l.MeterCategory
	}
	switch l.Kind {
	case string(rating.LineRecurringCharge), string(rating.LineMonetaryCommitment), string(rating.LineMonetaryCredit):
		return rankTerms, "Offer terms"
	case invoicing.LineCorrection:
		return rankCorrections, "Corrections"
	}
	return rankOther, "Other charges"
}

// groups sorts the lines into sections: meter categories by name, then
// uncategorised usage, offer terms and corrections; lines keep the
// invoice's order within a section.
func groups(lines []invoicing.Line) []*group {
	var gs []*group
	index := map[[2]string]*group{}
	for i := range lines {
		l := &lines[i]
		rank, title := groupOf(l)
		key := [2]string{fmt.Sprint(rank), title}
		g := index[key]
		if g == nil {
			g = &group{rank: rank, title: title}
			index[key] = g
			gs = append(gs, g)
		}
		g.lines = append(g.lines, l)
	}
	slices.SortStableFunc(gs, func(a, b *group) int {
		if a.rank != b.rank {
			return a.rank - b.rank
		}
		return strings.Compare(a.title, b.title)
	})
	return gs
}

func (d *doc) table() {
	d.need(rowHeader + rowGroup + rowMain + rowDetail)
	d.columnHeaders()
	d.inTable = true
	gs := groups(d.inv.Lines)
	if len(gs) == 0 {
		d.setFont(false, sizeBody)
		d.color(grey)
		d.text(colX[0], d.y, contentW, rowMain+1, "No charges in this period.", 'L', false)
		d.color(black)
		d.y += rowMain + 2
	}
	for _, g := range gs {
		d.need(rowGroup + rowMain + rowDetail)
		d.setFont(true, sizeBody)
		d.fill(marginX, d.y, contentW, rowGroup, groupFill)
		d.text(colX[0], d.y, contentW, rowGroup, clean(g.title), 'L', false)
		d.y += rowGroup + 0.6
		var sub money.Decimal
		for _, l := range g.lines {
			d.line(l)
			sub = sub.Add(l.Amount)
		}
		d.need(rowSubtotal)
		d.hline(d.y+0.3, colX[3], pageW-marginX, 0.2, rule)
		d.setFont(true, sizeBody)
		amount := d.fmt.Amount(sub)
		// The label ends well before the amount, however wide it is.
		labelEnd := min(colX[4], pageW-marginX-pad-d.width(amount)-5)
		d.text(colX[0], d.y, labelEnd-colX[0], rowSubtotal, "Subtotal "+clean(g.title), 'R', true)
		d.text(colX[4], d.y, colW[4], rowSubtotal, amount, 'R', true)
		d.y += rowSubtotal + 2.5
	}
	d.inTable = false
}

func isMeterLine(l *invoicing.Line) bool {
	return l.MeterID != "" || l.MeterName != ""
}

// line draws one invoice line: its main row, a detail row (subcategory,
// region, late-usage period, description; the unit under the quantity) and
// the tier breakdown.
func (d *doc) line(l *invoicing.Line) {
	const indent = 2.5
	label := l.MeterName
	if label == "" {
		label = l.MeterID
	}
	if !isMeterLine(l) {
		label = l.Kind
		if l.Kind == invoicing.LineCorrection && l.Description != "" {
			label = l.Description
		}
	}
	var details []string
	switch l.Kind {
	case invoicing.LineLateUsage:
		if l.OriginalPeriod != "" {
			details = append(details, "Late usage from "+l.OriginalPeriod)
		} else {
			details = append(details, "Late usage")
		}
	case invoicing.LineCorrection:
		if isMeterLine(l) {
			details = append(details, "Correction")
		}
	}
	if l.MeterSubCategory != "" {
		details = append(details, l.MeterSubCategory)
	}
	if l.MeterRegion != "" {
		details = append(details, l.MeterRegion)
	}
	if l.Description != "" && label != l.Description {
		details = append(details, l.Description)
	}
	meterW := colW[0] - indent

	d.setFont(false, sizeBody)
	names := d.wrap(clean(label), meterW)
	d.setFont(false, sizeSmall)
	var detailLines []string
	if len(details) > 0 {
		detailLines = d.wrap(clean(strings.Join(details, " · ")), meterW)
	}
	unit := ""
	if isMeterLine(l) {
		unit = clean(l.Unit)
	}
	if unit != "" && len(detailLines) == 0 {
		detailLines = []string{""}
	}
	names, detailLines = capLines(names, maxNameLines), capLines(detailLines, maxDetailLines)
	d.need(float64(len(names))*rowMain + float64(len(detailLines))*rowDetail)

	d.setFont(false, sizeBody)
	y := d.y
	for i, n := range names {
		d.text(colX[0]+indent, d.y+float64(i)*rowMain, meterW, rowMain, n, 'L', false)
	}
	if isMeterLine(l) {
		d.text(colX[1], y, colW[1], rowMain, d.fmt.Number(l.Quantity), 'R', true)
		d.text(colX[2], y, colW[2], rowMain, d.fmt.Number(l.IncludedQuantity), 'R', true)
		switch len(l.Tiers) {
		case 0:
		case 1:
			d.text(colX[3], y, colW[3], rowMain, d.fmt.Price(l.Tiers[0].UnitPrice), 'R', true)
		default:
			d.text(colX[3], y, colW[3], rowMain, "tiered", 'R', false)
		}
	}
	d.text(colX[4], y, colW[4], rowMain, d.fmt.Amount(l.Amount), 'R', true)
	d.y += float64(len(names)) * rowMain

	if len(detailLines) > 0 {
		d.setFont(false, sizeSmall)
		d.color(grey)
		for i, t := range detailLines {
			d.text(colX[0]+indent, d.y, meterW, rowDetail, t, 'L', false)
			if i == 0 && unit != "" {
				d.text(colX[1], d.y, colW[1], rowDetail, unit, 'R', true)
			}
			d.y += rowDetail
		}
		d.color(black)
	}

	if len(l.Tiers) > 1 {
		d.setFont(false, sizeSmall)
		d.color(grey)
		for _, t := range l.Tiers {
			d.need(rowDetail)
			d.text(colX[0]+2*indent, d.y, meterW-indent, rowDetail,
				d.fmt.Number(t.From)+" – "+d.fmt.Number(t.To), 'L', true)
			d.text(colX[1], d.y, colW[1], rowDetail, d.fmt.Number(t.Quantity), 'R', true)
			d.text(colX[3], d.y, colW[3], rowDetail, d.fmt.Price(t.UnitPrice), 'R', true)
			d.y += rowDetail
		}
		d.color(black)
	}
	d.y += 0.6
}

// A line's name and details wrap onto at most this many rows; the rest is
// cut with "…" (a catalog's names are far shorter).
const maxNameLines, maxDetailLines = 12, 6

func capLines(lines []string, n int) []string {
	if len(lines) <= n {
		return lines
	}
	lines = lines[:n]
	lines[n-1] += "…"
	return lines
}

// totals draws subtotal, tax and total, then the payment note.
func (d *doc) totals() {
	inv := d.inv
	h := 2*rowSubtotal + 8.0
	if inv.Tax != nil {
		h += rowSubtotal
	}
	d.need(h)
	d.y += 1
	labelX, labelW := colX[2], colX[3]-colX[2]+colW[3]
	row := func(label, middle, amount string, bold bool) {
		d.setFont(bold, sizeBody+0.5)
		d.text(labelX, d.y, labelW-colW[3], rowSubtotal, label, 'L', true)
		d.text(colX[3], d.y, colW[3], rowSubtotal, middle, 'R', true)
		d.text(colX[4], d.y, colW[4], rowSubtotal, amount, 'R', true)
		d.y += rowSubtotal
	}
	row("Subtotal", "", d.fmt.Amount(inv.SubTotal), false)
	if inv.Tax != nil {
		rate := inv.Tax.Rate.Mul(money.DecimalFromInt(100))
		row(clean(inv.Tax.Label), d.fmt.Number(rate)+nbsp+"%", d.fmt.Amount(inv.Tax.Amount), false)
	}
	d.hline(d.y+0.4, labelX, pageW-marginX, 0.35, black)
	d.y += 1
	d.setFont(true, 10)
	total := "Total"
	if inv.Kind == invoicing.KindCreditNote {
		total = "Total credited"
	}
	d.text(labelX, d.y, labelW, 6, total, 'L', false)
	d.text(colX[4], d.y, colW[4], 6, d.fmt.Amount(inv.Total), 'R', true)
	d.y += 9

	var notes []string
	if inv.Kind == invoicing.KindInvoice && !inv.DueDate.IsZero() && inv.Total.Sign() > 0 {
		notes = append(notes, "Payment due by "+day(inv.DueDate)+".")
	}
	if inv.Kind == invoicing.KindCreditNote && inv.Corrects != "" {
		notes = append(notes, "This credit note corrects invoice "+inv.Corrects+".")
	}
	if d.opts.Note != "" {
		notes = append(notes, strings.Split(d.opts.Note, "\n")...)
	}
	d.setFont(false, sizeBody)
	for _, n := range notes {
		for _, l := range d.wrap(clean(n), contentW) {
			d.need(4.2)
			d.text(marginX, d.y, contentW, 4.2, l, 'L', false)
			d.y += 4.2
		}
	}
}
