package portal_test

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/reckon-billing/reckon/internal/demo"
	"github.com/reckon-billing/reckon/internal/reckontest"
	"github.com/reckon-billing/reckon/internal/store"
)

func sessionCookie(t *testing.T, resp *http.Response) *http.Cookie {
	t.Helper()
	for _, c := range resp.Cookies() {
		if c.Name == "reckon_session" {
			return c
		}
	}
	t.Fatalf("no reckon_session cookie in %v", resp.Header["Set-Cookie"])
	return nil
}

// TestSignInAndOut walks the sign-in form (wrong password, missing CSRF
// token, success), checks the cookie and the stored session, and signs
// out.
func TestSignInAndOut(t *testing.T) {
	reckontest.ForEachBackend(t, func(t *testing.T, b reckontest.Backend) {
		e := start(t, b, false)
		br := newBrowser(t, e.srv)
		ctx := context.Background()

		resp, _ := br.get("/portal")
		if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/portal/signin" {
			t.Fatalf("signed out /portal: %d %q", resp.StatusCode, resp.Header.Get("Location"))
		}
		resp, _ = br.get("/portal/subscriptions/" + demo.SubContosoProd + "/usage")
		if loc := resp.Header.Get("Location"); resp.StatusCode != http.StatusSeeOther || !strings.HasPrefix(loc, "/portal/signin?next=") {
			t.Fatalf("signed out page: %d %q", resp.StatusCode, loc)
		}
		form := br.page("/portal/signin")
		for _, want := range []string{`id="signin-form"`, `name="clientId"`, `id="clientId"`, `name="secret"`, `type="password"`, `id="signin-submit"`} {
			if !strings.Contains(form, want) {
				t.Errorf("sign-in form lacks %s", want)
			}
		}
		csrf := csrfOf(t, form)

		// Wrong password: 401 and the form again.
		resp, body := br.post("/portal/signin", url.Values{"csrf": {csrf}, "clientId": {userReader}, "secret": {"wrong password!"}})
		if resp.StatusCode != http.StatusUnauthorized || !strings.Contains(body, `id="signin-error"`) || !strings.Contains(body, `id="signin-form"`) {
			t.Fatalf("wrong password: %d\n%.400s", resp.StatusCode, body)
		}
		// The failed attempt is audited by auth.
		if !hasEvent(mustAudit(t, e), "signInFailed", userReader) {
			t.Errorf("no signInFailed event for %s", userReader)
		}

		// No CSRF token, or a wrong one: 403.
		for _, tok := range []string{"", "forged"} {
			resp, body = br.post("/portal/signin", url.Values{"csrf": {tok}, "clientId": {userReader}, "secret": {password}})
			if resp.StatusCode != http.StatusForbidden || !strings.Contains(body, `id="csrf-error"`) {
				t.Fatalf("csrf %q: %d\n%.300s", tok, resp.StatusCode, body)
			}
		}
		// A token from another browser (other pre-session cookie) neither.
		other := newBrowser(t, e.srv)
		otherToken := csrfOf(t, other.page("/portal/signin"))
		csrf = csrfOf(t, br.page("/portal/signin"))
		resp, _ = br.post("/portal/signin", url.Values{"csrf": {otherToken}, "clientId": {userReader}, "secret": {password}})
		if resp.StatusCode != http.StatusForbidden {
			t.Fatalf("another browser's token: %d", resp.StatusCode)
		}
		// A cross-site POST with the right token is refused too.
		req, _ := http.NewRequest(http.MethodPost, e.srv.URL+"/portal/signin",
			strings.NewReader(url.Values{"csrf": {csrf}, "clientId": {userReader}, "secret": {password}}.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.Header.Set("Origin", "https://evil.example")
		if resp, _ = br.do(req); resp.StatusCode != http.StatusForbidden {
			t.Fatalf("cross-origin sign-in: %d", resp.StatusCode)
		}

		// Success.
		resp, _ = br.post("/portal/signin", url.Values{"csrf": {csrf}, "clientId": {userReader}, "secret": {password}})
		if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/portal" {
			t.Fatalf("sign in: %d %q", resp.StatusCode, resp.Header.Get("Location"))
		}
		c := sessionCookie(t, resp)
		if !c.HttpOnly || c.SameSite != http.SameSiteLaxMode || c.Path != "/portal" || c.Secure || len(c.Value) < 43 {
			t.Errorf("cookie %+v", c)
		}
		sum := sha256.Sum256([]byte(c.Value))
		s, err := e.srv.DB.PortalSession(ctx, hex.EncodeToString(sum[:]))
		if err != nil {
			t.Fatalf("stored session: %v", err)
		}
		if s.PrincipalID != userReader || !s.Created.Equal(testNow) || !s.Expires.Equal(testNow.Add(24*time.Hour)) {
			t.Errorf("stored session %+v", s)
		}
		if !hasEvent(mustAudit(t, e), "signIn", userReader) {
			t.Error("no signIn event")
		}

		// Signed in: /portal goes to the reader's subscription.
		resp, _ = br.get("/portal")
		if want := "/portal/subscriptions/" + demo.SubContosoProd + "/overview"; resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != want {
			t.Fatalf("signed-in /portal: %d %q, want %s", resp.StatusCode, resp.Header.Get("Location"), want)
		}
		page := br.page("/portal/subscriptions/" + demo.SubContosoProd + "/ratecard")
		if !strings.Contains(page, `id="whoami"`) || !strings.Contains(page, "Rita Reader") {
			t.Error("the header does not name the signed-in user")
		}

		// Sign out without the token: refused, still signed in.
		resp, body = br.post("/portal/signout", url.Values{})
		if resp.StatusCode != http.StatusForbidden || !strings.Contains(body, `id="csrf-error"`) {
			t.Fatalf("sign out without csrf: %d", resp.StatusCode)
		}
		resp, body = br.post("/portal/signout", url.Values{"csrf": {csrfOf(t, page)}})
		if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/portal/signin" {
			t.Fatalf("sign out: %d %q", resp.StatusCode, resp.Header.Get("Location"))
		}
		if _, err := e.srv.DB.PortalSession(ctx, hex.EncodeToString(sum[:])); err != store.ErrNoPortalSession {
			t.Fatalf("session after sign-out: %v", err)
		}
		// The old cookie no longer works, even if replayed.
		replay := newBrowser(t, e.srv)
		u, _ := url.Parse(e.srv.URL + "/portal")
		replay.c.Jar.SetCookies(u, []*http.Cookie{{Name: "reckon_session", Value: c.Value, Path: "/portal"}})
		if resp, _ = replay.get("/portal/subscriptions/" + demo.SubContosoProd + "/overview"); resp.StatusCode != http.StatusSeeOther {
			t.Fatalf("replayed cookie after sign-out: %d", resp.StatusCode)
		}
		if !hasEvent(mustAudit(t, e), "portal.signOut", userReader) {
			t.Error("no sign-out event")
		}

		// Signing in again ends the previous session.
		again := newBrowser(t, e.srv)
		again.signIn(userReader, password)
		u, _ = url.Parse(e.srv.URL + "/portal/")
		first := again.c.Jar.Cookies(u)[0].Value
		firstSum := sha256.Sum256([]byte(first))
		// (A signed-in browser is sent home from the form: take another's.)
		tab := newBrowser(t, e.srv)
		tok := csrfOf(t, tab.page("/portal/signin"))
		su, _ := url.Parse(e.srv.URL + "/portal/signin")
		again.c.Jar.SetCookies(su, tab.c.Jar.Cookies(su))
		if resp, _ := again.post("/portal/signin", url.Values{"csrf": {tok}, "clientId": {userAdmin}, "secret": {password}}); resp.StatusCode != http.StatusSeeOther {
			t.Fatalf("second sign-in: %d", resp.StatusCode)
		}
		if _, err := e.srv.DB.PortalSession(ctx, hex.EncodeToString(firstSum[:])); err != store.ErrNoPortalSession {
			t.Fatalf("first session after a second sign-in: %v", err)
		}
		if again.c.Jar.Cookies(u)[0].Value == first {
			t.Fatal("the session id was not renewed")
		}

		// A service principal signs in with its client id and secret.
		sp := newBrowser(t, e.srv)
		sp.signIn(reckontest.OperatorID, reckontest.OperatorSecret)
		sp.page("/portal/operator")
	})
}

func mustAudit(t *testing.T, e *env) []authEvent {
	t.Helper()
	evs, err := e.srv.Auth.AuditLog(context.Background(), time.Time{}, 1000)
	if err != nil {
		t.Fatal(err)
	}
	out := make([]authEvent, len(evs))
	for i, ev := range evs {
		out[i] = authEvent{ev.Action, ev.Actor, ev.Target, ev.Detail}
	}
	return out
}

type authEvent struct{ Action, Actor, Target, Detail string }

func hasEvent(events []authEvent, action, actor string) bool {
	for _, ev := range events {
		if ev.Action == action && ev.Actor == actor {
			return true
		}
	}
	return false
}

// TestSessionExpiry checks the idle timeout and the absolute lifetime on
// the injected clock, and that a principal deleted while signed in loses
// its session.
func TestSessionExpiry(t *testing.T) {
	reckontest.ForEachBackend(t, func(t *testing.T, b reckontest.Backend) {
		e := start(t, b, false)
		overview := "/portal/operator"
		br := newBrowser(t, e.srv)
		br.signIn(userOps, password)
		br.page(overview)

		// Idle: 7 h 59 min is fine, and refreshes the last-seen time...
		e.clock.Advance(7*time.Hour + 59*time.Minute)
		br.page(overview)
		// ...so another 7 h 59 min is fine too; 8 h more is not.
		e.clock.Advance(7*time.Hour + 59*time.Minute)
		br.page(overview)
		e.clock.Advance(8 * time.Hour)
		if resp, _ := br.get(overview); resp.StatusCode != http.StatusSeeOther || !strings.HasPrefix(resp.Header.Get("Location"), "/portal/signin") {
			t.Fatalf("idle session: %d %q", resp.StatusCode, resp.Header.Get("Location"))
		}

		// Absolute: used every hour, the session still ends 24 h after sign-in.
		br.signIn(userOps, password)
		for i := 0; i < 23; i++ {
			e.clock.Advance(time.Hour)
			br.page(overview)
		}
		e.clock.Advance(time.Hour - time.Second)
		br.page(overview)
		e.clock.Advance(time.Second)
		if resp, _ := br.get(overview); resp.StatusCode != http.StatusSeeOther {
			t.Fatalf("session past its lifetime: %d", resp.StatusCode)
		}

		// Grants are read on every request: a role removed while signed in
		// is gone at the next page.
		br.signIn(userOps, password)
		br.page(overview)
		if err := e.srv.Auth.DeleteAssignment(context.Background(), reckontest.OperatorID, newID(userOps, 0)); err != nil {
			t.Fatal(err)
		}
		if resp, body := br.get(overview); resp.StatusCode != http.StatusForbidden || !strings.Contains(body, `id="forbidden"`) {
			t.Fatalf("operator page after the role was removed: %d", resp.StatusCode)
		}
		// A deleted principal's session ends.
		if err := e.srv.Auth.DeletePrincipal(context.Background(), reckontest.OperatorID, userOps); err != nil {
			t.Fatal(err)
		}
		if resp, _ := br.get(overview); resp.StatusCode != http.StatusSeeOther {
			t.Fatalf("deleted principal: %d", resp.StatusCode)
		}

		// Stale sessions are pruned: by a sign-in (at most hourly), or
		// on demand.
		br.signIn(userReader, password)
		u, _ := url.Parse(e.srv.URL + "/portal/")
		stale := sha256.Sum256([]byte(br.c.Jar.Cookies(u)[0].Value))
		e.clock.Advance(9 * time.Hour)
		newBrowser(t, e.srv).signIn(userAdmin, password)
		if _, err := e.srv.DB.PortalSession(context.Background(), hex.EncodeToString(stale[:])); err != store.ErrNoPortalSession {
			t.Fatalf("idle session after a later sign-in: %v", err)
		}
		newBrowser(t, e.srv).signIn(userFab, password)
		e.clock.Advance(25 * time.Hour)
		n, err := e.srv.Portal.PruneSessions(context.Background())
		if err != nil || n != 2 {
			t.Fatalf("prune: %d, %v; want the 2 sessions", n, err)
		}
	})
}

// TestSecurityHeaders checks the headers of pages, error pages and assets.
func TestSecurityHeaders(t *testing.T) {
	e := start(t, reckontest.SQLite, false)
	br := newBrowser(t, e.srv)
	for _, path := range []string{"/portal/signin", "/portal/static/portal.css", "/portal/static/portal.js", "/portal/nowhere"} {
		resp, _ := br.get(path)
		h := resp.Header
		csp := h.Get("Content-Security-Policy")
		if !strings.Contains(csp, "default-src 'self'") || !strings.Contains(csp, "frame-ancestors 'none'") || strings.Contains(csp, "unsafe-inline") ||
			h.Get("X-Frame-Options") != "DENY" || h.Get("X-Content-Type-Options") != "nosniff" || h.Get("Referrer-Policy") == "" {
			t.Errorf("%s: headers %v", path, h)
		}
	}
	_, page := br.get("/portal/signin")
	if strings.Contains(page, "<script>") || strings.Contains(page, " style=") || strings.Contains(page, "http://") && !strings.Contains(page, "http://www.w3.org") {
		t.Error("the sign-in page has inline script, inline style or an external reference")
	}
	if resp, _ := br.get("/portal/static/../portal.go"); resp.StatusCode == http.StatusOK {
		t.Error("static serves files outside its folder")
	}
}

// TestSecureCookies: over HTTPS the session and sign-in cookies are Secure.
func TestSecureCookies(t *testing.T) {
	clock := reckontest.NewClock(testNow)
	srv := reckontest.Start(t, reckontest.Options{Backend: reckontest.SQLite, Now: clock.Now, TLS: true})
	user(t, srv, userOps, "Olga Operator", "Operator@/")
	br := newBrowser(t, srv)
	resp, form := br.get("/portal/signin")
	for _, c := range resp.Cookies() {
		if c.Name == "reckon_signin" && (!c.Secure || !c.HttpOnly) {
			t.Errorf("sign-in cookie %+v", c)
		}
	}
	resp, _ = br.post("/portal/signin", url.Values{"csrf": {csrfOf(t, form)}, "clientId": {userOps}, "secret": {password}})
	if c := sessionCookie(t, resp); !c.Secure || !c.HttpOnly || c.SameSite != http.SameSiteLaxMode {
		t.Errorf("session cookie over HTTPS %+v", c)
	}
}
