package portal_test

import (
	"context"
	"encoding/json"
	"html"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/reckon-billing/reckon/internal/auth"
	"github.com/reckon-billing/reckon/internal/demo"
	"github.com/reckon-billing/reckon/internal/reckontest"
)

// testNow is the clock of the demo servers: mid-period, so that there is
// a closed period with an invoice and an open one with cost so far.
var testNow = time.Date(2026, 11, 20, 10, 30, 0, 0, time.UTC)

// Test users (kind user, signed in with name and password).
const (
	password    = "correct horse battery staple"
	userOps     = "ops@reckon.test"      // Operator at "/"
	userReader  = "reader@contoso.test"  // Reader of Contoso production
	userAdmin   = "admin@contoso.test"   // Account Admin of Contoso's billing account
	userFab     = "reader@fabrikam.test" // Reader of Fabrikam
	contosoAcct = "contoso-ea-100001"
)

type env struct {
	srv   *reckontest.Server
	clock *reckontest.Clock
	sum   demo.Summary
}

// start starts a server; with data, it loads the demo data, closes the
// ended periods and creates the test users.
func start(t testing.TB, b reckontest.Backend, data bool) *env {
	t.Helper()
	clock := reckontest.NewClock(testNow)
	srv := reckontest.Start(t, reckontest.Options{Backend: b, Now: clock.Now})
	e := &env{srv: srv, clock: clock}
	ctx := context.Background()
	if data {
		sum, err := demo.Load(ctx, demo.Services{Accounts: srv.Accounts, Catalog: srv.Catalog, Usage: srv.Usage}, testNow)
		if err != nil {
			t.Fatal(err)
		}
		e.sum = sum
		if _, err := srv.Invoicing.CloseDue(ctx); err != nil {
			t.Fatal(err)
		}
	} else {
		for _, s := range demo.Subscriptions() {
			if _, _, err := srv.Accounts.Put(ctx, s.SubscriptionID, s); err != nil {
				t.Fatal(err)
			}
		}
	}
	user(t, srv, userOps, "Olga Operator", auth.RoleOperator+"@/")
	user(t, srv, userReader, "Rita Reader", auth.RoleReader+"@/subscriptions/"+demo.SubContosoProd)
	user(t, srv, userAdmin, "Adam Admin", auth.RoleAccountAdmin+"@/providers/Microsoft.Billing/billingAccounts/"+contosoAcct)
	user(t, srv, userFab, "Fritz Fabrikam", auth.RoleReader+"@/subscriptions/"+demo.SubFabrikam)
	return e
}

func user(t testing.TB, srv *reckontest.Server, id, name string, roles ...string) {
	t.Helper()
	ctx := context.Background()
	if _, _, err := srv.Auth.PutPrincipal(ctx, reckontest.OperatorID, id, auth.PrincipalInput{DisplayName: name, Kind: auth.KindUser, Password: password}); err != nil {
		t.Fatalf("user %s: %v", id, err)
	}
	for i, rs := range roles {
		role, scope, _ := strings.Cut(rs, "@")
		if _, _, err := srv.Auth.PutAssignment(ctx, reckontest.OperatorID, newID(id, i), auth.Assignment{PrincipalID: id, RoleDefinitionName: role, Scope: scope}); err != nil {
			t.Fatalf("assign %s to %s: %v", rs, id, err)
		}
	}
}

// newID derives an assignment GUID from a principal and an index.
func newID(id string, i int) string {
	h := uint64(14695981039346656037)
	for _, c := range id {
		h = (h ^ uint64(c)) * 1099511628211
	}
	h += uint64(i)
	const hexd = "0123456789abcdef"
	b := []byte("00000000-0000-4000-8000-000000000000")
	pos := []int{0, 1, 2, 3, 4, 5, 6, 7, 9, 10, 11, 12, 24, 25, 26, 27, 28, 29, 30, 31, 32, 33, 34, 35}
	for _, p := range pos {
		b[p] = hexd[h&15]
		h = h>>4 | h<<60
	}
	return string(b)
}

// browser is a cookie-keeping client that does not follow redirects.
type browser struct {
	t    testing.TB
	srv  *reckontest.Server
	c    *http.Client
	lang string
}

func newBrowser(t testing.TB, srv *reckontest.Server) *browser {
	jar, _ := cookiejar.New(nil)
	c := *srv.Client()
	c.Jar = jar
	c.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	return &browser{t: t, srv: srv, c: &c}
}

func (b *browser) do(req *http.Request) (*http.Response, string) {
	b.t.Helper()
	if b.lang != "" {
		req.Header.Set("Accept-Language", b.lang)
	}
	resp, err := b.c.Do(req)
	if err != nil {
		b.t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		b.t.Fatal(err)
	}
	return resp, string(body)
}

func (b *browser) get(path string) (*http.Response, string) {
	b.t.Helper()
	req, _ := http.NewRequest(http.MethodGet, b.srv.URL+path, nil)
	return b.do(req)
}

func (b *browser) post(path string, form url.Values) (*http.Response, string) {
	b.t.Helper()
	req, _ := http.NewRequest(http.MethodPost, b.srv.URL+path, strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	return b.do(req)
}

// page gets a page and requires status 200.
func (b *browser) page(path string) string {
	b.t.Helper()
	resp, body := b.get(path)
	if resp.StatusCode != http.StatusOK {
		b.t.Fatalf("GET %s: %d, want 200; Location %q\n%.600s", path, resp.StatusCode, resp.Header.Get("Location"), body)
	}
	return body
}

var csrfRE = regexp.MustCompile(`name="csrf" value="([^"]+)"`)

func csrfOf(t testing.TB, body string) string {
	t.Helper()
	m := csrfRE.FindStringSubmatch(body)
	if m == nil {
		t.Fatalf("no csrf field in\n%.500s", body)
	}
	return html.UnescapeString(m[1])
}

// signIn signs in through the form and returns the Location it sent to.
func (b *browser) signIn(id, secret string) {
	b.t.Helper()
	body := b.page("/portal/signin")
	resp, got := b.post("/portal/signin", url.Values{"csrf": {csrfOf(b.t, body)}, "clientId": {id}, "secret": {secret}})
	if resp.StatusCode != http.StatusSeeOther {
		b.t.Fatalf("sign in as %s: %d\n%.500s", id, resp.StatusCode, got)
	}
}

// attr returns the value of attribute name in the first element whose
// opening tag contains marker.
func attr(t *testing.T, body, marker, name string) string {
	t.Helper()
	i := strings.Index(body, marker)
	if i < 0 {
		t.Fatalf("no %q in page\n%.800s", marker, body)
	}
	start := strings.LastIndex(body[:i], "<")
	end := strings.Index(body[i:], ">") + i
	tag := body[start:end]
	m := regexp.MustCompile(`\s` + regexp.QuoteMeta(name) + `="([^"]*)"`).FindStringSubmatch(tag)
	if m == nil {
		t.Fatalf("no %s in %s", name, tag)
	}
	return html.UnescapeString(m[1])
}

// getJSON calls the API with the operator's token.
func getJSON(t *testing.T, srv *reckontest.Server, path string, out any) {
	t.Helper()
	resp, body := srv.Do(t, http.MethodGet, path, srv.AdminToken, "")
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s: %d %s", path, resp.StatusCode, body)
	}
	if err := json.Unmarshal(body, out); err != nil {
		t.Fatalf("GET %s: %v", path, err)
	}
}
