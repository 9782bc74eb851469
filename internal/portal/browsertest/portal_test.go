package browsertest

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/browser"
	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/chromedp"

	"github.com/reckon-billing/reckon/internal/demo"
	"github.com/reckon-billing/reckon/internal/invoicing"
	"github.com/reckon-billing/reckon/internal/money"
	"github.com/reckon-billing/reckon/internal/reckontest"
)

// TestPortal runs the browser flows over a world (the demo data with
// closed periods) on SQLite, and takes the screenshots. With PostgreSQL
// configured, the flows whose state lives in the store (sessions, the
// opt-in) and the chart's numbers run over a PostgreSQL world too; the
// portal's other logic does not depend on the store, and the portal's own
// tests cover both stores. The subtests share their world, in this order;
// the opt-in subtest leaves the opt-in as it found it.
func TestPortal(t *testing.T) {
	needBrowser(t)
	reckontest.ForEachBackend(t, func(t *testing.T, be reckontest.Backend) {
		w := newWorld(t, be)
		all := be == reckontest.SQLite
		t.Run("SignInOverviewChart", func(t *testing.T) { testSignInOverview(t, w) })
		if all {
			t.Run("SubscriptionSwitcher", func(t *testing.T) { testSwitcher(t, w) })
			t.Run("UsageExplorer", func(t *testing.T) { testUsageExplorer(t, w) })
			t.Run("InvoicePDF", func(t *testing.T) { testInvoicePDF(t, w) })
		}
		t.Run("InvoiceOptIn", func(t *testing.T) { testInvoiceOptIn(t, w) })
		if all {
			t.Run("OtherTenantRefused", func(t *testing.T) { testOtherTenant(t, w) })
			t.Run("CSRFRefused", func(t *testing.T) { testCSRF(t, w) })
		}
		t.Run("SignOut", func(t *testing.T) { testSignOut(t, w) })
		if all {
			t.Run("RateCard", func(t *testing.T) { testRateCard(t, w) })
			t.Run("OperatorPages", func(t *testing.T) { testOperatorPages(t, w) })
			t.Run("Keyboard", func(t *testing.T) { testKeyboard(t, w) })
			t.Run("Screenshots", func(t *testing.T) { testScreenshots(t, w) })
		}
	})
}

// overviewPath is the overview of a subscription.
func overviewPath(sub string) string { return "/portal/subscriptions/" + sub + "/overview" }

// bar is a segment of the daily cost chart.
type bar struct {
	Day      string `json:"day"`
	Category string `json:"category"`
	Cost     string `json:"cost"`
}

// chartBars reads the bars of the overview's daily cost chart.
func chartBars(b *tab) []bar {
	b.t.Helper()
	b.must("svg#daily-cost-chart")
	return eval[[]bar](b, `[...document.querySelectorAll('#daily-cost-chart rect.bar')].map(r => ({
		day: r.getAttribute('data-day') || '', category: r.getAttribute('data-category') || '', cost: r.getAttribute('data-cost') || ''}))`)
}

// checkChart checks the bars of the daily cost chart against the API's
// cost report over the days they cover: the cost per meter category and
// the total are equal, and the days are consecutive, wantDays of them at
// most, ending today or yesterday.
func checkChart(t *testing.T, w *world, b *tab, sub string, wantDays int) {
	t.Helper()
	bars := chartBars(b)
	if len(bars) == 0 {
		t.Fatalf("the daily cost chart of %s has no bars", sub)
	}
	days := map[string]bool{}
	perCategory := map[string]money.Decimal{}
	var total money.Decimal
	for _, br := range bars {
		if _, err := time.Parse(time.DateOnly, br.Day); err != nil || br.Category == "" {
			t.Fatalf("bar %+v: bad data-day or no data-category", br)
		}
		days[br.Day] = true
		c := mustDecimal(t, br.Cost)
		perCategory[br.Category] = perCategory[br.Category].Add(c)
		total = total.Add(c)
	}
	var sorted []string
	for d := range days {
		sorted = append(sorted, d)
	}
	slices.Sort(sorted)
	first, _ := time.Parse(time.DateOnly, sorted[0])
	last, _ := time.Parse(time.DateOnly, sorted[len(sorted)-1])
	span := int(last.Sub(first).Hours()/24) + 1
	if span > wantDays || span != len(sorted) {
		t.Errorf("chart days %s..%s: %d days with bars over a span of %d; want consecutive days, at most %d", sorted[0], sorted[len(sorted)-1], len(sorted), span, wantDays)
	}
	today := w.now.Truncate(24 * time.Hour)
	if last.Before(today.AddDate(0, 0, -1)) || last.After(today) {
		t.Errorf("the chart's last day is %s; want today or yesterday (now %s)", sorted[len(sorted)-1], w.now.Format(time.RFC3339))
	}
	// The demo has 60 days of usage: a 30-day chart is full.
	if min(wantDays, demo.Days-1) > len(sorted)+1 {
		t.Errorf("the chart has %d days with cost; want about %d", len(sorted), min(wantDays, demo.Days))
	}
	rep := w.costReport(t, sub, sorted[0], last.AddDate(0, 0, 1).Format(time.DateOnly), "meterCategory")
	if d := diffCosts(perCategory, rep.groups(t)); d != "" {
		t.Errorf("chart cost per meter category over %s..%s differs from the API's cost report:\n%s", sorted[0], sorted[len(sorted)-1], d)
	}
	if total.Cmp(rep.total(t)) != 0 || total.Sign() <= 0 {
		t.Errorf("chart total %s over %s..%s, API total %s", total, sorted[0], sorted[len(sorted)-1], rep.total(t))
	}
	t.Logf("%s chart: %d bars over %d days (%s..%s), total %s %s = API", sub, len(bars), len(sorted), sorted[0], sorted[len(sorted)-1], total, rep.Currency)
}

// testSignInOverview: a wrong secret gets the form again (401,
// signin-error); the right one lands on the reader's first subscription's
// overview, whose daily cost chart adds up to the API's cost for the days
// it shows, for 30 and 90 days.
func testSignInOverview(t *testing.T, w *world) {
	b := newTab(t, w.srv.URL, "reader")
	if st := b.open("/portal"); st != http.StatusOK || !strings.HasPrefix(b.path(), "/portal/signin") {
		t.Errorf("GET /portal signed out: status %d at %s; want the sign-in page", st, b.path())
	}
	if st := b.signIn(readerID, "wrong-password-0000"); st != http.StatusUnauthorized {
		t.Errorf("wrong password: status %d, want 401", st)
	}
	b.must("#signin-error")
	b.must("form#signin-form")
	if got := b.cookie("reckon_session"); got != "" {
		t.Errorf("a failed sign-in set a session cookie")
	}

	if st := b.signInTyping(readerID, readerPassword); st != http.StatusOK {
		t.Fatalf("sign in: status %d at %s", st, b.path())
	}
	// The reader's subscriptions are Contoso's two; the first one is
	// either, depending on the portal's order.
	p := b.path()
	sub := ""
	for _, s := range []string{demo.SubContosoProd, demo.SubContosoDevTest} {
		if strings.HasPrefix(p, overviewPath(s)) {
			sub = s
		}
	}
	if sub == "" {
		t.Fatalf("after sign-in at %s; want the overview of one of the reader's subscriptions", p)
	}
	if who := b.text("#whoami"); !strings.Contains(who, readerName) && !strings.Contains(who, readerID) {
		t.Errorf("#whoami is %q; want the reader's name", who)
	}
	if c := b.cookie("reckon_session"); c == "" {
		t.Errorf("no reckon_session cookie after sign-in")
	}
	for _, id := range []string{"cost-to-date", "forecast", "last-invoice", "top-resource-groups", "top-tags", "top-meters", "nav", "main"} {
		b.must("#" + id)
	}
	if label := eval[string](b, `document.getElementById('daily-cost-chart')?.getAttribute('aria-label') || ''`); label == "" {
		t.Errorf("the daily cost chart has no aria-label")
	}
	checkChart(t, w, b, sub, 30)

	if st := b.click("range-90"); st != http.StatusOK {
		t.Fatalf("range-90: status %d", st)
	}
	if !strings.Contains(b.path(), "days=90") {
		t.Errorf("range-90 went to %s; want ?days=90", b.path())
	}
	checkChart(t, w, b, sub, 90)
	if st := b.click("range-30"); st != http.StatusOK || !strings.Contains(b.path(), "days=30") {
		t.Errorf("range-30: status %d at %s", st, b.path())
	}
}

// testSwitcher: the subscription switcher lists the reader's readable
// subscriptions and nothing else; choosing the other one (the on-change
// script, then the Go button that works without script) shows its
// overview; /portal/switch keeps the page.
func testSwitcher(t *testing.T, w *world) {
	b := newTab(t, w.srv.URL, "reader")
	if st := b.signIn(readerID, readerPassword); st != http.StatusOK {
		t.Fatalf("sign in: status %d", st)
	}
	opts := eval[[]string](b, `[...document.querySelectorAll('#subscription-select option')].map(o => o.value)`)
	slices.Sort(opts)
	want := []string{demo.SubContosoProd, demo.SubContosoDevTest}
	slices.Sort(want)
	if !slices.Equal(opts, want) {
		t.Errorf("switcher options %v; want the reader's subscriptions %v", opts, want)
	}
	b.open(overviewPath(demo.SubContosoProd))
	h1Prod := b.text("main h1, h1")
	// Choosing another subscription submits the switcher (its script).
	st := b.navigate("choose Dev/Test in the switcher", chromedp.Evaluate[chromedp.Void](fmt.Sprintf(
		`(() => { const s = document.getElementById('subscription-select'); s.value = %q; s.dispatchEvent(new Event('change', {bubbles: true})); })()`,
		demo.SubContosoDevTest)))
	if p := b.path(); st != http.StatusOK || !strings.HasPrefix(p, overviewPath(demo.SubContosoDevTest)) {
		t.Errorf("after switching to Dev/Test: status %d at %s, want %s", st, p, overviewPath(demo.SubContosoDevTest))
	}
	h1Dev := b.text("main h1, h1")
	if h1Dev == h1Prod {
		t.Errorf("the h1 did not change when switching: %q", h1Dev)
	}
	if sel := eval[string](b, `document.getElementById('subscription-select').value`); sel != demo.SubContosoDevTest {
		t.Errorf("the switcher shows %s on Dev/Test's overview", sel)
	}
	checkChart(t, w, b, demo.SubContosoDevTest, 30)

	// Without the script, the Go button submits it (the script hides
	// the button; show it as a page without script would).
	b.must("#subscription-go")
	b.do(chromedp.Evaluate[chromedp.Void](fmt.Sprintf(`(() => { const g = document.getElementById('subscription-go');
		g.classList.remove('js-hidden'); g.hidden = false; g.style.display = 'inline-block';
		document.getElementById('subscription-select').value = %q; })()`, demo.SubContosoProd)))
	if st := b.click("subscription-go"); st != http.StatusOK || !strings.HasPrefix(b.path(), overviewPath(demo.SubContosoProd)) {
		t.Errorf("the switcher's Go button: status %d at %s; want %s", st, b.path(), overviewPath(demo.SubContosoProd))
	}
	if h := b.text("main h1, h1"); h != h1Prod {
		t.Errorf("back on Production: h1 %q, want %q", h, h1Prod)
	}

	// The switch keeps the page.
	st = b.open("/portal/switch?subscription=" + demo.SubContosoDevTest + "&page=usage")
	if p := b.path(); st != http.StatusOK || !strings.HasPrefix(p, "/portal/subscriptions/"+demo.SubContosoDevTest+"/usage") {
		t.Errorf("/portal/switch?page=usage: status %d at %s", st, p)
	}
}

// usageRow is a row of the usage table.
type usageRow struct {
	Group string `json:"group"`
	Cost  string `json:"cost"`
	Shown string `json:"shown"`
}

// testUsageExplorer: filtering the usage explorer by range and grouping
// gives the API's cost report for the same range and grouping, row by row
// and in total; the CSV link downloads the same groups and total.
func testUsageExplorer(t *testing.T, w *world) {
	b := newTab(t, w.srv.URL, "operator")
	if st := b.signIn(reckontest.OperatorID, reckontest.OperatorSecret); st != http.StatusOK {
		t.Fatalf("sign in: status %d", st)
	}
	sub := demo.SubContosoProd
	usage := "/portal/subscriptions/" + sub + "/usage"
	if st := b.open(usage); st != http.StatusOK {
		t.Fatalf("GET %s: status %d", usage, st)
	}
	for _, sel := range []string{"form#usage-filter", "svg#usage-chart", "table#usage-table", "#usage-total", "#usage-csv",
		"#usage-filter input[name=from]", "#usage-filter input[name=to]", "#usage-filter select[name=groupBy]", "#usage-filter input[name=tagKey]"} {
		b.must(sel)
	}
	today := w.now.Truncate(24 * time.Hour)
	cases := []struct {
		from, to        time.Time
		groupBy, tagKey string
		api             string // the cost report's groupBy
	}{
		{today.AddDate(0, 0, -20), today.AddDate(0, 0, -6), "resourceGroup", "", "resourceGroup"},
		{today.AddDate(0, 0, -40), today.AddDate(0, 0, -1), "meter", "", "meter"},
		{today.AddDate(0, 0, -14), today.AddDate(0, 0, -2), "tag", "costCenter", "tag:costCenter"},
	}
	for _, c := range cases {
		from, to := c.from.Format(time.DateOnly), c.to.Format(time.DateOnly)
		b.setValue("#usage-filter input[name=from]", from)
		b.setValue("#usage-filter input[name=to]", to)
		b.setValue("#usage-filter select[name=groupBy]", c.groupBy)
		b.setValue("#usage-filter input[name=tagKey]", c.tagKey)
		if st := b.click("usage-apply"); st != http.StatusOK {
			t.Fatalf("apply %s..%s by %s: status %d; %.300s", from, to, c.groupBy, st, b.text("main"))
		}
		q, err := url.Parse(b.path())
		if err != nil || q.Query().Get("from") != from || q.Query().Get("to") != to || q.Query().Get("groupBy") != c.groupBy {
			t.Errorf("after apply at %s; want from=%s to=%s groupBy=%s", b.path(), from, to, c.groupBy)
		}
		rows := eval[[]usageRow](b, `[...document.querySelectorAll('#usage-table tbody tr[data-group]')].map(r => ({
			group: r.getAttribute('data-group'), cost: r.getAttribute('data-cost') || '',
			shown: (r.querySelector('.cost') || {textContent: ''}).textContent.trim()}))`)
		if len(rows) == 0 {
			t.Errorf("%s..%s by %s: the usage table has no rows", from, to, c.groupBy)
			continue
		}
		got := map[string]money.Decimal{}
		var sum money.Decimal
		for _, r := range rows {
			if r.Shown == "" {
				t.Errorf("row %q has no .cost cell", r.Group)
			}
			d := mustDecimal(t, r.Cost)
			got[r.Group] = got[r.Group].Add(d)
			sum = sum.Add(d)
		}
		total := mustDecimal(t, eval[string](b, `document.getElementById('usage-total').getAttribute('data-cost') || ''`))
		if total.Cmp(sum) != 0 {
			t.Errorf("%s..%s by %s: usage-total %s, rows add up to %s", from, to, c.groupBy, total, sum)
		}
		// The contract does not say whether "to" is inclusive; the API's
		// is exclusive. The page must match the API over one of the two.
		rep := w.costReport(t, sub, from, to, c.api)
		semantics := "to exclusive"
		if diffCosts(got, rep.groups(t)) != "" {
			incl := w.costReport(t, sub, from, c.to.AddDate(0, 0, 1).Format(time.DateOnly), c.api)
			if diffCosts(got, incl.groups(t)) == "" {
				rep, semantics = incl, "to inclusive"
			}
		}
		if d := diffCosts(got, rep.groups(t)); d != "" {
			t.Errorf("usage table %s..%s by %s differs from the API's cost report [from, to):\n%s", from, to, c.groupBy, d)
		}
		if total.Cmp(rep.total(t)) != 0 {
			t.Errorf("usage total %s, API %s", total, rep.total(t))
		}
		t.Logf("usage %s..%s by %s (%s): %d rows, total %s = API", from, to, c.groupBy, semantics, len(rows), total)

		// The CSV of the same query, fetched by the page with its session.
		href := eval[string](b, `document.getElementById('usage-csv').href`)
		hu, err := url.Parse(href)
		if err != nil || !strings.HasSuffix(hu.Path, "/usage.csv") || hu.Query().Get("from") != from || hu.Query().Get("to") != to ||
			hu.Query().Get("groupBy") != c.groupBy {
			t.Errorf("usage-csv links to %s; want usage.csv with the same query", href)
		}
		type csvAnswer struct {
			Status int    `json:"status"`
			Type   string `json:"type"`
			Body   string `json:"body"`
		}
		res := eval[csvAnswer](b, `fetch(document.getElementById('usage-csv').href).then(async r => ({status: r.status, type: r.headers.get('Content-Type') || '', body: await r.text()}))`)
		if res.Status != http.StatusOK || !strings.HasPrefix(res.Type, "text/csv") {
			t.Errorf("CSV: status %d, Content-Type %q", res.Status, res.Type)
			continue
		}
		csvTotal, n := csvCostTotal(t, res.Body)
		if csvTotal.Cmp(total) != 0 || n != len(rows) {
			t.Errorf("CSV: %d rows totalling %s; the table has %d rows totalling %s\n%.400s", n, csvTotal, len(rows), total, res.Body)
		}
	}
}

// testInvoicePDF: the invoice list shows the subscription's invoices and
// credit notes (the credit note linked to what it corrects); an invoice's
// page has its lines; its PDF downloaded by the browser is byte for byte
// the one the Billing API serves.
func testInvoicePDF(t *testing.T, w *world) {
	b := newTab(t, w.srv.URL, "admin")
	if st := b.signIn(adminID, adminSecret); st != http.StatusOK {
		t.Fatalf("sign in: status %d at %s", st, b.path())
	}
	sub := demo.SubContosoProd
	list := "/portal/subscriptions/" + sub + "/invoices"
	if st := b.open(list); st != http.StatusOK {
		t.Fatalf("GET %s: status %d", list, st)
	}
	b.must("table#invoice-table")
	if b.has("#invoices-hidden") {
		t.Errorf("the account admin sees #invoices-hidden")
	}
	shown := eval[[]string](b, `[...document.querySelectorAll('#invoice-table tr[data-invoice]')].map(r => r.getAttribute('data-invoice'))`)
	var want []string
	var inv invoicing.Invoice
	for _, i := range w.invoices[sub] {
		want = append(want, i.Name)
		if i.Kind == invoicing.KindInvoice && inv.Name == "" {
			inv = i
		}
	}
	if !slices.Equal(sortedCopy(shown), sortedCopy(want)) {
		t.Errorf("invoice rows %v; want %v", shown, want)
	}
	// The credit note links to the invoice it corrects.
	cn := w.creditNote
	links := eval[[]string](b, fmt.Sprintf(`[...document.querySelectorAll('#invoice-table tr[data-invoice=%q] .credit-note, #invoice-table tr[data-invoice=%q].credit-note a')].flatMap(e => e.tagName === 'A' ? [e.getAttribute('href')] : [...e.querySelectorAll('a')].map(a => a.getAttribute('href')).concat(e.getAttribute('href') ? [e.getAttribute('href')] : []))`, cn.Name, cn.Name))
	wantLink := "/portal/subscriptions/" + sub + "/invoices/" + cn.Corrects
	if !slices.ContainsFunc(links, func(h string) bool { return strings.HasSuffix(h, wantLink) }) {
		t.Errorf("credit note %s: .credit-note links %v; want one to %s", cn.Name, links, wantLink)
	}

	// Open the newest invoice from the list.
	detail := "/portal/subscriptions/" + sub + "/invoices/" + inv.Name
	st := b.navigate("open invoice "+inv.Name, chromedp.Click(chromedp.CSS(fmt.Sprintf(`#invoice-table tr[data-invoice=%q] a[href$=%q]`, inv.Name, inv.Name)), chromedp.NodeVisible))
	if st != http.StatusOK || b.path() != detail {
		t.Fatalf("open invoice %s: status %d at %s; want %s", inv.Name, st, b.path(), detail)
	}
	b.must("table#invoice-lines")
	full, err := w.srv.Invoicing.Invoice(context.Background(), inv.Name)
	if err != nil {
		t.Fatal(err)
	}
	if n := eval[int](b, `document.querySelectorAll('#invoice-lines tbody tr').length`); n != len(full.Lines) || n == 0 {
		t.Errorf("invoice %s: %d line rows; the invoice has %d lines", inv.Name, n, len(full.Lines))
	}
	if href := eval[string](b, `document.getElementById('invoice-pdf')?.getAttribute('href') || ''`); !strings.HasSuffix(href, detail+"/pdf") {
		t.Errorf("invoice-pdf links to %q; want %s/pdf", href, detail)
	}

	// Download through the browser, into a directory of the test's.
	dir := t.TempDir()
	bctx := chromedp.FromContext(b.ctx).BrowserContextID
	if _, err := chromedp.CallBrowser(b.ctx, browser.SetDownloadBehavior, browser.SetDownloadBehaviorParams{
		Behavior: browser.SetDownloadBehaviorBehaviorAllowAndName, BrowserContextID: bctx, DownloadPath: dir, EventsEnabled: ptr(true)}); err != nil {
		t.Fatalf("download behaviour: %v", err)
	}
	ctx, cancel := b.step()
	defer cancel()
	progress := chromedp.BrowserEvents(ctx, browser.DownloadProgress)
	b.do(chromedp.Click(chromedp.ID("invoice-pdf"), chromedp.NodeVisible))
	var done *browser.EventDownloadProgress
	for ev, err := range progress {
		if err != nil {
			t.Fatalf("waiting for the PDF download: %v", err)
		}
		if ev.State == browser.DownloadProgressStateCompleted {
			done = &ev
			break
		}
		if ev.State == browser.DownloadProgressStateCanceled {
			t.Fatalf("the PDF download was canceled")
		}
	}
	file := done.FilePath
	if file == "" {
		file = filepath.Join(dir, done.GUID)
	}
	got, err := os.ReadFile(file)
	if err != nil {
		t.Fatalf("downloaded PDF: %v", err)
	}
	apiPDF := w.apiPDF(t, inv)
	if sha256Hex(got) != sha256Hex(apiPDF) || sha256Hex(got) != inv.PDFSHA256 || !strings.HasPrefix(string(got), "%PDF-") {
		t.Errorf("PDF downloaded by the browser: %d bytes sha256 %s; the API's: %d bytes sha256 %s; stored sha256 %s",
			len(got), sha256Hex(got), len(apiPDF), sha256Hex(apiPDF), inv.PDFSHA256)
	} else {
		t.Logf("PDF %s: %d bytes, sha256 %s = API", inv.Name, len(got), sha256Hex(got))
	}
	// The headers, seen by the page's own fetch.
	type head struct {
		Status      int    `json:"status"`
		Type        string `json:"type"`
		Disposition string `json:"disposition"`
	}
	h := eval[head](b, `fetch(document.getElementById('invoice-pdf').href).then(r => ({status: r.status, type: r.headers.get('Content-Type') || '', disposition: r.headers.get('Content-Disposition') || ''}))`)
	if h.Status != http.StatusOK || h.Type != "application/pdf" || !strings.HasPrefix(h.Disposition, "attachment") {
		t.Errorf("PDF answer: %+v; want 200 application/pdf attachment", h)
	}
}

// signoutButton is the sign-out form's button.
const signoutButton = "#signout-form button, #signout-form [type=submit]"

func ptr[T any](v T) *T { return &v }

func sortedCopy(s []string) []string {
	c := slices.Clone(s)
	slices.Sort(c)
	return c
}

// testInvoiceOptIn: the account admin toggles the invoice-access opt-in
// on the access page; a Reader, signed in in another browser context, sees
// the invoices exactly when auth.Grants.CanSeeInvoices says so, before and
// after each toggle. The Reader may not open the access page.
func testInvoiceOptIn(t *testing.T, w *world) {
	sub := demo.SubContosoProd
	ctx := context.Background()
	initial, err := w.srv.Invoicing.InvoiceAccess(ctx, sub)
	if err != nil {
		t.Fatal(err)
	}
	admin := newTab(t, w.srv.URL, "admin")
	if st := admin.signIn(adminID, adminSecret); st != http.StatusOK {
		t.Fatalf("admin sign in: status %d", st)
	}
	reader := newTab(t, w.srv.URL, "reader")
	if st := reader.signIn(readerID, readerPassword); st != http.StatusOK {
		t.Fatalf("reader sign in: status %d", st)
	}
	readerGrants := w.grants(t, readerID)
	access := "/portal/subscriptions/" + sub + "/access"
	invoices := "/portal/subscriptions/" + sub + "/invoices"

	if st := reader.open(access); st != http.StatusForbidden || !reader.has("#forbidden") {
		t.Errorf("the Reader opens the access page: status %d; want 403 with #forbidden", st)
	}
	if reader.has("#nav a[href$='/access']") {
		t.Errorf("the Reader's nav links to the access page")
	}

	check := func(optIn bool) {
		t.Helper()
		want := readerGrants.CanSeeInvoices(sub, contosoAccount, optIn)
		st := reader.open(invoices)
		rows := eval[[]string](reader, `[...document.querySelectorAll('#invoice-table tr[data-invoice]')].map(r => r.getAttribute('data-invoice'))`)
		hidden := reader.has("#invoices-hidden")
		if st != http.StatusOK {
			t.Errorf("opt-in %v: the Reader's invoices page answers %d", optIn, st)
		}
		if want {
			var names []string
			for _, i := range w.invoices[sub] {
				names = append(names, i.Name)
			}
			if hidden || !slices.Equal(sortedCopy(rows), sortedCopy(names)) {
				t.Errorf("opt-in %v: the Reader may see the invoices; page shows %v (invoices-hidden %v), want %v", optIn, rows, hidden, names)
			}
		} else if !hidden || len(rows) > 0 {
			t.Errorf("opt-in %v: the Reader may not see the invoices; page shows %v (invoices-hidden %v)", optIn, rows, hidden)
		}
		// The invoice page and its PDF follow the same rule.
		inv := w.invoices[sub][0]
		detail := invoices + "/" + inv.Name
		st = reader.open(detail)
		lines := reader.has("#invoice-lines")
		if want && (st != http.StatusOK || !lines) {
			t.Errorf("opt-in %v: the Reader opens %s: status %d, lines shown %v; want 200 with #invoice-lines", optIn, detail, st, lines)
		}
		if !want && (lines || st == http.StatusOK && !reader.has("#invoices-hidden")) {
			t.Errorf("opt-in %v: the Reader opens %s: status %d, lines shown %v; want a refusal (403) or #invoices-hidden", optIn, detail, st, lines)
		}
		pdf := eval[int](reader, fmt.Sprintf(`fetch(%q).then(r => r.status)`, detail+"/pdf"))
		if want && pdf != http.StatusOK || !want && pdf != http.StatusForbidden && pdf != http.StatusNotFound {
			t.Errorf("opt-in %v: the Reader GETs the PDF: status %d; want %s", optIn, pdf, map[bool]string{true: "200", false: "403 or 404"}[want])
		}
	}
	toggle := func(to bool) {
		t.Helper()
		if st := admin.open(access); st != http.StatusOK {
			t.Fatalf("admin: GET %s: status %d", access, st)
		}
		admin.must("form#invoice-access-form")
		admin.must("#role-assignments")
		checked := eval[bool](admin, `document.getElementById('opt-in').checked`)
		cur, _ := w.srv.Invoicing.InvoiceAccess(ctx, sub)
		if checked != cur {
			t.Errorf("the opt-in checkbox shows %v; the stored opt-in is %v", checked, cur)
		}
		if checked != to {
			admin.do(chromedp.Click(chromedp.ID("opt-in"), chromedp.NodeVisible))
		}
		if st := admin.click("opt-in-save"); st != http.StatusOK {
			t.Fatalf("save the opt-in: status %d; %.300s", st, admin.text("main"))
		}
		got, err := w.srv.Invoicing.InvoiceAccess(ctx, sub)
		if err != nil || got != to {
			t.Fatalf("after saving opt-in %v: stored %v (%v)", to, got, err)
		}
		admin.open(access)
		if c := eval[bool](admin, `document.getElementById('opt-in').checked`); c != to {
			t.Errorf("after saving opt-in %v the checkbox shows %v", to, c)
		}
	}
	check(initial)
	toggle(!initial)
	check(!initial)
	toggle(initial)
	check(initial)
	// The admin's own view never depends on the opt-in.
	admin.open(invoices)
	if admin.has("#invoices-hidden") {
		t.Errorf("the account admin sees #invoices-hidden")
	}
}

// testOtherTenant: the reader is refused another tenant's subscription
// (403, id=forbidden), the operator pages, and gets 404 for an unknown
// subscription.
func testOtherTenant(t *testing.T, w *world) {
	b := newTab(t, w.srv.URL, "reader")
	if st := b.signIn(readerID, readerPassword); st != http.StatusOK {
		t.Fatalf("sign in: status %d", st)
	}
	for _, page := range []string{"overview", "usage", "invoices", "ratecard", "access", "usage.csv?from=2026-01-01&to=2026-01-02&groupBy=meter"} {
		p := "/portal/subscriptions/" + demo.SubFabrikam + "/" + page
		if st := b.open(p); st != http.StatusForbidden {
			t.Errorf("reader GET %s: status %d, want 403", p, st)
		} else if !b.has("#forbidden") {
			t.Errorf("reader GET %s: 403 page without #forbidden", p)
		}
		if strings.Contains(b.text("body"), "Fabrikam") {
			t.Errorf("the refusal of %s shows the other tenant's name", p)
		}
	}
	inv := w.invoices[demo.SubFabrikam][0]
	p := "/portal/subscriptions/" + demo.SubFabrikam + "/invoices/" + inv.Name
	if st := b.open(p); st != http.StatusForbidden || !b.has("#forbidden") {
		t.Errorf("reader GET %s: status %d, want 403 with #forbidden", p, st)
	}
	// Another tenant's invoice through the reader's own subscription.
	p = "/portal/subscriptions/" + demo.SubContosoProd + "/invoices/" + inv.Name
	if st := b.open(p); st != http.StatusForbidden && st != http.StatusNotFound {
		t.Errorf("reader GET %s (Fabrikam's invoice under Contoso's subscription): status %d, want 403 or 404", p, st)
	}
	for _, p := range []string{"/portal/operator", "/portal/operator/subscriptions", "/portal/operator/principals", "/portal/operator/imports", "/portal/operator/ingestion"} {
		if st := b.open(p); st != http.StatusForbidden || !b.has("#forbidden") {
			t.Errorf("reader GET %s: status %d, want 403 with #forbidden", p, st)
		}
	}
	if b.has("#nav a[href^='/portal/operator']") {
		t.Errorf("the reader's nav links to the operator pages")
	}
	unknown := "0d0d0fff-0d0d-4d0d-8d0d-0d0d0d0d0fff"
	if st := b.open(overviewPath(unknown)); st != http.StatusNotFound && st != http.StatusForbidden {
		t.Errorf("reader GET an unknown subscription: status %d, want 404 (or 403)", st)
	}
	// The operator may read the unknown subscription's page: 404.
	op := newTab(t, w.srv.URL, "operator")
	if st := op.signIn(reckontest.OperatorID, reckontest.OperatorSecret); st != http.StatusOK {
		t.Fatalf("operator sign in: status %d", st)
	}
	if st := op.open(overviewPath(unknown)); st != http.StatusNotFound {
		t.Errorf("operator GET an unknown subscription: status %d, want 404", st)
	}
}

// testCSRF: a form posted without its csrf field is refused (403,
// csrf-error) and changes nothing: the opt-in form, the sign-in form and
// the sign-out form.
func testCSRF(t *testing.T, w *world) {
	sub := demo.SubContosoProd
	ctx := context.Background()
	before, err := w.srv.Invoicing.InvoiceAccess(ctx, sub)
	if err != nil {
		t.Fatal(err)
	}
	admin := newTab(t, w.srv.URL, "admin")
	if st := admin.signIn(adminID, adminSecret); st != http.StatusOK {
		t.Fatalf("sign in: status %d", st)
	}
	access := "/portal/subscriptions/" + sub + "/access"
	admin.open(access)
	admin.must("#invoice-access-form input[name=csrf]")
	admin.do(chromedp.Click(chromedp.ID("opt-in"), chromedp.NodeVisible))
	removed := eval[int](admin, `(() => { const f = [...document.querySelectorAll('#invoice-access-form input[name=csrf]')]; f.forEach(e => e.remove()); return f.length; })()`)
	if removed == 0 {
		t.Fatalf("no csrf field to remove")
	}
	if st := admin.click("opt-in-save"); st != http.StatusForbidden {
		t.Errorf("opt-in posted without csrf: status %d, want 403", st)
	}
	admin.must("#csrf-error")
	if after, _ := w.srv.Invoicing.InvoiceAccess(ctx, sub); after != before {
		t.Errorf("the opt-in changed (%v → %v) on a post without csrf", before, after)
	}
	// A forged token is refused too.
	admin.open(access)
	admin.setValue("#invoice-access-form input[name=csrf]", "forged-"+strings.Repeat("0", 40))
	admin.do(chromedp.Click(chromedp.ID("opt-in"), chromedp.NodeVisible))
	if st := admin.click("opt-in-save"); st != http.StatusForbidden || !admin.has("#csrf-error") {
		t.Errorf("opt-in posted with a forged csrf: status %d, want 403 with #csrf-error", st)
	}
	if after, _ := w.srv.Invoicing.InvoiceAccess(ctx, sub); after != before {
		t.Errorf("the opt-in changed (%v → %v) on a post with a forged csrf", before, after)
	}
	// Sign-out without csrf: refused, the session stays.
	admin.open(overviewPath(sub))
	admin.must("form#signout-form")
	eval[int](admin, `(() => { const f = [...document.querySelectorAll('#signout-form input[name=csrf]')]; f.forEach(e => e.remove()); return f.length; })()`)
	if st := admin.navigate("sign out without csrf", chromedp.Click(chromedp.CSS(signoutButton), chromedp.NodeVisible)); st != http.StatusForbidden {
		t.Errorf("sign-out without csrf: status %d, want 403", st)
	}
	if st := admin.open(overviewPath(sub)); st != http.StatusOK || !strings.HasPrefix(admin.path(), overviewPath(sub)) {
		t.Errorf("after a refused sign-out the session should stay: status %d at %s", st, admin.path())
	}

	// Sign-in without csrf.
	anon := newTab(t, w.srv.URL, "anonymous")
	anon.open("/portal/signin")
	anon.must("#signin-form input[name=csrf]")
	eval[int](anon, `(() => { const f = [...document.querySelectorAll('#signin-form input[name=csrf]')]; f.forEach(e => e.remove()); return f.length; })()`)
	anon.do(
		chromedp.SendKeys(chromedp.ID("clientId"), readerID, chromedp.NodeVisible),
		chromedp.SendKeys(chromedp.ID("secret"), readerPassword, chromedp.NodeVisible),
	)
	if st := anon.click("signin-submit"); st != http.StatusForbidden || !anon.has("#csrf-error") {
		t.Errorf("sign-in without csrf: status %d, want 403 with #csrf-error", st)
	}
	if c := anon.cookie("reckon_session"); c != "" {
		t.Errorf("a sign-in without csrf set a session cookie")
	}
}

// testSignOut: signing out lands on the sign-in page, and the old session
// cookie no longer opens anything, in the browser or replayed by hand.
func testSignOut(t *testing.T, w *world) {
	b := newTab(t, w.srv.URL, "reader")
	if st := b.signIn(readerID, readerPassword); st != http.StatusOK {
		t.Fatalf("sign in: status %d", st)
	}
	old := b.cookie("reckon_session")
	if old == "" {
		t.Fatalf("no reckon_session cookie after sign-in")
	}
	page := b.path()
	b.must("form#signout-form")
	if st := b.navigate("sign out", chromedp.Click(chromedp.CSS(signoutButton), chromedp.NodeVisible)); st != http.StatusOK || !strings.HasPrefix(b.path(), "/portal/signin") {
		t.Errorf("sign out: status %d at %s; want the sign-in page", st, b.path())
	}
	if c := b.cookie("reckon_session"); c != "" {
		t.Errorf("the session cookie is still set after sign-out")
	}
	// Put the old cookie back in the browser.
	if _, err := chromedp.Call(b.ctx, network.SetCookie, network.SetCookieParams{Name: "reckon_session", Value: old, URL: b.base + "/portal/", Path: "/portal", HTTPOnly: ptr(true)}); err != nil {
		t.Fatalf("set the old cookie: %v", err)
	}
	st := b.open(page)
	if strings.HasPrefix(b.path(), page) || !strings.HasPrefix(b.path(), "/portal/signin") {
		t.Errorf("the old session cookie opens %s: status %d at %s; want the sign-in page", page, st, b.path())
	}
	// And replayed outside the browser.
	req, _ := http.NewRequest(http.MethodGet, w.srv.URL+page, nil)
	req.AddCookie(&http.Cookie{Name: "reckon_session", Value: old})
	cl := *w.srv.Client()
	cl.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	resp, err := cl.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode == http.StatusOK || (resp.StatusCode == http.StatusSeeOther && !strings.HasPrefix(resp.Header.Get("Location"), "/portal/signin")) {
		t.Errorf("the old cookie replayed: status %d Location %q; want a redirect to the sign-in page", resp.StatusCode, resp.Header.Get("Location"))
	}
}

// csvCostTotal reads the usage CSV: a header row, then a row per group;
// it returns the sum of the cost column and the number of rows. The cost
// column is the one named "cost" (case-insensitive), else "Cost (…)".
func csvCostTotal(t *testing.T, body string) (money.Decimal, int) {
	t.Helper()
	recs, err := readCSV(body)
	if err != nil || len(recs) < 1 {
		t.Fatalf("usage CSV: %v\n%.300s", err, body)
	}
	col := -1
	for i, h := range recs[0] {
		h = strings.ToLower(strings.TrimSpace(h))
		if h == "cost" || (col < 0 && strings.HasPrefix(h, "cost")) {
			col = i
		}
	}
	if col < 0 {
		t.Fatalf("usage CSV header %v has no cost column", recs[0])
	}
	var sum money.Decimal
	n := 0
	for _, r := range recs[1:] {
		if len(r) <= col {
			t.Fatalf("usage CSV row %v is short", r)
		}
		if first := strings.ToLower(strings.TrimSpace(r[0])); first == "total" {
			continue // a total row, if any, is not a group
		}
		sum = sum.Add(mustDecimal(t, r[col]))
		n++
	}
	return sum, n
}
