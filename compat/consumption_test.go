package compat_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore/arm"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/cloud"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/to"
	"github.com/Azure/azure-sdk-for-go/sdk/resourcemanager/consumption/armconsumption"

	"github.com/reckon-billing/reckon/internal/money"
	"github.com/reckon-billing/reckon/internal/reckontest"
)

// bodyRecorder is a transport that keeps the bodies of the answers, to
// check the exact decimals the SDK decodes into float64.
type bodyRecorder struct {
	next   policy.Transporter
	mu     sync.Mutex
	bodies [][]byte
	urls   []string
}

func (r *bodyRecorder) Do(req *http.Request) (*http.Response, error) {
	resp, err := r.next.Do(req)
	if err != nil {
		return resp, err
	}
	b, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil {
		return nil, err
	}
	resp.Body = io.NopCloser(bytes.NewReader(b))
	r.mu.Lock()
	r.bodies = append(r.bodies, b)
	r.urls = append(r.urls, req.URL.String())
	r.mu.Unlock()
	return resp, nil
}

// TestArmconsumptionUsageDetails: the Go armconsumption v1.1.0
// UsageDetailsClient pager, over HTTPS, reads every row of a closed month
// (more than one page), decodes each as a LegacyUsageDetail, and the costs
// add up to the month's invoice: exactly in the JSON it received, and to
// float64 precision in what it decoded.
func TestArmconsumptionUsageDetails(t *testing.T) {
	reckontest.ForEachBackend(t, func(t *testing.T, b reckontest.Backend) {
		const (
			sub   = "5a6b7c8d-9e0f-4a1b-8c2d-3e4f5a6b7c8d"
			meter = "3b6d0e5a-7f9c-4ab1-9c4d-5e6f708192a3"
			vms   = 40 // × 29 days of February 2024 = 1,160 usage rows: two pages
		)
		clock := reckontest.NewClock(time.Date(2024, 3, 10, 12, 0, 0, 0, time.UTC))
		srv := reckontest.Start(t, reckontest.Options{Backend: b, Now: clock.Now, TLS: true})
		do := func(method, path, body string) {
			t.Helper()
			resp, data := srv.Do(t, method, path, srv.AdminToken, body)
			if resp.StatusCode/100 != 2 {
				t.Fatalf("%s %s: %d %s", method, path, resp.StatusCode, data)
			}
		}
		do(http.MethodPut, "/admin/v1/subscriptions/"+sub, `{"displayName":"Consumption compat","billingAccount":"contoso"}`)
		do(http.MethodPost, "/admin/v1/catalog/import?format=ratecard&offerDurableId=MS-AZR-0003P&currency=USD&locale=en-US&regionInfo=US",
			`{"OfferTerms":[],"Meters":[{"MeterId":"`+meter+`","MeterName":"D2 v3","MeterCategory":"Virtual Machines","MeterSubCategory":"Dv3 Series",`+
				`"MeterRegion":"US East","Unit":"1 Hour","MeterRates":{"0":0.0137,"5000":0.0111},"MeterTags":[],"IncludedQuantity":3,`+
				`"EffectiveDate":"2020-01-01T00:00:00Z"}],"Currency":"USD","Locale":"en-US","IsTaxIncluded":false}`)
		var recs []string
		for d := range 29 {
			day := time.Date(2024, 2, 1+d, 0, 0, 0, 0, time.UTC)
			for v := range vms {
				recs = append(recs, fmt.Sprintf(`{"id":"r-%d-%d","subscriptionId":%q,"meterId":%q,"quantity":"%d.%03d","usageStartTime":%q,"usageEndTime":%q,`+
					`"resourceUri":"/subscriptions/%s/resourceGroups/rg%d/providers/Microsoft.Compute/virtualMachines/vm%d","tags":{"env":"e%d"},"reportedTime":%q}`,
					d, v, sub, meter, 1+v%7, (d*37+v*11)%1000, day.Add(time.Hour).Format(time.RFC3339), day.Add(5*time.Hour).Format(time.RFC3339),
					sub, v%3, v, v%2, day.Add(6*time.Hour).Format(time.RFC3339)))
			}
		}
		do(http.MethodPost, "/metering/v1/usage", "["+strings.Join(recs, ",")+"]")
		ctx := context.Background()
		ps, err := srv.Invoicing.Periods(ctx, sub)
		if err != nil {
			t.Fatal(err)
		}
		period := ""
		for _, p := range ps {
			if p.Start.Equal(time.Date(2024, 2, 1, 0, 0, 0, 0, time.UTC)) {
				period = p.Name
			}
		}
		if period == "" {
			t.Fatalf("no February period in %+v", ps)
		}
		inv, err := srv.Invoicing.Close(ctx, sub, period, true)
		if err != nil {
			t.Fatal(err)
		}
		clock.Advance(time.Hour)

		rec := &bodyRecorder{next: srv.Client()}
		client, err := armconsumption.NewUsageDetailsClient(invoiceCredential{srv.AdminToken}, &arm.ClientOptions{ClientOptions: policy.ClientOptions{
			Cloud: cloud.Configuration{ActiveDirectoryAuthorityHost: "https://login.invalid/", Services: map[cloud.ServiceName]cloud.ServiceConfiguration{
				cloud.ResourceManager: {Endpoint: srv.URL, Audience: "https://management.core.windows.net/"}}},
			Transport: rec,
			Retry:     policy.RetryOptions{MaxRetries: -1},
		}})
		if err != nil {
			t.Fatal(err)
		}
		for _, scope := range []struct {
			name, scope string
			filter      *string
		}{
			{"billing period", "subscriptions/" + sub + "/providers/Microsoft.Billing/billingPeriods/" + period, nil},
			{"date filter", "subscriptions/" + sub, to.Ptr("properties/usageStart ge '2024-02-01' and properties/usageEnd le '2024-02-29'")},
		} {
			rec.bodies, rec.urls = nil, nil
			pager := client.NewListPager(scope.scope, &armconsumption.UsageDetailsClientListOptions{Filter: scope.filter, Expand: to.Ptr("properties/meterDetails")})
			var rows, usageRows, pages int
			var cost float64
			names := map[string]bool{}
			for pager.More() {
				page, err := pager.NextPage(ctx)
				if err != nil {
					t.Fatalf("%s: page %d: %v", scope.name, pages+1, err)
				}
				pages++
				for _, item := range page.Value {
					d, ok := item.(*armconsumption.LegacyUsageDetail)
					if !ok {
						t.Fatalf("%s: item of type %T, want *LegacyUsageDetail", scope.name, item)
					}
					p := d.Properties
					if d.Name == nil || names[*d.Name] || p == nil || p.Cost == nil || p.Date == nil || p.SubscriptionID == nil || *p.SubscriptionID != sub ||
						p.BillingCurrency == nil || *p.BillingCurrency != "USD" || *d.Kind != armconsumption.UsageDetailsKindLegacy {
						t.Fatalf("%s: item %+v", scope.name, d)
					}
					names[*d.Name] = true
					if p.Date.Before(time.Date(2024, 2, 1, 0, 0, 0, 0, time.UTC)) || !p.Date.Before(time.Date(2024, 3, 1, 0, 0, 0, 0, time.UTC)) {
						t.Errorf("%s: row of %v", scope.name, p.Date)
					}
					if p.MeterID != nil && *p.MeterID == meter {
						usageRows++
						if p.MeterDetails == nil || p.MeterDetails.MeterName == nil || *p.MeterDetails.MeterName != "D2 v3" || p.ResourceID == nil ||
							d.Tags["env"] == nil || p.Quantity == nil || *p.Quantity <= 0 {
							t.Errorf("%s: usage row %+v", scope.name, p)
						}
					}
					cost += *p.Cost
					rows++
				}
			}
			if usageRows != 29*vms || pages < 2 {
				t.Errorf("%s: %d usage rows in %d pages, want %d in at least 2", scope.name, usageRows, pages, 29*vms)
			}
			if len(rec.urls) != pages || !strings.Contains(rec.urls[0], "api-version=2021-10-01") {
				t.Errorf("%s: requests %v", scope.name, rec.urls)
			}
			// Exactly, from the JSON the client received.
			var exact money.Decimal
			n := 0
			for _, body := range rec.bodies {
				var p struct {
					Value []struct {
						Properties struct {
							Cost json.Number `json:"cost"`
						} `json:"properties"`
					} `json:"value"`
				}
				dec := json.NewDecoder(bytes.NewReader(body))
				dec.UseNumber()
				if err := dec.Decode(&p); err != nil {
					t.Fatal(err)
				}
				for _, v := range p.Value {
					d, err := money.ParseDecimal(string(v.Properties.Cost))
					if err != nil {
						t.Fatal(err)
					}
					exact = exact.Add(d)
					n++
				}
			}
			want := inv.Total.String()
			if n != rows || exact.String() != want {
				t.Errorf("%s: %d rows cost exactly %s, invoice %s total %s", scope.name, n, exact, inv.Name, want)
			}
			f, _ := strconv.ParseFloat(want, 64) // test code: comparing the SDK's floats
			if math.Abs(cost-f) > 1e-6 {
				t.Errorf("%s: the SDK's float64 costs add up to %v, invoice %v", scope.name, cost, f)
			}
			t.Logf("%s: %d rows in %d pages, cost %s = invoice %s", scope.name, rows, pages, exact, inv.Name)
		}
	})
}
