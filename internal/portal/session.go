package portal

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"net/http"
	"net/url"
	"time"

	"github.com/reckon-billing/reckon/internal/auth"
	"github.com/reckon-billing/reckon/internal/billing"
	"github.com/reckon-billing/reckon/internal/store"
)

// Cookies.
const (
	// sessionCookie holds the random session id (32 bytes, base64url).
	sessionCookie = "reckon_session"
	// signinCookie binds the sign-in form's CSRF token to the browser
	// that loaded the form.
	signinCookie = "reckon_signin"
	// signinTTL bounds how long a sign-in form may be submitted.
	signinTTL = 30 * time.Minute
	// touchEvery limits the last-seen writes: a session's last-seen time
	// is written at most once a minute.
	touchEvery = time.Minute
	// csrfField is the hidden field of every form.
	csrfField = "csrf"
)

// Audit actions the portal records (sign-in itself is recorded by
// auth.Service.SignIn).
const (
	auditSignOut           = "portal.signOut"
	auditInvoiceAccessPut  = "invoiceAccess.put"
	auditPortalSignInError = "portal.signInRefused"
)

// reqCtx is what a signed-in page knows about its request.
type reqCtx struct {
	id      *auth.Identity
	session store.PortalSession
	// subs are the subscriptions the caller may read (switcher), loaded
	// lazily.
	subs    []subOption
	subsErr error
	loaded  bool
	// page names the current page (for the switcher and the nav).
	page string
	// sub is the subscription of a subscription page.
	sub *subInfo
	loc locale
}

// pageError is an error page: status, the element id tests look for, and
// a message.
type pageError struct {
	status int
	id     string
	title  string
	msg    string
}

func (e *pageError) Error() string { return e.msg }

// errorData is what the error page shows.
type errorData struct{ ID, Title, Msg string }

func errForbidden(msg string) error {
	return &pageError{status: http.StatusForbidden, id: "forbidden", title: "Access denied", msg: msg}
}

func errNotFound(msg string) error {
	return &pageError{status: http.StatusNotFound, id: "not-found", title: "Not found", msg: msg}
}

func errBadRequest(msg string) error {
	return &pageError{status: http.StatusBadRequest, id: "bad-request", title: "Bad request", msg: msg}
}

func errCSRF() error {
	return &pageError{status: http.StatusForbidden, id: "csrf-error", title: "Form expired",
		msg: "The form was not accepted: its security token is missing, expired or wrong. Reload the page and try again."}
}

// randomToken returns n random bytes, base64url without padding.
func randomToken(n int) string {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		panic(err) // crypto/rand never fails on supported platforms
	}
	return base64.RawURLEncoding.EncodeToString(b)
}

func hashID(id string) string {
	h := sha256.Sum256([]byte(id))
	return hex.EncodeToString(h[:])
}

func equalTokens(a, b string) bool {
	return len(a) > 0 && subtle.ConstantTimeCompare([]byte(a), []byte(b)) == 1
}

// key returns the HMAC key of sign-in form tokens, shared by every node
// through the store's secrets.
func (p *Portal) key(ctx context.Context) ([]byte, error) {
	p.keyMu.Lock()
	defer p.keyMu.Unlock()
	if p.signinKey != nil {
		return p.signinKey, nil
	}
	k, err := p.deps.DB.Secret(ctx, "portal-signin")
	if err != nil {
		return nil, err
	}
	p.signinKey = k
	return k, nil
}

// signinToken is the sign-in form's CSRF token for the pre-session cookie
// value: an HMAC of it, so that the token is worthless without the cookie
// and the cookie without the token.
func (p *Portal) signinToken(ctx context.Context, cookie string) (string, error) {
	k, err := p.key(ctx)
	if err != nil {
		return "", err
	}
	m := hmac.New(sha256.New, k)
	m.Write([]byte("signin|" + cookie))
	return base64.RawURLEncoding.EncodeToString(m.Sum(nil)), nil
}

func (p *Portal) cookie(name, value, path string, maxAge int) *http.Cookie {
	return &http.Cookie{Name: name, Value: value, Path: path, MaxAge: maxAge, HttpOnly: true,
		Secure: p.cfg.SecureCookies, SameSite: http.SameSiteLaxMode}
}

// sameOrigin checks the Origin and Sec-Fetch-Site headers of a POST when
// the browser sends them.
func sameOrigin(r *http.Request) bool {
	if s := r.Header.Get("Sec-Fetch-Site"); s != "" && s != "same-origin" && s != "none" {
		return false
	}
	if o := r.Header.Get("Origin"); o != "" && o != "null" {
		u, err := url.Parse(o)
		if err != nil || u.Host != r.Host {
			return false
		}
	}
	return true
}

// session returns the request's live session and its identity, or nil
// when there is none (no cookie, unknown, expired, idle, or the principal
// is gone).
func (p *Portal) session(r *http.Request) (*store.PortalSession, *auth.Identity, error) {
	c, err := r.Cookie(sessionCookie)
	if err != nil || c.Value == "" || len(c.Value) > 100 {
		return nil, nil, nil
	}
	ctx := r.Context()
	s, err := p.deps.DB.PortalSession(ctx, hashID(c.Value))
	if errors.Is(err, store.ErrNoPortalSession) {
		return nil, nil, nil
	}
	if err != nil {
		return nil, nil, err
	}
	now := p.now()
	if !now.Before(s.Expires) || !now.Before(s.LastSeen.Add(p.cfg.IdleTimeout)) {
		_ = p.deps.DB.DeletePortalSession(ctx, s.IDHash)
		return nil, nil, nil
	}
	id, err := p.deps.Auth.IdentityOf(ctx, s.PrincipalID)
	if err != nil {
		if e := billing.AsError(err); e != nil && e.Kind == billing.KindUnauthenticated {
			_ = p.deps.DB.DeletePortalSession(ctx, s.IDHash)
			return nil, nil, nil
		}
		return nil, nil, err
	}
	if now.Sub(s.LastSeen) >= touchEvery {
		if err := p.deps.DB.TouchPortalSession(ctx, s.IDHash, now); err != nil {
			p.log.Warn("portal: touch session", "err", err)
		}
		s.LastSeen = now
	}
	return &s, id, nil
}

// handler is a signed-in page.
type handler func(w http.ResponseWriter, r *http.Request, rc *reqCtx) error

// signed wraps a page that needs a session: without one, GETs go to the
// sign-in page and other methods are refused; POSTs must carry the
// session's CSRF token.
func (p *Portal) signed(h handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s, id, err := p.session(r)
		if err != nil {
			p.fail(w, r, nil, err)
			return
		}
		if s == nil {
			if r.Method == http.MethodGet || r.Method == http.MethodHead {
				target := "/portal/signin"
				if r.URL.Path != "/portal" && r.URL.Path != "/portal/" {
					target += "?next=" + url.QueryEscape(r.URL.RequestURI())
				}
				http.Redirect(w, r, target, http.StatusSeeOther)
				return
			}
			if r.Method == http.MethodPost {
				// Without a session no token can be valid.
				p.fail(w, r, nil, errCSRF())
				return
			}
			http.Redirect(w, r, "/portal/signin", http.StatusSeeOther)
			return
		}
		rc := &reqCtx{id: id, session: *s}
		rc.loc = p.localeFor(r, "")
		if r.Method == http.MethodPost {
			if err := r.ParseForm(); err != nil {
				p.fail(w, r, rc, errBadRequest("The form could not be read."))
				return
			}
			if !sameOrigin(r) || !equalTokens(r.PostFormValue(csrfField), s.CSRF) {
				p.fail(w, r, rc, errCSRF())
				return
			}
		}
		if err := h(w, r, rc); err != nil {
			p.fail(w, r, rc, err)
		}
	})
}

// public wraps the sign-in pages.
func (p *Portal) public(h func(w http.ResponseWriter, r *http.Request) error) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if err := h(w, r); err != nil {
			p.fail(w, r, nil, err)
		}
	})
}

// operator wraps an operator page.
func (p *Portal) operator(h handler) http.Handler {
	return p.signed(func(w http.ResponseWriter, r *http.Request, rc *reqCtx) error {
		if !rc.id.Grants.IsOperator() {
			return errForbidden("The operator pages are for operators only.")
		}
		rc.page = "operator"
		return h(w, r, rc)
	})
}

// fail answers an error page.
func (p *Portal) fail(w http.ResponseWriter, r *http.Request, rc *reqCtx, err error) {
	var pe *pageError
	if !errors.As(err, &pe) {
		e := billing.AsError(err)
		switch {
		case e != nil && e.Kind == billing.KindNotFound:
			pe = &pageError{status: http.StatusNotFound, id: "not-found", title: "Not found", msg: e.Message}
		case e != nil && e.Kind == billing.KindForbidden:
			pe = &pageError{status: http.StatusForbidden, id: "forbidden", title: "Access denied", msg: e.Message}
		case e != nil && e.Kind == billing.KindInvalid:
			pe = &pageError{status: http.StatusBadRequest, id: "bad-request", title: "Bad request", msg: e.Message}
		case errors.Is(err, context.Canceled):
			return
		case e != nil && e.Kind == billing.KindUnavailable, store.IsUnavailable(err):
			p.log.Warn("portal: store unavailable", "path", r.URL.Path, "err", err)
			w.Header().Set("Retry-After", "5")
			pe = &pageError{status: http.StatusServiceUnavailable, id: "unavailable", title: "Temporarily unavailable",
				msg: "The service cannot answer right now. Try again in a few seconds."}
		default:
			p.log.Error("portal: page failed", "path", r.URL.Path, "err", err)
			pe = &pageError{status: http.StatusInternalServerError, id: "server-error", title: "Something went wrong",
				msg: "The page could not be shown. Try again in a moment."}
		}
	}
	p.render(w, r, rc, pe.status, "error", pe.title, errorData{ID: pe.id, Title: pe.title, Msg: pe.msg})
}

// signinForm shows the sign-in page (signed-in callers go home).
func (p *Portal) signinForm(w http.ResponseWriter, r *http.Request) error {
	if s, _, err := p.session(r); err == nil && s != nil {
		http.Redirect(w, r, "/portal", http.StatusSeeOther)
		return nil
	}
	return p.showSignin(w, r, http.StatusOK, "", "")
}

type signinData struct {
	CSRF, ClientID, Error, Next string
}

func (p *Portal) showSignin(w http.ResponseWriter, r *http.Request, status int, clientID, msg string) error {
	v := randomToken(24)
	tok, err := p.signinToken(r.Context(), v)
	if err != nil {
		return err
	}
	http.SetCookie(w, p.cookie(signinCookie, v, "/portal/signin", int(signinTTL/time.Second)))
	w.Header().Set("Cache-Control", "no-store")
	next := safeNext(r.FormValue("next"))
	p.render(w, r, nil, status, "signin", "Sign in", signinData{CSRF: tok, ClientID: clientID, Error: msg, Next: next})
	return nil
}

// safeNext keeps a post-sign-in target only when it is a portal path.
func safeNext(v string) string {
	if len(v) > 1 && len(v) < 2000 && v[0] == '/' && (v == "/portal" || len(v) > 8 && v[:8] == "/portal/") && !containsAny(v, "\\\r\n") && (len(v) < 2 || v[1] != '/') {
		return v
	}
	return ""
}

func containsAny(s, chars string) bool {
	for i := 0; i < len(s); i++ {
		for j := 0; j < len(chars); j++ {
			if s[i] == chars[j] {
				return true
			}
		}
	}
	return false
}

// signin checks the form's token and the credentials, then starts a
// session.
func (p *Portal) signin(w http.ResponseWriter, r *http.Request) error {
	if err := r.ParseForm(); err != nil {
		return errBadRequest("The form could not be read.")
	}
	c, err := r.Cookie(signinCookie)
	if err != nil || !sameOrigin(r) {
		return errCSRF()
	}
	want, err := p.signinToken(r.Context(), c.Value)
	if err != nil {
		return err
	}
	if !equalTokens(r.PostFormValue(csrfField), want) {
		return errCSRF()
	}
	clientID := r.PostFormValue("clientId")
	secret := r.PostFormValue("secret")
	if clientID == "" || secret == "" {
		return p.showSignin(w, r, http.StatusUnauthorized, clientID, "Enter your client id or user name, and your secret or password.")
	}
	_, err = p.deps.Auth.SignIn(r.Context(), clientID, secret, "", r.RemoteAddr)
	if err != nil {
		var oe *auth.OAuthError
		if errors.As(err, &oe) {
			msg := "The client id (or user name) or the secret (or password) is wrong."
			status := http.StatusUnauthorized
			if oe.Status == http.StatusTooManyRequests {
				msg, status = oe.Description, http.StatusTooManyRequests
			}
			return p.showSignin(w, r, status, clientID, msg)
		}
		return err
	}
	id, err := p.deps.Auth.IdentityOf(r.Context(), canonicalID(clientID))
	if err != nil {
		return err
	}
	if old, err := r.Cookie(sessionCookie); err == nil && old.Value != "" && len(old.Value) <= 100 {
		// Signing in again (maybe as someone else) ends the previous session.
		if err := p.deps.DB.DeletePortalSession(r.Context(), hashID(old.Value)); err != nil {
			return err
		}
	}
	now := p.now()
	sid := randomToken(32)
	s := store.PortalSession{IDHash: hashID(sid), PrincipalID: id.PrincipalID, CSRF: randomToken(32),
		Created: now, Expires: now.Add(p.cfg.MaxLifetime), LastSeen: now}
	if err := p.deps.DB.CreatePortalSession(r.Context(), s); err != nil {
		return err
	}
	p.maybePrune(r.Context(), now)
	http.SetCookie(w, p.cookie(signinCookie, "", "/portal/signin", -1))
	http.SetCookie(w, p.cookie(sessionCookie, sid, "/portal", 0))
	target := safeNext(r.PostFormValue("next"))
	if target == "" {
		target = "/portal"
	}
	http.Redirect(w, r, target, http.StatusSeeOther)
	return nil
}

// canonicalID is the principal id SignIn accepted: GUIDs in lower case.
func canonicalID(clientID string) string {
	if g, ok := billing.ParseGUID(clientID); ok && len(clientID) == 36 {
		return g
	}
	return clientID
}

// signout deletes the session.
func (p *Portal) signout(w http.ResponseWriter, r *http.Request, rc *reqCtx) error {
	if err := p.deps.DB.DeletePortalSession(r.Context(), rc.session.IDHash); err != nil {
		return err
	}
	_ = p.deps.Auth.Record(r.Context(), auth.Event{Actor: rc.id.PrincipalID, Action: auditSignOut, Target: rc.id.PrincipalID,
		Remote: r.RemoteAddr, Success: true})
	http.SetCookie(w, p.cookie(sessionCookie, "", "/portal", -1))
	http.Redirect(w, r, "/portal/signin", http.StatusSeeOther)
	return nil
}

// pruneEvery is how often sign-ins sweep the stale sessions away.
const pruneEvery = time.Hour

// maybePrune deletes the stale sessions at most once per pruneEvery (a
// failure is only logged: the sweep is housekeeping).
func (p *Portal) maybePrune(ctx context.Context, now time.Time) {
	last := p.lastPrune.Load()
	if now.UnixNano()-last < int64(pruneEvery) || !p.lastPrune.CompareAndSwap(last, now.UnixNano()) {
		return
	}
	if _, err := p.PruneSessions(ctx); err != nil {
		p.log.Warn("portal: prune sessions", "err", err)
	}
}
