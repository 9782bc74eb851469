package invoicing_test

import (
	"database/sql"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/reckon-billing/reckon/internal/billing"
	"github.com/reckon-billing/reckon/internal/invoicing"
)

func periodNames(ps []invoicing.Period) string {
	var s []string
	for _, p := range ps {
		mark := ""
		if p.ClosedAt != nil {
			mark = "*"
		}
		s = append(s, fmt.Sprintf("%s%s:%s..%s", mark, p.Name, p.Start.Format(time.DateOnly), p.End.Format(time.DateOnly)))
	}
	return strings.Join(s, " ")
}

// Periods run from the period of the subscription's creation — or of its
// earliest usage, when usage older than the subscription was migrated in —
// to the current one, newest first.
func TestPeriodsFromCreationOrEarliestUsage(t *testing.T) {
	t.Parallel()
	forEachBackend(t, func(t *testing.T, b backend) {
		f := newFixture(t, b, date("2024-03-10T08:00:00Z"), invoicing.Config{})
		f.importCatalog("")
		sub := subID(1)
		f.putSub(sub, "contoso", 15, "US")
		ps, err := f.svc.Periods(ctx, sub)
		if err != nil {
			t.Fatal(err)
		}
		if got, want := periodNames(ps), "202403-1:2024-02-15..2024-03-15"; got != want {
			t.Errorf("periods at creation: %s, want %s", got, want)
		}
		if ps[0].InvoiceNames == nil || len(ps[0].InvoiceNames) != 0 {
			t.Errorf("open period's invoice names %#v, want []", ps[0].InvoiceNames)
		}
		f.clock.Set(date("2024-05-01T00:00:00Z"))
		f.ingest(rec{sub: sub, meter: meterVM, start: date("2024-01-05T03:00:00Z"), qty: "2", reported: date("2024-04-30T00:00:00Z")})
		ps, err = f.svc.Periods(ctx, sub)
		if err != nil {
			t.Fatal(err)
		}
		want := "202405-1:2024-04-15..2024-05-15 202404-1:2024-03-15..2024-04-15 202403-1:2024-02-15..2024-03-15 " +
			"202402-1:2024-01-15..2024-02-15 202401-1:2023-12-15..2024-01-15"
		if got := periodNames(ps); got != want {
			t.Errorf("periods with migrated usage:\n got %s\nwant %s", got, want)
		}
		// The migrated usage is billed in its period.
		inv, err := f.svc.Close(ctx, sub, "202401-1", false)
		if err != nil {
			t.Fatal(err)
		}
		eqDec(t, "migrated usage", inv.Total, "0.19") // 2 × 0.096 = 0.192
		p, err := f.svc.Period(ctx, sub, "202401-1")
		if err != nil || p.ClosedAt == nil {
			t.Errorf("Period after close: %+v %v", p, err)
		}
		if _, err := f.svc.Periods(ctx, subID(99)); billing.AsError(err) == nil || billing.AsError(err).Code != "SubscriptionNotFound" {
			t.Errorf("periods of an unknown subscription: %v", err)
		}
		if _, err := f.svc.Period(ctx, sub, "202312-1"); billing.AsError(err) == nil || billing.AsError(err).Code != "BillingPeriodNotFound" {
			t.Errorf("period before the first: %v", err)
		}
	})
}

// CloseDue closes every period past its end plus the grace time, oldest
// first, and nothing twice.
func TestCloseDue(t *testing.T) {
	t.Parallel()
	forEachBackend(t, func(t *testing.T, b backend) {
		f := newFixture(t, b, date("2024-01-20T00:00:00Z"), invoicing.Config{GraceTime: 48 * time.Hour})
		f.importCatalog("")
		a, c := subID(1), subID(2)
		f.putSub(a, "contoso", 1, "US")
		f.putSub(c, "contoso", 15, "US")
		// a: [01-01, 02-01) "202402-1", [02-01, 03-01) "202403-1"; c: [01-15, 02-15) "202402-1".
		f.clock.Set(date("2024-02-02T23:59:59Z")) // a's first period is 1 s short of its grace time
		n, err := f.svc.CloseDue(ctx)
		if err != nil || n != 0 {
			t.Fatalf("CloseDue before any grace time: %d, %v", n, err)
		}
		f.clock.Set(date("2024-03-03T00:00:00Z")) // a: both periods due; c: [01-15,02-15) due, [02-15,03-15) not
		n, err = f.svc.CloseDue(ctx)
		if err != nil || n != 3 {
			t.Fatalf("CloseDue = %d, %v; want 3", n, err)
		}
		n, err = f.svc.CloseDue(ctx)
		if err != nil || n != 0 {
			t.Fatalf("CloseDue again = %d, %v; want 0", n, err)
		}
		invs, err := f.svc.InvoicesOfAccount(ctx, "contoso")
		if err != nil || len(invs) != 3 {
			t.Fatalf("invoices: %d, %v", len(invs), err)
		}
		byPeriod := map[string]string{}
		for _, inv := range invs {
			byPeriod[inv.SubscriptionID[len(inv.SubscriptionID)-1:]+"/"+inv.PeriodName] = inv.Name
		}
		// a's periods were closed oldest first: its numbers increase with its periods.
		if byPeriod["1/202402-1"] >= byPeriod["1/202403-1"] || byPeriod["2/202402-1"] == "" {
			t.Errorf("invoices by period: %v", byPeriod)
		}
		ps, _ := f.svc.Periods(ctx, c)
		if got := periodNames(ps); got != "202403-1:2024-02-15..2024-03-15 *202402-1:2024-01-15..2024-02-15" {
			t.Errorf("c's periods: %s", got)
		}
	})
}

// Two servers closing the same period at once issue one invoice; the
// loser returns the winner's.
func TestConcurrentClose(t *testing.T) {
	t.Parallel()
	forEachBackend(t, func(t *testing.T, b backend) {
		f := newFixture(t, b, date("2024-01-15T10:00:00Z"), invoicing.Config{})
		f.importCatalog("")
		sub := subID(1)
		f.putSub(sub, "contoso", 1, "US")
		f.clock.Set(date("2024-03-05T00:00:00Z"))
		february(f, sub)
		servers := []*invoicing.Service{f.svc, f.service(invoicing.Config{})}
		if b == postgresBackend {
			// A second process has its own connection pool.
			db2, _ := openStoreAt(t, f.dsn)
			servers = append(servers, invoicing.NewService(db2, f.accounts, f.charges, textRenderer{}, f.clock.Now, invoicing.Config{SettleMargin: settle}))
		}
		const n = 8
		names := make([]string, n)
		errs := make([]error, n)
		var wg sync.WaitGroup
		start := make(chan struct{})
		for i := range n {
			wg.Go(func() {
				<-start
				inv, err := servers[i%len(servers)].Close(ctx, sub, "202403-1", i%2 == 0)
				errs[i] = err
				if inv != nil {
					names[i] = inv.Name
				}
			})
		}
		close(start)
		wg.Wait()
		for i := range n {
			if errs[i] != nil || names[i] != "CONTOSO-000001" {
				t.Errorf("close %d: %s, %v", i, names[i], errs[i])
			}
		}
		invs, err := f.svc.Invoices(ctx, sub)
		if err != nil || len(invs) != 1 {
			t.Fatalf("%d invoices, %v; want 1", len(invs), err)
		}
		eqDec(t, "total", invs[0].Total, "4.94")
		// The sequence went on from 1.
		f.clock.Set(date("2024-04-05T00:00:00Z"))
		inv, err := f.svc.Close(ctx, sub, "202404-1", false)
		if err != nil || inv.Name != "CONTOSO-000002" {
			t.Fatalf("next close: %v %v", inv, err)
		}
	})
}

// Many subscriptions of one account closed in parallel by several servers
// (one of them failing to render every time) get the numbers 1..n: no gap,
// no duplicate.
func TestGaplessNumberingUnderConcurrency(t *testing.T) {
	t.Parallel()
	forEachBackend(t, func(t *testing.T, b backend) {
		f := newFixture(t, b, date("2024-01-01T00:00:00Z"), invoicing.Config{})
		f.importCatalog("")
		const subs = 12
		var recs []rec
		for i := range subs {
			sub := subID(100 + i)
			f.putSub(sub, "fabrikam", 1, "US")
			recs = append(recs, rec{sub: sub, meter: meterVM, start: date("2024-01-10T00:00:00Z").Add(time.Duration(i) * time.Hour), qty: fmt.Sprint(i + 1), reported: date("2024-01-11T00:00:00Z")})
		}
		f.clock.Set(date("2024-03-10T00:00:00Z"))
		f.ingest(recs...)
		servers := []*invoicing.Service{f.svc, f.service(invoicing.Config{})}
		if b == postgresBackend {
			db2, _ := openStoreAt(t, f.dsn)
			servers = append(servers, invoicing.NewService(db2, f.accounts, f.charges, textRenderer{}, f.clock.Now, invoicing.Config{SettleMargin: settle}))
		}
		failing := f.serviceWith(failingRenderer{}, invoicing.Config{})
		var wg sync.WaitGroup
		var mu sync.Mutex
		var errs []error
		start := make(chan struct{})
		for i := range subs {
			for _, period := range []string{"202402-1", "202403-1"} {
				for k, srv := range append(servers, failing) {
					wg.Go(func() {
						<-start
						_, err := srv.Close(ctx, subID(100+i), period, true)
						if k < len(servers) && err != nil {
							mu.Lock()
							errs = append(errs, fmt.Errorf("%s %s: %w", subID(100+i), period, err))
							mu.Unlock()
						}
					})
				}
			}
		}
		close(start)
		wg.Wait()
		for _, err := range errs {
			t.Error(err)
		}
		invs, err := f.svc.InvoicesOfAccount(ctx, "fabrikam")
		if err != nil {
			t.Fatal(err)
		}
		var names []string
		for _, inv := range invs {
			names = append(names, inv.Name)
		}
		slices.Sort(names)
		var want []string
		for i := range 2 * subs {
			want = append(want, fmt.Sprintf("FABRIKAM-%06d", i+1))
		}
		if !slices.Equal(names, want) {
			t.Errorf("numbers:\n got %v\nwant %v", names, want)
		}
		// Newest first.
		for i := 1; i < len(invs); i++ {
			if invs[i-1].IssuedAt.Before(invs[i].IssuedAt) || invs[i-1].IssuedAt.Equal(invs[i].IssuedAt) && invs[i-1].Name < invs[i].Name {
				t.Errorf("not newest first: %s then %s", invs[i-1].Name, invs[i].Name)
			}
		}
	})
}

// A failed issue (the renderer fails) stores nothing and burns no number.
func TestFailedIssueBurnsNoNumber(t *testing.T) {
	t.Parallel()
	forEachBackend(t, func(t *testing.T, b backend) {
		f := newFixture(t, b, date("2024-01-15T10:00:00Z"), invoicing.Config{})
		f.importCatalog("")
		sub := subID(1)
		f.putSub(sub, "contoso", 1, "US")
		f.clock.Set(date("2024-03-05T00:00:00Z"))
		failing := f.serviceWith(failingRenderer{}, invoicing.Config{})
		if _, err := failing.Close(ctx, sub, "202403-1", false); err == nil || !strings.Contains(err.Error(), "renderer down") {
			t.Fatalf("close with a failing renderer: %v", err)
		}
		p, err := f.svc.Period(ctx, sub, "202403-1")
		if err != nil || p.ClosedAt != nil {
			t.Fatalf("period after a failed close: %+v, %v", p, err)
		}
		inv, err := f.svc.Close(ctx, sub, "202403-1", false)
		if err != nil || inv.Name != "CONTOSO-000001" {
			t.Fatalf("close: %+v, %v", inv, err)
		}
	})
}

// A period without usage and an offer without terms issue a zero invoice.
func TestZeroInvoice(t *testing.T) {
	t.Parallel()
	forEachBackend(t, func(t *testing.T, b backend) {
		f := newFixture(t, b, date("2024-01-15T10:00:00Z"), invoicing.Config{
			TaxRates: map[string]invoicing.TaxRate{"US": {Rate: dec("0.0725"), Label: "Sales tax"}},
		})
		f.importCatalog("")
		sub := subID(1)
		f.putSub(sub, "contoso", 1, "US")
		f.clock.Set(date("2024-02-10T00:00:00Z"))
		inv, err := f.svc.Close(ctx, sub, "202402-1", true)
		if err != nil {
			t.Fatal(err)
		}
		if inv.Name != "CONTOSO-000001" || len(inv.Lines) != 0 || inv.Tax == nil {
			t.Errorf("zero invoice %+v", inv)
		}
		eqDec(t, "subtotal", inv.SubTotal, "0")
		eqDec(t, "tax", inv.Tax.Amount, "0")
		eqDec(t, "total", inv.Total, "0")
		got, err := f.svc.Invoice(ctx, inv.Name)
		if err != nil || got.Lines == nil || len(got.Lines) != 0 {
			t.Errorf("stored zero invoice lines %#v, %v", got.Lines, err)
		}
		pdf, err := f.svc.PDF(ctx, inv.Name)
		if err != nil || len(pdf) == 0 {
			t.Errorf("zero invoice pdf: %v", err)
		}
	})
}

// An issued invoice, its PDF and its closed period cannot be altered, even
// with SQL written against the tables directly.
func TestImmutable(t *testing.T) {
	t.Parallel()
	forEachBackend(t, func(t *testing.T, b backend) {
		f := newFixture(t, b, date("2024-01-15T10:00:00Z"), invoicing.Config{})
		f.importCatalog("")
		sub := subID(1)
		f.putSub(sub, "contoso", 1, "US")
		f.clock.Set(date("2024-03-05T00:00:00Z"))
		february(f, sub)
		inv, err := f.svc.Close(ctx, sub, "202403-1", false)
		if err != nil {
			t.Fatal(err)
		}
		pdf, _ := f.svc.PDF(ctx, inv.Name)
		raw := rawDB(t, b, f.dsn)
		q := func(s string) string {
			if b == postgresBackend {
				return strings.NewReplacer("?1", "$1").Replace(s)
			}
			return s
		}
		for _, stmt := range []string{
			`UPDATE invoices SET header = '{}' WHERE name = ?1`,
			`UPDATE invoices SET issued_by = 'mallory' WHERE name = ?1`,
			`DELETE FROM invoices WHERE name = ?1`,
			`UPDATE invoice_pdfs SET sha256 = 'x' WHERE name = ?1`,
			`DELETE FROM invoice_pdfs WHERE name = ?1`,
			`UPDATE billing_periods SET closed_us = 0 WHERE invoice_name = ?1`,
			`DELETE FROM billing_periods WHERE invoice_name = ?1`,
		} {
			if _, err := raw.ExecContext(ctx, q(stmt), inv.Name); err == nil || !strings.Contains(err.Error(), "immutable") {
				t.Errorf("%s: %v, want a refusal", stmt, err)
			}
		}
		if b == postgresBackend {
			if _, err := raw.ExecContext(ctx, `TRUNCATE invoices`); err == nil {
				t.Errorf("TRUNCATE invoices succeeded")
			}
		}
		got, err := f.svc.Invoice(ctx, inv.Name)
		if err != nil || got.Total.Cmp(inv.Total) != 0 || got.PDFSHA256 != inv.PDFSHA256 || len(got.Lines) != len(inv.Lines) {
			t.Errorf("invoice after the attempts: %+v, %v", got, err)
		}
		pdf2, err := f.svc.PDF(ctx, inv.Name)
		if err != nil || string(pdf2) != string(pdf) {
			t.Errorf("pdf changed: %v", err)
		}
	})
}

func rawDB(t *testing.T, b backend, dsn string) *sql.DB {
	driver, src := "sqlite", strings.TrimPrefix(dsn, "sqlite:")
	if b == postgresBackend {
		driver, src = "pgx", dsn
	}
	db, err := sql.Open(driver, src)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

func TestInvoiceAccess(t *testing.T) {
	t.Parallel()
	forEachBackend(t, func(t *testing.T, b backend) {
		f := newFixture(t, b, date("2024-01-15T10:00:00Z"), invoicing.Config{})
		sub := subID(1)
		f.putSub(sub, "contoso", 1, "US")
		check := func(want bool) {
			t.Helper()
			got, err := f.svc.InvoiceAccess(ctx, strings.ToUpper(sub))
			if err != nil || got != want {
				t.Errorf("InvoiceAccess = %v, %v; want %v", got, err, want)
			}
		}
		check(false)
		if err := f.svc.SetInvoiceAccess(ctx, sub, true); err != nil {
			t.Fatal(err)
		}
		check(true)
		if err := f.svc.SetInvoiceAccess(ctx, sub, false); err != nil {
			t.Fatal(err)
		}
		check(false)
		if err := f.svc.SetInvoiceAccess(ctx, subID(2), true); billing.AsError(err) == nil || billing.AsError(err).Code != "SubscriptionNotFound" {
			t.Errorf("opt-in of an unknown subscription: %v", err)
		}
		if _, err := f.svc.InvoiceAccess(ctx, "nope"); billing.AsError(err) == nil || billing.AsError(err).Kind != billing.KindInvalid {
			t.Errorf("bad id: %v", err)
		}
	})
}
