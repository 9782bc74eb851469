package browsertest

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/reckon-billing/reckon/internal/auth"
	"github.com/reckon-billing/reckon/internal/demo"
	"github.com/reckon-billing/reckon/internal/invoicing"
	"github.com/reckon-billing/reckon/internal/money"
	"github.com/reckon-billing/reckon/internal/reckontest"
)

// The principals of the browser tests' world (besides reckontest's
// operator, which signs in with reckontest.OperatorID/OperatorSecret).
const (
	// readerID is a portal user, Reader of Contoso's two subscriptions.
	readerID       = "ana.reader@contoso.example"
	readerName     = "Ana Reader"
	readerPassword = "reader-password-0123"
	// adminID is a service principal, Account Admin of Contoso's billing
	// account (contosoAccount).
	adminID        = "contoso-billing-admin"
	adminName      = "Contoso billing admin"
	adminSecret    = "contoso-admin-secret-0123456789"
	contosoAccount = "contoso-ea-100001"
	operatorName   = "Test operator"
)

// world is a server with the demo data and closed periods, so that
// invoices exist.
type world struct {
	srv   *reckontest.Server
	clock *reckontest.Clock
	now   time.Time
	// invoices by subscription, as the invoicing service lists them.
	invoices map[string][]invoicing.Invoice
	// creditNote corrects an invoice of demo.SubContosoProd.
	creditNote invoicing.Invoice
}

// newWorld starts a server of backend b, loads the demo data as of the
// current hour, closes every period that has ended (with its grace time)
// and issues one credit note; it creates the test principals.
func newWorld(t *testing.T, b reckontest.Backend) *world {
	t.Helper()
	ctx := context.Background()
	// The clock is stopped near the real time: the browser judges the
	// session cookie's expiry by its own clock.
	now := time.Now().UTC().Truncate(time.Minute)
	clock := reckontest.NewClock(now)
	srv := reckontest.Start(t, reckontest.Options{Backend: b, Now: clock.Now})
	w := &world{srv: srv, clock: clock, now: now, invoices: map[string][]invoicing.Invoice{}}
	start := time.Now()
	if _, err := demo.Load(ctx, demo.Services{Accounts: srv.Accounts, Catalog: srv.Catalog, Usage: srv.Usage}, now); err != nil {
		t.Fatalf("demo data: %v", err)
	}
	loaded := time.Since(start)
	closed, err := srv.Invoicing.CloseDue(ctx)
	if err != nil {
		t.Fatalf("close due periods: %v", err)
	}
	if closed == 0 {
		t.Fatalf("no period closed: the world needs invoices")
	}
	t.Logf("%s world: demo data loaded in %s, %d invoices issued in %s", b, loaded.Round(time.Millisecond), closed,
		(time.Since(start) - loaded).Round(time.Millisecond))

	invs, err := srv.Invoicing.Invoices(ctx, demo.SubContosoProd)
	if err != nil || len(invs) == 0 {
		t.Fatalf("invoices of %s: %v %v", demo.SubContosoProd, invs, err)
	}
	cn, err := srv.Invoicing.IssueCreditNote(ctx, reckontest.OperatorID, invs[len(invs)-1].Name, "Goodwill credit (browser test)",
		[]invoicing.Line{{Description: "Goodwill", Amount: mustDecimal(t, "10.00")}})
	if err != nil {
		t.Fatalf("credit note: %v", err)
	}
	w.creditNote = *cn
	for _, s := range demo.Subscriptions() {
		invs, err := srv.Invoicing.Invoices(ctx, s.SubscriptionID)
		if err != nil {
			t.Fatal(err)
		}
		w.invoices[s.SubscriptionID] = invs
	}

	w.principal(t, readerID, auth.PrincipalInput{Kind: auth.KindUser, DisplayName: readerName, Password: readerPassword},
		auth.RoleReader+"@"+auth.SubscriptionScope(demo.SubContosoProd),
		auth.RoleReader+"@"+auth.SubscriptionScope(demo.SubContosoDevTest))
	w.principal(t, adminID, auth.PrincipalInput{DisplayName: adminName, Secret: adminSecret},
		auth.RoleAccountAdmin+"@"+auth.BillingAccountScope(contosoAccount))
	return w
}

// principal creates a principal with role assignments ("Role@scope").
func (w *world) principal(t *testing.T, id string, in auth.PrincipalInput, roles ...string) {
	t.Helper()
	ctx := context.Background()
	if _, _, err := w.srv.Auth.PutPrincipal(ctx, reckontest.OperatorID, id, in); err != nil {
		t.Fatalf("put principal %s: %v", id, err)
	}
	for i, rs := range roles {
		role, scope, _ := strings.Cut(rs, "@")
		aid := uuid.NewSHA1(uuid.NameSpaceOID, fmt.Appendf(nil, "browsertest/%s/%d", id, i)).String()
		if _, _, err := w.srv.Auth.PutAssignment(ctx, reckontest.OperatorID, aid,
			auth.Assignment{PrincipalID: id, RoleDefinitionName: role, Scope: scope}); err != nil {
			t.Fatalf("assign %s to %s: %v", rs, id, err)
		}
	}
}

// grants are the principal's grants as the identity service evaluates them.
func (w *world) grants(t *testing.T, id string) auth.Grants {
	t.Helper()
	as, err := w.srv.Auth.Assignments(context.Background(), id)
	if err != nil {
		t.Fatal(err)
	}
	return auth.NewGrants(as)
}

// api GETs an API path with the operator's token and decodes the JSON answer.
func (w *world) api(t *testing.T, path string, v any) {
	t.Helper()
	resp, body := w.srv.Do(t, http.MethodGet, path, w.srv.AdminToken, "")
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s: %d %.500s", path, resp.StatusCode, body)
	}
	if err := json.Unmarshal(body, v); err != nil {
		t.Fatalf("GET %s: %v in %.300s", path, err, body)
	}
}

// costReport is the API's cost report (the parts the tests compare).
type costReport struct {
	Currency string `json:"currency"`
	Total    string `json:"total"`
	Groups   []struct {
		Key  string `json:"key"`
		Name string `json:"name"`
		Cost string `json:"cost"`
	} `json:"groups"`
}

// costReport asks the API for a subscription's cost over [from, to)
// (dates) grouped by groupBy.
func (w *world) costReport(t *testing.T, sub, from, to, groupBy string) costReport {
	t.Helper()
	q := url.Values{"api-version": {"2015-06-01-preview"}, "from": {from}, "to": {to}, "groupBy": {groupBy}}
	var r costReport
	w.api(t, "/subscriptions/"+sub+"/providers/Microsoft.Commerce/costReport?"+q.Encode(), &r)
	return r
}

// groups returns the report's cost per group key.
func (r costReport) groups(t *testing.T) map[string]money.Decimal {
	t.Helper()
	m := map[string]money.Decimal{}
	for _, g := range r.Groups {
		m[g.Key] = m[g.Key].Add(mustDecimal(t, g.Cost))
	}
	return m
}

// total is the report's total (the sum of its groups when it gives none).
func (r costReport) total(t *testing.T) money.Decimal {
	t.Helper()
	if r.Total != "" {
		return mustDecimal(t, r.Total)
	}
	var sum money.Decimal
	for _, g := range r.Groups {
		sum = sum.Add(mustDecimal(t, g.Cost))
	}
	return sum
}

// apiPDF downloads an invoice's PDF as an API client does: the invoice's
// download link from the Billing API (with the operator's token), then
// the link itself (no token).
func (w *world) apiPDF(t *testing.T, inv invoicing.Invoice) []byte {
	t.Helper()
	var got struct {
		Properties struct {
			DownloadURL *struct {
				URL string `json:"url"`
			} `json:"downloadUrl"`
		} `json:"properties"`
	}
	w.api(t, "/subscriptions/"+inv.SubscriptionID+"/providers/Microsoft.Billing/invoices/"+inv.Name+"?api-version=2018-03-01-preview", &got)
	if got.Properties.DownloadURL == nil || got.Properties.DownloadURL.URL == "" {
		t.Fatalf("invoice %s has no downloadUrl", inv.Name)
	}
	resp, err := w.srv.Client().Get(got.Properties.DownloadURL.URL)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s: %d %v", got.Properties.DownloadURL.URL, resp.StatusCode, err)
	}
	return body
}

func sha256Hex(b []byte) string {
	h := sha256.Sum256(b)
	return hex.EncodeToString(h[:])
}

func mustDecimal(t *testing.T, s string) money.Decimal {
	t.Helper()
	d, err := money.ParseDecimal(strings.TrimSpace(s))
	if err != nil {
		t.Fatalf("decimal %q: %v", s, err)
	}
	return d
}

// diffCosts compares two costs per key; it returns the differences, one a
// line, or "" when they are equal.
func diffCosts(got, want map[string]money.Decimal) string {
	keys := map[string]bool{}
	for k := range got {
		keys[k] = true
	}
	for k := range want {
		keys[k] = true
	}
	var ks []string
	for k := range keys {
		ks = append(ks, k)
	}
	sort.Strings(ks)
	var b strings.Builder
	for _, k := range ks {
		g, gok := got[k]
		w, wok := want[k]
		switch {
		case !gok:
			fmt.Fprintf(&b, "  %q: missing (want %s)\n", k, w)
		case !wok:
			fmt.Fprintf(&b, "  %q: %s, not in the API's answer\n", k, g)
		case g.Cmp(w) != 0:
			fmt.Fprintf(&b, "  %q: %s, want %s\n", k, g, w)
		}
	}
	return b.String()
}
