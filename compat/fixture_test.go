// Package compat_test drives Reckon with unmodified Azure client libraries
// (the Azure SDK for Go and the Azure SDK for JavaScript) over HTTPS and
// checks that what they read is what was ingested.
package compat_test

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/reckon-billing/reckon/internal/money"
	"github.com/reckon-billing/reckon/internal/reckontest"
)

// The data set: 60 resources, each on one of two meters, used every day for
// 30 days (one record per resource and day, reported the next day at 02:00:
// 1800 Daily rows with details), and once more for 20 hours on 1 February,
// reported at 21:30 that day (1200 Hourly rows with details).
const (
	subscription = "3f2b9c1e-7d4a-4e8b-9c0d-1a2b3c4d5e6f"
	instances    = 60
	days         = 30
	hourlyHours  = 20
)

var (
	meters     = [2]string{"cd2d7ca5-2f3c-4b6a-8b5e-0f1e2d3c4b5a", "4a3b2c1d-0e9f-4a8b-9c7d-6e5f4a3b2c1d"}
	meterNames = [2]string{"D2 v3/D2s v3", "P10 LRS Disk"}
	// The server's clock: every window of the data set has settled long before.
	serverNow  = time.Date(2024, 2, 10, 12, 0, 0, 300_000_000, time.UTC)
	firstDay   = time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)
	hourlyDay  = firstDay.AddDate(0, 0, days+1) // 2024-02-01
	dailyStart = firstDay.AddDate(0, 0, 1)      // the Daily window [2024-01-02, 2024-02-01)
	dailyEnd   = hourlyDay
	hourlyFrom = hourlyDay.Add(21 * time.Hour) // the Hourly window [21:00, 22:00) of 2024-02-01
	hourlyTo   = hourlyFrom.Add(time.Hour)
)

// query is one UsageAggregates query of the data set with what it must answer.
type query struct {
	name        string
	start, end  time.Time
	granularity string
	showDetails bool
	// rows maps "usageStartTime|meterId|resourceUri" to the exact quantity
	// in billionths (resourceUri is "" without details).
	rows map[string]int64
}

// totals returns the expected exact totals per meter.
func (q query) totals() map[string]string { return exactTotals(q.rows) }

// totalNanos returns the expected totals per meter in billionths.
func (q query) totalNanos() map[string]int64 {
	sums := map[string]int64{}
	for k, v := range q.rows {
		sums[strings.Split(k, "|")[1]] += v
	}
	return sums
}

func resourceURI(i int) string {
	return fmt.Sprintf("/subscriptions/%s/resourceGroups/rg-compat-%d/providers/Microsoft.Compute/virtualMachines/vm-%02d", subscription, i%3, i)
}

// dailyNanos is the quantity of resource i on day d, in billionths: at most
// 11 significant digits, so that sums of 30 keep under 15.
func dailyNanos(i, d int) int64 {
	return int64(i%50)*1e9 + int64((i*7919+d*104729+13)%1_000_000_000)
}

// hourlyNanos is the quantity of resource i in each of its 20 hours.
func hourlyNanos(i int) int64 { return int64(i+1) * 1_000_000_003 }

func bucketKey(t time.Time, meter, uri string) string {
	return t.UTC().Format("2006-01-02T15:04:05-07:00") + "|" + meter + "|" + uri
}

// dataSet returns the NDJSON body that ingests the data set and the four
// queries (Daily and Hourly, with and without details).
func dataSet() (body string, queries []query) {
	dd := query{name: "DailyDetails", start: dailyStart, end: dailyEnd, granularity: "Daily", showDetails: true, rows: map[string]int64{}}
	da := query{name: "DailyAggregated", start: dailyStart, end: dailyEnd, granularity: "Daily", showDetails: false, rows: map[string]int64{}}
	hd := query{name: "HourlyDetails", start: hourlyFrom, end: hourlyTo, granularity: "Hourly", showDetails: true, rows: map[string]int64{}}
	ha := query{name: "HourlyAggregated", start: hourlyFrom, end: hourlyTo, granularity: "Hourly", showDetails: false, rows: map[string]int64{}}
	var b strings.Builder
	write := func(rec map[string]any) {
		line, err := json.Marshal(rec)
		if err != nil {
			panic(err)
		}
		b.Write(line)
		b.WriteByte('\n')
	}
	for i := range instances {
		meter, uri := meters[i%2], resourceURI(i)
		common := func(id string, q int64, start, end, reported time.Time) map[string]any {
			return map[string]any{
				"id": id, "subscriptionId": subscription, "meterId": meter,
				"quantity":       json.Number(money.Quantity(q).String()),
				"usageStartTime": start.Format(time.RFC3339), "usageEndTime": end.Format(time.RFC3339),
				"resourceUri": uri, "location": "westeurope",
				"tags":         map[string]string{"costCenter": fmt.Sprintf("cc-%d", i%4), "env": "compat"},
				"reportedTime": reported.Format(time.RFC3339),
			}
		}
		for d := range days {
			day := firstDay.AddDate(0, 0, d)
			q := dailyNanos(i, d)
			write(common(fmt.Sprintf("vm-%02d/%s", i, day.Format("20060102")), q, day, day.AddDate(0, 0, 1), day.AddDate(0, 0, 1).Add(2*time.Hour)))
			dd.rows[bucketKey(day, meter, uri)] = q
			da.rows[bucketKey(day, meter, "")] += q
		}
		q := hourlyNanos(i)
		write(common(fmt.Sprintf("vm-%02d/hourly", i), q*hourlyHours, hourlyDay, hourlyDay.Add(hourlyHours*time.Hour), hourlyDay.Add(21*time.Hour+30*time.Minute)))
		for h := range hourlyHours {
			hour := hourlyDay.Add(time.Duration(h) * time.Hour)
			hd.rows[bucketKey(hour, meter, uri)] = q
			ha.rows[bucketKey(hour, meter, "")] += q
		}
	}
	return b.String(), []query{dd, da, hd, ha}
}

// startCompat starts an HTTPS server of backend b holding the data set.
func startCompat(t *testing.T, b reckontest.Backend, clock *reckontest.Clock) (*reckontest.Server, []query) {
	t.Helper()
	srv := reckontest.Start(t, reckontest.Options{Backend: b, TLS: true, Now: clock.Now})
	operator := func(method, path, body string) []byte {
		t.Helper()
		req, err := http.NewRequest(method, srv.URL+path, strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set("Authorization", "Bearer "+srv.AdminToken)
		resp, err := srv.Client().Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		data, err := io.ReadAll(resp.Body)
		if err != nil {
			t.Fatal(err)
		}
		if resp.StatusCode/100 != 2 {
			t.Fatalf("%s %s: %d %s", method, path, resp.StatusCode, data)
		}
		return data
	}
	operator(http.MethodPut, "/admin/v1/subscriptions/"+subscription, `{"displayName":"Compat","billingAccount":"compat"}`)
	for i, m := range meters {
		operator(http.MethodPut, "/admin/v1/meters/"+m,
			fmt.Sprintf(`{"meterName":%q,"meterCategory":"Virtual Machines","meterSubCategory":"Dv3/DSv3 Series","meterRegion":"EU West","unit":"1 Hour"}`, meterNames[i]))
	}
	body, queries := dataSet()
	var res struct {
		Accepted   int               `json:"accepted"`
		Duplicates int               `json:"duplicates"`
		Rejected   []json.RawMessage `json:"rejected"`
	}
	if err := json.Unmarshal(operator(http.MethodPost, "/metering/v1/usage", body), &res); err != nil {
		t.Fatal(err)
	}
	if want := instances * (days + 1); res.Accepted != want || len(res.Rejected) != 0 {
		t.Fatalf("ingest: accepted %d of %d, rejected %s", res.Accepted, want, res.Rejected)
	}
	return srv, queries
}

// rawRow is a row of the raw JSON, its quantity kept as the response's text.
type rawRow struct {
	Properties struct {
		UsageStartTime string      `json:"usageStartTime"`
		MeterID        string      `json:"meterId"`
		InstanceData   string      `json:"instanceData"`
		Quantity       json.Number `json:"quantity"`
	} `json:"properties"`
}

// rawList follows a query's pages with plain HTTP through srv.Client() and
// returns the rows keyed like query.rows, with their exact quantities.
func rawList(t *testing.T, srv *reckontest.Server, q query) (rows map[string]int64, pages int) {
	t.Helper()
	rows = map[string]int64{}
	next := srv.URL + "/subscriptions/" + subscription + "/providers/Microsoft.Commerce/UsageAggregates?api-version=2015-06-01-preview" +
		"&reportedStartTime=" + q.start.Format(time.RFC3339) + "&reportedEndTime=" + q.end.Format(time.RFC3339) +
		"&aggregationGranularity=" + q.granularity + fmt.Sprintf("&showDetails=%t", q.showDetails)
	for next != "" {
		req, err := http.NewRequest(http.MethodGet, next, nil)
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set("Authorization", "Bearer "+srv.AdminToken)
		resp, err := srv.Client().Do(req)
		if err != nil {
			t.Fatal(err)
		}
		data, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		if err != nil || resp.StatusCode != 200 {
			t.Fatalf("GET %s: %d %s %v", next, resp.StatusCode, data, err)
		}
		var page struct {
			Value    []rawRow `json:"value"`
			NextLink string   `json:"nextLink"`
		}
		dec := json.NewDecoder(strings.NewReader(string(data)))
		dec.UseNumber()
		if err := dec.Decode(&page); err != nil {
			t.Fatal(err)
		}
		pages++
		for _, r := range page.Value {
			q, err := money.ParseQuantity(r.Properties.Quantity.String())
			if err != nil {
				t.Fatalf("quantity %s: %v", r.Properties.Quantity, err)
			}
			k := bucketKey(mustTime(t, r.Properties.UsageStartTime), r.Properties.MeterID, instanceURI(t, r.Properties.InstanceData))
			if _, dup := rows[k]; dup {
				t.Errorf("row %s appears twice", k)
			}
			rows[k] = int64(q)
		}
		next = page.NextLink
		if pages > 50 {
			t.Fatal("more than 50 pages")
		}
	}
	return rows, pages
}

func mustTime(t *testing.T, s string) time.Time {
	t.Helper()
	v, err := time.Parse(time.RFC3339, s)
	if err != nil {
		t.Fatalf("time %q: %v", s, err)
	}
	return v
}

// instanceURI returns the resourceUri of an instanceData string ("" for none).
func instanceURI(t *testing.T, data string) string {
	t.Helper()
	if data == "" {
		return ""
	}
	var inst struct {
		Res struct {
			ResourceURI string `json:"resourceUri"`
		} `json:"Microsoft.Resources"`
	}
	if err := json.Unmarshal([]byte(data), &inst); err != nil {
		t.Fatalf("instanceData %q: %v", data, err)
	}
	return inst.Res.ResourceURI
}

// exactTotals sums rows per meter.
func exactTotals(rows map[string]int64) map[string]string {
	sums := query{rows: rows}.totalNanos()
	out := map[string]string{}
	for m, v := range sums {
		out[m] = money.Quantity(v).String()
	}
	return out
}

func equalMaps[V comparable](a, b map[string]V) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if w, ok := b[k]; !ok || w != v {
			return false
		}
	}
	return true
}
