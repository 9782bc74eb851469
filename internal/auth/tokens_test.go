package auth_test

import (
	"crypto/x509"
	"encoding/pem"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/reckon-billing/reckon/internal/auth"
)

// TestTokenClaims: a signed-in service principal gets an RS256 JWT with
// the claims Azure clients expect, and Authenticate returns who it is
// with its grants.
func TestTokenClaims(t *testing.T) {
	t.Parallel()
	forEachBackend(t, func(t *testing.T, b string) {
		e := newEnv(t, b, auth.Config{})
		tok := e.signIn(t, "app-1", spSecret, "https://management.core.windows.net//.default")
		if tok.TokenType != "Bearer" || tok.ExpiresIn != 3600 || tok.Resource != mgmtCore || !tok.ExpiresOn.Equal(e.clock.Now().Add(time.Hour)) {
			t.Fatalf("token = %+v", tok)
		}
		h, c := claimsOf(t, tok.AccessToken)
		kid, _ := e.signingKey(t)
		if h["alg"] != "RS256" || h["kid"] != kid || h["typ"] != "JWT" {
			t.Fatalf("header = %v, want RS256 with kid %s", h, kid)
		}
		now := float64(e.clock.Now().Unix())
		want := map[string]any{"iss": issuer, "aud": mgmtCore, "sub": "app-1", "oid": "app-1", "appid": "app-1",
			"tid": e.svc.TenantID(), "iat": now, "nbf": now, "exp": now + 3600, "ver": "1.0"}
		for k, v := range want {
			if c[k] != v {
				t.Errorf("claim %s = %v, want %v", k, c[k], v)
			}
		}
		if jti, _ := c["jti"].(string); len(jti) != 36 {
			t.Errorf("jti = %v, want a GUID", c["jti"])
		}
		if len(e.svc.TenantID()) != 36 {
			t.Fatalf("tenant %q is not a GUID", e.svc.TenantID())
		}
		// The token verifies with the published key.
		pub := jwks(t, e.svc)[kid]
		if _, err := jwt.Parse(tok.AccessToken, func(*jwt.Token) (any, error) { return pub, nil }, jwt.WithValidMethods([]string{"RS256"}), jwt.WithTimeFunc(e.clock.Now)); err != nil {
			t.Fatalf("token does not verify with the JWKS key: %v", err)
		}
		id, err := e.svc.Authenticate(ctx, tok.AccessToken)
		if err != nil {
			t.Fatal(err)
		}
		if id.PrincipalID != "app-1" || id.DisplayName != "App one" || id.TenantID != e.svc.TenantID() || id.External || !id.ExpiresAt.Equal(tok.ExpiresOn) {
			t.Fatalf("identity = %+v", id)
		}
		if !id.Grants.CanReadSubscription(mySub) || id.Grants.CanReadSubscription(otherSub) || id.Grants.IsOperator() || id.Grants.CanWriteUsage(mySub) {
			t.Fatalf("grants of a Reader of %s are wrong: %+v", mySub, id.Grants)
		}
		// "Bearer " in front is tolerated.
		if id2, err := e.svc.Authenticate(ctx, "Bearer "+tok.AccessToken); err != nil || id2.PrincipalID != "app-1" {
			t.Fatalf("Authenticate(Bearer …) = %v, %v", id2, err)
		}
		// The same tenant after a restart.
		if again := e.service(t); again.TenantID() != e.svc.TenantID() {
			t.Fatalf("tenant changed across a restart: %s then %s", e.svc.TenantID(), again.TenantID())
		}
	})
}

// TestAudienceForms: scope (with az's double slash) and resource forms,
// with or without trailing slashes, name a configured audience; anything
// else is invalid_scope.
func TestAudienceForms(t *testing.T) {
	t.Parallel()
	e := newEnv(t, "sqlite", auth.Config{})
	for req, want := range map[string]string{
		"": mgmtCore,
		"https://management.core.windows.net//.default":                       mgmtCore,
		"https://management.core.windows.net/.default":                        mgmtCore,
		"https://management.core.windows.net/":                                mgmtCore,
		"https://management.core.windows.net":                                 mgmtCore,
		"HTTPS://Management.Core.Windows.Net//":                               mgmtCore,
		"https://management.azure.com/.default":                               mgmtAzure,
		"https://management.azure.com//.default":                              mgmtAzure,
		"https://management.azure.com":                                        mgmtAzure,
		"openid https://management.azure.com/.default profile offline_access": mgmtAzure,
	} {
		tok, err := e.svc.SignIn(ctx, "app-1", spSecret, req, "")
		if err != nil {
			t.Fatalf("SignIn(audience %q) = %v", req, err)
		}
		if _, c := claimsOf(t, tok.AccessToken); c["aud"] != want || tok.Resource != want {
			t.Errorf("audience %q gave aud %v (resource %s), want %s", req, c["aud"], tok.Resource, want)
		}
	}
	for _, req := range []string{"https://graph.microsoft.com/.default", "https://management.core.windows.net/x", "openid",
		"https://management.azure.com/.default https://management.core.windows.net//.default"} {
		_, err := e.svc.SignIn(ctx, "app-1", spSecret, req, "")
		wantOAuth(t, "audience "+req, err, http.StatusBadRequest, "invalid_scope")
	}
	// A configured audience list replaces the default.
	cfg := auth.Config{Audiences: []string{"api://reckon"}}
	e2 := newEnv(t, "sqlite", cfg)
	if tok := e2.signIn(t, "app-1", spSecret, "api://reckon/.default"); tok.Resource != "api://reckon" {
		t.Fatalf("resource = %s", tok.Resource)
	}
	_, err := e2.svc.SignIn(ctx, "app-1", spSecret, mgmtCore, "")
	wantOAuth(t, "unconfigured default", err, http.StatusBadRequest, "invalid_scope")
}

// TestTokenFailures: every way a token can be wrong, each refused with
// the exact code (ExpiredAuthenticationToken only for an expired token).
func TestTokenFailures(t *testing.T) {
	t.Parallel()
	sqliteOnly(t, func(t *testing.T, b string) {
		e := newEnv(t, b, auth.Config{})
		kid, key := e.signingKey(t)
		now := e.clock.Now()
		valid := func() jwt.MapClaims {
			return jwt.MapClaims{"iss": issuer, "aud": mgmtCore, "sub": "app-1", "oid": "app-1", "appid": "app-1", "tid": e.svc.TenantID(),
				"iat": now.Unix(), "nbf": now.Unix(), "exp": now.Add(time.Hour).Unix(), "ver": "1.0", "jti": "x"}
		}
		with := func(k string, v any) jwt.MapClaims {
			c := valid()
			if v == nil {
				delete(c, k)
			} else {
				c[k] = v
			}
			return c
		}
		// The harness itself: a token made like this with the real key is accepted.
		if _, err := e.svc.Authenticate(ctx, sign(t, jwt.SigningMethodRS256, key, kid, valid())); err != nil {
			t.Fatalf("a well-formed token signed with the real key is refused: %v", err)
		}
		other := testKeys()[3]
		pubDER, _ := x509.MarshalPKIXPublicKey(&key.PublicKey)
		pubPEM := pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: pubDER})
		good := sign(t, jwt.SigningMethodRS256, key, kid, valid())
		parts := strings.Split(good, ".")
		cases := []struct {
			name, token, code, says string
		}{
			{"wrong signature", sign(t, jwt.SigningMethodRS256, other, kid, valid()), auth.CodeInvalidToken, "signature"},
			{"tampered claims", parts[0] + "." + strings.Split(sign(t, jwt.SigningMethodRS256, other, kid, with("oid", auth.KindUser)), ".")[1] + "." + parts[2], auth.CodeInvalidToken, "signature"},
			{"wrong audience", sign(t, jwt.SigningMethodRS256, key, kid, with("aud", "https://graph.microsoft.com/")), auth.CodeInvalidToken, "audience"},
			{"no audience", sign(t, jwt.SigningMethodRS256, key, kid, with("aud", nil)), auth.CodeInvalidToken, "audience"},
			{"expired", sign(t, jwt.SigningMethodRS256, key, kid, with("exp", now.Add(-auth.ClockSkew-time.Second).Unix())), auth.CodeExpiredToken, "expired"},
			{"expired and wrong audience", sign(t, jwt.SigningMethodRS256, key, kid, jwt.MapClaims{"iss": issuer, "aud": "x", "oid": "app-1", "tid": e.svc.TenantID(), "exp": now.Add(-time.Hour).Unix()}), auth.CodeInvalidToken, "audience"},
			{"no expiry", sign(t, jwt.SigningMethodRS256, key, kid, with("exp", nil)), auth.CodeInvalidToken, "expiry"},
			{"not yet valid", sign(t, jwt.SigningMethodRS256, key, kid, with("nbf", now.Add(auth.ClockSkew+time.Second).Unix())), auth.CodeInvalidToken, "not valid before"},
			{"alg none", sign(t, jwt.SigningMethodNone, jwt.UnsafeAllowNoneSignatureType, kid, valid()), auth.CodeInvalidToken, "'none'"},
			{"alg none, no signature, no kid", sign(t, jwt.SigningMethodNone, jwt.UnsafeAllowNoneSignatureType, "", valid()), auth.CodeInvalidToken, "'none'"},
			{"HS256 with the public key as secret", sign(t, jwt.SigningMethodHS256, pubPEM, kid, valid()), auth.CodeInvalidToken, "'HS256'"},
			{"HS256 with the public key DER as secret", sign(t, jwt.SigningMethodHS256, pubDER, kid, valid()), auth.CodeInvalidToken, "'HS256'"},
			{"RS512", sign(t, jwt.SigningMethodRS512, key, kid, valid()), auth.CodeInvalidToken, "'RS512'"},
			{"unknown kid", sign(t, jwt.SigningMethodRS256, key, "no-such-key", valid()), auth.CodeInvalidToken, "unknown key"},
			{"no kid", sign(t, jwt.SigningMethodRS256, key, "", valid()), auth.CodeInvalidToken, "kid"},
			{"wrong issuer", sign(t, jwt.SigningMethodRS256, key, kid, with("iss", "https://evil.example/adfs")), auth.CodeInvalidToken, "issuer"},
			{"no issuer", sign(t, jwt.SigningMethodRS256, key, kid, with("iss", nil)), auth.CodeInvalidToken, "issuer"},
			{"other tenant", sign(t, jwt.SigningMethodRS256, key, kid, with("tid", "99999999-9999-4999-8999-999999999999")), auth.CodeInvalidToken, "tenant"},
			{"no principal", sign(t, jwt.SigningMethodRS256, key, kid, jwt.MapClaims{"iss": issuer, "aud": mgmtCore, "tid": e.svc.TenantID(), "exp": now.Add(time.Hour).Unix()}), auth.CodeInvalidToken, "principal"},
			{"unknown principal", sign(t, jwt.SigningMethodRS256, key, kid, with("oid", "nobody")), auth.CodeInvalidToken, "no longer exists"},
			{"malformed: one part", "abc", auth.CodeInvalidToken, "malformed"},
			{"malformed: three parts of garbage", "a.b.c", auth.CodeInvalidToken, "malformed"},
			{"malformed: claims not JSON", parts[0] + ".bm90IGpzb24." + parts[2], auth.CodeInvalidToken, "malformed"},
			{"malformed: exp a string", sign(t, jwt.SigningMethodRS256, key, kid, with("exp", "tomorrow")), auth.CodeInvalidToken, "malformed"},
			{"unsupported alg", `eyJhbGciOiJYWVoiLCJ0eXAiOiJKV1QifQ.` + parts[1] + "." + parts[2], auth.CodeInvalidToken, "algorithm"},
			{"empty", "", auth.CodeInvalidToken, "missing"},
			{"too long", strings.Repeat("a", 17<<10), auth.CodeInvalidToken, "malformed"},
		}
		for _, c := range cases {
			_, err := e.svc.Authenticate(ctx, c.token)
			wantAuthError(t, c.name, err, c.code, c.says)
		}
		if n := e.svc.CachedTokens(); n != 2 {
			t.Fatalf("%d tokens cached, want 2 (only the valid ones)", n)
		}
		// Within the clock skew an expired token still passes.
		if _, err := e.svc.Authenticate(ctx, sign(t, jwt.SigningMethodRS256, key, kid, with("exp", now.Add(-auth.ClockSkew+time.Second).Unix()))); err != nil {
			t.Fatalf("a token expired less than the skew ago is refused: %v", err)
		}
		if _, err := e.svc.Authenticate(ctx, sign(t, jwt.SigningMethodRS256, key, kid, with("nbf", now.Add(auth.ClockSkew-time.Second).Unix()))); err != nil {
			t.Fatalf("a token valid in less than the skew is refused: %v", err)
		}
	})
}

// TestTokenExpiresInCache: a cached token expires like an uncached one.
func TestTokenExpiresInCache(t *testing.T) {
	t.Parallel()
	e := newEnv(t, "sqlite", auth.Config{TokenLifetime: 10 * time.Minute})
	tok := e.signIn(t, "app-1", spSecret, "")
	if tok.ExpiresIn != 600 {
		t.Fatalf("expires_in = %d, want 600", tok.ExpiresIn)
	}
	if _, err := e.svc.Authenticate(ctx, tok.AccessToken); err != nil {
		t.Fatal(err)
	}
	e.clock.Advance(10*time.Minute + auth.ClockSkew - time.Second)
	if _, err := e.svc.Authenticate(ctx, tok.AccessToken); err != nil {
		t.Fatalf("within the skew: %v", err)
	}
	e.clock.Advance(time.Second)
	_, err := e.svc.Authenticate(ctx, tok.AccessToken)
	wantAuthError(t, "cached, expired", err, auth.CodeExpiredToken, "expired")
	// And uncached, in another process.
	_, err = e.service(t).Authenticate(ctx, tok.AccessToken)
	wantAuthError(t, "uncached, expired", err, auth.CodeExpiredToken, "expired")
}

// TestDeletedPrincipal: the tokens of a deleted principal stop working
// at once in the process that deleted it, and within GrantsRecheck in
// another.
func TestDeletedPrincipal(t *testing.T) {
	t.Parallel()
	forEachBackend(t, func(t *testing.T, b string) {
		e := newEnv(t, b, auth.Config{})
		other := e.service(t)
		tok := e.signIn(t, "app-1", spSecret, "")
		for _, s := range []*auth.Service{e.svc, other} {
			if _, err := s.Authenticate(ctx, tok.AccessToken); err != nil {
				t.Fatal(err)
			}
		}
		if err := e.svc.DeletePrincipal(ctx, operator, "app-1"); err != nil {
			t.Fatal(err)
		}
		_, err := e.svc.Authenticate(ctx, tok.AccessToken)
		wantAuthError(t, "deleted, same process", err, auth.CodeInvalidToken, "no longer exists")
		// The other process still has it cached, until the next check.
		if _, err := other.Authenticate(ctx, tok.AccessToken); err != nil {
			t.Fatalf("other process before its check: %v", err)
		}
		e.clock.Advance(auth.GrantsRecheck)
		_, err = other.Authenticate(ctx, tok.AccessToken)
		wantAuthError(t, "deleted, other process after the check", err, auth.CodeInvalidToken, "no longer exists")
	})
}

// TestIssueFor: tokens without a secret, for existing principals only;
// a long lifetime keeps its key verifying after a rotation.
func TestIssueFor(t *testing.T) {
	t.Parallel()
	e := newEnv(t, "sqlite", auth.Config{})
	tok, err := e.svc.IssueFor(ctx, operator, "", 0)
	if err != nil || tok.ExpiresIn != 3600 || tok.Resource != mgmtCore {
		t.Fatalf("IssueFor(default) = %+v, %v", tok, err)
	}
	id, err := e.svc.Authenticate(ctx, tok.AccessToken)
	if err != nil || !id.Grants.IsOperator() {
		t.Fatalf("operator token: %+v, %v", id, err)
	}
	_, err = e.svc.IssueFor(ctx, "nobody", "", 0)
	wantCode(t, "IssueFor(nobody)", err, 2 /* KindNotFound */, "PrincipalNotFound")
	_, err = e.svc.IssueFor(ctx, operator, "https://graph.microsoft.com/", 0)
	wantCode(t, "IssueFor(bad audience)", err, 1 /* KindInvalid */, "InvalidAudience")

	long, err := e.svc.IssueFor(ctx, operator, mgmtAzure, 30*24*time.Hour)
	if err != nil || long.ExpiresIn != 30*24*3600 {
		t.Fatalf("IssueFor(30 days) = %+v, %v", long, err)
	}
	oldKid, _ := e.signingKey(t)
	if err := e.svc.RotateKeys(ctx, operator); err != nil {
		t.Fatal(err)
	}
	e.clock.Advance(10 * 24 * time.Hour)
	if _, ok := jwks(t, e.svc)[oldKid]; !ok {
		t.Fatal("the key of a 30-day token left the JWKS after 10 days")
	}
	if _, err := e.service(t).Authenticate(ctx, long.AccessToken); err != nil {
		t.Fatalf("30-day token after 10 days and a rotation, uncached: %v", err)
	}
	e.clock.Advance(20*24*time.Hour + auth.ClockSkew)
	if _, ok := jwks(t, e.svc)[oldKid]; ok {
		t.Fatal("the old key is still published after its last token expired")
	}
}
