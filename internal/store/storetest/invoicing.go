package storetest

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/reckon-billing/reckon/internal/billing"
	"github.com/reckon-billing/reckon/internal/invoicing"
	"github.com/reckon-billing/reckon/internal/money"
	"github.com/reckon-billing/reckon/internal/store"
	"github.com/reckon-billing/reckon/internal/usage"
)

// testInvoicing checks the invoicing repository: numbering, closing a
// period once, stale closes, failed issues, credit notes, listings, PDFs,
// opt-ins and the usage reads closing needs.
func testInvoicing(t *testing.T, db *store.DB) {
	subs, meters := setup(t, db, 3)
	s1, s2, s3 := guid('c', 1), guid('c', 2), guid('c', 3)
	at := func(s string) time.Time { return clockAt(s)() }
	period := func(sub, name, start, end string) invoicing.Period {
		return invoicing.Period{SubscriptionID: sub, Name: name, Start: at(start), End: at(end)}
	}
	feb := func(sub string) invoicing.Period {
		return period(sub, "202403-1", "2024-02-01T00:00:00Z", "2024-03-01T00:00:00Z")
	}
	mar := func(sub string) invoicing.Period {
		return period(sub, "202404-1", "2024-03-01T00:00:00Z", "2024-04-01T00:00:00Z")
	}
	doc := func(kind, sub string, p invoicing.Period, amount string, issued time.Time) *invoicing.Invoice {
		a, _ := money.ParseDecimal(amount)
		return &invoicing.Invoice{Kind: kind, BillingAccount: "acct-1", SubscriptionID: sub, PeriodName: p.Name, PeriodStart: p.Start, PeriodEnd: p.End,
			IssuedAt: issued, InvoiceDate: issued.Truncate(24 * time.Hour), DueDate: issued.Truncate(24*time.Hour).AddDate(0, 0, 30),
			Currency: "USD", Locale: "en-US", Seller: invoicing.Party{Name: "Seller", Address: []string{"1 Main St", "Springfield"}, LogoPNG: []byte{1, 2}},
			Buyer:    invoicing.Party{Name: "acct-1", Country: "US"},
			Lines:    []invoicing.Line{{Kind: "Usage", MeterID: guid('d', 1), MeterName: "m", Quantity: a, IncludedQuantity: money.Zero, Amount: a}},
			SubTotal: a, Total: a}
	}
	// build names the document, "renders" its PDF and records its sha256.
	build := func(d *invoicing.Invoice, calls *int) func(int64, []invoicing.Invoice) (*invoicing.Invoice, []byte, error) {
		return func(n int64, _ []invoicing.Invoice) (*invoicing.Invoice, []byte, error) {
			*calls++
			out := *d
			out.Name = invoicing.InvoiceName("ACCT1-", n)
			pdf := []byte(fmt.Sprintf("%%PDF %s %s\x00\xff", out.Name, out.Total))
			sum := sha256.Sum256(pdf)
			out.PDFSHA256 = hex.EncodeToString(sum[:])
			return &out, pdf, nil
		}
	}
	issue := func(req invoicing.IssueRequest, d *invoicing.Invoice) (invoicing.Invoice, bool, int, error) {
		calls := 0
		inv, created, err := db.Issue(ctx, req, build(d, &calls))
		return inv, created, calls, err
	}
	closeReq := func(sub string, p invoicing.Period, closed, last string) invoicing.IssueRequest {
		r := invoicing.IssueRequest{Kind: invoicing.KindInvoice, SubscriptionID: sub, BillingAccount: "acct-1", Series: "ACCT1-", Period: p, ClosedAt: at(closed)}
		if last != "" {
			r.LastClose = at(last)
		}
		return r
	}

	// Empty store.
	if ps, err := db.ClosedPeriods(ctx, s1); err != nil || ps == nil || len(ps) != 0 {
		t.Fatalf("ClosedPeriods of an empty store = %v, %v", ps, err)
	}
	if list, err := db.InvoicesOf(ctx, s1); err != nil || list == nil || len(list) != 0 {
		t.Fatalf("InvoicesOf of an empty store = %v, %v", list, err)
	}
	if _, err := db.Invoice(ctx, "ACCT1-000001"); billing.AsError(err) == nil || billing.AsError(err).Code != "InvoiceNotFound" {
		t.Fatalf("Invoice of an empty store: %v", err)
	}
	if _, err := db.PDF(ctx, "ACCT1-000001"); billing.AsError(err) == nil || billing.AsError(err).Kind != billing.KindNotFound {
		t.Fatalf("PDF of an empty store: %v", err)
	}

	// A failed build stores nothing and burns no number.
	boom := errors.New("boom")
	if _, _, err := db.Issue(ctx, closeReq(s1, feb(s1), "2024-03-04T00:00:00Z", ""), func(int64, []invoicing.Invoice) (*invoicing.Invoice, []byte, error) {
		return nil, nil, boom
	}); !errors.Is(err, boom) {
		t.Fatalf("Issue with a failing build: %v", err)
	}
	// A PDF whose sha256 is not the document's is refused.
	if _, _, err := db.Issue(ctx, closeReq(s1, feb(s1), "2024-03-04T00:00:00Z", ""), func(n int64, _ []invoicing.Invoice) (*invoicing.Invoice, []byte, error) {
		d := doc(invoicing.KindInvoice, s1, feb(s1), "1", at("2024-03-04T00:00:00Z"))
		d.Name, d.PDFSHA256 = invoicing.InvoiceName("ACCT1-", n), "00"
		return d, []byte("pdf"), nil
	}); err == nil {
		t.Fatal("Issue with a wrong sha256 succeeded")
	}
	// A close computed against another latest close is stale.
	if _, _, _, err := issue(closeReq(s1, feb(s1), "2024-03-04T00:00:00Z", "2024-01-04T00:00:00Z"), doc(invoicing.KindInvoice, s1, feb(s1), "1", at("2024-03-04T00:00:00Z"))); !errors.Is(err, invoicing.ErrStale) {
		t.Fatalf("stale Issue: %v", err)
	}

	// Close February of s1: number 1.
	d1 := doc(invoicing.KindInvoice, s1, feb(s1), "12.34", at("2024-03-04T00:00:05.123456Z"))
	inv1, created, calls, err := issue(closeReq(s1, feb(s1), "2024-03-04T00:00:00Z", ""), d1)
	if err != nil || !created || calls != 1 || inv1.Name != "ACCT1-000001" {
		t.Fatalf("Issue = %s, %v, %d calls, %v", inv1.Name, created, calls, err)
	}
	// Closing it again stores nothing, calls no build, returns the invoice.
	again, created, calls, err := issue(closeReq(s1, feb(s1), "2024-03-05T00:00:00Z", "2024-03-04T00:00:00Z"), doc(invoicing.KindInvoice, s1, feb(s1), "99", at("2024-03-05T00:00:00Z")))
	if err != nil || created || calls != 0 || again.Name != inv1.Name || again.Total.Cmp(inv1.Total) != 0 {
		t.Fatalf("second Issue of a period = %s %s, %v, %d calls, %v", again.Name, again.Total, created, calls, err)
	}
	// March of s1 (after February's close), February of s2: 2 and 3.
	inv2, _, _, err := issue(closeReq(s1, mar(s1), "2024-04-04T00:00:00Z", "2024-03-04T00:00:00Z"), doc(invoicing.KindInvoice, s1, mar(s1), "0", at("2024-04-04T00:00:00Z")))
	if err != nil || inv2.Name != "ACCT1-000002" {
		t.Fatalf("Issue March = %s, %v", inv2.Name, err)
	}
	inv3, _, _, err := issue(closeReq(s2, feb(s2), "2024-03-04T00:00:00Z", ""), doc(invoicing.KindInvoice, s2, feb(s2), "5", at("2024-03-04T00:00:00Z")))
	if err != nil || inv3.Name != "ACCT1-000003" {
		t.Fatalf("Issue s2 = %s, %v", inv3.Name, err)
	}
	// A credit note of inv1 sees no prior credit note; a second sees the first.
	cn := doc(invoicing.KindCreditNote, s1, feb(s1), "-2", at("2024-04-10T00:00:00Z"))
	cn.Corrects, cn.Reason = inv1.Name, "why"
	cnReq := invoicing.IssueRequest{Kind: invoicing.KindCreditNote, SubscriptionID: s1, BillingAccount: "acct-1", Series: "ACCT1-", Period: feb(s1), Corrects: inv1.Name, Actor: "op"}
	var priors [][]string
	for range 2 {
		calls := 0
		b := build(cn, &calls)
		c, created, err := db.Issue(ctx, cnReq, func(n int64, prior []invoicing.Invoice) (*invoicing.Invoice, []byte, error) {
			var names []string
			for _, p := range prior {
				names = append(names, p.Name)
			}
			priors = append(priors, names)
			return b(n, prior)
		})
		if err != nil || !created || c.Kind != invoicing.KindCreditNote {
			t.Fatalf("credit note: %+v, %v", c, err)
		}
	}
	if len(priors) != 2 || len(priors[0]) != 0 || !slices.Equal(priors[1], []string{"ACCT1-000004"}) {
		t.Errorf("prior credit notes seen: %v", priors)
	}

	// Periods: closed ones with their invoices, then credit notes.
	ps, err := db.ClosedPeriods(ctx, s1)
	if err != nil || len(ps) != 2 {
		t.Fatalf("ClosedPeriods = %+v, %v", ps, err)
	}
	if ps[0].Name != "202403-1" || !sameTime(ps[0].Start, feb(s1).Start) || !sameTime(ps[0].End, feb(s1).End) || ps[0].ClosedAt == nil ||
		!sameTime(*ps[0].ClosedAt, at("2024-03-04T00:00:00Z")) || !slices.Equal(ps[0].InvoiceNames, []string{"ACCT1-000001", "ACCT1-000004", "ACCT1-000005"}) {
		t.Errorf("February: %+v", ps[0])
	}
	if ps[1].Name != "202404-1" || !slices.Equal(ps[1].InvoiceNames, []string{"ACCT1-000002"}) {
		t.Errorf("March: %+v", ps[1])
	}

	// The stored document is the built one (the logo is not stored).
	got, err := db.Invoice(ctx, inv1.Name)
	if err != nil {
		t.Fatal(err)
	}
	if got.Name != inv1.Name || got.Kind != invoicing.KindInvoice || got.SubscriptionID != s1 || got.Total.Cmp(d1.Total) != 0 ||
		!sameTime(got.IssuedAt, d1.IssuedAt) || !sameTime(got.PeriodStart, d1.PeriodStart) || got.Seller.LogoPNG != nil ||
		!slices.Equal(got.Seller.Address, d1.Seller.Address) || len(got.Lines) != 1 || got.Lines[0].Amount.Cmp(d1.Lines[0].Amount) != 0 ||
		got.PDFSHA256 != inv1.PDFSHA256 {
		t.Errorf("Invoice = %+v", got)
	}
	pdf, err := db.PDF(ctx, inv1.Name)
	if sum := sha256.Sum256(pdf); err != nil || hex.EncodeToString(sum[:]) != inv1.PDFSHA256 || string(pdf) != "%PDF ACCT1-000001 12.34\x00\xff" {
		t.Errorf("PDF = %q, %v", pdf, err)
	}
	// Lists: newest first, without lines.
	list, err := db.InvoicesOf(ctx, s1)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, inv := range list {
		names = append(names, inv.Name)
		if inv.Lines != nil {
			t.Errorf("listed %s with lines", inv.Name)
		}
	}
	if !slices.Equal(names, []string{"ACCT1-000005", "ACCT1-000004", "ACCT1-000002", "ACCT1-000001"}) {
		t.Errorf("InvoicesOf = %v", names)
	}
	acct, err := db.InvoicesOfAccount(ctx, "acct-1")
	names = nil
	for _, inv := range acct {
		names = append(names, inv.Name)
	}
	// By issue instant, then number: 000001 was issued 5 s after 000003.
	if err != nil || !slices.Equal(names, []string{"ACCT1-000005", "ACCT1-000004", "ACCT1-000002", "ACCT1-000001", "ACCT1-000003"}) {
		t.Errorf("InvoicesOfAccount = %v, %v", names, err)
	}
	if other, err := db.InvoicesOfAccount(ctx, "acct-2"); err != nil || len(other) != 0 {
		t.Errorf("InvoicesOfAccount(other) = %v, %v", other, err)
	}

	// Many sequences at once: gapless each.
	var wg sync.WaitGroup
	errs := make(chan error, 40)
	for i := range 40 {
		wg.Go(func() {
			sub := []string{s2, s3}[i%2]
			p := period(sub, fmt.Sprintf("2030%02d-%d", i%12+1, i), fmt.Sprintf("2030-01-01T00:%02d:00Z", i), fmt.Sprintf("2030-01-01T01:%02d:00Z", i))
			req := invoicing.IssueRequest{Kind: invoicing.KindCreditNote, SubscriptionID: sub, BillingAccount: "acct-9", Series: fmt.Sprintf("S%d-", i%3), Period: p}
			calls := 0
			_, _, err := db.Issue(ctx, req, func(n int64, prior []invoicing.Invoice) (*invoicing.Invoice, []byte, error) {
				d, pdf, err := build(doc(invoicing.KindCreditNote, sub, p, "1", at("2030-02-01T00:00:00Z")), &calls)(n, prior)
				if d != nil {
					d.Name = fmt.Sprintf("S%d-%06d", i%3, n)
					d.BillingAccount = "acct-9"
				}
				return d, pdf, err
			})
			errs <- err
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Error(err)
		}
	}
	seq := map[string][]string{}
	all, _ := db.InvoicesOfAccount(ctx, "acct-9")
	for _, inv := range all {
		seq[inv.Name[:3]] = append(seq[inv.Name[:3]], inv.Name)
	}
	for i := range 3 {
		prefix := fmt.Sprintf("S%d-", i)
		got := seq[prefix]
		slices.Sort(got)
		var want []string
		for n := range len(got) {
			want = append(want, fmt.Sprintf("%s%06d", prefix, n+1))
		}
		if len(got) == 0 || !slices.Equal(got, want) {
			t.Errorf("sequence %s: %v", prefix, got)
		}
	}

	// Invoice access.
	if on, err := db.InvoiceAccess(ctx, s1); err != nil || on {
		t.Errorf("InvoiceAccess before any opt-in = %v, %v", on, err)
	}
	for _, on := range []bool{true, true, false, true} {
		if err := db.SetInvoiceAccess(ctx, s1, on, at("2024-05-01T00:00:00Z")); err != nil {
			t.Fatal(err)
		}
		if got, err := db.InvoiceAccess(ctx, s1); err != nil || got != on {
			t.Errorf("InvoiceAccess = %v, %v; want %v", got, err, on)
		}
	}
	if on, _ := db.InvoiceAccess(ctx, s2); on {
		t.Error("s2 opted in by s1's opt-in")
	}

	// Usage reads: the earliest usage start, and records reported in a window.
	mark, err := db.FirstUsage(ctx, s1, invoicing.UsageMark{})
	if err != nil || mark != (invoicing.UsageMark{}) {
		t.Errorf("FirstUsage without usage = %+v, %v", mark, err)
	}
	seg := func(sub int64, reported string, starts ...string) usage.Segment {
		var recs []usage.StoredRecord
		for i, s := range starts {
			st := at(s).UnixMicro()
			recs = append(recs, usage.StoredRecord{ID: fmt.Sprintf("%s-%d", reported, i), MeterKey: meters[0], Start: st, End: st + 3_600_000_000, Quantity: 1})
		}
		return usage.Segment{SubscriptionKey: sub, ReportedAt: at(reported).UnixMicro(), Records: len(recs), Data: usage.EncodeSegment(recs)}
	}
	if err := db.Ingest(ctx, func(tx usage.IngestTx) error {
		return tx.InsertSegments(ctx, []usage.Segment{
			seg(subs[0], "2024-03-10T00:00:00Z", "2024-03-09T00:00:00Z", "2024-02-20T00:00:00Z"),
			seg(subs[0], "2024-04-10T00:00:00Z", "2024-04-09T00:00:00Z"),
			seg(subs[1], "2024-03-10T00:00:00Z", "2023-01-01T00:00:00Z"),
		})
	}); err != nil {
		t.Fatal(err)
	}
	mark, err = db.FirstUsage(ctx, s1, invoicing.UsageMark{})
	if err != nil || mark.Segments != 2 || mark.Records != 3 || !sameTime(mark.First, at("2024-02-20T00:00:00Z")) {
		t.Errorf("FirstUsage = %+v, %v", mark, err)
	}
	// An unchanged mark is returned as it is (here: a made-up First).
	fake := invoicing.UsageMark{Segments: 2, Records: 3, First: at("2000-01-01T00:00:00Z")}
	if m, err := db.FirstUsage(ctx, s1, fake); err != nil || m != fake {
		t.Errorf("FirstUsage with an unchanged mark = %+v, %v", m, err)
	}
	if err := db.Ingest(ctx, func(tx usage.IngestTx) error {
		return tx.InsertSegments(ctx, []usage.Segment{seg(subs[0], "2024-04-11T00:00:00Z", "2024-01-31T23:00:00Z")})
	}); err != nil {
		t.Fatal(err)
	}
	if m, err := db.FirstUsage(ctx, s1, mark); err != nil || m.Segments != 3 || !sameTime(m.First, at("2024-01-31T23:00:00Z")) {
		t.Errorf("FirstUsage after a new segment = %+v, %v", m, err)
	}
	var starts []string
	if err := db.UsageReported(ctx, s1, at("2024-03-10T00:00:00Z"), at("2024-04-11T00:00:00Z"), func(start, end time.Time) {
		if end.Sub(start) != time.Hour || start.Location() != time.UTC {
			t.Errorf("record [%s, %s)", start, end)
		}
		starts = append(starts, start.Format(time.RFC3339))
	}); err != nil {
		t.Fatal(err)
	}
	slices.Sort(starts)
	if !slices.Equal(starts, []string{"2024-02-20T00:00:00Z", "2024-03-09T00:00:00Z", "2024-04-09T00:00:00Z"}) {
		t.Errorf("UsageReported = %v", starts)
	}
	if err := db.UsageReported(ctx, guid('c', 99), at("2000-01-01T00:00:00Z"), at("2100-01-01T00:00:00Z"), func(time.Time, time.Time) {
		t.Error("usage of an unknown subscription")
	}); err != nil {
		t.Error(err)
	}
}
