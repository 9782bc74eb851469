package httpapi_test

import (
	"encoding/json"
	"net/http"
	"testing"

	"github.com/reckon-billing/reckon/internal/reckontest"
)

type chargesBody struct {
	ID             string `json:"id"`
	Estimate       bool   `json:"estimate"`
	SubscriptionID string `json:"subscriptionId"`
	OfferDurableID string `json:"offerDurableId"`
	Currency       string `json:"currency"`
	PeriodStart    string `json:"periodStart"`
	PeriodEnd      string `json:"periodEnd"`
	Lines          []struct {
		Kind                 string `json:"kind"`
		MeterID              string `json:"meterId"`
		MeterName            string `json:"meterName"`
		Quantity             string `json:"quantity"`
		IncludedQuantityUsed string `json:"includedQuantityUsed"`
		Amount               string `json:"amount"`
		Tiers                []struct {
			Quantity  string `json:"quantity"`
			UnitPrice string `json:"unitPrice"`
		} `json:"tiers"`
	} `json:"lines"`
	UsageTotal string `json:"usageTotal"`
	Total      string `json:"total"`
}

// TestCharges: the estimate of a period rates the usage with tiers,
// included quantity and every offer term; the figures are worked by hand.
func TestCharges(t *testing.T) {
	reckontest.ForEachBackend(t, func(t *testing.T, b reckontest.Backend) {
		srv, _ := startServer(t, b, reckontest.Options{})
		putSubscription(t, srv, subA)
		putMeter(t, srv, meterB, "Unpriced")
		importRateCard(t, srv, "offerDurableId=MS-AZR-0003P&currency=USD&locale=en-US&regionInfo=US", rateCardImport)
		res := ingest(t, srv, srv.AdminToken, `[
			{"id":"t1","subscriptionId":"`+subA+`","meterId":"`+rcMeterTiered+`","quantity":60,"usageStartTime":"2024-03-02T00:00:00Z","usageEndTime":"2024-03-02T06:00:00Z","reportedTime":"2024-03-02T07:00:00Z"},
			{"id":"t2","subscriptionId":"`+subA+`","meterId":"`+rcMeterTiered+`","quantity":"90","usageStartTime":"2024-03-05T10:00:00Z","usageEndTime":"2024-03-05T11:00:00Z","reportedTime":"2024-03-05T12:00:00Z"},
			{"id":"d1","subscriptionId":"`+subA+`","meterId":"`+rcMeterDeprecated+`","quantity":1000,"usageStartTime":"2024-03-03T00:00:00Z","usageEndTime":"2024-03-04T00:00:00Z","reportedTime":"2024-03-04T01:00:00Z"},
			{"id":"feb","subscriptionId":"`+subA+`","meterId":"`+rcMeterTiered+`","quantity":500,"usageStartTime":"2024-02-27T00:00:00Z","usageEndTime":"2024-02-27T01:00:00Z","reportedTime":"2024-02-27T02:00:00Z"}
		]`)
		if res.Accepted != 4 {
			t.Fatalf("ingest: %+v", res)
		}
		for _, q := range []string{"&periodStart=2024-03-01&periodEnd=2024-04-01", "&periodStart=2024-03-01T00:00:00Z&periodEnd=2024-04-01T00:00:00%2B00:00", ""} {
			resp, body := get(t, srv, "/subscriptions/"+subA+"/providers/Microsoft.Commerce/charges?api-version=2015-06-01-preview"+q)
			if resp.StatusCode != http.StatusOK {
				t.Fatalf("%q: %d %s", q, resp.StatusCode, body)
			}
			var c chargesBody
			if err := json.Unmarshal(body, &c); err != nil {
				t.Fatal(err)
			}
			if !c.Estimate || c.SubscriptionID != subA || c.OfferDurableID != "MS-AZR-0003P" || c.Currency != "USD" ||
				c.PeriodStart != "2024-03-01T00:00:00Z" || c.PeriodEnd != "2024-04-01T00:00:00Z" {
				t.Fatalf("%q: header %+v", q, c)
			}
			// The February record is outside the period. The tiered meter:
			// 60 + 90 = 150 units, 10 included, 140 billable:
			// 100 × 1.99 + 40 × 0.99 = 199 + 39.60 = 238.60.
			// The other: 1000 × 0.029 = 29.00. Usage total 267.60.
			// Recurring Charge 10; Monetary Commitment: 267.60 of spend is
			// all below the 1000 step, 0 % → 0; Monetary Credit: min(150,
			// 267.60) = 150 → −150. Total 267.60 + 10 + 0 − 150 = 127.60.
			want := []struct{ kind, meter, qty, included, amount string }{
				{"Usage", rcMeterDeprecated, "1000", "0", "29"},
				{"Usage", rcMeterTiered, "150", "10", "238.6"},
				{"Recurring Charge", "", "0", "0", "10"},
				{"Monetary Commitment", "", "0", "0", "0"},
				{"Monetary Credit", "", "0", "0", "-150"},
			}
			if len(c.Lines) != len(want) {
				t.Fatalf("%q: %d lines %s", q, len(c.Lines), body)
			}
			for i, w := range want {
				l := c.Lines[i]
				if l.Kind != w.kind || l.MeterID != w.meter || l.Amount != w.amount || (w.meter != "" && (l.Quantity != w.qty || l.IncludedQuantityUsed != w.included)) {
					t.Errorf("%q: line %d = %+v, want %+v", q, i, l, w)
				}
			}
			if l := c.Lines[1]; l.MeterName != "Test Meter" || len(l.Tiers) != 2 || l.Tiers[0].Quantity != "100" || l.Tiers[0].UnitPrice != "1.99" ||
				l.Tiers[1].Quantity != "40" || l.Tiers[1].UnitPrice != "0.99" {
				t.Errorf("%q: tiered line %+v", q, l)
			}
			if c.UsageTotal != "267.6" || c.Total != "127.6" {
				t.Errorf("%q: usageTotal %s total %s, want 267.6 and 127.6", q, c.UsageTotal, c.Total)
			}
		}

		// Usage of a meter without a price: a conflict naming it.
		ingest(t, srv, srv.AdminToken, `[{"id":"u1","subscriptionId":"`+subA+`","meterId":"`+meterB+`","quantity":1,"usageStartTime":"2024-03-06T00:00:00Z","usageEndTime":"2024-03-06T01:00:00Z","reportedTime":"2024-03-06T02:00:00Z"}]`)
		resp, body := get(t, srv, "/subscriptions/"+subA+"/providers/Microsoft.Commerce/charges?api-version=2015-06-01-preview")
		e := wantError(t, resp, body, http.StatusConflict, "NoRateForUsage", meterB)
		if e.Error.Message == "" {
			t.Error("no message")
		}
		// Bad periods.
		for _, c := range []struct{ q, target string }{
			{"&periodStart=2024-03-01", "periodEnd"},
			{"&periodEnd=2024-03-01", "periodStart"},
			{"&periodStart=2024-03-01T00:30:00Z&periodEnd=2024-04-01", "periodStart"},
			{"&periodStart=2024-04-01&periodEnd=2024-03-01", "periodEnd"},
			{"&periodStart=yesterday&periodEnd=2024-03-01", "periodStart"},
			{"&periodStart=2020-01-01&periodEnd=2024-03-01", "periodEnd"},
		} {
			resp, body := get(t, srv, "/subscriptions/"+subA+"/providers/Microsoft.Commerce/charges?api-version=2015-06-01-preview"+c.q)
			wantError(t, resp, body, http.StatusBadRequest, "InvalidProperty", c.target)
		}
		resp, body = get(t, srv, "/subscriptions/"+unknownGUID+"/providers/Microsoft.Commerce/charges?api-version=2015-06-01-preview")
		wantError(t, resp, body, http.StatusNotFound, "SubscriptionNotFound", "subscriptionId")
	})
}
