-- +goose Up
-- The idempotency keys move from one row per key to packed entries
-- (store/keylog.go): each ingest transaction logs its keys as ONE row of
-- usage_key_batches, and each merge writes its run as sorted blocks of
-- usage_key_blocks, found by their first key. An entry is 32 bytes: the
-- key (16), the fingerprint (8, big-endian) and the subscription key (8,
-- big-endian). Runs merged before keep their rows in usage_record_keys
-- (format 0) and the keys logged before stay in usage_key_log until the
-- next merge moves them.
CREATE TABLE usage_key_batches (
    seq     INTEGER PRIMARY KEY,
    entries BLOB NOT NULL
);
CREATE TABLE usage_key_blocks (
    run       INTEGER NOT NULL,
    first_key BLOB    NOT NULL,
    entries   BLOB    NOT NULL,
    PRIMARY KEY (run, first_key)
) WITHOUT ROWID;
ALTER TABLE usage_key_runs ADD COLUMN format INTEGER NOT NULL DEFAULT 0;

-- +goose Down
-- Only when no run was written in blocks and nothing is logged in batches.
DROP TABLE usage_key_blocks;
DROP TABLE usage_key_batches;
ALTER TABLE usage_key_runs DROP COLUMN format;
