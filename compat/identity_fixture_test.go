package compat_test

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	fx "github.com/reckon-billing/reckon/compat/ratecardfixture"
	"github.com/reckon-billing/reckon/internal/auth"
	"github.com/reckon-billing/reckon/internal/money"
	"github.com/reckon-billing/reckon/internal/reckontest"
)

// The identity compatibility tests (az, azidentity) sign in as a service
// principal that is Reader of the RateCard fixture's subscription and of
// nothing else, over HTTPS. A second subscription, the "other" one, holds
// usage too: the principal must see neither it nor a byte of its data.
const (
	// otherSubscription is the subscription the reader may not read.
	otherSubscription = "e4d3c2b1-a098-4f7e-8d6c-5b4a39281706"
	// readerClientID and readerSecret are the reader's credentials.
	readerClientID = "5d1f3a2c-8b7e-4c6d-9a0f-1e2d3c4b5a69"
	readerSecret   = "reader-secret-Zq8~vL2-pN4_tR6.wX"
	// readerName is the reader's display name.
	readerName = "Compat reader"
	// identityDays of usage (1 to 5 January 2024), each reported at 02:00
	// the next day; idResources resources per subscription.
	identityDays = 5
	idResources  = 4
)

// The UsageAggregates window that holds every record of the identity data
// set: reported [2 January, 7 January).
var (
	identityFrom = time.Date(2024, 1, 2, 0, 0, 0, 0, time.UTC)
	identityTo   = time.Date(2024, 1, 7, 0, 0, 0, 0, time.UTC)
)

// identityEnv is a server holding the identity data set.
type identityEnv struct {
	srv *reckontest.Server
	// rows are the Daily rows without details of fx.Subscription in the
	// window, "usageStartTime|meterId" → quantity in billionths; other
	// the same for otherSubscription.
	rows, other map[string]int64
}

// identityNanos is the quantity, in billionths, of resource i of
// subscription s (0: the reader's, 1: the other) on day d.
func identityNanos(s, i, d int) int64 {
	return int64(1+i+3*d)*1_000_000_000 + int64((s*7+1)*(i*104729+d*7919+11)%1_000_000_000)
}

// startIdentity starts an HTTPS server of backend b with the RateCard
// fixture (imported as ratecardfixture.Start does), a second subscription, Daily usage on both, and the reader
// principal with a secret and the Reader role on fx.Subscription only.
func startIdentity(t *testing.T, b reckontest.Backend) *identityEnv {
	t.Helper()
	// The real clock, unlike the other compatibility tests: MSAL takes a
	// token's expiry from the token response's expires_on, which Reckon
	// computes with its clock, and a token that expired in 2024 would be
	// fetched again for every request.
	srv := reckontest.Start(t, reckontest.Options{Backend: b, TLS: true})
	resp, data := srv.Do(t, http.MethodPut, "/admin/v1/subscriptions/"+fx.Subscription, srv.AdminToken,
		`{"displayName":"RateCard compat","billingAccount":"compat","offerDurableId":"`+fx.Offer+`","currency":"`+fx.Currency+
			`","locale":"`+fx.Locale+`","regionInfo":"`+fx.RegionInfo+`"}`)
	if resp.StatusCode/100 != 2 {
		t.Fatalf("PUT subscription %s: %d %s", fx.Subscription, resp.StatusCode, data)
	}
	q := url.Values{"format": {"ratecard"}, "offerDurableId": {fx.Offer}, "currency": {fx.Currency}, "locale": {fx.Locale}, "regionInfo": {fx.RegionInfo}}
	resp, data = srv.Do(t, http.MethodPost, "/admin/v1/catalog/import?"+q.Encode(), srv.AdminToken, fx.Body())
	var imported struct {
		Meters   struct{ Added int }
		Rejected []json.RawMessage
	}
	if resp.StatusCode != http.StatusOK || json.Unmarshal(data, &imported) != nil || imported.Meters.Added != len(fx.Meters) || len(imported.Rejected) != 0 {
		t.Fatalf("import the RateCard fixture: %d %s", resp.StatusCode, data)
	}
	resp, data = srv.Do(t, http.MethodPut, "/admin/v1/subscriptions/"+otherSubscription, srv.AdminToken,
		`{"displayName":"Not the reader's","billingAccount":"other","offerDurableId":"`+fx.Offer+`","currency":"`+fx.Currency+
			`","locale":"`+fx.Locale+`","regionInfo":"`+fx.RegionInfo+`"}`)
	if resp.StatusCode/100 != 2 {
		t.Fatalf("PUT subscription %s: %d %s", otherSubscription, resp.StatusCode, data)
	}
	env := &identityEnv{srv: srv, rows: map[string]int64{}, other: map[string]int64{}}
	var body strings.Builder
	meterIDs := []string{fx.Meters[1].ID, fx.Meters[2].ID}
	for s, sub := range []string{fx.Subscription, otherSubscription} {
		rows := env.rows
		if s == 1 {
			rows = env.other
		}
		for i := range idResources {
			meter := meterIDs[i%2]
			for d := range identityDays {
				day := time.Date(2024, 1, 1+d, 0, 0, 0, 0, time.UTC)
				q := identityNanos(s, i, d)
				line, err := json.Marshal(map[string]any{
					"id": fmt.Sprintf("identity-%d-%d-%d", s, i, d), "subscriptionId": sub, "meterId": meter,
					"quantity":       json.Number(money.Quantity(q).String()),
					"usageStartTime": day.Format(time.RFC3339), "usageEndTime": day.AddDate(0, 0, 1).Format(time.RFC3339),
					"resourceUri":  fmt.Sprintf("/subscriptions/%s/resourceGroups/rg-identity/providers/Microsoft.Compute/virtualMachines/vm-%d", sub, i),
					"reportedTime": day.AddDate(0, 0, 1).Add(2 * time.Hour).Format(time.RFC3339),
				})
				if err != nil {
					t.Fatal(err)
				}
				body.Write(line)
				body.WriteByte('\n')
				rows[day.Format(time.RFC3339)+"|"+meter] += q
			}
		}
	}
	resp, data = srv.Do(t, http.MethodPost, "/metering/v1/usage", srv.AdminToken, body.String())
	var res struct {
		Accepted int               `json:"accepted"`
		Rejected []json.RawMessage `json:"rejected"`
	}
	if resp.StatusCode != http.StatusOK || json.Unmarshal(data, &res) != nil || res.Accepted != 2*idResources*identityDays || len(res.Rejected) != 0 {
		t.Fatalf("ingest: %d %s", resp.StatusCode, data)
	}
	srv.Principal(t, readerClientID, "Reader@/subscriptions/"+fx.Subscription)
	if _, _, err := srv.Auth.PutPrincipal(t.Context(), reckontest.OperatorID, readerClientID,
		auth.PrincipalInput{DisplayName: readerName, Secret: readerSecret}); err != nil {
		t.Fatalf("give the reader a secret: %v", err)
	}
	return env
}

// usagePath is the UsageAggregates request of the identity window (Daily,
// without details) for subscription sub.
func usagePath(sub string) string {
	return "/subscriptions/" + sub + "/providers/Microsoft.Commerce/UsageAggregates?api-version=2015-06-01-preview" +
		"&reportedStartTime=" + identityFrom.Format(time.RFC3339) + "&reportedEndTime=" + identityTo.Format(time.RFC3339) +
		"&aggregationGranularity=Daily&showDetails=false"
}

// meterTotals sums rows per meter.
func meterTotals(rows map[string]int64) map[string]int64 {
	sums := map[string]int64{}
	for k, v := range rows {
		_, meter, _ := strings.Cut(k, "|")
		sums[meter] += v
	}
	return sums
}
