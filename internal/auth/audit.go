package auth

import (
	"context"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/reckon-billing/reckon/internal/billing"
)

// Audit actions recorded by this package. Other packages record their own
// (e.g. invoiceAccess.put).
const (
	ActionSignIn               = "signIn"
	ActionSignInFailed         = "signInFailed"
	ActionPrincipalPut         = "principal.put"
	ActionPrincipalDelete      = "principal.delete"
	ActionSecretDelete         = "secret.delete"
	ActionRoleAssignmentPut    = "roleAssignment.put"
	ActionRoleAssignmentDelete = "roleAssignment.delete"
	ActionKeysRotate           = "keys.rotate"
)

// ActorBootstrap is the actor of what Bootstrap does.
const ActorBootstrap = "bootstrap"

// Default and maximum number of events AuditLog returns.
const (
	defaultAuditLimit = 1000
	maxAuditLimit     = 10000
)

// event completes an event: the time (now, in microseconds) and fields
// made safe to store (valid UTF-8, no control characters, bounded).
func (s *Service) event(e Event) Event {
	if e.At.IsZero() {
		e.At = s.clock()
	}
	e.At = e.At.UTC().Truncate(time.Microsecond)
	e.Actor = sanitize(e.Actor, 256)
	e.Action = sanitize(e.Action, 64)
	e.Target = sanitize(e.Target, 512)
	e.Detail = sanitize(e.Detail, 2048)
	e.Remote = sanitize(e.Remote, 256)
	return e
}

// sanitize makes s valid UTF-8 without control characters, at most max
// bytes.
func sanitize(s string, max int) string {
	s = strings.ToValidUTF8(s, "\uFFFD")
	s = strings.Map(func(r rune) rune {
		if r < 0x20 || r == 0x7f {
			return ' '
		}
		return r
	}, s)
	if len(s) > max {
		cut := max
		for cut > 0 && !utf8.RuneStart(s[cut]) {
			cut--
		}
		s = s[:cut]
	}
	return s
}

// Record appends an event to the audit trail.
func (s *Service) Record(ctx context.Context, e Event) error {
	if strings.TrimSpace(e.Action) == "" {
		return billing.Invalid("MissingProperty", "action", "An audit event needs an action.")
	}
	return s.repo.AppendAuditEvent(ctx, s.event(e))
}

// AuditLog returns the events since the given instant, oldest first, at
// most limit.
func (s *Service) AuditLog(ctx context.Context, since time.Time, limit int) ([]Event, error) {
	if limit <= 0 {
		limit = defaultAuditLimit
	}
	limit = min(limit, maxAuditLimit)
	return s.repo.AuditEvents(ctx, since.UTC(), limit)
}
