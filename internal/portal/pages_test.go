package portal_test

import (
	"bytes"
	"context"
	"encoding/csv"
	"encoding/json"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/reckon-billing/reckon/internal/auth"
	"github.com/reckon-billing/reckon/internal/catalog"
	"github.com/reckon-billing/reckon/internal/demo"
	"github.com/reckon-billing/reckon/internal/invoicing"
	"github.com/reckon-billing/reckon/internal/money"
	"github.com/reckon-billing/reckon/internal/reckontest"
)

type costReport struct {
	Currency string `json:"currency"`
	Total    string `json:"total"`
	Groups   []struct {
		Key, Name, Cost string
	} `json:"groups"`
}

func report(t *testing.T, srv *reckontest.Server, sub, from, to, groupBy string) costReport {
	t.Helper()
	var r costReport
	getJSON(t, srv, "/subscriptions/"+sub+"/providers/Microsoft.Commerce/costReport?api-version=2015-06-01-preview&from="+from+"&to="+to+"&groupBy="+url.QueryEscape(groupBy), &r)
	return r
}

func dec(t *testing.T, s string) money.Decimal {
	t.Helper()
	d, err := money.ParseDecimal(s)
	if err != nil {
		t.Fatalf("decimal %q: %v", s, err)
	}
	return d
}

func sameDecimal(t *testing.T, what, got, want string) {
	t.Helper()
	if dec(t, got).Cmp(dec(t, want)) != 0 {
		t.Errorf("%s = %s, want %s", what, got, want)
	}
}

var (
	barRE      = regexp.MustCompile(`<rect class="bar [^"]*"[^>]* data-day="([0-9-]+)" data-category="([^"]*)" data-cost="([^"]+)"`)
	groupRowRE = regexp.MustCompile(`<tr data-group="([^"]*)" data-cost="([^"]+)"`)
	invoiceRE  = regexp.MustCompile(`<tr data-invoice="([^"]+)"`)
	meterRowRE = regexp.MustCompile(`<tr data-meter-id="([^"]+)" data-price="([^"]*)"`)
)

func unescape(s string) string {
	r := strings.NewReplacer("&amp;", "&", "&lt;", "<", "&gt;", ">", "&#34;", `"`, "&#39;", "'", "&quot;", `"`)
	return r.Replace(s)
}

// TestPages renders every page over the demo data and checks that its
// numbers are the API's and the services'.
func TestPages(t *testing.T) {
	reckontest.ForEachBackend(t, func(t *testing.T, b reckontest.Backend) {
		e := start(t, b, true)
		srv := e.srv
		ctx := context.Background()
		sub := demo.SubContosoProd
		base := "/portal/subscriptions/" + sub
		admin := newBrowser(t, srv)
		admin.signIn(userAdmin, password)
		today := testNow.Truncate(24 * time.Hour)

		t.Run("overview", func(t *testing.T) {
			page := admin.page(base + "/overview")
			for _, id := range []string{`id="cost-to-date"`, `id="forecast"`, `id="last-invoice"`, `id="daily-cost-chart"`, `role="img"`, `aria-label="Daily cost`,
				`id="range-30"`, `id="range-90"`, `id="top-resource-groups"`, `id="top-tags"`, `id="top-meters"`, `id="subscription-switcher"`,
				`id="subscription-select"`, `id="subscription-go"`, `id="nav"`, `id="main"`, `id="signout-form"`, `id="whoami"`} {
				if !strings.Contains(page, id) {
					t.Errorf("overview lacks %s", id)
				}
			}
			// The chart's bars add up to the cost report of the same 30 days,
			// category by category.
			from := today.AddDate(0, 0, -29)
			rep := report(t, srv, sub, from.Format(time.DateOnly), today.AddDate(0, 0, 1).Format(time.DateOnly), "meterCategory")
			bars := barRE.FindAllStringSubmatch(page, -1)
			if len(bars) < 30 {
				t.Fatalf("%d bars; want at least one a day", len(bars))
			}
			byCat := map[string]money.Decimal{}
			var sum money.Decimal
			for _, m := range bars {
				d, _ := time.Parse(time.DateOnly, m[1])
				if d.Before(from) || d.After(today) {
					t.Errorf("bar of %s outside the range", m[1])
				}
				byCat[unescape(m[2])] = byCat[unescape(m[2])].Add(dec(t, m[3]))
				sum = sum.Add(dec(t, m[3]))
			}
			sameDecimal(t, "sum of the bars", sum.String(), rep.Total)
			for _, g := range rep.Groups {
				if g.Key == "(none)" {
					continue // offer terms are drawn by their kind
				}
				sameDecimal(t, "bars of "+g.Key, byCat[g.Key].String(), g.Cost)
			}
			// Cost so far this period: the cost report from the period's start.
			periods, err := srv.Invoicing.Periods(ctx, sub)
			if err != nil {
				t.Fatal(err)
			}
			cur := periods[0]
			if cur.ClosedAt != nil || testNow.Before(cur.Start) || !testNow.Before(cur.End) {
				t.Fatalf("current period %+v", cur)
			}
			period := report(t, srv, sub, cur.Start.Format(time.DateOnly), today.AddDate(0, 0, 1).Format(time.DateOnly), "meterCategory")
			sameDecimal(t, "cost to date", attr(t, page, `id="cost-to-date"`, "data-cost"), period.Total)
			// The forecast is the cost so far plus the last 7 complete days'
			// usage cost per hour times the hours left.
			week := report(t, srv, sub, today.AddDate(0, 0, -7).Format(time.DateOnly), today.Format(time.DateOnly), "meter")
			var usage money.Decimal
			for _, g := range week.Groups {
				if g.Key != "(none)" {
					usage = usage.Add(dec(t, g.Cost))
				}
			}
			hours := int64(cur.End.Sub(testNow.Truncate(time.Hour)) / time.Hour)
			want := dec(t, period.Total).Add(usage.QuoRound(money.DecimalFromInt(7*24), 12).Mul(money.DecimalFromInt(hours)))
			sameDecimal(t, "forecast", attr(t, page, `id="forecast"`, "data-cost"), want.String())
			if got := attr(t, page, `id="cost-to-date"`, "data-currency"); got != "USD" {
				t.Errorf("currency %s", got)
			}
			// The last invoice is the newest invoice of the subscription.
			invs, err := srv.Invoicing.Invoices(ctx, sub)
			if err != nil || len(invs) == 0 {
				t.Fatalf("invoices %v %v", invs, err)
			}
			var last invoicing.Invoice
			for _, inv := range invs {
				if inv.Kind == invoicing.KindInvoice && inv.PeriodEnd.After(last.PeriodEnd) {
					last = inv
				}
			}
			if i := strings.Index(page, `id="last-invoice"`); i < 0 || !strings.Contains(page[i:i+600], last.Name) {
				t.Errorf("last invoice %s not shown", last.Name)
			}
			// 90 days: 90 days of bars.
			page90 := admin.page(base + "/overview?days=90")
			days := map[string]bool{}
			for _, m := range barRE.FindAllStringSubmatch(page90, -1) {
				days[m[1]] = true
			}
			if len(days) < 58 || len(days) > 90 { // the demo has 60 days of usage
				t.Errorf("90-day chart has %d days with cost", len(days))
			}
		})

		t.Run("usage", func(t *testing.T) {
			from, to := today.AddDate(0, 0, -40), today.AddDate(0, 0, -1)
			for _, gb := range []struct{ portal, api string }{
				{"groupBy=meterCategory", "meterCategory"}, {"groupBy=meter", "meter"}, {"groupBy=resourceGroup", "resourceGroup"},
				{"groupBy=resource", "resource"}, {"groupBy=tag&tagKey=env", "tag:env"},
			} {
				q := "from=" + from.Format(time.DateOnly) + "&to=" + to.Format(time.DateOnly) + "&" + gb.portal
				page := admin.page(base + "/usage?" + q)
				for _, id := range []string{`id="usage-filter"`, `name="from"`, `name="to"`, `name="groupBy"`, `name="tagKey"`, `id="usage-apply"`, `id="usage-chart"`, `id="usage-table"`, `id="usage-csv"`} {
					if !strings.Contains(page, id) {
						t.Errorf("usage page lacks %s", id)
					}
				}
				// The API's range is [from, to); the portal's to is inclusive.
				rep := report(t, srv, sub, from.Format(time.DateOnly), to.AddDate(0, 0, 1).Format(time.DateOnly), gb.api)
				sameDecimal(t, gb.api+" total", attr(t, page, `id="usage-total"`, "data-cost"), rep.Total)
				rows := groupRowRE.FindAllStringSubmatch(page, -1)
				if len(rows) != len(rep.Groups) || len(rows) == 0 {
					t.Fatalf("%s: %d rows, the API has %d groups", gb.api, len(rows), len(rep.Groups))
				}
				for i, g := range rep.Groups {
					if unescape(rows[i][1]) != g.Key {
						t.Errorf("%s row %d is %q, the API's %q", gb.api, i, rows[i][1], g.Key)
					}
					sameDecimal(t, gb.api+" "+g.Key, rows[i][2], g.Cost)
				}
				// The CSV: the same groups, exact, adding up to the total.
				csvURL := unescape(attr(t, page, `id="usage-csv"`, "href"))
				resp, body := admin.get(csvURL)
				if resp.StatusCode != http.StatusOK || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/csv") {
					t.Fatalf("CSV: %d %s", resp.StatusCode, resp.Header.Get("Content-Type"))
				}
				recs, err := csv.NewReader(strings.NewReader(body)).ReadAll()
				if err != nil {
					t.Fatal(err)
				}
				if len(recs) != len(rep.Groups)+1 || recs[0][0] != "group" || recs[0][3] != "cost" {
					t.Fatalf("CSV has %d records for %d groups; header %v", len(recs), len(rep.Groups), recs[0])
				}
				var sum money.Decimal
				for i, rec := range recs[1:] {
					sameDecimal(t, "CSV "+rec[0], rec[3], rep.Groups[i].Cost)
					sum = sum.Add(dec(t, rec[3]))
				}
				sameDecimal(t, "CSV total", sum.String(), rep.Total)
			}
			// Bad queries are 400 pages.
			for _, q := range []string{"from=2026-13-01", "from=2026-11-10&to=2026-11-01", "groupBy=nope", "groupBy=tag", "from=2024-01-01&to=2026-01-01"} {
				if resp, _ := admin.get(base + "/usage?" + q); resp.StatusCode != http.StatusBadRequest {
					t.Errorf("usage?%s: %d, want 400", q, resp.StatusCode)
				}
			}
			// The default range is the current period so far.
			page := admin.page(base + "/usage")
			if !strings.Contains(page, `name="from" value="2026-11-01"`) || !strings.Contains(page, `name="to" value="2026-11-20"`) {
				t.Error("default range is not the current period")
			}
		})

		t.Run("invoices", func(t *testing.T) {
			page := admin.page(base + "/invoices")
			invs, err := srv.Invoicing.Invoices(ctx, sub)
			if err != nil {
				t.Fatal(err)
			}
			rows := invoiceRE.FindAllStringSubmatch(page, -1)
			if len(rows) != len(invs) || len(rows) == 0 {
				t.Fatalf("%d invoice rows, %d invoices", len(rows), len(invs))
			}
			inv := invs[0]
			// The total equals the invoice API's.
			var api struct {
				Properties struct {
					TotalAmount struct{ Value json.Number } `json:"totalAmount"`
				} `json:"properties"`
			}
			getJSON(t, srv, "/providers/Microsoft.Billing/billingAccounts/"+contosoAcct+"/billingSubscriptions/"+sub+"/invoices/"+inv.Name+"?api-version=2024-04-01", &api)
			rowTotal := attr(t, page[strings.Index(page, `data-invoice="`+inv.Name+`"`):], `data-cost=`, "data-cost")
			sameDecimal(t, "invoice total", rowTotal, api.Properties.TotalAmount.Value.String())
			sameDecimal(t, "invoice total (service)", rowTotal, inv.Total.String())

			detail := admin.page(base + "/invoices/" + inv.Name)
			if !strings.Contains(detail, `id="invoice-lines"`) || !strings.Contains(detail, `id="invoice-pdf"`) {
				t.Fatal("invoice page lacks its lines or PDF link")
			}
			full, err := srv.Invoicing.Invoice(ctx, inv.Name)
			if err != nil {
				t.Fatal(err)
			}
			lines := regexp.MustCompile(`<tr data-cost="([^"]+)"><th scope="row">`).FindAllStringSubmatch(detail, -1)
			if len(lines) != len(full.Lines) {
				t.Errorf("%d lines shown, %d on the invoice", len(lines), len(full.Lines))
			}
			var sum money.Decimal
			for _, l := range lines {
				sum = sum.Add(dec(t, l[1]))
			}
			sameDecimal(t, "lines", sum.String(), full.SubTotal.String())
			sameDecimal(t, "detail total", attr(t, detail, `id="invoice-total"`, "data-cost"), full.Total.String())

			// The PDF: exactly the stored bytes.
			pdfURL := attr(t, detail, `id="invoice-pdf"`, "href")
			resp, body := admin.get(pdfURL)
			stored, err := srv.Invoicing.PDF(ctx, inv.Name)
			if err != nil {
				t.Fatal(err)
			}
			if resp.StatusCode != http.StatusOK || resp.Header.Get("Content-Type") != "application/pdf" ||
				!strings.HasPrefix(resp.Header.Get("Content-Disposition"), "attachment") || !bytes.Equal([]byte(body), stored) {
				t.Fatalf("PDF: %d %v, %d bytes (stored %d)", resp.StatusCode, resp.Header, len(body), len(stored))
			}
			// Another subscription's invoice under this one: 404.
			other, err := srv.Invoicing.Invoices(ctx, demo.SubContosoDevTest)
			if err != nil || len(other) == 0 {
				t.Fatalf("dev/test invoices: %v %v", other, err)
			}
			if resp, _ := admin.get(base + "/invoices/" + other[0].Name + "/pdf"); resp.StatusCode != http.StatusNotFound {
				t.Errorf("another subscription's PDF: %d", resp.StatusCode)
			}
			if resp, _ := admin.get(base + "/invoices/NOPE-000001"); resp.StatusCode != http.StatusNotFound {
				t.Errorf("unknown invoice: %d", resp.StatusCode)
			}

			// A credit note is listed and links to what it corrects.
			cn, err := srv.Invoicing.IssueCreditNote(ctx, reckontest.OperatorID, inv.Name, "Goodwill", []invoicing.Line{
				{Kind: invoicing.LineCorrection, Description: "Goodwill credit", Quantity: money.DecimalFromInt(1), Amount: money.DecimalFromInt(5)}})
			if err != nil {
				t.Fatal(err)
			}
			page = admin.page(base + "/invoices")
			i := strings.Index(page, `data-invoice="`+cn.Name+`"`)
			if i < 0 || !strings.Contains(page[i:i+200], `class="credit-note"`) || !strings.Contains(page[i:i+800], `href="`+base+`/invoices/`+inv.Name+`"`) {
				t.Errorf("credit note %s not listed with a link to %s", cn.Name, inv.Name)
			}
			detail = admin.page(base + "/invoices/" + inv.Name)
			if !strings.Contains(detail, cn.Name) {
				t.Error("the corrected invoice does not list its credit note")
			}
		})

		t.Run("ratecard", func(t *testing.T) {
			page := admin.page(base + "/ratecard")
			view, err := srv.Catalog.RateCard(ctx, catalog.RateCardQuery{OfferDurableID: "MS-AZR-0003P", Currency: "USD", Locale: "en-US", RegionInfo: "US"}, testNow)
			if err != nil {
				t.Fatal(err)
			}
			if !strings.Contains(page, `id="ratecard-params"`) || !strings.Contains(page, "MS-AZR-0003P") || !strings.Contains(page, `id="meter-search"`) {
				t.Error("rate card lacks its parameters or search")
			}
			rows := meterRowRE.FindAllStringSubmatch(page, -1)
			if len(rows) != len(view.Meters) || len(rows) == 0 {
				t.Fatalf("%d meter rows, %d meters", len(rows), len(view.Meters))
			}
			// Sorted by price, descending.
			rows = meterRowRE.FindAllStringSubmatch(admin.page(base+"/ratecard?sort=price&dir=desc"), -1)
			for i := 1; i < len(rows); i++ {
				if dec(t, rows[i-1][2]).Cmp(dec(t, rows[i][2])) < 0 {
					t.Fatalf("not sorted by price: %s before %s", rows[i-1][2], rows[i][2])
				}
			}
			// Search.
			m := view.Meters[0]
			word := strings.Fields(m.MeterName)[0]
			rows = meterRowRE.FindAllStringSubmatch(admin.page(base+"/ratecard?q="+url.QueryEscape(word)), -1)
			want := 0
			for _, x := range view.Meters {
				if strings.Contains(strings.ToLower(x.MeterName+"|"+x.MeterCategory+"|"+x.MeterSubCategory+"|"+x.MeterRegion+"|"+x.MeterID), strings.ToLower(word)) {
					want++
				}
			}
			if len(rows) != want || want == 0 || want == len(view.Meters) && len(view.Meters) > 5 {
				t.Errorf("search %q: %d rows, want %d of %d", word, len(rows), want, len(view.Meters))
			}
		})

		t.Run("access and opt-in", func(t *testing.T) {
			reader := newBrowser(t, srv)
			reader.signIn(userReader, password)
			// Before the opt-in the reader sees no invoice.
			page := reader.page(base + "/invoices")
			if !strings.Contains(page, `id="invoices-hidden"`) || strings.Contains(page, `id="invoice-table"`) {
				t.Fatal("reader sees invoices before the opt-in")
			}
			invs, _ := srv.Invoicing.Invoices(ctx, sub)
			if resp, _ := reader.get(base + "/invoices/" + invs[0].Name + "/pdf"); resp.StatusCode != http.StatusForbidden {
				t.Errorf("reader's PDF before opt-in: %d", resp.StatusCode)
			}
			// The reader may not open the access page nor post to it.
			if resp, body := reader.get(base + "/access"); resp.StatusCode != http.StatusForbidden || !strings.Contains(body, `id="forbidden"`) {
				t.Errorf("reader's access page: %d", resp.StatusCode)
			}
			if resp, _ := reader.post(base+"/access", url.Values{"csrf": {csrfOf(t, page)}, "optIn": {"1"}}); resp.StatusCode != http.StatusForbidden {
				t.Errorf("reader's opt-in: %d", resp.StatusCode)
			}
			if strings.Contains(page, `id="nav-access"`) {
				t.Error("the reader's nav links to Access")
			}
			// The admin opts in.
			acc := admin.page(base + "/access")
			for _, id := range []string{`id="invoice-access-form"`, `id="opt-in"`, `id="opt-in-save"`, `id="role-assignments"`, userReader, userAdmin} {
				if !strings.Contains(acc, id) {
					t.Errorf("access page lacks %s", id)
				}
			}
			if strings.Contains(acc, `id="opt-in" value="1" checked`) {
				t.Error("opt-in checked before it was set")
			}
			if resp, body := admin.post(base+"/access", url.Values{"optIn": {"1"}}); resp.StatusCode != http.StatusForbidden || !strings.Contains(body, `id="csrf-error"`) {
				t.Fatalf("opt-in without csrf: %d", resp.StatusCode)
			}
			if on, _ := srv.Invoicing.InvoiceAccess(ctx, sub); on {
				t.Fatal("a refused form changed the opt-in")
			}
			resp, _ := admin.post(base+"/access", url.Values{"csrf": {csrfOf(t, acc)}, "optIn": {"1"}})
			if resp.StatusCode != http.StatusSeeOther {
				t.Fatalf("opt-in: %d", resp.StatusCode)
			}
			if !strings.Contains(admin.page(base+"/access"), `id="opt-in" value="1" checked`) {
				t.Error("opt-in not checked after saving")
			}
			page = reader.page(base + "/invoices")
			if strings.Contains(page, `id="invoices-hidden"`) || len(invoiceRE.FindAllString(page, -1)) != len(invs) {
				t.Fatal("reader does not see the invoices after the opt-in")
			}
			if !hasEventDetail(mustAudit(t, e), "invoiceAccess.put", userAdmin, "enabled=true") {
				t.Error("the opt-in is not audited")
			}
			// And out again.
			admin.post(base+"/access", url.Values{"csrf": {csrfOf(t, acc)}})
			if !strings.Contains(reader.page(base+"/invoices"), `id="invoices-hidden"`) {
				t.Error("reader still sees invoices after the opt-out")
			}
		})

		t.Run("refusals", func(t *testing.T) {
			reader := newBrowser(t, srv)
			reader.signIn(userReader, password)
			page := reader.page(base + "/overview")
			// The switcher lists only what the reader may read.
			if strings.Count(page, "<option value=") != 1 || strings.Contains(page, demo.SubFabrikam) {
				t.Error("the reader's switcher lists other subscriptions")
			}
			fab := "/portal/subscriptions/" + demo.SubFabrikam
			for _, p := range []string{"/overview", "/usage", "/usage.csv", "/invoices", "/ratecard", "/access"} {
				if resp, body := reader.get(fab + p); resp.StatusCode != http.StatusForbidden || !strings.Contains(body, `id="forbidden"`) {
					t.Errorf("another tenant's %s: %d", p, resp.StatusCode)
				}
			}
			unknown := "/portal/subscriptions/99999999-0d0d-4d0d-8d0d-0d0d0d0d0001/overview"
			if resp, _ := reader.get(unknown); resp.StatusCode != http.StatusForbidden {
				t.Errorf("reader, unknown subscription: %d", resp.StatusCode)
			}
			for _, p := range []string{"/portal/operator", "/portal/operator/subscriptions", "/portal/operator/principals", "/portal/operator/imports", "/portal/operator/ingestion"} {
				if resp, _ := reader.get(p); resp.StatusCode != http.StatusForbidden {
					t.Errorf("reader, %s: %d", p, resp.StatusCode)
				}
			}
			ops := newBrowser(t, srv)
			ops.signIn(userOps, password)
			if resp, body := ops.get(unknown); resp.StatusCode != http.StatusNotFound || !strings.Contains(body, `id="not-found"`) {
				t.Errorf("operator, unknown subscription: %d", resp.StatusCode)
			}
			// The account admin reads both Contoso subscriptions, not Fabrikam.
			resp, _ := admin.get("/portal/switch?subscription=" + demo.SubContosoDevTest + "&page=usage")
			if want := "/portal/subscriptions/" + demo.SubContosoDevTest + "/usage"; resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != want {
				t.Errorf("switch: %d %q", resp.StatusCode, resp.Header.Get("Location"))
			}
			admin.page("/portal/subscriptions/" + demo.SubContosoDevTest + "/usage")
			if resp, _ := admin.get(fab + "/overview"); resp.StatusCode != http.StatusForbidden {
				t.Errorf("admin, another account's subscription: %d", resp.StatusCode)
			}
		})

		t.Run("locale", func(t *testing.T) {
			fab := newBrowser(t, srv)
			fab.signIn(userFab, password)
			// Fabrikam bills in EUR with locale de-DE: without
			// Accept-Language the page is German-formatted.
			page := fab.page("/portal/subscriptions/" + demo.SubFabrikam + "/overview")
			text := regexp.MustCompile(`id="cost-to-date"[^>]*>([^<]+)<`).FindStringSubmatch(page)
			if text == nil || !regexp.MustCompile(`^-?[0-9.]+,[0-9]{2}\x{a0}€$`).MatchString(text[1]) {
				t.Errorf("de-DE cost to date %q", text)
			}
			fab.lang = "en-US,en;q=0.8"
			page = fab.page("/portal/subscriptions/" + demo.SubFabrikam + "/overview")
			text = regexp.MustCompile(`id="cost-to-date"[^>]*>([^<]+)<`).FindStringSubmatch(page)
			if text == nil || !regexp.MustCompile(`^-?€[0-9,]+\.[0-9]{2}$`).MatchString(text[1]) {
				t.Errorf("en-US cost to date %q", text)
			}
		})

		t.Run("operator", func(t *testing.T) {
			ops := newBrowser(t, srv)
			ops.signIn(userOps, password)
			subs := ops.page("/portal/operator/subscriptions")
			if strings.Count(subs, "<tr data-subscription=") != 4 || !strings.Contains(subs, `id="operator-subscriptions"`) {
				t.Error("operator subscriptions table")
			}
			ps := ops.page("/portal/operator/principals")
			for _, want := range []string{`id="operator-principals"`, `id="operator-assignments"`, `data-principal="` + userReader + `"`, `data-role="Account Admin"`} {
				if !strings.Contains(ps, want) {
					t.Errorf("principals page lacks %s", want)
				}
			}
			imports := ops.page("/portal/operator/imports")
			if !strings.Contains(imports, `id="catalog-imports"`) || strings.Count(imports, "<tr data-version=") != len(e.sum.Imports) {
				t.Errorf("imports page: %d rows, %d imports", strings.Count(imports, "<tr data-version="), len(e.sum.Imports))
			}
			// Ingestion: a bad record shows up with its code.
			e.clock.Advance(time.Minute) // past the demo load's minute
			meters, err := srv.Catalog.Meters(ctx)
			if err != nil || len(meters) == 0 {
				t.Fatalf("meters: %v", err)
			}
			res, body := srv.Do(t, http.MethodPost, "/metering/v1/usage", srv.IngestToken,
				`[{"id":"portal-bad-1","subscriptionId":"`+demo.SubNorthwind+`","meterId":"00000000-0000-4000-8000-00000000dead","quantity":"1",`+
					`"usageStartTime":"2026-11-20T08:00:00Z","usageEndTime":"2026-11-20T09:00:00Z"},`+
					`{"id":"portal-good-1","subscriptionId":"`+demo.SubNorthwind+`","meterId":"`+meters[0].MeterID+`","quantity":"2.5",`+
					`"usageStartTime":"2026-11-20T08:00:00Z","usageEndTime":"2026-11-20T09:00:00Z"}]`)
			if res.StatusCode >= 300 && res.StatusCode != http.StatusMultiStatus {
				t.Fatalf("ingest answered %d %s", res.StatusCode, body)
			}
			ing := ops.page("/portal/operator/ingestion")
			for _, want := range []string{`id="ingest-rate"`, `id="recent-records"`, `id="recent-rejections"`} {
				if !strings.Contains(ing, want) {
					t.Errorf("ingestion page lacks %s", want)
				}
			}
			rej := ing[strings.Index(ing, `id="recent-rejections"`):]
			if !strings.Contains(rej, "portal-bad-1") || !strings.Contains(rej, `data-code="MeterNotFound"`) || strings.Contains(rej, "portal-good-1") {
				t.Errorf("the rejected record is not (alone) on the ingestion page's rejections")
			}
			recent := ing[strings.Index(ing, `id="recent-records"`):strings.Index(ing, `id="recent-rejections"`)]
			if !strings.Contains(recent, `data-record="portal-good-1"`) || strings.Contains(recent, "portal-bad-1") || !strings.Contains(recent, ">2.5<") {
				t.Errorf("the accepted record is not (alone) among the recent records")
			}
			if got := attr(t, ing, `id="ingest-rate"`, "data-per-minute"); got != "1" {
				t.Errorf("ingest rate %q; want 1 record this minute", got)
			}
			ops.page("/portal/operator")
		})
	})
}

func hasEventDetail(events []authEvent, action, actor, detail string) bool {
	for _, ev := range events {
		if ev.Action == action && ev.Actor == actor && strings.Contains(ev.Detail, detail) {
			return true
		}
	}
	return false
}

var _ = auth.RoleReader
