package httpapi_test

import (
	"encoding/json"
	"net/http"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/reckon-billing/reckon/internal/reckontest"
)

// decodeStrict decodes an operator answer, failing on unknown properties.
func decodeStrict(t *testing.T, body []byte, v any) {
	t.Helper()
	dec := json.NewDecoder(strings.NewReader(string(body)))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		t.Fatalf("decode %s: %v", clipBody(body), err)
	}
}

type subscriptionJSON struct {
	SubscriptionID string    `json:"subscriptionId"`
	DisplayName    string    `json:"displayName"`
	BillingAccount string    `json:"billingAccount"`
	State          string    `json:"state"`
	OfferDurableID string    `json:"offerDurableId"`
	Currency       string    `json:"currency"`
	Locale         string    `json:"locale"`
	RegionInfo     string    `json:"regionInfo"`
	BillingDay     int       `json:"billingDay"`
	CreatedAt      time.Time `json:"createdAt"`
	UpdatedAt      time.Time `json:"updatedAt"`
}

type meterJSON struct {
	MeterID          string    `json:"meterId"`
	MeterName        string    `json:"meterName"`
	MeterCategory    string    `json:"meterCategory"`
	MeterSubCategory string    `json:"meterSubCategory"`
	MeterRegion      string    `json:"meterRegion"`
	Unit             string    `json:"unit"`
	MeterStatus      string    `json:"meterStatus"`
	MeterTags        []string  `json:"meterTags"`
	CreatedAt        time.Time `json:"createdAt"`
	UpdatedAt        time.Time `json:"updatedAt"`
}

func TestOperatorSubscriptions(t *testing.T) {
	reckontest.ForEachBackend(t, func(t *testing.T, b reckontest.Backend) {
		srv, clock := startServer(t, b, reckontest.Options{})
		put := func(id, body string) (*http.Response, []byte) {
			return send(t, srv, request{method: http.MethodPut, path: "/admin/v1/subscriptions/" + id, token: srv.AdminToken, body: body})
		}

		// Created with defaults; the path's GUID is stored in lower case.
		resp, body := put(strings.ToUpper(subA), `{"displayName":"Contoso Dev","billingAccount":"contoso"}`)
		if resp.StatusCode != http.StatusCreated {
			t.Fatalf("first PUT: %d %s, want 201", resp.StatusCode, body)
		}
		checkRequestIDs(t, resp)
		var created subscriptionJSON
		decodeStrict(t, body, &created)
		want := subscriptionJSON{SubscriptionID: subA, DisplayName: "Contoso Dev", BillingAccount: "contoso", State: "Enabled",
			OfferDurableID: "MS-AZR-0003P", Currency: "USD", Locale: "en-US", RegionInfo: "US", BillingDay: 1,
			CreatedAt: serverNow, UpdatedAt: serverNow}
		if !reflect.DeepEqual(created, want) {
			t.Errorf("created = %+v\nwant      %+v", created, want)
		}

		// Replaced: 200, every field as sent (normalised), createdAt kept.
		clock.Advance(time.Hour)
		resp, body = put(subA, `{"subscriptionId":"`+subA+`","displayName":"Contoso Production","billingAccount":"contoso:eu","state":"pastdue",`+
			`"offerDurableId":"MS-AZR-0017P","currency":"eur","locale":"de-DE","regionInfo":"de","billingDay":15}`)
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("second PUT: %d %s, want 200", resp.StatusCode, body)
		}
		var replaced subscriptionJSON
		decodeStrict(t, body, &replaced)
		want = subscriptionJSON{SubscriptionID: subA, DisplayName: "Contoso Production", BillingAccount: "contoso:eu", State: "PastDue",
			OfferDurableID: "MS-AZR-0017P", Currency: "EUR", Locale: "de-DE", RegionInfo: "DE", BillingDay: 15,
			CreatedAt: serverNow, UpdatedAt: serverNow.Add(time.Hour)}
		if !reflect.DeepEqual(replaced, want) {
			t.Errorf("replaced = %+v\nwant       %+v", replaced, want)
		}

		resp, body = get(t, srv, "/admin/v1/subscriptions/"+subA)
		var got subscriptionJSON
		if resp.StatusCode != 200 {
			t.Fatalf("GET: %d %s", resp.StatusCode, body)
		}
		decodeStrict(t, body, &got)
		if !reflect.DeepEqual(got, want) {
			t.Errorf("GET = %+v\nwant  %+v", got, want)
		}

		putSubscription(t, srv, subB)
		resp, body = get(t, srv, "/admin/v1/subscriptions")
		var list struct {
			Value []subscriptionJSON `json:"value"`
		}
		if resp.StatusCode != 200 {
			t.Fatalf("list: %d %s", resp.StatusCode, body)
		}
		decodeStrict(t, body, &list)
		if len(list.Value) != 2 || list.Value[0].SubscriptionID != subB || list.Value[1].SubscriptionID != subA {
			t.Errorf("list = %+v, want subB then subA (id order)", list.Value)
		}

		resp, body = get(t, srv, "/admin/v1/subscriptions/"+unknownGUID)
		wantError(t, resp, body, 404, "SubscriptionNotFound", "subscriptionId")
	})
}

func TestOperatorSubscriptionValidation(t *testing.T) {
	reckontest.ForEachBackend(t, func(t *testing.T, b reckontest.Backend) {
		srv, _ := startServer(t, b, reckontest.Options{})
		const ok = `"displayName":"Contoso","billingAccount":"contoso"`
		cases := []struct {
			name, id, body string
			status         int
			code, target   string
		}{
			{"MissingBillingAccount", subA, `{"displayName":"Contoso"}`, 400, "MissingProperty", "billingAccount"},
			{"BadBillingAccount", subA, `{"displayName":"Contoso","billingAccount":"con toso"}`, 400, "InvalidProperty", "billingAccount"},
			{"MissingDisplayName", subA, `{"billingAccount":"contoso"}`, 400, "MissingProperty", "displayName"},
			{"ControlInDisplayName", subA, `{"displayName":"a\u0007b","billingAccount":"contoso"}`, 400, "InvalidProperty", "displayName"},
			{"BadState", subA, `{` + ok + `,"state":"Frozen"}`, 400, "InvalidProperty", "state"},
			{"BadOffer", subA, `{` + ok + `,"offerDurableId":"MS AZR"}`, 400, "InvalidProperty", "offerDurableId"},
			{"BadCurrency", subA, `{` + ok + `,"currency":"dollars"}`, 400, "InvalidProperty", "currency"},
			{"BadLocale", subA, `{` + ok + `,"locale":"english!"}`, 400, "InvalidProperty", "locale"},
			{"BadRegion", subA, `{` + ok + `,"regionInfo":"USA"}`, 400, "InvalidProperty", "regionInfo"},
			{"BillingDayTooLate", subA, `{` + ok + `,"billingDay":29}`, 400, "InvalidProperty", "billingDay"},
			{"BillingDayNegative", subA, `{` + ok + `,"billingDay":-1}`, 400, "InvalidProperty", "billingDay"},
			{"BodyIDMismatch", subA, `{` + ok + `,"subscriptionId":"` + subB + `"}`, 400, "InvalidProperty", "subscriptionId"},
			{"MalformedPathID", "contoso-dev", `{` + ok + `}`, 400, "InvalidSubscriptionId", "subscriptionId"},
			{"UnknownProperty", subA, `{` + ok + `,"colour":"red"}`, 400, "InvalidRequestContent", "colour"},
			{"WrongType", subA, `{` + ok + `,"billingDay":"15"}`, 400, "InvalidRequestContent", "billingDay"},
			{"EmptyBody", subA, ``, 400, "InvalidRequestContent", ""},
			{"NotJSON", subA, `displayName=Contoso`, 400, "InvalidRequestContent", ""},
			{"Array", subA, `[{` + ok + `}]`, 400, "InvalidRequestContent", ""},
			{"TrailingData", subA, `{` + ok + `} {}`, 400, "InvalidRequestContent", ""},
			{"TooLarge", subA, `{` + ok + `,"locale":"` + strings.Repeat("x", 1<<20) + `"}`, 413, "RequestBodyTooLarge", ""},
		}
		for _, c := range cases {
			t.Run(c.name, func(t *testing.T) {
				resp, body := send(t, srv, request{method: http.MethodPut, path: "/admin/v1/subscriptions/" + c.id, token: srv.AdminToken, body: c.body})
				wantError(t, resp, body, c.status, c.code, c.target)
			})
		}
		// Nothing was stored.
		resp, body := get(t, srv, "/admin/v1/subscriptions/"+subA)
		wantError(t, resp, body, 404, "SubscriptionNotFound", "subscriptionId")
		resp, body = get(t, srv, "/admin/v1/subscriptions")
		if resp.StatusCode != 200 || string(body) != `{"value":[]}` {
			t.Errorf("list after failed PUTs: %d %s, want 200 {\"value\":[]}", resp.StatusCode, body)
		}
	})
}

func TestOperatorMeters(t *testing.T) {
	reckontest.ForEachBackend(t, func(t *testing.T, b reckontest.Backend) {
		srv, clock := startServer(t, b, reckontest.Options{})
		put := func(id, body string) (*http.Response, []byte) {
			return send(t, srv, request{method: http.MethodPut, path: "/admin/v1/meters/" + id, token: srv.AdminToken, body: body})
		}
		resp, body := put("{"+strings.ToUpper(meterA)+"}", `{"meterName":"D2 v3","meterCategory":"Virtual Machines","unit":"1 Hour"}`)
		if resp.StatusCode != http.StatusCreated {
			t.Fatalf("first PUT: %d %s, want 201", resp.StatusCode, body)
		}
		var created meterJSON
		decodeStrict(t, body, &created)
		want := meterJSON{MeterID: meterA, MeterName: "D2 v3", MeterCategory: "Virtual Machines", Unit: "1 Hour",
			MeterStatus: "Active", MeterTags: []string{}, CreatedAt: serverNow, UpdatedAt: serverNow}
		if !reflect.DeepEqual(created, want) {
			t.Errorf("created = %+v\nwant      %+v", created, want)
		}

		clock.Advance(time.Minute)
		resp, body = put(meterA, `{"meterId":"`+meterA+`","meterName":"D2 v3/D2s v3","meterCategory":"Virtual Machines","meterSubCategory":"Dv3/Dsv3 Series",`+
			`"meterRegion":"EU West","unit":"1 Hour","meterStatus":"deprecated","meterTags":["Third Party"]}`)
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("second PUT: %d %s, want 200", resp.StatusCode, body)
		}
		var replaced meterJSON
		decodeStrict(t, body, &replaced)
		want = meterJSON{MeterID: meterA, MeterName: "D2 v3/D2s v3", MeterCategory: "Virtual Machines", MeterSubCategory: "Dv3/Dsv3 Series",
			MeterRegion: "EU West", Unit: "1 Hour", MeterStatus: "Deprecated", MeterTags: []string{"Third Party"}, CreatedAt: serverNow, UpdatedAt: serverNow.Add(time.Minute)}
		if !reflect.DeepEqual(replaced, want) {
			t.Errorf("replaced = %+v\nwant       %+v", replaced, want)
		}
		resp, body = get(t, srv, "/admin/v1/meters/"+meterA)
		var got meterJSON
		if resp.StatusCode != 200 {
			t.Fatalf("GET: %d %s", resp.StatusCode, body)
		}
		decodeStrict(t, body, &got)
		if !reflect.DeepEqual(got, want) {
			t.Errorf("GET = %+v\nwant  %+v", got, want)
		}
		putMeter(t, srv, meterB, "D4 v3")
		resp, body = get(t, srv, "/admin/v1/meters")
		var list struct {
			Value []meterJSON `json:"value"`
		}
		decodeStrict(t, body, &list)
		if resp.StatusCode != 200 || len(list.Value) != 2 || list.Value[0].MeterID != meterA || list.Value[1].MeterID != meterB {
			t.Errorf("list = %d %+v, want meterA then meterB (id order)", resp.StatusCode, list.Value)
		}

		resp, body = get(t, srv, "/admin/v1/meters/"+unknownGUID)
		wantError(t, resp, body, 404, "MeterNotFound", "meterId")

		const ok = `"meterName":"D8 v3","meterCategory":"Virtual Machines","unit":"1 Hour"`
		for _, c := range []struct {
			name, id, body string
			code, target   string
		}{
			{"MissingName", unknownGUID, `{"meterCategory":"Virtual Machines","unit":"1 Hour"}`, "MissingProperty", "meterName"},
			{"MissingCategory", unknownGUID, `{"meterName":"D8 v3","unit":"1 Hour"}`, "MissingProperty", "meterCategory"},
			{"MissingUnit", unknownGUID, `{"meterName":"D8 v3","meterCategory":"Virtual Machines"}`, "MissingProperty", "unit"},
			{"NameTooLong", unknownGUID, `{` + ok + `,"meterSubCategory":"` + strings.Repeat("é", 257) + `"}`, "InvalidProperty", "meterSubCategory"},
			{"BadStatus", unknownGUID, `{` + ok + `,"meterStatus":"Retired"}`, "InvalidProperty", "meterStatus"},
			{"BodyIDMismatch", unknownGUID, `{` + ok + `,"meterId":"` + meterB + `"}`, "InvalidProperty", "meterId"},
			{"MalformedPathID", "d8-v3", `{` + ok + `}`, "InvalidMeterId", "meterId"},
			{"UnknownProperty", unknownGUID, `{` + ok + `,"price":1}`, "InvalidRequestContent", "price"},
			{"WrongType", unknownGUID, `{"meterName":8,"meterCategory":"Virtual Machines","unit":"1 Hour"}`, "InvalidRequestContent", "meterName"},
		} {
			t.Run(c.name, func(t *testing.T) {
				resp, body := put(c.id, c.body)
				wantError(t, resp, body, 400, c.code, c.target)
			})
		}
		resp, body = get(t, srv, "/admin/v1/meters/"+unknownGUID)
		wantError(t, resp, body, 404, "MeterNotFound", "meterId")
	})
}

// TestOperatorAuthorization checks that every operator route wants the
// Operator role: 401 without a valid token, 403 with a valid token of any
// other role (a usage writer, a subscription's Reader or Owner, an Account
// Admin).
func TestOperatorAuthorization(t *testing.T) {
	calls := []request{
		{method: http.MethodPut, path: "/admin/v1/subscriptions/" + subB, body: `{"displayName":"X","billingAccount":"x"}`},
		{method: http.MethodGet, path: "/admin/v1/subscriptions/" + subA},
		{method: http.MethodGet, path: "/admin/v1/subscriptions"},
		{method: http.MethodPut, path: "/admin/v1/meters/" + meterB, body: `{"meterName":"X","meterCategory":"X","unit":"X"}`},
		{method: http.MethodGet, path: "/admin/v1/meters/" + meterA},
		{method: http.MethodGet, path: "/admin/v1/meters"},
		{method: http.MethodPut, path: "/admin/v1/offers/MS-AZR-0003P", body: `{"name":"X"}`},
		{method: http.MethodGet, path: "/admin/v1/offers"},
		{method: http.MethodPost, path: "/admin/v1/catalog/import?format=ratecard&offerDurableId=MS-AZR-0003P&currency=USD", body: `{"OfferTerms":[],"Meters":[]}`},
		{method: http.MethodPut, path: "/admin/v1/principals/intruder", body: `{"displayName":"X","secret":"0123456789abcdefXYZ"}`},
		{method: http.MethodGet, path: "/admin/v1/principals"},
		{method: http.MethodDelete, path: "/admin/v1/principals/" + reckontest.IngestID},
		{method: http.MethodPut, path: "/admin/v1/roleAssignments/6a1d6f5e-0000-4000-8000-000000000009", body: `{"principalId":"owner-a","roleDefinitionName":"Operator","scope":"/"}`},
		{method: http.MethodGet, path: "/admin/v1/roleAssignments"},
		{method: http.MethodPost, path: "/admin/v1/signingKeys/rotate"},
		{method: http.MethodGet, path: "/admin/v1/audit"},
	}
	reckontest.ForEachBackend(t, func(t *testing.T, b reckontest.Backend) {
		srv, _ := startServer(t, b, reckontest.Options{})
		putSubscription(t, srv, subA)
		putMeter(t, srv, meterA, "D2 v3")
		tokens := map[string]string{
			"usage writer":  srv.IngestToken,
			"reader":        srv.Principal(t, "reader-a", "Reader@/subscriptions/"+subA),
			"owner":         srv.Principal(t, "owner-a", "Owner@/subscriptions/"+subA),
			"account admin": srv.Principal(t, "admin-contoso", "Account Admin@/providers/Microsoft.Billing/billingAccounts/contoso"),
		}
		for _, c := range calls {
			t.Run(c.method+" "+c.path, func(t *testing.T) {
				for name, tok := range tokens {
					c.token = tok
					resp, body := send(t, srv, c)
					if resp.StatusCode != http.StatusForbidden {
						t.Errorf("%s: %d %s", name, resp.StatusCode, clipBody(body))
						continue
					}
					wantError(t, resp, body, 403, "AuthorizationFailed", "")
				}
				c.token = ""
				resp, body := send(t, srv, c)
				wantError(t, resp, body, 401, "AuthenticationFailed", "")
				if !strings.HasPrefix(resp.Header.Get("WWW-Authenticate"), "Bearer ") {
					t.Errorf("WWW-Authenticate = %q", resp.Header.Get("WWW-Authenticate"))
				}
				c.token = "not-a-known-token"
				resp, body = send(t, srv, c)
				wantError(t, resp, body, 401, "InvalidAuthenticationToken", "")
			})
		}
		// The refused PUTs stored nothing.
		resp, body := get(t, srv, "/admin/v1/subscriptions/"+subB)
		wantError(t, resp, body, 404, "SubscriptionNotFound", "subscriptionId")
		resp, body = get(t, srv, "/admin/v1/meters/"+meterB)
		wantError(t, resp, body, 404, "MeterNotFound", "meterId")
		resp, body = get(t, srv, "/admin/v1/principals/intruder")
		wantError(t, resp, body, 404, "PrincipalNotFound", "clientId")
	})
}
