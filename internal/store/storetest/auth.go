package storetest

import (
	"fmt"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/reckon-billing/reckon/internal/auth"
	"github.com/reckon-billing/reckon/internal/billing"
	"github.com/reckon-billing/reckon/internal/store"
)

// testAuth checks the identity repository (auth.Repository): the state
// row and its version, principals and secrets, role assignments, signing
// keys and the audit trail. The parts share one store and use their own ids.
func testAuth(t *testing.T, db *store.DB) {
	tenant, v0, err := db.InitAuth(ctx, "11111111-1111-4111-8111-111111111111")
	if err != nil || tenant != "11111111-1111-4111-8111-111111111111" || v0 != 0 {
		t.Fatalf("InitAuth (first) = %q, %d, %v; want the given tenant at version 0", tenant, v0, err)
	}
	// A second start (or a second process) keeps the first tenant.
	if again, v, err := db.InitAuth(ctx, "22222222-2222-4222-8222-222222222222"); err != nil || again != tenant || v != 0 {
		t.Fatalf("InitAuth (again) = %q, %d, %v; want %q at version 0", again, v, err, tenant)
	}
	t.Run("Principals", func(t *testing.T) { testAuthPrincipals(t, db) })
	t.Run("Rollback", func(t *testing.T) { testAuthRollback(t, db) })
	t.Run("Assignments", func(t *testing.T) { testAuthAssignments(t, db) })
	t.Run("Keys", func(t *testing.T) { testAuthKeys(t, db) })
	t.Run("Audit", func(t *testing.T) { testAuthAudit(t, db) })
	t.Run("Concurrent", func(t *testing.T) { testAuthConcurrent(t, db) })
}

func authVersion(t *testing.T, db *store.DB) int64 {
	t.Helper()
	v, err := db.AuthVersion(ctx)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

func at(s string) time.Time { return clockAt(s)() }

func wantCode(t *testing.T, what string, err error, kind billing.Kind, code string) {
	t.Helper()
	be := billing.AsError(err)
	if be == nil || be.Kind != kind || be.Code != code {
		t.Fatalf("%s: error %v, want kind %d code %s", what, err, kind, code)
	}
}

// eventsOf returns the audit events with the given action.
func eventsOf(t *testing.T, db *store.DB, action string) []auth.Event {
	t.Helper()
	all, err := db.AuditEvents(ctx, time.Time{}, 10000)
	if err != nil {
		t.Fatal(err)
	}
	var out []auth.Event
	for _, e := range all {
		if e.Action == action {
			out = append(out, e)
		}
	}
	return out
}

func testAuthPrincipals(t *testing.T, db *store.DB) {
	if _, err := db.Principal(ctx, "app-1"); err == nil {
		t.Fatal("Principal of an empty store succeeded")
	} else {
		wantCode(t, "Principal(missing)", err, billing.KindNotFound, "PrincipalNotFound")
	}
	v := authVersion(t, db)
	t1 := at("2024-03-01T10:00:00.123456789Z")
	exp := at("2025-01-01T00:00:00Z")
	sec1 := &auth.StoredSecret{SecretInfo: auth.SecretInfo{ID: guid('5', 1), Hint: "abc", ExpiresAt: &exp, CreatedAt: t1.Truncate(time.Microsecond)}, Hash: "$argon2id$hash-1"}
	p := auth.Principal{ClientID: "app-1", Kind: auth.KindServicePrincipal, DisplayName: "Ingest „robot“", CreatedAt: t1, UpdatedAt: t1}
	created, err := db.PutPrincipal(ctx, p, sec1, false, auth.Event{At: t1, Actor: "op", Action: "principal.put", Target: "app-1", Success: true})
	if err != nil || !created {
		t.Fatalf("PutPrincipal (new) = %v, %v", created, err)
	}
	if got := authVersion(t, db); got != v+1 {
		t.Fatalf("version after a put = %d, want %d", got, v+1)
	}
	got, secrets, err := db.PrincipalCredentials(ctx, "app-1")
	if err != nil {
		t.Fatal(err)
	}
	t1us := t1.Truncate(time.Microsecond)
	if got.ClientID != "app-1" || got.Kind != auth.KindServicePrincipal || got.DisplayName != "Ingest „robot“" ||
		!sameTime(got.CreatedAt, t1us) || !sameTime(got.UpdatedAt, t1us) {
		t.Fatalf("stored principal = %+v", got)
	}
	if len(secrets) != 1 || secrets[0].ID != sec1.ID || secrets[0].Hash != sec1.Hash || secrets[0].Hint != "abc" ||
		secrets[0].ExpiresAt == nil || !sameTime(*secrets[0].ExpiresAt, exp) || !sameTime(secrets[0].CreatedAt, t1us) {
		t.Fatalf("stored secrets = %+v", secrets)
	}
	if !reflect.DeepEqual(got.Secrets, []auth.SecretInfo{secrets[0].SecretInfo}) {
		t.Fatalf("principal's secrets = %+v, want the description of %+v", got.Secrets, secrets[0])
	}

	// An update renames, keeps createdAt and kind, adds a secret without expiry.
	t2 := at("2024-03-02T10:00:00Z")
	sec2 := &auth.StoredSecret{SecretInfo: auth.SecretInfo{ID: guid('5', 2), Hint: "xyz", CreatedAt: t2}, Hash: "$argon2id$hash-2"}
	p2 := auth.Principal{ClientID: "app-1", Kind: auth.KindUser /* ignored */, DisplayName: "Renamed", CreatedAt: t2, UpdatedAt: t2}
	if created, err := db.PutPrincipal(ctx, p2, sec2, false, auth.Event{At: t2, Actor: "op", Action: "principal.put", Target: "app-1", Success: true}); err != nil || created {
		t.Fatalf("PutPrincipal (update) = %v, %v", created, err)
	}
	got, secrets, _ = db.PrincipalCredentials(ctx, "app-1")
	if got.DisplayName != "Renamed" || got.Kind != auth.KindServicePrincipal || !sameTime(got.CreatedAt, t1us) || !sameTime(got.UpdatedAt, t2) {
		t.Fatalf("updated principal = %+v", got)
	}
	if len(secrets) != 2 || secrets[0].ID != sec1.ID || secrets[1].ID != sec2.ID || secrets[1].ExpiresAt != nil {
		t.Fatalf("secrets after adding one = %+v", secrets)
	}

	// A user whose password is replaced keeps one secret.
	u := auth.Principal{ClientID: "alice@example.com", Kind: auth.KindUser, DisplayName: "Alice", CreatedAt: t1, UpdatedAt: t1}
	for i := 1; i <= 2; i++ {
		pw := &auth.StoredSecret{SecretInfo: auth.SecretInfo{ID: guid('6', i), CreatedAt: t1}, Hash: fmt.Sprintf("$argon2id$pw-%d", i)}
		if _, err := db.PutPrincipal(ctx, u, pw, true, auth.Event{At: t1, Action: "principal.put", Target: u.ClientID, Success: true}); err != nil {
			t.Fatal(err)
		}
	}
	if _, secrets, _ := db.PrincipalCredentials(ctx, u.ClientID); len(secrets) != 1 || secrets[0].Hash != "$argon2id$pw-2" {
		t.Fatalf("user secrets after replacing the password = %+v, want only pw-2", secrets)
	}

	// A principal without secrets lists an empty, non-nil list.
	bare := auth.Principal{ClientID: guid('7', 1), Kind: auth.KindServicePrincipal, DisplayName: "bare", CreatedAt: t1, UpdatedAt: t1}
	if _, err := db.PutPrincipal(ctx, bare, nil, false, auth.Event{At: t1, Action: "principal.put", Target: bare.ClientID, Success: true}); err != nil {
		t.Fatal(err)
	}
	list, err := db.Principals(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var ids []string
	for _, p := range list {
		ids = append(ids, p.ClientID)
		if p.Secrets == nil {
			t.Fatalf("principal %s lists nil secrets, want []", p.ClientID)
		}
	}
	if want := []string{guid('7', 1), "alice@example.com", "app-1"}; !reflect.DeepEqual(ids, want) {
		t.Fatalf("Principals = %v, want %v (client id order)", ids, want)
	}
	if len(list[2].Secrets) != 2 || len(list[1].Secrets) != 1 || len(list[0].Secrets) != 0 {
		t.Fatalf("listed secrets = %+v", list)
	}

	// Deleting a secret: wrong principal, unknown secret, then the right one.
	ev := auth.Event{At: t2, Actor: "op", Action: "secret.delete", Target: "app-1", Success: true}
	wantCode(t, "DeleteSecret(unknown principal)", db.DeleteSecret(ctx, "nobody", sec1.ID, ev), billing.KindNotFound, "PrincipalNotFound")
	wantCode(t, "DeleteSecret(other principal's)", db.DeleteSecret(ctx, u.ClientID, sec1.ID, ev), billing.KindNotFound, "SecretNotFound")
	if err := db.DeleteSecret(ctx, "app-1", sec1.ID, ev); err != nil {
		t.Fatal(err)
	}
	if _, secrets, _ := db.PrincipalCredentials(ctx, "app-1"); len(secrets) != 1 || secrets[0].ID != sec2.ID {
		t.Fatalf("secrets after deleting one = %+v", secrets)
	}
	if n := len(eventsOf(t, db, "secret.delete")); n != 1 {
		t.Fatalf("secret.delete events = %d, want 1 (failed deletes record nothing)", n)
	}

	// Deleting a principal takes its secrets and assignments along.
	a := auth.Assignment{ID: guid('8', 1), PrincipalID: "app-1", RoleDefinitionName: auth.RoleReader, Scope: "/subscriptions/" + guid('a', 1), CreatedAt: t2}
	if _, _, err := db.PutRoleAssignment(ctx, a, auth.Event{At: t2, Action: "roleAssignment.put", Target: a.ID, Success: true}); err != nil {
		t.Fatal(err)
	}
	if err := db.DeletePrincipal(ctx, "app-1", auth.Event{At: t2, Actor: "op", Action: "principal.delete", Target: "app-1", Success: true}); err != nil {
		t.Fatal(err)
	}
	wantCode(t, "Principal(deleted)", func() error { _, err := db.Principal(ctx, "app-1"); return err }(), billing.KindNotFound, "PrincipalNotFound")
	if as, err := db.RoleAssignments(ctx, "app-1"); err != nil || len(as) != 0 {
		t.Fatalf("assignments of a deleted principal = %v, %v", as, err)
	}
	// Re-creating the id does not resurrect its secrets.
	if _, err := db.PutPrincipal(ctx, p, nil, false, auth.Event{At: t2, Action: "principal.put", Target: "app-1", Success: true}); err != nil {
		t.Fatal(err)
	}
	if _, secrets, _ := db.PrincipalCredentials(ctx, "app-1"); len(secrets) != 0 {
		t.Fatalf("a re-created principal has old secrets: %+v", secrets)
	}
	wantCode(t, "DeletePrincipal(missing)", db.DeletePrincipal(ctx, "nobody", auth.Event{At: t2, Action: "principal.delete", Success: true}), billing.KindNotFound, "PrincipalNotFound")
	dels := eventsOf(t, db, "principal.delete")
	if len(dels) != 1 || dels[0].Actor != "op" || dels[0].Target != "app-1" || !dels[0].Success || !sameTime(dels[0].At, t2) {
		t.Fatalf("principal.delete events = %+v, want one by op", dels)
	}
}

// testAuthRollback: a write that fails changes nothing, records nothing
// and leaves the version alone.
func testAuthRollback(t *testing.T, db *store.DB) {
	v := authVersion(t, db)
	n := len(eventsOf(t, db, "rollback.probe"))
	e := auth.Event{At: at("2024-03-03T00:00:00Z"), Action: "rollback.probe", Success: true}
	wantCode(t, "DeleteRoleAssignment(missing)", db.DeleteRoleAssignment(ctx, "no-such-assignment", e), billing.KindNotFound, "RoleAssignmentNotFound")
	wantCode(t, "DeletePrincipal(missing)", db.DeletePrincipal(ctx, "no-such-principal", e), billing.KindNotFound, "PrincipalNotFound")
	p := auth.Principal{ClientID: "rollback-p", Kind: auth.KindServicePrincipal, DisplayName: "r", CreatedAt: e.At, UpdatedAt: e.At}
	sec := &auth.StoredSecret{SecretInfo: auth.SecretInfo{ID: guid('9', 1), CreatedAt: e.At}, Hash: "h"}
	if _, err := db.PutPrincipal(ctx, p, sec, false, e); err != nil {
		t.Fatal(err)
	}
	v++
	n++
	// The same secret id again: the insert fails, so the rename must not stay.
	p.DisplayName = "renamed"
	if _, err := db.PutPrincipal(ctx, p, sec, false, e); err == nil {
		t.Fatal("PutPrincipal with a duplicate secret id succeeded")
	}
	if got, _ := db.Principal(ctx, "rollback-p"); got.DisplayName != "r" {
		t.Fatalf("a failed PutPrincipal renamed the principal to %q", got.DisplayName)
	}
	if got := authVersion(t, db); got != v {
		t.Fatalf("version = %d after failed writes, want %d", got, v)
	}
	if got := len(eventsOf(t, db, "rollback.probe")); got != n {
		t.Fatalf("events = %d after failed writes, want %d", got, n)
	}
}

func testAuthAssignments(t *testing.T, db *store.DB) {
	sub := "/subscriptions/" + guid('b', 1)
	t1, t2 := at("2024-04-01T00:00:00Z"), at("2024-04-02T00:00:00Z")
	ev := func(action string) auth.Event { return auth.Event{At: t1, Actor: "op", Action: action, Success: true} }
	a1 := auth.Assignment{ID: guid('c', 1), PrincipalID: "p-b", RoleDefinitionName: auth.RoleReader, Scope: sub, CreatedAt: t1}
	a2 := auth.Assignment{ID: guid('c', 2), PrincipalID: "p-a", RoleDefinitionName: auth.RoleOperator, Scope: "/", CreatedAt: t1}
	a3 := auth.Assignment{ID: guid('c', 0), PrincipalID: "p-b", RoleDefinitionName: auth.RoleUsageWriter, Scope: sub, CreatedAt: t1}
	for _, a := range []auth.Assignment{a1, a2, a3} {
		stored, created, err := db.PutRoleAssignment(ctx, a, ev("roleAssignment.put"))
		if err != nil || !created || !reflect.DeepEqual(stored, a) {
			t.Fatalf("PutRoleAssignment(%s) = %+v, %v, %v", a.ID, stored, created, err)
		}
	}
	all, err := db.RoleAssignments(ctx, "")
	if err != nil {
		t.Fatal(err)
	}
	if want := []auth.Assignment{a2, a3, a1}; !reflect.DeepEqual(all, want) {
		t.Fatalf("RoleAssignments(all) = %+v,\nwant %+v (principal, id order)", all, want)
	}
	if mine, _ := db.RoleAssignments(ctx, "p-b"); !reflect.DeepEqual(mine, []auth.Assignment{a3, a1}) {
		t.Fatalf("RoleAssignments(p-b) = %+v", mine)
	}
	if none, err := db.RoleAssignments(ctx, "nobody"); err != nil || none == nil || len(none) != 0 {
		t.Fatalf("RoleAssignments(nobody) = %v, %v; want an empty, non-nil list", none, err)
	}
	// Replacing keeps createdAt.
	r := a1
	r.RoleDefinitionName, r.CreatedAt = auth.RoleBillingReader, t2
	stored, created, err := db.PutRoleAssignment(ctx, r, ev("roleAssignment.put"))
	if err != nil || created || stored.RoleDefinitionName != auth.RoleBillingReader || !sameTime(stored.CreatedAt, t1) {
		t.Fatalf("PutRoleAssignment (replace) = %+v, %v, %v", stored, created, err)
	}
	// The same principal, role and scope under another id conflicts.
	dup := a3
	dup.ID = guid('c', 9)
	v := authVersion(t, db)
	_, _, err = db.PutRoleAssignment(ctx, dup, ev("roleAssignment.put"))
	wantCode(t, "PutRoleAssignment(duplicate)", err, billing.KindConflict, "RoleAssignmentExists")
	if be := billing.AsError(err); be == nil || !strings.Contains(be.Message, a3.ID) {
		t.Fatalf("conflict message %v does not name the existing assignment %s", err, a3.ID)
	}
	if authVersion(t, db) != v {
		t.Fatal("a refused assignment changed the version")
	}
	if err := db.DeleteRoleAssignment(ctx, a3.ID, ev("roleAssignment.delete")); err != nil {
		t.Fatal(err)
	}
	wantCode(t, "DeleteRoleAssignment(again)", db.DeleteRoleAssignment(ctx, a3.ID, ev("roleAssignment.delete")), billing.KindNotFound, "RoleAssignmentNotFound")
	if mine, _ := db.RoleAssignments(ctx, "p-b"); len(mine) != 1 || mine[0].ID != a1.ID {
		t.Fatalf("after delete: %+v", mine)
	}
}

func testAuthKeys(t *testing.T, db *store.DB) {
	if keys, err := db.SigningKeys(ctx); err != nil || len(keys) != 0 {
		t.Fatalf("SigningKeys of a new store = %v, %v", keys, err)
	}
	t1, t2, t3 := at("2024-05-01T00:00:00Z"), at("2024-05-02T00:00:00Z"), at("2024-05-03T00:00:00Z")
	k1 := auth.SigningKey{KID: "kid-1", PrivatePEM: "-----PEM 1-----", CreatedAt: t1}
	if added, err := db.AddFirstSigningKey(ctx, k1); err != nil || !added {
		t.Fatalf("AddFirstSigningKey = %v, %v", added, err)
	}
	v := authVersion(t, db)
	if added, err := db.AddFirstSigningKey(ctx, auth.SigningKey{KID: "kid-x", PrivatePEM: "x", CreatedAt: t2}); err != nil || added {
		t.Fatalf("AddFirstSigningKey (second) = %v, %v; want not added", added, err)
	}
	if authVersion(t, db) != v {
		t.Fatal("a first key not added changed the version")
	}
	// Extend only raises.
	if err := db.ExtendSigningKey(ctx, "kid-1", t3); err != nil {
		t.Fatal(err)
	}
	if err := db.ExtendSigningKey(ctx, "kid-1", t2); err != nil {
		t.Fatal(err)
	}
	k2 := auth.SigningKey{KID: "kid-2", PrivatePEM: "-----PEM 2-----", CreatedAt: t2}
	if err := db.RotateSigningKey(ctx, k2, nil, auth.Event{At: t2, Actor: "op", Action: "keys.rotate", Target: "kid-2", Success: true}); err != nil {
		t.Fatal(err)
	}
	keys, err := db.SigningKeys(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(keys) != 2 || keys[0].KID != "kid-1" || keys[0].PrivatePEM != k1.PrivatePEM || keys[0].RetiredAt == nil || !sameTime(*keys[0].RetiredAt, t2) ||
		keys[0].LongestExpiry == nil || !sameTime(*keys[0].LongestExpiry, t3) || !sameTime(keys[0].CreatedAt, t1) ||
		keys[1].KID != "kid-2" || keys[1].RetiredAt != nil || keys[1].LongestExpiry != nil {
		t.Fatalf("keys after a rotation = %+v", keys)
	}
	// The next rotation drops kid-1.
	k3 := auth.SigningKey{KID: "kid-3", PrivatePEM: "-----PEM 3-----", CreatedAt: t3}
	if err := db.RotateSigningKey(ctx, k3, []string{"kid-1"}, auth.Event{At: t3, Actor: "op", Action: "keys.rotate", Target: "kid-3", Success: true}); err != nil {
		t.Fatal(err)
	}
	keys, _ = db.SigningKeys(ctx)
	if len(keys) != 2 || keys[0].KID != "kid-2" || keys[0].RetiredAt == nil || !sameTime(*keys[0].RetiredAt, t3) || keys[1].KID != "kid-3" || keys[1].RetiredAt != nil {
		t.Fatalf("keys after the second rotation = %+v", keys)
	}
	if n := len(eventsOf(t, db, "keys.rotate")); n != 2 {
		t.Fatalf("keys.rotate events = %d, want 2", n)
	}
}

func testAuthAudit(t *testing.T, db *store.DB) {
	base := at("2030-01-01T00:00:00Z")
	var want []auth.Event
	for i := 0; i < 5; i++ {
		e := auth.Event{At: base.Add(time.Duration(i) * time.Second), Actor: fmt.Sprintf("actor-%d", i), Action: "audit.probe", Target: "t ✓",
			Detail: "détail \"quoted\"", Remote: "192.0.2.1:1234", Success: i%2 == 0}
		want = append(want, e)
	}
	// Appended out of order: read back by time.
	for _, i := range []int{3, 0, 4, 1, 2} {
		if err := db.AppendAuditEvent(ctx, want[i]); err != nil {
			t.Fatal(err)
		}
	}
	got, err := db.AuditEvents(ctx, base, 100)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("AuditEvents = %+v,\nwant %+v", got, want)
	}
	if got, _ := db.AuditEvents(ctx, base.Add(2*time.Second), 2); !reflect.DeepEqual(got, want[2:4]) {
		t.Fatalf("AuditEvents(since +2s, limit 2) = %+v, want %+v", got, want[2:4])
	}
	if got, err := db.AuditEvents(ctx, base.Add(time.Hour), 10); err != nil || got == nil || len(got) != 0 {
		t.Fatalf("AuditEvents after the last = %v, %v; want an empty, non-nil list", got, err)
	}
}

// testAuthConcurrent: concurrent equal assignments under different ids
// yield one assignment, one event and one version increment.
func testAuthConcurrent(t *testing.T, db *store.DB) {
	v := authVersion(t, db)
	const n = 8
	var wg sync.WaitGroup
	errs := make([]error, n)
	for i := 0; i < n; i++ {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			a := auth.Assignment{ID: guid('d', i), PrincipalID: "racer", RoleDefinitionName: auth.RoleReader, Scope: "/", CreatedAt: at("2024-06-01T00:00:00Z")}
			_, _, errs[i] = db.PutRoleAssignment(ctx, a, auth.Event{At: a.CreatedAt, Action: "race.put", Target: a.ID, Success: true})
		}(i)
	}
	wg.Wait()
	ok := 0
	for _, err := range errs {
		if err == nil {
			ok++
		} else if be := billing.AsError(err); be == nil || be.Code != "RoleAssignmentExists" {
			t.Fatalf("concurrent put: %v", err)
		}
	}
	if mine, _ := db.RoleAssignments(ctx, "racer"); ok != 1 || len(mine) != 1 {
		t.Fatalf("%d concurrent puts succeeded, %d assignments stored; want 1 and 1", ok, len(mine))
	}
	if got := authVersion(t, db); got != v+1 {
		t.Fatalf("version = %d after one successful write, want %d", got, v+1)
	}
	if got := len(eventsOf(t, db, "race.put")); got != 1 {
		t.Fatalf("race.put events = %d, want 1", got)
	}
}
