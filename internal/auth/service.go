package auth

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"runtime"
	"sync"
	"sync/atomic"
	"time"

	"github.com/google/uuid"

	"github.com/reckon-billing/reckon/internal/billing"
)

// Principal kinds.
const (
	KindServicePrincipal = "servicePrincipal"
	KindUser             = "user"
)

// Principal is a service principal (client credentials) or a portal user
// (name and password). Its secrets are stored only as slow hashes.
type Principal struct {
	ClientID    string       `json:"clientId"`
	Kind        string       `json:"kind"`
	DisplayName string       `json:"displayName"`
	Secrets     []SecretInfo `json:"secrets"` // never the secrets themselves
	CreatedAt   time.Time    `json:"createdAt"`
	UpdatedAt   time.Time    `json:"updatedAt"`
}

// SecretInfo describes one secret (or a user's password) of a principal.
type SecretInfo struct {
	ID        string     `json:"id"`
	Hint      string     `json:"hint"` // the secret's first three characters, as Azure shows
	ExpiresAt *time.Time `json:"expiresAt,omitempty"`
	CreatedAt time.Time  `json:"createdAt"`
}

// PrincipalInput is the body of PUT /admin/v1/principals/{clientId}: a
// service principal {"displayName","secret"} or a user {"displayName",
// "password","kind":"user"}. A secret given is added to the principal's
// secrets (so that secrets can be rotated); a password replaces the user's.
type PrincipalInput struct {
	DisplayName     string     `json:"displayName"`
	Kind            string     `json:"kind,omitempty"`
	Secret          string     `json:"secret,omitempty"`
	Password        string     `json:"password,omitempty"`
	SecretExpiresAt *time.Time `json:"secretExpiresAt,omitempty"`
}

// Token is an access token Reckon issued.
type Token struct {
	AccessToken string    `json:"access_token"`
	TokenType   string    `json:"token_type"` // "Bearer"
	ExpiresIn   int       `json:"expires_in"` // seconds
	ExpiresOn   time.Time `json:"-"`
	Resource    string    `json:"resource,omitempty"`
}

// OAuthError is a failed sign-in, as OAuth 2.0 reports it
// ({"error","error_description"} with Status).
type OAuthError struct {
	Status      int    // 400 or 401; 429 when locked out
	Code        string // invalid_request, invalid_client, unauthorized_client, invalid_scope, unsupported_grant_type, temporarily_unavailable
	Description string
	RetryAfter  int // seconds, when locked out
}

func (e *OAuthError) Error() string { return e.Code + ": " + e.Description }

// Identity is an authenticated caller.
type Identity struct {
	PrincipalID string
	DisplayName string
	TenantID    string
	// External is true for a token of the trusted external issuer.
	External  bool
	Grants    Grants
	ExpiresAt time.Time
}

// Event is one entry of the audit trail.
type Event struct {
	At      time.Time `json:"at"`
	Actor   string    `json:"actor"`  // principal id, or "" for an anonymous sign-in attempt
	Action  string    `json:"action"` // e.g. signIn, signInFailed, principal.put, roleAssignment.delete, invoiceAccess.put
	Target  string    `json:"target"`
	Detail  string    `json:"detail,omitempty"`
	Remote  string    `json:"remote,omitempty"`
	Success bool      `json:"success"`
}

// Config configures the identity service.
type Config struct {
	// Issuer is the "iss" of Reckon's tokens and of its OpenID
	// configuration, e.g. https://reckon.example.com/adfs.
	Issuer string
	// Audiences are accepted in "aud"; a token request names one (scope
	// ".../.default" or resource). Default: https://management.core.windows.net/
	// and https://management.azure.com/.
	Audiences []string
	// TokenLifetime defaults to one hour.
	TokenLifetime time.Duration
	// External, when set, is an OIDC issuer whose tokens are trusted too.
	External *ExternalIssuer
	// Lockout: after MaxFailures failed sign-ins of one client id within
	// FailureWindow, sign-ins of that id are refused for LockFor.
	MaxFailures   int
	FailureWindow time.Duration
	LockFor       time.Duration
}

// ExternalIssuer is an operator's own identity provider.
type ExternalIssuer struct {
	Issuer   string // exact "iss"
	JWKSURL  string
	Audience string // required "aud"
	// PrincipalClaim names the claim that identifies the principal in role
	// assignments: "oid" (default), "sub" or "appid".
	PrincipalClaim string
}

// StoredSecret is a secret (or a user's password) as the repository keeps
// it: its description and its argon2id hash, never the secret.
type StoredSecret struct {
	SecretInfo
	Hash string
}

// SigningKey is one of Reckon's token signing keys as the repository keeps
// it. The newest key not retired signs; a retired key keeps verifying until
// the tokens it signed have expired.
type SigningKey struct {
	KID string
	// PrivatePEM is the RSA private key, PKCS#8 in PEM.
	PrivatePEM string
	CreatedAt  time.Time
	// RetiredAt is when a newer key took over; nil for the current key.
	RetiredAt *time.Time
	// LongestExpiry is the latest expiry of a token the key signed with
	// a lifetime longer than the configured one (IssueFor); nil if none.
	LongestExpiry *time.Time
}

// Repository stores principals, secrets, assignments, signing keys and
// the audit trail. Implemented by package store for both dialects. Every
// write that changes identity state (all but AppendAuditEvent) increments
// the version that AuthVersion returns, in the same transaction, and
// records the event it is given in that transaction too.
type Repository interface {
	// InitAuth creates the identity state with tenantID unless it exists,
	// and returns the stored tenant id and the current version.
	InitAuth(ctx context.Context, tenantID string) (tenant string, version int64, err error)
	// AuthVersion returns the version of the identity state.
	AuthVersion(ctx context.Context) (int64, error)

	// SigningKeys returns every stored key, oldest first.
	SigningKeys(ctx context.Context) ([]SigningKey, error)
	// AddFirstSigningKey stores k if there is no key at all yet, and
	// reports whether it did.
	AddFirstSigningKey(ctx context.Context, k SigningKey) (bool, error)
	// RotateSigningKey stores k, retires (at k.CreatedAt) every key not
	// retired yet, deletes the keys named in drop, and records e.
	RotateSigningKey(ctx context.Context, k SigningKey, drop []string, e Event) error
	// ExtendSigningKey raises the key's LongestExpiry to until.
	ExtendSigningKey(ctx context.Context, kid string, until time.Time) error

	// PutPrincipal creates the principal or updates its display name
	// (p.CreatedAt is used only for a new one; the kind never changes). It
	// deletes every secret of the principal first when replaceSecrets is
	// true, then adds add when not nil; and records e.
	PutPrincipal(ctx context.Context, p Principal, add *StoredSecret, replaceSecrets bool, e Event) (created bool, err error)
	// Principal returns a principal with its secrets' descriptions, or a
	// KindNotFound error (PrincipalNotFound).
	Principal(ctx context.Context, clientID string) (Principal, error)
	// Principals lists every principal in client id order.
	Principals(ctx context.Context) ([]Principal, error)
	// PrincipalCredentials returns a principal and its secrets with their
	// hashes (PrincipalNotFound if absent).
	PrincipalCredentials(ctx context.Context, clientID string) (Principal, []StoredSecret, error)
	// DeletePrincipal deletes a principal, its secrets and its role
	// assignments, and records e (PrincipalNotFound if absent).
	DeletePrincipal(ctx context.Context, clientID string, e Event) error
	// DeleteSecret deletes one secret of a principal and records e
	// (SecretNotFound if absent).
	DeleteSecret(ctx context.Context, clientID, secretID string, e Event) error

	// PutRoleAssignment creates or replaces the assignment a.ID (a
	// replacement keeps its CreatedAt) and records e. The same principal,
	// role and scope under another id is a KindConflict error
	// (RoleAssignmentExists).
	PutRoleAssignment(ctx context.Context, a Assignment, e Event) (Assignment, bool, error)
	// RoleAssignments lists the assignments of a principal, or all when
	// principalID is "", in principal and id order.
	RoleAssignments(ctx context.Context, principalID string) ([]Assignment, error)
	// DeleteRoleAssignment deletes an assignment and records e
	// (RoleAssignmentNotFound if absent).
	DeleteRoleAssignment(ctx context.Context, id string, e Event) error

	// AppendAuditEvent appends an event to the audit trail.
	AppendAuditEvent(ctx context.Context, e Event) error
	// AuditEvents returns the events at or after since, oldest first, at
	// most limit.
	AuditEvents(ctx context.Context, since time.Time, limit int) ([]Event, error)
}

// Errors of missing things, returned by repositories too.

// PrincipalNotFound is the error for a principal that does not exist.
func PrincipalNotFound(clientID string) error {
	return billing.NotFound("PrincipalNotFound", "clientId", "The principal '%s' was not found.", clip(clientID))
}

// SecretNotFound is the error for a secret that does not exist.
func SecretNotFound(clientID, secretID string) error {
	return billing.NotFound("SecretNotFound", "secretId", "The principal '%s' has no secret '%s'.", clip(clientID), clip(secretID))
}

// RoleAssignmentNotFound is the error for a role assignment that does not
// exist.
func RoleAssignmentNotFound(id string) error {
	return billing.NotFound("RoleAssignmentNotFound", "roleAssignmentId", "The role assignment '%s' was not found.", clip(id))
}

// RoleAssignmentExists is the error for a second assignment of the same
// role to the same principal at the same scope.
func RoleAssignmentExists(existingID string) error {
	return billing.Conflict("RoleAssignmentExists", "roleAssignmentId", "The role assignment already exists as '%s'.", existingID)
}

// Defaults.
const (
	// DefaultTokenLifetime is the lifetime of the tokens Reckon issues.
	DefaultTokenLifetime = time.Hour
	// ClockSkew is the tolerance on "nbf" and "exp": two minutes.
	ClockSkew = 2 * time.Minute
	// GrantsRecheck is how often a server process checks whether another
	// one changed the identity state (so that changes take effect within
	// this time plus the check itself).
	GrantsRecheck = time.Second
)

// DefaultAudiences are accepted when Config.Audiences is empty.
var DefaultAudiences = []string{"https://management.core.windows.net/", "https://management.azure.com/"}

// Service is the identity service.
type Service struct {
	repo  Repository
	clock billing.Clock
	cfg   Config
	// httpClient fetches the external issuer's keys.
	httpClient *http.Client

	tenant string

	keysMu        sync.RWMutex
	keys          *keySet
	lastKeyReload time.Time // under keysMu

	// version is the identity state version the caches reflect; lastCheck
	// (Unix nanoseconds of the clock) is when it was last compared with
	// the store, checking whether a comparison runs.
	version   atomic.Int64
	lastCheck atomic.Int64
	checking  atomic.Bool

	tokens     tokenCache
	principals principalCache
	lockout    lockout
	external   *externalKeys

	// hashing bounds the argon2 computations running at once (each takes
	// 19 MiB).
	hashing chan struct{}
}

// NewService returns the identity service; Init must run before use.
func NewService(repo Repository, clock billing.Clock, cfg Config) *Service {
	if len(cfg.Audiences) == 0 {
		cfg.Audiences = DefaultAudiences
	}
	cfg.Audiences = append([]string(nil), cfg.Audiences...)
	if cfg.TokenLifetime <= 0 {
		cfg.TokenLifetime = DefaultTokenLifetime
	}
	if cfg.MaxFailures <= 0 {
		cfg.MaxFailures = 5
	}
	if cfg.FailureWindow <= 0 {
		cfg.FailureWindow = 5 * time.Minute
	}
	if cfg.LockFor <= 0 {
		cfg.LockFor = 5 * time.Minute
	}
	s := &Service{repo: repo, clock: clock, cfg: cfg, httpClient: &http.Client{Timeout: 10 * time.Second}}
	if cfg.External != nil {
		ext := *cfg.External
		if ext.PrincipalClaim == "" {
			ext.PrincipalClaim = "oid"
		}
		s.cfg.External = &ext
		s.external = &externalKeys{}
	}
	s.tokens.init(tokenCacheSize)
	s.principals.init()
	s.lockout.init()
	s.hashing = make(chan struct{}, max(2, runtime.NumCPU()))
	return s
}

// Init loads (or creates, on first start) the tenant id and the signing keys.
func (s *Service) Init(ctx context.Context) error {
	if s.cfg.Issuer == "" {
		return errors.New("auth: the issuer is not configured")
	}
	if e := s.cfg.External; e != nil && (e.Issuer == "" || e.JWKSURL == "" || e.Audience == "") {
		return errors.New("auth: the external issuer needs an issuer, a JWKS URL and an audience")
	}
	if e := s.cfg.External; e != nil && e.Issuer == s.cfg.Issuer {
		return errors.New("auth: the external issuer cannot be Reckon's own issuer")
	}
	if e := s.cfg.External; e != nil && e.PrincipalClaim != "oid" && e.PrincipalClaim != "sub" && e.PrincipalClaim != "appid" {
		return fmt.Errorf("auth: the external issuer's principal claim %q is not oid, sub or appid", e.PrincipalClaim)
	}
	tenant, version, err := s.repo.InitAuth(ctx, uuid.NewString())
	if err != nil {
		return err
	}
	s.tenant = tenant
	s.version.Store(version)
	s.lastCheck.Store(s.clock().UnixNano())
	if err := s.loadKeys(ctx); err != nil {
		return err
	}
	if s.currentKeys().signing == nil {
		k, err := newSigningKey(s.clock(), s.currentKeys())
		if err != nil {
			return err
		}
		if _, err := s.repo.AddFirstSigningKey(ctx, k); err != nil {
			return err
		}
		// Another process may have stored its own first key meanwhile:
		// whichever is newest signs, and both verify.
		if err := s.loadKeys(ctx); err != nil {
			return err
		}
		if s.currentKeys().signing == nil {
			return errors.New("auth: no signing key after creating one")
		}
	}
	return nil
}

// TenantID is the tenant of every principal of this Reckon.
func (s *Service) TenantID() string { return s.tenant }

// Issuer returns the configured issuer.
func (s *Service) Issuer() string { return s.cfg.Issuer }

// Audiences returns the accepted audiences, the first being the default of
// a token request that names none.
func (s *Service) Audiences() []string { return append([]string(nil), s.cfg.Audiences...) }
