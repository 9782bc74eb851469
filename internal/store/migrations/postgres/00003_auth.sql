-- +goose Up
-- Identity and access (internal/auth, store/auth.go). Instants are
-- microseconds since the epoch (UTC). Secrets are kept only as argon2id
-- hashes; signing keys as PKCS#8 PEM.

-- The one row of identity state: the tenant id, generated on first start,
-- and a version that every identity write transaction increments; every
-- server process polls it to drop its caches of principals, grants and keys.
CREATE TABLE auth_state (
    id        INTEGER PRIMARY KEY CHECK (id = 1),
    tenant_id TEXT    NOT NULL,
    version   BIGINT  NOT NULL
);

-- Service principals and portal users. client_id is case-sensitive, except
-- that GUIDs are stored in lower case.
CREATE TABLE auth_principals (
    client_id    TEXT    PRIMARY KEY,
    kind         TEXT    NOT NULL,
    display_name TEXT    NOT NULL,
    created_us   BIGINT  NOT NULL,
    updated_us   BIGINT  NOT NULL
);

-- Secrets of service principals and passwords of users:
-- hash is "$argon2id$v=19$m=…,t=…,p=…$salt$key" (base64, unpadded).
CREATE TABLE auth_secrets (
    secret_id  TEXT    PRIMARY KEY,
    client_id  TEXT    NOT NULL REFERENCES auth_principals (client_id) ON DELETE CASCADE,
    hash       TEXT    NOT NULL,
    hint       TEXT    NOT NULL,
    expires_us BIGINT,
    created_us BIGINT  NOT NULL
);
CREATE INDEX auth_secrets_client ON auth_secrets (client_id);

-- Role assignments. principal_id may name a principal of the trusted
-- external issuer, so it references no principal row.
CREATE TABLE auth_role_assignments (
    assignment_id TEXT    PRIMARY KEY,
    principal_id  TEXT    NOT NULL,
    role          TEXT    NOT NULL,
    scope         TEXT    NOT NULL,
    created_us    BIGINT  NOT NULL,
    UNIQUE (principal_id, role, scope)
);

-- Token signing keys. The newest key not retired signs; a retired key
-- still verifies until retired_us + token lifetime (or longest_exp_us,
-- the latest expiry of a longer-lived token it signed) + clock skew.
CREATE TABLE auth_signing_keys (
    kid            TEXT    PRIMARY KEY,
    private_pem    TEXT    NOT NULL,
    created_us     BIGINT  NOT NULL,
    retired_us     BIGINT,
    longest_exp_us BIGINT
);

-- The audit trail, append-only.
CREATE TABLE auth_audit (
    seq     BIGINT  GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    at_us   BIGINT  NOT NULL,
    actor   TEXT    NOT NULL,
    action  TEXT    NOT NULL,
    target  TEXT    NOT NULL,
    detail  TEXT    NOT NULL,
    remote  TEXT    NOT NULL,
    success BOOLEAN NOT NULL
);
CREATE INDEX auth_audit_at ON auth_audit (at_us, seq);

-- +goose Down
DROP TABLE auth_audit;
DROP TABLE auth_signing_keys;
DROP TABLE auth_role_assignments;
DROP TABLE auth_secrets;
DROP TABLE auth_principals;
DROP TABLE auth_state;
