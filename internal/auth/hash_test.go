package auth

import (
	"strings"
	"testing"
	"time"
)

// TestHashRealParameters hashes with the production parameters (OWASP:
// argon2id, m=19 MiB, t=2, p=1, 16-byte salt) once: the stored form
// carries them, the right secret verifies and a wrong one does not.
func TestHashRealParameters(t *testing.T) {
	t.Parallel()
	if defaultHashParams != (argon2Params{memory: 19 * 1024, time: 2, threads: 1, saltLen: 16, keyLen: 32}) {
		t.Fatalf("default parameters = %+v, want OWASP's m=19456 KiB, t=2, p=1, 16-byte salt, 32-byte key", defaultHashParams)
	}
	secret := "correct horse battery staple"
	start := time.Now()
	h, err := hashWith(defaultHashParams, secret)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("one argon2id hash with the real parameters took %v", time.Since(start))
	if !strings.HasPrefix(h, "$argon2id$v=19$m=19456,t=2,p=1$") {
		t.Fatalf("hash %q does not carry the real parameters", h)
	}
	parts := strings.Split(h, "$")
	if salt, _ := b64.DecodeString(parts[4]); len(salt) != 16 {
		t.Fatalf("salt of %d bytes, want 16", len(salt))
	}
	if key, _ := b64.DecodeString(parts[5]); len(key) != 32 {
		t.Fatalf("key of %d bytes, want 32", len(key))
	}
	if strings.Contains(h, secret) {
		t.Fatal("the hash contains the secret")
	}
	if ok, err := verifySecret(secret, h); err != nil || !ok {
		t.Fatalf("verify(right secret) = %v, %v", ok, err)
	}
	for _, wrong := range []string{"correct horse battery stapl", "Correct horse battery staple", "", secret + " "} {
		if ok, err := verifySecret(wrong, h); err != nil || ok {
			t.Fatalf("verify(%q) = %v, %v; want false", wrong, ok, err)
		}
	}
	// The same secret hashes differently (a new salt each time).
	if h2, _ := hashWith(defaultHashParams, secret); h2 == h {
		t.Fatal("two hashes of one secret are equal: no salt")
	}
}

// TestHashOldParametersStillVerify: hashes made with other parameters
// verify, since each carries its own.
func TestHashOldParametersStillVerify(t *testing.T) {
	t.Parallel()
	cheap := argon2Params{memory: 64, time: 1, threads: 1, saltLen: 16, keyLen: 32}
	h, err := hashWith(cheap, "s3cret-s3cret-s3cret")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(h, "$argon2id$v=19$m=64,t=1,p=1$") {
		t.Fatalf("hash = %q", h)
	}
	if ok, err := verifySecret("s3cret-s3cret-s3cret", h); err != nil || !ok {
		t.Fatalf("verify = %v, %v", ok, err)
	}
}

// TestHashMalformed: a malformed or abusive stored hash is refused, never
// verified (and never makes argon2 allocate gigabytes).
func TestHashMalformed(t *testing.T) {
	t.Parallel()
	good, _ := hashWith(argon2Params{memory: 64, time: 1, threads: 1, saltLen: 16, keyLen: 32}, "x")
	parts := strings.Split(good, "$")
	for _, h := range []string{
		"",
		"plain",
		"$argon2i$v=19$m=64,t=1,p=1$" + parts[4] + "$" + parts[5],        // argon2i, not argon2id
		"$argon2id$v=16$m=64,t=1,p=1$" + parts[4] + "$" + parts[5],       // old version
		"$argon2id$v=19$m=4194304,t=1,p=1$" + parts[4] + "$" + parts[5],  // 4 GiB
		"$argon2id$v=19$m=64,t=1000,p=1$" + parts[4] + "$" + parts[5],    // t too high
		"$argon2id$v=19$m=64,t=1,p=0$" + parts[4] + "$" + parts[5],       // no lanes
		"$argon2id$v=19$m=64,t=1,p=1$!!!$" + parts[5],                    // bad salt
		"$argon2id$v=19$m=64,t=1,p=1$" + parts[4] + "$",                  // no key
		"$argon2id$v=19$m=64,t=1,p=1$" + parts[4] + "$" + parts[5] + "$", // extra field
	} {
		if ok, err := verifySecret("x", h); err == nil || ok {
			t.Errorf("verify against %q = %v, %v; want an error", h, ok, err)
		}
	}
}

func TestHint(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]string{"abcdef": "abc", "ab": "ab", "äöüß": "äöü", "": ""} {
		if got := hint(in); got != want {
			t.Errorf("hint(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestCanonicalClientID(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]string{
		"app-1":                                "app-1",
		"Alice@Example.com":                    "Alice@Example.com",
		"0A0B0C0D-1111-4222-8333-444455556666": "0a0b0c0d-1111-4222-8333-444455556666",
		"a:b.c_d":                              "a:b.c_d",
		strings.Repeat("x", 128):               strings.Repeat("x", 128),
	} {
		if got, ok := canonicalClientID(in); !ok || got != want {
			t.Errorf("canonicalClientID(%q) = %q, %v; want %q", in, got, ok, want)
		}
	}
	for _, bad := range []string{"", strings.Repeat("x", 129), "a b", "a/b", "{0a0b0c0d-1111-4222-8333-444455556666}", "ä", "a\x00"} {
		if got, ok := canonicalClientID(bad); ok {
			t.Errorf("canonicalClientID(%q) = %q, accepted", bad, got)
		}
	}
}
