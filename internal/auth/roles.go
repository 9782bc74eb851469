// Package auth is who may do what: principals (service principals and
// portal users) with hashed secrets, the tokens Reckon issues to them (JWTs
// signed by the server, ADFS-style), tokens of a trusted external issuer,
// role assignments at ARM scopes, and the audit trail of all of it.
package auth

import (
	"strings"
	"time"

	"github.com/reckon-billing/reckon/internal/billing"
)

// Role definition names, as role assignments spell them.
const (
	RoleOwner         = "Owner"
	RoleContributor   = "Contributor"
	RoleReader        = "Reader"
	RoleBillingReader = "Billing Reader"
	RoleAccountAdmin  = "Account Admin"
	RoleOperator      = "Operator"
	RoleUsageWriter   = "Usage Writer"
)

// Roles lists every role definition.
var Roles = []string{RoleOwner, RoleContributor, RoleReader, RoleBillingReader, RoleAccountAdmin, RoleOperator, RoleUsageWriter}

// Scope kinds. A scope is "/" (everything), "/subscriptions/{id}" or
// "/providers/Microsoft.Billing/billingAccounts/{name}".
const (
	ScopeRoot           = "/"
	subscriptionPrefix  = "/subscriptions/"
	billingAccountScope = "/providers/Microsoft.Billing/billingAccounts/"
)

// SubscriptionScope returns the scope of a subscription.
func SubscriptionScope(id string) string { return subscriptionPrefix + id }

// BillingAccountScope returns the scope of a billing account.
func BillingAccountScope(name string) string { return billingAccountScope + name }

// Assignment grants a role to a principal at a scope.
type Assignment struct {
	ID                 string    `json:"id"` // the assignment's name (a GUID), from the path
	PrincipalID        string    `json:"principalId"`
	RoleDefinitionName string    `json:"roleDefinitionName"`
	Scope              string    `json:"scope"`
	CreatedAt          time.Time `json:"createdAt"`
}

// NormalizeScope checks a scope and returns it in canonical form
// (subscription GUIDs in lower case, no trailing slash).
func NormalizeScope(s string) (string, error) {
	bad := billing.Invalid("InvalidScope", "scope", "The scope '%s' is not '/', '/subscriptions/{id}' or '/providers/Microsoft.Billing/billingAccounts/{name}'.", clip(s))
	if s == ScopeRoot {
		return s, nil
	}
	s = strings.TrimSuffix(s, "/")
	if len(s) > len(subscriptionPrefix) && strings.EqualFold(s[:len(subscriptionPrefix)], subscriptionPrefix) {
		id, ok := billing.ParseGUID(s[len(subscriptionPrefix):])
		if !ok {
			return "", bad
		}
		return SubscriptionScope(id), nil
	}
	if len(s) > len(billingAccountScope) && strings.EqualFold(s[:len(billingAccountScope)], billingAccountScope) {
		name := s[len(billingAccountScope):]
		if strings.ContainsAny(name, "/?#") || len(name) > 128 {
			return "", bad
		}
		return BillingAccountScope(name), nil
	}
	return "", bad
}

// Normalize checks an assignment: a known role at a scope where it means
// something (subscription roles at a subscription or "/", Account Admin at a
// billing account or "/", Operator at "/", Usage Writer at a subscription or
// "/").
func (a *Assignment) Normalize() error {
	scope, err := NormalizeScope(a.Scope)
	if err != nil {
		return err
	}
	a.Scope = scope
	known := false
	for _, r := range Roles {
		if strings.EqualFold(r, a.RoleDefinitionName) {
			a.RoleDefinitionName, known = r, true
		}
	}
	if !known {
		return billing.Invalid("RoleDefinitionDoesNotExist", "roleDefinitionName", "The role '%s' does not exist; the roles are %s.", clip(a.RoleDefinitionName), strings.Join(Roles, ", "))
	}
	sub, acct, root := strings.HasPrefix(scope, subscriptionPrefix), strings.HasPrefix(scope, billingAccountScope), scope == ScopeRoot
	ok := root
	switch a.RoleDefinitionName {
	case RoleOwner, RoleContributor, RoleReader, RoleBillingReader, RoleUsageWriter:
		ok = ok || sub
	case RoleAccountAdmin:
		ok = ok || acct
	}
	if !ok {
		return billing.Invalid("InvalidScope", "scope", "The role '%s' cannot be assigned at the scope '%s'.", a.RoleDefinitionName, scope)
	}
	if a.PrincipalID == "" || len(a.PrincipalID) > 128 {
		return billing.Invalid("InvalidProperty", "principalId", "The principalId is required (at most 128 characters).")
	}
	return nil
}

// Grants are what a principal's role assignments allow. The zero value
// allows nothing.
type Grants struct {
	operator     bool
	allSubs      map[string]bool // roles held at "/" for every subscription
	subs         map[string]map[string]bool
	allAccounts  bool
	accounts     map[string]bool
	writerAll    bool
	writerOfSubs map[string]bool
}

// NewGrants evaluates a principal's assignments.
func NewGrants(assignments []Assignment) Grants {
	g := Grants{allSubs: map[string]bool{}, subs: map[string]map[string]bool{}, accounts: map[string]bool{}, writerOfSubs: map[string]bool{}}
	for _, a := range assignments {
		root := a.Scope == ScopeRoot
		sub := strings.TrimPrefix(a.Scope, subscriptionPrefix)
		switch a.RoleDefinitionName {
		case RoleOperator:
			g.operator = root || g.operator
		case RoleAccountAdmin:
			if root {
				g.allAccounts = true
			} else if strings.HasPrefix(a.Scope, billingAccountScope) {
				g.accounts[strings.TrimPrefix(a.Scope, billingAccountScope)] = true
			}
		case RoleUsageWriter:
			if root {
				g.writerAll = true
			} else {
				g.writerOfSubs[sub] = true
			}
		default:
			if root {
				g.allSubs[a.RoleDefinitionName] = true
			} else if strings.HasPrefix(a.Scope, subscriptionPrefix) {
				if g.subs[sub] == nil {
					g.subs[sub] = map[string]bool{}
				}
				g.subs[sub][a.RoleDefinitionName] = true
			}
		}
	}
	return g
}

// IsOperator reports whether the principal is an operator: everything
// under /admin/v1, and every read.
func (g Grants) IsOperator() bool { return g.operator }

// hasSubRole reports whether the principal holds one of roles on sub.
func (g Grants) hasSubRole(sub string, roles ...string) bool {
	for _, r := range roles {
		if g.allSubs[r] || g.subs[sub][r] {
			return true
		}
	}
	return false
}

// CanReadSubscription reports whether the principal may read the
// subscription's usage, prices and charges: Owner, Contributor, Reader or
// Billing Reader of it, or an operator.
func (g Grants) CanReadSubscription(sub string) bool {
	return g.operator || g.hasSubRole(sub, RoleOwner, RoleContributor, RoleReader, RoleBillingReader)
}

// CanReadSubscriptionOf is CanReadSubscription, or the principal is the
// Account Admin of the billing account the subscription belongs to.
func (g Grants) CanReadSubscriptionOf(sub, account string) bool {
	return g.CanReadSubscription(sub) || g.IsAccountAdmin(account)
}

// MayWriteSomeUsage reports whether the principal may send usage for at
// least one subscription.
func (g Grants) MayWriteSomeUsage() bool {
	return g.operator || g.writerAll || len(g.writerOfSubs) > 0
}

// CanWriteUsage reports whether the principal may send usage for the
// subscription: a Usage Writer of it (or of "/"), or an operator.
func (g Grants) CanWriteUsage(sub string) bool {
	return g.operator || g.writerAll || g.writerOfSubs[sub]
}

// IsAccountAdmin reports whether the principal administers the billing
// account.
func (g Grants) IsAccountAdmin(account string) bool {
	return g.operator || g.allAccounts || g.accounts[account]
}

// CanSeeInvoices reports whether the principal may see the invoices of a
// subscription of the billing account: its Account Admin always; its
// Owner, Contributor, Reader or Billing Reader only after the admin's
// opt-in for that subscription.
func (g Grants) CanSeeInvoices(sub, account string, optedIn bool) bool {
	return g.IsAccountAdmin(account) || optedIn && g.hasSubRole(sub, RoleOwner, RoleContributor, RoleReader, RoleBillingReader)
}

// Subscriptions returns the subscriptions whose data the principal may
// read: all of them (all true), or the ids listed. Billing accounts the
// principal administers are resolved by the caller (AccountAdmins).
func (g Grants) Subscriptions() (all bool, ids []string) {
	if g.operator || g.allSubs[RoleOwner] || g.allSubs[RoleContributor] || g.allSubs[RoleReader] || g.allSubs[RoleBillingReader] {
		return true, nil
	}
	for sub, roles := range g.subs {
		if len(roles) > 0 {
			ids = append(ids, sub)
		}
	}
	return false, ids
}

// AccountAdmins returns the billing accounts the principal administers:
// all of them (all true), or the names listed.
func (g Grants) AccountAdmins() (all bool, names []string) {
	if g.operator || g.allAccounts {
		return true, nil
	}
	for name := range g.accounts {
		names = append(names, name)
	}
	return false, names
}

func clip(s string) string {
	if len(s) > 64 {
		return s[:64] + "…"
	}
	return s
}
