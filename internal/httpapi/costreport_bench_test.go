package httpapi_test

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/reckon-billing/reckon/internal/charges"
	"github.com/reckon-billing/reckon/internal/reckontest"
)

// BenchmarkCostReportMonth: the cost report of a month of 1,000 resources
// (one record a resource a day: 30,000 daily cost rows), grouped by a tag,
// against the same-run baseline of CostRows alone. Target: < 200 ms.
func BenchmarkCostReportMonth(b *testing.B) {
	srv := reckontest.Start(b, reckontest.Options{Now: func() time.Time { return time.Date(2024, 5, 10, 0, 0, 0, 0, time.UTC) }})
	do := func(method, path, body string) {
		resp, data := srv.Do(b, method, path, srv.AdminToken, body)
		if resp.StatusCode/100 != 2 {
			b.Fatalf("%s %s: %d %s", method, path, resp.StatusCode, data)
		}
	}
	do(http.MethodPut, "/admin/v1/subscriptions/"+subA, `{"displayName":"Bench","billingAccount":"contoso"}`)
	do(http.MethodPost, "/admin/v1/catalog/import?format=ratecard&offerDurableId=MS-AZR-0003P&currency=USD&locale=en-US&regionInfo=US", rateCardImport)
	for d := range 30 {
		var recs []string
		day := time.Date(2024, 4, 1+d, 0, 0, 0, 0, time.UTC)
		for v := range 1000 {
			recs = append(recs, fmt.Sprintf(`{"id":"r-%d-%d","subscriptionId":%q,"meterId":%q,"quantity":"1.5","usageStartTime":%q,"usageEndTime":%q,`+
				`"resourceUri":"/subscriptions/%s/resourceGroups/rg%d/providers/Microsoft.Compute/virtualMachines/vm%d","tags":{"costCenter":"cc%d"},"reportedTime":%q}`,
				d, v, subA, rcMeterTiered, day.Format(time.RFC3339), day.Add(time.Hour).Format(time.RFC3339), subA, v%20, v, v%50, day.Add(2*time.Hour).Format(time.RFC3339)))
		}
		do(http.MethodPost, "/metering/v1/usage", "["+strings.Join(recs, ",")+"]")
	}
	from, to := time.Date(2024, 4, 1, 0, 0, 0, 0, time.UTC), time.Date(2024, 5, 1, 0, 0, 0, 0, time.UTC)
	b.Run("baseline-CostRows", func(b *testing.B) {
		for b.Loop() {
			rows, err := srv.Charges.CostRows(context.Background(), subA, from, to, charges.Daily, time.Date(2024, 5, 10, 0, 0, 0, 0, time.UTC))
			if err != nil || len(rows) < 30_000 {
				b.Fatalf("%d rows, %v", len(rows), err)
			}
		}
	})
	b.Run("costReport", func(b *testing.B) {
		path := "/subscriptions/" + subA + "/providers/Microsoft.Commerce/costReport?api-version=2015-06-01-preview&from=2024-04-01&to=2024-05-01&groupBy=tag:costCenter"
		for b.Loop() {
			resp, data := srv.Do(b, http.MethodGet, path, srv.AdminToken, "")
			if resp.StatusCode != http.StatusOK {
				b.Fatalf("%d %s", resp.StatusCode, data)
			}
		}
	})
}
