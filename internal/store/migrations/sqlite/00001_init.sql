-- +goose Up
CREATE TABLE subscriptions (
    subscription_key  INTEGER PRIMARY KEY,
    subscription_id   TEXT    NOT NULL UNIQUE,
    display_name      TEXT    NOT NULL,
    billing_account   TEXT    NOT NULL,
    state             TEXT    NOT NULL,
    offer_durable_id  TEXT    NOT NULL,
    currency          TEXT    NOT NULL,
    locale            TEXT    NOT NULL,
    region_info       TEXT    NOT NULL,
    billing_day       INTEGER NOT NULL,
    created_us        INTEGER NOT NULL,
    updated_us        INTEGER NOT NULL
);

CREATE TABLE meters (
    meter_key          INTEGER PRIMARY KEY,
    meter_id           TEXT    NOT NULL UNIQUE,
    meter_name         TEXT    NOT NULL,
    meter_category     TEXT    NOT NULL,
    meter_sub_category TEXT    NOT NULL,
    meter_region       TEXT    NOT NULL,
    unit               TEXT    NOT NULL,
    meter_status       TEXT    NOT NULL,
    created_us         INTEGER NOT NULL,
    updated_us         INTEGER NOT NULL
);

-- The resources usage was metered for, interned per subscription.
CREATE TABLE usage_instances (
    instance_key     INTEGER PRIMARY KEY,
    subscription_key INTEGER NOT NULL REFERENCES subscriptions (subscription_key),
    instance_hash    BLOB    NOT NULL,
    instance_data    TEXT    NOT NULL,
    UNIQUE (subscription_key, instance_hash)
);

-- One row per accepted record id, forever: the idempotency index.
CREATE TABLE usage_record_keys (
    record_key       BLOB    PRIMARY KEY,
    fingerprint      INTEGER NOT NULL,
    subscription_key INTEGER NOT NULL
) WITHOUT ROWID;

-- Accepted records, packed per subscription and reported instant.
CREATE TABLE usage_segments (
    segment_id       INTEGER PRIMARY KEY,
    subscription_key INTEGER NOT NULL REFERENCES subscriptions (subscription_key),
    reported_us      INTEGER NOT NULL,
    record_count     INTEGER NOT NULL,
    data             BLOB    NOT NULL
);
CREATE INDEX usage_segments_by_reported ON usage_segments (subscription_key, reported_us);

CREATE TABLE server_secrets (
    name       TEXT    PRIMARY KEY,
    secret     BLOB    NOT NULL,
    created_us INTEGER NOT NULL
);

-- +goose Down
DROP TABLE server_secrets;
DROP TABLE usage_segments;
DROP TABLE usage_record_keys;
DROP TABLE usage_instances;
DROP TABLE meters;
DROP TABLE subscriptions;
