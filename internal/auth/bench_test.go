package auth_test

import (
	"testing"

	"github.com/reckon-billing/reckon/internal/auth"
)

// BenchmarkAuthenticate measures what token validation adds to a request:
// cached (the same token again: SHA-256 of the token, two map lookups) and
// uncached (RS256 signature, claims, the principal's grants from cache).
// The budget is 20 µs per request.
func BenchmarkAuthenticate(b *testing.B) {
	e := newEnv(b, "sqlite", auth.Config{})
	tok := e.signIn(b, "app-1", spSecret, "").AccessToken
	if _, err := e.svc.Authenticate(ctx, tok); err != nil {
		b.Fatal(err)
	}
	b.Run("cached", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, err := e.svc.Authenticate(ctx, tok); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("cached-parallel", func(b *testing.B) {
		b.ReportAllocs()
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				if _, err := e.svc.Authenticate(ctx, tok); err != nil {
					b.Error(err)
					return
				}
			}
		})
	})
	b.Run("uncached", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			e.svc.ForgetTokens()
			if _, err := e.svc.Authenticate(ctx, tok); err != nil {
				b.Fatal(err)
			}
		}
	})
}
