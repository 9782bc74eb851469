package httpapi

import (
	"context"
	"fmt"
	"net/http"
	"strconv"
	"strings"

	"github.com/reckon-billing/reckon/internal/auth"
	"github.com/reckon-billing/reckon/internal/billing"
)

// access is what a route requires of its caller, beyond a valid token.
type access int

const (
	// accessAny: any authenticated principal (offers, the subscription
	// list, which is filtered by the caller's grants).
	accessAny access = iota
	// accessSubscription: a role that reads the subscription in the path,
	// or the Account Admin of its billing account.
	accessSubscription
	// accessIngest: a Usage Writer of some subscription (records are then
	// checked one by one).
	accessIngest
	// accessOperator: the Operator role.
	accessOperator
)

type identityKey struct{}

// identityOf returns the authenticated caller of r.
func identityOf(r *http.Request) *auth.Identity {
	id, _ := r.Context().Value(identityKey{}).(*auth.Identity)
	if id == nil {
		return &auth.Identity{} // no grants
	}
	return id
}

// bearerToken returns the request's bearer token, or "".
func bearerToken(r *http.Request) string {
	h := r.Header.Get("Authorization")
	scheme, token, ok := strings.Cut(h, " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") {
		return ""
	}
	return strings.TrimSpace(token)
}

// authenticate checks the bearer token, the caller's role for what the
// route touches, and its request budget, then runs next.
func (a *API) authenticate(need access, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		token := bearerToken(r)
		if token == "" {
			a.unauthorized(w, r, "AuthenticationFailed", "Authentication failed. The 'Authorization' header is missing or is not a bearer token.")
			return
		}
		id, err := a.deps.Auth.Authenticate(r.Context(), token)
		if err != nil {
			if e := billing.AsError(err); e != nil && e.Kind == billing.KindUnauthenticated {
				a.unauthorized(w, r, e.Code, e.Message)
				return
			}
			writeError(w, r, a.log, err)
			return
		}
		sub, _ := billing.ParseGUID(r.PathValue("subscriptionId"))
		if !a.throttle(w, r, id, sub) {
			return
		}
		if err := a.authorize(r, id, need, sub); err != nil {
			writeError(w, r, a.log, err)
			return
		}
		next.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), identityKey{}, id)))
	})
}

// authorize applies need to the caller. A subscription the caller may not
// read is refused the same way whether it exists or not.
func (a *API) authorize(r *http.Request, id *auth.Identity, need access, sub string) error {
	g := id.Grants
	ok := true
	scope := "/"
	switch need {
	case accessOperator:
		ok = g.IsOperator()
	case accessIngest:
		ok = g.MayWriteSomeUsage()
	case accessSubscription:
		if sub == "" {
			return nil // a malformed id: the handler answers 400
		}
		scope = "/subscriptions/" + sub
		ok = g.CanReadSubscription(sub)
		if !ok {
			if s, err := a.deps.Accounts.Get(r.Context(), sub); err == nil {
				ok = g.CanReadSubscriptionOf(sub, s.BillingAccount)
			}
		}
	}
	if ok {
		return nil
	}
	return forbidden(r, id, scope)
}

// forbidden is ARM's 403 for a caller without the role it needs.
func forbidden(r *http.Request, id *auth.Identity, scope string) error {
	return &billing.Error{Kind: billing.KindForbidden, Code: "AuthorizationFailed",
		Message: fmt.Sprintf("The client '%s' with object id '%s' does not have authorization to perform action '%s %s' over scope '%s' or the scope is invalid.",
			id.PrincipalID, id.PrincipalID, r.Method, clipPath(r.URL.Path), scope)}
}

func (a *API) unauthorized(w http.ResponseWriter, r *http.Request, code, msg string) {
	w.Header().Set("WWW-Authenticate", `Bearer authorization_uri="`+baseURL(r)+`/adfs", error="invalid_token", error_description="`+strings.ReplaceAll(msg, `"`, `'`)+`"`)
	writeError(w, r, a.log, &billing.Error{Kind: billing.KindUnauthenticated, Code: code, Message: msg})
}

// throttle spends one request of the caller's budget (per principal and
// subscription, reads and writes apart) and says how many remain; over
// budget it answers 429 and returns false.
func (a *API) throttle(w http.ResponseWriter, r *http.Request, id *auth.Identity, sub string) bool {
	kind, limiter := "reads", a.reads
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		kind, limiter = "writes", a.writes
	}
	level, key := "subscription", sub
	if sub == "" {
		level, key = "tenant", "-"
	}
	d := limiter.Take(id.PrincipalID + "|" + key + "|" + kind)
	if d.Remaining < throttleUnlimited {
		w.Header().Set("x-ms-ratelimit-remaining-"+level+"-"+kind, strconv.Itoa(d.Remaining))
	}
	if d.Allowed {
		return true
	}
	e := &billing.Error{Kind: billing.KindTooManyRequests, Code: "SubscriptionRequestsThrottled",
		Message: fmt.Sprintf("Number of %s requests for subscription '%s' and principal '%s' exceeded the limit of %d an hour. Please try again after %d seconds.",
			strings.TrimSuffix(kind, "s"), key, id.PrincipalID, a.cfg.ReadsPerHour, int(d.RetryAfter.Seconds())),
		RetryAfter: int(d.RetryAfter.Seconds() + 0.999)}
	if kind == "writes" {
		e.Message = strings.Replace(e.Message, strconv.Itoa(a.cfg.ReadsPerHour), strconv.Itoa(a.cfg.WritesPerHour), 1)
	}
	writeError(w, r, a.log, e)
	return false
}

// throttleUnlimited is what a limiter without a budget reports remaining.
const throttleUnlimited = 1 << 30
