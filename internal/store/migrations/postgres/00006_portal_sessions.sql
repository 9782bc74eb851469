-- +goose Up
-- Web portal sessions (internal/portal, store/portal.go). The session id
-- is never stored: id_hash is the hex SHA-256 of the cookie's random id.
-- Instants are microseconds since the epoch (UTC). Every node sharing the
-- store sees every session.
CREATE TABLE portal_sessions (
    id_hash      TEXT    PRIMARY KEY,
    principal_id TEXT    NOT NULL,
    csrf         TEXT    NOT NULL,
    created_us   BIGINT  NOT NULL,
    expires_us   BIGINT  NOT NULL,
    last_seen_us BIGINT  NOT NULL
);
CREATE INDEX portal_sessions_expires ON portal_sessions (expires_us);
CREATE INDEX portal_sessions_principal ON portal_sessions (principal_id);

-- Catalog import reports (catalog/importlog.go), for the operator's pages:
-- when, by whom, and the import's result as JSON (counts, rejected items).
CREATE TABLE catalog_import_reports (
    at_us   BIGINT  NOT NULL,
    actor   TEXT    NOT NULL,
    result  TEXT    NOT NULL
);
CREATE INDEX catalog_import_reports_at ON catalog_import_reports (at_us);

-- +goose Down
DROP TABLE catalog_import_reports;
DROP TABLE portal_sessions;
