package httpapi

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"fmt"
	"math"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/reckon-billing/reckon/internal/account"
	"github.com/reckon-billing/reckon/internal/auth"
	"github.com/reckon-billing/reckon/internal/billing"
	"github.com/reckon-billing/reckon/internal/invoicing"
)

// The subscription-level Billing API (Microsoft.Billing, preview
// api-versions) serves a subscription's invoices and billing periods; the
// billing-account API (billingaccounts.go) serves the same invoices by
// billing account; download.go signs and serves the PDFs.
//
// Decisions where Azure is silent (azure-contract.md §3, DESIGN.md):
//   - Dates are whole UTC days. invoicePeriodEndDate and
//     billingPeriodEndDate are the period's exclusive end, as in Azure's own
//     examples (period 201702-1 runs 2017-01-01 to 2017-02-01); $filter
//     compares against these dates.
//   - Lists are newest first by period end, then issue time, then name.
//     Credit notes are listed with the invoices (they are documents to
//     download); "latest" is the newest invoice that is not a credit note.
//   - An invoice is attributed (billingPeriodIds) to the period it was
//     issued for; a period's invoiceIds are the invoices attributed to it
//     (credit notes included), so the two agree.
//   - A Deleted subscription is not supported by this API
//     (400 UnsupportedSubscriptionType); its invoices stay available by
//     billing account.
//   - Billing periods are readable by anyone who reads the subscription;
//     their invoiceIds are shown only to callers who may see the invoices.
//   - $skiptoken is opaque and tamper-evident: the position after the last
//     item served, bound to the query, so a page never repeats or skips an
//     item when invoices are issued between two pages.

// Supported api-versions.
var (
	legacyInvoiceVersions     = []string{"2017-02-27-preview", "2017-04-24-preview", "2018-03-01-preview"}
	legacyPeriodVersions      = []string{"2017-04-24-preview", "2018-03-01-preview"}
	billingOperationsVersions = []string{"2017-02-27-preview", "2017-04-24-preview", "2018-03-01-preview", "2020-05-01", "2024-04-01"}
)

// Defaults of the invoice APIs' configuration.
const (
	defaultDownloadLinkLifetime = time.Hour
	defaultInvoicePageSize      = 100
	// maxLegacyTop is the largest $top of the subscription-level lists.
	maxLegacyTop = 100
	// auditInvoiceAccessPut is the audit action of an opt-in change.
	auditInvoiceAccessPut = "invoiceAccess.put"
	// auditPeriodClose is the audit action of a period closed on demand.
	auditPeriodClose = "billingPeriod.close"
)

// invoiceRoutes registers the invoice, billing-period and download routes
// when the server has an invoicing service.
func (a *API) invoiceRoutes() {
	if a.deps.Invoicing == nil {
		return
	}
	if a.cfg.DownloadLinkLifetime <= 0 {
		a.cfg.DownloadLinkLifetime = defaultDownloadLinkLifetime
	}
	if a.cfg.InvoicePageSize <= 0 {
		a.cfg.InvoicePageSize = defaultInvoicePageSize
	}
	if len(a.deps.DownloadKey) == 0 {
		// Links then work only on this process, until it restarts.
		a.deps.DownloadKey = make([]byte, 32)
		rand.Read(a.deps.DownloadKey)
		if a.log != nil {
			a.log.Warn("no invoice download key configured: download links are signed with a key of this process only")
		}
	}
	get := func(need access, pattern string, h func(http.ResponseWriter, *http.Request) error) {
		a.arm.handle(http.MethodGet, pattern, a.authenticate(need, a.serve(h)))
	}
	const legacy = "/subscriptions/{subscriptionId}/providers/Microsoft.Billing/"
	get(accessSubscription, legacy+"invoices", a.legacyInvoices)
	get(accessSubscription, legacy+"invoices/latest", a.legacyLatestInvoice) // before {invoiceName}: the literal wins
	get(accessSubscription, legacy+"invoices/{invoiceName}", a.legacyInvoice)
	get(accessSubscription, legacy+"billingPeriods", a.legacyPeriods)
	get(accessSubscription, legacy+"billingPeriods/{billingPeriodName}", a.legacyPeriod)
	get(accessAny, "/providers/Microsoft.Billing/operations", a.billingOperations)
	a.billingAccountRoutes()

	a.mux.HandleFunc("GET "+downloadPath+"{file}", a.serve(a.downloadInvoicePDF))
	a.routes = append(a.routes, "PUT /admin/v1/subscriptions/{subscriptionId}/invoiceAccess",
		"GET /admin/v1/subscriptions/{subscriptionId}/invoiceAccess")
	a.mux.Handle("PUT /admin/v1/subscriptions/{subscriptionId}/invoiceAccess", a.authenticate(accessAny, a.serve(a.putInvoiceAccess)))
	a.mux.Handle("GET /admin/v1/subscriptions/{subscriptionId}/invoiceAccess", a.authenticate(accessAny, a.serve(a.getInvoiceAccess)))
	a.operator("POST /admin/v1/subscriptions/{subscriptionId}/billingPeriods/{billingPeriodName}/close", a.serve(a.closePeriod))
	a.operator("POST /admin/v1/invoices/{invoiceName}/creditNotes", a.serve(a.issueCreditNote))
}

// creditNoteInput is the body of POST /admin/v1/invoices/{name}/creditNotes:
// a reason, and the lines to credit (positive amounts); no lines credits
// the whole invoice.
type creditNoteInput struct {
	Reason string           `json:"reason"`
	Lines  []invoicing.Line `json:"lines,omitempty"`
}

// issueCreditNote issues a credit note correcting an issued invoice (which
// itself never changes) and answers it, 201.
func (a *API) issueCreditNote(w http.ResponseWriter, r *http.Request) error {
	var in creditNoteInput
	if err := decodeBody(w, r, &in); err != nil {
		return err
	}
	actor := identityOf(r).PrincipalID
	cn, err := a.deps.Invoicing.IssueCreditNote(r.Context(), actor, r.PathValue("invoiceName"), in.Reason, in.Lines)
	if err != nil {
		return err
	}
	if err := a.deps.Auth.Record(r.Context(), auth.Event{Actor: actor, Action: "creditNote.issue", Target: cn.Name,
		Detail: "corrects " + cn.Corrects, Remote: r.RemoteAddr, Success: true}); err != nil {
		a.log.WarnContext(r.Context(), "audit of a credit note failed", "err", err, "creditNote", cn.Name)
	}
	writeJSON(w, http.StatusCreated, cn)
	return nil
}

// serve adapts a handler that returns an error.
func (a *API) serve(h func(w http.ResponseWriter, r *http.Request) error) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if err := h(w, r); err != nil {
			writeError(w, r, a.log, err)
		}
	}
}

// invoiceViewer decides, for one request, which invoices the caller may
// see: the Account Admin of the invoice's billing account always, a role
// of its subscription after the opt-in (auth.Grants.CanSeeInvoices).
type invoiceViewer struct {
	a     *API
	id    *auth.Identity
	optIn map[string]bool
}

func (a *API) viewer(r *http.Request) *invoiceViewer {
	return &invoiceViewer{a: a, id: identityOf(r), optIn: map[string]bool{}}
}

// canSee reports whether the caller may see the invoices of subscription
// sub of billing account acct.
func (v *invoiceViewer) canSee(ctx context.Context, sub, acct string) (bool, error) {
	g := v.id.Grants
	if g.IsAccountAdmin(acct) {
		return true, nil
	}
	if !g.CanReadSubscription(sub) {
		return false, nil // no role that an opt-in could open
	}
	on, ok := v.optIn[sub]
	if !ok {
		var err error
		if on, err = v.a.deps.Invoicing.InvoiceAccess(ctx, sub); err != nil {
			return false, err
		}
		v.optIn[sub] = on
	}
	return g.CanSeeInvoices(sub, acct, on), nil
}

// invoiceNotFound is the answer for an invoice that does not exist or is
// not where the path says.
func invoiceNotFound(name string) error {
	return billing.NotFound("InvoiceNotFound", "invoiceName", "Invoice '%s' was not found.", clip(name))
}

// wireDate is the date format of the subscription-level API.
const wireDate = "2006-01-02"

func dateOf(t time.Time) string { return t.UTC().Format(wireDate) }

// legacySubscription checks the api-version and the subscription of a
// subscription-level Billing call.
func (a *API) legacySubscription(r *http.Request, versions []string) (armQuery, string, account.Subscription, error) {
	q, err := parseARMQuery(r.URL.RawQuery)
	if err != nil {
		return q, "", account.Subscription{}, err
	}
	version, err := checkAPIVersion(q, versions)
	if err != nil {
		return q, "", account.Subscription{}, err
	}
	id, ok := billing.ParseGUID(r.PathValue("subscriptionId"))
	if !ok {
		return q, "", account.Subscription{}, badSubscriptionID(r)
	}
	s, err := a.deps.Accounts.Get(r.Context(), id)
	if err != nil {
		return q, "", account.Subscription{}, err
	}
	if s.State == "Deleted" {
		return q, "", account.Subscription{}, &billing.Error{Kind: billing.KindInvalid, Code: "UnsupportedSubscriptionType", Target: "subscriptionId",
			Message: fmt.Sprintf("Subscription %s is not supported.", id)}
	}
	return q, version, s, nil
}

// legacyInvoiceSubscription is legacySubscription for the invoice
// operations: the caller must also be allowed to see the invoices.
func (a *API) legacyInvoiceSubscription(r *http.Request, v *invoiceViewer) (armQuery, string, account.Subscription, error) {
	q, version, s, err := a.legacySubscription(r, legacyInvoiceVersions)
	if err != nil {
		return q, version, s, err
	}
	ok, err := v.canSee(r.Context(), s.SubscriptionID, s.BillingAccount)
	if err != nil {
		return q, version, s, err
	}
	if !ok {
		return q, version, s, forbidden(r, v.id, "/subscriptions/"+s.SubscriptionID)
	}
	return q, version, s, nil
}

// hasPeriodLinks reports whether an api-version links invoices and periods
// (2017-04-24-preview and later).
func hasPeriodLinks(version string) bool { return version != "2017-02-27-preview" }

type legacyInvoiceJSON struct {
	ID         string                `json:"id"`
	Name       string                `json:"name"`
	Type       string                `json:"type"`
	Properties legacyInvoiceProperty `json:"properties"`
}

type legacyInvoiceProperty struct {
	DownloadURL            *downloadURLJSON `json:"downloadUrl,omitempty"`
	InvoicePeriodStartDate string           `json:"invoicePeriodStartDate"`
	InvoicePeriodEndDate   string           `json:"invoicePeriodEndDate"`
	BillingPeriodIDs       []string         `json:"billingPeriodIds,omitempty"`
}

type downloadURLJSON struct {
	ExpiryTime string `json:"expiryTime"`
	URL        string `json:"url"`
}

func legacyInvoiceID(sub, name string) string {
	return "/subscriptions/" + sub + "/providers/Microsoft.Billing/invoices/" + name
}

func legacyPeriodID(sub, name string) string {
	return "/subscriptions/" + sub + "/providers/Microsoft.Billing/billingPeriods/" + name
}

// invoicePeriods are the billing periods an invoice is attributed to: the
// one it was issued for (a credit note: the one of the invoice it
// corrects). Late usage it carries names its original period on the
// invoice's lines and PDF, not here: the lists are read without lines.
func invoicePeriods(inv *invoicing.Invoice) []string {
	if inv.PeriodName == "" {
		return nil
	}
	return []string{inv.PeriodName}
}

func (a *API) legacyInvoiceJSON(r *http.Request, version string, inv *invoicing.Invoice, withURL bool) legacyInvoiceJSON {
	j := legacyInvoiceJSON{ID: legacyInvoiceID(inv.SubscriptionID, inv.Name), Name: inv.Name, Type: "Microsoft.Billing/invoices",
		Properties: legacyInvoiceProperty{InvoicePeriodStartDate: dateOf(inv.PeriodStart), InvoicePeriodEndDate: dateOf(inv.PeriodEnd)}}
	if withURL {
		u, exp := a.downloadLink(r, inv.Name)
		j.Properties.DownloadURL = &downloadURLJSON{ExpiryTime: exp.Format(time.RFC3339), URL: u}
	}
	if hasPeriodLinks(version) {
		j.Properties.BillingPeriodIDs = []string{}
		for _, p := range invoicePeriods(inv) {
			j.Properties.BillingPeriodIDs = append(j.Properties.BillingPeriodIDs, legacyPeriodID(inv.SubscriptionID, p))
		}
	}
	return j
}

// invoiceCursor is an invoice's place in a list: newest first by period
// end, then issue time, then name.
func invoiceCursor(inv *invoicing.Invoice) listCursor {
	return listCursor{T1: inv.PeriodEnd.Unix(), T2: inv.IssuedAt.UnixNano(), Name: inv.Name}
}

// sortInvoices orders invoices newest first.
func sortInvoices(invs []invoicing.Invoice) {
	slices.SortFunc(invs, func(x, y invoicing.Invoice) int { return invoiceCursor(&x).compare(invoiceCursor(&y)) })
}

// legacyInvoices is Invoices_List.
func (a *API) legacyInvoices(w http.ResponseWriter, r *http.Request) error {
	v := a.viewer(r)
	q, version, s, err := a.legacyInvoiceSubscription(r, v)
	if err != nil {
		return err
	}
	expand := false
	if e, ok := q.get("$expand"); ok && e != "" {
		if !strings.EqualFold(strings.TrimSpace(e), "downloadUrl") {
			return invalid("InvalidProperty", "$expand", "The $expand value '%s' is not supported; the only value is downloadUrl.", clip(e))
		}
		expand = true
	}
	filter, top, digest, cur, err := a.legacyListQuery(q, "legacy-invoices", s.SubscriptionID, invoiceFilterFields)
	if err != nil {
		return err
	}
	invs, err := a.deps.Invoicing.Invoices(r.Context(), s.SubscriptionID)
	if err != nil {
		return err
	}
	sortInvoices(invs)
	var sel []invoicing.Invoice
	for i := range invs {
		inv := &invs[i]
		if filter.match(map[string]time.Time{"invoicePeriodStartDate": inv.PeriodStart, "invoicePeriodEndDate": inv.PeriodEnd}) {
			sel = append(sel, *inv)
		}
	}
	page, next := pageOf(sel, func(inv *invoicing.Invoice) listCursor { return invoiceCursor(inv) }, cur, 0, top, a.cfg.InvoicePageSize)
	out := listJSON[legacyInvoiceJSON]{Value: make([]legacyInvoiceJSON, 0, len(page))}
	for i := range page {
		out.Value = append(out.Value, a.legacyInvoiceJSON(r, version, &page[i], expand))
	}
	if next != nil {
		out.NextLink = a.nextLink(r, q, digest, *next)
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}

// listJSON is an ARM list: a page of values and the link to the next.
type listJSON[T any] struct {
	Value    []T    `json:"value"`
	NextLink string `json:"nextLink,omitempty"`
}

// legacyInvoice is Invoices_Get; the download link is always included.
func (a *API) legacyInvoice(w http.ResponseWriter, r *http.Request) error {
	_, version, s, err := a.legacyInvoiceSubscription(r, a.viewer(r))
	if err != nil {
		return err
	}
	name := r.PathValue("invoiceName")
	inv, err := a.deps.Invoicing.Invoice(r.Context(), name)
	if err != nil {
		return err
	}
	if inv.SubscriptionID != s.SubscriptionID {
		return invoiceNotFound(name)
	}
	writeJSON(w, http.StatusOK, a.legacyInvoiceJSON(r, version, &inv, true))
	return nil
}

// legacyLatestInvoice is Invoices_GetLatest: the newest invoice that is not
// a credit note.
func (a *API) legacyLatestInvoice(w http.ResponseWriter, r *http.Request) error {
	_, version, s, err := a.legacyInvoiceSubscription(r, a.viewer(r))
	if err != nil {
		return err
	}
	invs, err := a.deps.Invoicing.Invoices(r.Context(), s.SubscriptionID)
	if err != nil {
		return err
	}
	sortInvoices(invs)
	for i := range invs {
		if invs[i].Kind != invoicing.KindCreditNote {
			writeJSON(w, http.StatusOK, a.legacyInvoiceJSON(r, version, &invs[i], true))
			return nil
		}
	}
	return billing.NotFound("InvoiceNotFound", "subscriptionId", "No invoice has been issued for subscription %s yet.", s.SubscriptionID)
}

type legacyPeriodJSON struct {
	ID         string               `json:"id"`
	Name       string               `json:"name"`
	Type       string               `json:"type"`
	Properties legacyPeriodProperty `json:"properties"`
}

type legacyPeriodProperty struct {
	BillingPeriodStartDate string `json:"billingPeriodStartDate"`
	BillingPeriodEndDate   string `json:"billingPeriodEndDate"`
	// InvoiceIDs is nil for a caller who may not see the invoices.
	InvoiceIDs *[]string `json:"invoiceIds,omitempty"`
}

// periodInvoices returns, when the caller may see the subscription's
// invoices, the ids of the invoices attributed to each period, newest
// first; nil otherwise.
func (a *API) periodInvoices(ctx context.Context, v *invoiceViewer, s account.Subscription) (map[string][]string, error) {
	ok, err := v.canSee(ctx, s.SubscriptionID, s.BillingAccount)
	if err != nil || !ok {
		return nil, err
	}
	invs, err := a.deps.Invoicing.Invoices(ctx, s.SubscriptionID)
	if err != nil {
		return nil, err
	}
	sortInvoices(invs)
	m := map[string][]string{}
	for i := range invs {
		for _, p := range invoicePeriods(&invs[i]) {
			m[p] = append(m[p], legacyInvoiceID(s.SubscriptionID, invs[i].Name))
		}
	}
	return m, nil
}

func legacyPeriodOf(sub string, p *invoicing.Period, invoices map[string][]string) legacyPeriodJSON {
	j := legacyPeriodJSON{ID: legacyPeriodID(sub, p.Name), Name: p.Name, Type: "Microsoft.Billing/billingPeriods",
		Properties: legacyPeriodProperty{BillingPeriodStartDate: dateOf(p.Start), BillingPeriodEndDate: dateOf(p.End)}}
	if invoices != nil {
		ids := append([]string{}, invoices[p.Name]...)
		for _, n := range p.InvoiceNames { // issued for the period: listed even if the list above missed it
			if id := legacyInvoiceID(sub, n); !slices.Contains(ids, id) {
				ids = append(ids, id)
			}
		}
		j.Properties.InvoiceIDs = &ids
	}
	return j
}

func periodCursor(p *invoicing.Period) listCursor {
	return listCursor{T1: p.End.Unix(), T2: p.Start.Unix(), Name: p.Name}
}

// legacyListQuery reads the $filter, $top and $skiptoken of a legacy list
// (kind names it in the skip token's digest, which binds a token to its
// query).
func (a *API) legacyListQuery(q armQuery, kind, sub string, fields []string) (filter dateFilter, top int, digest [8]byte, cur *listCursor, err error) {
	filterText, _ := q.get("$filter")
	if filter, err = parseDateFilter(filterText, "$filter", fields); err != nil {
		return
	}
	if top, err = parseTop(q, "$top", maxLegacyTop); err != nil {
		return
	}
	digest = listDigest(kind, sub, filterText, strconv.Itoa(top))
	cur, err = a.skipToken(q, digest)
	return
}

// legacyPeriods is BillingPeriods_List.
func (a *API) legacyPeriods(w http.ResponseWriter, r *http.Request) error {
	q, _, s, err := a.legacySubscription(r, legacyPeriodVersions)
	if err != nil {
		return err
	}
	filter, top, digest, cur, err := a.legacyListQuery(q, "legacy-periods", s.SubscriptionID, periodFilterFields)
	if err != nil {
		return err
	}
	periods, err := a.deps.Invoicing.Periods(r.Context(), s.SubscriptionID)
	if err != nil {
		return err
	}
	slices.SortFunc(periods, func(x, y invoicing.Period) int { return periodCursor(&x).compare(periodCursor(&y)) })
	var sel []invoicing.Period
	for i := range periods {
		p := &periods[i]
		if filter.match(map[string]time.Time{"billingPeriodStartDate": p.Start, "billingPeriodEndDate": p.End}) {
			sel = append(sel, *p)
		}
	}
	page, next := pageOf(sel, func(p *invoicing.Period) listCursor { return periodCursor(p) }, cur, 0, top, a.cfg.InvoicePageSize)
	invoices, err := a.periodInvoices(r.Context(), a.viewer(r), s)
	if err != nil {
		return err
	}
	out := listJSON[legacyPeriodJSON]{Value: make([]legacyPeriodJSON, 0, len(page))}
	for i := range page {
		out.Value = append(out.Value, legacyPeriodOf(s.SubscriptionID, &page[i], invoices))
	}
	if next != nil {
		out.NextLink = a.nextLink(r, q, digest, *next)
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}

// legacyPeriod is BillingPeriods_Get.
func (a *API) legacyPeriod(w http.ResponseWriter, r *http.Request) error {
	_, _, s, err := a.legacySubscription(r, legacyPeriodVersions)
	if err != nil {
		return err
	}
	p, err := a.deps.Invoicing.Period(r.Context(), s.SubscriptionID, r.PathValue("billingPeriodName"))
	if err != nil {
		return err
	}
	invoices, err := a.periodInvoices(r.Context(), a.viewer(r), s)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, legacyPeriodOf(s.SubscriptionID, &p, invoices))
	return nil
}

type operationJSON struct {
	Name    string           `json:"name"`
	Display operationDisplay `json:"display"`
}

type operationDisplay struct {
	Provider    string `json:"provider"`
	Resource    string `json:"resource"`
	Operation   string `json:"operation"`
	Description string `json:"description"`
}

// billingOperationList is what Operations_List answers.
var billingOperationList = func() []operationJSON {
	op := func(name, resource, operation string) operationJSON {
		return operationJSON{Name: "Microsoft.Billing/" + name,
			Display: operationDisplay{Provider: "Microsoft Billing", Resource: resource, Operation: operation, Description: operation + "."}}
	}
	return []operationJSON{
		op("operations/read", "Operations", "List the operations of Microsoft.Billing"),
		op("invoices/read", "Invoices", "List and get the invoices of a subscription"),
		op("billingPeriods/read", "Billing Periods", "List and get the billing periods of a subscription"),
		op("billingAccounts/invoices/read", "Invoices", "List and get the invoices of a billing account"),
		op("billingAccounts/invoices/download/action", "Invoices", "Get a download link of an invoice of a billing account"),
		op("billingAccounts/billingSubscriptions/invoices/read", "Invoices", "List and get the invoices of a billing subscription"),
		op("billingAccounts/billingSubscriptions/invoices/download/action", "Invoices", "Get a download link of an invoice of a billing subscription"),
	}
}()

// billingOperations is Operations_List of Microsoft.Billing.
func (a *API) billingOperations(w http.ResponseWriter, r *http.Request) error {
	q, err := parseARMQuery(r.URL.RawQuery)
	if err != nil {
		return err
	}
	if _, err := checkAPIVersion(q, billingOperationsVersions); err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, listJSON[operationJSON]{Value: billingOperationList})
	return nil
}

// invoiceAccessJSON is the body of the opt-in calls.
type invoiceAccessJSON struct {
	SubscriptionID string `json:"subscriptionId"`
	Enabled        bool   `json:"enabled"`
}

// invoiceAccessSubscription returns the subscription of an opt-in call if
// the caller administers its billing account (or is an operator). A
// subscription the caller may not administer is refused the same way
// whether it exists or not.
func (a *API) invoiceAccessSubscription(r *http.Request) (account.Subscription, error) {
	id := identityOf(r)
	sub, ok := billing.ParseGUID(r.PathValue("subscriptionId"))
	if !ok {
		return account.Subscription{}, badSubscriptionID(r)
	}
	s, err := a.deps.Accounts.Get(r.Context(), sub)
	if err != nil {
		if e := billing.AsError(err); e != nil && e.Kind == billing.KindNotFound && !id.Grants.IsOperator() {
			return s, forbidden(r, id, "/subscriptions/"+sub)
		}
		return s, err
	}
	if !id.Grants.IsAccountAdmin(s.BillingAccount) {
		return s, forbidden(r, id, "/subscriptions/"+sub)
	}
	return s, nil
}

// putInvoiceAccess is PUT /admin/v1/subscriptions/{id}/invoiceAccess: the
// billing account admin's (or an operator's) opt-in letting the
// subscription's Owner, Contributor, Reader and Billing Reader see its
// invoices. The change is recorded in the audit trail.
func (a *API) putInvoiceAccess(w http.ResponseWriter, r *http.Request) error {
	s, err := a.invoiceAccessSubscription(r)
	if err != nil {
		return err
	}
	var body struct {
		Enabled *bool `json:"enabled"`
	}
	if err := decodeBody(w, r, &body); err != nil {
		return err
	}
	if body.Enabled == nil {
		return invalid("MissingProperty", "enabled", "The property 'enabled' (true or false) is required.")
	}
	if err := a.deps.Invoicing.SetInvoiceAccess(r.Context(), s.SubscriptionID, *body.Enabled); err != nil {
		return err
	}
	// PUT is idempotent: if recording fails, the caller's retry records it.
	if err := a.deps.Auth.Record(r.Context(), auth.Event{Actor: identityOf(r).PrincipalID, Action: auditInvoiceAccessPut,
		Target: "/subscriptions/" + s.SubscriptionID, Detail: "enabled=" + strconv.FormatBool(*body.Enabled),
		Remote: r.RemoteAddr, Success: true}); err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, invoiceAccessJSON{SubscriptionID: s.SubscriptionID, Enabled: *body.Enabled})
	return nil
}

// getInvoiceAccess answers the opt-in of a subscription.
func (a *API) getInvoiceAccess(w http.ResponseWriter, r *http.Request) error {
	s, err := a.invoiceAccessSubscription(r)
	if err != nil {
		return err
	}
	on, err := a.deps.Invoicing.InvoiceAccess(r.Context(), s.SubscriptionID)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, invoiceAccessJSON{SubscriptionID: s.SubscriptionID, Enabled: on})
	return nil
}

// closePeriod is POST /admin/v1/subscriptions/{id}/billingPeriods/{name}/close[?force=true]:
// it closes the period now (force skips the grace time) and answers the
// invoice issued, or the one issued before if the period was closed.
func (a *API) closePeriod(w http.ResponseWriter, r *http.Request) error {
	sub, ok := billing.ParseGUID(r.PathValue("subscriptionId"))
	if !ok {
		return badSubscriptionID(r)
	}
	q, err := parseARMQuery(r.URL.RawQuery)
	if err != nil {
		return err
	}
	force := false
	if f, ok := q.get("force"); ok {
		switch {
		case strings.EqualFold(f, "true"):
			force = true
		case strings.EqualFold(f, "false"):
		default:
			return invalid("InvalidProperty", "force", "The force value '%s' is not valid; use true or false.", clip(f))
		}
	}
	name := r.PathValue("billingPeriodName")
	inv, err := a.deps.Invoicing.Close(r.Context(), sub, name, force)
	if err != nil {
		return err
	}
	if err := a.deps.Auth.Record(r.Context(), auth.Event{Actor: identityOf(r).PrincipalID, Action: auditPeriodClose,
		Target: legacyPeriodID(sub, name), Detail: "force=" + strconv.FormatBool(force) + " invoice=" + inv.Name,
		Remote: r.RemoteAddr, Success: true}); err != nil {
		a.log.WarnContext(r.Context(), "audit of a period close failed", "err", err, "subscription", sub, "period", name)
	}
	writeJSON(w, http.StatusOK, inv)
	return nil
}

// Paging.

// listCursor is an item's place in a list ordered newest first by T1, then
// T2, then Name, and (in a token) how many items were served before.
type listCursor struct {
	Served int
	T1, T2 int64
	Name   string
}

// compare orders cursors newest first: negative when c comes before d.
func (c listCursor) compare(d listCursor) int {
	switch {
	case c.T1 != d.T1:
		return -cmpInt(c.T1, d.T1)
	case c.T2 != d.T2:
		return -cmpInt(c.T2, d.T2)
	default:
		return -strings.Compare(c.Name, d.Name)
	}
}

func cmpInt(a, b int64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// pageOf returns the page of the sorted items that follows cur (or, on
// the first page, follows the first skip items), of at most size items
// and such that no more than top are served in all, and the cursor of the
// next page (nil on the last).
func pageOf[T any](items []T, key func(*T) listCursor, cur *listCursor, skip, top, size int) ([]T, *listCursor) {
	start, served := min(skip, len(items)), 0
	if cur != nil {
		served = cur.Served
		start = len(items)
		for i := range items {
			if key(&items[i]).compare(*cur) > 0 {
				start = i
				break
			}
		}
	}
	n := min(size, top-served, len(items)-start)
	if n <= 0 {
		return nil, nil
	}
	page := items[start : start+n]
	if served+n >= top || start+n >= len(items) {
		return page, nil
	}
	next := key(&page[n-1])
	next.Served = served + n
	return page, &next
}

// parseTop reads a $top (or top) of 1 to max; absent, it is unlimited.
func parseTop(q armQuery, name string, max int) (int, error) {
	v, ok := q.get(name)
	if !ok || v == "" {
		return math.MaxInt, nil
	}
	n, err := strconv.Atoi(strings.TrimSpace(v))
	if err != nil || n < 1 || n > max {
		return 0, invalid("InvalidProperty", name, "The %s value '%s' is not valid; it must be an integer from 1 to %d.", name, clip(v), max)
	}
	return n, nil
}

// listDigest binds a skip token to the list and query it was made for.
func listDigest(parts ...string) [8]byte {
	h := sha256.New()
	for _, p := range parts {
		h.Write([]byte(p))
		h.Write([]byte{0})
	}
	var d [8]byte
	copy(d[:], h.Sum(nil))
	return d
}

const (
	skipTokenVersion = 1
	skipTokenParam   = "$skiptoken"
	maxSkipToken     = 512
)

func skipTokenMAC(key, body []byte) []byte {
	mac := hmac.New(sha256.New, key)
	mac.Write([]byte("reckon-list-skiptoken\x00"))
	mac.Write(body)
	return mac.Sum(nil)[:16]
}

// encodeSkipToken returns the $skiptoken of the page after c.
func encodeSkipToken(key []byte, digest [8]byte, c listCursor) string {
	p := []byte{skipTokenVersion}
	p = append(p, digest[:]...)
	p = binary.AppendUvarint(p, uint64(c.Served))
	p = binary.AppendVarint(p, c.T1)
	p = binary.AppendVarint(p, c.T2)
	p = append(p, c.Name...)
	p = append(p, skipTokenMAC(key, p)...)
	return base64.RawURLEncoding.EncodeToString(p)
}

// decodeSkipToken checks a $skiptoken against the list's digest.
func decodeSkipToken(key []byte, digest [8]byte, tok string) (listCursor, bool) {
	var c listCursor
	if len(tok) > maxSkipToken {
		return c, false
	}
	for i := 0; i < len(tok); i++ {
		if ch := tok[i]; !('A' <= ch && ch <= 'Z' || 'a' <= ch && ch <= 'z' || '0' <= ch && ch <= '9' || ch == '-' || ch == '_') {
			return c, false
		}
	}
	raw, err := base64.RawURLEncoding.Strict().DecodeString(tok)
	if err != nil || len(raw) < 1+8+3+16 || raw[0] != skipTokenVersion {
		return c, false
	}
	body, sig := raw[:len(raw)-16], raw[len(raw)-16:]
	if !hmac.Equal(skipTokenMAC(key, body), sig) || !hmac.Equal(body[1:9], digest[:]) {
		return c, false
	}
	p := body[9:]
	served, n := binary.Uvarint(p)
	if n <= 0 || served > math.MaxInt32 {
		return c, false
	}
	p = p[n:]
	t1, n := binary.Varint(p)
	if n <= 0 {
		return c, false
	}
	p = p[n:]
	t2, n := binary.Varint(p)
	if n <= 0 {
		return c, false
	}
	return listCursor{Served: int(served), T1: t1, T2: t2, Name: string(p[n:])}, true
}

// skipToken reads the request's $skiptoken, if any.
func (a *API) skipToken(q armQuery, digest [8]byte) (*listCursor, error) {
	tok, ok := q.get(skipTokenParam)
	if !ok || tok == "" {
		return nil, nil
	}
	c, ok := decodeSkipToken(a.deps.TokenKey, digest, tok)
	if !ok {
		return nil, invalid("InvalidProperty", skipTokenParam, "The $skiptoken is not valid for this query; start again without it.")
	}
	return &c, nil
}

// nextLink is the absolute link to the next page: the request's query with
// a new $skiptoken.
func (a *API) nextLink(r *http.Request, q armQuery, digest [8]byte, c listCursor) string {
	rest := q.encodeWithout(skipTokenParam)
	if rest != "" {
		rest += "&"
	}
	return baseURL(r) + r.URL.EscapedPath() + "?" + rest + "%24skiptoken=" + encodeSkipToken(a.deps.TokenKey, digest, c)
}

// The $filter of the subscription-level lists.

var (
	invoiceFilterFields = []string{"invoicePeriodEndDate", "invoicePeriodStartDate"}
	periodFilterFields  = []string{"billingPeriodEndDate", "billingPeriodStartDate"}
)

// maxDateFilter bounds a $filter's length.
const maxDateFilter = 1024

type dateCond struct {
	field string
	op    string
	date  time.Time
}

type dateFilter []dateCond

// match reports whether the dates of an item (by field name) meet every
// condition.
func (f dateFilter) match(values map[string]time.Time) bool {
	for _, c := range f {
		v := values[c.field]
		var ok bool
		switch c.op {
		case "eq":
			ok = v.Equal(c.date)
		case "lt":
			ok = v.Before(c.date)
		case "le":
			ok = !v.After(c.date)
		case "gt":
			ok = v.After(c.date)
		case "ge":
			ok = !v.Before(c.date)
		}
		if !ok {
			return false
		}
	}
	return true
}

// parseDateFilter parses the OData subset of the subscription-level lists:
//
//	filter = cond *( ws "and" ws cond )
//	cond   = field ws op ws date
//	op     = "eq" / "lt" / "gt" / "le" / "ge"
//	date   = YYYY-MM-DD, bare (as Azure's example) or in single quotes
//
// with the given fields; names and operators in any case. An empty filter
// has no conditions.
func parseDateFilter(s, param string, fields []string) (dateFilter, error) {
	bad := func(format string, args ...any) (dateFilter, error) {
		return nil, invalid("InvalidFilter", param, "The %s is not valid: "+format+
			". It supports eq, lt, gt, le and ge on %s, joined by 'and', with dates as YYYY-MM-DD, e.g. '%s ge 2024-01-01 and %s lt 2024-07-01'.",
			append(append([]any{param}, args...), strings.Join(fields, " and "), fields[0], fields[0])...)
	}
	if len(s) > maxDateFilter {
		return bad("it is longer than %d characters", maxDateFilter)
	}
	var f dateFilter
	p := filterLexer{s: s}
	p.space()
	if p.done() {
		return nil, nil
	}
	for cond := 0; ; cond++ {
		if cond > 0 {
			spaced := p.space()
			if p.done() {
				break
			}
			if !spaced {
				return bad("unexpected %s at position %d after a date", p.describe(), p.i+1)
			}
			w := p.word()
			switch {
			case strings.EqualFold(w, "and"):
			case w == "":
				return bad("unexpected %s at position %d where 'and' was expected", p.describe(), p.i+1)
			default:
				return bad("'%s' is not supported (only 'and' joins conditions)", clip(w))
			}
			if !p.space() {
				if p.done() {
					return bad("a condition is missing at the end")
				}
				return bad("no space after 'and'")
			}
		}
		if p.done() {
			return bad("a condition is missing at the end")
		}
		name := p.word()
		field := ""
		for _, fl := range fields {
			if strings.EqualFold(name, fl) {
				field = fl
			}
		}
		if field == "" {
			if name == "" {
				return bad("unexpected %s at position %d where a property name was expected", p.describe(), p.i+1)
			}
			return bad("unknown property '%s'", clip(name))
		}
		if !p.space() {
			if p.done() {
				return bad("the operator and date of %s are missing", field)
			}
			return bad("no space after %s", field)
		}
		op := strings.ToLower(p.word())
		switch op {
		case "eq", "lt", "gt", "le", "ge":
		case "":
			return bad("unexpected %s after %s where an operator was expected", p.describe(), field)
		default:
			return bad("operator '%s' is not supported", clip(op))
		}
		if !p.space() {
			if p.done() {
				return bad("the date of %s is missing", field)
			}
			return bad("no space after '%s'", op)
		}
		var lit string
		if v, ok := p.quoted(); ok {
			lit = v
		} else {
			start := p.i
			for p.i < len(p.s) && (p.s[p.i] >= '0' && p.s[p.i] <= '9' || p.s[p.i] == '-') {
				p.i++
			}
			lit = p.s[start:p.i]
			if lit == "" {
				return bad("unexpected %s where the date of %s was expected", p.describe(), field)
			}
		}
		d, err := time.Parse(wireDate, lit)
		if err != nil {
			return bad("'%s' is not a date YYYY-MM-DD", clip(lit))
		}
		f = append(f, dateCond{field: field, op: op, date: d})
	}
	return f, nil
}
