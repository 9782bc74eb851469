package httpapi_test

import (
	"net/http"
	"net/url"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/reckon-billing/reckon/internal/httpapi"
	"github.com/reckon-billing/reckon/internal/reckontest"
)

// providerSub names the provider's scope in the provider usage API.
const providerSub = "11111111-2222-4333-8444-555555555555"

func providerPath(rawQuery string) string {
	return "/subscriptions/" + providerSub + "/providers/Microsoft.Commerce.Admin/subscriberUsageAggregates?" + rawQuery
}

// rowKey identifies a usage row by its properties.
func rowKey(r usageRow) string {
	inst := ""
	if r.Properties.InstanceData != nil {
		inst = *r.Properties.InstanceData
	}
	return strings.Join([]string{r.Properties.SubscriptionID, r.Properties.UsageStartTime, r.Properties.UsageEndTime, r.Properties.MeterID,
		r.Properties.MeterName, r.Properties.Unit, inst, r.Properties.Quantity.String()}, "|")
}

func rowKeys(t *testing.T, rows []usageRow, typ, idPart string) []string {
	t.Helper()
	var ks []string
	seen := map[string]bool{}
	for _, r := range rows {
		k := rowKey(r)
		if seen[k] {
			t.Fatalf("row served twice: %s", k)
		}
		seen[k] = true
		if r.Type != typ || !strings.HasPrefix(r.ID, "/subscriptions/"+r.Properties.SubscriptionID+idPart) || !strings.HasSuffix(r.ID, "/"+r.Name) {
			t.Errorf("row id %s name %s type %s", r.ID, r.Name, r.Type)
		}
		ks = append(ks, k)
	}
	sort.Strings(ks)
	return ks
}

// TestProviderUsage: the provider usage API answers the UsageAggregates
// rows of every subscription (or of subscriberId), pages across
// subscriptions with a tamper-evident token, and only for operators.
func TestProviderUsage(t *testing.T) {
	reckontest.ForEachBackend(t, func(t *testing.T, b reckontest.Backend) {
		srv, _ := seedSmall(t, b, reckontest.Options{})
		putSubscription(t, srv, subC) // no usage at all
		const aggType = "Microsoft.Commerce/UsageAggregate"
		const subType = "Microsoft.Commerce.Admin/SubscriberUsageAggregate"
		var want []string
		for _, g := range []string{"Daily", "Hourly"} {
			want = nil
			for _, sub := range []string{subA, subB, subC} {
				rows, _ := listAll(t, srv, usagePath(sub, window(day, day.Add(24*time.Hour), g)))
				want = append(want, rowKeys(t, rows, aggType, "/providers/Microsoft.Commerce/UsageAggregates/")...)
			}
			sort.Strings(want)
			if len(want) < 3 {
				t.Fatalf("%s: only %d rows in the data set", g, len(want))
			}
			rows, pages := listAll(t, srv, providerPath(window(day, day.Add(24*time.Hour), g)))
			got := rowKeys(t, rows, subType, "/providers/Microsoft.Commerce.Admin/SubscriberUsageAggregates/")
			if strings.Join(got, "\n") != strings.Join(want, "\n") || pages != 1 {
				t.Errorf("%s: all subscribers: %d rows in %d pages\n%s\nwant\n%s", g, len(got), pages, strings.Join(got, "\n"), strings.Join(want, "\n"))
			}
			// One subscriber.
			rows, _ = listAll(t, srv, providerPath(window(day, day.Add(24*time.Hour), g, "subscriberId="+subA)))
			only, _ := listAll(t, srv, usagePath(subA, window(day, day.Add(24*time.Hour), g)))
			if a, b := rowKeys(t, rows, subType, "/providers/Microsoft.Commerce.Admin/"), rowKeys(t, only, aggType, "/providers/"); strings.Join(a, "\n") != strings.Join(b, "\n") {
				t.Errorf("%s: subscriberId: %v, want %v", g, a, b)
			}
		}
		// Pages of one row cross subscriptions: the same rows, none twice.
		restore := httpapi.SetProviderPageSize(1)
		rows, pages := listAll(t, srv, providerPath(window(day, day.Add(24*time.Hour), "Hourly")))
		got := rowKeys(t, rows, subType, "/providers/")
		if strings.Join(got, "\n") != strings.Join(want, "\n") || pages < len(want) {
			t.Errorf("paged: %d rows in %d pages, want %d rows", len(got), pages, len(want))
		}
		resp, body := get(t, srv, providerPath(window(day, day.Add(24*time.Hour), "Hourly")))
		p := decodePage(t, body)
		restore()
		if resp.StatusCode != http.StatusOK || p.NextLink == nil {
			t.Fatalf("first page: %d %s", resp.StatusCode, body)
		}
		u, _ := url.Parse(*p.NextLink)
		tok := u.Query().Get("continuationToken")
		for _, bad := range []string{
			providerPath(window(day, day.Add(24*time.Hour), "Hourly", "continuationToken="+tok[:len(tok)-3]+"AAA")),
			providerPath(window(day, day.Add(24*time.Hour), "Daily", "continuationToken="+tok)),
			providerPath(window(day, day.Add(24*time.Hour), "Hourly", "subscriberId="+subA, "continuationToken="+tok)),
			// A UsageAggregates token is not a provider token.
			providerPath(window(day, day.Add(24*time.Hour), "Hourly", "continuationToken=AQ"+tok[2:])),
		} {
			resp, body := get(t, srv, bad)
			wantError(t, resp, body, http.StatusBadRequest, "InvalidProperty", "continuationToken")
		}

		// Errors.
		for _, c := range []struct {
			path         string
			status       int
			code, target string
		}{
			{strings.Replace(providerPath(window(day, day.Add(24*time.Hour), "Daily")), providerSub, "provider", 1), 400, "InvalidSubscriptionId", "subscriptionId"},
			{providerPath(window(day, day.Add(24*time.Hour), "Daily", "subscriberId=nope")), 400, "InvalidSubscriptionId", "subscriberId"},
			{providerPath(window(day, day.Add(24*time.Hour), "Daily", "subscriberId="+unknownGUID)), 404, "SubscriptionNotFound", "subscriptionId"},
			{providerPath(window(day, day.Add(24*time.Hour), "Weekly")), 400, "InvalidAggregationGranularity", "aggregationGranularity"},
			{providerPath("api-version=" + apiVersion + "&reportedEndTime=2024-03-03T00:00:00Z"), 400, "InvalidProperty", "reportedStartTime"},
			{providerPath(window(day, serverNow.Add(48*time.Hour).Truncate(24*time.Hour), "Daily")), 400, "RequestEndTimeIsInFuture", "reportedEndTime"},
			{providerPath(strings.Replace(window(day, day.Add(24*time.Hour), "Daily"), apiVersion, "2021-10-01", 1)), 400, "InvalidApiVersionParameter", "api-version"},
		} {
			resp, body := get(t, srv, c.path)
			wantError(t, resp, body, c.status, c.code, c.target)
		}
		// Only operators: a subscription Owner, an Account Admin and the
		// usage writer are refused.
		for _, tok := range []string{
			srv.Principal(t, "owner-a", "Owner@/subscriptions/"+subA),
			srv.Principal(t, "owner-provider", "Owner@/subscriptions/"+providerSub),
			srv.Principal(t, "admin-contoso", "Account Admin@/providers/Microsoft.Billing/billingAccounts/contoso"),
			srv.IngestToken,
		} {
			resp, body := send(t, srv, request{path: providerPath(window(day, day.Add(24*time.Hour), "Daily")), token: tok})
			wantError(t, resp, body, http.StatusForbidden, "AuthorizationFailed", "")
		}
		resp, body = send(t, srv, request{path: providerPath(window(day, day.Add(24*time.Hour), "Daily"))})
		wantError(t, resp, body, http.StatusUnauthorized, "AuthenticationFailed", "")
	})
}
