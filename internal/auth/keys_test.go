package auth_test

import (
	"sync"
	"testing"
	"time"

	"github.com/reckon-billing/reckon/internal/auth"
)

// TestRotation: after a rotation the new key signs, the old one keeps
// verifying (and stays in the JWKS) until token lifetime + skew, then is
// dropped; the rotation is audited.
func TestRotation(t *testing.T) {
	t.Parallel()
	forEachBackend(t, func(t *testing.T, b string) {
		e := newEnv(t, b, auth.Config{})
		oldKid, oldKey := e.signingKey(t)
		before := e.signIn(t, "app-1", spSecret, "")
		if keys := jwks(t, e.svc); len(keys) != 1 || keys[oldKid] == nil {
			t.Fatalf("JWKS before rotation = %v, want only %s", keys, oldKid)
		}
		e.clock.Advance(10 * time.Minute)
		if err := e.svc.RotateKeys(ctx, operator); err != nil {
			t.Fatal(err)
		}
		newKid, _ := e.signingKey(t)
		if newKid == oldKid {
			t.Fatal("rotation kept the kid")
		}
		after := e.signIn(t, "app-1", spSecret, "")
		if h, _ := claimsOf(t, after.AccessToken); h["kid"] != newKid {
			t.Fatalf("token after rotation signed by %v, want %s", h["kid"], newKid)
		}
		keys := jwks(t, e.svc)
		if len(keys) != 2 || keys[oldKid] == nil || keys[newKid] == nil {
			t.Fatalf("JWKS after rotation has %d keys, want old and new", len(keys))
		}
		// Both tokens verify, also in a process that never saw them.
		fresh := e.service(t)
		for name, tok := range map[string]string{"old": before.AccessToken, "new": after.AccessToken} {
			if _, err := fresh.Authenticate(ctx, tok); err != nil {
				t.Fatalf("%s token after rotation: %v", name, err)
			}
		}
		// Until the old key's window ends: retired + lifetime + skew.
		e.clock.Advance(time.Hour + auth.ClockSkew - time.Second)
		if keys := jwks(t, e.svc); keys[oldKid] == nil {
			t.Fatal("old key left the JWKS before lifetime + skew")
		}
		e.clock.Advance(time.Second)
		keys = jwks(t, e.svc)
		if len(keys) != 1 || keys[newKid] == nil {
			t.Fatalf("JWKS after the window = %v, want only the new key", keys)
		}
		// A token of the old key that is still valid (a forger's, or a
		// clock gone wrong) is refused: the key has been retired …
		forged := sign(t, jwtRS256, oldKey, oldKid, validClaims(e, e.clock.Now()))
		_, err := fresh.Authenticate(ctx, forged)
		wantAuthError(t, "old key after its window", err, auth.CodeInvalidToken, "retired")
		// … and after the next rotation it is gone from the store too.
		e.clock.Advance(time.Minute)
		if err := e.svc.RotateKeys(ctx, operator); err != nil {
			t.Fatal(err)
		}
		_, err = e.service(t).Authenticate(ctx, forged)
		wantAuthError(t, "old key dropped", err, auth.CodeInvalidToken, "unknown key")
		stored, _ := e.db.SigningKeys(ctx)
		for _, k := range stored {
			if k.KID == oldKid {
				t.Fatal("the expired key is still stored after the next rotation")
			}
		}
		if len(stored) != 2 {
			t.Fatalf("%d keys stored, want 2", len(stored))
		}
		var rotations int
		events, _ := e.svc.AuditLog(ctx, time.Time{}, 0)
		for _, ev := range events {
			if ev.Action == auth.ActionKeysRotate && ev.Actor == operator && ev.Success {
				rotations++
			}
		}
		if rotations != 2 {
			t.Fatalf("%d keys.rotate events by the operator, want 2", rotations)
		}
	})
}

// TestRotationAcrossProcesses: a process learns of another's rotation by
// the unknown kid of a token (at once) and by the version (within
// GrantsRecheck: it then signs with the new key and publishes it).
func TestRotationAcrossProcesses(t *testing.T) {
	t.Parallel()
	forEachBackend(t, func(t *testing.T, b string) {
		e := newEnv(t, b, auth.Config{})
		other := e.service(t)
		if err := e.svc.RotateKeys(ctx, operator); err != nil {
			t.Fatal(err)
		}
		newKid, _ := e.signingKey(t)
		tok := e.signIn(t, "app-1", spSecret, "")
		// Unknown kid: the other process reloads the keys before refusing.
		if _, err := other.Authenticate(ctx, tok.AccessToken); err != nil {
			t.Fatalf("other process, token of a key it has not loaded: %v", err)
		}
		// The version: after the check, the other process signs with the new key.
		e.clock.Advance(auth.GrantsRecheck)
		if err := e.svc.RotateKeys(ctx, operator); err != nil {
			t.Fatal(err)
		}
		newest, _ := e.signingKey(t)
		e.clock.Advance(auth.GrantsRecheck)
		got, err := other.SignIn(ctx, "app-1", spSecret, "", "")
		if err != nil {
			t.Fatal(err)
		}
		if h, _ := claimsOf(t, got.AccessToken); h["kid"] != newest {
			t.Fatalf("other process signs with %v after the check, want %s (not %s)", h["kid"], newest, newKid)
		}
		if jwks(t, other)[newest] == nil {
			t.Fatal("other process does not publish the newest key")
		}
	})
}

// TestUnknownKidReloadIsRateLimited: tokens with made-up kids do not make
// every request read the store.
func TestUnknownKidReloadIsRateLimited(t *testing.T) {
	t.Parallel()
	e := newEnv(t, "sqlite", auth.Config{})
	other := e.service(t)
	// A made-up kid first: it uses the reload.
	_, key := e.signingKey(t)
	now := e.clock.Now()
	forged := sign(t, jwtRS256, key, "made-up", validClaims(e, now))
	_, err := other.Authenticate(ctx, forged)
	wantAuthError(t, "made-up kid", err, auth.CodeInvalidToken, "unknown key")
	// Now a real rotation elsewhere; within the interval the other process
	// refuses its tokens (it may not reload yet) …
	if err := e.svc.RotateKeys(ctx, operator); err != nil {
		t.Fatal(err)
	}
	tok := e.signIn(t, "app-1", spSecret, "")
	_, err = other.Authenticate(ctx, tok.AccessToken)
	wantAuthError(t, "within the reload interval", err, auth.CodeInvalidToken, "unknown key")
	// … and accepts them once the interval has passed.
	e.clock.Advance(auth.KeyReloadInterval)
	if _, err := other.Authenticate(ctx, tok.AccessToken); err != nil {
		t.Fatalf("after the reload interval: %v", err)
	}
}

// TestConcurrentFirstStart: processes starting at once on an empty store
// agree on the tenant, and each one's tokens verify in the others.
func TestConcurrentFirstStart(t *testing.T) {
	t.Parallel()
	forEachBackend(t, func(t *testing.T, b string) {
		db := openStore(t, b)
		c := newClock()
		const n = 4
		svcs := make([]*auth.Service, n)
		errs := make([]error, n)
		var wg sync.WaitGroup
		for i := range svcs {
			wg.Add(1)
			go func(i int) {
				defer wg.Done()
				svcs[i] = auth.NewService(db, c.Now, auth.Config{Issuer: issuer})
				errs[i] = svcs[i].Init(ctx)
			}(i)
		}
		wg.Wait()
		for i, err := range errs {
			if err != nil {
				t.Fatalf("Init %d: %v", i, err)
			}
			if svcs[i].TenantID() != svcs[0].TenantID() {
				t.Fatalf("tenants differ: %s and %s", svcs[i].TenantID(), svcs[0].TenantID())
			}
		}
		if _, _, err := svcs[0].PutPrincipal(ctx, "test", "p", auth.PrincipalInput{}); err != nil {
			t.Fatal(err)
		}
		for i, s := range svcs {
			tok, err := s.IssueFor(ctx, "p", "", 0)
			if err != nil {
				t.Fatal(err)
			}
			for j, v := range svcs {
				if _, err := v.Authenticate(ctx, tok.AccessToken); err != nil {
					t.Fatalf("token of process %d refused by process %d: %v", i, j, err)
				}
			}
		}
	})
}
