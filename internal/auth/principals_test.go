package auth_test

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/reckon-billing/reckon/internal/auth"
	"github.com/reckon-billing/reckon/internal/billing"
)

// TestPrincipalValidation: the rules on ids, kinds, names, secrets and
// passwords, each with its code.
func TestPrincipalValidation(t *testing.T) {
	t.Parallel()
	e := newEnv(t, "sqlite", auth.Config{})
	past := e.clock.Now().Add(-time.Second)
	future := e.clock.Now().Add(24 * time.Hour)
	for _, c := range []struct {
		name, id string
		in       auth.PrincipalInput
		kind     billing.Kind
		code     string
	}{
		{"id with a space", "a b", auth.PrincipalInput{}, billing.KindInvalid, "InvalidClientId"},
		{"id too long", strings.Repeat("a", 129), auth.PrincipalInput{}, billing.KindInvalid, "InvalidClientId"},
		{"empty id", "", auth.PrincipalInput{}, billing.KindInvalid, "InvalidClientId"},
		{"secret of 15", "sp", auth.PrincipalInput{Secret: strings.Repeat("s", 15)}, billing.KindInvalid, "InvalidProperty"},
		{"secret of 257", "sp", auth.PrincipalInput{Secret: strings.Repeat("s", 257)}, billing.KindInvalid, "InvalidProperty"},
		{"secret with a newline", "sp", auth.PrincipalInput{Secret: "0123456789abcdef\n"}, billing.KindInvalid, "InvalidProperty"},
		{"password of 11", "u", auth.PrincipalInput{Kind: "user", Password: strings.Repeat("p", 11)}, billing.KindInvalid, "InvalidProperty"},
		{"password for a service principal", "sp", auth.PrincipalInput{Password: strings.Repeat("p", 20)}, billing.KindInvalid, "InvalidProperty"},
		{"secret for a user", "u", auth.PrincipalInput{Kind: "user", Secret: strings.Repeat("s", 20)}, billing.KindInvalid, "InvalidProperty"},
		{"unknown kind", "x", auth.PrincipalInput{Kind: "robot"}, billing.KindInvalid, "InvalidProperty"},
		{"expiry in the past", "sp", auth.PrincipalInput{Secret: strings.Repeat("s", 16), SecretExpiresAt: &past}, billing.KindInvalid, "InvalidProperty"},
		{"expiry without a secret", "sp", auth.PrincipalInput{SecretExpiresAt: &future}, billing.KindInvalid, "InvalidProperty"},
		{"display name with a tab", "sp", auth.PrincipalInput{DisplayName: "a\tb"}, billing.KindInvalid, "InvalidProperty"},
		{"display name too long", "sp", auth.PrincipalInput{DisplayName: strings.Repeat("n", 257)}, billing.KindInvalid, "InvalidProperty"},
		{"service principal becoming a user", "app-1", auth.PrincipalInput{Kind: "user", Password: strings.Repeat("p", 12)}, billing.KindConflict, "PrincipalKindMismatch"},
	} {
		_, _, err := e.svc.PutPrincipal(ctx, operator, c.id, c.in)
		wantCode(t, c.name, err, c.kind, c.code)
	}
	// The limits themselves pass.
	for id, in := range map[string]auth.PrincipalInput{
		"sp-16":    {Secret: strings.Repeat("s", 16)},
		"sp-256":   {Secret: strings.Repeat("é", 256)},
		"user-12":  {Kind: "User", Password: strings.Repeat("p", 12)},
		"no-creds": {},
	} {
		if _, created, err := e.svc.PutPrincipal(ctx, operator, id, in); err != nil || !created {
			t.Fatalf("PutPrincipal(%s) = %v, %v", id, created, err)
		}
	}
	if p, _ := e.svc.Principal(ctx, "no-creds"); p.DisplayName != "no-creds" || p.Kind != auth.KindServicePrincipal || len(p.Secrets) != 0 {
		t.Fatalf("principal without anything = %+v", p)
	}
	_, err := e.svc.Principal(ctx, "nobody")
	wantCode(t, "Principal(nobody)", err, billing.KindNotFound, "PrincipalNotFound")
	wantCode(t, "DeletePrincipal(nobody)", e.svc.DeletePrincipal(ctx, operator, "nobody"), billing.KindNotFound, "PrincipalNotFound")
	wantCode(t, "DeleteSecret(bad id)", e.svc.DeleteSecret(ctx, operator, "app-1", "x"), billing.KindNotFound, "SecretNotFound")
	wantCode(t, "DeleteSecret(unknown)", e.svc.DeleteSecret(ctx, operator, "app-1", "00000000-0000-4000-8000-000000000000"), billing.KindNotFound, "SecretNotFound")
}

// TestSecrets: secrets are added (rotation), not replaced; PUTting one
// again adds nothing; each can expire or be deleted on its own.
func TestSecrets(t *testing.T) {
	t.Parallel()
	forEachBackend(t, func(t *testing.T, b string) {
		e := newEnv(t, b, auth.Config{})
		e.clock.Advance(time.Second) // secrets list in creation order
		exp := e.clock.Now().Add(48 * time.Hour).Truncate(time.Microsecond)
		p, created, err := e.svc.PutPrincipal(ctx, operator, "app-1", auth.PrincipalInput{Secret: "second-secret-abcdef", SecretExpiresAt: &exp})
		if err != nil || created {
			t.Fatalf("add a secret: %v, %v", created, err)
		}
		if p.DisplayName != "App one" {
			t.Fatalf("display name %q changed by a PUT without one", p.DisplayName)
		}
		if len(p.Secrets) != 2 || p.Secrets[0].Hint != "sp-" || p.Secrets[1].Hint != "sec" || p.Secrets[1].ExpiresAt == nil || !p.Secrets[1].ExpiresAt.Equal(exp) {
			t.Fatalf("secrets = %+v", p.Secrets)
		}
		// Idempotent PUT.
		if p, _, err := e.svc.PutPrincipal(ctx, operator, "app-1", auth.PrincipalInput{DisplayName: "App one", Secret: spSecret}); err != nil || len(p.Secrets) != 2 {
			t.Fatalf("PUT of an existing secret: %d secrets, %v", len(p.Secrets), err)
		}
		e.signIn(t, "app-1", spSecret, "")
		e.signIn(t, "app-1", "second-secret-abcdef", "")
		// Deleting the first leaves the second.
		if err := e.svc.DeleteSecret(ctx, operator, "app-1", p.Secrets[0].ID); err != nil {
			t.Fatal(err)
		}
		_, err = e.svc.SignIn(ctx, "app-1", spSecret, "", "")
		wantOAuth(t, "deleted secret", err, http.StatusUnauthorized, "invalid_client")
		e.signIn(t, "app-1", "second-secret-abcdef", "")
		// It expires.
		e.clock.Advance(48 * time.Hour)
		_, err = e.svc.SignIn(ctx, "app-1", "second-secret-abcdef", "", "")
		wantOAuth(t, "expired secret", err, http.StatusUnauthorized, "invalid_client")
		// Secrets sharing a hint both work.
		for _, s := range []string{"same-hint-secret-1", "same-hint-secret-2"} {
			if _, _, err := e.svc.PutPrincipal(ctx, operator, "app-1", auth.PrincipalInput{Secret: s}); err != nil {
				t.Fatal(err)
			}
		}
		e.signIn(t, "app-1", "same-hint-secret-1", "")
		e.signIn(t, "app-1", "same-hint-secret-2", "")
	})
}

// TestSecretsNeverReturned: neither a secret nor its hash appears in
// anything the service returns: principals (as JSON), the list, the
// audit trail.
func TestSecretsNeverReturned(t *testing.T) {
	t.Parallel()
	e := newEnv(t, "sqlite", auth.Config{})
	const secret, password = "Xq7-never-to-be-seen-in-output", "Pw9-never-to-be-seen-either"
	var out []any
	p, _, err := e.svc.PutPrincipal(ctx, operator, "app-9", auth.PrincipalInput{DisplayName: "nine", Secret: secret})
	if err != nil {
		t.Fatal(err)
	}
	u, _, err := e.svc.PutPrincipal(ctx, operator, "user-9", auth.PrincipalInput{Kind: auth.KindUser, Password: password})
	if err != nil {
		t.Fatal(err)
	}
	e.signIn(t, "app-9", secret, "")
	e.svc.SignIn(ctx, "app-9", secret+"-wrong", "", "")
	e.signIn(t, "user-9", password, "")
	got, _ := e.svc.Principal(ctx, "app-9")
	all, _ := e.svc.Principals(ctx)
	events, _ := e.svc.AuditLog(ctx, time.Time{}, 0)
	out = append(out, p, u, got, all, events)
	b, err := json.Marshal(out)
	if err != nil {
		t.Fatal(err)
	}
	text := string(b)
	_, creds, _ := e.db.PrincipalCredentials(ctx, "app-9")
	for _, bad := range []string{secret, password, secret[3:], password[3:], "argon2", creds[0].Hash, strings.Split(creds[0].Hash, "$")[5]} {
		if strings.Contains(text, bad) {
			t.Fatalf("returned data contains %q: %s", bad, text)
		}
	}
	// What is shown: the hint, as Azure does.
	if !strings.Contains(text, `"hint":"Xq7"`) {
		t.Fatalf("the secret's hint is missing: %s", text)
	}
}

// TestAssignments: create, replace, list, conflict and delete; the
// principal must exist unless an external issuer is trusted.
func TestAssignments(t *testing.T) {
	t.Parallel()
	forEachBackend(t, func(t *testing.T, b string) {
		e := newEnv(t, b, auth.Config{})
		const id = "11111111-2222-4333-8444-555555555555"
		a, created, err := e.svc.PutAssignment(ctx, operator, strings.ToUpper(id), auth.Assignment{PrincipalID: "app-1", RoleDefinitionName: "usage writer", Scope: "/SUBSCRIPTIONS/" + strings.ToUpper(mySub) + "/"})
		if err != nil || !created {
			t.Fatalf("PutAssignment = %v, %v", created, err)
		}
		if a.ID != id || a.RoleDefinitionName != auth.RoleUsageWriter || a.Scope != "/subscriptions/"+mySub || !a.CreatedAt.Equal(e.clock.Now()) {
			t.Fatalf("assignment = %+v", a)
		}
		e.clock.Advance(time.Minute)
		a2, created, err := e.svc.PutAssignment(ctx, operator, id, auth.Assignment{PrincipalID: "app-1", RoleDefinitionName: auth.RoleUsageWriter, Scope: "/"})
		if err != nil || created || !a2.CreatedAt.Equal(a.CreatedAt) || a2.Scope != "/" {
			t.Fatalf("replace = %+v, %v, %v", a2, created, err)
		}
		list, err := e.svc.Assignments(ctx, "app-1")
		if err != nil || len(list) != 2 {
			t.Fatalf("Assignments(app-1) = %+v, %v", list, err)
		}
		all, _ := e.svc.Assignments(ctx, "")
		if len(all) != 3 {
			t.Fatalf("all assignments = %+v", all)
		}
		_, _, err = e.svc.PutAssignment(ctx, operator, "99999999-2222-4333-8444-555555555555", auth.Assignment{PrincipalID: "app-1", RoleDefinitionName: auth.RoleUsageWriter, Scope: "/"})
		wantCode(t, "same assignment, other id", err, billing.KindConflict, "RoleAssignmentExists")
		_, _, err = e.svc.PutAssignment(ctx, operator, id, auth.Assignment{PrincipalID: "nobody", RoleDefinitionName: auth.RoleReader, Scope: "/"})
		wantCode(t, "unknown principal", err, billing.KindInvalid, "PrincipalNotFound")
		_, _, err = e.svc.PutAssignment(ctx, operator, id, auth.Assignment{PrincipalID: "app-1", RoleDefinitionName: "Janitor", Scope: "/"})
		wantCode(t, "unknown role", err, billing.KindInvalid, "RoleDefinitionDoesNotExist")
		_, _, err = e.svc.PutAssignment(ctx, operator, id, auth.Assignment{PrincipalID: "app-1", RoleDefinitionName: auth.RoleOperator, Scope: "/subscriptions/" + mySub})
		wantCode(t, "operator at a subscription", err, billing.KindInvalid, "InvalidScope")
		_, _, err = e.svc.PutAssignment(ctx, operator, "a/b", auth.Assignment{PrincipalID: "app-1", RoleDefinitionName: auth.RoleReader, Scope: "/"})
		wantCode(t, "bad id", err, billing.KindInvalid, "InvalidRoleAssignmentId")
		_, _, err = e.svc.PutAssignment(ctx, operator, id, auth.Assignment{ID: "other", PrincipalID: "app-1", RoleDefinitionName: auth.RoleReader, Scope: "/"})
		wantCode(t, "id in body differs", err, billing.KindInvalid, "InvalidProperty")
		if err := e.svc.DeleteAssignment(ctx, operator, id); err != nil {
			t.Fatal(err)
		}
		wantCode(t, "delete again", e.svc.DeleteAssignment(ctx, operator, id), billing.KindNotFound, "RoleAssignmentNotFound")
	})
}

// TestLastOperator: the last Operator assignment at "/" cannot be removed
// (by deleting it, its principal, or replacing it); with a second one it can.
func TestLastOperator(t *testing.T) {
	t.Parallel()
	e := newEnv(t, "sqlite", auth.Config{})
	const opAssignment = "00000000-0000-4000-8000-00000000000a"
	wantCode(t, "delete the assignment", e.svc.DeleteAssignment(ctx, operator, opAssignment), billing.KindConflict, "LastOperator")
	wantCode(t, "delete the principal", e.svc.DeletePrincipal(ctx, operator, operator), billing.KindConflict, "LastOperator")
	_, _, err := e.svc.PutAssignment(ctx, operator, opAssignment, auth.Assignment{PrincipalID: operator, RoleDefinitionName: auth.RoleReader, Scope: "/"})
	wantCode(t, "replace by a reader", err, billing.KindConflict, "LastOperator")
	if _, _, err := e.svc.PutAssignment(ctx, operator, "00000000-0000-4000-8000-00000000000c", auth.Assignment{PrincipalID: "app-1", RoleDefinitionName: auth.RoleOperator, Scope: "/"}); err != nil {
		t.Fatal(err)
	}
	if err := e.svc.DeletePrincipal(ctx, "app-1", operator); err != nil {
		t.Fatalf("delete an operator while another remains: %v", err)
	}
	if as, _ := e.svc.Assignments(ctx, operator); len(as) != 0 {
		t.Fatalf("a deleted principal keeps assignments: %+v", as)
	}
}

// TestGrantsCache: grants change at once in the process that writes, and
// within GrantsRecheck in another process on the same store.
func TestGrantsCache(t *testing.T) {
	t.Parallel()
	forEachBackend(t, func(t *testing.T, b string) {
		e := newEnv(t, b, auth.Config{})
		other := e.service(t)
		tok := e.signIn(t, "app-1", spSecret, "").AccessToken
		grants := func(s *auth.Service) auth.Grants {
			t.Helper()
			id, err := s.Authenticate(ctx, tok)
			if err != nil {
				t.Fatal(err)
			}
			return id.Grants
		}
		if grants(e.svc).CanReadSubscription(otherSub) || grants(other).CanReadSubscription(otherSub) {
			t.Fatal("reads otherSub before any assignment")
		}
		const aid = "00000000-0000-4000-8000-0000000000d1"
		if _, _, err := e.svc.PutAssignment(ctx, operator, aid, auth.Assignment{PrincipalID: "app-1", RoleDefinitionName: auth.RoleBillingReader, Scope: "/subscriptions/" + otherSub}); err != nil {
			t.Fatal(err)
		}
		if !grants(e.svc).CanReadSubscription(otherSub) {
			t.Fatal("the writing process does not see the new assignment at once")
		}
		if grants(other).CanReadSubscription(otherSub) {
			t.Fatal("the other process saw the change before its check: is it caching at all?")
		}
		e.clock.Advance(auth.GrantsRecheck - time.Millisecond)
		if grants(other).CanReadSubscription(otherSub) {
			t.Fatal("the other process checked before GrantsRecheck")
		}
		e.clock.Advance(time.Millisecond)
		if !grants(other).CanReadSubscription(otherSub) {
			t.Fatal("the other process does not see the new assignment after GrantsRecheck")
		}
		// And a removal, the other way round.
		if err := other.DeleteAssignment(ctx, operator, aid); err != nil {
			t.Fatal(err)
		}
		if grants(other).CanReadSubscription(otherSub) {
			t.Fatal("the deleting process still grants")
		}
		e.clock.Advance(auth.GrantsRecheck)
		if grants(e.svc).CanReadSubscription(otherSub) {
			t.Fatal("the first process still grants after GrantsRecheck")
		}
	})
}

// TestBootstrap: an operator from the given credentials, idempotent; or,
// when none is given and no operator exists, a generated one, once.
func TestBootstrap(t *testing.T) {
	t.Parallel()
	forEachBackend(t, func(t *testing.T, b string) {
		db := openStore(t, b)
		c := newClock()
		s := auth.NewService(db, c.Now, auth.Config{Issuer: issuer})
		if err := s.Init(ctx); err != nil {
			t.Fatal(err)
		}
		// Generated.
		id, secret, generated, err := s.Bootstrap(ctx, "", "")
		if err != nil || !generated || len(id) != 36 || len(secret) < 40 {
			t.Fatalf("Bootstrap() = %q, %d-char secret, %v, %v", id, len(secret), generated, err)
		}
		tok, err := s.SignIn(ctx, id, secret, "", "")
		if err != nil {
			t.Fatal(err)
		}
		if who, err := s.Authenticate(ctx, tok.AccessToken); err != nil || !who.Grants.IsOperator() {
			t.Fatalf("the generated operator: %+v, %v", who, err)
		}
		// Not again while an operator exists.
		id2, secret2, generated, err := s.Bootstrap(ctx, "", "")
		if err != nil || generated || secret2 != "" || id2 != id {
			t.Fatalf("Bootstrap() again = %q, %q, %v, %v; want the existing %s", id2, secret2, generated, err, id)
		}
		// Given credentials: created with the Operator role, idempotently
		// (a restart with the same credentials writes nothing).
		var version int64
		for i := 0; i < 2; i++ {
			got, sec, generated, err := s.Bootstrap(ctx, "ops-admin", "given-bootstrap-secret")
			if err != nil || got != "ops-admin" || sec != "" || generated {
				t.Fatalf("Bootstrap(given) #%d = %q, %q, %v, %v", i, got, sec, generated, err)
			}
			v, _ := db.AuthVersion(ctx)
			if i == 1 && v != version {
				t.Fatalf("a second bootstrap with the same credentials wrote (version %d → %d)", version, v)
			}
			version = v
		}
		p, err := s.Principal(ctx, "ops-admin")
		if err != nil || len(p.Secrets) != 1 || p.Kind != auth.KindServicePrincipal {
			t.Fatalf("bootstrap principal = %+v, %v", p, err)
		}
		as, _ := s.Assignments(ctx, "ops-admin")
		if len(as) != 1 || as[0].RoleDefinitionName != auth.RoleOperator || as[0].Scope != "/" {
			t.Fatalf("bootstrap assignments = %+v", as)
		}
		// A new secret for an existing principal is added.
		if _, _, _, err := s.Bootstrap(ctx, "ops-admin", "rotated-bootstrap-secret"); err != nil {
			t.Fatal(err)
		}
		if _, err := s.SignIn(ctx, "ops-admin", "rotated-bootstrap-secret", "", ""); err != nil {
			t.Fatal(err)
		}
		// Audited as the bootstrap.
		events, _ := s.AuditLog(ctx, time.Time{}, 0)
		n := 0
		for _, ev := range events {
			if ev.Actor == auth.ActorBootstrap {
				n++
			}
		}
		if n < 4 {
			t.Fatalf("%d events by the bootstrap, want at least 4", n)
		}
		// Errors.
		_, _, _, err = s.Bootstrap(ctx, "", "secret-without-an-id")
		wantCode(t, "secret without id", err, billing.KindInvalid, "MissingProperty")
		_, _, _, err = s.Bootstrap(ctx, "new-without-secret", "")
		wantCode(t, "new principal without secret", err, billing.KindInvalid, "MissingProperty")
		_, _, _, err = s.Bootstrap(ctx, "ops-admin", "short")
		wantCode(t, "short secret", err, billing.KindInvalid, "InvalidProperty")
	})
}
