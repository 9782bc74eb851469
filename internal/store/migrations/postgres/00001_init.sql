-- +goose Up
-- Every tenant-owned table carries subscription_key, the column a sharded
-- deployment (Citus) distributes by; see docs/deployment.md.
CREATE TABLE subscriptions (
    subscription_key  BIGINT  GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    subscription_id   TEXT    NOT NULL UNIQUE,
    display_name      TEXT    NOT NULL,
    billing_account   TEXT    NOT NULL,
    state             TEXT    NOT NULL,
    offer_durable_id  TEXT    NOT NULL,
    currency          TEXT    NOT NULL,
    locale            TEXT    NOT NULL,
    region_info       TEXT    NOT NULL,
    billing_day       INTEGER NOT NULL,
    created_us        BIGINT  NOT NULL,
    updated_us        BIGINT  NOT NULL
);

CREATE TABLE meters (
    meter_key          BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    meter_id           TEXT   NOT NULL UNIQUE,
    meter_name         TEXT   NOT NULL,
    meter_category     TEXT   NOT NULL,
    meter_sub_category TEXT   NOT NULL,
    meter_region       TEXT   NOT NULL,
    unit               TEXT   NOT NULL,
    meter_status       TEXT   NOT NULL,
    created_us         BIGINT NOT NULL,
    updated_us         BIGINT NOT NULL
);

CREATE TABLE usage_instances (
    instance_key     BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    subscription_key BIGINT NOT NULL REFERENCES subscriptions (subscription_key),
    instance_hash    BYTEA  NOT NULL,
    instance_data    TEXT   NOT NULL,
    UNIQUE (subscription_key, instance_hash)
);

CREATE TABLE usage_record_keys (
    record_key       UUID   PRIMARY KEY,
    fingerprint      BIGINT NOT NULL,
    subscription_key BIGINT NOT NULL
);

CREATE TABLE usage_segments (
    segment_id       BIGINT  GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    subscription_key BIGINT  NOT NULL REFERENCES subscriptions (subscription_key),
    reported_us      BIGINT  NOT NULL,
    record_count     INTEGER NOT NULL,
    data             BYTEA   NOT NULL
);
CREATE INDEX usage_segments_by_reported ON usage_segments (subscription_key, reported_us);

CREATE TABLE server_secrets (
    name       TEXT   PRIMARY KEY,
    secret     BYTEA  NOT NULL,
    created_us BIGINT NOT NULL
);

-- +goose Down
DROP TABLE server_secrets;
DROP TABLE usage_segments;
DROP TABLE usage_record_keys;
DROP TABLE usage_instances;
DROP TABLE meters;
DROP TABLE subscriptions;
