// Package httpapi is Reckon's HTTP surface: the Azure-compatible billing
// APIs (ARM conventions: case-insensitive paths, api-version, the error
// envelope, request ids), the operator API under /admin/v1 and the metering
// endpoint. Handlers decode, call a domain service, and encode; they hold no
// business rules and never touch the store.
package httpapi

import (
	"context"
	"crypto/subtle"
	"fmt"
	"log/slog"
	"net/http"
	"runtime/debug"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/reckon-billing/reckon/internal/account"
	"github.com/reckon-billing/reckon/internal/billing"
	"github.com/reckon-billing/reckon/internal/catalog"
	"github.com/reckon-billing/reckon/internal/charges"
	"github.com/reckon-billing/reckon/internal/usage"
)

// Config is the HTTP layer's configuration.
type Config struct {
	// AdminToken is the operator's bearer token (until the identity service
	// lands): it may call everything.
	AdminToken string
	// IngestToken, when set, may post usage but not set reportedTime.
	IngestToken string
	// Demo lets any bearer token call the read APIs.
	Demo bool
	// MaxIngestBytes bounds an ingest request body.
	MaxIngestBytes int64
}

// Deps are the services the handlers call.
type Deps struct {
	Log      *slog.Logger
	Accounts *account.Service
	Catalog  *catalog.Service
	Usage    *usage.Service
	Charges  *charges.Service
	// TokenKey signs continuation tokens; every node sharing a store must
	// use the same key.
	TokenKey []byte
	Registry *prometheus.Registry
	// Ready reports whether the server can serve (the store answers).
	Ready func(context.Context) error
	// Now is the clock (time.Now when nil).
	Now func() time.Time
}

// API is the HTTP handler of a Reckon server.
type API struct {
	cfg     Config
	deps    Deps
	log     *slog.Logger
	mux     *http.ServeMux
	arm     armRouter
	metrics *metrics
	// routes lists every operator and metering route, for the OpenAPI check.
	routes    []string
	quotes    quoteCache
	rateCards rateCardCache
}

func (a *API) now() time.Time {
	if a.deps.Now != nil {
		return a.deps.Now()
	}
	return time.Now()
}

// New returns the handler of a Reckon server.
func New(cfg Config, deps Deps) *API {
	if cfg.MaxIngestBytes <= 0 {
		cfg.MaxIngestBytes = 64 << 20
	}
	if deps.Registry == nil {
		deps.Registry = prometheus.NewRegistry()
	}
	a := &API{cfg: cfg, deps: deps, log: deps.Log, mux: http.NewServeMux(), metrics: newMetrics(deps.Registry)}
	a.routesSetup()
	if deps.Usage != nil {
		deps.Usage.Observe = a.metrics.observeIngest
	}
	return a
}

func (a *API) routesSetup() {
	a.mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusOK, map[string]string{"status": "ok"})
	})
	a.mux.HandleFunc("GET /readyz", a.readyz)
	a.mux.Handle("GET /metrics", promhttp.HandlerFor(a.deps.Registry, promhttp.HandlerOpts{}))
	a.mux.HandleFunc("GET /openapi.json", serveOpenAPI)

	a.operator("PUT /admin/v1/subscriptions/{subscriptionId}", a.putSubscription)
	a.operator("GET /admin/v1/subscriptions/{subscriptionId}", a.getSubscription)
	a.operator("GET /admin/v1/subscriptions", a.listSubscriptions)
	a.operator("PUT /admin/v1/meters/{meterId}", a.putMeter)
	a.operator("GET /admin/v1/meters/{meterId}", a.getMeter)
	a.operator("GET /admin/v1/meters", a.listMeters)
	a.routes = append(a.routes, "POST /metering/v1/usage")
	a.mux.Handle("POST /metering/v1/usage", a.authenticate(roleIngest, http.HandlerFunc(a.ingest)))

	a.arm.handle(http.MethodGet, "/subscriptions/{subscriptionId}/providers/Microsoft.Commerce/UsageAggregates",
		a.authenticate(roleReader, http.HandlerFunc(a.usageAggregates)))
	a.arm.handle(http.MethodGet, "/subscriptions/{subscriptionId}/providers/Microsoft.Commerce/RateCard",
		a.authenticate(roleReader, http.HandlerFunc(a.rateCard)))
	a.arm.handle(http.MethodGet, "/subscriptions/{subscriptionId}/providers/Microsoft.Commerce/charges",
		a.authenticate(roleReader, http.HandlerFunc(a.charges)))
	a.arm.handle(http.MethodGet, "/providers/Microsoft.Commerce/offers",
		a.authenticate(roleReader, http.HandlerFunc(a.listOffers)))
	a.operator("POST /admin/v1/catalog/import", a.importCatalog)
	a.operator("PUT /admin/v1/offers/{offerDurableId}", a.putOffer)
	a.operator("GET /admin/v1/offers/{offerDurableId}", a.getOffer)
	a.operator("GET /admin/v1/offers", a.listAdminOffers)
	a.arm.handle(http.MethodGet, "/subscriptions/{subscriptionId}",
		a.authenticate(roleReader, http.HandlerFunc(a.subscriptionResource)))
}

func (a *API) operator(pattern string, h http.HandlerFunc) {
	a.routes = append(a.routes, pattern)
	a.mux.Handle(pattern, a.authenticate(roleOperator, h))
}

// Routes lists the operator and metering routes ("METHOD /path").
func (a *API) Routes() []string { return append([]string(nil), a.routes...) }

func (a *API) readyz(w http.ResponseWriter, r *http.Request) {
	if a.deps.Ready != nil {
		ctx, cancel := context.WithTimeout(r.Context(), 2*time.Second)
		defer cancel()
		if err := a.deps.Ready(ctx); err != nil {
			writeError(w, r, a.log, billing.Unavailable("NotReady", 1, "The store does not answer."))
			return
		}
	}
	writeJSON(w, http.StatusOK, map[string]string{"status": "ready"})
}

// ServeHTTP implements http.Handler.
func (a *API) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	start := time.Now()
	id := uuid.NewString()
	h := w.Header()
	h.Set("x-ms-request-id", id)
	corr := r.Header.Get("x-ms-correlation-request-id")
	if _, ok := billing.ParseGUID(corr); !ok {
		corr = id
	}
	h.Set("x-ms-correlation-request-id", corr)
	if r.Header.Get("x-ms-return-client-request-id") == "true" {
		if c := r.Header.Get("x-ms-client-request-id"); c != "" && len(c) <= 128 {
			h.Set("x-ms-client-request-id", c)
		}
	}
	rec := &statusRecorder{ResponseWriter: w, status: http.StatusOK}
	route := "unmatched"
	defer func() {
		if p := recover(); p != nil {
			a.log.Error("panic", "panic", fmt.Sprint(p), "stack", string(debug.Stack()), "requestId", id)
			if !rec.wrote {
				writeError(rec, r, a.log, fmt.Errorf("panic: %v", p))
			}
		}
		a.metrics.observeRequest(route, r.Method, rec.status, time.Since(start))
	}()
	if handler, pattern, matched := a.arm.match(r); handler != nil {
		route = pattern
		h.Set("Cache-Control", "no-cache")
		handler.ServeHTTP(rec, r)
		return
	} else if matched {
		writeError(rec, r, a.log, &billing.Error{Kind: billing.KindInvalid, Code: "MethodNotAllowed", Message: "The method " + r.Method + " is not allowed here."})
		return
	}
	_, pattern := a.mux.Handler(r)
	if pattern == "" {
		route = "unmatched"
		writeError(rec, r, a.log, billing.NotFound("NotFound", "", "No route matches %s %s.", r.Method, clipPath(r.URL.Path)))
		return
	}
	route = pattern
	a.mux.ServeHTTP(rec, r)
}

func clipPath(p string) string {
	if len(p) > 200 {
		return p[:200] + "…"
	}
	return p
}

type statusRecorder struct {
	http.ResponseWriter
	status int
	wrote  bool
}

func (s *statusRecorder) WriteHeader(code int) {
	if !s.wrote {
		s.status, s.wrote = code, true
	}
	s.ResponseWriter.WriteHeader(code)
}

func (s *statusRecorder) Write(b []byte) (int, error) {
	s.wrote = true
	return s.ResponseWriter.Write(b)
}

func (s *statusRecorder) Unwrap() http.ResponseWriter { return s.ResponseWriter }

type role int

const (
	roleReader role = iota
	roleIngest
	roleOperator
)

type callerKey struct{}

// caller is who made a request, as far as the interim token scheme knows.
type caller struct {
	operator bool
}

func callerOf(r *http.Request) caller {
	c, _ := r.Context().Value(callerKey{}).(caller)
	return c
}

// authenticate checks the bearer token for the least role a route needs.
func (a *API) authenticate(need role, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		auth := r.Header.Get("Authorization")
		token, ok := strings.CutPrefix(auth, "Bearer ")
		if !ok {
			token, ok = strings.CutPrefix(auth, "bearer ")
		}
		token = strings.TrimSpace(token)
		if !ok || token == "" {
			a.unauthorized(w, r, "AuthenticationFailed", "Authentication failed. The 'Authorization' header is missing or is not a bearer token.")
			return
		}
		var c caller
		var granted role
		switch {
		case a.cfg.AdminToken != "" && subtle.ConstantTimeCompare([]byte(token), []byte(a.cfg.AdminToken)) == 1:
			c.operator, granted = true, roleOperator
		case a.cfg.IngestToken != "" && subtle.ConstantTimeCompare([]byte(token), []byte(a.cfg.IngestToken)) == 1:
			granted = roleIngest
		case a.cfg.Demo:
			granted = roleReader // demo mode: any bearer token may read
		default:
			a.unauthorized(w, r, "InvalidAuthenticationToken", "The access token is invalid.")
			return
		}
		if granted < need || (granted == roleIngest && need == roleReader) {
			writeError(w, r, a.log, &billing.Error{Kind: billing.KindForbidden, Code: "AuthorizationFailed",
				Message: fmt.Sprintf("The client does not have authorization to perform action '%s %s'.", r.Method, clipPath(r.URL.Path))})
			return
		}
		next.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), callerKey{}, c)))
	})
}

func (a *API) unauthorized(w http.ResponseWriter, r *http.Request, code, msg string) {
	w.Header().Set("WWW-Authenticate", `Bearer authorization_uri="`+baseURL(r)+`/adfs", error="invalid_token", error_description="`+msg+`"`)
	writeError(w, r, a.log, &billing.Error{Kind: billing.KindUnauthenticated, Code: code, Message: msg})
}

// baseURL is the scheme and host the client called.
func baseURL(r *http.Request) string {
	scheme := "http"
	if r.TLS != nil {
		scheme = "https"
	}
	return scheme + "://" + r.Host
}
