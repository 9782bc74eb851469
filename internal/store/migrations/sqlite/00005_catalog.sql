-- +goose Up
-- The price catalog (internal/catalog, store/catalog.go). Decimals are
-- plain decimal TEXT, never REAL; instants are microseconds since the
-- epoch (UTC). Rates and offer terms are effective-dated versions: a new
-- effective date adds a row, old rows stay for the usage of their time.

-- MeterTags, one tag per line (a tag holds no control character).
ALTER TABLE meters ADD COLUMN meter_tags TEXT NOT NULL DEFAULT '';

-- A meter's names in a locale other than en-US (the meter's own names).
CREATE TABLE meter_texts (
    meter_id           TEXT NOT NULL REFERENCES meters (meter_id),
    locale             TEXT NOT NULL,
    meter_name         TEXT NOT NULL,
    meter_category     TEXT NOT NULL,
    meter_sub_category TEXT NOT NULL,
    PRIMARY KEY (meter_id, locale)
) WITHOUT ROWID;

CREATE TABLE offers (
    offer_id   TEXT    PRIMARY KEY,
    name       TEXT    NOT NULL,
    created_us INTEGER NOT NULL,
    updated_us INTEGER NOT NULL
);

-- The currencies an offer is sold in: its own price list (base_currency
-- '') or derived from base_currency at exchange_rate, rounded.
CREATE TABLE offer_currencies (
    offer_id          TEXT    NOT NULL REFERENCES offers (offer_id),
    currency          TEXT    NOT NULL,
    base_currency     TEXT    NOT NULL,
    exchange_rate     TEXT    NOT NULL,
    rounding_decimals INTEGER NOT NULL,
    PRIMARY KEY (offer_id, currency)
) WITHOUT ROWID;

-- The RegionInfo countries an offer is sold in.
CREATE TABLE offer_regions (
    offer_id TEXT NOT NULL REFERENCES offers (offer_id),
    region   TEXT NOT NULL,
    PRIMARY KEY (offer_id, region)
) WITHOUT ROWID;

-- Offer terms per (offer, currency), effective-dated. tiered_discount is
-- "min:percent|min:percent"; excluded_meter_ids is comma-separated.
CREATE TABLE offer_terms (
    offer_id           TEXT    NOT NULL REFERENCES offers (offer_id),
    currency           TEXT    NOT NULL,
    name               TEXT    NOT NULL,
    effective_us       INTEGER NOT NULL,
    credit             TEXT    NOT NULL,
    recurring_charge   TEXT    NOT NULL,
    tiered_discount    TEXT    NOT NULL,
    excluded_meter_ids TEXT    NOT NULL,
    PRIMARY KEY (offer_id, currency, name, effective_us)
) WITHOUT ROWID;

-- Rates per (offer, currency with its own price list, meter), effective-
-- dated. tiers is "min:price|min:price", sorted by min, the first 0.
-- No foreign keys here: checking two per row made a 50,000-meter import
-- several times slower on PostgreSQL. The catalog service writes a rate
-- only in the transaction that writes (or finds) its meter and offer, and
-- the catalog deletes neither.
CREATE TABLE meter_rates (
    offer_id          TEXT    NOT NULL,
    currency          TEXT    NOT NULL,
    meter_id          TEXT    NOT NULL,
    effective_us      INTEGER NOT NULL,
    tiers             TEXT    NOT NULL,
    included_quantity TEXT    NOT NULL,
    PRIMARY KEY (offer_id, currency, meter_id, effective_us)
) WITHOUT ROWID;

-- Incremented by every write transaction of the catalog, so that nodes can
-- cache what they derive from it (precomputed RateCard bodies).
CREATE TABLE catalog_version (
    id      INTEGER PRIMARY KEY CHECK (id = 1),
    version INTEGER NOT NULL
);
INSERT INTO catalog_version (id, version) VALUES (1, 0);

-- +goose Down
DROP TABLE catalog_version;
DROP TABLE meter_rates;
DROP TABLE offer_terms;
DROP TABLE offer_regions;
DROP TABLE offer_currencies;
DROP TABLE offers;
DROP TABLE meter_texts;
ALTER TABLE meters DROP COLUMN meter_tags;
