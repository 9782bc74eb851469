package portal

import (
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/reckon-billing/reckon/internal/catalog"
)

type operatorSummaryData struct {
	Subscriptions, Accounts, Principals, Assignments, Meters, Offers int
	CatalogVersion                                                   int64
	LastImport                                                       string
	Ingest                                                           ingestRate
}

type ingestRate struct {
	LastMinute, LastHour string
	PerMinute            int    // accepted records in the last minute
	PerMinuteText        string // PerMinute for the locale: "48,852"
	RequestsText         string // Requests for the locale
	// DuplicatesText, RejectedText and FailedText are the counts for the locale.
	DuplicatesText, RejectedText, FailedText string
	Accepted, Duplicates                     int
	Rejected, Failed                         int
	Requests                                 int
	LastCommit                               string
}

func (p *Portal) ingestRate(rc *reqCtx) ingestRate {
	rec := p.deps.Usage.Recent()
	loc := rc.loc
	r := ingestRate{LastMinute: loc.count(rec.LastMinute.Accepted) + " records/min",
		LastHour:  loc.count(rec.LastHour.Accepted) + " records in the last hour",
		PerMinute: rec.LastMinute.Accepted, PerMinuteText: loc.count(rec.LastMinute.Accepted), RequestsText: loc.count(rec.LastHour.Requests),
		Accepted: rec.LastHour.Accepted, Duplicates: rec.LastHour.Duplicates, Rejected: rec.LastHour.Rejected,
		Failed: rec.LastHour.Failed, Requests: rec.LastHour.Requests, LastCommit: "none since this node started",
		DuplicatesText: loc.count(rec.LastHour.Duplicates), RejectedText: loc.count(rec.LastHour.Rejected), FailedText: loc.count(rec.LastHour.Failed)}
	if !rec.LastCommit.IsZero() {
		r.LastCommit = rc.loc.dateTime(rec.LastCommit)
	}
	return r
}

// operatorSummary is the operator's home: counts and health at a glance.
func (p *Portal) operatorSummary(w http.ResponseWriter, r *http.Request, rc *reqCtx) error {
	ctx := r.Context()
	subs, err := p.deps.Accounts.List(ctx)
	if err != nil {
		return err
	}
	accounts := map[string]bool{}
	for _, s := range subs {
		accounts[s.BillingAccount] = true
	}
	ps, err := p.deps.Auth.Principals(ctx)
	if err != nil {
		return err
	}
	as, err := p.deps.Auth.Assignments(ctx, "")
	if err != nil {
		return err
	}
	meters, err := p.deps.Catalog.Meters(ctx)
	if err != nil {
		return err
	}
	offers, err := p.deps.Catalog.Offers(ctx)
	if err != nil {
		return err
	}
	v, err := p.deps.Catalog.CatalogVersion(ctx)
	if err != nil {
		return err
	}
	d := operatorSummaryData{Subscriptions: len(subs), Accounts: len(accounts), Principals: len(ps), Assignments: len(as),
		Meters: len(meters), Offers: len(offers), CatalogVersion: v, Ingest: p.ingestRate(rc), LastImport: "none kept"}
	if reps, err := p.deps.Catalog.ImportReports(ctx, 1); err == nil && len(reps) > 0 {
		d.LastImport = rc.loc.dateTime(reps[0].At)
	}
	p.render(w, r, rc, http.StatusOK, "operator", "Operator", d)
	return nil
}

type opSubRow struct {
	ID, Name, Account, State, Offer, Currency, Locale, Region, Created string
	BillingDay                                                         int
	Href                                                               string
}

// operatorSubscriptions lists every subscription.
func (p *Portal) operatorSubscriptions(w http.ResponseWriter, r *http.Request, rc *reqCtx) error {
	subs, err := p.deps.Accounts.List(r.Context())
	if err != nil {
		return err
	}
	var rows []opSubRow
	for _, s := range subs {
		rows = append(rows, opSubRow{ID: s.SubscriptionID, Name: s.DisplayName, Account: s.BillingAccount, State: s.State, Offer: s.OfferDurableID,
			Currency: s.Currency, Locale: s.Locale, Region: s.RegionInfo, BillingDay: s.BillingDay, Created: rc.loc.date(s.CreatedAt),
			Href: "/portal/subscriptions/" + s.SubscriptionID + "/overview"})
	}
	slices.SortFunc(rows, func(a, b opSubRow) int {
		if c := strings.Compare(a.Account, b.Account); c != 0 {
			return c
		}
		return strings.Compare(strings.ToLower(a.Name), strings.ToLower(b.Name))
	})
	p.render(w, r, rc, http.StatusOK, "operator_subscriptions", "Subscriptions", rows)
	return nil
}

type opPrincipalRow struct {
	ID, Name, Kind, Created string
	Secrets                 int
	Roles                   int
}

type opPrincipalsData struct {
	Principals  []opPrincipalRow
	Assignments []assignmentRow
}

// operatorPrincipals lists principals and every role assignment.
func (p *Portal) operatorPrincipals(w http.ResponseWriter, r *http.Request, rc *reqCtx) error {
	ctx := r.Context()
	ps, err := p.deps.Auth.Principals(ctx)
	if err != nil {
		return err
	}
	as, err := p.deps.Auth.Assignments(ctx, "")
	if err != nil {
		return err
	}
	roles := map[string]int{}
	names := map[string]string{}
	for _, a := range as {
		roles[a.PrincipalID]++
	}
	var d opPrincipalsData
	for _, pr := range ps {
		names[pr.ClientID] = pr.DisplayName
		d.Principals = append(d.Principals, opPrincipalRow{ID: pr.ClientID, Name: pr.DisplayName, Kind: pr.Kind, Created: rc.loc.date(pr.CreatedAt),
			Secrets: len(pr.Secrets), Roles: roles[pr.ClientID]})
	}
	for _, a := range as {
		d.Assignments = append(d.Assignments, assignmentRow{Principal: a.PrincipalID, PrincipalName: names[a.PrincipalID], Role: a.RoleDefinitionName,
			Scope: a.Scope, Created: rc.loc.date(a.CreatedAt)})
	}
	slices.SortFunc(d.Assignments, func(x, y assignmentRow) int {
		if c := strings.Compare(x.Principal, y.Principal); c != 0 {
			return c
		}
		return strings.Compare(x.Scope+x.Role, y.Scope+y.Role)
	})
	p.render(w, r, rc, http.StatusOK, "operator_principals", "Principals and roles", d)
	return nil
}

type importRow struct {
	At, Actor, Format, Offer, Currency, Locale string
	Items                                      int
	Meters, Rates, Terms, Texts                catalog.Counts
	Skipped                                    int
	Rejected                                   []catalog.Rejection
	Version                                    int64
}

// operatorImports lists the kept catalog import reports.
func (p *Portal) operatorImports(w http.ResponseWriter, r *http.Request, rc *reqCtx) error {
	reps, err := p.deps.Catalog.ImportReports(r.Context(), 100)
	if err != nil {
		return err
	}
	var rows []importRow
	for _, rep := range reps {
		res := rep.Result
		actor := rep.Actor
		if actor == "" {
			actor = "—"
		}
		rows = append(rows, importRow{At: rc.loc.dateTime(rep.At), Actor: actor, Format: res.Format, Offer: res.OfferDurableID,
			Currency: res.Currency, Locale: res.Locale, Items: res.Items, Meters: res.Meters, Rates: res.Rates, Terms: res.Terms,
			Texts: res.Texts, Skipped: res.Skipped, Rejected: res.Rejected, Version: res.CatalogVersion})
	}
	p.render(w, r, rc, http.StatusOK, "operator_imports", "Catalog imports", rows)
	return nil
}

type recentRow struct {
	At, ID, Subscription, Meter, Quantity, Usage string
}

type rejectionRow struct {
	At, ID, Code, Message string
	Index                 int
}

type ingestionData struct {
	Rate       ingestRate
	Records    []recentRow
	Rejections []rejectionRow
	Margin     string
}

// operatorIngestion shows this node's recent ingestion: rate, last
// records, last rejections and why.
func (p *Portal) operatorIngestion(w http.ResponseWriter, r *http.Request, rc *reqCtx) error {
	rec := p.deps.Usage.Recent()
	d := ingestionData{Rate: p.ingestRate(rc), Margin: p.deps.Usage.SettleMargin().String()}
	for _, x := range rec.Records {
		d.Records = append(d.Records, recentRow{At: rc.loc.dateTime(x.At), ID: x.ID, Subscription: x.SubscriptionID, Meter: x.MeterID,
			Quantity: x.Quantity, Usage: x.Start.Format(time.DateTime) + " – " + x.End.Format("15:04")})
	}
	for _, x := range rec.Rejections {
		d.Rejections = append(d.Rejections, rejectionRow{At: rc.loc.dateTime(x.At), ID: x.ID, Code: x.Code, Message: x.Message, Index: x.Index})
	}
	p.render(w, r, rc, http.StatusOK, "operator_ingestion", "Ingestion", d)
	return nil
}
