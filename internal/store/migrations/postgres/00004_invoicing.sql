-- +goose Up
-- Billing periods, invoices and credit notes (internal/invoicing,
-- store/invoicing.go). Instants are microseconds since the epoch (UTC);
-- amounts are plain decimal TEXT inside the documents, never floating
-- point. Every tenant-owned table is keyed by subscription_id, the column a
-- sharded deployment distributes by (invoice_counters, keyed by sequence,
-- would be a reference table).

-- The gapless invoice-number sequences: one per billing account, named by
-- its prefix (accounts whose prefixes coincide share one), holding the last
-- number issued. The issuing transaction locks the row (FOR UPDATE), so
-- numbers are taken in commit order and a rolled-back issue burns none.
CREATE TABLE invoice_counters (
    series          TEXT   PRIMARY KEY,
    last_number     BIGINT NOT NULL
);

-- Closed billing periods. Open periods are computed, never stored.
CREATE TABLE billing_periods (
    subscription_id TEXT   NOT NULL,
    name            TEXT   NOT NULL,
    start_us        BIGINT NOT NULL,
    end_us          BIGINT NOT NULL,
    closed_us       BIGINT NOT NULL,
    invoice_name    TEXT   NOT NULL,
    PRIMARY KEY (subscription_id, name),
    UNIQUE (subscription_id, start_us)
);

-- Issued invoices and credit notes. header is the document without its
-- lines (JSON), lines its lines (JSON array): lists read only headers.
CREATE TABLE invoices (
    subscription_id TEXT   NOT NULL,
    name            TEXT   NOT NULL,
    kind            TEXT   NOT NULL,
    billing_account TEXT   NOT NULL,
    number          BIGINT NOT NULL,
    period_name     TEXT   NOT NULL,
    period_start_us BIGINT NOT NULL,
    period_end_us   BIGINT NOT NULL,
    issued_us       BIGINT NOT NULL,
    corrects        TEXT   NOT NULL,
    issued_by       TEXT   NOT NULL,
    header          TEXT   NOT NULL,
    lines           TEXT   NOT NULL,
    pdf_sha256      TEXT   NOT NULL,
    PRIMARY KEY (subscription_id, name)
);
CREATE INDEX invoices_by_name ON invoices (name);
CREATE INDEX invoices_by_account ON invoices (billing_account, number);
-- One invoice per closed period (credit notes are not limited): the loser
-- of two concurrent closes finds the winner's invoice.
CREATE UNIQUE INDEX invoices_one_per_period ON invoices (subscription_id, period_name) WHERE kind = 'Invoice';

-- The PDF of each document, rendered once at issue.
CREATE TABLE invoice_pdfs (
    subscription_id TEXT  NOT NULL,
    name            TEXT  NOT NULL,
    pdf             BYTEA NOT NULL,
    sha256          TEXT  NOT NULL,
    PRIMARY KEY (subscription_id, name)
);

-- The billing account admin's opt-in letting a subscription's roles see
-- its invoices.
CREATE TABLE invoice_access (
    subscription_id TEXT    PRIMARY KEY,
    enabled         BOOLEAN NOT NULL,
    updated_us      BIGINT  NOT NULL
);

-- Issued documents, their PDFs and closed periods never change.
-- +goose StatementBegin
CREATE FUNCTION reckon_refuse_change() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION '% is immutable: an issued invoice never changes', TG_TABLE_NAME USING ERRCODE = 'integrity_constraint_violation';
END;
$$;
-- +goose StatementEnd
CREATE TRIGGER invoices_immutable BEFORE UPDATE OR DELETE ON invoices FOR EACH ROW EXECUTE FUNCTION reckon_refuse_change();
CREATE TRIGGER invoices_immutable_truncate BEFORE TRUNCATE ON invoices FOR EACH STATEMENT EXECUTE FUNCTION reckon_refuse_change();
CREATE TRIGGER invoice_pdfs_immutable BEFORE UPDATE OR DELETE ON invoice_pdfs FOR EACH ROW EXECUTE FUNCTION reckon_refuse_change();
CREATE TRIGGER invoice_pdfs_immutable_truncate BEFORE TRUNCATE ON invoice_pdfs FOR EACH STATEMENT EXECUTE FUNCTION reckon_refuse_change();
CREATE TRIGGER billing_periods_immutable BEFORE UPDATE OR DELETE ON billing_periods FOR EACH ROW EXECUTE FUNCTION reckon_refuse_change();
CREATE TRIGGER billing_periods_immutable_truncate BEFORE TRUNCATE ON billing_periods FOR EACH STATEMENT EXECUTE FUNCTION reckon_refuse_change();

-- +goose Down
DROP TABLE invoice_access;
DROP TABLE invoice_pdfs;
DROP TABLE invoices;
DROP TABLE billing_periods;
DROP TABLE invoice_counters;
DROP FUNCTION reckon_refuse_change();
