// Package httpapi is Reckon's HTTP surface: the Azure-compatible billing
// APIs (ARM conventions: case-insensitive paths, api-version, the error
// envelope, request ids), the operator API under /admin/v1 and the metering
// endpoint. Handlers decode, call a domain service, and encode; they hold no
// business rules and never touch the store.
package httpapi

import (
	"context"
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
	"github.com/reckon-billing/reckon/internal/auth"
	"github.com/reckon-billing/reckon/internal/billing"
	"github.com/reckon-billing/reckon/internal/catalog"
	"github.com/reckon-billing/reckon/internal/charges"
	"github.com/reckon-billing/reckon/internal/exportjob"
	"github.com/reckon-billing/reckon/internal/invoicing"
	"github.com/reckon-billing/reckon/internal/throttle"
	"github.com/reckon-billing/reckon/internal/usage"
)

// Config is the HTTP layer's configuration.
type Config struct {
	// MaxIngestBytes bounds an ingest request body.
	MaxIngestBytes int64
	// ReadsPerHour and WritesPerHour are each principal's request budgets
	// per subscription (or at tenant level); 0 means no limit.
	ReadsPerHour, WritesPerHour int
	// DownloadLinkLifetime is how long an invoice download link works;
	// default 1 h.
	DownloadLinkLifetime time.Duration
	// InvoicePageSize is the page size of the invoice and billing-period
	// lists; default 100.
	InvoicePageSize int
}

// Deps are the services the handlers call.
type Deps struct {
	Log      *slog.Logger
	Accounts *account.Service
	Catalog  *catalog.Service
	Usage    *usage.Service
	Charges  *charges.Service
	Auth     *auth.Service
	// Invoicing serves billing periods and invoices; nil leaves the
	// invoice APIs out.
	Invoicing *invoicing.Service
	// Exports runs export jobs; nil leaves the exports API out.
	Exports *exportjob.Runner
	// DownloadKey signs invoice download links (the store's secret
	// "invoice-download"); every node sharing a store must use the same key.
	DownloadKey []byte
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
	// reads and writes are the request budgets.
	reads, writes *throttle.Limiter
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
	a.reads, a.writes = throttle.New(cfg.ReadsPerHour, a.now), throttle.New(cfg.WritesPerHour, a.now)
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
	a.operator("POST /admin/v1/catalog/import", a.importCatalog)
	a.operator("PUT /admin/v1/offers/{offerDurableId}", a.putOffer)
	a.operator("GET /admin/v1/offers/{offerDurableId}", a.getOffer)
	a.operator("GET /admin/v1/offers", a.listAdminOffers)
	a.operator("PUT /admin/v1/principals/{clientId}", a.putPrincipal)
	a.operator("GET /admin/v1/principals/{clientId}", a.getPrincipal)
	a.operator("DELETE /admin/v1/principals/{clientId}", a.deletePrincipal)
	a.operator("DELETE /admin/v1/principals/{clientId}/secrets/{secretId}", a.deleteSecret)
	a.operator("GET /admin/v1/principals", a.listPrincipals)
	a.operator("PUT /admin/v1/roleAssignments/{assignmentId}", a.putAssignment)
	a.operator("GET /admin/v1/roleAssignments/{assignmentId}", a.getAssignment)
	a.operator("DELETE /admin/v1/roleAssignments/{assignmentId}", a.deleteAssignment)
	a.operator("GET /admin/v1/roleAssignments", a.listAssignments)
	a.operator("POST /admin/v1/signingKeys/rotate", a.rotateKeys)
	a.operator("GET /admin/v1/audit", a.auditLog)
	a.routes = append(a.routes, "POST /metering/v1/usage")
	a.mux.Handle("POST /metering/v1/usage", a.authenticate(accessIngest, http.HandlerFunc(a.ingest)))

	// The ADFS-style token service and the cloud metadata az reads.
	a.mux.HandleFunc("GET /adfs/.well-known/openid-configuration", a.openIDConfiguration)
	a.mux.HandleFunc("POST /adfs/oauth2/token", a.token)
	a.mux.HandleFunc("GET /adfs/discovery/keys", a.jwks)
	a.mux.HandleFunc("GET /metadata/endpoints", a.metadataEndpoints)

	a.arm.handle(http.MethodGet, "/subscriptions", a.authenticate(accessAny, http.HandlerFunc(a.listARMSubscriptions)))
	a.arm.handle(http.MethodGet, "/tenants", a.authenticate(accessAny, http.HandlerFunc(a.listTenants)))
	a.arm.handle(http.MethodGet, "/subscriptions/{subscriptionId}/providers/Microsoft.Commerce/UsageAggregates",
		a.authenticate(accessSubscription, http.HandlerFunc(a.usageAggregates)))
	a.arm.handle(http.MethodGet, "/subscriptions/{subscriptionId}/providers/Microsoft.Commerce/RateCard",
		a.authenticate(accessSubscription, http.HandlerFunc(a.rateCard)))
	a.arm.handle(http.MethodGet, "/subscriptions/{subscriptionId}/providers/Microsoft.Commerce/charges",
		a.authenticate(accessSubscription, http.HandlerFunc(a.charges)))
	a.arm.handle(http.MethodGet, "/providers/Microsoft.Commerce/offers",
		a.authenticate(accessAny, http.HandlerFunc(a.listOffers)))
	a.arm.handle(http.MethodGet, "/subscriptions/{subscriptionId}",
		a.authenticate(accessSubscription, http.HandlerFunc(a.subscriptionResource)))
	a.arm.handle(http.MethodGet, "/subscriptions/{subscriptionId}/providers/Microsoft.Commerce/costReport",
		a.authenticate(accessSubscription, a.serve(a.costReport))) // costreport.go
	a.arm.handle(http.MethodGet, "/providers/Microsoft.Billing/billingAccounts/{billingAccountName}/providers/Microsoft.Commerce/costReport",
		a.authenticate(accessAny, a.serve(a.costReport)))
	a.arm.handle(http.MethodGet, "/subscriptions/{subscriptionId}/providers/Microsoft.Consumption/usageDetails",
		a.authenticate(accessSubscription, a.serve(a.usageDetails))) // consumption.go
	a.arm.handle(http.MethodGet, "/subscriptions/{subscriptionId}/providers/Microsoft.Billing/billingPeriods/{billingPeriodName}/providers/Microsoft.Consumption/usageDetails",
		a.authenticate(accessSubscription, a.serve(a.usageDetails)))
	a.arm.handle(http.MethodGet, "/subscriptions/{subscriptionId}/providers/Microsoft.Commerce.Admin/subscriberUsageAggregates",
		a.authenticate(accessOperator, a.serve(a.subscriberUsageAggregates))) // providerusage.go
	a.invoiceRoutes() // invoices.go: the Billing APIs, download links, invoice access, period close
	a.exportRoutes()  // exports.go
}

func (a *API) operator(pattern string, h http.HandlerFunc) {
	a.routes = append(a.routes, pattern)
	a.mux.Handle(pattern, a.authenticate(accessOperator, h))
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
	if strings.HasPrefix(r.URL.Path, "//") {
		// az asks for "{endpoint}/metadata/endpoints" with the endpoint's
		// trailing slash: "//metadata/endpoints". ServeMux would redirect.
		r.URL.Path = "/" + strings.TrimLeft(r.URL.Path, "/")
		r.URL.RawPath = ""
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

// baseURL is the scheme and host the client called.
func baseURL(r *http.Request) string {
	scheme := "http"
	if r.TLS != nil {
		scheme = "https"
	}
	return scheme + "://" + r.Host
}
