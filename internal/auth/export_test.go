package auth

import "time"

// Test hooks, compiled only into this package's tests.

// UseCheapHashing makes new hashes cheap (argon2id m=64 KiB, t=1) so that
// the tests stay fast; TestHashRealParameters checks the real ones.
func UseCheapHashing() {
	hashParams = argon2Params{memory: 64, time: 1, threads: 1, saltLen: 16, keyLen: 32}
}

// ForgetTokens empties the cache of verified tokens.
func (s *Service) ForgetTokens() {
	s.tokens.mu.Lock()
	clear(s.tokens.m)
	s.tokens.mu.Unlock()
}

// CachedTokens is the number of verified tokens cached.
func (s *Service) CachedTokens() int {
	s.tokens.mu.RLock()
	defer s.tokens.mu.RUnlock()
	return len(s.tokens.m)
}

// SetHTTPClientTimeout shortens the external issuer's fetch timeout.
func (s *Service) SetHTTPClientTimeout(d time.Duration) { s.httpClient.Timeout = d }

// Internal constants, for tests.
var (
	TokenCacheSize          = tokenCacheSize
	ExternalRefetchInterval = externalRefetchInterval
	KeyReloadInterval       = keyReloadInterval
	MaxLockoutEntries       = maxLockoutEntries
)

// HoldHashing takes every hashing slot, so that sign-ins stop before
// checking their secret, until release is called.
func (s *Service) HoldHashing() (release func()) {
	for i := 0; i < cap(s.hashing); i++ {
		s.hashing <- struct{}{}
	}
	return func() {
		for i := 0; i < cap(s.hashing); i++ {
			<-s.hashing
		}
	}
}

// InflightSignIns is the number of sign-ins of id past the lockout check.
func (s *Service) InflightSignIns(id string) int {
	s.lockout.mu.Lock()
	defer s.lockout.mu.Unlock()
	if st := s.lockout.m[id]; st != nil {
		return st.inflight
	}
	return 0
}
