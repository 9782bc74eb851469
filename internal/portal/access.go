package portal

import (
	"net/http"
	"slices"
	"strconv"
	"strings"

	"github.com/reckon-billing/reckon/internal/auth"
)

type assignmentRow struct {
	Principal, PrincipalName, Role, Scope, ScopeKind, Created string
}

type accessData struct {
	Sub         *subInfo
	OptIn       bool
	Saved       bool
	Assignments []assignmentRow
	Account     string
}

// mayAdminister reports whether the caller administers the page's
// subscription's billing account (operators do).
func mayAdminister(rc *reqCtx) bool {
	return rc.id.Grants.IsAccountAdmin(rc.sub.BillingAccount)
}

// accessPage shows the invoice-access opt-in and who holds which role on
// the subscription and its billing account.
func (p *Portal) accessPage(w http.ResponseWriter, r *http.Request, rc *reqCtx) error {
	if !mayAdminister(rc) {
		return errForbidden("Access is managed by the admin of the billing account " + rc.sub.BillingAccount + ".")
	}
	on, err := p.deps.Invoicing.InvoiceAccess(r.Context(), rc.sub.SubscriptionID)
	if err != nil {
		return err
	}
	d := accessData{Sub: rc.sub, OptIn: on, Saved: r.URL.Query().Get("saved") == "1", Account: rc.sub.BillingAccount}
	all, err := p.deps.Auth.Assignments(r.Context(), "")
	if err != nil {
		return err
	}
	principals, err := p.principalNames(r)
	if err != nil {
		return err
	}
	subScope, acctScope := auth.SubscriptionScope(rc.sub.SubscriptionID), auth.BillingAccountScope(rc.sub.BillingAccount)
	for _, a := range all {
		kind := ""
		switch a.Scope {
		case subScope:
			kind = "Subscription"
		case acctScope:
			kind = "Billing account"
		case auth.ScopeRoot:
			kind = "Everything"
		default:
			continue
		}
		d.Assignments = append(d.Assignments, assignmentRow{Principal: a.PrincipalID, PrincipalName: principals[a.PrincipalID], Role: a.RoleDefinitionName,
			Scope: a.Scope, ScopeKind: kind, Created: rc.loc.date(a.CreatedAt)})
	}
	slices.SortFunc(d.Assignments, func(x, y assignmentRow) int {
		if c := strings.Compare(x.ScopeKind, y.ScopeKind); c != 0 {
			return c
		}
		if c := strings.Compare(x.Role, y.Role); c != 0 {
			return c
		}
		return strings.Compare(x.Principal, y.Principal)
	})
	p.render(w, r, rc, http.StatusOK, "access", "Access", d)
	return nil
}

// principalNames maps principal ids to display names.
func (p *Portal) principalNames(r *http.Request) (map[string]string, error) {
	ps, err := p.deps.Auth.Principals(r.Context())
	if err != nil {
		return nil, err
	}
	m := make(map[string]string, len(ps))
	for _, pr := range ps {
		m[pr.ClientID] = pr.DisplayName
	}
	return m, nil
}

// accessPost sets the opt-in (audited as the API's PUT invoiceAccess).
func (p *Portal) accessPost(w http.ResponseWriter, r *http.Request, rc *reqCtx) error {
	if !mayAdminister(rc) {
		return errForbidden("Access is managed by the admin of the billing account " + rc.sub.BillingAccount + ".")
	}
	on := r.PostFormValue("optIn") != ""
	if err := p.deps.Invoicing.SetInvoiceAccess(r.Context(), rc.sub.SubscriptionID, on); err != nil {
		return err
	}
	if err := p.deps.Auth.Record(r.Context(), auth.Event{Actor: rc.id.PrincipalID, Action: auditInvoiceAccessPut,
		Target: auth.SubscriptionScope(rc.sub.SubscriptionID), Detail: "enabled=" + strconv.FormatBool(on) + " (portal)", Remote: r.RemoteAddr, Success: true}); err != nil {
		return err
	}
	http.Redirect(w, r, "/portal/subscriptions/"+rc.sub.SubscriptionID+"/access?saved=1", http.StatusSeeOther)
	return nil
}
