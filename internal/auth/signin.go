package auth

import (
	"context"
	"fmt"
	"net/http"
	"sync"
	"time"
)

// maxLockoutEntries bounds the client ids whose failures are remembered.
const maxLockoutEntries = 100000

// maxAttemptWait bounds how long a sign-in waits for others of the same
// client id before it is refused as temporarily unavailable.
const maxAttemptWait = 30 * time.Second

// lockout counts failed sign-ins per client id, in this process's memory
// (with several processes, each counts its own: a client id behind a load
// balancer of n processes gets at most n × MaxFailures tries per window).
// It also bounds the attempts of one client id running at once to the
// failures still allowed before the lock, so that guesses sent in
// parallel cannot exceed MaxFailures either; more wait their turn.
type lockout struct {
	mu sync.Mutex
	m  map[string]*lockState
}

type lockState struct {
	failures    []time.Time // within the window, oldest first
	lockedUntil time.Time
	inflight    int
	// changed is closed (and replaced) whenever an attempt ends.
	changed chan struct{}
}

func (l *lockout) init() { l.m = make(map[string]*lockState) }

// state returns the state of id, creating it.
func (l *lockout) state(id string, now time.Time, window time.Duration) *lockState {
	st := l.m[id]
	if st == nil {
		if len(l.m) >= maxLockoutEntries {
			l.prune(now, window)
		}
		st = &lockState{changed: make(chan struct{})}
		l.m[id] = st
	}
	return st
}

// recent drops the failures older than the window.
func (st *lockState) recent(now time.Time, window time.Duration) {
	keep := st.failures[:0]
	for _, t := range st.failures {
		if now.Sub(t) < window {
			keep = append(keep, t)
		}
	}
	st.failures = keep
}

// begin reserves an attempt for id. It answers how long id stays locked,
// or waits while as many attempts of id run as failures remain before the
// lock.
func (l *lockout) begin(ctx context.Context, id string, now func() time.Time, cfg *Config) (wait time.Duration, err error) {
	deadline := time.NewTimer(maxAttemptWait)
	defer deadline.Stop()
	for {
		t := now()
		l.mu.Lock()
		st := l.state(id, t, cfg.FailureWindow)
		if t.Before(st.lockedUntil) {
			l.mu.Unlock()
			return st.lockedUntil.Sub(t), nil
		}
		st.recent(t, cfg.FailureWindow)
		if st.inflight < cfg.MaxFailures-len(st.failures) {
			st.inflight++
			l.mu.Unlock()
			return 0, nil
		}
		changed := st.changed
		l.mu.Unlock()
		select {
		case <-changed:
		case <-ctx.Done():
			return 0, ctx.Err()
		case <-deadline.C:
			return time.Second, nil
		}
	}
}

// end ends an attempt begun by begin: a failure counts (and reports
// whether it locks id); a success forgets the failures.
func (l *lockout) end(id string, t time.Time, failed bool, cfg *Config) (locked bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	st := l.m[id]
	if st == nil {
		return false // pruned meanwhile
	}
	st.inflight--
	close(st.changed)
	st.changed = make(chan struct{})
	if failed {
		st.recent(t, cfg.FailureWindow)
		st.failures = append(st.failures, t)
		if len(st.failures) >= cfg.MaxFailures {
			st.failures = st.failures[:0]
			st.lockedUntil = t.Add(cfg.LockFor)
			return true
		}
		return false
	}
	st.failures = st.failures[:0]
	if st.inflight == 0 && !t.Before(st.lockedUntil) {
		delete(l.m, id)
	}
	return false
}

// prune forgets client ids idle, neither locked nor failing lately; if
// that is not enough, a quarter of the idle rest, at random.
func (l *lockout) prune(now time.Time, window time.Duration) {
	idle := func(st *lockState) bool { return st.inflight == 0 && !now.Before(st.lockedUntil) }
	for id, st := range l.m {
		if idle(st) && (len(st.failures) == 0 || now.Sub(st.failures[len(st.failures)-1]) >= window) {
			delete(l.m, id)
		}
	}
	for id, st := range l.m {
		if len(l.m) < maxLockoutEntries*3/4 {
			break
		}
		if idle(st) {
			delete(l.m, id)
		}
	}
}

// badClient is the one answer to an unknown client id, a wrong or expired
// secret or a wrong password: nothing tells which.
func badClient() *OAuthError {
	return &OAuthError{Status: http.StatusUnauthorized, Code: "invalid_client", Description: "The client credentials are invalid."}
}

func lockedOut(wait time.Duration) *OAuthError {
	secs := int((wait + time.Second - 1) / time.Second)
	return &OAuthError{Status: http.StatusTooManyRequests, Code: "temporarily_unavailable",
		Description: fmt.Sprintf("Too many failed sign-ins for this client; try again in %d seconds.", secs), RetryAfter: secs}
}

// SignIn is the token endpoint's client-credentials (or user password)
// grant: it checks the secret and issues a token for audience. Failures
// are *OAuthError; repeated failures lock the client id for a while.
func (s *Service) SignIn(ctx context.Context, clientID, secret, audience, remote string) (Token, error) {
	if s.tenant == "" {
		return Token{}, errNotInitialized
	}
	s.maybeRecheck(ctx)
	aud, ok := s.requestAudience(audience)
	if !ok {
		return Token{}, &OAuthError{Status: http.StatusBadRequest, Code: "invalid_scope",
			Description: fmt.Sprintf("The requested scope or resource '%s' is not one Reckon issues tokens for.", sanitize(clip(audience), 100))}
	}
	if clientID == "" {
		return Token{}, &OAuthError{Status: http.StatusBadRequest, Code: "invalid_request", Description: "The client_id parameter is missing."}
	}
	id, ok := canonicalClientID(clientID)
	if !ok {
		// No such client can exist: nothing to find out by timing.
		s.recordSignIn(ctx, Event{Actor: "", Action: ActionSignInFailed, Target: clientID, Detail: "malformed client id", Remote: remote})
		return Token{}, badClient()
	}
	wait, err := s.lockout.begin(ctx, id, s.clock, &s.cfg)
	if err != nil {
		return Token{}, err
	}
	if wait > 0 {
		s.recordSignIn(ctx, Event{Actor: id, Action: ActionSignInFailed, Target: id, Detail: "locked out", Remote: remote})
		return Token{}, lockedOut(wait)
	}
	matched, err := s.secretMatches(ctx, id, secret)
	failed := err == nil && !matched
	if s.lockout.end(id, s.clock(), failed, &s.cfg) {
		s.recordSignIn(ctx, Event{Actor: id, Action: ActionSignInFailed, Target: id, Remote: remote,
			Detail: fmt.Sprintf("invalid credentials; locked for %s after %d failures", s.cfg.LockFor, s.cfg.MaxFailures)})
		return Token{}, badClient()
	}
	if err != nil {
		return Token{}, err
	}
	if !matched {
		s.recordSignIn(ctx, Event{Actor: id, Action: ActionSignInFailed, Target: id, Detail: "invalid credentials", Remote: remote})
		return Token{}, badClient()
	}
	tok, err := s.issue(ctx, id, aud, s.cfg.TokenLifetime)
	if err != nil {
		return Token{}, err
	}
	e := s.event(Event{Actor: id, Action: ActionSignIn, Target: id, Detail: "audience " + aud, Remote: remote, Success: true})
	if err := s.repo.AppendAuditEvent(ctx, e); err != nil {
		return Token{}, err // no token without its audit entry
	}
	return tok, nil
}

// secretMatches reports whether secret is an unexpired secret (or the
// password) of the principal id. An unknown id takes as long as a wrong
// secret.
func (s *Service) secretMatches(ctx context.Context, id, secret string) (bool, error) {
	_, secrets, err := s.repo.PrincipalCredentials(ctx, id)
	found := err == nil
	if err != nil && !isNotFound(err) {
		return false, err
	}
	now := s.clock()
	tried := false
	if found && secret != "" && len(secret) <= 4*maxSecretLen {
		h := hint(secret)
		for _, sec := range secrets {
			if sec.ExpiresAt != nil && !now.Before(*sec.ExpiresAt) || sec.Hint != "" && sec.Hint != h {
				continue
			}
			tried = true
			ok, err := s.verifySlot(ctx, secret, sec.Hash)
			if err != nil && ctx.Err() != nil {
				return false, err
			}
			if ok {
				return true, nil
			}
		}
	}
	if !tried {
		// As long as a wrong secret takes.
		if _, err := s.verifySlot(ctx, secret, dummyHash()); err != nil && ctx.Err() != nil {
			return false, err
		}
	}
	return false, nil
}

// recordSignIn records a failed sign-in; a store that cannot record it
// does not change the answer.
func (s *Service) recordSignIn(ctx context.Context, e Event) {
	_ = s.repo.AppendAuditEvent(ctx, s.event(e))
}
