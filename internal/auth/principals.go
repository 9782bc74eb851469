package auth

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/google/uuid"

	"github.com/reckon-billing/reckon/internal/billing"
)

// Limits on principals and their secrets.
const (
	maxClientIDLen    = 128
	minSecretLen      = 16 // service principal secrets
	minPasswordLen    = 12 // user passwords
	maxSecretLen      = 256
	maxSecrets        = 16 // per service principal
	maxDisplayNameLen = 256
)

// canonicalClientID checks a client id (1–128 characters of
// [A-Za-z0-9._:@-]) and returns it with a GUID in lower case.
func canonicalClientID(s string) (string, bool) {
	if s == "" || len(s) > maxClientIDLen {
		return "", false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '.' || c == '_' || c == ':' || c == '@' || c == '-') {
			return "", false
		}
	}
	if len(s) == 36 {
		if g, ok := billing.ParseGUID(s); ok {
			return g, true
		}
	}
	return s, true
}

func invalidClientID(target, s string) error {
	return billing.Invalid("InvalidClientId", target, "The id '%s' is not 1 to %d characters of letters, digits and . _ : @ -.", clip(s), maxClientIDLen)
}

// isNotFound reports whether err is a KindNotFound error.
func isNotFound(err error) bool {
	be := billing.AsError(err)
	return be != nil && be.Kind == billing.KindNotFound
}

// hint is what a secret's description shows of it: its first three
// characters, as Azure does.
func hint(secret string) string {
	n := 0
	for i := range secret {
		if n == 3 {
			return secret[:i]
		}
		n++
	}
	return secret
}

// checkSecret checks a new secret or password.
func checkSecret(target, secret string, minLen int) error {
	n := utf8.RuneCountInString(secret)
	if !utf8.ValidString(secret) || n < minLen || n > maxSecretLen || strings.ContainsFunc(secret, func(r rune) bool { return r < 0x20 || r == 0x7f }) {
		return billing.Invalid("InvalidProperty", target, "The %s must be %d to %d printable characters.", target, minLen, maxSecretLen)
	}
	return nil
}

// PutPrincipal creates or updates a principal; actor is who asks (audit).
func (s *Service) PutPrincipal(ctx context.Context, actor, clientID string, in PrincipalInput) (Principal, bool, error) {
	id, ok := canonicalClientID(clientID)
	if !ok {
		return Principal{}, false, invalidClientID("clientId", clientID)
	}
	existing, err := s.repo.Principal(ctx, id)
	exists := err == nil
	if err != nil && !isNotFound(err) {
		return Principal{}, false, err
	}
	kind := in.Kind
	switch {
	case kind == "" && exists:
		kind = existing.Kind
	case kind == "":
		kind = KindServicePrincipal
	case strings.EqualFold(kind, KindServicePrincipal):
		kind = KindServicePrincipal
	case strings.EqualFold(kind, KindUser):
		kind = KindUser
	default:
		return Principal{}, false, billing.Invalid("InvalidProperty", "kind", "The kind '%s' is not '%s' or '%s'.", clip(kind), KindServicePrincipal, KindUser)
	}
	if exists && existing.Kind != kind {
		return Principal{}, false, billing.Conflict("PrincipalKindMismatch", "kind", "The principal '%s' is a %s; it cannot become a %s.", id, existing.Kind, kind)
	}
	name := in.DisplayName
	if name == "" {
		name = id
		if exists {
			name = existing.DisplayName
		}
	}
	if !utf8.ValidString(name) || utf8.RuneCountInString(name) > maxDisplayNameLen || strings.ContainsFunc(name, func(r rune) bool { return r < 0x20 || r == 0x7f }) {
		return Principal{}, false, billing.Invalid("InvalidProperty", "displayName", "The displayName must be at most %d printable characters.", maxDisplayNameLen)
	}
	now := s.clock().UTC().Truncate(time.Microsecond)
	cred, target, minLen := in.Secret, "secret", minSecretLen
	if kind == KindUser {
		if in.Secret != "" {
			return Principal{}, false, billing.Invalid("InvalidProperty", "secret", "A user has a password, not secrets.")
		}
		cred, target, minLen = in.Password, "password", minPasswordLen
	} else if in.Password != "" {
		return Principal{}, false, billing.Invalid("InvalidProperty", "password", "A service principal has secrets, not a password (for a user, set kind to '%s').", KindUser)
	}
	if in.SecretExpiresAt != nil && cred == "" {
		return Principal{}, false, billing.Invalid("InvalidProperty", "secretExpiresAt", "The secretExpiresAt applies to a %s given with it.", target)
	}
	if in.SecretExpiresAt != nil && !in.SecretExpiresAt.After(now) {
		return Principal{}, false, billing.Invalid("InvalidProperty", "secretExpiresAt", "The secretExpiresAt must be in the future.")
	}
	var add *StoredSecret
	detail := "updated"
	if !exists {
		detail = "created"
	}
	if cred != "" {
		if err := checkSecret(target, cred, minLen); err != nil {
			return Principal{}, false, err
		}
		dup := false
		if kind == KindServicePrincipal && exists {
			// PUT is idempotent: a secret the principal has already is not
			// added twice.
			_, secrets, err := s.repo.PrincipalCredentials(ctx, id)
			if err != nil && !isNotFound(err) {
				return Principal{}, false, err
			}
			for _, sec := range secrets {
				if sec.ExpiresAt != nil && !sec.ExpiresAt.After(now) {
					continue
				}
				if sec.Hint == hint(cred) {
					if ok, err := s.verifySlot(ctx, cred, sec.Hash); err != nil {
						return Principal{}, false, err
					} else if ok {
						dup = true
					}
				}
			}
			if !dup && len(secrets) >= maxSecrets {
				return Principal{}, false, billing.Conflict("TooManySecrets", "secret", "The principal '%s' has %d secrets already; delete one first.", id, len(secrets))
			}
		}
		if !dup {
			h, err := s.hashSlot(ctx, cred)
			if err != nil {
				return Principal{}, false, err
			}
			add = &StoredSecret{SecretInfo: SecretInfo{ID: uuid.NewString(), CreatedAt: now}, Hash: h}
			if in.SecretExpiresAt != nil {
				exp := in.SecretExpiresAt.UTC().Truncate(time.Microsecond)
				add.ExpiresAt = &exp
			}
			if kind == KindServicePrincipal {
				add.Hint = hint(cred)
				detail += fmt.Sprintf("; secret %s added (hint %s)", add.ID, add.Hint)
			} else {
				detail += "; password set"
			}
		}
	}
	p := Principal{ClientID: id, Kind: kind, DisplayName: name, CreatedAt: now, UpdatedAt: now}
	e := s.event(Event{At: now, Actor: actor, Action: ActionPrincipalPut, Target: id, Detail: detail, Success: true})
	created, err := s.repo.PutPrincipal(ctx, p, add, kind == KindUser && add != nil, e)
	if err != nil {
		return Principal{}, false, err
	}
	s.invalidate()
	stored, err := s.repo.Principal(ctx, id)
	return stored, created, err
}

// Principal returns a principal (NotFound "PrincipalNotFound").
func (s *Service) Principal(ctx context.Context, clientID string) (Principal, error) {
	id, ok := canonicalClientID(clientID)
	if !ok {
		return Principal{}, PrincipalNotFound(clientID)
	}
	return s.repo.Principal(ctx, id)
}

// Principals lists every principal.
func (s *Service) Principals(ctx context.Context) ([]Principal, error) { return s.repo.Principals(ctx) }

// DeletePrincipal removes a principal, its secrets and its assignments;
// its tokens stop working.
func (s *Service) DeletePrincipal(ctx context.Context, actor, clientID string) error {
	id, ok := canonicalClientID(clientID)
	if !ok {
		return PrincipalNotFound(clientID)
	}
	if err := s.checkNotLastOperator(ctx, func(a Assignment) bool { return a.PrincipalID == id }); err != nil {
		return err
	}
	e := s.event(Event{Actor: actor, Action: ActionPrincipalDelete, Target: id, Success: true})
	if err := s.repo.DeletePrincipal(ctx, id, e); err != nil {
		return err
	}
	s.invalidate()
	return nil
}

// DeleteSecret removes one secret of a principal.
func (s *Service) DeleteSecret(ctx context.Context, actor, clientID, secretID string) error {
	id, ok := canonicalClientID(clientID)
	if !ok {
		return PrincipalNotFound(clientID)
	}
	sid, ok := billing.ParseGUID(secretID)
	if !ok {
		return SecretNotFound(id, secretID)
	}
	e := s.event(Event{Actor: actor, Action: ActionSecretDelete, Target: id, Detail: "secret " + sid, Success: true})
	if err := s.repo.DeleteSecret(ctx, id, sid, e); err != nil {
		return err
	}
	s.invalidate()
	return nil
}

// checkNotLastOperator refuses a change that would remove every Operator
// assignment at "/" (removing is what gone reports of an assignment):
// nobody could administer Reckon any more.
func (s *Service) checkNotLastOperator(ctx context.Context, gone func(Assignment) bool) error {
	all, err := s.repo.RoleAssignments(ctx, "")
	if err != nil {
		return err
	}
	had, left := false, false
	for _, a := range all {
		if a.RoleDefinitionName == RoleOperator && a.Scope == ScopeRoot {
			if gone(a) {
				had = true
			} else {
				left = true
			}
		}
	}
	if had && !left {
		return billing.Conflict("LastOperator", "", "This would remove the last Operator assignment at '/'; assign the role to another principal first.")
	}
	return nil
}

// canonicalAssignmentID checks an assignment id: a GUID (lower-cased) or,
// like a client id, 1–128 characters of [A-Za-z0-9._:@-].
func canonicalAssignmentID(id string) (string, error) {
	c, ok := canonicalClientID(id)
	if !ok {
		return "", billing.Invalid("InvalidRoleAssignmentId", "roleAssignmentId", "The role assignment id '%s' is not a GUID.", clip(id))
	}
	return c, nil
}

// PutAssignment creates or replaces the role assignment id.
func (s *Service) PutAssignment(ctx context.Context, actor, id string, a Assignment) (Assignment, bool, error) {
	aid, err := canonicalAssignmentID(id)
	if err != nil {
		return Assignment{}, false, err
	}
	if a.ID != "" {
		if body, err := canonicalAssignmentID(a.ID); err != nil || body != aid {
			return Assignment{}, false, billing.Invalid("InvalidProperty", "id", "The id in the body does not match the path.")
		}
	}
	a.ID = aid
	if err := a.Normalize(); err != nil {
		return Assignment{}, false, err
	}
	pid, ok := canonicalClientID(a.PrincipalID)
	if !ok {
		return Assignment{}, false, invalidClientID("principalId", a.PrincipalID)
	}
	a.PrincipalID = pid
	if s.cfg.External == nil {
		// Without an external issuer, every principal is Reckon's own.
		if _, err := s.repo.Principal(ctx, pid); isNotFound(err) {
			return Assignment{}, false, billing.Invalid("PrincipalNotFound", "principalId", "The principal '%s' does not exist.", pid)
		} else if err != nil {
			return Assignment{}, false, err
		}
	}
	// Replacing the last Operator assignment at "/" by something else
	// would lock everyone out.
	if a.RoleDefinitionName != RoleOperator || a.Scope != ScopeRoot {
		if err := s.checkNotLastOperator(ctx, func(x Assignment) bool { return x.ID == aid }); err != nil {
			return Assignment{}, false, err
		}
	}
	now := s.clock().UTC().Truncate(time.Microsecond)
	a.CreatedAt = now
	e := s.event(Event{At: now, Actor: actor, Action: ActionRoleAssignmentPut, Target: aid,
		Detail: fmt.Sprintf("principal %s, role %s, scope %s", pid, a.RoleDefinitionName, a.Scope), Success: true})
	stored, created, err := s.repo.PutRoleAssignment(ctx, a, e)
	if err != nil {
		return Assignment{}, false, err
	}
	s.invalidate()
	return stored, created, nil
}

// Assignments lists the assignments of a principal, or all when
// principalID is "".
func (s *Service) Assignments(ctx context.Context, principalID string) ([]Assignment, error) {
	if principalID == "" {
		return s.repo.RoleAssignments(ctx, "")
	}
	id, ok := canonicalClientID(principalID)
	if !ok {
		return []Assignment{}, nil
	}
	return s.repo.RoleAssignments(ctx, id)
}

// DeleteAssignment removes the role assignment id.
func (s *Service) DeleteAssignment(ctx context.Context, actor, id string) error {
	aid, ok := canonicalClientID(id)
	if !ok {
		return RoleAssignmentNotFound(id)
	}
	if err := s.checkNotLastOperator(ctx, func(a Assignment) bool { return a.ID == aid }); err != nil {
		return err
	}
	e := s.event(Event{Actor: actor, Action: ActionRoleAssignmentDelete, Target: aid, Success: true})
	if err := s.repo.DeleteRoleAssignment(ctx, aid, e); err != nil {
		return err
	}
	s.invalidate()
	return nil
}

// Bootstrap makes sure an operator principal exists: clientID with secret
// when given (the secret is added if the principal exists without it);
// otherwise, when no operator exists at all, a new one with a generated id
// and secret, returned once (generated true).
func (s *Service) Bootstrap(ctx context.Context, clientID, secret string) (id, generatedSecret string, generated bool, err error) {
	if clientID == "" && secret != "" {
		return "", "", false, billing.Invalid("MissingProperty", "clientId", "A bootstrap secret needs a bootstrap client id.")
	}
	if clientID == "" {
		all, err := s.repo.RoleAssignments(ctx, "")
		if err != nil {
			return "", "", false, err
		}
		for _, a := range all {
			if a.RoleDefinitionName == RoleOperator && a.Scope == ScopeRoot {
				return a.PrincipalID, "", false, nil
			}
		}
		clientID, secret = uuid.NewString(), generateSecret()
		generated = true
	}
	id, ok := canonicalClientID(clientID)
	if !ok {
		return "", "", false, invalidClientID("clientId", clientID)
	}
	p, err := s.repo.Principal(ctx, id)
	switch {
	case isNotFound(err) && secret == "":
		return "", "", false, billing.Invalid("MissingProperty", "secret", "The bootstrap principal '%s' does not exist; a secret is needed to create it.", id)
	case isNotFound(err):
		// created below
	case err != nil:
		return "", "", false, err
	case p.Kind != KindServicePrincipal:
		return "", "", false, billing.Conflict("PrincipalKindMismatch", "clientId", "The bootstrap principal '%s' is a %s, not a service principal.", id, p.Kind)
	}
	// A restart with the same credentials writes nothing.
	if secret != "" {
		if has, _ := s.secretMatches(ctx, id, secret); !has {
			if _, _, err := s.PutPrincipal(ctx, ActorBootstrap, id, PrincipalInput{DisplayName: orDefault(p.DisplayName, "Operator"), Secret: secret}); err != nil {
				return "", "", false, err
			}
		}
	}
	mine, err := s.repo.RoleAssignments(ctx, id)
	if err != nil {
		return "", "", false, err
	}
	for _, a := range mine {
		if a.RoleDefinitionName == RoleOperator && a.Scope == ScopeRoot {
			return id, genSecret(generated, secret), generated, nil
		}
	}
	if _, _, err := s.PutAssignment(ctx, ActorBootstrap, uuid.NewString(), Assignment{PrincipalID: id, RoleDefinitionName: RoleOperator, Scope: ScopeRoot}); err != nil {
		// Another node starting at the same moment assigned it first.
		if e, ok := errors.AsType[*billing.Error](err); !ok || e.Code != "RoleAssignmentExists" {
			return "", "", false, err
		}
	}
	return id, genSecret(generated, secret), generated, nil
}

func genSecret(generated bool, secret string) string {
	if generated {
		return secret
	}
	return ""
}

func orDefault(s, def string) string {
	if s == "" {
		return def
	}
	return s
}

// generateSecret returns a new random secret: 32 bytes, base64url (43
// characters).
func generateSecret() string {
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		panic(err) // crypto/rand does not fail
	}
	return base64.RawURLEncoding.EncodeToString(b)
}
