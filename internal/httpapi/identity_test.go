package httpapi_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/reckon-billing/reckon/internal/account"
	"github.com/reckon-billing/reckon/internal/catalog"
	"github.com/reckon-billing/reckon/internal/reckontest"
)

// syncBuffer collects a server's log while requests run.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// tokenRequest posts a token request form and decodes the answer.
func tokenRequest(t *testing.T, srv *reckontest.Server, form url.Values) (*http.Response, map[string]any) {
	t.Helper()
	resp, err := srv.Client().PostForm(srv.URL+"/adfs/oauth2/token", form)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var body map[string]any
	if err := json.NewDecoder(resp.Body).Decode(&body); err != nil {
		t.Fatalf("token answer is not JSON: %v", err)
	}
	return resp, body
}

// TestTokenService: the ADFS-style discovery document, a client-credentials
// sign-in as az sends it (scope with the double slash, claims), the token
// working on the API, and the refusals.
func TestTokenService(t *testing.T) {
	reckontest.ForEachBackend(t, func(t *testing.T, b reckontest.Backend) {
		var logBuf syncBuffer
		srv, _ := startServer(t, b, reckontest.Options{Log: &logBuf})
		putSubscription(t, srv, subA)

		resp, body := get(t, srv, "/adfs/.well-known/openid-configuration")
		var oidc map[string]any
		if resp.StatusCode != 200 || json.Unmarshal(body, &oidc) != nil {
			t.Fatalf("openid-configuration: %d %s", resp.StatusCode, body)
		}
		if oidc["issuer"] != srv.URL+"/adfs" || oidc["access_token_issuer"] != reckontest.Issuer || oidc["token_endpoint"] != srv.URL+"/adfs/oauth2/token" || oidc["jwks_uri"] != srv.URL+"/adfs/discovery/keys" {
			t.Errorf("openid-configuration = %v", oidc)
		}
		resp, body = get(t, srv, "/adfs/discovery/keys")
		var jwks struct{ Keys []map[string]any }
		if resp.StatusCode != 200 || json.Unmarshal(body, &jwks) != nil || len(jwks.Keys) == 0 || jwks.Keys[0]["kty"] != "RSA" {
			t.Errorf("JWKS: %d %s", resp.StatusCode, clipBody(body))
		}
		// az asks for the metadata with the endpoint's trailing slash.
		resp, body = send(t, srv, request{path: "//metadata/endpoints?api-version=2015-01-01"})
		var meta struct {
			Authentication struct {
				LoginEndpoint string
				Audiences     []string
			}
		}
		if resp.StatusCode != 200 || json.Unmarshal(body, &meta) != nil || meta.Authentication.LoginEndpoint != srv.URL+"/adfs" || len(meta.Authentication.Audiences) == 0 {
			t.Errorf("metadata/endpoints: %d %s", resp.StatusCode, body)
		}

		// A reader signs in the way az does.
		const secret = "reader-secret-0123456789"
		resp, body = send(t, srv, request{method: http.MethodPut, path: "/admin/v1/principals/app-reader", token: srv.AdminToken,
			body: `{"displayName":"Reader app","secret":"` + secret + `"}`})
		if resp.StatusCode != http.StatusCreated || strings.Contains(string(body), secret) {
			t.Fatalf("PUT principal: %d %s", resp.StatusCode, body)
		}
		resp, body = send(t, srv, request{method: http.MethodPut, path: "/admin/v1/roleAssignments/7d2c5b1a-0000-4000-8000-000000000001", token: srv.AdminToken,
			body: `{"principalId":"app-reader","roleDefinitionName":"reader","scope":"/subscriptions/` + strings.ToUpper(subA) + `"}`})
		if resp.StatusCode != http.StatusCreated || !strings.Contains(string(body), `"roleDefinitionName":"Reader"`) || !strings.Contains(string(body), subA) {
			t.Fatalf("PUT role assignment: %d %s", resp.StatusCode, body)
		}
		form := url.Values{"client_id": {"app-reader"}, "grant_type": {"client_credentials"}, "client_info": {"1"}, "client_secret": {secret},
			"claims": {`{"access_token":{"xms_cc":{"values":["CP1"]}}}`}, "scope": {"https://management.core.windows.net//.default"}}
		tresp, tok := tokenRequest(t, srv, form)
		access, _ := tok["access_token"].(string)
		if tresp.StatusCode != 200 || access == "" || tok["token_type"] != "Bearer" || tok["expires_in"] == nil {
			t.Fatalf("token: %d %v", tresp.StatusCode, tok)
		}
		if resp, body := send(t, srv, request{path: "/subscriptions/" + subA + "?api-version=2020-01-01", token: access}); resp.StatusCode != 200 {
			t.Errorf("the reader's token on its subscription: %d %s", resp.StatusCode, body)
		}
		resp, body = send(t, srv, request{path: "/subscriptions?api-version=2019-11-01", token: access})
		var list struct {
			Value []struct{ SubscriptionID, TenantID, State string }
		}
		if resp.StatusCode != 200 || json.Unmarshal(body, &list) != nil || len(list.Value) != 1 || list.Value[0].SubscriptionID != subA || list.Value[0].TenantID == "" {
			t.Errorf("GET /subscriptions as the reader: %d %s", resp.StatusCode, body)
		}
		resp, body = send(t, srv, request{path: "/tenants?api-version=2020-01-01", token: access})
		if resp.StatusCode != 200 || !strings.Contains(string(body), list.Value[0].TenantID) {
			t.Errorf("GET /tenants: %d %s", resp.StatusCode, body)
		}
		// HTTP Basic client authentication and the resource parameter work too.
		req, _ := http.NewRequest(http.MethodPost, srv.URL+"/adfs/oauth2/token", strings.NewReader("grant_type=client_credentials&resource=https%3A%2F%2Fmanagement.azure.com%2F"))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.SetBasicAuth("app-reader", secret)
		if r, err := srv.Client().Do(req); err != nil || r.StatusCode != 200 {
			t.Errorf("basic auth: %v %v", r, err)
		}

		// Refusals: a wrong secret and an unknown client look the same.
		for name, f := range map[string]url.Values{
			"wrong secret":   {"grant_type": {"client_credentials"}, "client_id": {"app-reader"}, "client_secret": {"not-the-secret-at-all"}},
			"unknown client": {"grant_type": {"client_credentials"}, "client_id": {"nobody"}, "client_secret": {"not-the-secret-at-all"}},
		} {
			r, body := tokenRequest(t, srv, f)
			if r.StatusCode != 401 || body["error"] != "invalid_client" {
				t.Errorf("%s: %d %v", name, r.StatusCode, body)
			}
		}
		for name, c := range map[string]struct {
			f    url.Values
			code string
		}{
			"no grant":         {url.Values{"client_id": {"app-reader"}, "client_secret": {secret}}, "invalid_request"},
			"other grant":      {url.Values{"grant_type": {"authorization_code"}, "client_id": {"app-reader"}, "client_secret": {secret}}, "unsupported_grant_type"},
			"no secret":        {url.Values{"grant_type": {"client_credentials"}, "client_id": {"app-reader"}}, "invalid_request"},
			"foreign audience": {url.Values{"grant_type": {"client_credentials"}, "client_id": {"app-reader"}, "client_secret": {secret}, "scope": {"https://graph.microsoft.com/.default"}}, "invalid_scope"},
		} {
			r, body := tokenRequest(t, srv, c.f)
			if r.StatusCode != 400 || body["error"] != c.code {
				t.Errorf("%s: %d %v, want 400 %s", name, r.StatusCode, body, c.code)
			}
		}

		// Bad tokens on the API: 401 with the code and WWW-Authenticate.
		for name, bad := range map[string]string{
			"garbage":   "not-a-jwt",
			"alg none":  "eyJhbGciOiJub25lIiwidHlwIjoiSldUIn0.eyJzdWIiOiJ0ZXN0LW9wZXJhdG9yIn0.",
			"tampered":  access[:len(access)-4] + "AAAA",
			"truncated": access[:len(access)/2],
		} {
			resp, body := send(t, srv, request{path: "/subscriptions/" + subA + "?api-version=2020-01-01", token: bad})
			wantError(t, resp, body, 401, "InvalidAuthenticationToken", "")
			if !strings.HasPrefix(resp.Header.Get("WWW-Authenticate"), `Bearer authorization_uri="`+srv.URL+`/adfs"`) {
				t.Errorf("%s: WWW-Authenticate = %q", name, resp.Header.Get("WWW-Authenticate"))
			}
		}
		// Secrets and tokens never reach the log.
		if log := logBuf.String(); strings.Contains(log, secret) || strings.Contains(log, access) || strings.Contains(log, srv.AdminToken) {
			t.Errorf("the log holds a secret or a token:\n%s", log)
		}
		// The audit trail saw the sign-ins and the changes.
		resp, body = get(t, srv, "/admin/v1/audit?limit=100")
		for _, want := range []string{`"signIn"`, `"signInFailed"`, `"principal.put"`, `"roleAssignment.put"`, `"app-reader"`} {
			if !bytes.Contains(body, []byte(want)) {
				t.Errorf("audit trail lacks %s: %s", want, clipBody(body))
			}
		}
		if bytes.Contains(body, []byte(secret)) {
			t.Error("the audit trail holds a secret")
		}
	})
}

// TestSignInLockout: repeated failed sign-ins lock the client id for a
// while, even with the right secret afterwards; the lock lifts in time.
func TestSignInLockout(t *testing.T) {
	srv, clock := startServer(t, reckontest.SQLite, reckontest.Options{})
	wrong := url.Values{"grant_type": {"client_credentials"}, "client_id": {reckontest.OperatorID}, "client_secret": {"wrong-secret-0123456789"}}
	right := url.Values{"grant_type": {"client_credentials"}, "client_id": {reckontest.OperatorID}, "client_secret": {reckontest.OperatorSecret}}
	for i := range 5 {
		if r, body := tokenRequest(t, srv, wrong); r.StatusCode != 401 {
			t.Fatalf("failure %d: %d %v", i, r.StatusCode, body)
		}
	}
	r, body := tokenRequest(t, srv, right)
	if r.StatusCode != http.StatusTooManyRequests || r.Header.Get("Retry-After") == "" {
		t.Fatalf("right secret while locked: %d %v", r.StatusCode, body)
	}
	clock.Advance(6 * time.Minute)
	if r, body := tokenRequest(t, srv, right); r.StatusCode != 200 {
		t.Fatalf("after the lock: %d %v", r.StatusCode, body)
	}
}

// TestThrottling: a principal's read budget on a subscription runs out with
// 429 and Retry-After; the remaining count is in every answer; another
// subscription and another principal have budgets of their own.
func TestThrottling(t *testing.T) {
	srv, clock := startServer(t, reckontest.SQLite, reckontest.Options{ReadsPerHour: 3, WritesPerHour: 2})
	ctx := context.Background()
	for _, s := range []string{subA, subB} {
		if _, _, err := srv.Accounts.Put(ctx, s, account.Subscription{DisplayName: "T", BillingAccount: "contoso"}); err != nil {
			t.Fatal(err)
		}
	}
	if _, _, err := srv.Catalog.PutMeter(ctx, meterA, catalog.Meter{MeterName: "A", MeterCategory: "C", Unit: "1 Hour"}); err != nil {
		t.Fatal(err)
	}
	path := "/subscriptions/" + subA + "?api-version=2020-01-01"
	for i := range 3 {
		resp, body := get(t, srv, path)
		if resp.StatusCode != 200 || resp.Header.Get("x-ms-ratelimit-remaining-subscription-reads") != strings.TrimSpace(string(rune('0'+2-i))) {
			t.Fatalf("read %d: %d %q %s", i, resp.StatusCode, resp.Header.Get("x-ms-ratelimit-remaining-subscription-reads"), body)
		}
	}
	resp, body := get(t, srv, path)
	wantError(t, resp, body, http.StatusTooManyRequests, "SubscriptionRequestsThrottled", "")
	if ra := resp.Header.Get("Retry-After"); ra == "" || ra == "0" {
		t.Errorf("Retry-After = %q", ra)
	}
	if resp, _ := get(t, srv, "/subscriptions/"+subB+"?api-version=2020-01-01"); resp.StatusCode != 200 {
		t.Errorf("another subscription: %d", resp.StatusCode)
	}
	other := srv.Principal(t, "reader-a", "Reader@/subscriptions/"+subA)
	if resp, _ := send(t, srv, request{path: path, token: other}); resp.StatusCode != 200 {
		t.Errorf("another principal: %d", resp.StatusCode)
	}
	// Writes have their own budget, at tenant level for the metering API.
	post := request{method: http.MethodPost, path: "/metering/v1/usage", token: srv.IngestToken, body: ndjson(rec("t-1", "1"))}
	for i := range 2 {
		if resp, body := send(t, srv, post); resp.StatusCode != 200 || resp.Header.Get("x-ms-ratelimit-remaining-tenant-writes") == "" {
			t.Fatalf("write %d: %d %s", i, resp.StatusCode, body)
		}
	}
	if resp, body := send(t, srv, post); resp.StatusCode != http.StatusTooManyRequests {
		t.Errorf("third write: %d %s", resp.StatusCode, body)
	}
	clock.Advance(20 * time.Minute) // a third of an hour: one read back
	if resp, body := get(t, srv, path); resp.StatusCode != 200 || resp.Header.Get("x-ms-ratelimit-remaining-subscription-reads") != "0" {
		t.Errorf("after 20 minutes: %d %q %s", resp.StatusCode, resp.Header.Get("x-ms-ratelimit-remaining-subscription-reads"), body)
	}
}

// A token request body over 64 KiB is refused with 413, whether its length
// is declared or it comes chunked (no length known in advance).
func TestTokenBodyTooLarge(t *testing.T) {
	srv := reckontest.Start(t, reckontest.Options{})
	body := "grant_type=client_credentials&client_secret=" + strings.Repeat("x", 70<<10)
	for _, chunked := range []bool{false, true} {
		var r io.Reader = strings.NewReader(body)
		if chunked {
			r = io.MultiReader(r) // hides the length: the client sends it chunked
		}
		req, _ := http.NewRequest(http.MethodPost, srv.URL+"/adfs/oauth2/token", r)
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		resp, err := srv.Client().Do(req)
		if err != nil {
			t.Fatal(err)
		}
		data, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusRequestEntityTooLarge || !strings.Contains(string(data), "invalid_request") {
			t.Errorf("chunked %v: %d %s", chunked, resp.StatusCode, data)
		}
	}
}
