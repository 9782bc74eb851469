package auth_test

import (
	"sync"
	"testing"

	"github.com/reckon-billing/reckon/internal/auth"
)

// Nodes sharing a store start at the same moment with the same bootstrap
// credentials: every one of them starts, and the operator holds one
// Operator assignment.
func TestBootstrapConcurrentNodes(t *testing.T) {
	forEachBackend(t, func(t *testing.T, b string) {
		e := newEnv(t, b, auth.Config{})
		const nodes = 6
		services := make([]*auth.Service, nodes)
		for i := range services {
			services[i] = e.service(t)
		}
		errs := make([]error, nodes)
		var wg sync.WaitGroup
		for i, s := range services {
			wg.Go(func() {
				_, _, _, errs[i] = s.Bootstrap(ctx, "boot-operator", "boot-secret-0123456789")
			})
		}
		wg.Wait()
		for i, err := range errs {
			if err != nil {
				t.Errorf("node %d: Bootstrap: %v", i, err)
			}
		}
		as, err := e.svc.Assignments(ctx, "boot-operator")
		if err != nil {
			t.Fatal(err)
		}
		n := 0
		for _, a := range as {
			if a.RoleDefinitionName == auth.RoleOperator && a.Scope == auth.ScopeRoot {
				n++
			}
		}
		if n != 1 {
			t.Errorf("%d Operator assignments at the root, want 1: %+v", n, as)
		}
		e.signIn(t, "boot-operator", "boot-secret-0123456789", mgmtCore)
	})
}
