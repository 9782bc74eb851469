package auth_test

import (
	"errors"
	"net/http"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/reckon-billing/reckon/internal/auth"
)

// TestSignInRefusalsAreAlike: an unknown client id, a wrong secret, an
// expired secret, a deleted secret and no secret all give the same
// answer, so that nothing tells which client ids exist.
func TestSignInRefusalsAreAlike(t *testing.T) {
	t.Parallel()
	sqliteOnly(t, func(t *testing.T, b string) {
		e := newEnv(t, b, auth.Config{MaxFailures: 100})
		exp := e.clock.Now().Add(time.Hour)
		_, _, err := e.svc.PutPrincipal(ctx, operator, "app-2", auth.PrincipalInput{Secret: "expiring-secret-0123", SecretExpiresAt: &exp})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := e.svc.SignIn(ctx, "app-2", "expiring-secret-0123", "", ""); err != nil {
			t.Fatalf("before expiry: %v", err)
		}
		e.clock.Advance(time.Hour)
		if _, _, err := e.svc.PutPrincipal(ctx, operator, "app-3", auth.PrincipalInput{Secret: "deleted-secret-01234"}); err != nil {
			t.Fatal(err)
		}
		p3, _ := e.svc.Principal(ctx, "app-3")
		if err := e.svc.DeleteSecret(ctx, operator, "app-3", p3.Secrets[0].ID); err != nil {
			t.Fatal(err)
		}
		var first *auth.OAuthError
		for name, c := range map[string][2]string{
			"unknown client":                         {"no-such-client", spSecret},
			"wrong secret":                           {"app-1", spSecret + "x"},
			"expired secret":                         {"app-2", "expiring-secret-0123"},
			"deleted secret":                         {"app-3", "deleted-secret-01234"},
			"empty secret":                           {"app-1", ""},
			"user's password as a secret of another": {"app-1", "operator-secret-0123"},
			"GUID client unknown":                    {"00000000-1111-4222-8333-444444444444", spSecret},
		} {
			_, err := e.svc.SignIn(ctx, c[0], c[1], "", "")
			oe := wantOAuth(t, name, err, http.StatusUnauthorized, "invalid_client")
			if first == nil {
				first = oe
			} else if !reflect.DeepEqual(oe, first) {
				t.Fatalf("%s: %+v differs from %+v", name, oe, first)
			}
		}
		_, err = e.svc.SignIn(ctx, "", spSecret, "", "")
		wantOAuth(t, "no client id", err, http.StatusBadRequest, "invalid_request")
		// A client id Reckon cannot have is refused alike (without hashing).
		_, err = e.svc.SignIn(ctx, "a b/c", spSecret, "", "")
		if oe := wantOAuth(t, "malformed client id", err, http.StatusUnauthorized, "invalid_client"); !reflect.DeepEqual(oe, first) {
			t.Fatalf("malformed client id answer %+v differs", oe)
		}
	})
}

// TestSignInClientIDCase: GUID client ids match in any case; others are
// case-sensitive.
func TestSignInClientIDCase(t *testing.T) {
	t.Parallel()
	e := newEnv(t, "sqlite", auth.Config{})
	const guid = "0a0b0c0d-1111-4222-8333-444455556666"
	if p, _, err := e.svc.PutPrincipal(ctx, operator, strings.ToUpper(guid), auth.PrincipalInput{Secret: spSecret}); err != nil || p.ClientID != guid {
		t.Fatalf("PutPrincipal(upper-case GUID) = %+v, %v", p, err)
	}
	tok := e.signIn(t, strings.ToUpper(guid), spSecret, "")
	if _, c := claimsOf(t, tok.AccessToken); c["oid"] != guid {
		t.Fatalf("oid = %v, want %s", c["oid"], guid)
	}
	_, err := e.svc.SignIn(ctx, "APP-1", spSecret, "", "")
	wantOAuth(t, "APP-1", err, http.StatusUnauthorized, "invalid_client")
}

// TestLockout: MaxFailures failures within FailureWindow lock the client
// id for LockFor, even for the right secret; success resets the count;
// failures older than the window do not count; unknown ids lock alike.
func TestLockout(t *testing.T) {
	t.Parallel()
	sqliteOnly(t, func(t *testing.T, b string) {
		e := newEnv(t, b, auth.Config{})
		fail := func(id string) {
			t.Helper()
			_, err := e.svc.SignIn(ctx, id, "wrong-secret-0123456", "", "198.51.100.7:1")
			wantOAuth(t, "wrong secret", err, http.StatusUnauthorized, "invalid_client")
		}
		// Four failures, a success: the count starts again.
		for i := 0; i < 4; i++ {
			fail("app-1")
		}
		e.signIn(t, "app-1", spSecret, "")
		for i := 0; i < 4; i++ {
			fail("app-1")
		}
		e.signIn(t, "app-1", spSecret, "")
		// Failures spread wider than the window do not lock: eight, but
		// at most four within any five minutes.
		for i := 0; i < 8; i++ {
			fail("app-1")
			e.clock.Advance(5*time.Minute/4 + time.Second)
		}
		e.signIn(t, "app-1", spSecret, "")
		// Five within the window lock, for five minutes, the right secret too.
		for i := 0; i < 5; i++ {
			fail("app-1")
			e.clock.Advance(10 * time.Second)
		}
		_, err := e.svc.SignIn(ctx, "app-1", spSecret, "", "")
		oe := wantOAuth(t, "locked, right secret", err, http.StatusTooManyRequests, "temporarily_unavailable")
		if oe.RetryAfter != 300-10 {
			t.Fatalf("RetryAfter = %d, want 290", oe.RetryAfter)
		}
		// Another client is not affected.
		e.signIn(t, operator, "operator-secret-0123", "")
		e.clock.Advance(290*time.Second - time.Millisecond)
		_, err = e.svc.SignIn(ctx, "app-1", spSecret, "", "")
		if oe := wantOAuth(t, "still locked", err, http.StatusTooManyRequests, "temporarily_unavailable"); oe.RetryAfter != 1 {
			t.Fatalf("RetryAfter = %d, want 1", oe.RetryAfter)
		}
		e.clock.Advance(time.Millisecond)
		e.signIn(t, "app-1", spSecret, "")
		// An unknown client id locks the same way: no enumeration.
		for i := 0; i < 5; i++ {
			fail("ghost")
		}
		_, err = e.svc.SignIn(ctx, "ghost", "anything-at-all-123", "", "")
		wantOAuth(t, "unknown id locked", err, http.StatusTooManyRequests, "temporarily_unavailable")
		// The audit trail tells what happened, never with a secret.
		events, err := e.svc.AuditLog(ctx, time.Time{}, 0)
		if err != nil {
			t.Fatal(err)
		}
		var locks, refusedLocked int
		for _, ev := range events {
			if strings.Contains(ev.Detail+ev.Target+ev.Actor, spSecret) || strings.Contains(ev.Detail, "wrong-secret") {
				t.Fatalf("an audit event holds a secret: %+v", ev)
			}
			if ev.Action == auth.ActionSignInFailed && strings.Contains(ev.Detail, "locked for") {
				locks++
			}
			if ev.Action == auth.ActionSignInFailed && ev.Detail == "locked out" {
				refusedLocked++
				if ev.Actor != ev.Target || ev.Success {
					t.Fatalf("locked-out event = %+v", ev)
				}
			}
		}
		if locks != 2 || refusedLocked != 3 {
			t.Fatalf("%d lock events and %d refusals while locked, want 2 and 3", locks, refusedLocked)
		}
	})
}

// TestUserPassword: a user signs in with its password; a new password
// replaces the old one.
func TestUserPassword(t *testing.T) {
	t.Parallel()
	e := newEnv(t, "sqlite", auth.Config{})
	p, created, err := e.svc.PutPrincipal(ctx, operator, "alice@example.com", auth.PrincipalInput{Kind: "user", DisplayName: "Alice", Password: "first-password"})
	if err != nil || !created || p.Kind != auth.KindUser || len(p.Secrets) != 1 || p.Secrets[0].Hint != "" {
		t.Fatalf("PutPrincipal(user) = %+v, %v, %v (a password shows no hint)", p, created, err)
	}
	e.signIn(t, "alice@example.com", "first-password", "")
	p, _, err = e.svc.PutPrincipal(ctx, operator, "alice@example.com", auth.PrincipalInput{Password: "second-password"})
	if err != nil || len(p.Secrets) != 1 || p.DisplayName != "Alice" || p.Kind != auth.KindUser {
		t.Fatalf("new password: %+v, %v", p, err)
	}
	_, err = e.svc.SignIn(ctx, "alice@example.com", "first-password", "", "")
	wantOAuth(t, "old password", err, http.StatusUnauthorized, "invalid_client")
	e.signIn(t, "alice@example.com", "second-password", "")
}

// TestSignInNeedsInit: a service not initialised refuses, it does not panic.
func TestSignInNeedsInit(t *testing.T) {
	t.Parallel()
	s := auth.NewService(openStore(t, "sqlite"), newClock().Now, auth.Config{Issuer: issuer})
	if _, err := s.SignIn(ctx, "a", "b", "", ""); err == nil {
		t.Fatal("SignIn before Init succeeded")
	}
	if _, err := s.Authenticate(ctx, "x"); err == nil {
		t.Fatal("Authenticate before Init succeeded")
	}
	if err := auth.NewService(openStore(t, "sqlite"), newClock().Now, auth.Config{}).Init(ctx); err == nil {
		t.Fatal("Init without an issuer succeeded")
	}
}

// TestLockoutConcurrent: guesses sent at once cannot exceed MaxFailures
// (attempts of one client id beyond the failures still allowed wait their
// turn), while a burst of right secrets all succeed.
func TestLockoutConcurrent(t *testing.T) {
	t.Parallel()
	e := newEnv(t, "sqlite", auth.Config{})
	const n = 20
	run := func(secret string, maxInflight int) (ok, invalid, locked int) {
		// The secrets are checked only once all attempts have started.
		release := e.svc.HoldHashing()
		var wg sync.WaitGroup
		var mu sync.Mutex
		for i := 0; i < n; i++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				_, err := e.svc.SignIn(ctx, "app-1", secret, "", "")
				var oe *auth.OAuthError
				mu.Lock()
				defer mu.Unlock()
				switch {
				case err == nil:
					ok++
				case errors.As(err, &oe) && oe.Code == "invalid_client":
					invalid++
				case errors.As(err, &oe) && oe.Code == "temporarily_unavailable":
					locked++
				default:
					t.Errorf("SignIn: %v", err)
				}
			}()
		}
		deadline := time.Now().Add(10 * time.Second)
		for e.svc.InflightSignIns("app-1") < maxInflight && time.Now().Before(deadline) {
			time.Sleep(time.Millisecond)
		}
		time.Sleep(20 * time.Millisecond) // let the others reach the lockout check
		if got := e.svc.InflightSignIns("app-1"); got != maxInflight {
			t.Errorf("%d sign-ins past the lockout check at once, want %d", got, maxInflight)
		}
		release()
		wg.Wait()
		return
	}
	if ok, invalid, locked := run(spSecret, 5); ok != n || invalid != 0 || locked != 0 {
		t.Fatalf("burst of right secrets: %d ok, %d invalid, %d locked; want all %d ok", ok, invalid, locked, n)
	}
	if ok, invalid, locked := run("guess-guess-guess-1", 5); ok != 0 || invalid != 5 || locked != n-5 {
		t.Fatalf("burst of guesses: %d ok, %d checked and wrong, %d refused as locked; want 0, 5, %d", ok, invalid, locked, n-5)
	}
}
