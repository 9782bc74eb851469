package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/url"
	"os"
	"time"

	"github.com/reckon-billing/reckon/internal/catalog"
	"github.com/reckon-billing/reckon/internal/store"
)

// runCatalog is "reckon catalog import FILE": the CLI mirror of POST
// /admin/v1/catalog/import, to a server or, with --direct, into a store.
func runCatalog(ctx context.Context, env environment, args []string) error {
	if len(args) == 0 || args[0] != "import" {
		fmt.Fprintln(env.stderr, "usage: reckon catalog import --format ratecard|retail-prices [flags] FILE")
		return exitError(2)
	}
	fs := newFlagSet(env, "catalog import")
	var cf clientFlags
	cf.register(fs)
	format := fs.String("format", "", "ratecard (a RateCard response body) or retail-prices (Azure Retail Prices items: {\"Items\":[…]} pages or NDJSON)")
	offer := fs.String("offer", "", "offer durable id the prices are for (required for ratecard; retail-prices defaults to MS-AZR-0003P)")
	currency := fs.String("currency", "", "currency of the prices (default: from the file)")
	locale := fs.String("locale", "", "language of the names (default en-US, or the RateCard's Locale)")
	region := fs.String("region", "", "RegionInfo country the offer becomes sold in (ISO 3166 alpha-2)")
	effective := fs.String("effective-date", "", "effective date for retail items without one (YYYY-MM-DD or RFC 3339)")
	direct := fs.Bool("direct", false, "write straight into the store (--db, --data-dir) instead of through a server")
	db := fs.String("db", "", "database DSN for --direct (postgres://…); empty for SQLite in --data-dir")
	dataDir := fs.String("data-dir", "./reckon-data", "data directory for --direct, or whose admin-token to use")
	if err := parseFlags(fs, env, args[1:]); err != nil {
		return err
	}
	if fs.NArg() != 1 || *format == "" {
		fmt.Fprintln(env.stderr, "usage: reckon catalog import --format ratecard|retail-prices [flags] FILE   (FILE may be - for standard input)")
		return exitError(2)
	}
	var in io.Reader = env.stdin
	if name := fs.Arg(0); name != "-" {
		f, err := os.Open(name)
		if err != nil {
			return err
		}
		defer f.Close()
		in = f
	}
	var res catalog.ImportResult
	if *direct || *db != "" {
		p := catalog.ImportParams{OfferDurableID: *offer, Currency: *currency, Locale: *locale, RegionInfo: *region}
		if *effective != "" {
			t, err := time.Parse(time.DateOnly, *effective)
			if err != nil {
				if t, err = time.Parse(time.RFC3339, *effective); err != nil {
					return fmt.Errorf("catalog import: --effective-date %q is not a date", *effective)
				}
			}
			p.EffectiveDate = t.UTC()
		}
		st, err := store.Open(ctx, *db, *dataDir, store.Options{})
		if err != nil {
			return err
		}
		defer st.Close()
		if res, err = catalog.NewService(st, time.Now).Import(catalog.WithImportActor(ctx, "cli (--direct)"), *format, p, in); err != nil {
			return err
		}
	} else {
		c, err := cf.client(env, *dataDir)
		if err != nil {
			return err
		}
		body, err := io.ReadAll(in)
		if err != nil {
			return err
		}
		q := url.Values{"format": {*format}}
		for k, v := range map[string]string{"offerDurableId": *offer, "currency": *currency, "locale": *locale, "regionInfo": *region, "effectiveDate": *effective} {
			if v != "" {
				q.Set(k, v)
			}
		}
		if _, err := c.do(ctx, "POST", "/admin/v1/catalog/import?"+q.Encode(), "application/json", body, &res); err != nil {
			return err
		}
	}
	fmt.Fprintf(env.stderr, "%s %s %s: %d items; meters %d added, %d changed, %d unchanged; rates %d added, %d changed, %d unchanged; terms %d added, %d changed; %d rejected, %d skipped\n",
		res.OfferDurableID, res.Currency, res.Locale, res.Items, res.Meters.Added, res.Meters.Changed, res.Meters.Unchanged,
		res.Rates.Added, res.Rates.Changed, res.Rates.Unchanged, res.Terms.Added, res.Terms.Changed, len(res.Rejected), res.Skipped)
	enc := json.NewEncoder(env.stdout)
	enc.SetIndent("", "  ")
	return enc.Encode(res)
}
