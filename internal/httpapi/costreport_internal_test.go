package httpapi

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/reckon-billing/reckon/internal/account"
	"github.com/reckon-billing/reckon/internal/charges"
	"github.com/reckon-billing/reckon/internal/money"
	"github.com/reckon-billing/reckon/internal/usage"
)

func dec(t testing.TB, s string) money.Decimal {
	t.Helper()
	d, err := money.ParseDecimal(s)
	if err != nil {
		t.Fatal(err)
	}
	return d
}

const (
	tSub = "6f1c3a52-8d7e-4b4a-9a8e-3c1d2b4e5f60"
	tVM1 = "/subscriptions/" + tSub + "/resourceGroups/RG-Web/providers/Microsoft.Compute/virtualMachines/vm1"
	tVM2 = "/subscriptions/" + tSub + "/resourceGroups/rg-web/providers/Microsoft.Compute/virtualMachines/vm2"
)

// testRows are cost rows as the charges service builds them: two usage
// rows with tags, one without tags or resource, an offer-term row.
func testRows(t testing.TB) []charges.CostRow {
	day := time.Date(2024, 3, 2, 0, 0, 0, 0, time.UTC)
	base := charges.CostRow{SubscriptionID: tSub, BillingAccount: "contoso", Currency: "USD",
		BillingPeriodStart: time.Date(2024, 3, 1, 0, 0, 0, 0, time.UTC), BillingPeriodEnd: time.Date(2024, 4, 1, 0, 0, 0, 0, time.UTC),
		ChargePeriodStart: day, ChargePeriodEnd: day.Add(24 * time.Hour), Kind: "Usage",
		MeterID: "m1", MeterName: "D2 v3", MeterCategory: "Virtual Machines", MeterSubCategory: "Dv3", MeterRegion: "US East", Unit: "1 Hour",
		Priced: true, ListUnitPrice: dec(t, "0.1"), UnitPrice: dec(t, "0.1")}
	r1 := base
	r1.ResourceURI, r1.ResourceGroup, r1.Location = tVM1, "RG-Web", "eastus"
	r1.Tags = map[string]string{"Env": "prod", "team": "web"}
	r1.Quantity, r1.BillableQuantity, r1.ListCost, r1.Cost = dec(t, "10.5"), dec(t, "10.5"), dec(t, "1.05"), dec(t, "1.05")
	r2 := base
	r2.ResourceURI, r2.ResourceGroup = tVM2, "rg-web"
	r2.Tags = map[string]string{"env": "dev"}
	r2.Quantity, r2.BillableQuantity, r2.ListCost, r2.Cost = dec(t, "3"), dec(t, "3"), dec(t, "0.3"), dec(t, "0.29")
	r3 := base
	r3.MeterID, r3.MeterName, r3.MeterCategory, r3.Unit = "m2", "Data Transfer Out", "Networking", "1 GB"
	r3.Quantity, r3.BillableQuantity, r3.ListCost, r3.Cost = dec(t, "0.000000007"), dec(t, "0"), dec(t, "0"), dec(t, "0")
	r3.Priced = false
	r4 := charges.CostRow{SubscriptionID: tSub, BillingAccount: "contoso", Currency: "USD", Kind: "Recurring Charge",
		BillingPeriodStart: base.BillingPeriodStart, BillingPeriodEnd: base.BillingPeriodEnd,
		ChargePeriodStart: base.BillingPeriodStart, ChargePeriodEnd: base.BillingPeriodEnd,
		Cost: dec(t, "10"), ListCost: dec(t, "10")}
	return []charges.CostRow{r1, r2, r3, r4}
}

// TestBuildCostReport: every row is in one group, groups add up to the
// total, missing values go to "untagged"/"(none)", tag names match in any
// case, quantities are kept per unit.
func TestBuildCostReport(t *testing.T) {
	rows := testRows(t)
	cases := []struct {
		groupBy string
		want    []string // key=cost/rows
	}{
		{"tag:env", []string{"untagged=10/2", "prod=1.05/1", "dev=0.29/1"}},
		{"TAG:team", []string{"untagged=10.29/3", "web=1.05/1"}},
		{"resourceGroup", []string{"(none)=10/2", "rg-web=1.34/2"}},
		{"meterCategory", []string{"(none)=10/1", "Virtual Machines=1.34/2", "Networking=0/1"}},
		{"meter", []string{"(none)=10/1", "m1=1.34/2", "m2=0/1"}},
		{"resource", []string{"(none)=10/2", tVM1 + "=1.05/1", tVM2 + "=0.29/1"}},
		{"subscription", []string{tSub + "=11.34/4"}},
	}
	for _, c := range cases {
		canonical, key, err := groupByOf(c.groupBy)
		if err != nil {
			t.Fatalf("%s: %v", c.groupBy, err)
		}
		groups, totals, qty := buildCostReport(rows, key)
		var got []string
		sum := money.Decimal{}
		n := 0
		for _, g := range groups {
			got = append(got, fmt.Sprintf("%s=%s/%d", g.Key, g.Cost, g.Rows))
			sum = sum.Add(dec(t, g.Cost))
			n += g.Rows
			if g.Currency != "USD" {
				t.Errorf("%s: group currency %q", c.groupBy, g.Currency)
			}
		}
		if strings.Join(got, " ") != strings.Join(c.want, " ") {
			t.Errorf("%s (%s): groups %v, want %v", c.groupBy, canonical, got, c.want)
		}
		if len(totals) != 1 || totals[0].Cost != "11.34" || totals[0].ListCost != "11.35" || totals[0].Rows != 4 || sum.String() != "11.34" || n != 4 {
			t.Errorf("%s: totals %+v, groups sum to %s over %d rows", c.groupBy, totals, sum, n)
		}
		if len(qty) != 2 || qty[0] != (unitQuantityJSON{"1 GB", "0.000000007"}) || qty[1] != (unitQuantityJSON{"1 Hour", "13.5"}) {
			t.Errorf("%s: quantities %+v", c.groupBy, qty)
		}
	}
	if _, key, _ := groupByOf("meter"); true {
		groups, _, _ := buildCostReport(rows, key)
		if groups[1].Name != "D2 v3" || len(groups[1].Quantity) != 1 || groups[1].Quantity[0].Quantity != "13.5" {
			t.Errorf("meter group %+v", groups[1])
		}
	}
	for _, bad := range []string{"tag:", "location", "", "tags:env"} {
		if _, _, err := groupByOf(bad); err == nil {
			t.Errorf("groupBy %q accepted", bad)
		}
	}
}

// TestBuildCostReportCurrencies: groups and totals are per currency.
func TestBuildCostReportCurrencies(t *testing.T) {
	rows := testRows(t)
	eur := rows[0]
	eur.Currency, eur.Cost = "EUR", dec(t, "2")
	rows = append(rows, eur)
	_, key, _ := groupByOf("tag:env")
	groups, totals, _ := buildCostReport(rows, key)
	if len(totals) != 2 || totals[0] != (currencyTotal{"EUR", "2", "1.05", 1}) || totals[1].Cost != "11.34" {
		t.Fatalf("totals %+v", totals)
	}
	if groups[0].Currency != "EUR" || groups[0].Key != "prod" || groups[0].Cost != "2" {
		t.Fatalf("groups %+v", groups)
	}
}

// BenchmarkCostReport groups a month of 1,000 resources (30,000 daily rows,
// three tags each): the report's own cost, without CostRows.
func BenchmarkCostReport(b *testing.B) {
	rows := make([]charges.CostRow, 0, 30_000)
	tmpl := testRows(b)[0]
	for d := range 30 {
		for i := range 1000 {
			r := tmpl
			r.ChargePeriodStart = tmpl.BillingPeriodStart.Add(time.Duration(d) * 24 * time.Hour)
			r.ResourceURI = fmt.Sprintf("/subscriptions/%s/resourceGroups/rg%d/providers/Microsoft.Compute/virtualMachines/vm%d", tSub, i%20, i)
			r.ResourceGroup = fmt.Sprintf("rg%d", i%20)
			r.Tags = map[string]string{"env": []string{"prod", "dev", "test"}[i%3], "team": fmt.Sprint("t", i%7), "costCenter": fmt.Sprint(i % 50)}
			rows = append(rows, r)
		}
	}
	for _, g := range []string{"tag:costCenter", "resource"} {
		b.Run(g, func(b *testing.B) {
			_, key, _ := groupByOf(g)
			for b.Loop() {
				buildCostReport(rows, key)
			}
		})
	}
}

// TestUsageDetailsFilter: the $filter subset and its errors.
func TestUsageDetailsFilter(t *testing.T) {
	d := func(s string) time.Time { t, _ := time.Parse(time.DateOnly, s); return t }
	f, err := parseUsageDetailsFilter("properties/usageStart ge '2024-03-01' and properties/usageEnd le '2024-03-31' and tags eq 'env:prod' and properties/ResourceGroup eq 'RG-web'")
	if err != nil {
		t.Fatal(err)
	}
	if !f.hasFrom || !f.hasTo || !f.from.Equal(d("2024-03-01")) || !f.to.Equal(d("2024-04-01")) || len(f.tags) != 1 || f.tags[0] != [2]string{"env", "prod"} || f.eq["resourceGroup"] != "RG-web" {
		t.Fatalf("%+v", f)
	}
	rows := testRows(t)
	if !f.match(&rows[0]) || f.match(&rows[1]) || f.match(&rows[3]) {
		t.Error("match")
	}
	f, err = parseUsageDetailsFilter("properties/date eq 2024-03-02")
	if err != nil || !f.from.Equal(d("2024-03-02")) || !f.to.Equal(d("2024-03-03")) {
		t.Fatalf("%+v %v", f, err)
	}
	f, err = parseUsageDetailsFilter("properties/date gt '2024-03-02T00:00:00Z' and properties/date lt '2024-03-05'")
	if err != nil || !f.from.Equal(d("2024-03-03")) || !f.to.Equal(d("2024-03-05")) {
		t.Fatalf("%+v %v", f, err)
	}
	f, err = parseUsageDetailsFilter("properties/chargeType eq 'recurring charge' and properties/instanceName eq ''")
	if err != nil || f.match(&rows[0]) || !f.match(&rows[3]) {
		t.Fatalf("%+v %v", f, err)
	}
	f, _ = parseUsageDetailsFilter("properties/resourceName eq 'VM2' and properties/meterId eq 'M1'")
	if f.match(&rows[0]) || !f.match(&rows[1]) {
		t.Error("resourceName match")
	}
	f, _ = parseUsageDetailsFilter("tags eq 'ENV:prod'")
	if !f.match(&rows[0]) || f.match(&rows[1]) {
		t.Error("tag names match in any case, values exactly")
	}
	for _, bad := range []string{
		"properties/usageStart ne '2024-03-01'", "properties/usageStart ge 'March'", "tags eq 'env'", "tags ge 'a:b'",
		"properties/pretaxCost gt '1'", "properties/resourceGroup eq 'a' or properties/resourceGroup eq 'b'",
		"properties/resourceGroup eq 'a' and", "properties/resourceGroup", "properties/usageStart ge '2024-03-01T10:00:00Z'",
		"properties/resourceGroup eq 'unterminated", strings.Repeat("a", 2000),
	} {
		if _, err := parseUsageDetailsFilter(bad); err == nil {
			t.Errorf("%q accepted", bad)
		} else if !strings.Contains(err.Error(), "$filter") {
			t.Errorf("%q: %v", bad, err)
		}
	}
}

// TestUsageDetailShapes: the fields of both shapes, as the Azure specs
// name them.
func TestUsageDetailShapes(t *testing.T) {
	rows := testRows(t)
	rows[0].InvoiceName = "CONTOSO-000001"
	s := account.Subscription{SubscriptionID: tSub, DisplayName: "Contoso", BillingAccount: "contoso", OfferDurableID: "MS-AZR-0003P"}
	body, _ := json.Marshal(usageDetailOf("2021-10-01", &s, "202404-1", &rows[0], true))
	var m map[string]any
	json.Unmarshal(body, &m)
	p := m["properties"].(map[string]any)
	want := map[string]any{"billingAccountId": "/providers/Microsoft.Billing/billingAccounts/contoso", "billingPeriodStartDate": "2024-03-01T00:00:00Z",
		"date": "2024-03-02T00:00:00Z", "meterId": "m1", "quantity": 10.5, "cost": 1.05, "unitPrice": 0.1, "effectivePrice": 0.1,
		"billingCurrency": "USD", "resourceId": tVM1, "resourceName": "vm1", "resourceGroup": "RG-Web", "resourceLocation": "eastus",
		"consumedService": "Microsoft.Compute", "chargeType": "Usage", "frequency": "UsageBased", "subscriptionName": "Contoso",
		"invoiceId": "/subscriptions/" + tSub + "/providers/Microsoft.Billing/invoices/CONTOSO-000001", "offerId": "MS-AZR-0003P"}
	for k, v := range want {
		if p[k] != v {
			t.Errorf("2021-10-01 %s = %v, want %v", k, p[k], v)
		}
	}
	if m["kind"] != "legacy" || m["type"] != "Microsoft.Consumption/usageDetails" || m["tags"].(map[string]any)["Env"] != "prod" ||
		!strings.HasPrefix(m["id"].(string), "/subscriptions/"+tSub+"/providers/Microsoft.Billing/billingPeriods/202404-1/providers/Microsoft.Consumption/usageDetails/") {
		t.Errorf("2021-10-01 envelope %s", body)
	}
	if md := p["meterDetails"].(map[string]any); md["meterName"] != "D2 v3" || md["unitOfMeasure"] != "1 Hour" || md["meterCategory"] != "Virtual Machines" {
		t.Errorf("meterDetails %v", md)
	}
	// Without $expand, no meterDetails; an unpriced row has no prices.
	body, _ = json.Marshal(usageDetailOf("2021-10-01", &s, "202404-1", &rows[2], false))
	if strings.Contains(string(body), "meterDetails") || strings.Contains(string(body), "unitPrice") || strings.Contains(string(body), `"tags"`) {
		t.Errorf("unpriced row %s", body)
	}
	body, _ = json.Marshal(usageDetailOf("2018-06-30", &s, "202404-1", &rows[0], true))
	m = nil
	json.Unmarshal(body, &m)
	p = m["properties"].(map[string]any)
	want = map[string]any{"billingPeriodId": "/subscriptions/" + tSub + "/providers/Microsoft.Billing/billingPeriods/202404-1",
		"usageStart": "2024-03-02T00:00:00Z", "usageEnd": "2024-03-03T00:00:00Z", "instanceName": "vm1", "instanceId": tVM1,
		"usageQuantity": 10.5, "billableQuantity": 10.5, "pretaxCost": 1.05, "currency": "USD", "isEstimated": false,
		"subscriptionGuid": tSub, "meterId": "m1", "invoiceId": "/subscriptions/" + tSub + "/providers/Microsoft.Billing/invoices/CONTOSO-000001"}
	for k, v := range want {
		if p[k] != v {
			t.Errorf("2018-06-30 %s = %v, want %v", k, p[k], v)
		}
	}
	if _, ok := m["kind"]; ok {
		t.Error("old shape has a kind")
	}
	if md := p["meterDetails"].(map[string]any); md["unit"] != "1 Hour" || md["pretaxStandardRate"] != 0.1 {
		t.Errorf("old meterDetails %v", md)
	}
	// Names are stable and distinct.
	if usageDetailName("p", &rows[0]) != usageDetailName("p", &rows[0]) || usageDetailName("p", &rows[0]) == usageDetailName("p", &rows[1]) {
		t.Error("names")
	}
}

// TestProviderToken: a token round-trips, and is refused when tampered
// with, signed with another key or replayed against another query.
func TestProviderToken(t *testing.T) {
	key := []byte("0123456789abcdef0123456789abcdef")
	pq := providerQuery{provider: tSub, base: usage.Query{Granularity: usage.Daily, ShowDetails: true,
		ReportedStart: time.Date(2024, 3, 1, 0, 0, 0, 0, time.UTC), ReportedEnd: time.Date(2024, 3, 2, 0, 0, 0, 0, time.UTC)}}
	k := usage.GroupKey{Bucket: 1709251200, MeterKey: 7, InstanceKey: -1}
	tok := encodeProviderToken(key, &pq, tSub, k)
	sub, got, ok := decodeProviderToken(key, &pq, tok)
	if !ok || sub != tSub || got != k {
		t.Fatalf("round trip: %v %v %v", sub, got, ok)
	}
	if _, _, ok := decodeProviderToken([]byte("another key"), &pq, tok); ok {
		t.Error("another key")
	}
	other := pq
	other.subscriber = tSub
	if _, _, ok := decodeProviderToken(key, &other, tok); ok {
		t.Error("another query")
	}
	other = pq
	other.base.Granularity = usage.Hourly
	if _, _, ok := decodeProviderToken(key, &other, tok); ok {
		t.Error("another granularity")
	}
	for i := range tok {
		c := byte('A')
		if tok[i] == 'A' {
			c = 'B'
		}
		bad := tok[:i] + string(c) + tok[i+1:]
		if _, _, ok := decodeProviderToken(key, &pq, bad); ok {
			t.Fatalf("tampered at %d accepted", i)
		}
	}
	for _, bad := range []string{"", "!!", tok + "=", strings.Repeat("A", 300)} {
		if _, _, ok := decodeProviderToken(key, &pq, bad); ok {
			t.Errorf("%q accepted", bad)
		}
	}
}
