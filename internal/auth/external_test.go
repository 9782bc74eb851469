package auth_test

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"math/big"
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/reckon-billing/reckon/internal/auth"
)

// idp is a stand-in OIDC provider: it serves a JWKS and signs tokens.
type idp struct {
	mu      sync.Mutex
	keys    map[string]any // kid → *rsa.PrivateKey or *ecdsa.PrivateKey
	fetches atomic.Int64
	fail    atomic.Bool
	srv     *httptest.Server
}

func newIDP(t *testing.T) *idp {
	p := &idp{keys: map[string]any{}}
	p.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p.fetches.Add(1)
		if p.fail.Load() {
			http.Error(w, "down", http.StatusInternalServerError)
			return
		}
		p.mu.Lock()
		defer p.mu.Unlock()
		var set struct {
			Keys []auth.JWK `json:"keys"`
		}
		enc := base64.RawURLEncoding.EncodeToString
		for kid, k := range p.keys {
			switch k := k.(type) {
			case *rsa.PrivateKey:
				set.Keys = append(set.Keys, auth.JWK{Kty: "RSA", Use: "sig", Kid: kid, N: enc(k.N.Bytes()), E: enc(big.NewInt(int64(k.E)).Bytes())})
			case *ecdsa.PrivateKey:
				b, _ := k.PublicKey.Bytes() // uncompressed point
				set.Keys = append(set.Keys, auth.JWK{Kty: "EC", Use: "sig", Alg: "ES256", Kid: kid, Crv: "P-256", X: enc(b[1:33]), Y: enc(b[33:])})
			}
		}
		// A key of a kind Reckon skips, and an encryption key.
		set.Keys = append(set.Keys, auth.JWK{Kty: "oct", Kid: "sym"}, auth.JWK{Kty: "RSA", Use: "enc", Kid: "enc-key", N: "AQAB", E: "AQAB"})
		json.NewEncoder(w).Encode(set)
	}))
	t.Cleanup(p.srv.Close)
	return p
}

// addRSA publishes test key n under kid.
func (p *idp) addRSA(kid string, n int) *rsa.PrivateKey {
	k := testKeys()[n]
	p.mu.Lock()
	p.keys[kid] = k
	p.mu.Unlock()
	return k
}

const (
	extIssuer   = "https://idp.example.com/tenant-x/v2.0"
	extAudience = "api://reckon"
	extUser     = "0A0B0C0D-AAAA-4BBB-8CCC-DDDDEEEEFFFF"
)

// TestExternalIssuer: tokens of a trusted OIDC provider are verified with
// its JWKS (fetched, cached, refetched on an unknown kid at most once per
// interval); the principal is the configured claim; grants come from
// assignments of that id.
func TestExternalIssuer(t *testing.T) {
	t.Parallel()
	sqliteOnly(t, func(t *testing.T, b string) {
		p := newIDP(t)
		rsaKey := p.addRSA("ext-1", 0)
		ecKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		p.keys["ext-ec"] = ecKey
		e := newEnv(t, b, auth.Config{External: &auth.ExternalIssuer{Issuer: extIssuer, JWKSURL: p.srv.URL, Audience: extAudience}})
		now := e.clock.Now()
		claims := func(mod func(jwt.MapClaims)) jwt.MapClaims {
			c := jwt.MapClaims{"iss": extIssuer, "aud": extAudience, "sub": "subject-1", "oid": extUser, "name": "Eve External",
				"iat": now.Unix(), "nbf": now.Unix(), "exp": now.Add(time.Hour).Unix()}
			if mod != nil {
				mod(c)
			}
			return c
		}
		// An assignment for the external principal, which Reckon does not know.
		if _, _, err := e.svc.PutAssignment(ctx, operator, "00000000-0000-4000-8000-0000000000e1", auth.Assignment{PrincipalID: extUser, RoleDefinitionName: auth.RoleReader, Scope: "/subscriptions/" + otherSub}); err != nil {
			t.Fatalf("assignment for an external principal: %v", err)
		}
		id, err := e.svc.Authenticate(ctx, sign(t, jwt.SigningMethodRS256, rsaKey, "ext-1", claims(nil)))
		if err != nil {
			t.Fatal(err)
		}
		if !id.External || id.PrincipalID != "0a0b0c0d-aaaa-4bbb-8ccc-ddddeeeeffff" || id.DisplayName != "Eve External" || id.TenantID != e.svc.TenantID() {
			t.Fatalf("identity = %+v", id)
		}
		if !id.Grants.CanReadSubscription(otherSub) || id.Grants.CanReadSubscription(mySub) {
			t.Fatal("external grants are not those of its assignments")
		}
		// ES256 with the EC key; a list audience.
		if _, err := e.svc.Authenticate(ctx, sign(t, jwt.SigningMethodES256, ecKey, "ext-ec", claims(func(c jwt.MapClaims) { c["aud"] = []string{"other", extAudience + "/"} }))); err != nil {
			t.Fatalf("ES256 token: %v", err)
		}
		if n := p.fetches.Load(); n != 1 {
			t.Fatalf("%d JWKS fetches, want 1 (cached)", n)
		}
		pubDER, _ := x509.MarshalPKIXPublicKey(&rsaKey.PublicKey)
		for name, c := range map[string]struct {
			tok, code, says string
		}{
			"Reckon's audience":  {sign(t, jwt.SigningMethodRS256, rsaKey, "ext-1", claims(func(c jwt.MapClaims) { c["aud"] = mgmtCore })), auth.CodeInvalidToken, "audience"},
			"expired":            {sign(t, jwt.SigningMethodRS256, rsaKey, "ext-1", claims(func(c jwt.MapClaims) { c["exp"] = now.Add(-time.Hour).Unix() })), auth.CodeExpiredToken, "expired"},
			"no oid":             {sign(t, jwt.SigningMethodRS256, rsaKey, "ext-1", claims(func(c jwt.MapClaims) { delete(c, "oid") })), auth.CodeInvalidToken, "'oid'"},
			"HS256 with the key": {sign(t, jwt.SigningMethodHS256, pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: pubDER}), "ext-1", claims(nil)), auth.CodeInvalidToken, "'HS256'"},
			"alg none":           {sign(t, jwt.SigningMethodNone, jwt.UnsafeAllowNoneSignatureType, "ext-1", claims(nil)), auth.CodeInvalidToken, "'none'"},
			"RSA key, ES256 alg": {sign(t, jwt.SigningMethodES256, ecKey, "ext-1", claims(nil)), auth.CodeInvalidToken, "signature"},
			"EC key, RS256 alg":  {sign(t, jwt.SigningMethodRS256, rsaKey, "ext-ec", claims(nil)), auth.CodeInvalidToken, "'ES256'"},
		} {
			_, err := e.svc.Authenticate(ctx, c.tok)
			wantAuthError(t, name, err, c.code, c.says)
		}
		// Unknown kid: one refetch, then none within the interval (counted
		// from the last fetch).
		e.clock.Advance(auth.ExternalRefetchInterval)
		rotated := p.addRSA("ext-2", 1)
		fetches := p.fetches.Load()
		p.mu.Lock()
		delete(p.keys, "ext-2")
		p.mu.Unlock()
		tok2 := sign(t, jwt.SigningMethodRS256, rotated, "ext-2", claims(nil))
		_, err = e.svc.Authenticate(ctx, tok2)
		wantAuthError(t, "unknown external kid", err, auth.CodeInvalidToken, "unknown key")
		if p.fetches.Load() != fetches+1 {
			t.Fatal("an unknown kid did not refetch the JWKS")
		}
		p.mu.Lock()
		p.keys["ext-2"] = rotated // the provider publishes its new key
		p.mu.Unlock()
		for i := 0; i < 3; i++ {
			_, err = e.svc.Authenticate(ctx, tok2)
			wantAuthError(t, "unknown kid within the refetch interval", err, auth.CodeInvalidToken, "unknown key")
		}
		if p.fetches.Load() != fetches+1 {
			t.Fatalf("%d refetches within the interval, want 1", p.fetches.Load()-fetches)
		}
		e.clock.Advance(auth.ExternalRefetchInterval)
		if _, err := e.svc.Authenticate(ctx, tok2); err != nil {
			t.Fatalf("the provider's new key after the interval: %v", err)
		}
		// A Reckon token is still Reckon's.
		if _, err := e.svc.Authenticate(ctx, e.signIn(t, "app-1", spSecret, "").AccessToken); err != nil {
			t.Fatal(err)
		}
		// A token claiming the external issuer, signed with Reckon's key, fails.
		kid, key := e.signingKey(t)
		_, err = e.svc.Authenticate(ctx, sign(t, jwt.SigningMethodRS256, key, kid, claims(nil)))
		wantAuthError(t, "Reckon's key, external issuer", err, auth.CodeInvalidToken, "unknown key")
	})
}

// TestExternalPrincipalClaim: the principal can be "sub" instead of "oid".
func TestExternalPrincipalClaim(t *testing.T) {
	t.Parallel()
	p := newIDP(t)
	k := p.addRSA("k", 2)
	e := newEnv(t, "sqlite", auth.Config{External: &auth.ExternalIssuer{Issuer: extIssuer, JWKSURL: p.srv.URL, Audience: extAudience, PrincipalClaim: "sub"}})
	now := e.clock.Now()
	id, err := e.svc.Authenticate(ctx, sign(t, jwt.SigningMethodRS256, k, "k", jwt.MapClaims{"iss": extIssuer, "aud": extAudience, "sub": "robot@example.com", "oid": extUser, "exp": now.Add(time.Hour).Unix()}))
	if err != nil || id.PrincipalID != "robot@example.com" || id.DisplayName != "robot@example.com" || id.Grants.IsOperator() {
		t.Fatalf("identity = %+v, %v", id, err)
	}
}

// TestExternalIssuerDown: a provider whose JWKS cannot be fetched makes
// its tokens invalid (401), not a server error.
func TestExternalIssuerDown(t *testing.T) {
	t.Parallel()
	p := newIDP(t)
	k := p.addRSA("k", 2)
	p.fail.Store(true)
	e := newEnv(t, "sqlite", auth.Config{External: &auth.ExternalIssuer{Issuer: extIssuer, JWKSURL: p.srv.URL, Audience: extAudience}})
	tok := sign(t, jwt.SigningMethodRS256, k, "k", jwt.MapClaims{"iss": extIssuer, "aud": extAudience, "oid": extUser, "exp": e.clock.Now().Add(time.Hour).Unix()})
	_, err := e.svc.Authenticate(ctx, tok)
	wantAuthError(t, "JWKS down", err, auth.CodeInvalidToken, "cannot be fetched")
	p.fail.Store(false)
	e.clock.Advance(auth.ExternalRefetchInterval)
	if _, err := e.svc.Authenticate(ctx, tok); err != nil {
		t.Fatalf("after the provider is back: %v", err)
	}
	// Config errors.
	for _, x := range []*auth.ExternalIssuer{{Issuer: extIssuer, Audience: extAudience}, {Issuer: issuer, JWKSURL: p.srv.URL, Audience: "a"},
		{Issuer: extIssuer, JWKSURL: p.srv.URL, Audience: "a", PrincipalClaim: "email"}} {
		if err := auth.NewService(e.db, e.clock.Now, auth.Config{Issuer: issuer, External: x}).Init(ctx); err == nil {
			t.Fatalf("Init with external issuer %+v succeeded", x)
		}
	}
}
