-- +goose Up
-- The idempotency keys of recent commits, appended in commit order and
-- merged into usage_record_keys in large sorted batches (store/keylog.go):
-- random keys inserted one commit at a time would rewrite most of the index
-- in every commit.
CREATE TABLE usage_key_log (
    seq              INTEGER PRIMARY KEY,
    record_key       BLOB    NOT NULL,
    fingerprint      INTEGER NOT NULL,
    subscription_key INTEGER NOT NULL
);

-- +goose Down
DROP TABLE usage_key_log;
