package auth

import (
	"context"
	"sync"
)

// principalCacheSize bounds the principals whose grants are cached.
const principalCacheSize = 10000

// cachedPrincipal is what Authenticate needs of a principal.
type cachedPrincipal struct {
	exists      bool
	displayName string
	grants      Grants
}

// principalCache keeps principals and their grants until an identity
// write (local, or seen through the version) clears it. gen counts the
// clears, so that a load that began before a clear is not stored after it.
type principalCache struct {
	mu  sync.RWMutex
	m   map[string]*cachedPrincipal
	gen uint64
}

func (c *principalCache) init() { c.m = make(map[string]*cachedPrincipal) }

func (c *principalCache) get(id string) (*cachedPrincipal, uint64) {
	c.mu.RLock()
	defer c.mu.RUnlock()
	return c.m[id], c.gen
}

func (c *principalCache) put(id string, p *cachedPrincipal, gen uint64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if gen != c.gen {
		return
	}
	if len(c.m) >= principalCacheSize {
		clear(c.m)
	}
	c.m[id] = p
}

func (c *principalCache) clear() {
	c.mu.Lock()
	clear(c.m)
	c.gen++
	c.mu.Unlock()
}

// principal returns a principal's existence, name and grants, from the
// cache or the store.
func (s *Service) principal(ctx context.Context, id string) (*cachedPrincipal, error) {
	p, gen := s.principals.get(id)
	if p != nil {
		return p, nil
	}
	p = &cachedPrincipal{exists: true}
	pr, err := s.repo.Principal(ctx, id)
	switch {
	case isNotFound(err):
		p.exists = false
	case err != nil:
		return nil, err
	default:
		p.displayName = pr.DisplayName
	}
	as, err := s.repo.RoleAssignments(ctx, id)
	if err != nil {
		return nil, err
	}
	p.grants = NewGrants(as)
	s.principals.put(id, p, gen)
	return p, nil
}

// invalidate drops what this process cached of the identity state after
// it changed it. Other processes notice through the version.
func (s *Service) invalidate() {
	s.principals.clear()
}

// maybeRecheck compares the identity state version with the store's, at
// most once per GrantsRecheck and by one caller at a time (the others go
// on with the caches), and drops the caches and reloads the keys when
// another process changed something.
func (s *Service) maybeRecheck(ctx context.Context) {
	now := s.clock().UnixNano()
	if now-s.lastCheck.Load() < int64(GrantsRecheck) || !s.checking.CompareAndSwap(false, true) {
		return
	}
	defer s.checking.Store(false)
	s.lastCheck.Store(now)
	v, err := s.repo.AuthVersion(ctx)
	if err != nil || v == s.version.Load() {
		return // a store that does not answer changes nothing either
	}
	s.principals.clear()
	if s.loadKeys(ctx) != nil {
		return // try again at the next check
	}
	s.version.Store(v)
}
