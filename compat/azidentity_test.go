package compat_test

import (
	"bytes"
	"errors"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/arm"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/cloud"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/to"
	"github.com/Azure/azure-sdk-for-go/sdk/azidentity"
	"github.com/Azure/azure-sdk-for-go/sdk/resourcemanager/commerce/armcommerce"

	fx "github.com/reckon-billing/reckon/compat/ratecardfixture"
	"github.com/reckon-billing/reckon/internal/money"
	"github.com/reckon-billing/reckon/internal/reckontest"
)

// sentRequest is a request a tokenRecorder passed on.
type sentRequest struct {
	method string
	url    *url.URL
	form   url.Values // the body of a token request
	status int
}

// tokenRecorder passes requests on to next and records each, with the
// form of the token requests.
type tokenRecorder struct {
	next policy.Transporter

	mu   sync.Mutex
	sent []sentRequest
}

func (r *tokenRecorder) Do(req *http.Request) (*http.Response, error) {
	s := sentRequest{method: req.Method, url: req.URL}
	if req.Body != nil && req.Method == http.MethodPost {
		body, err := io.ReadAll(req.Body)
		if err != nil {
			return nil, err
		}
		req.Body.Close()
		req.Body = io.NopCloser(bytes.NewReader(body))
		s.form, _ = url.ParseQuery(string(body))
	}
	resp, err := r.next.Do(req)
	if err == nil {
		s.status = resp.StatusCode
	}
	r.mu.Lock()
	r.sent = append(r.sent, s)
	r.mu.Unlock()
	return resp, err
}

func (r *tokenRecorder) requests() []sentRequest {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]sentRequest(nil), r.sent...)
}

// cloudConfig is the cloud whose authority host and Resource Manager are
// srv (authorityPath "/" or "/adfs/").
func cloudConfig(srv *reckontest.Server, authorityPath string) cloud.Configuration {
	return cloud.Configuration{
		ActiveDirectoryAuthorityHost: srv.URL + authorityPath,
		Services: map[cloud.ServiceName]cloud.ServiceConfiguration{
			cloud.ResourceManager: {Endpoint: srv.URL, Audience: "https://management.core.windows.net/"},
		},
	}
}

// secretCredential returns a ClientSecretCredential of the reader against
// srv's token service.
func secretCredential(t *testing.T, srv *reckontest.Server, tenant, authorityPath, secret string, transport policy.Transporter) *azidentity.ClientSecretCredential {
	t.Helper()
	cred, err := azidentity.NewClientSecretCredential(tenant, readerClientID, secret, &azidentity.ClientSecretCredentialOptions{
		ClientOptions: azcore.ClientOptions{
			Cloud:     cloudConfig(srv, authorityPath),
			Transport: transport,
			Retry:     policy.RetryOptions{MaxRetries: -1},
		},
		DisableInstanceDiscovery: true,
	})
	if err != nil {
		t.Fatalf("NewClientSecretCredential(%q, authority host %s): %v", tenant, srv.URL+authorityPath, err)
	}
	return cred
}

// TestAzidentityClientSecretCredential signs in as the reader with
// azidentity's ClientSecretCredential against Reckon's ADFS-style token
// service (tenant "adfs", Reckon as the authority host, instance discovery
// disabled) and lets armcommerce use the credential: the reader's
// subscription's usage reads back as ingested; the other subscription is
// refused with 403 AuthorizationFailed. It checks the token request (one,
// for the Resource Manager scope, with the client's credentials) and that
// a wrong secret is refused.
func TestAzidentityClientSecretCredential(t *testing.T) {
	reckontest.ForEachBackend(t, func(t *testing.T, b reckontest.Backend) {
		env := startIdentity(t, b)
		srv := env.srv
		rec := &tokenRecorder{next: srv.Client()}
		cred := secretCredential(t, srv, "adfs", "/", readerSecret, rec)
		opts := &arm.ClientOptions{ClientOptions: policy.ClientOptions{
			Cloud: cloudConfig(srv, "/"), Transport: rec, Retry: policy.RetryOptions{MaxRetries: -1},
		}}

		mine, err := armcommerce.NewUsageAggregatesClient(fx.Subscription, cred, opts)
		if err != nil {
			t.Fatal(err)
		}
		pager := mine.NewListPager(identityFrom, identityTo, &armcommerce.UsageAggregatesClientListOptions{
			ShowDetails: to.Ptr(false), AggregationGranularity: to.Ptr(armcommerce.AggregationGranularityDaily)})
		got := map[string]float32{}
		for pager.More() {
			page, err := pager.NextPage(t.Context())
			if err != nil {
				t.Fatalf("UsageAggregates of the reader's subscription: %v", err)
			}
			for _, r := range page.Value {
				p := r.Properties
				if p == nil || p.Quantity == nil || p.UsageStartTime == nil || p.MeterID == nil || deref(p.SubscriptionID) != fx.Subscription {
					t.Fatalf("row %+v", p)
				}
				got[p.UsageStartTime.UTC().Format("2006-01-02T15:04:05Z07:00")+"|"+*p.MeterID] = *p.Quantity
			}
		}
		if len(got) != len(env.rows) {
			t.Errorf("%d rows, want %d", len(got), len(env.rows))
		}
		for k, want := range env.rows {
			// float32: the quantity as the SDK decodes the exact text.
			if q, ok := got[k]; !ok || q != float32Of(t, money.Quantity(want).String()) {
				t.Errorf("row %s: %v (present: %t), want float32(%s)", k, q, ok, money.Quantity(want))
			}
		}
		gotTotals := map[string]float64{}
		for k, q := range got {
			_, meter, _ := strings.Cut(k, "|")
			gotTotals[meter] += float64(q)
		}
		for meter, want := range meterTotals(env.rows) {
			if w := float64(want) / 1e9; gotTotals[meter] < w*(1-1e-6) || gotTotals[meter] > w*(1+1e-6) {
				t.Errorf("meter %s: total %v, want %s", meter, gotTotals[meter], money.Quantity(want))
			}
		}

		// The same credential for the other subscription: 403.
		other, err := armcommerce.NewUsageAggregatesClient(otherSubscription, cred, opts)
		if err != nil {
			t.Fatal(err)
		}
		otherPager := other.NewListPager(identityFrom, identityTo, nil)
		page, err := otherPager.NextPage(t.Context())
		var re *azcore.ResponseError
		if !errors.As(err, &re) || re.StatusCode != http.StatusForbidden || re.ErrorCode != "AuthorizationFailed" {
			t.Errorf("UsageAggregates of the other subscription: %v (%d rows), want a 403 AuthorizationFailed *azcore.ResponseError", err, len(page.Value))
		}

		// What azidentity sent: the ADFS discovery document, then one
		// token request (the token is cached for the second client).
		var tokenRequests []sentRequest
		for _, s := range rec.requests() {
			if s.url.Host != strings.TrimPrefix(srv.URL, "https://") {
				t.Errorf("a request to another host: %s %s", s.method, s.url)
			}
			if strings.HasPrefix(s.url.Path, "/adfs/") {
				t.Logf("azidentity: %s %s -> %d", s.method, s.url.Path, s.status)
			}
			if s.url.Path == "/adfs/oauth2/token" {
				tokenRequests = append(tokenRequests, s)
			}
		}
		if len(tokenRequests) != 1 {
			t.Fatalf("%d token requests, want 1", len(tokenRequests))
		}
		// The scope is the Resource Manager audience + "/.default" (MSAL
		// adds the OpenID scopes); claims carries the CAE capability
		// ARM clients declare.
		f := tokenRequests[0].form
		scopes := strings.Fields(f.Get("scope"))
		slices.Sort(scopes)
		if f.Get("grant_type") != "client_credentials" || f.Get("client_id") != readerClientID || f.Get("client_secret") != readerSecret ||
			!slices.Equal(scopes, []string{"https://management.core.windows.net//.default", "offline_access", "openid", "profile"}) ||
			f.Get("claims") != `{"access_token":{"xms_cc":{"values":["CP1"]}}}` || tokenRequests[0].status != http.StatusOK {
			f.Set("client_secret", "***")
			t.Errorf("token request %v -> %d; want the client credentials grant of the reader for scope https://management.core.windows.net//.default",
				f, tokenRequests[0].status)
		}

		// A wrong secret: GetToken fails with the token endpoint's 401.
		bad := secretCredential(t, srv, "adfs", "/", "wrong-"+readerSecret, srv.Client())
		_, err = bad.GetToken(t.Context(), policy.TokenRequestOptions{Scopes: []string{"https://management.core.windows.net//.default"}})
		var afe *azidentity.AuthenticationFailedError
		if !errors.As(err, &afe) || afe.RawResponse == nil || afe.RawResponse.StatusCode != http.StatusUnauthorized {
			t.Errorf("GetToken with a wrong secret: %v, want an *azidentity.AuthenticationFailedError with the 401", err)
		}
	})
}

// TestAzidentityAuthorityForms tries the ways of pointing a
// ClientSecretCredential at Reckon. MSAL runs in AD FS mode when the
// authority's first path segment is "adfs"; azidentity builds the
// authority as authority host + tenant, so the tenant must be "adfs" (with
// the host at the server's root or at /adfs/: MSAL reads the discovery
// document at /adfs/.well-known/openid-configuration of the host either
// way). Tenant "adfs" also turns instance discovery off by itself. A tenant
// GUID does not work: under /adfs/ MSAL refuses a tenant for an AD FS
// authority, and at the root it is an Entra ID authority whose discovery
// document (/{tenant}/v2.0/.well-known/openid-configuration) Reckon does
// not serve; those two are only logged.
func TestAzidentityAuthorityForms(t *testing.T) {
	env := startIdentity(t, reckontest.SQLite)
	srv := env.srv
	for _, c := range []struct {
		name, tenant, path string
		disableDiscovery   bool
		works              bool
	}{
		{"adfs tenant, root host", "adfs", "/", true, true},
		{"adfs tenant, /adfs/ host", "adfs", "/adfs/", true, true},
		{"adfs tenant, root host, instance discovery left on", "adfs", "/", false, true},
		{"tenant GUID, /adfs/ host", srv.Auth.TenantID(), "/adfs/", true, false},
		{"tenant GUID, root host", srv.Auth.TenantID(), "/", true, false},
	} {
		t.Run(c.name, func(t *testing.T) {
			cred, err := azidentity.NewClientSecretCredential(c.tenant, readerClientID, readerSecret, &azidentity.ClientSecretCredentialOptions{
				ClientOptions:            azcore.ClientOptions{Cloud: cloudConfig(srv, c.path), Transport: srv.Client(), Retry: policy.RetryOptions{MaxRetries: -1}},
				DisableInstanceDiscovery: c.disableDiscovery,
			})
			if err == nil {
				var tok azcore.AccessToken
				tok, err = cred.GetToken(t.Context(), policy.TokenRequestOptions{Scopes: []string{"https://management.core.windows.net//.default"}})
				if err == nil {
					if id, aerr := srv.Auth.Authenticate(t.Context(), tok.Token); aerr != nil || id.PrincipalID != readerClientID {
						t.Errorf("the token is not the reader's: %+v, %v", id, aerr)
					}
				}
			}
			switch {
			case c.works && err != nil:
				t.Errorf("tenant %q, authority host %s: %v", c.tenant, srv.URL+c.path, err)
			case !c.works && err == nil:
				t.Logf("tenant %q, authority host %s now works", c.tenant, srv.URL+c.path)
			case !c.works:
				t.Logf("tenant %q, authority host %s: %s", c.tenant, srv.URL+c.path, strings.Join(strings.Fields(err.Error()), " "))
			}
		})
	}
}
