// Package reckontest starts real Reckon servers and stores for tests: SQLite
// in a temporary directory always, and PostgreSQL (a fresh database per
// test) when RECKON_TEST_POSTGRES_DSN is set. When that variable is set and
// PostgreSQL cannot be reached, tests fail rather than skip.
package reckontest

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	_ "github.com/jackc/pgx/v5/stdlib"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/reckon-billing/reckon/internal/account"
	"github.com/reckon-billing/reckon/internal/auth"
	"github.com/reckon-billing/reckon/internal/catalog"
	"github.com/reckon-billing/reckon/internal/charges"
	"github.com/reckon-billing/reckon/internal/exportjob"
	"github.com/reckon-billing/reckon/internal/httpapi"
	"github.com/reckon-billing/reckon/internal/invoicepdf"
	"github.com/reckon-billing/reckon/internal/invoicing"
	"github.com/reckon-billing/reckon/internal/portal"
	"github.com/reckon-billing/reckon/internal/store"
	"github.com/reckon-billing/reckon/internal/usage"
)

// PostgresEnv names the variable holding the PostgreSQL DSN for tests.
const PostgresEnv = "RECKON_TEST_POSTGRES_DSN"

// Backend names a store kind under test.
type Backend string

// Backends.
const (
	SQLite   Backend = "sqlite"
	Postgres Backend = "postgres"
)

// Backends returns the store kinds to test: SQLite, and PostgreSQL when
// RECKON_TEST_POSTGRES_DSN is set.
func Backends() []Backend {
	if os.Getenv(PostgresEnv) != "" {
		return []Backend{SQLite, Postgres}
	}
	return []Backend{SQLite}
}

// ForEachBackend runs fn as a subtest for each backend.
func ForEachBackend(t *testing.T, fn func(t *testing.T, b Backend)) {
	for _, b := range Backends() {
		t.Run(string(b), func(t *testing.T) { fn(t, b) })
	}
}

// OpenStore opens a fresh, migrated store of kind b, closed at the end of the test.
func OpenStore(t testing.TB, b Backend) *store.DB {
	t.Helper()
	dsn := DSN(t, b)
	db, err := store.Open(context.Background(), dsn, t.TempDir(), store.Options{SQLiteCacheMiB: 16, MaxConns: 8})
	if err != nil {
		t.Fatalf("open %s store: %v", b, err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

// DSN returns the DSN of a fresh, empty database of kind b: an SQLite file
// in a temporary directory, or a new PostgreSQL database dropped after the test.
func DSN(t testing.TB, b Backend) string {
	t.Helper()
	if b == SQLite {
		return "sqlite:" + t.TempDir() + "/reckon.db"
	}
	base := os.Getenv(PostgresEnv)
	if base == "" {
		t.Fatalf("%s is not set", PostgresEnv)
	}
	admin, err := sql.Open("pgx", base)
	if err != nil {
		t.Fatalf("postgres: %v", err)
	}
	defer admin.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	buf := make([]byte, 6)
	rand.Read(buf)
	name := "reckon_test_" + hex.EncodeToString(buf)
	if _, err := admin.ExecContext(ctx, "CREATE DATABASE "+name); err != nil {
		t.Fatalf("postgres (from %s) cannot create a test database: %v", PostgresEnv, err)
	}
	t.Cleanup(func() {
		a, err := sql.Open("pgx", base)
		if err != nil {
			return
		}
		defer a.Close()
		a.Exec("DROP DATABASE IF EXISTS " + name + " WITH (FORCE)")
	})
	u, err := url.Parse(base)
	if err != nil {
		t.Fatalf("%s: %v", PostgresEnv, err)
	}
	u.Path = "/" + name
	return u.String()
}

// Clock is a settable clock for tests.
type Clock struct {
	mu sync.Mutex
	t  time.Time
}

// NewClock returns a clock stopped at t.
func NewClock(t time.Time) *Clock { return &Clock{t: t} }

// Now returns the clock's time.
func (c *Clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

// Set moves the clock to t.
func (c *Clock) Set(t time.Time) {
	c.mu.Lock()
	c.t = t
	c.mu.Unlock()
}

// Advance moves the clock forward by d.
func (c *Clock) Advance(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

// The principals every test server has: an operator (Operator at "/") and
// a usage writer (Usage Writer at "/"). Their tokens are Server.AdminToken
// and Server.IngestToken.
const (
	OperatorID     = "test-operator"
	OperatorSecret = "test-operator-secret-0123456789"
	IngestID       = "test-ingest"
	// Issuer is the issuer of test servers' tokens.
	Issuer = "https://reckon.test/adfs"
)

// Options configure a test server.
type Options struct {
	Backend Backend
	// TLS serves HTTPS with httptest's certificate (Server.Client trusts it).
	TLS bool
	// ReadsPerHour and WritesPerHour are the request budgets (0: none).
	ReadsPerHour, WritesPerHour int
	// Auth adjusts the identity service's configuration (Issuer is set).
	Auth auth.Config
	// Invoicing configures periods and invoices (grace time, late usage,
	// seller, taxes).
	Invoicing invoicing.Config
	// Now is the server's clock; nil means time.Now.
	Now func() time.Time
	// SettleMargin defaults to one second.
	SettleMargin   time.Duration
	MaxIngestBytes int64
	// Log receives the server's log; nil discards it.
	Log io.Writer
}

// Server is a running Reckon server over a real store.
type Server struct {
	*httptest.Server
	DB        *store.DB
	Accounts  *account.Service
	Catalog   *catalog.Service
	Usage     *usage.Service
	Charges   *charges.Service
	Auth      *auth.Service
	Invoicing *invoicing.Service
	Exports   *exportjob.Runner
	API       *httpapi.API
	Portal    *portal.Portal
	// AdminToken is a token of the operator principal, IngestToken one of
	// the usage writer; both are valid for ten years of the server's clock.
	AdminToken, IngestToken string
}

// Start starts a server and stops it at the end of the test.
func Start(t testing.TB, o Options) *Server {
	t.Helper()
	if o.Backend == "" {
		o.Backend = SQLite
	}
	now := o.Now
	if now == nil {
		now = time.Now
	}
	if o.SettleMargin == 0 {
		o.SettleMargin = time.Second
	}
	w := o.Log
	if w == nil {
		w = io.Discard
	}
	log := slog.New(slog.NewTextHandler(w, nil))
	db := OpenStore(t, o.Backend)
	key, err := db.Secret(context.Background(), "continuation-token")
	if err != nil {
		t.Fatal(err)
	}
	s := &Server{DB: db}
	s.Accounts = account.NewService(db, now)
	s.Catalog = catalog.NewService(db, now)
	s.Usage = usage.NewService(db, now, log, usage.Config{SettleMargin: o.SettleMargin})
	s.Charges = charges.NewService(s.Accounts, s.Catalog, s.Usage, now)
	auth.ReuseSigningKeysForTests() // an RSA key per server would cost 70 ms each
	ac := o.Auth
	ac.Issuer = Issuer
	s.Auth = auth.NewService(db, now, ac)
	s.AdminToken, s.IngestToken = setupPrincipals(t, s.Auth)
	if o.Invoicing.SettleMargin == 0 {
		o.Invoicing.SettleMargin = o.SettleMargin
	}
	s.Invoicing = invoicing.NewService(db, s.Accounts, s.Charges, invoicepdf.New(invoicepdf.Options{}), now, o.Invoicing)
	s.Exports = exportjob.NewRunner(t.TempDir(), s.Accounts, s.Invoicing, "Test operator", now, exportjob.WithRepository(db))
	t.Cleanup(s.Exports.Wait)
	downloadKey, err := db.Secret(context.Background(), "invoice-download")
	if err != nil {
		t.Fatal(err)
	}
	s.API = httpapi.New(httpapi.Config{MaxIngestBytes: o.MaxIngestBytes, ReadsPerHour: o.ReadsPerHour, WritesPerHour: o.WritesPerHour},
		httpapi.Deps{Log: log, Accounts: s.Accounts, Catalog: s.Catalog, Usage: s.Usage, Charges: s.Charges, Auth: s.Auth,
			Invoicing: s.Invoicing, Exports: s.Exports, DownloadKey: downloadKey,
			TokenKey: key, Registry: prometheus.NewRegistry(), Ready: db.Ping, Now: now})
	s.Portal = portal.New(portal.Config{SecureCookies: o.TLS}, portal.Deps{Log: log, DB: db, Accounts: s.Accounts,
		Catalog: s.Catalog, Usage: s.Usage, Charges: s.Charges, Auth: s.Auth, Invoicing: s.Invoicing, Now: now})
	handler := portal.Mount(s.API, s.Portal)
	if o.TLS {
		s.Server = httptest.NewTLSServer(handler)
	} else {
		s.Server = httptest.NewServer(handler)
	}
	t.Cleanup(func() {
		s.Server.Close()
		s.Usage.Close()
	})
	return s
}

// setupPrincipals initialises the identity service and creates the test
// operator and usage writer, returning a token of each.
func setupPrincipals(t testing.TB, a *auth.Service) (admin, ingest string) {
	t.Helper()
	ctx := context.Background()
	if err := a.Init(ctx); err != nil {
		t.Fatalf("auth init: %v", err)
	}
	if _, _, _, err := a.Bootstrap(ctx, OperatorID, OperatorSecret); err != nil {
		t.Fatalf("auth bootstrap: %v", err)
	}
	if _, _, err := a.PutPrincipal(ctx, OperatorID, IngestID, auth.PrincipalInput{DisplayName: "Test usage writer"}); err != nil {
		t.Fatalf("put principal: %v", err)
	}
	if _, _, err := a.PutAssignment(ctx, OperatorID, "0b6c1e7a-0000-4000-8000-000000000001",
		auth.Assignment{PrincipalID: IngestID, RoleDefinitionName: auth.RoleUsageWriter, Scope: "/"}); err != nil {
		t.Fatalf("put assignment: %v", err)
	}
	return Token(t, a, OperatorID), Token(t, a, IngestID)
}

// Token issues a long-lived token for a principal.
func Token(t testing.TB, a *auth.Service, principalID string) string {
	t.Helper()
	tok, err := a.IssueFor(context.Background(), principalID, "", 10*365*24*time.Hour)
	if err != nil {
		t.Fatalf("issue a token for %s: %v", principalID, err)
	}
	return tok.AccessToken
}

// Principal creates a service principal with the given role assignments
// ("Role@scope", e.g. "Reader@/subscriptions/…") and returns a token of it.
func (s *Server) Principal(t testing.TB, id string, roles ...string) string {
	t.Helper()
	ctx := context.Background()
	if _, _, err := s.Auth.PutPrincipal(ctx, OperatorID, id, auth.PrincipalInput{DisplayName: id}); err != nil {
		t.Fatalf("put principal %s: %v", id, err)
	}
	for i, rs := range roles {
		role, scope, ok := strings.Cut(rs, "@")
		if !ok {
			t.Fatalf("role %q is not Role@scope", rs)
		}
		if _, _, err := s.Auth.PutAssignment(ctx, OperatorID, uuid.NewSHA1(uuid.NameSpaceOID, fmt.Appendf(nil, "%s/%d", id, i)).String(),
			auth.Assignment{PrincipalID: id, RoleDefinitionName: role, Scope: scope}); err != nil {
			t.Fatalf("assign %s to %s: %v", rs, id, err)
		}
	}
	return Token(t, s.Auth, id)
}

// Do sends a request with the given bearer token ("" for none) and returns
// the response with its body read.
func (s *Server) Do(t testing.TB, method, path, token, body string) (*http.Response, []byte) {
	t.Helper()
	req, err := http.NewRequest(method, s.URL+path, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := s.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp, data
}
