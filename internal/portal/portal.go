// Package portal is Reckon's web portal: server-rendered pages under
// /portal for usage, cost, invoices, rate cards and access.
package portal

import (
	"log/slog"
	"net/http"
	"strings"
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
}

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
	mux  *http.ServeMux
}

// New returns the portal.
func New(cfg Config, deps Deps) *Portal {
	p := &Portal{cfg: cfg, deps: deps, mux: http.NewServeMux()}
	p.mux.HandleFunc("/portal/", http.NotFound)
	return p
}

// ServeHTTP serves a portal request.
func (p *Portal) ServeHTTP(w http.ResponseWriter, r *http.Request) { p.mux.ServeHTTP(w, r) }

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
