-- +goose Up
-- The merged idempotency keys are kept in immutable runs, one per merge of
-- usage_key_log, each sorted and keyed (run, record_key): a merge appends
-- at the end of the index instead of rewriting pages all over it, so its
-- cost no longer grows with the index (store/keylog.go).
CREATE TABLE usage_key_runs (
    run  INTEGER PRIMARY KEY,
    keys INTEGER NOT NULL
);
CREATE TABLE usage_record_keys_by_run (
    run              INTEGER NOT NULL,
    record_key       BLOB    NOT NULL,
    fingerprint      INTEGER NOT NULL,
    subscription_key INTEGER NOT NULL,
    PRIMARY KEY (run, record_key)
) WITHOUT ROWID;
INSERT INTO usage_record_keys_by_run (run, record_key, fingerprint, subscription_key)
    SELECT 1, record_key, fingerprint, subscription_key FROM usage_record_keys ORDER BY record_key;
INSERT INTO usage_key_runs (run, keys)
    SELECT 1, COUNT(*) FROM usage_record_keys HAVING COUNT(*) > 0;
DROP TABLE usage_record_keys;
ALTER TABLE usage_record_keys_by_run RENAME TO usage_record_keys;
DROP TABLE usage_key_merges;

-- +goose Down
CREATE TABLE usage_key_merges (
    id         INTEGER PRIMARY KEY CHECK (id = 1),
    generation INTEGER NOT NULL
);
INSERT INTO usage_key_merges (id, generation) SELECT 1, COUNT(*) FROM usage_key_runs;
CREATE TABLE usage_record_keys_flat (
    record_key       BLOB    PRIMARY KEY,
    fingerprint      INTEGER NOT NULL,
    subscription_key INTEGER NOT NULL
) WITHOUT ROWID;
INSERT INTO usage_record_keys_flat (record_key, fingerprint, subscription_key)
    SELECT record_key, fingerprint, subscription_key FROM usage_record_keys ORDER BY record_key;
DROP TABLE usage_record_keys;
ALTER TABLE usage_record_keys_flat RENAME TO usage_record_keys;
DROP TABLE usage_key_runs;
