package auth_test

import (
	"strings"
	"testing"
	"time"

	"github.com/reckon-billing/reckon/internal/auth"
	"github.com/reckon-billing/reckon/internal/billing"
)

// TestAudit: sign-ins, failed sign-ins, principal, secret and assignment
// writes are recorded with who, what, when and from where; other packages
// record their own events; the log reads from an instant, oldest first.
func TestAudit(t *testing.T) {
	t.Parallel()
	forEachBackend(t, func(t *testing.T, b string) {
		e := newEnv(t, b, auth.Config{})
		start := e.clock.Now().Add(time.Second)
		e.clock.Advance(time.Second)
		e.signIn(t, "app-1", spSecret, "https://management.azure.com/.default")
		e.clock.Advance(time.Second)
		e.svc.SignIn(ctx, "app-1", "not-the-secret-at-all", "", "203.0.113.9:443")
		e.clock.Advance(time.Second)
		p, _, err := e.svc.PutPrincipal(ctx, "admin-x", "app-5", auth.PrincipalInput{DisplayName: "five", Secret: "fifth-secret-value-0"})
		if err != nil {
			t.Fatal(err)
		}
		if err := e.svc.DeleteSecret(ctx, "admin-x", "app-5", p.Secrets[0].ID); err != nil {
			t.Fatal(err)
		}
		const aid = "00000000-0000-4000-8000-0000000000f1"
		if _, _, err := e.svc.PutAssignment(ctx, "admin-x", aid, auth.Assignment{PrincipalID: "app-5", RoleDefinitionName: auth.RoleReader, Scope: "/subscriptions/" + mySub}); err != nil {
			t.Fatal(err)
		}
		if err := e.svc.DeleteAssignment(ctx, "admin-x", aid); err != nil {
			t.Fatal(err)
		}
		if err := e.svc.DeletePrincipal(ctx, "admin-x", "app-5"); err != nil {
			t.Fatal(err)
		}
		if err := e.svc.Record(ctx, auth.Event{Actor: "acct-admin", Action: "invoiceAccess.put", Target: "/subscriptions/" + mySub, Detail: "enabled\x00\nsneaky\xff", Success: true}); err != nil {
			t.Fatal(err)
		}
		wantCode(t, "Record without action", e.svc.Record(ctx, auth.Event{Actor: "x"}), billing.KindInvalid, "MissingProperty")

		events, err := e.svc.AuditLog(ctx, start, 0)
		if err != nil {
			t.Fatal(err)
		}
		type row struct{ actor, action, target string }
		var got []row
		for _, ev := range events {
			got = append(got, row{ev.Actor, ev.Action, ev.Target})
		}
		want := []row{
			{"app-1", auth.ActionSignIn, "app-1"},
			{"app-1", auth.ActionSignInFailed, "app-1"},
			{"admin-x", auth.ActionPrincipalPut, "app-5"},
			{"admin-x", auth.ActionSecretDelete, "app-5"},
			{"admin-x", auth.ActionRoleAssignmentPut, aid},
			{"admin-x", auth.ActionRoleAssignmentDelete, aid},
			{"admin-x", auth.ActionPrincipalDelete, "app-5"},
			{"acct-admin", "invoiceAccess.put", "/subscriptions/" + mySub},
		}
		if len(got) != len(want) {
			t.Fatalf("events = %+v,\nwant %+v", got, want)
		}
		for i := range want {
			if got[i] != want[i] {
				t.Fatalf("event %d = %+v, want %+v (all: %+v)", i, got[i], want[i], got)
			}
		}
		in, failed := events[0], events[1]
		if !in.Success || in.Remote != "192.0.2.10:5000" || in.Detail != "audience "+mgmtAzure || !in.At.Equal(start) {
			t.Fatalf("signIn event = %+v", in)
		}
		if failed.Success || failed.Remote != "203.0.113.9:443" || !failed.At.Equal(start.Add(time.Second)) {
			t.Fatalf("signInFailed event = %+v", failed)
		}
		if put := events[2]; !strings.Contains(put.Detail, "created") || !strings.Contains(put.Detail, "hint fif") || strings.Contains(put.Detail, "fifth-secret") {
			t.Fatalf("principal.put detail = %q", put.Detail)
		}
		if ra := events[4]; ra.Detail != "principal app-5, role Reader, scope /subscriptions/"+mySub {
			t.Fatalf("roleAssignment.put detail = %q", ra.Detail)
		}
		if d := events[7].Detail; d != "enabled  sneaky\uFFFD" {
			t.Fatalf("stored detail %q: control characters and invalid UTF-8 are not neutralised", d)
		}
		// Limit and since.
		if two, _ := e.svc.AuditLog(ctx, start, 2); len(two) != 2 || two[1].Action != auth.ActionSignInFailed {
			t.Fatalf("AuditLog(limit 2) = %+v", two)
		}
		if later, _ := e.svc.AuditLog(ctx, start.Add(2*time.Second), 0); len(later) != 6 {
			t.Fatalf("AuditLog(since +2s) = %d events, want 6", len(later))
		}
	})
}
