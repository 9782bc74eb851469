package auth

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"slices"
	"time"
)

// keyReloadInterval bounds how often a token signed by an unknown key id
// makes the service reload its keys from the store (another process may
// have rotated them).
const keyReloadInterval = 250 * time.Millisecond

// signingKey is a parsed SigningKey.
type signingKey struct {
	SigningKey
	priv *rsa.PrivateKey
}

// verifiesUntil is when the key stops verifying (zero: while current).
func (k *signingKey) verifiesUntil(lifetime time.Duration) time.Time {
	if k.RetiredAt == nil {
		return time.Time{}
	}
	until := k.RetiredAt.Add(lifetime)
	if k.LongestExpiry != nil && k.LongestExpiry.After(until) {
		until = *k.LongestExpiry
	}
	return until.Add(ClockSkew)
}

// verifiesAt reports whether the key still verifies tokens at now.
func (k *signingKey) verifiesAt(now time.Time, lifetime time.Duration) bool {
	until := k.verifiesUntil(lifetime)
	return until.IsZero() || now.Before(until)
}

// keySet is an immutable snapshot of the keys.
type keySet struct {
	signing *signingKey            // the newest key not retired
	byKID   map[string]*signingKey // every stored key
}

func (s *Service) currentKeys() *keySet {
	s.keysMu.RLock()
	defer s.keysMu.RUnlock()
	return s.keys
}

// loadKeys reads the keys from the store, reusing the parsed ones.
func (s *Service) loadKeys(ctx context.Context) error {
	stored, err := s.repo.SigningKeys(ctx)
	if err != nil {
		return err
	}
	old := s.currentKeys()
	ks := &keySet{byKID: make(map[string]*signingKey, len(stored))}
	for _, sk := range stored {
		var k *signingKey
		if old != nil && old.byKID[sk.KID] != nil && old.byKID[sk.KID].PrivatePEM == sk.PrivatePEM {
			k = &signingKey{SigningKey: sk, priv: old.byKID[sk.KID].priv}
		} else {
			priv, err := parsePrivateKey(sk.PrivatePEM)
			if err != nil {
				return fmt.Errorf("auth: signing key %s: %w", sk.KID, err)
			}
			k = &signingKey{SigningKey: sk, priv: priv}
		}
		ks.byKID[sk.KID] = k
		if k.RetiredAt == nil && (ks.signing == nil || k.CreatedAt.After(ks.signing.CreatedAt) ||
			k.CreatedAt.Equal(ks.signing.CreatedAt) && k.KID > ks.signing.KID) {
			ks.signing = k
		}
	}
	s.keysMu.Lock()
	s.keys = ks
	s.keysMu.Unlock()
	return nil
}

// reloadKeysForUnknown reloads the keys because a token names a key id
// this process does not know, at most once per keyReloadInterval.
func (s *Service) reloadKeysForUnknown(ctx context.Context) bool {
	now := s.clock()
	s.keysMu.Lock()
	if !s.lastKeyReload.IsZero() && now.Sub(s.lastKeyReload) < keyReloadInterval {
		s.keysMu.Unlock()
		return false
	}
	s.lastKeyReload = now
	s.keysMu.Unlock()
	return s.loadKeys(ctx) == nil
}

// generateRSAKey makes the private key of a new signing key (about 70 ms
// of CPU). The package's tests replace it with a pool of keys.
var generateRSAKey = func() (*rsa.PrivateKey, error) { return rsa.GenerateKey(rand.Reader, 2048) }

// newSigningKey generates an RSA 2048 key, other than those of existing;
// its kid is its RFC 7638 JWK thumbprint.
func newSigningKey(now time.Time, existing *keySet) (SigningKey, error) {
	var priv *rsa.PrivateKey
	for {
		var err error
		if priv, err = generateRSAKey(); err != nil {
			return SigningKey{}, err
		}
		if existing == nil || existing.byKID[thumbprint(&priv.PublicKey)] == nil {
			break
		}
	}
	der, err := x509.MarshalPKCS8PrivateKey(priv)
	if err != nil {
		return SigningKey{}, err
	}
	return SigningKey{
		KID:        thumbprint(&priv.PublicKey),
		PrivatePEM: string(pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der})),
		CreatedAt:  now.UTC().Truncate(time.Microsecond),
	}, nil
}

func parsePrivateKey(p string) (*rsa.PrivateKey, error) {
	block, _ := pem.Decode([]byte(p))
	if block == nil || block.Type != "PRIVATE KEY" {
		return nil, errors.New("not a PKCS#8 PEM block")
	}
	key, err := x509.ParsePKCS8PrivateKey(block.Bytes)
	if err != nil {
		return nil, err
	}
	rk, ok := key.(*rsa.PrivateKey)
	if !ok || rk.N.BitLen() < 2048 {
		return nil, errors.New("not an RSA key of at least 2048 bits")
	}
	return rk, nil
}

var b64url = base64.RawURLEncoding

// thumbprint is the RFC 7638 thumbprint of an RSA public key.
func thumbprint(pub *rsa.PublicKey) string {
	e := b64url.EncodeToString(big.NewInt(int64(pub.E)).Bytes())
	n := b64url.EncodeToString(pub.N.Bytes())
	sum := sha256.Sum256([]byte(`{"e":"` + e + `","kty":"RSA","n":"` + n + `"}`))
	return b64url.EncodeToString(sum[:])
}

// JWK is a public JSON Web Key.
type JWK struct {
	Kty string `json:"kty"`
	Use string `json:"use,omitempty"`
	Alg string `json:"alg,omitempty"`
	Kid string `json:"kid,omitempty"`
	N   string `json:"n,omitempty"`
	E   string `json:"e,omitempty"`
	Crv string `json:"crv,omitempty"`
	X   string `json:"x,omitempty"`
	Y   string `json:"y,omitempty"`
}

// JWKS returns the JSON Web Key Set of the signing keys (public parts).
func (s *Service) JWKS(ctx context.Context) ([]byte, error) {
	s.maybeRecheck(ctx)
	ks := s.currentKeys()
	if ks == nil {
		return nil, errNotInitialized
	}
	now := s.clock()
	keys := []JWK{}
	for _, k := range ks.byKID {
		if !k.verifiesAt(now, s.cfg.TokenLifetime) {
			continue
		}
		pub := &k.priv.PublicKey
		keys = append(keys, JWK{Kty: "RSA", Use: "sig", Alg: "RS256", Kid: k.KID,
			N: b64url.EncodeToString(pub.N.Bytes()), E: b64url.EncodeToString(big.NewInt(int64(pub.E)).Bytes())})
	}
	// The signing key first, then the newest.
	slices.SortFunc(keys, func(a, b JWK) int {
		ka, kb := ks.byKID[a.Kid], ks.byKID[b.Kid]
		switch {
		case ka == ks.signing:
			return -1
		case kb == ks.signing:
			return 1
		}
		return kb.CreatedAt.Compare(ka.CreatedAt)
	})
	return json.Marshal(struct {
		Keys []JWK `json:"keys"`
	}{keys})
}

// RotateKeys makes a new signing key current; the old ones keep verifying
// until the tokens they signed have expired.
func (s *Service) RotateKeys(ctx context.Context, actor string) error {
	ks := s.currentKeys()
	if ks == nil {
		return errNotInitialized
	}
	now := s.clock()
	k, err := newSigningKey(now, ks)
	if err != nil {
		return err
	}
	var drop []string
	for _, old := range ks.byKID {
		if !old.verifiesAt(now, s.cfg.TokenLifetime) {
			drop = append(drop, old.KID)
		}
	}
	slices.Sort(drop)
	e := Event{At: now, Actor: actor, Action: "keys.rotate", Target: k.KID, Success: true}
	if len(drop) > 0 {
		e.Detail = fmt.Sprintf("dropped %d expired keys", len(drop))
	}
	if err := s.repo.RotateSigningKey(ctx, k, drop, s.event(e)); err != nil {
		return err
	}
	return s.loadKeys(ctx)
}
