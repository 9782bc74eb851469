package auth

import (
	"context"
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"strings"
	"sync"

	"golang.org/x/crypto/argon2"
)

// argon2Params are the parameters of an argon2id hash.
type argon2Params struct {
	memory  uint32 // KiB
	time    uint32
	threads uint8
	saltLen int
	keyLen  uint32
}

// defaultHashParams are OWASP's first argon2id choice (m=19 MiB, t=2,
// p=1) with a 16-byte salt and a 32-byte key. Each hash carries its
// parameters, so that they can change without making old hashes
// unverifiable.
var defaultHashParams = argon2Params{memory: 19 * 1024, time: 2, threads: 1, saltLen: 16, keyLen: 32}

// hashParams are the parameters of new hashes. The package's tests lower
// them to stay fast (one test checks the real ones).
var hashParams = defaultHashParams

// Bounds on what a stored hash may ask for, so that a tampered row cannot
// make verification allocate gigabytes.
const (
	maxHashMemory = 1 << 20 // KiB: 1 GiB
	maxHashTime   = 16
)

var b64 = base64.RawStdEncoding

// hashSecret returns the argon2id hash of secret in PHC string form:
// $argon2id$v=19$m=19456,t=2,p=1$<salt>$<key>.
func hashSecret(secret string) (string, error) { return hashWith(hashParams, secret) }

func hashWith(p argon2Params, secret string) (string, error) {
	salt := make([]byte, p.saltLen)
	if _, err := rand.Read(salt); err != nil {
		return "", err
	}
	key := argon2.IDKey([]byte(secret), salt, p.time, p.memory, p.threads, p.keyLen)
	return fmt.Sprintf("$argon2id$v=%d$m=%d,t=%d,p=%d$%s$%s", argon2.Version, p.memory, p.time, p.threads, b64.EncodeToString(salt), b64.EncodeToString(key)), nil
}

var errBadHash = errors.New("auth: malformed password hash")

// verifySecret reports whether secret matches hash, in constant time for
// a given hash.
func verifySecret(secret, hash string) (bool, error) {
	parts := strings.Split(hash, "$")
	if len(parts) != 6 || parts[0] != "" || parts[1] != "argon2id" {
		return false, errBadHash
	}
	var version int
	if _, err := fmt.Sscanf(parts[2], "v=%d", &version); err != nil || version != argon2.Version {
		return false, errBadHash
	}
	var p argon2Params
	if n, err := fmt.Sscanf(parts[3], "m=%d,t=%d,p=%d", &p.memory, &p.time, &p.threads); err != nil || n != 3 ||
		p.memory == 0 || p.memory > maxHashMemory || p.time == 0 || p.time > maxHashTime || p.threads == 0 {
		return false, errBadHash
	}
	salt, err := b64.DecodeString(parts[4])
	if err != nil || len(salt) < 8 {
		return false, errBadHash
	}
	want, err := b64.DecodeString(parts[5])
	if err != nil || len(want) < 16 || len(want) > 64 {
		return false, errBadHash
	}
	got := argon2.IDKey([]byte(secret), salt, p.time, p.memory, p.threads, uint32(len(want)))
	return subtle.ConstantTimeCompare(got, want) == 1, nil
}

// hash and verify run argon2 while holding one of the service's hashing
// slots, so that a burst of sign-ins cannot exhaust memory.

func (s *Service) hashSlot(ctx context.Context, secret string) (string, error) {
	if err := s.acquireHashing(ctx); err != nil {
		return "", err
	}
	defer func() { <-s.hashing }()
	return hashSecret(secret)
}

func (s *Service) verifySlot(ctx context.Context, secret, hash string) (bool, error) {
	if err := s.acquireHashing(ctx); err != nil {
		return false, err
	}
	defer func() { <-s.hashing }()
	return verifySecret(secret, hash)
}

func (s *Service) acquireHashing(ctx context.Context) error {
	select {
	case s.hashing <- struct{}{}:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// dummyHash is verified when a sign-in names an unknown client id, so that
// an unknown id takes as long as a wrong secret.
var dummyHash = sync.OnceValue(func() string {
	h, err := hashSecret("reckon: no such client, no such secret")
	if err != nil {
		panic(err)
	}
	return h
})
