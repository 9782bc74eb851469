package compat_test

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	fx "github.com/reckon-billing/reckon/compat/ratecardfixture"
	"github.com/reckon-billing/reckon/internal/auth"
	"github.com/reckon-billing/reckon/internal/money"
	"github.com/reckon-billing/reckon/internal/reckontest"
)

// azCLI runs the Azure CLI with its own configuration directory, trusting
// the test server's certificate through REQUESTS_CA_BUNDLE.
type azCLI struct {
	path string
	env  []string
	// timings lists each command and how long it took, for the log.
	timings []string
	// secrets are hidden in the log.
	secrets []string
}

// newAzCLI returns an az runner for srv, skipping the test when az is
// missing, except in CI (CI=true), where it fails.
func newAzCLI(t *testing.T, srv *reckontest.Server) *azCLI {
	t.Helper()
	path, err := exec.LookPath("az")
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatal("az is not on PATH; CI must run the Azure CLI compatibility test (apt-get install azure-cli)")
		}
		t.Skip("az is not on PATH (Debian: apt-get install azure-cli)")
	}
	dir := t.TempDir()
	env := []string{
		"AZURE_CONFIG_DIR=" + filepath.Join(dir, "azure"),
		"AZURE_CORE_COLLECT_TELEMETRY=false",
		"AZURE_CORE_SURVEY_MESSAGE=false",
		"AZURE_CORE_NO_COLOR=true",
		"AZURE_CORE_OUTPUT=json",
		"AZURE_CORE_ONLY_SHOW_ERRORS=true",
		// An empty extension directory: the CLI alone, without whatever
		// extensions the machine has.
		"AZURE_EXTENSION_DIR=" + filepath.Join(dir, "extensions"),
		// The server's certificate is the only one trusted (python
		// requests, which MSAL uses too).
		"REQUESTS_CA_BUNDLE=" + writeCA(t, srv),
		"HOME=" + dir,
		"NO_PROXY=127.0.0.1,localhost",
		"no_proxy=127.0.0.1,localhost",
	}
	for _, kv := range os.Environ() {
		name, _, _ := strings.Cut(kv, "=")
		switch {
		case name == "PATH", name == "LANG", name == "LC_ALL", name == "TMPDIR":
			env = append(env, kv)
		}
	}
	return &azCLI{path: path, env: env, secrets: []string{"wrong-" + readerSecret, readerSecret}}
}

// run runs az with args and returns its standard output and error and its
// exit status.
func (a *azCLI) run(t *testing.T, args ...string) (stdout, stderr string, status int) {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, a.path, args...)
	cmd.Env = a.env
	var out, errOut bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errOut
	start := time.Now()
	err := cmd.Run()
	took := time.Since(start)
	var exit *exec.ExitError
	switch {
	case err == nil:
	case errors.As(err, &exit) && ctx.Err() == nil:
		status = exit.ExitCode()
	default:
		t.Fatalf("az %s: %v\n%s", a.redact(args), err, errOut.String())
	}
	a.timings = append(a.timings, took.Round(10*time.Millisecond).String()+"  az "+a.redact(args))
	return out.String(), errOut.String(), status
}

// ok runs az and fails the test unless it exits with status 0.
func (a *azCLI) ok(t *testing.T, args ...string) string {
	t.Helper()
	out, errOut, status := a.run(t, args...)
	if status != 0 {
		t.Fatalf("az %s: exit status %d\n%s%s", a.redact(args), status, out, errOut)
	}
	return out
}

// redact hides secrets and tokens in a command line.
func (a *azCLI) redact(args []string) string {
	s := strings.Join(args, " ")
	for _, secret := range a.secrets {
		s = strings.ReplaceAll(s, secret, "***")
	}
	return s
}

// azAccount is an element of "az account list" (and of "az login"'s output).
type azAccount struct {
	CloudName    string `json:"cloudName"`
	HomeTenantID string `json:"homeTenantId"`
	ID           string `json:"id"`
	IsDefault    bool   `json:"isDefault"`
	Name         string `json:"name"`
	State        string `json:"state"`
	TenantID     string `json:"tenantId"`
	User         struct {
		Name string `json:"name"`
		Type string `json:"type"`
	} `json:"user"`
}

// checkAccounts checks that az knows exactly the reader's subscription.
func checkAccounts(t *testing.T, what, out, tenant string) {
	t.Helper()
	var accounts []azAccount
	if err := json.Unmarshal([]byte(out), &accounts); err != nil {
		t.Fatalf("%s: %v\n%s", what, err, out)
	}
	if len(accounts) != 1 {
		t.Fatalf("%s: %d subscriptions, want exactly %s:\n%s", what, len(accounts), fx.Subscription, out)
	}
	a := accounts[0]
	if a.ID != fx.Subscription || a.TenantID != tenant || a.HomeTenantID != tenant || a.Name != "RateCard compat" ||
		a.State != "Enabled" || a.CloudName != "ReckonTest" || !a.IsDefault ||
		a.User.Name != readerClientID || a.User.Type != "servicePrincipal" {
		t.Errorf("%s: %+v; want subscription %s named %q in tenant %s, signed in as service principal %s",
			what, a, fx.Subscription, "RateCard compat", tenant, readerClientID)
	}
}

// TestAzureCLI drives Debian's azure-cli (az) against Reckon over HTTPS:
// it registers Reckon as a cloud (az reads /metadata/endpoints), fails to
// sign in with a wrong secret, signs in as a service principal through the
// ADFS-style token endpoint, lists the one subscription the principal may
// read, reads its UsageAggregates and RateCard with az rest and compares
// them with what was ingested and imported, and is refused the other
// subscription's usage with AuthorizationFailed.
func TestAzureCLI(t *testing.T) {
	reckontest.ForEachBackend(t, func(t *testing.T, b reckontest.Backend) {
		env := startIdentity(t, b)
		srv := env.srv
		az := newAzCLI(t, srv)
		defer func() {
			t.Logf("az timings (%s):\n  %s", b, strings.Join(az.timings, "\n  "))
		}()
		tenant := srv.Auth.TenantID()

		az.ok(t, "cloud", "register", "-n", "ReckonTest", "--endpoint-resource-manager", srv.URL)
		az.ok(t, "cloud", "set", "-n", "ReckonTest")
		out := az.ok(t, "cloud", "show", "-n", "ReckonTest")
		var cloud struct {
			Endpoints map[string]string `json:"endpoints"`
		}
		if err := json.Unmarshal([]byte(out), &cloud); err != nil {
			t.Fatalf("az cloud show: %v\n%s", err, out)
		}
		if got := cloud.Endpoints["activeDirectory"]; got != srv.URL+"/adfs" {
			t.Errorf("az cloud show: activeDirectory %q, want %q (from /metadata/endpoints)", got, srv.URL+"/adfs")
		}
		if got := cloud.Endpoints["activeDirectoryResourceId"]; got != "https://management.core.windows.net/" {
			t.Errorf("az cloud show: activeDirectoryResourceId %q", got)
		}

		// A wrong secret: no sign-in.
		// (az prints the error_description of the token endpoint's
		// invalid_client answer.)
		out, errOut, status := az.run(t, "login", "--service-principal", "-u", readerClientID, "-p", "wrong-"+readerSecret, "--tenant", tenant)
		if status == 0 || !strings.Contains(errOut, "The client credentials are invalid.") {
			t.Errorf("az login with a wrong secret: exit status %d, want non-zero and the server's invalid_client description:\n%s%s", status, out, errOut)
		}

		out = az.ok(t, "login", "--service-principal", "-u", readerClientID, "-p", readerSecret, "--tenant", tenant)
		checkAccounts(t, "az login", out, tenant)
		checkAccounts(t, "az account list", az.ok(t, "account", "list"), tenant)

		// UsageAggregates: every row and the totals, exactly.
		out = az.ok(t, "rest", "--method", "get", "--url", usagePath(fx.Subscription))
		got := azUsageRows(t, out, fx.Subscription)
		if !equalMaps(got, env.rows) {
			t.Errorf("az rest UsageAggregates: rows %v, want %v", got, env.rows)
		}
		if gt, wt := meterTotals(got), meterTotals(env.rows); !equalMaps(gt, wt) {
			t.Errorf("az rest UsageAggregates: totals per meter %v, want %v", gt, wt)
		}

		// RateCard with a $filter, as az rest sends it.
		out = az.ok(t, "rest", "--method", "get", "--url",
			"/subscriptions/"+fx.Subscription+"/providers/Microsoft.Commerce/RateCard?api-version="+fx.APIVersion2016+"&$filter="+fx.Filter)
		checkAzRateCard(t, out)

		// The token az obtained: for the audience az asked for (scope
		// https://management.core.windows.net//.default), of the reader,
		// in Reckon's tenant.
		out = az.ok(t, "account", "get-access-token")
		var at struct {
			AccessToken  string `json:"accessToken"`
			Subscription string `json:"subscription"`
			Tenant       string `json:"tenant"`
			TokenType    string `json:"tokenType"`
		}
		if err := json.Unmarshal([]byte(out), &at); err != nil {
			t.Fatalf("az account get-access-token: %v", err)
		}
		az.secrets = append(az.secrets, at.AccessToken)
		if at.Subscription != fx.Subscription || at.Tenant != tenant || at.TokenType != "Bearer" {
			t.Errorf("az account get-access-token: subscription %q tenant %q type %q", at.Subscription, at.Tenant, at.TokenType)
		}
		checkReaderToken(t, srv, at.AccessToken)
		checkSignIns(t, srv)

		// The other subscription. az itself refuses to send a request for
		// a subscription it does not list ("Subscription '…' not found"),
		// so the reader's token is given explicitly: Reckon refuses it,
		// and not a byte of the subscription's data comes back.
		out, errOut, status = az.run(t, "rest", "--method", "get", "--skip-authorization-header",
			"--headers", "Authorization=Bearer "+at.AccessToken, "--url", usagePath(otherSubscription))
		if status == 0 || !strings.Contains(errOut, "AuthorizationFailed") || !strings.Contains(errOut, "/subscriptions/"+otherSubscription) {
			t.Errorf("az rest on the other subscription: exit status %d, want non-zero and AuthorizationFailed naming its scope:\n%s%s", status, out, errOut)
		}
		if strings.Contains(out+errOut, "vm-") || strings.Contains(out+errOut, "quantity") {
			t.Errorf("az rest on the other subscription printed usage:\n%s%s", out, errOut)
		}
	})
}

// checkReaderToken checks that token is one Reckon issued to the reader
// for the Azure Resource Manager audience, and that Reckon accepts it.
func checkReaderToken(t *testing.T, srv *reckontest.Server, token string) {
	t.Helper()
	parts := strings.Split(token, ".")
	if len(parts) != 3 {
		t.Fatalf("the access token is not a JWT: %d parts", len(parts))
	}
	payload, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		t.Fatalf("the access token's payload: %v", err)
	}
	var claims struct {
		Aud   any    `json:"aud"`
		Iss   string `json:"iss"`
		Sub   string `json:"sub"`
		AppID string `json:"appid"`
		TID   string `json:"tid"`
	}
	if err := json.Unmarshal(payload, &claims); err != nil {
		t.Fatalf("the access token's claims %s: %v", payload, err)
	}
	if fmt.Sprint(claims.Aud) != "https://management.core.windows.net/" && fmt.Sprint(claims.Aud) != "[https://management.core.windows.net/]" {
		t.Errorf("the access token's audience is %v, want https://management.core.windows.net/ (the scope az asks for, less /.default)", claims.Aud)
	}
	if claims.Iss != srv.Auth.Issuer() || claims.Sub != readerClientID || claims.AppID != readerClientID || claims.TID != srv.Auth.TenantID() {
		t.Errorf("the access token's claims: %s; want issuer %s, subject and appid %s, tenant %s", payload, srv.Auth.Issuer(), readerClientID, srv.Auth.TenantID())
	}
	id, err := srv.Auth.Authenticate(t.Context(), token)
	if err != nil || id.PrincipalID != readerClientID {
		t.Errorf("Reckon does not accept the token as the reader's: %+v, %v", id, err)
	}
}

// checkSignIns checks the audit trail of the reader's sign-ins: one
// refused (the wrong secret), then accepted ones for the Azure Resource
// Manager audience only.
func checkSignIns(t *testing.T, srv *reckontest.Server) {
	t.Helper()
	events, err := srv.Auth.AuditLog(t.Context(), time.Time{}, 1000)
	if err != nil {
		t.Fatal(err)
	}
	var failed, ok int
	for _, e := range events {
		if e.Target != readerClientID {
			continue
		}
		switch e.Action {
		case auth.ActionSignInFailed:
			failed++
			if ok > 0 {
				t.Errorf("a failed sign-in after a successful one: %+v", e)
			}
		case auth.ActionSignIn:
			ok++
			if e.Detail != "audience https://management.core.windows.net/" {
				t.Errorf("sign-in %+v: want the audience https://management.core.windows.net/", e)
			}
		}
	}
	if failed != 1 || ok < 1 {
		t.Errorf("the reader's sign-ins: %d failed and %d accepted, want 1 failed (the wrong secret) and at least 1 accepted", failed, ok)
	}
}

// azUsageRows decodes a UsageAggregates page that az printed and returns
// its rows keyed like identityEnv.rows, with their exact quantities.
func azUsageRows(t *testing.T, out, sub string) map[string]int64 {
	t.Helper()
	dec := json.NewDecoder(strings.NewReader(out))
	dec.UseNumber()
	var page struct {
		Value []struct {
			Properties struct {
				SubscriptionID string      `json:"subscriptionId"`
				UsageStartTime string      `json:"usageStartTime"`
				MeterID        string      `json:"meterId"`
				Quantity       json.Number `json:"quantity"`
				InstanceData   *string     `json:"instanceData"`
			} `json:"properties"`
		} `json:"value"`
		NextLink *string `json:"nextLink"`
	}
	if err := dec.Decode(&page); err != nil {
		t.Fatalf("UsageAggregates from az: %v\n%s", err, out)
	}
	if page.NextLink != nil && *page.NextLink != "" {
		t.Errorf("UsageAggregates from az: nextLink %q on a single page", *page.NextLink)
	}
	rows := map[string]int64{}
	for _, r := range page.Value {
		p := r.Properties
		if p.SubscriptionID != sub || p.InstanceData != nil {
			t.Errorf("UsageAggregates from az: row %+v, want subscription %s and no instanceData", p, sub)
		}
		start, err := time.Parse(time.RFC3339, p.UsageStartTime)
		if err != nil {
			t.Fatalf("UsageAggregates from az: usageStartTime %q: %v", p.UsageStartTime, err)
		}
		q, err := money.ParseQuantity(p.Quantity.String())
		if err != nil {
			t.Fatalf("UsageAggregates from az: quantity %q: %v", p.Quantity, err)
		}
		k := start.UTC().Format(time.RFC3339) + "|" + p.MeterID
		if _, dup := rows[k]; dup {
			t.Errorf("UsageAggregates from az: row %s twice", k)
		}
		rows[k] = int64(q)
	}
	return rows
}

// checkAzRateCard compares the RateCard az printed with the fixture; the
// numbers' text exactly (python prints a float with the digits it read).
func checkAzRateCard(t *testing.T, out string) {
	t.Helper()
	dec := json.NewDecoder(strings.NewReader(out))
	dec.UseNumber()
	var rc struct {
		OfferTerms []struct {
			Name string `json:"Name"`
		} `json:"OfferTerms"`
		Meters []struct {
			MeterID          string                 `json:"MeterId"`
			MeterName        string                 `json:"MeterName"`
			MeterRates       map[string]json.Number `json:"MeterRates"`
			IncludedQuantity json.Number            `json:"IncludedQuantity"`
			MeterStatus      string                 `json:"MeterStatus"`
		} `json:"Meters"`
		Currency string `json:"Currency"`
		Locale   string `json:"Locale"`
	}
	if err := dec.Decode(&rc); err != nil {
		t.Fatalf("RateCard from az: %v\n%s", err, out)
	}
	if rc.Currency != fx.Currency || rc.Locale != fx.Locale || len(rc.OfferTerms) != 3 || len(rc.Meters) != len(fx.Meters) {
		t.Fatalf("RateCard from az: currency %q locale %q, %d offer terms, %d meters; want %s %s 3 %d:\n%s",
			rc.Currency, rc.Locale, len(rc.OfferTerms), len(rc.Meters), fx.Currency, fx.Locale, len(fx.Meters), out)
	}
	same := func(got json.Number, want string) bool {
		g, err1 := money.ParseQuantity(got.String())
		w, err2 := money.ParseQuantity(want)
		return err1 == nil && err2 == nil && g == w
	}
	for i, want := range fx.Meters {
		m := rc.Meters[i]
		if m.MeterID != want.ID || m.MeterName != want.Name || m.MeterStatus != want.Status || !same(m.IncludedQuantity, want.IncludedQuantity) {
			t.Errorf("RateCard from az: meter %d %+v, want %+v", i, m, want)
		}
		if len(m.MeterRates) != len(want.Rates) {
			t.Errorf("RateCard from az: meter %s rates %v, want %v", want.ID, m.MeterRates, want.Rates)
		}
		for _, tier := range want.Rates {
			if !same(m.MeterRates[tier.Min], tier.Value) {
				t.Errorf("RateCard from az: meter %s rate [%s] %q, want %s", want.ID, tier.Min, m.MeterRates[tier.Min], tier.Value)
			}
		}
	}
}
