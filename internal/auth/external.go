package auth

import (
	"context"
	"crypto/ecdh"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rsa"
	"encoding/json"
	"fmt"
	"io"
	"math/big"
	"net/http"
	"sync"
	"time"
)

// The external issuer's keys are fetched on first use, again when a token
// names a key id not known (at most once per externalRefetchInterval), and
// at the first use after externalKeysMaxAge.
const (
	externalRefetchInterval = 10 * time.Second
	externalKeysMaxAge      = time.Hour
	maxJWKSBytes            = 1 << 20
)

// externalKeys caches the external issuer's JSON Web Key Set.
type externalKeys struct {
	mu        sync.Mutex
	keys      map[string]externalKey
	fetchedAt time.Time // of the keys held
	triedAt   time.Time // of the last fetch, successful or not
}

type externalKey struct {
	key any // *rsa.PublicKey or *ecdsa.PublicKey
	alg string
}

// externalKey returns the external issuer's key kid for a token signed
// with alg.
func (s *Service) externalKey(ctx context.Context, kid, alg string) (any, error) {
	x := s.external
	now := s.clock()
	x.mu.Lock()
	defer x.mu.Unlock()
	k, ok := x.keys[kid]
	stale := x.keys == nil || now.Sub(x.fetchedAt) >= externalKeysMaxAge
	if (!ok || stale) && (x.triedAt.IsZero() || now.Sub(x.triedAt) >= externalRefetchInterval) {
		x.triedAt = now
		keys, err := s.fetchJWKS(ctx)
		if err == nil {
			x.keys, x.fetchedAt = keys, now
			k, ok = x.keys[kid]
		} else if x.keys == nil {
			return nil, invalidToken("The keys of the issuer '%s' cannot be fetched: %v", clip(s.cfg.External.Issuer), err)
		}
	}
	if !ok {
		return nil, invalidToken("The access token is signed by an unknown key '%s' of the issuer '%s'.", clip(kid), clip(s.cfg.External.Issuer))
	}
	if k.alg != "" && k.alg != alg {
		return nil, invalidToken("The access token is signed with '%s', but its key is for '%s'.", clip(alg), k.alg)
	}
	return k.key, nil
}

// fetchJWKS fetches and parses the external issuer's key set.
func (s *Service) fetchJWKS(ctx context.Context) (map[string]externalKey, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, s.cfg.External.JWKSURL, nil)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Accept", "application/json")
	resp, err := s.httpClient.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("status %s", resp.Status)
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxJWKSBytes))
	if err != nil {
		return nil, err
	}
	return parseJWKS(body)
}

// parseJWKS reads the RSA and EC signing keys of a key set; other keys are
// skipped.
func parseJWKS(body []byte) (map[string]externalKey, error) {
	var set struct {
		Keys []JWK `json:"keys"`
	}
	if err := json.Unmarshal(body, &set); err != nil {
		return nil, fmt.Errorf("JWKS: %w", err)
	}
	keys := map[string]externalKey{}
	for _, j := range set.Keys {
		if j.Kid == "" || j.Use != "" && j.Use != "sig" {
			continue
		}
		switch j.Kty {
		case "RSA":
			n, err1 := b64url.DecodeString(j.N)
			e, err2 := b64url.DecodeString(j.E)
			if err1 != nil || err2 != nil || len(e) == 0 || len(e) > 4 {
				continue
			}
			pub := &rsa.PublicKey{N: new(big.Int).SetBytes(n), E: int(new(big.Int).SetBytes(e).Int64())}
			if pub.N.BitLen() < 2048 || pub.E < 3 {
				continue
			}
			keys[j.Kid] = externalKey{key: pub, alg: j.Alg}
		case "EC":
			var curve elliptic.Curve
			var check ecdh.Curve
			switch j.Crv {
			case "P-256":
				curve, check = elliptic.P256(), ecdh.P256()
			case "P-384":
				curve, check = elliptic.P384(), ecdh.P384()
			case "P-521":
				curve, check = elliptic.P521(), ecdh.P521()
			default:
				continue
			}
			size := (curve.Params().BitSize + 7) / 8
			x, err1 := b64url.DecodeString(j.X)
			y, err2 := b64url.DecodeString(j.Y)
			if err1 != nil || err2 != nil || len(x) != size || len(y) != size {
				continue
			}
			// The point must be on the curve: crypto/ecdh checks it.
			if _, err := check.NewPublicKey(append(append([]byte{4}, x...), y...)); err != nil {
				continue
			}
			pub := &ecdsa.PublicKey{Curve: curve, X: new(big.Int).SetBytes(x), Y: new(big.Int).SetBytes(y)}
			keys[j.Kid] = externalKey{key: pub, alg: j.Alg}
		}
	}
	if len(keys) == 0 {
		return nil, fmt.Errorf("JWKS: no usable signing key")
	}
	return keys, nil
}
