package auth_test

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"database/sql"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"errors"
	"math/big"
	"net/url"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	_ "github.com/jackc/pgx/v5/stdlib"

	"github.com/reckon-billing/reckon/internal/auth"
	"github.com/reckon-billing/reckon/internal/billing"
	"github.com/reckon-billing/reckon/internal/store"
)

func TestMain(m *testing.M) {
	auth.UseCheapHashing()
	auth.ReuseSigningKeysForTests()
	os.Exit(m.Run())
}

var ctx = context.Background()

const (
	issuer     = "https://reckon.test/adfs"
	mgmtCore   = "https://management.core.windows.net/"
	mgmtAzure  = "https://management.azure.com/"
	operator   = "operator-1"
	spSecret   = "sp-secret-0123456789"
	otherSub   = "bbbbbbbb-0000-4000-8000-000000000002"
	mySub      = "aaaaaaaa-0000-4000-8000-000000000001"
	postgresDS = "RECKON_TEST_POSTGRES_DSN"
)

// backends are the stores to test: SQLite, and PostgreSQL when
// RECKON_TEST_POSTGRES_DSN is set (then unreachable is a failure).
func backends() []string {
	if os.Getenv(postgresDS) != "" {
		return []string{"sqlite", "postgres"}
	}
	return []string{"sqlite"}
}

func forEachBackend(t *testing.T, fn func(t *testing.T, b string)) {
	for _, b := range backends() {
		t.Run(b, func(t *testing.T) {
			t.Parallel()
			fn(t, b)
		})
	}
}

// sqliteOnly runs fn on SQLite alone: for what does not depend on the
// store (the conformance suite checks the repositories on every backend).
func sqliteOnly(t *testing.T, fn func(t *testing.T, b string)) { fn(t, "sqlite") }

// openStore opens a fresh store of kind b.
func openStore(t testing.TB, b string) *store.DB {
	t.Helper()
	dsn := "sqlite:" + t.TempDir() + "/reckon.db"
	if b == "postgres" {
		base := os.Getenv(postgresDS)
		admin, err := sql.Open("pgx", base)
		if err != nil {
			t.Fatal(err)
		}
		defer admin.Close()
		buf := make([]byte, 6)
		rand.Read(buf)
		name := "reckon_auth_" + hex.EncodeToString(buf)
		if _, err := admin.ExecContext(ctx, "CREATE DATABASE "+name); err != nil {
			t.Fatalf("postgres: create database: %v", err)
		}
		u, err := url.Parse(base)
		if err != nil {
			t.Fatal(err)
		}
		u.Path = "/" + name
		dsn = u.String()
		t.Cleanup(func() {
			if a, err := sql.Open("pgx", base); err == nil {
				a.Exec("DROP DATABASE IF EXISTS " + name + " WITH (FORCE)")
				a.Close()
			}
		})
	}
	db, err := store.Open(ctx, dsn, t.TempDir(), store.Options{SQLiteCacheMiB: 8, MaxConns: 8})
	if err != nil {
		t.Fatalf("open %s store: %v", b, err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

// clock is a settable test clock.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func newClock() *clock { return &clock{t: time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)} }

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

// env is an identity service over a fresh store, with an operator and a
// service principal "app-1" (secret spSecret) that reads mySub.
type env struct {
	db    *store.DB
	clock *clock
	svc   *auth.Service
	cfg   auth.Config
}

func newEnv(t testing.TB, b string, cfg auth.Config) *env {
	t.Helper()
	e := &env{db: openStore(t, b), clock: newClock(), cfg: cfg}
	if e.cfg.Issuer == "" {
		e.cfg.Issuer = issuer
	}
	e.svc = e.service(t)
	if _, _, err := e.svc.PutPrincipal(ctx, "test", operator, auth.PrincipalInput{DisplayName: "Op", Secret: "operator-secret-0123"}); err != nil {
		t.Fatal(err)
	}
	if _, _, err := e.svc.PutAssignment(ctx, "test", "00000000-0000-4000-8000-00000000000a", auth.Assignment{PrincipalID: operator, RoleDefinitionName: auth.RoleOperator, Scope: "/"}); err != nil {
		t.Fatal(err)
	}
	if _, _, err := e.svc.PutPrincipal(ctx, operator, "app-1", auth.PrincipalInput{DisplayName: "App one", Secret: spSecret}); err != nil {
		t.Fatal(err)
	}
	if _, _, err := e.svc.PutAssignment(ctx, operator, "00000000-0000-4000-8000-00000000000b", auth.Assignment{PrincipalID: "app-1", RoleDefinitionName: auth.RoleReader, Scope: "/subscriptions/" + mySub}); err != nil {
		t.Fatal(err)
	}
	return e
}

// service starts another identity service (another process) on the store.
func (e *env) service(t testing.TB) *auth.Service {
	t.Helper()
	s := auth.NewService(e.db, e.clock.Now, e.cfg)
	if err := s.Init(ctx); err != nil {
		t.Fatal(err)
	}
	return s
}

func (e *env) signIn(t testing.TB, clientID, secret, aud string) auth.Token {
	t.Helper()
	tok, err := e.svc.SignIn(ctx, clientID, secret, aud, "192.0.2.10:5000")
	if err != nil {
		t.Fatalf("SignIn(%s) = %v", clientID, err)
	}
	return tok
}

// signingKey returns the service's current private key, read from the store.
func (e *env) signingKey(t testing.TB) (string, *rsa.PrivateKey) {
	t.Helper()
	keys, err := e.db.SigningKeys(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for i := len(keys) - 1; i >= 0; i-- {
		if keys[i].RetiredAt == nil {
			block, _ := pem.Decode([]byte(keys[i].PrivatePEM))
			k, err := x509.ParsePKCS8PrivateKey(block.Bytes)
			if err != nil {
				t.Fatal(err)
			}
			return keys[i].KID, k.(*rsa.PrivateKey)
		}
	}
	t.Fatal("no current signing key")
	return "", nil
}

// claimsOf decodes a token's header and claims without verifying.
func claimsOf(t testing.TB, tok string) (header, claims map[string]any) {
	t.Helper()
	parts := strings.Split(tok, ".")
	if len(parts) != 3 {
		t.Fatalf("token %q has %d parts", tok, len(parts))
	}
	for i, dst := range []*map[string]any{&header, &claims} {
		b, err := base64.RawURLEncoding.DecodeString(parts[i])
		if err != nil {
			t.Fatal(err)
		}
		if err := json.Unmarshal(b, dst); err != nil {
			t.Fatal(err)
		}
	}
	return header, claims
}

// sign makes a token with the given header fields and claims.
func sign(t testing.TB, method jwt.SigningMethod, key any, kid string, claims jwt.MapClaims) string {
	t.Helper()
	tok := jwt.NewWithClaims(method, claims)
	if kid != "" {
		tok.Header["kid"] = kid
	}
	s, err := tok.SignedString(key)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// wantAuthError checks an Authenticate error's kind and code.
func wantAuthError(t testing.TB, what string, err error, code, msgPart string) {
	t.Helper()
	be := billing.AsError(err)
	if be == nil || be.Kind != billing.KindUnauthenticated || be.Code != code {
		t.Fatalf("%s: error %v, want KindUnauthenticated %s", what, err, code)
	}
	if msgPart != "" && !strings.Contains(be.Message, msgPart) {
		t.Fatalf("%s: message %q does not say %q", what, be.Message, msgPart)
	}
}

func wantCode(t testing.TB, what string, err error, kind billing.Kind, code string) {
	t.Helper()
	be := billing.AsError(err)
	if be == nil || be.Kind != kind || be.Code != code {
		t.Fatalf("%s: error %v, want kind %d code %s", what, err, kind, code)
	}
}

func wantOAuth(t testing.TB, what string, err error, status int, code string) *auth.OAuthError {
	t.Helper()
	var oe *auth.OAuthError
	if !errors.As(err, &oe) || oe.Status != status || oe.Code != code {
		t.Fatalf("%s: error %v, want OAuthError %d %s", what, err, status, code)
	}
	return oe
}

// jwks decodes a JWKS document into its keys by kid.
func jwks(t testing.TB, s *auth.Service) map[string]*rsa.PublicKey {
	t.Helper()
	b, err := s.JWKS(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var set struct {
		Keys []auth.JWK `json:"keys"`
	}
	if err := json.Unmarshal(b, &set); err != nil {
		t.Fatal(err)
	}
	out := map[string]*rsa.PublicKey{}
	for _, k := range set.Keys {
		if k.Kty != "RSA" || k.Alg != "RS256" || k.Use != "sig" {
			t.Fatalf("JWK %+v is not an RS256 signing key", k)
		}
		n, _ := base64.RawURLEncoding.DecodeString(k.N)
		e, _ := base64.RawURLEncoding.DecodeString(k.E)
		out[k.Kid] = &rsa.PublicKey{N: new(big.Int).SetBytes(n), E: int(new(big.Int).SetBytes(e).Int64())}
	}
	return out
}

var jwtRS256 = jwt.SigningMethodRS256

// testKeys are RSA keys of the tests' own (a forger's, an external
// provider's), never the service's.
var testKeys = sync.OnceValue(func() []*rsa.PrivateKey {
	keys := make([]*rsa.PrivateKey, 4)
	var wg sync.WaitGroup
	for i := range keys {
		wg.Add(1)
		go func() {
			defer wg.Done()
			keys[i], _ = rsa.GenerateKey(rand.Reader, 2048)
		}()
	}
	wg.Wait()
	return keys
})

// validClaims are the claims of a valid token of app-1 issued at now.
func validClaims(e *env, now time.Time) jwt.MapClaims {
	return jwt.MapClaims{"iss": issuer, "aud": mgmtCore, "sub": "app-1", "oid": "app-1", "appid": "app-1", "tid": e.svc.TenantID(),
		"iat": now.Unix(), "nbf": now.Unix(), "exp": now.Add(time.Hour).Unix(), "ver": "1.0", "jti": "x"}
}
