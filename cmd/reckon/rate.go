package main

import (
	"context"
	"encoding/json"
	"fmt"
	"net/url"
	"text/tabwriter"

	"github.com/reckon-billing/reckon/internal/charges"
)

// runRate is "reckon rate": a subscription's estimated charges for a
// period (its current billing period by default), from a server.
func runRate(ctx context.Context, env environment, args []string) error {
	fs := newFlagSet(env, "rate")
	var cf clientFlags
	cf.register(fs)
	sub := fs.String("subscription", "", "subscription id (required)")
	from := fs.String("from", "", "start of the period (YYYY-MM-DD or RFC 3339, a whole hour); with --to")
	to := fs.String("to", "", "end of the period, exclusive")
	asJSON := fs.Bool("json", false, "print the charges as JSON")
	dataDir := fs.String("data-dir", "./reckon-data", "data directory whose admin-token to use when no token is given")
	if err := parseFlags(fs, env, args); err != nil {
		return err
	}
	if *sub == "" || fs.NArg() > 0 {
		fmt.Fprintln(env.stderr, "usage: reckon rate --subscription ID [--from DATE --to DATE] [--json]")
		return exitError(2)
	}
	c, err := cf.client(env, *dataDir)
	if err != nil {
		return err
	}
	q := url.Values{"api-version": {"2015-06-01-preview"}}
	if *from != "" || *to != "" {
		q.Set("periodStart", *from)
		q.Set("periodEnd", *to)
	}
	var raw json.RawMessage
	if _, err := c.do(ctx, "GET", "/subscriptions/"+url.PathEscape(*sub)+"/providers/Microsoft.Commerce/charges?"+q.Encode(), "", nil, &raw); err != nil {
		return err
	}
	if *asJSON {
		_, err := fmt.Fprintln(env.stdout, string(raw))
		return err
	}
	var st charges.Statement
	if err := json.Unmarshal(raw, &st); err != nil {
		return err
	}
	fmt.Fprintf(env.stdout, "Subscription %s, offer %s, %s\nUsage from %s to %s, reported before %s (estimate)\n\n",
		st.SubscriptionID, st.OfferDurableID, st.Currency, st.PeriodStart.Format("2006-01-02 15:04"), st.PeriodEnd.Format("2006-01-02 15:04"),
		st.ReportedBefore.Format("2006-01-02 15:04:05"))
	tw := tabwriter.NewWriter(env.stdout, 0, 4, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "line\tmeter\tquantity\tincluded\tamount\t")
	for _, l := range st.Lines {
		name := l.MeterName
		if name == "" {
			name = "-"
		}
		if l.Kind == "Usage" {
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t\n", l.Kind, name, l.Quantity, l.IncludedQuantityUsed, l.Amount)
		} else {
			fmt.Fprintf(tw, "%s\t%s\t\t\t%s\t\n", l.Kind, name, l.Amount)
		}
	}
	fmt.Fprintf(tw, "usage total\t\t\t\t%s\t\ntotal\t\t\t\t%s %s\t\n", st.UsageTotal, st.Total, st.Currency)
	return tw.Flush()
}
