package httpapi_test

import (
	"encoding/json"
	"net/http"
	"testing"

	"github.com/reckon-billing/reckon/internal/reckontest"
)

// TestSubscriptionResource: GET /subscriptions/{id} answers ARM's shape plus
// the subscription's RateCard parameters, in any path casing, with ARM's
// errors for a bad api-version, a malformed id and an unknown subscription.
func TestSubscriptionResource(t *testing.T) {
	reckontest.ForEachBackend(t, func(t *testing.T, b reckontest.Backend) {
		srv, _ := startServer(t, b, reckontest.Options{})
		resp, body := send(t, srv, request{method: http.MethodPut, path: "/admin/v1/subscriptions/" + subA, token: srv.AdminToken,
			body: `{"displayName":"Contoso EU","billingAccount":"contoso","offerDurableId":"MS-AZR-0017P","currency":"EUR","locale":"de-DE","regionInfo":"DE","billingDay":5}`})
		if resp.StatusCode != http.StatusCreated {
			t.Fatalf("PUT: %d %s", resp.StatusCode, body)
		}
		for _, path := range []string{"/subscriptions/" + subA, "/SUBSCRIPTIONS/" + subA} {
			resp, body := get(t, srv, path+"?api-version=2020-01-01")
			if resp.StatusCode != http.StatusOK {
				t.Fatalf("%s: %d %s", path, resp.StatusCode, body)
			}
			var got map[string]any
			if err := json.Unmarshal(body, &got); err != nil {
				t.Fatal(err)
			}
			want := map[string]any{
				"id": "/subscriptions/" + subA, "subscriptionId": subA, "displayName": "Contoso EU", "state": "Enabled",
				"authorizationSource": "RoleBased", "offerDurableId": "MS-AZR-0017P", "currency": "EUR", "locale": "de-DE",
				"regionInfo": "DE", "billingAccount": "contoso", "billingDay": float64(5),
			}
			for k, v := range want {
				if got[k] != v {
					t.Errorf("%s: %s = %v, want %v", path, k, got[k], v)
				}
			}
			if pol, _ := got["subscriptionPolicies"].(map[string]any); pol["spendingLimit"] != "Off" {
				t.Errorf("subscriptionPolicies = %v", got["subscriptionPolicies"])
			}
			checkRequestIDs(t, resp)
		}
		resp, body = get(t, srv, "/subscriptions/"+subA)
		wantError(t, resp, body, http.StatusBadRequest, "MissingApiVersionParameter", "api-version")
		resp, body = get(t, srv, "/subscriptions/"+subA+"?api-version=2015-06-01-preview")
		wantError(t, resp, body, http.StatusBadRequest, "InvalidApiVersionParameter", "api-version")
		resp, body = get(t, srv, "/subscriptions/not-a-guid?api-version=2020-01-01")
		wantError(t, resp, body, http.StatusBadRequest, "InvalidSubscriptionId", "subscriptionId")
		resp, body = get(t, srv, "/subscriptions/"+unknownGUID+"?api-version=2020-01-01")
		wantError(t, resp, body, http.StatusNotFound, "SubscriptionNotFound", "subscriptionId")
	})
}
