package httpapi_test

import (
	"encoding/json"
	"net/http"
	"net/url"
	"sort"
	"strings"
	"testing"

	"github.com/reckon-billing/reckon/internal/reckontest"
)

// TestIsolationMatrix: several principals × two subscriptions of two billing
// accounts × every API operation, each allowed or denied exactly as the
// roles say; a denied answer carries nothing of the subscription.
func TestIsolationMatrix(t *testing.T) {
	reckontest.ForEachBackend(t, func(t *testing.T, b reckontest.Backend) {
		srv, _ := startServer(t, b, reckontest.Options{})
		for sub, acct := range map[string]string{subA: "contoso", subB: "fabrikam"} {
			resp, body := send(t, srv, request{method: http.MethodPut, path: "/admin/v1/subscriptions/" + sub, token: srv.AdminToken,
				body: `{"displayName":"Secret name of ` + acct + `","billingAccount":"` + acct + `"}`})
			if resp.StatusCode != http.StatusCreated {
				t.Fatalf("PUT subscription: %d %s", resp.StatusCode, body)
			}
		}
		importRateCard(t, srv, "offerDurableId=MS-AZR-0003P&currency=USD&locale=en-US&regionInfo=US", rateCardImport)
		for i, sub := range []string{subA, subB} {
			res := ingest(t, srv, srv.AdminToken, `[{"id":"iso-`+sub+`","subscriptionId":"`+sub+`","meterId":"`+rcMeterTiered+`","quantity":`+[]string{"1", "2"}[i]+`,`+
				`"usageStartTime":"2024-03-02T00:00:00Z","usageEndTime":"2024-03-02T01:00:00Z","reportedTime":"2024-03-02T02:00:00Z","resourceUri":"/subscriptions/`+sub+`/resourceGroups/rg/providers/Microsoft.Compute/virtualMachines/vm-`+sub[:4]+`"}]`)
			if res.Accepted != 1 {
				t.Fatalf("seed %s: %+v", sub, res)
			}
		}

		principals := map[string]struct {
			token      string
			read       []string // subscriptions it may read
			write      []string // subscriptions it may send usage for
			isOperator bool
		}{
			"operator":          {srv.AdminToken, []string{subA, subB}, []string{subA, subB}, true},
			"owner A":           {srv.Principal(t, "owner-a", "Owner@/subscriptions/"+subA), []string{subA}, nil, false},
			"contributor B":     {srv.Principal(t, "contrib-b", "Contributor@/subscriptions/"+subB), []string{subB}, nil, false},
			"reader A":          {srv.Principal(t, "reader-a", "Reader@/subscriptions/"+subA), []string{subA}, nil, false},
			"billing reader B":  {srv.Principal(t, "billing-b", "Billing Reader@/subscriptions/"+subB), []string{subB}, nil, false},
			"writer A":          {srv.Principal(t, "writer-a", "Usage Writer@/subscriptions/"+subA), nil, []string{subA}, false},
			"writer everywhere": {srv.IngestToken, nil, []string{subA, subB}, false},
			"admin contoso":     {srv.Principal(t, "admin-contoso", "Account Admin@/providers/Microsoft.Billing/billingAccounts/contoso"), []string{subA}, nil, false},
			"nobody":            {srv.Principal(t, "nobody"), nil, nil, false},
		}
		filter := url.QueryEscape(rcFilter)
		reads := map[string]func(sub string) string{
			"UsageAggregates": func(sub string) string {
				return "/subscriptions/" + sub + "/providers/Microsoft.Commerce/UsageAggregates?api-version=2015-06-01-preview&reportedStartTime=2024-03-01T00:00:00Z&reportedEndTime=2024-03-09T00:00:00Z"
			},
			"RateCard": func(sub string) string {
				return "/subscriptions/" + sub + "/providers/Microsoft.Commerce/RateCard?api-version=2016-08-31-preview&$filter=" + filter
			},
			"charges": func(sub string) string {
				return "/subscriptions/" + sub + "/providers/Microsoft.Commerce/charges?api-version=2015-06-01-preview"
			},
			"subscription": func(sub string) string { return "/subscriptions/" + sub + "?api-version=2020-01-01" },
		}
		secretOf := map[string]string{subA: "Secret name of contoso", subB: "Secret name of fabrikam"}
		for name, p := range principals {
			for _, sub := range []string{subA, subB} {
				mayRead := contains(p.read, sub)
				for op, path := range reads {
					resp, body := send(t, srv, request{path: path(sub), token: p.token})
					switch {
					case mayRead && resp.StatusCode != 200:
						t.Errorf("%s %s of %s: %d %s, want 200", name, op, sub[:8], resp.StatusCode, clipBody(body))
					case !mayRead && resp.StatusCode != 403:
						t.Errorf("%s %s of %s: %d %s, want 403", name, op, sub[:8], resp.StatusCode, clipBody(body))
					case !mayRead && (strings.Contains(string(body), secretOf[sub]) || strings.Contains(string(body), "vm-"+sub[:4])):
						t.Errorf("%s %s of %s: the refusal leaks data: %s", name, op, sub[:8], body)
					}
				}
				// Ingestion: one record for sub.
				if p.write == nil {
					continue // refused as a whole: checked below
				}
				res := ingest(t, srv, p.token, `[{"id":"iso-w-`+strings.ReplaceAll(name, " ", "-")+sub+`","subscriptionId":"`+sub+`","meterId":"`+rcMeterTiered+`","quantity":1,"usageStartTime":"2024-03-03T00:00:00Z","usageEndTime":"2024-03-03T01:00:00Z"}]`)
				if mayWrite := contains(p.write, sub); mayWrite && res.Accepted != 1 || !mayWrite && (len(res.Rejected) != 1 || res.Rejected[0].Code != "AuthorizationFailed") {
					t.Errorf("%s ingest for %s: %+v", name, sub[:8], res)
				}
			}
			if p.write == nil {
				resp, body := send(t, srv, request{method: http.MethodPost, path: "/metering/v1/usage", token: p.token, body: "[]"})
				wantError(t, resp, body, 403, "AuthorizationFailed", "")
			}
			// The subscription list shows exactly what may be read.
			resp, body := send(t, srv, request{path: "/subscriptions?api-version=2022-12-01", token: p.token})
			var list struct {
				Value []struct{ SubscriptionID string }
			}
			if resp.StatusCode != 200 || json.Unmarshal(body, &list) != nil {
				t.Fatalf("%s GET /subscriptions: %d %s", name, resp.StatusCode, body)
			}
			var got []string
			for _, s := range list.Value {
				got = append(got, s.SubscriptionID)
			}
			want := append([]string(nil), p.read...)
			sort.Strings(got)
			sort.Strings(want)
			if strings.Join(got, ",") != strings.Join(want, ",") {
				t.Errorf("%s sees subscriptions %v, want %v", name, got, want)
			}
			// The operator API.
			resp, body = send(t, srv, request{path: "/admin/v1/subscriptions", token: p.token})
			if p.isOperator != (resp.StatusCode == 200) {
				t.Errorf("%s GET /admin/v1/subscriptions: %d %s", name, resp.StatusCode, clipBody(body))
			}
			// The offers list is for anyone signed in.
			if resp, body := send(t, srv, request{path: "/providers/Microsoft.Commerce/offers?api-version=2015-06-01-preview", token: p.token}); resp.StatusCode != 200 {
				t.Errorf("%s offers: %d %s", name, resp.StatusCode, clipBody(body))
			}
		}
		// A subscription that does not exist is a 403 for those who may not
		// read everything, so that ids cannot be probed; a 404 for the operator.
		unknown := reads["UsageAggregates"](unknownGUID)
		resp, body := send(t, srv, request{path: unknown, token: principals["owner A"].token})
		wantError(t, resp, body, 403, "AuthorizationFailed", "")
		resp, body = send(t, srv, request{path: unknown, token: srv.AdminToken})
		wantError(t, resp, body, 404, "SubscriptionNotFound", "subscriptionId")
	})
}

func contains(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}
