package browsertest

import (
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/reckon-billing/reckon/internal/demo"
	"github.com/reckon-billing/reckon/internal/reckontest"
)

// testOperatorPages: the operator pages list what the API and the services
// hold: every demo subscription, the test principals and their role
// assignments, the demo's catalog imports, and the records and rejections
// of an ingest request sent through the metering API just before.
func testOperatorPages(t *testing.T, w *world) {
	// One accepted record (Northwind, which no other subtest reads) and
	// one rejected (a quantity that is not a number).
	end := w.now.Truncate(time.Hour)
	okID := fmt.Sprintf("browsertest-ok-%d", end.Unix())
	badID := fmt.Sprintf("browsertest-bad-%d", end.Unix())
	meters, err := demo.Meters()
	if err != nil {
		t.Fatal(err)
	}
	rec := func(id, qty string) string {
		return fmt.Sprintf(`{"id":%q,"subscriptionId":%q,"meterId":%q,"quantity":%s,"usageStartTime":%q,"usageEndTime":%q,"resourceUri":"/subscriptions/%s/resourceGroups/rg-browsertest/providers/Microsoft.Compute/virtualMachines/vm-bt"}`,
			id, demo.SubNorthwind, meters[0].MeterID, qty, end.Add(-time.Hour).Format(time.RFC3339), end.Format(time.RFC3339), demo.SubNorthwind)
	}
	resp, body := w.srv.Do(t, http.MethodPost, "/metering/v1/usage", w.srv.IngestToken, "["+rec(okID, `"1.5"`)+","+rec(badID, `"lots"`)+"]")
	var res struct {
		Accepted int `json:"accepted"`
		Rejected []struct {
			ID   string `json:"id"`
			Code string `json:"code"`
		} `json:"rejected"`
	}
	if err := json.Unmarshal(body, &res); err != nil || resp.StatusCode >= 300 || res.Accepted != 1 || len(res.Rejected) != 1 || res.Rejected[0].ID != badID {
		t.Fatalf("ingest: %d %s (%v)", resp.StatusCode, body, err)
	}
	code := res.Rejected[0].Code

	b := newTab(t, w.srv.URL, "operator")
	if st := b.signIn(reckontest.OperatorID, reckontest.OperatorSecret); st != http.StatusOK {
		t.Fatalf("sign in: status %d", st)
	}
	if st := b.open("/portal"); st != http.StatusOK || !strings.HasPrefix(b.path(), "/portal/subscriptions/") {
		t.Errorf("GET /portal as the operator: status %d at %s; want a subscription's overview", st, b.path())
	}
	if !b.has("#nav a[href='/portal/operator']") {
		t.Errorf("the operator's nav has no link to /portal/operator")
	}
	if st := b.open("/portal/operator"); st != http.StatusOK {
		t.Errorf("GET /portal/operator: status %d", st)
	}

	b.open("/portal/operator/subscriptions")
	b.must("table#operator-subscriptions")
	subs := b.text("#operator-subscriptions tbody")
	for _, s := range demo.Subscriptions() {
		if !strings.Contains(subs, s.SubscriptionID) && !strings.Contains(subs, s.DisplayName) {
			t.Errorf("#operator-subscriptions does not list %s (%s)", s.SubscriptionID, s.DisplayName)
		}
	}
	if n := eval[int](b, `document.querySelectorAll('#operator-subscriptions tbody tr').length`); n != len(demo.Subscriptions()) {
		t.Errorf("#operator-subscriptions has %d rows; want %d", n, len(demo.Subscriptions()))
	}

	b.open("/portal/operator/principals")
	b.must("table#operator-principals")
	b.must("table#operator-assignments")
	principals, assignments := b.text("#operator-principals tbody"), b.text("#operator-assignments tbody")
	for _, id := range []string{reckontest.OperatorID, reckontest.IngestID, readerID, adminID} {
		if !strings.Contains(principals, id) {
			t.Errorf("#operator-principals does not list %s", id)
		}
	}
	for _, want := range []string{"Account Admin", "contoso-ea-100001", "Reader", demo.SubContosoDevTest, "Operator", "Usage Writer"} {
		if !strings.Contains(assignments, want) {
			t.Errorf("#operator-assignments does not show %q", want)
		}
	}

	b.open("/portal/operator/imports")
	b.must("table#catalog-imports")
	if n := eval[int](b, `document.querySelectorAll('#catalog-imports tbody tr').length`); n < 3 {
		t.Errorf("#catalog-imports has %d rows; the demo made 3 imports", n)
	}
	if imp := b.text("#catalog-imports tbody"); !strings.Contains(imp, demo.OfferPAYG) || !strings.Contains(imp, demo.OfferCommitment) {
		t.Errorf("#catalog-imports does not name the demo's offers: %.300q", imp)
	}

	b.open("/portal/operator/ingestion")
	b.must("#ingest-rate")
	b.must("table#recent-records")
	b.must("table#recent-rejections")
	if recs := b.text("#recent-records tbody"); !strings.Contains(recs, okID) {
		t.Errorf("#recent-records does not show the record %s just ingested through the API: %.300q", okID, recs)
	}
	rej := b.text("#recent-rejections tbody")
	if !strings.Contains(rej, badID) || !strings.Contains(rej, code) {
		t.Errorf("#recent-rejections does not show %s rejected with %s: %.300q", badID, code, rej)
	}
}

// testRateCard: the rate card lists the offer's meters (the demo's), the
// search narrows them to the matching ones, and the name header sorts them
// both ways.
func testRateCard(t *testing.T, w *world) {
	b := newTab(t, w.srv.URL, "reader")
	if st := b.signIn(readerID, readerPassword); st != http.StatusOK {
		t.Fatalf("sign in: status %d", st)
	}
	sub := demo.SubContosoProd
	page := "/portal/subscriptions/" + sub + "/ratecard"
	if st := b.open(page); st != http.StatusOK {
		t.Fatalf("GET %s: status %d", page, st)
	}
	b.must("#ratecard-params")
	params := b.text("#ratecard-params")
	for _, want := range []string{demo.OfferPAYG, "USD", "en-US", "US"} {
		if !strings.Contains(params, want) {
			t.Errorf("#ratecard-params %q lacks %q", params, want)
		}
	}
	meters, err := demo.Meters()
	if err != nil {
		t.Fatal(err)
	}
	ids := func() []string {
		return eval[[]string](b, `[...document.querySelectorAll('#meter-table tr[data-meter-id]')].map(r => r.getAttribute('data-meter-id'))`)
	}
	var all []string
	for _, m := range meters {
		all = append(all, m.MeterID)
	}
	if got := ids(); !slices.Equal(sortedCopy(got), sortedCopy(all)) {
		t.Errorf("#meter-table lists %d meters; want the %d demo meters", len(got), len(all))
	}

	// Search.
	var want []string
	for _, m := range meters {
		if strings.Contains(strings.ToLower(m.MeterName+" "+m.MeterCategory+" "+m.MeterSubCategory), "cool") {
			want = append(want, m.MeterID)
		}
	}
	b.setValue("#meter-search", "Cool")
	st := b.navigate("search", chromedpSubmitSearch())
	if got := ids(); st != http.StatusOK || !slices.Equal(sortedCopy(got), sortedCopy(want)) {
		t.Errorf("search \"Cool\": status %d, meters %v; want %v", st, got, want)
	}
	if q := eval[string](b, `document.getElementById('meter-search').value`); q != "Cool" {
		t.Errorf("the search box shows %q after searching", q)
	}

	// Sort by name, both ways.
	b.open(page + "?sort=name&dir=asc")
	asc := ids()
	names := map[string]string{}
	for _, m := range meters {
		names[m.MeterID] = strings.ToLower(m.MeterName)
	}
	if !slices.IsSortedFunc(asc, func(x, y string) int { return strings.Compare(names[x], names[y]) }) {
		t.Errorf("sort=name&dir=asc: not in name order")
	}
	href := eval[string](b, `([...document.querySelectorAll('#meter-table thead a')].find(a => /sort=name/.test(a.href)) || {href: ''}).href`)
	if !strings.Contains(href, "dir=desc") {
		t.Errorf("the name header links to %q when sorted ascending; want dir=desc", href)
	} else {
		b.navigate("sort by name descending", clickHref(href))
		desc := ids()
		if !slices.Equal(desc, reversed(asc)) {
			t.Errorf("descending name order %v is not the ascending one reversed %v", desc, asc)
		}
	}
}

func reversed(s []string) []string {
	r := slices.Clone(s)
	slices.Reverse(r)
	return r
}
