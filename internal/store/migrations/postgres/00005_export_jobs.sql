-- +goose Up
-- Background export jobs (internal/exportjob, store/exportjobs.go), shared
-- by every node so that any node answers for any job. The files live in
-- the export directory (--export-dir), shared storage when several nodes
-- run; the row holds the job's state, progress and manifest. node is the
-- node that runs the job and heartbeat_us when it last said so: a Running
-- job whose heartbeat is stale is marked Failed by whichever node looks at
-- it. Instants are microseconds since the epoch (UTC).
CREATE TABLE export_jobs (
    id                 TEXT   PRIMARY KEY,
    state              TEXT   NOT NULL,
    request            TEXT   NOT NULL, -- JSON of exportjob.Request
    created_us         BIGINT NOT NULL,
    finished_us        BIGINT,
    subscriptions      INTEGER NOT NULL,
    subscriptions_done INTEGER NOT NULL DEFAULT 0,
    rows_written       BIGINT NOT NULL DEFAULT 0,
    error              TEXT   NOT NULL DEFAULT '',
    manifest           TEXT,            -- JSON of export.Manifest, once Succeeded
    node               TEXT   NOT NULL,
    heartbeat_us       BIGINT NOT NULL
);
CREATE INDEX export_jobs_created ON export_jobs (created_us DESC);

-- +goose Down
DROP TABLE export_jobs;
