-- +goose Up
-- Billing periods, invoices and credit notes (internal/invoicing,
-- store/invoicing.go). Instants are microseconds since the epoch (UTC);
-- amounts are plain decimal TEXT inside the documents, never REAL. Every
-- tenant-owned table is keyed by subscription_id, the column a sharded
-- deployment distributes by.

-- The gapless invoice-number sequences: one per billing account, named by
-- its prefix (accounts whose prefixes coincide share one), holding the last
-- number issued. Taken in the transaction that stores the document, so a
-- rolled-back issue never burns a number (SQLite: the single writer).
CREATE TABLE invoice_counters (
    series          TEXT    PRIMARY KEY,
    last_number     INTEGER NOT NULL
);

-- Closed billing periods. Open periods are computed, never stored.
CREATE TABLE billing_periods (
    subscription_id TEXT    NOT NULL,
    name            TEXT    NOT NULL,
    start_us        INTEGER NOT NULL,
    end_us          INTEGER NOT NULL,
    closed_us       INTEGER NOT NULL,
    invoice_name    TEXT    NOT NULL,
    PRIMARY KEY (subscription_id, name),
    UNIQUE (subscription_id, start_us)
);

-- Issued invoices and credit notes. header is the document without its
-- lines (JSON), lines its lines (JSON array): lists read only headers.
CREATE TABLE invoices (
    subscription_id TEXT    NOT NULL,
    name            TEXT    NOT NULL,
    kind            TEXT    NOT NULL,
    billing_account TEXT    NOT NULL,
    number          INTEGER NOT NULL,
    period_name     TEXT    NOT NULL,
    period_start_us INTEGER NOT NULL,
    period_end_us   INTEGER NOT NULL,
    issued_us       INTEGER NOT NULL,
    corrects        TEXT    NOT NULL,
    issued_by       TEXT    NOT NULL,
    header          TEXT    NOT NULL,
    lines           TEXT    NOT NULL,
    pdf_sha256      TEXT    NOT NULL,
    PRIMARY KEY (subscription_id, name)
);
CREATE INDEX invoices_by_name ON invoices (name);
CREATE INDEX invoices_by_account ON invoices (billing_account, number);
-- One invoice per closed period (credit notes are not limited).
CREATE UNIQUE INDEX invoices_one_per_period ON invoices (subscription_id, period_name) WHERE kind = 'Invoice';

-- The PDF of each document, rendered once at issue.
CREATE TABLE invoice_pdfs (
    subscription_id TEXT NOT NULL,
    name            TEXT NOT NULL,
    pdf             BLOB NOT NULL,
    sha256          TEXT NOT NULL,
    PRIMARY KEY (subscription_id, name)
);

-- The billing account admin's opt-in letting a subscription's roles see
-- its invoices.
CREATE TABLE invoice_access (
    subscription_id TEXT    PRIMARY KEY,
    enabled         INTEGER NOT NULL,
    updated_us      INTEGER NOT NULL
);

-- Issued documents, their PDFs and closed periods never change.
-- +goose StatementBegin
CREATE TRIGGER invoices_immutable_update BEFORE UPDATE ON invoices
BEGIN SELECT RAISE(ABORT, 'an issued invoice is immutable'); END;
-- +goose StatementEnd
-- +goose StatementBegin
CREATE TRIGGER invoices_immutable_delete BEFORE DELETE ON invoices
BEGIN SELECT RAISE(ABORT, 'an issued invoice is immutable'); END;
-- +goose StatementEnd
-- +goose StatementBegin
CREATE TRIGGER invoice_pdfs_immutable_update BEFORE UPDATE ON invoice_pdfs
BEGIN SELECT RAISE(ABORT, 'an issued invoice is immutable'); END;
-- +goose StatementEnd
-- +goose StatementBegin
CREATE TRIGGER invoice_pdfs_immutable_delete BEFORE DELETE ON invoice_pdfs
BEGIN SELECT RAISE(ABORT, 'an issued invoice is immutable'); END;
-- +goose StatementEnd
-- +goose StatementBegin
CREATE TRIGGER billing_periods_immutable_update BEFORE UPDATE ON billing_periods
BEGIN SELECT RAISE(ABORT, 'a closed billing period is immutable'); END;
-- +goose StatementEnd
-- +goose StatementBegin
CREATE TRIGGER billing_periods_immutable_delete BEFORE DELETE ON billing_periods
BEGIN SELECT RAISE(ABORT, 'a closed billing period is immutable'); END;
-- +goose StatementEnd

-- +goose Down
DROP TABLE invoice_access;
DROP TABLE invoice_pdfs;
DROP TABLE invoices;
DROP TABLE billing_periods;
DROP TABLE invoice_counters;
