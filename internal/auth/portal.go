package auth

import (
	"context"
)

// IdentityOf returns the identity of a principal signed in by other means
// than a bearer token (the web portal's sessions): its name and its grants
// as they are now, read through the same cache as Authenticate (so a role
// assignment change is seen at once on this node and within GrantsRecheck
// on the others). A principal that no longer exists is
// KindUnauthenticated.
func (s *Service) IdentityOf(ctx context.Context, principalID string) (*Identity, error) {
	if s.tenant == "" {
		return nil, errNotInitialized
	}
	s.maybeRecheck(ctx)
	p, err := s.principal(ctx, principalID)
	if err != nil {
		return nil, err
	}
	if !p.exists {
		return nil, invalidToken("The principal '%s' no longer exists.", principalID)
	}
	name := p.displayName
	if name == "" {
		name = principalID
	}
	return &Identity{PrincipalID: principalID, DisplayName: name, TenantID: s.tenant, Grants: p.grants}, nil
}
