package httpapi

import (
	"errors"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/reckon-billing/reckon/internal/auth"
	"github.com/reckon-billing/reckon/internal/billing"
)

// defaultAudiences are the token audiences Azure clients ask for.
var defaultAudiences = []string{"https://management.core.windows.net/", "https://management.azure.com/"}

// openIDConfiguration is the ADFS discovery document MSAL (az, azidentity)
// reads before asking for a token.
func (a *API) openIDConfiguration(w http.ResponseWriter, r *http.Request) {
	base := baseURL(r) + "/adfs"
	writeJSON(w, http.StatusOK, map[string]any{
		// MSAL (Go 1.5 and later) refuses a discovery document whose issuer
		// is not on the host of the authority it was given; the tokens' own
		// issuer is access_token_issuer, as AD FS publishes it.
		"issuer":                                base,
		"access_token_issuer":                   a.deps.Auth.Issuer(),
		"authorization_endpoint":                base + "/oauth2/authorize",
		"token_endpoint":                        base + "/oauth2/token",
		"jwks_uri":                              base + "/discovery/keys",
		"token_endpoint_auth_methods_supported": []string{"client_secret_post", "client_secret_basic"},
		"grant_types_supported":                 []string{"client_credentials", "password"},
		"response_types_supported":              []string{"token"},
		"scopes_supported":                      []string{"openid"},
		"subject_types_supported":               []string{"pairwise"},
		"id_token_signing_alg_values_supported": []string{"RS256"},
	})
}

// jwks publishes the public keys that verify Reckon's tokens.
func (a *API) jwks(w http.ResponseWriter, r *http.Request) {
	body, err := a.deps.Auth.JWKS(r.Context())
	if err != nil {
		writeError(w, r, a.log, err)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "max-age=300")
	w.Write(body)
}

// metadataEndpoints is what "az cloud register --endpoint-resource-manager"
// reads to find the token service.
func (a *API) metadataEndpoints(w http.ResponseWriter, r *http.Request) {
	base := baseURL(r)
	writeJSON(w, http.StatusOK, map[string]any{
		"galleryEndpoint": base + "/",
		"graphEndpoint":   base + "/",
		"portalEndpoint":  base + "/",
		"authentication": map[string]any{
			"loginEndpoint": base + "/adfs",
			"audiences":     defaultAudiences,
		},
	})
}

// token is the OAuth 2.0 token endpoint: the client-credentials grant for
// service principals and the password grant for users.
func (a *API) token(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Cache-Control", "no-store")
	r.Body = http.MaxBytesReader(w, r.Body, 64<<10)
	if err := r.ParseForm(); err != nil {
		if _, ok := errors.AsType[*http.MaxBytesError](err); ok {
			writeOAuthError(w, &auth.OAuthError{Status: http.StatusRequestEntityTooLarge, Code: "invalid_request", Description: "The request body is larger than 64 KiB."})
			return
		}
		writeOAuthError(w, &auth.OAuthError{Status: http.StatusBadRequest, Code: "invalid_request", Description: "The body must be application/x-www-form-urlencoded."})
		return
	}
	f := r.PostForm
	clientID, secret := f.Get("client_id"), f.Get("client_secret")
	if u, p, ok := r.BasicAuth(); ok {
		clientID, secret = u, p
	}
	switch f.Get("grant_type") {
	case "client_credentials":
	case "password":
		clientID, secret = f.Get("username"), f.Get("password")
	case "":
		writeOAuthError(w, &auth.OAuthError{Status: http.StatusBadRequest, Code: "invalid_request", Description: "grant_type is required."})
		return
	default:
		writeOAuthError(w, &auth.OAuthError{Status: http.StatusBadRequest, Code: "unsupported_grant_type", Description: "Only client_credentials and password are supported."})
		return
	}
	if clientID == "" || secret == "" {
		writeOAuthError(w, &auth.OAuthError{Status: http.StatusBadRequest, Code: "invalid_request", Description: "The client id and secret (or user name and password) are required."})
		return
	}
	audience := f.Get("resource")
	for _, sc := range strings.Fields(f.Get("scope")) {
		if strings.HasSuffix(sc, "/.default") {
			audience = strings.TrimSuffix(sc, ".default")
			break
		}
	}
	tok, err := a.deps.Auth.SignIn(r.Context(), clientID, secret, audience, r.RemoteAddr)
	if err != nil {
		var oe *auth.OAuthError
		if errors.As(err, &oe) {
			writeOAuthError(w, oe)
			return
		}
		writeError(w, r, a.log, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{
		"access_token": tok.AccessToken, "token_type": "Bearer",
		"expires_in": tok.ExpiresIn, "ext_expires_in": tok.ExpiresIn,
		"expires_on": strconv.FormatInt(tok.ExpiresOn.Unix(), 10), "resource": tok.Resource,
	})
}

func writeOAuthError(w http.ResponseWriter, e *auth.OAuthError) {
	if e.RetryAfter > 0 {
		w.Header().Set("Retry-After", strconv.Itoa(e.RetryAfter))
	}
	if e.Status == http.StatusUnauthorized {
		w.Header().Set("WWW-Authenticate", `Basic realm="reckon"`)
	}
	writeJSON(w, e.Status, map[string]string{"error": e.Code, "error_description": e.Description})
}

// listARMSubscriptions is ARM's GET /subscriptions: the subscriptions the
// caller may read.
func (a *API) listARMSubscriptions(w http.ResponseWriter, r *http.Request) {
	q, err := parseARMQuery(r.URL.RawQuery)
	if err == nil {
		_, err = checkAPIVersion(q, subscriptionAPIVersions)
	}
	if err != nil {
		writeError(w, r, a.log, err)
		return
	}
	subs, err := a.deps.Accounts.List(r.Context())
	if err != nil {
		writeError(w, r, a.log, err)
		return
	}
	g := identityOf(r).Grants
	out := []armSubscription{}
	for _, s := range subs {
		if g.CanReadSubscriptionOf(s.SubscriptionID, s.BillingAccount) {
			out = append(out, a.armSubscription(s))
		}
	}
	writeJSON(w, http.StatusOK, map[string]any{"value": out, "count": map[string]any{"type": "Total", "value": len(out)}})
}

// listTenants is ARM's GET /tenants: Reckon's one tenant.
func (a *API) listTenants(w http.ResponseWriter, r *http.Request) {
	tid := a.deps.Auth.TenantID()
	writeJSON(w, http.StatusOK, map[string]any{"value": []map[string]any{{
		"id": "/tenants/" + tid, "tenantId": tid, "tenantCategory": "Home", "displayName": "Reckon",
	}}})
}

func (a *API) putPrincipal(w http.ResponseWriter, r *http.Request) {
	var in auth.PrincipalInput
	if err := decodeBody(w, r, &in); err != nil {
		writeError(w, r, a.log, err)
		return
	}
	p, created, err := a.deps.Auth.PutPrincipal(r.Context(), identityOf(r).PrincipalID, r.PathValue("clientId"), in)
	if err != nil {
		writeError(w, r, a.log, err)
		return
	}
	writeJSON(w, createdStatus(created), p)
}

func (a *API) getPrincipal(w http.ResponseWriter, r *http.Request) {
	p, err := a.deps.Auth.Principal(r.Context(), r.PathValue("clientId"))
	if err != nil {
		writeError(w, r, a.log, err)
		return
	}
	writeJSON(w, http.StatusOK, p)
}

func (a *API) listPrincipals(w http.ResponseWriter, r *http.Request) {
	ps, err := a.deps.Auth.Principals(r.Context())
	if err != nil {
		writeError(w, r, a.log, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"value": ps})
}

func (a *API) deletePrincipal(w http.ResponseWriter, r *http.Request) {
	if err := a.deps.Auth.DeletePrincipal(r.Context(), identityOf(r).PrincipalID, r.PathValue("clientId")); err != nil {
		writeError(w, r, a.log, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

func (a *API) deleteSecret(w http.ResponseWriter, r *http.Request) {
	if err := a.deps.Auth.DeleteSecret(r.Context(), identityOf(r).PrincipalID, r.PathValue("clientId"), r.PathValue("secretId")); err != nil {
		writeError(w, r, a.log, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

func (a *API) putAssignment(w http.ResponseWriter, r *http.Request) {
	var as auth.Assignment
	if err := decodeBody(w, r, &as); err != nil {
		writeError(w, r, a.log, err)
		return
	}
	stored, created, err := a.deps.Auth.PutAssignment(r.Context(), identityOf(r).PrincipalID, r.PathValue("assignmentId"), as)
	if err != nil {
		writeError(w, r, a.log, err)
		return
	}
	writeJSON(w, createdStatus(created), stored)
}

func (a *API) getAssignment(w http.ResponseWriter, r *http.Request) {
	all, err := a.deps.Auth.Assignments(r.Context(), "")
	if err != nil {
		writeError(w, r, a.log, err)
		return
	}
	for _, as := range all {
		if strings.EqualFold(as.ID, r.PathValue("assignmentId")) {
			writeJSON(w, http.StatusOK, as)
			return
		}
	}
	writeError(w, r, a.log, billing.NotFound("RoleAssignmentNotFound", "assignmentId", "The role assignment '%s' could not be found.", clip(r.PathValue("assignmentId"))))
}

func (a *API) listAssignments(w http.ResponseWriter, r *http.Request) {
	list, err := a.deps.Auth.Assignments(r.Context(), r.URL.Query().Get("principalId"))
	if err != nil {
		writeError(w, r, a.log, err)
		return
	}
	if list == nil {
		list = []auth.Assignment{}
	}
	writeJSON(w, http.StatusOK, map[string]any{"value": list})
}

func (a *API) deleteAssignment(w http.ResponseWriter, r *http.Request) {
	if err := a.deps.Auth.DeleteAssignment(r.Context(), identityOf(r).PrincipalID, r.PathValue("assignmentId")); err != nil {
		writeError(w, r, a.log, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

func (a *API) rotateKeys(w http.ResponseWriter, r *http.Request) {
	if err := a.deps.Auth.RotateKeys(r.Context(), identityOf(r).PrincipalID); err != nil {
		writeError(w, r, a.log, err)
		return
	}
	body, err := a.deps.Auth.JWKS(r.Context())
	if err != nil {
		writeError(w, r, a.log, err)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.Write(body)
}

// auditLog is GET /admin/v1/audit?since=RFC3339&limit=n.
func (a *API) auditLog(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	var since time.Time
	if v := q.Get("since"); v != "" {
		t, err := time.Parse(time.RFC3339, v)
		if err != nil {
			writeError(w, r, a.log, invalid("InvalidProperty", "since", "The since '%s' is not an RFC 3339 date-time.", clip(v)))
			return
		}
		since = t
	}
	limit := 1000
	if v := q.Get("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > 10000 {
			writeError(w, r, a.log, invalid("InvalidProperty", "limit", "The limit must be between 1 and 10000."))
			return
		}
		limit = n
	}
	events, err := a.deps.Auth.AuditLog(r.Context(), since, limit)
	if err != nil {
		writeError(w, r, a.log, err)
		return
	}
	if events == nil {
		events = []auth.Event{}
	}
	writeJSON(w, http.StatusOK, map[string]any{"value": events})
}
