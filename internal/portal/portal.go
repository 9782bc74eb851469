// Package portal is Reckon's web portal: server-rendered pages under
// /portal for usage, cost, invoices, rate cards and access.
//
// Pages are html/template documents with an embedded style sheet and one
// small script (no CDN, nothing fetched from elsewhere); charts are SVG
// drawn on the server. Sessions are rows of the store (portal_sessions), so
// every node sharing the database knows them; the caller's grants are read
// again on every request through auth.Service. Every form carries a CSRF
// token. See docs/portal.md.
package portal

import (
	"context"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/reckon-billing/reckon/internal/account"
	"github.com/reckon-billing/reckon/internal/auth"
	"github.com/reckon-billing/reckon/internal/catalog"
	"github.com/reckon-billing/reckon/internal/charges"
	"github.com/reckon-billing/reckon/internal/invoicing"
	"github.com/reckon-billing/reckon/internal/store"
	"github.com/reckon-billing/reckon/internal/usage"
)

// Config configures the portal.
type Config struct {
	// SecureCookies marks session cookies Secure (the server speaks HTTPS).
	SecureCookies bool
	// IdleTimeout ends a session not used for that long; default 8 h.
	IdleTimeout time.Duration
	// MaxLifetime ends a session that long after sign-in; default 24 h.
	MaxLifetime time.Duration
}

// Defaults of Config.
const (
	DefaultIdleTimeout = 8 * time.Hour
	DefaultMaxLifetime = 24 * time.Hour
)

// Deps are the services the portal's pages call.
type Deps struct {
	Log       *slog.Logger
	DB        *store.DB
	Accounts  *account.Service
	Catalog   *catalog.Service
	Usage     *usage.Service
	Charges   *charges.Service
	Auth      *auth.Service
	Invoicing *invoicing.Service
	// Now is the clock (time.Now when nil).
	Now func() time.Time
}

// Portal is the portal's HTTP handler, serving paths under /portal.
type Portal struct {
	cfg  Config
	deps Deps
	log  *slog.Logger
	mux  *http.ServeMux

	keyMu     sync.Mutex
	signinKey []byte // HMAC key binding the sign-in form's token to its cookie

	rows      rowCache
	lastPrune atomic.Int64 // unix nanoseconds of the last sweep of stale sessions
}

// New returns the portal.
func New(cfg Config, deps Deps) *Portal {
	if cfg.IdleTimeout <= 0 {
		cfg.IdleTimeout = DefaultIdleTimeout
	}
	if cfg.MaxLifetime <= 0 {
		cfg.MaxLifetime = DefaultMaxLifetime
	}
	if deps.Now == nil {
		deps.Now = time.Now
	}
	log := deps.Log
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	p := &Portal{cfg: cfg, deps: deps, log: log, mux: http.NewServeMux()}
	p.routes()
	return p
}

func (p *Portal) now() time.Time { return p.deps.Now().UTC() }

func (p *Portal) routes() {
	m := p.mux
	m.HandleFunc("GET /portal/static/{file}", p.static)
	m.Handle("GET /portal/signin", p.public(p.signinForm))
	m.Handle("POST /portal/signin", p.public(p.signin))
	m.Handle("POST /portal/signout", p.signed(p.signout))
	m.Handle("GET /portal", p.signed(p.home))
	m.Handle("GET /portal/{$}", p.signed(p.home))
	m.Handle("GET /portal/switch", p.signed(p.switchSubscription))

	sub := "/portal/subscriptions/{subscriptionId}"
	m.Handle("GET "+sub, p.signed(p.subscriptionHome))
	m.Handle("GET "+sub+"/{$}", p.signed(p.subscriptionHome))
	m.Handle("GET "+sub+"/overview", p.subscription(p.overview))
	m.Handle("GET "+sub+"/usage", p.subscription(p.usagePage))
	m.Handle("GET "+sub+"/usage.csv", p.subscription(p.usageCSV))
	m.Handle("GET "+sub+"/invoices", p.subscription(p.invoicesPage))
	m.Handle("GET "+sub+"/invoices/{invoiceName}", p.subscription(p.invoicePage))
	m.Handle("GET "+sub+"/invoices/{invoiceName}/pdf", p.subscription(p.invoicePDF))
	m.Handle("GET "+sub+"/ratecard", p.subscription(p.rateCardPage))
	m.Handle("GET "+sub+"/access", p.subscription(p.accessPage))
	m.Handle("POST "+sub+"/access", p.subscription(p.accessPost))

	m.Handle("GET /portal/operator", p.operator(p.operatorSummary))
	m.Handle("GET /portal/operator/{$}", p.operator(p.operatorSummary))
	m.Handle("GET /portal/operator/subscriptions", p.operator(p.operatorSubscriptions))
	m.Handle("GET /portal/operator/principals", p.operator(p.operatorPrincipals))
	m.Handle("GET /portal/operator/imports", p.operator(p.operatorImports))
	m.Handle("GET /portal/operator/ingestion", p.operator(p.operatorIngestion))

	m.Handle("/portal/", p.signed(func(w http.ResponseWriter, r *http.Request, rc *reqCtx) error {
		return errNotFound("There is no page at this address.")
	}))
}

// ServeHTTP serves a portal request.
func (p *Portal) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	securityHeaders(w)
	p.mux.ServeHTTP(w, r)
}

// Mount returns a handler that serves /portal and everything under it with
// the portal and every other path with api.
func Mount(api http.Handler, p *Portal) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/portal" || strings.HasPrefix(r.URL.Path, "/portal/") {
			p.ServeHTTP(w, r)
			return
		}
		api.ServeHTTP(w, r)
	})
}

// securityHeaders are set on every portal answer.
func securityHeaders(w http.ResponseWriter) {
	h := w.Header()
	h.Set("Content-Security-Policy", "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "+
		"object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'")
	h.Set("X-Frame-Options", "DENY")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Referrer-Policy", "same-origin")
	h.Set("Cross-Origin-Opener-Policy", "same-origin")
	h.Set("Permissions-Policy", "camera=(), microphone=(), geolocation=()")
}

// PruneSessions deletes the sessions past their lifetime or idle timeout
// (sign-ins do it once an hour).
func (p *Portal) PruneSessions(ctx context.Context) (int64, error) {
	now := p.now()
	return p.deps.DB.DeleteStalePortalSessions(ctx, now, now.Add(-p.cfg.IdleTimeout))
}
