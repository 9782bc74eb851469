package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"time"

	"github.com/reckon-billing/reckon/internal/account"
	"github.com/reckon-billing/reckon/internal/catalog"
	"github.com/reckon-billing/reckon/internal/charges"
	"github.com/reckon-billing/reckon/internal/export"
	"github.com/reckon-billing/reckon/internal/exportjob"
	"github.com/reckon-billing/reckon/internal/invoicepdf"
	"github.com/reckon-billing/reckon/internal/invoicing"
	"github.com/reckon-billing/reckon/internal/store"
	"github.com/reckon-billing/reckon/internal/usage"
)

// runExport is "reckon export focus|details --out DIR --from DATE --to DATE":
// FOCUS 1.2 or cost-and-usage-details files of one subscription, of a
// billing account's, or of every subscription, written straight from the
// store into a folder of size-partitioned files with a manifest. Closed
// periods are exported as they were invoiced, so their totals equal the
// invoices'.
func runExport(ctx context.Context, env environment, args []string) error {
	if len(args) == 0 || (args[0] != "focus" && args[0] != "details") {
		fmt.Fprintln(env.stderr, "usage: reckon export focus|details --out DIR --from YYYY-MM-DD --to YYYY-MM-DD [--subscription ID | --billing-account NAME] [flags]")
		return exitError(2)
	}
	kind := args[0]
	fs := newFlagSet(env, "export "+kind)
	out := fs.String("out", "", "folder to write (created; must not hold an export already)")
	from := fs.String("from", "", "first day (UTC)")
	to := fs.String("to", "", "day after the last (UTC)")
	sub := fs.String("subscription", "", "only this subscription")
	acct := fs.String("billing-account", "", "only the subscriptions of this billing account")
	hourly := fs.Bool("hourly", false, "one row per hour instead of per day")
	format := fs.String("format", "csv", "csv, csv.gz or parquet")
	maxMiB := fs.Int64("max-file-mib", 256, "size at which a part file is closed and the next begun")
	provider := fs.String("provider-name", "Reckon operator", "ProviderName, PublisherName and InvoiceIssuerName of FOCUS rows")
	db := fs.String("db", "", "database DSN (postgres://…); empty for SQLite in --data-dir")
	dataDir := fs.String("data-dir", "./reckon-data", "data directory of the SQLite store")
	if err := parseFlags(fs, env, args[1:]); err != nil {
		return err
	}
	start, err1 := time.Parse(time.DateOnly, *from)
	end, err2 := time.Parse(time.DateOnly, *to)
	if *out == "" || err1 != nil || err2 != nil || !start.Before(end) || fs.NArg() > 0 {
		return fmt.Errorf("export: --out, and --from before --to (YYYY-MM-DD), are required")
	}
	granularity := charges.Daily
	if *hourly {
		granularity = charges.Hourly
	}
	st, err := store.Open(ctx, *db, *dataDir, store.Options{})
	if err != nil {
		return err
	}
	defer st.Close()
	clock := time.Now
	accounts := account.NewService(st, clock)
	cat := catalog.NewService(st, clock)
	usageSvc := usage.NewService(st, clock, slog.New(slog.NewTextHandler(io.Discard, nil)), usage.Config{})
	defer usageSvc.Close()
	invoices := invoicing.NewService(st, accounts, charges.NewService(accounts, cat, usageSvc, clock), invoicepdf.New(invoicepdf.Options{}), clock, invoicing.Config{})

	subs, err := accounts.List(ctx)
	if err != nil {
		return err
	}
	names := map[string]string{}
	for _, s := range subs {
		names[s.SubscriptionID] = s.DisplayName
	}
	opts := export.Options{Dir: *out, Format: export.Format(*format), MaxFileBytes: *maxMiB << 20}
	var w exportjob.Writer
	if kind == "focus" {
		w, err = export.NewFOCUSWriter(opts, export.FOCUSOptions{ProviderName: *provider, SubAccountName: func(id string) string { return names[id] }})
	} else {
		w, err = export.NewCostDetailsWriter(opts)
	}
	if err != nil {
		return err
	}
	var ids []string
	for _, s := range subs {
		if (*sub == "" || s.SubscriptionID == *sub) && (*acct == "" || s.BillingAccount == *acct) {
			ids = append(ids, s.SubscriptionID)
		}
	}
	if err := exportjob.Run(ctx, invoices, ids, start, end, granularity, w, nil); err != nil {
		return fmt.Errorf("export: %w", err)
	}
	m, err := w.Close()
	if err != nil {
		return err
	}
	fmt.Fprintf(env.stdout, "%s: %d rows in %d files\n", *out, m.RowCount, len(m.Files))
	for _, t := range m.Totals {
		fmt.Fprintf(env.stdout, "  %s %s (%d rows)\n", t.Cost, t.Currency, t.Rows)
	}
	return nil
}
