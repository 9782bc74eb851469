package track1_test

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/services/preview/commerce/mgmt/2015-06-01-preview/commerce"
	"github.com/Azure/go-autorest/autorest/date"
	"github.com/gofrs/uuid"

	fx "github.com/reckon-billing/reckon/compat/ratecardfixture"
	"github.com/reckon-billing/reckon/internal/money"
	"github.com/reckon-billing/reckon/internal/reckontest"
)

// The usage data set: usageInstances resources on the fixture's meters,
// each used every day of January 2024 (one record per resource and day,
// reported the next day at 02:00). The Daily window [2 Jan, 1 Feb) of
// reported time holds the usage of 1–30 January: 1200 rows with details
// (two pages), 90 without.
const (
	usageInstances = 40
	usageDays      = 30
)

var (
	usageFirstDay = time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)
	usageStart    = usageFirstDay.AddDate(0, 0, 1)
	usageEnd      = usageFirstDay.AddDate(0, 0, usageDays+1)
)

func usageURI(i int) string {
	return fmt.Sprintf("/subscriptions/%s/resourceGroups/rg-t1-%d/providers/Microsoft.Compute/virtualMachines/vm-%02d", fx.Subscription, i%3, i)
}

// usageNanos is the quantity of resource i on day d in billionths: at most
// 12 significant digits, so that float64 tells every such decimal apart.
func usageNanos(i, d int) int64 {
	return int64(i%7)*1e9 + int64((i*7919+d*104729+13)%1_000_000_000)
}

func usageKey(day time.Time, meter, uri string) string {
	return day.Format(time.DateOnly) + "|" + meter + "|" + uri
}

// ingestUsage ingests the data set and returns the exact quantity of each
// row with details and of each row without ("" resourceUri), in billionths.
func ingestUsage(t *testing.T, srv *reckontest.Server) (details, aggregated map[string]int64) {
	t.Helper()
	details, aggregated = map[string]int64{}, map[string]int64{}
	var b strings.Builder
	for i := range usageInstances {
		meter := fx.Meters[i%len(fx.Meters)].ID
		for d := range usageDays {
			day := usageFirstDay.AddDate(0, 0, d)
			q := usageNanos(i, d)
			line, err := json.Marshal(map[string]any{
				"id": fmt.Sprintf("t1-vm-%02d/%s", i, day.Format("20060102")), "subscriptionId": fx.Subscription, "meterId": meter,
				"quantity":       json.Number(money.Quantity(q).String()),
				"usageStartTime": day.Format(time.RFC3339), "usageEndTime": day.AddDate(0, 0, 1).Format(time.RFC3339),
				"resourceUri": usageURI(i), "location": "westeurope", "tags": map[string]string{"env": "track1"},
				"reportedTime": day.AddDate(0, 0, 1).Add(2 * time.Hour).Format(time.RFC3339),
			})
			if err != nil {
				t.Fatal(err)
			}
			b.Write(line)
			b.WriteByte('\n')
			details[usageKey(day, meter, usageURI(i))] = q
			aggregated[usageKey(day, meter, "")] += q
		}
	}
	resp, data := srv.Do(t, http.MethodPost, "/metering/v1/usage", srv.AdminToken, b.String())
	var res struct {
		Accepted int               `json:"accepted"`
		Rejected []json.RawMessage `json:"rejected"`
	}
	if resp.StatusCode != http.StatusOK || json.Unmarshal(data, &res) != nil || res.Accepted != usageInstances*usageDays || len(res.Rejected) != 0 {
		t.Fatalf("ingest: %d %s", resp.StatusCode, data)
	}
	return details, aggregated
}

// TestUsageAggregatesTrack1 lists the usage data set through the track-1
// commerce.UsageAggregatesClient (ListComplete follows nextLink), with and
// without details, and compares every row with what was ingested: the
// quantity at float64, subscriptionId as a uuid.UUID, the usage times as
// date.Time, and the meter's names from the RateCard fixture.
func TestUsageAggregatesTrack1(t *testing.T) {
	reckontest.ForEachBackend(t, func(t *testing.T, b reckontest.Backend) {
		srv := fx.Start(t, b)
		details, aggregated := ingestUsage(t, srv)
		meters := map[string]fx.Meter{}
		for _, m := range fx.Meters {
			meters[m.ID] = m
		}
		for _, c := range []struct {
			name        string
			showDetails bool
			want        map[string]int64
		}{
			{"Details", true, details},
			{"Aggregated", false, aggregated},
		} {
			t.Run(c.name, func(t *testing.T) {
				rec := &recordingSender{next: srv.Client()}
				client := commerce.NewUsageAggregatesClientWithBaseURI(srv.URL, fx.Subscription)
				setClient(&client.Client, rec, srv.AdminToken)
				showDetails := c.showDetails
				it, err := client.ListComplete(t.Context(), date.Time{Time: usageStart}, date.Time{Time: usageEnd}, &showDetails, commerce.Daily, "")
				if err != nil {
					t.Fatalf("ListComplete: %v", err)
				}
				got := map[string]float64{}
				for it.NotDone() {
					r := it.Value()
					p := r.UsageSample
					if p == nil || p.Quantity == nil || p.MeterID == nil || p.UsageStartTime == nil || p.UsageEndTime == nil || p.SubscriptionID == nil {
						t.Fatalf("incomplete row %+v", r)
					}
					uri := ""
					if p.InstanceData != nil {
						var inst struct {
							Res struct {
								ResourceURI string `json:"resourceUri"`
							} `json:"Microsoft.Resources"`
						}
						if err := json.Unmarshal([]byte(*p.InstanceData), &inst); err != nil {
							t.Fatalf("instanceData %q: %v", *p.InstanceData, err)
						}
						uri = inst.Res.ResourceURI
					}
					k := usageKey(p.UsageStartTime.UTC(), *p.MeterID, uri)
					if _, dup := got[k]; dup {
						t.Errorf("row %s appears twice", k)
					}
					got[k] = *p.Quantity
					m := meters[*p.MeterID]
					if *p.SubscriptionID != uuid.FromStringOrNil(fx.Subscription) || p.UsageEndTime.Sub(p.UsageStartTime.Time) != 24*time.Hour ||
						deref(p.MeterName) != m.Name || deref(p.MeterCategory) != m.Category || deref(p.MeterSubCategory) != m.SubCategory ||
						deref(p.Unit) != m.Unit || deref(p.MeterRegion) != m.Region {
						t.Errorf("row %s: %+v, want the names of meter %+v", k, p, m)
					}
					wantName := "Daily_BRSDT_" + usageStart.Format("20060102_1504")
					if deref(r.Name) != wantName || deref(r.Type) != "Microsoft.Commerce/UsageAggregate" ||
						deref(r.ID) != "/subscriptions/"+fx.Subscription+"/providers/Microsoft.Commerce/UsageAggregates/"+wantName {
						t.Errorf("row %s: id %v name %v type %v", k, deref(r.ID), deref(r.Name), deref(r.Type))
					}
					if err := it.NextWithContext(t.Context()); err != nil {
						t.Fatalf("after %d requests: %v", len(rec.queries), err)
					}
				}
				if len(got) != len(c.want) {
					t.Errorf("the client read %d rows, want %d", len(got), len(c.want))
				}
				for k, nanos := range c.want {
					want, err := strconv.ParseFloat(money.Quantity(nanos).String(), 64)
					if err != nil {
						t.Fatal(err)
					}
					if q, ok := got[k]; !ok || q != want {
						t.Errorf("row %s: quantity %v (present: %t), want %s", k, q, ok, money.Quantity(nanos))
					}
				}
				if pages := len(rec.queries); pages != (len(c.want)+999)/1000 {
					t.Errorf("%d requests, want %d pages", pages, (len(c.want)+999)/1000)
				}
				if q := rec.queries[0]; q.Get("aggregationGranularity") != "Daily" || q.Get("showDetails") != strconv.FormatBool(c.showDetails) {
					t.Errorf("first request %v", q)
				}
			})
		}
	})
}
