package auth

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/google/uuid"

	"github.com/reckon-billing/reckon/internal/billing"
)

var errNotInitialized = errors.New("auth: the identity service is not initialized (Init)")

// Limits.
const (
	// maxTokenLen bounds a bearer token; Azure's are about 2 KB.
	maxTokenLen = 16 << 10
	// tokenCacheSize bounds the verified tokens kept.
	tokenCacheSize = 20000
)

// Codes of authentication errors, as ARM spells them.
const (
	CodeInvalidToken = "InvalidAuthenticationToken"
	CodeExpiredToken = "ExpiredAuthenticationToken"
)

func invalidToken(format string, args ...any) *billing.Error {
	return &billing.Error{Kind: billing.KindUnauthenticated, Code: CodeInvalidToken, Message: fmt.Sprintf(format, args...)}
}

// tokenClaims are the claims Reckon reads from a token (its own or the
// external issuer's).
type tokenClaims struct {
	jwt.RegisteredClaims
	OID   string `json:"oid,omitempty"`
	AppID string `json:"appid,omitempty"`
	TID   string `json:"tid,omitempty"`
	Ver   string `json:"ver,omitempty"`
	Name  string `json:"name,omitempty"`
}

// verifiedToken is what a verified token says, cached until it expires.
type verifiedToken struct {
	principalID string
	name        string
	external    bool
	exp         time.Time
}

// issue signs a token for principalID.
func (s *Service) issue(ctx context.Context, principalID, audience string, lifetime time.Duration) (Token, error) {
	ks := s.currentKeys()
	if ks == nil || ks.signing == nil || s.tenant == "" {
		return Token{}, errNotInitialized
	}
	k := ks.signing
	now := s.clock().UTC().Truncate(time.Second)
	lifetime = lifetime.Truncate(time.Second)
	exp := now.Add(lifetime)
	claims := jwt.MapClaims{
		"iss": s.cfg.Issuer, "aud": audience, "sub": principalID, "oid": principalID, "appid": principalID,
		"tid": s.tenant, "iat": now.Unix(), "nbf": now.Unix(), "exp": exp.Unix(), "ver": "1.0", "jti": uuid.NewString(),
	}
	t := jwt.NewWithClaims(jwt.SigningMethodRS256, claims)
	t.Header["kid"] = k.KID
	signed, err := t.SignedString(k.priv)
	if err != nil {
		return Token{}, fmt.Errorf("auth: sign token: %w", err)
	}
	if lifetime > s.cfg.TokenLifetime && (k.LongestExpiry == nil || exp.After(*k.LongestExpiry)) {
		// The key must verify this token for its whole life, even once
		// retired.
		if err := s.repo.ExtendSigningKey(ctx, k.KID, exp); err != nil {
			return Token{}, err
		}
		if err := s.loadKeys(ctx); err != nil {
			return Token{}, err
		}
	}
	return Token{AccessToken: signed, TokenType: "Bearer", ExpiresIn: int(lifetime / time.Second), ExpiresOn: exp, Resource: audience}, nil
}

// IssueFor issues a token for an existing principal without a secret: for
// the demo's printed token and the test harness.
func (s *Service) IssueFor(ctx context.Context, principalID, audience string, lifetime time.Duration) (Token, error) {
	s.maybeRecheck(ctx)
	id, ok := canonicalClientID(principalID)
	if !ok {
		return Token{}, PrincipalNotFound(principalID)
	}
	if _, err := s.repo.Principal(ctx, id); err != nil {
		return Token{}, err
	}
	aud, ok := s.requestAudience(audience)
	if !ok {
		return Token{}, billing.Invalid("InvalidAudience", "audience", "The audience '%s' is not one of %s.", clip(audience), strings.Join(s.cfg.Audiences, ", "))
	}
	if lifetime <= 0 {
		lifetime = s.cfg.TokenLifetime
	}
	if lifetime < time.Second {
		lifetime = time.Second
	}
	return s.issue(ctx, id, aud, lifetime)
}

// oidcScopes are scopes a token request may name besides the resource.
var oidcScopes = map[string]bool{"openid": true, "profile": true, "offline_access": true, "email": true}

// requestAudience finds the configured audience a token request names: in
// scope form (".../.default", as az sends "https://management.core.windows.net//.default")
// or resource form, trailing slashes and case of the URL aside. An empty
// request means the first configured audience.
func (s *Service) requestAudience(req string) (string, bool) {
	var resource string
	n := 0
	for _, f := range strings.Fields(req) {
		if oidcScopes[strings.ToLower(f)] {
			continue
		}
		resource, n = f, n+1
	}
	if strings.TrimSpace(req) == "" {
		return s.cfg.Audiences[0], true
	}
	if n != 1 {
		return "", false
	}
	resource = strings.TrimSuffix(resource, "/.default")
	for _, a := range s.cfg.Audiences {
		if sameAudience(a, resource) {
			return a, true
		}
	}
	return "", false
}

// sameAudience compares audiences without trailing slashes, the case of
// the scheme and host aside (GUID audiences compare case-insensitively too).
func sameAudience(a, b string) bool {
	return strings.EqualFold(strings.TrimRight(a, "/"), strings.TrimRight(b, "/"))
}

// Authenticate validates a bearer token (Reckon's or the external
// issuer's) and returns the caller with its grants. Errors are
// KindUnauthenticated billing errors: InvalidAuthenticationToken or
// ExpiredAuthenticationToken.
func (s *Service) Authenticate(ctx context.Context, bearer string) (*Identity, error) {
	if s.tenant == "" {
		return nil, errNotInitialized
	}
	s.maybeRecheck(ctx)
	tok := strings.TrimSpace(bearer)
	if len(tok) > 7 && strings.EqualFold(tok[:7], "bearer ") {
		tok = strings.TrimSpace(tok[7:])
	}
	if tok == "" {
		return nil, invalidToken("The access token is missing.")
	}
	if len(tok) > maxTokenLen {
		return nil, invalidToken("The access token is malformed: it is longer than %d bytes.", maxTokenLen)
	}
	now := s.clock()
	key := sha256.Sum256([]byte(tok))
	v := s.tokens.get(key)
	if v != nil {
		if !now.Before(v.exp.Add(ClockSkew)) {
			s.tokens.remove(key)
			return nil, expiredToken(v.exp)
		}
	} else {
		var err error
		if v, err = s.verifyToken(ctx, tok, now); err != nil {
			return nil, err
		}
		s.tokens.put(key, v, now)
	}
	p, err := s.principal(ctx, v.principalID)
	if err != nil {
		return nil, err
	}
	if !v.external && !p.exists {
		return nil, invalidToken("The principal '%s' of the access token no longer exists.", v.principalID)
	}
	name := p.displayName
	if name == "" {
		name = v.name
	}
	if name == "" {
		name = v.principalID
	}
	return &Identity{PrincipalID: v.principalID, DisplayName: name, TenantID: s.tenant, External: v.external, Grants: p.grants, ExpiresAt: v.exp}, nil
}

func expiredToken(exp time.Time) *billing.Error {
	return &billing.Error{Kind: billing.KindUnauthenticated, Code: CodeExpiredToken,
		Message: fmt.Sprintf("The access token expired at '%s'.", exp.UTC().Format(time.RFC3339))}
}

// ownAlgorithms and externalAlgorithms are the signing algorithms
// accepted: Reckon signs with RS256 only; the external issuer may use
// RSA or ECDSA. The key type must match the algorithm too (package jwt
// checks it), so a public key can never serve as an HMAC secret.
var externalAlgorithms = map[string]bool{"RS256": true, "RS384": true, "RS512": true, "PS256": true, "PS384": true, "PS512": true, "ES256": true, "ES384": true, "ES512": true}

var parser = jwt.NewParser(jwt.WithoutClaimsValidation())

// verifyToken checks a token that is not in the cache.
func (s *Service) verifyToken(ctx context.Context, tok string, now time.Time) (*verifiedToken, error) {
	var c tokenClaims
	external := false
	_, err := parser.ParseWithClaims(tok, &c, func(t *jwt.Token) (any, error) {
		alg, _ := t.Header["alg"].(string)
		kid, _ := t.Header["kid"].(string)
		switch {
		case c.Issuer == s.cfg.Issuer:
			if alg != "RS256" {
				return nil, invalidToken("The access token is signed with the algorithm '%s'; Reckon's tokens are signed with RS256.", clip(alg))
			}
			if kid == "" {
				return nil, invalidToken("The access token names no signing key (kid).")
			}
			k := s.currentKeys().byKID[kid]
			if k == nil && s.reloadKeysForUnknown(ctx) {
				k = s.currentKeys().byKID[kid]
			}
			if k == nil {
				return nil, invalidToken("The access token is signed by an unknown key '%s'.", clip(kid))
			}
			if !k.verifiesAt(now, s.cfg.TokenLifetime) {
				return nil, invalidToken("The access token is signed by the key '%s', which has been retired.", clip(kid))
			}
			return &k.priv.PublicKey, nil
		case s.cfg.External != nil && c.Issuer == s.cfg.External.Issuer:
			external = true
			if !externalAlgorithms[alg] {
				return nil, invalidToken("The access token is signed with the algorithm '%s', which is not accepted.", clip(alg))
			}
			return s.externalKey(ctx, kid, alg)
		case c.Issuer == "":
			return nil, invalidToken("The access token has no issuer.")
		default:
			return nil, invalidToken("The issuer '%s' of the access token is not trusted.", clip(c.Issuer))
		}
	})
	if err != nil {
		if be := billing.AsError(err); be != nil {
			return nil, be
		}
		switch {
		case errors.Is(err, jwt.ErrTokenSignatureInvalid):
			return nil, invalidToken("The signature of the access token is invalid.")
		case errors.Is(err, jwt.ErrTokenUnverifiable):
			return nil, invalidToken("The access token's signing algorithm is not supported.")
		}
		return nil, invalidToken("The access token is malformed.")
	}
	v := &verifiedToken{external: external, name: c.Name}
	if external {
		e := s.cfg.External
		if !audienceIn(c.Audience, []string{e.Audience}) {
			return nil, invalidToken("The audience '%s' of the access token is not '%s'.", clip(strings.Join(c.Audience, " ")), e.Audience)
		}
		switch e.PrincipalClaim {
		case "sub":
			v.principalID = c.Subject
		case "appid":
			v.principalID = c.AppID
		default:
			v.principalID = c.OID
		}
		if id, ok := canonicalClientID(v.principalID); ok {
			v.principalID = id
		} else {
			return nil, invalidToken("The access token's '%s' claim does not name a principal.", e.PrincipalClaim)
		}
	} else {
		if !audienceIn(c.Audience, s.cfg.Audiences) {
			return nil, invalidToken("The audience '%s' of the access token is not accepted; the audiences are %s.", clip(strings.Join(c.Audience, " ")), strings.Join(s.cfg.Audiences, ", "))
		}
		if c.TID != s.tenant {
			return nil, invalidToken("The access token is for another tenant.")
		}
		v.principalID = c.OID
		if v.principalID == "" {
			v.principalID = c.Subject
		}
		if id, ok := canonicalClientID(v.principalID); ok {
			v.principalID = id
		} else {
			return nil, invalidToken("The access token names no principal (oid).")
		}
	}
	if c.NotBefore != nil && now.Add(ClockSkew).Before(c.NotBefore.Time) {
		return nil, invalidToken("The access token is not valid before '%s'.", c.NotBefore.UTC().Format(time.RFC3339))
	}
	if c.ExpiresAt == nil {
		return nil, invalidToken("The access token has no expiry (exp).")
	}
	v.exp = c.ExpiresAt.Time
	if !now.Before(v.exp.Add(ClockSkew)) {
		return nil, expiredToken(v.exp)
	}
	return v, nil
}

func audienceIn(aud jwt.ClaimStrings, accepted []string) bool {
	for _, a := range aud {
		for _, b := range accepted {
			if sameAudience(a, b) {
				return true
			}
		}
	}
	return false
}

// tokenCache keeps verified tokens by their SHA-256 until they expire.
type tokenCache struct {
	mu  sync.RWMutex
	m   map[[32]byte]*verifiedToken
	max int
}

func (c *tokenCache) init(max int) {
	c.m = make(map[[32]byte]*verifiedToken)
	c.max = max
}

func (c *tokenCache) get(k [32]byte) *verifiedToken {
	c.mu.RLock()
	v := c.m[k]
	c.mu.RUnlock()
	return v
}

func (c *tokenCache) remove(k [32]byte) {
	c.mu.Lock()
	delete(c.m, k)
	c.mu.Unlock()
}

func (c *tokenCache) put(k [32]byte, v *verifiedToken, now time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.m) >= c.max {
		for key, e := range c.m {
			if !now.Before(e.exp.Add(ClockSkew)) {
				delete(c.m, key)
			}
		}
		// Still full of live tokens: forget a quarter, at random.
		for key := range c.m {
			if len(c.m) < c.max*3/4 {
				break
			}
			delete(c.m, key)
		}
	}
	c.m[k] = v
}
