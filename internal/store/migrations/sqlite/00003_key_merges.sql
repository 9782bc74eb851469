-- +goose Up
-- Counts the merges of usage_key_log into usage_record_keys, so that a
-- process can tell whether another one merged (store/keylog.go).
CREATE TABLE usage_key_merges (
    id         INTEGER PRIMARY KEY CHECK (id = 1),
    generation INTEGER NOT NULL
);
INSERT INTO usage_key_merges (id, generation) VALUES (1, 0);

-- +goose Down
DROP TABLE usage_key_merges;
