package portal

import (
	"net/http"
	"net/url"
	"slices"
	"strings"

	"github.com/reckon-billing/reckon/internal/account"
	"github.com/reckon-billing/reckon/internal/auth"
	"github.com/reckon-billing/reckon/internal/billing"
)

// subOption is a subscription of the switcher.
type subOption struct {
	ID, Name, Account string
}

// subInfo is the subscription of a subscription page.
type subInfo struct {
	account.Subscription
}

// mayRead reports whether grants allow reading subscription s: a role on
// it, or the Account Admin of its billing account (as the API decides).
func mayRead(g auth.Grants, s account.Subscription) bool {
	return g.CanReadSubscriptionOf(s.SubscriptionID, s.BillingAccount)
}

// readable returns the subscriptions the caller may read, by name.
func (p *Portal) readable(r *http.Request, rc *reqCtx) ([]subOption, error) {
	if rc.loaded {
		return rc.subs, rc.subsErr
	}
	rc.loaded = true
	all, err := p.deps.Accounts.List(r.Context())
	if err != nil {
		rc.subsErr = err
		return nil, err
	}
	for _, s := range all {
		if mayRead(rc.id.Grants, s) {
			name := s.DisplayName
			if name == "" {
				name = s.SubscriptionID
			}
			rc.subs = append(rc.subs, subOption{ID: s.SubscriptionID, Name: name, Account: s.BillingAccount})
		}
	}
	slices.SortStableFunc(rc.subs, func(a, b subOption) int { return strings.Compare(strings.ToLower(a.Name), strings.ToLower(b.Name)) })
	return rc.subs, nil
}

// subscription wraps a page of one subscription: the caller must be able
// to read it (403 otherwise, whether it exists or not, as the API
// answers); a subscription the caller could read but that does not exist
// is 404.
func (p *Portal) subscription(h handler) http.Handler {
	return p.signed(func(w http.ResponseWriter, r *http.Request, rc *reqCtx) error {
		raw := r.PathValue("subscriptionId")
		id, ok := billing.ParseGUID(raw)
		if !ok {
			return errNotFound("'" + clipText(raw) + "' is not a subscription id.")
		}
		s, err := p.deps.Accounts.Get(r.Context(), id)
		if err != nil {
			if e := billing.AsError(err); e != nil && e.Kind == billing.KindNotFound {
				if rc.id.Grants.CanReadSubscription(id) {
					return errNotFound("The subscription " + id + " does not exist.")
				}
				return errForbidden("You do not have access to the subscription " + id + ".")
			}
			return err
		}
		if !mayRead(rc.id.Grants, s) {
			return errForbidden("You do not have access to the subscription " + id + ".")
		}
		rc.sub = &subInfo{s}
		rc.loc = p.localeFor(r, s.Locale)
		path := r.URL.Path
		switch {
		case strings.Contains(path, "/invoices"):
			rc.page = "invoices"
		case strings.HasSuffix(path, "/usage"), strings.HasSuffix(path, "/usage.csv"):
			rc.page = "usage"
		case strings.HasSuffix(path, "/ratecard"):
			rc.page = "ratecard"
		case strings.HasSuffix(path, "/access"):
			rc.page = "access"
		default:
			rc.page = "overview"
		}
		return h(w, r, rc)
	})
}

func clipText(s string) string {
	if len(s) > 64 {
		return s[:64] + "…"
	}
	return s
}

// home sends the caller to the first subscription they may read (or the
// operator pages).
func (p *Portal) home(w http.ResponseWriter, r *http.Request, rc *reqCtx) error {
	subs, err := p.readable(r, rc)
	if err != nil {
		return err
	}
	if len(subs) > 0 {
		http.Redirect(w, r, "/portal/subscriptions/"+subs[0].ID+"/overview", http.StatusSeeOther)
		return nil
	}
	if rc.id.Grants.IsOperator() {
		http.Redirect(w, r, "/portal/operator", http.StatusSeeOther)
		return nil
	}
	rc.page = "home"
	p.render(w, r, rc, http.StatusOK, "nothing", "Nothing to show", nil)
	return nil
}

// subscriptionHome is /portal/subscriptions/{id}: its overview.
func (p *Portal) subscriptionHome(w http.ResponseWriter, r *http.Request, rc *reqCtx) error {
	id, ok := billing.ParseGUID(r.PathValue("subscriptionId"))
	if !ok {
		return errNotFound("Not a subscription id.")
	}
	http.Redirect(w, r, "/portal/subscriptions/"+id+"/overview", http.StatusSeeOther)
	return nil
}

// switchPages are the pages the switcher may go to.
var switchPages = map[string]bool{"overview": true, "usage": true, "invoices": true, "ratecard": true, "access": true}

// switchSubscription is the switcher's target.
func (p *Portal) switchSubscription(w http.ResponseWriter, r *http.Request, rc *reqCtx) error {
	id, ok := billing.ParseGUID(r.URL.Query().Get("subscription"))
	if !ok {
		return errBadRequest("Choose a subscription.")
	}
	page := r.URL.Query().Get("page")
	if !switchPages[page] {
		page = "overview"
	}
	http.Redirect(w, r, "/portal/subscriptions/"+url.PathEscape(id)+"/"+page, http.StatusSeeOther)
	return nil
}
