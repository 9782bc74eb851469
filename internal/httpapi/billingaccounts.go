package httpapi

import (
	"context"
	"encoding/json"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/reckon-billing/reckon/internal/account"
	"github.com/reckon-billing/reckon/internal/billing"
	"github.com/reckon-billing/reckon/internal/invoicing"
	"github.com/reckon-billing/reckon/internal/money"
)

// The billing-account Invoices API: 2024-04-01 (Go armbilling v1.0.0) and
// 2020-05-01 (@azure/arm-billing 4.1.0, az billing invoice list/show).
//
// Decisions:
//   - A billing account is Reckon's billingAccount. "default" names the
//     caller's only billing account (the accounts whose invoices it may
//     see); a caller with several must name one. Under
//     billingSubscriptions, the account in the path is "default" or the
//     subscription's own; billingAccounts/default/invoices/{name} finds the
//     invoice by name alone.
//   - Each billing account has one billing profile, "default".
//   - periodStartDate and periodEndDate (YYYY-MM-DD, or MM-DD-YYYY as
//     Azure's text says) select invoices whose billing period overlaps
//     [periodStartDate, periodEndDate], both days included; either may be
//     left out. top (1–50) and skip apply in the order newest first;
//     filter, orderBy and search are refused rather than ignored.
//   - The Account Admin of the billing account sees all its invoices; a
//     role of a subscription sees that subscription's after the opt-in.
//     The account-level list shows a caller who is not the admin the
//     invoices it may see, and is refused (403) when there are none it
//     could ever see.
//   - Amounts are {currency, value} with the value rounded to the
//     currency's minor unit: billedAmount and subTotal are the subtotal,
//     taxAmount the tax (0 without a tax line), totalAmount and amountDue
//     the total. Invoices are "Due" (Reckon does not track payments);
//     credit notes have documentType CreditNote, negative amounts and
//     creditForDocumentId naming the invoice they correct.
//   - The download operation answers 202 with Location and Retry-After;
//     its result (200 {url, expiryTime}) is computed when polled, so it
//     needs no state on the server and any node can answer it.

var billingAccountVersions = []string{"2020-05-01", "2024-04-01"}

// maxAccountTop is the largest top of the billing-account lists.
const maxAccountTop = 50

// defaultName is how az and the SDKs name "the caller's" billing account.
const defaultName = "default"

func (a *API) billingAccountRoutes() {
	handle := func(method, pattern string, h http.HandlerFunc) {
		a.arm.handle(method, pattern, a.authenticate(accessAny, h))
	}
	const acct = "/providers/Microsoft.Billing/billingAccounts/{billingAccountName}/"
	handle(http.MethodGet, acct+"invoices", a.serve(a.listAccountInvoices))
	handle(http.MethodGet, acct+"billingProfiles/{billingProfileName}/invoices", a.serve(a.listAccountInvoices))
	handle(http.MethodGet, acct+"invoices/{invoiceName}", a.serve(a.getAccountInvoice))
	handle(http.MethodPost, acct+"invoices/{invoiceName}/download", a.serve(a.downloadAccountInvoice))
	handle(http.MethodGet, acct+"invoices/{invoiceName}/operationResults/{operationId}", a.serve(a.accountDownloadResult))
	handle(http.MethodGet, acct+"billingSubscriptions/{subscriptionId}/invoices", a.serve(a.listSubscriptionInvoices))
	handle(http.MethodGet, acct+"billingSubscriptions/{subscriptionId}/invoices/{invoiceName}", a.serve(a.getSubscriptionInvoice))
	handle(http.MethodPost, acct+"billingSubscriptions/{subscriptionId}/invoices/{invoiceName}/download", a.serve(a.downloadSubscriptionInvoice))
	handle(http.MethodGet, acct+"billingSubscriptions/{subscriptionId}/operationResults/{operationId}", a.serve(a.subscriptionDownloadResult))
}

// amountJSON is an Amount: the value is a JSON number written from the
// exact decimal.
type amountJSON struct {
	Currency string      `json:"currency"`
	Value    json.Number `json:"value"`
}

type invoiceDocumentJSON struct {
	Kind   string `json:"kind"`
	Name   string `json:"name"`
	Source string `json:"source"`
	URL    string `json:"url"`
}

type armInvoiceProperties struct {
	AmountDue                 amountJSON            `json:"amountDue"`
	BilledAmount              amountJSON            `json:"billedAmount"`
	SubTotal                  amountJSON            `json:"subTotal"`
	TaxAmount                 amountJSON            `json:"taxAmount"`
	TotalAmount               amountJSON            `json:"totalAmount"`
	InvoiceDate               string                `json:"invoiceDate"`
	DueDate                   string                `json:"dueDate"`
	InvoicePeriodStartDate    string                `json:"invoicePeriodStartDate"`
	InvoicePeriodEndDate      string                `json:"invoicePeriodEndDate"`
	Status                    string                `json:"status"`
	DocumentType              string                `json:"documentType"`
	Documents                 []invoiceDocumentJSON `json:"documents"`
	InvoiceType               string                `json:"invoiceType"`
	IsMonthlyInvoice          bool                  `json:"isMonthlyInvoice"`
	BillingProfileID          string                `json:"billingProfileId"`
	BillingProfileDisplayName string                `json:"billingProfileDisplayName"`
	SubscriptionID            string                `json:"subscriptionId"`
	SubscriptionDisplayName   string                `json:"subscriptionDisplayName,omitempty"`
	CreditForDocumentID       string                `json:"creditForDocumentId,omitempty"`
}

type armInvoiceJSON struct {
	ID         string               `json:"id"`
	Name       string               `json:"name"`
	Type       string               `json:"type"`
	Properties armInvoiceProperties `json:"properties"`
}

// armTimeZ is the date-time format of the billing-account API.
const armTimeZ = "2006-01-02T15:04:05Z"

func formatTime(t time.Time) string { return t.UTC().Format(armTimeZ) }

// amountOf is an amount of the invoice's currency, rounded to its minor
// unit (amounts on invoices are already rounded; this only fixes the
// number of decimals).
func amountOf(code string, d money.Decimal) amountJSON {
	c, err := money.ParseCurrency(code)
	if err != nil {
		return amountJSON{Currency: code, Value: json.Number(d.String())}
	}
	return amountJSON{Currency: c.String(), Value: json.Number(c.FormatAmount(d))}
}

func accountPath(acct string) string {
	return "/providers/Microsoft.Billing/billingAccounts/" + url.PathEscape(acct)
}

// invoiceView says how an invoice is addressed: by billing account or by
// billing subscription.
type invoiceView struct {
	bySubscription bool
}

func (view invoiceView) id(inv *invoicing.Invoice) (id, typ string) {
	if view.bySubscription {
		return accountPath(inv.BillingAccount) + "/billingSubscriptions/" + inv.SubscriptionID + "/invoices/" + url.PathEscape(inv.Name),
			"Microsoft.Billing/billingAccounts/billingSubscriptions/invoices"
	}
	return accountPath(inv.BillingAccount) + "/invoices/" + url.PathEscape(inv.Name), "Microsoft.Billing/billingAccounts/invoices"
}

// subscriptionNames caches display names of subscriptions for a request.
type subscriptionNames map[string]string

func (a *API) subscriptionName(ctx context.Context, names subscriptionNames, sub string) string {
	if n, ok := names[sub]; ok {
		return n
	}
	n := ""
	if s, err := a.deps.Accounts.Get(ctx, sub); err == nil {
		n = s.DisplayName
	}
	names[sub] = n
	return n
}

func (a *API) armInvoice(r *http.Request, view invoiceView, names subscriptionNames, inv *invoicing.Invoice) armInvoiceJSON {
	id, typ := view.id(inv)
	cur := inv.Currency
	tax := money.DecimalFromInt(0)
	if inv.Tax != nil {
		tax = inv.Tax.Amount
	}
	kind, status := invoicing.KindInvoice, "Due"
	if inv.Kind == invoicing.KindCreditNote {
		kind, status = invoicing.KindCreditNote, "Other"
	}
	p := armInvoiceProperties{
		AmountDue:    amountOf(cur, inv.Total),
		BilledAmount: amountOf(cur, inv.SubTotal),
		SubTotal:     amountOf(cur, inv.SubTotal),
		TaxAmount:    amountOf(cur, tax),
		TotalAmount:  amountOf(cur, inv.Total),
		InvoiceDate:  formatTime(inv.InvoiceDate), DueDate: formatTime(inv.DueDate),
		InvoicePeriodStartDate: formatTime(inv.PeriodStart), InvoicePeriodEndDate: formatTime(inv.PeriodEnd),
		Status: status, DocumentType: kind,
		Documents: []invoiceDocumentJSON{{Kind: kind, Name: inv.Name, Source: "DRS",
			URL: baseURL(r) + id + "/download"}},
		InvoiceType: "AzureServices", IsMonthlyInvoice: inv.Kind != invoicing.KindCreditNote,
		BillingProfileID:          accountPath(inv.BillingAccount) + "/billingProfiles/" + defaultName,
		BillingProfileDisplayName: inv.Buyer.Name,
		SubscriptionID:            inv.SubscriptionID,
		SubscriptionDisplayName:   a.subscriptionName(r.Context(), names, inv.SubscriptionID),
	}
	if inv.Corrects != "" {
		p.CreditForDocumentID = accountPath(inv.BillingAccount) + "/invoices/" + url.PathEscape(inv.Corrects)
	}
	return armInvoiceJSON{ID: id, Name: inv.Name, Type: typ, Properties: p}
}

// accountListQuery is the query of a billing-account list.
type accountListQuery struct {
	q          armQuery
	version    string
	start, end time.Time // zero: unbounded
	top, skip  int
	raw        string // what binds a skip token
}

func parseAccountListQuery(r *http.Request) (accountListQuery, error) {
	var l accountListQuery
	q, err := parseARMQuery(r.URL.RawQuery)
	if err != nil {
		return l, err
	}
	l.q = q
	if l.version, err = checkAPIVersion(q, billingAccountVersions); err != nil {
		return l, err
	}
	for _, name := range []string{"filter", "$filter", "orderBy", "$orderby", "search", "$search"} {
		if v, ok := q.get(name); ok && v != "" {
			return l, invalid("InvalidProperty", name, "The %s parameter is not supported; select invoices with periodStartDate and periodEndDate.", name)
		}
	}
	if v, ok := q.get("count"); ok && !strings.EqualFold(v, "true") && !strings.EqualFold(v, "false") && v != "" {
		return l, invalid("InvalidProperty", "count", "The count value '%s' is not valid; use true or false.", clip(v))
	}
	for _, d := range []struct {
		name string
		dst  *time.Time
	}{{"periodStartDate", &l.start}, {"periodEndDate", &l.end}} {
		v, ok := q.get(d.name)
		if !ok || v == "" {
			continue
		}
		t, ok := parseListDate(v)
		if !ok {
			return l, invalid("InvalidProperty", d.name, "The %s '%s' is not a date YYYY-MM-DD (or MM-DD-YYYY).", d.name, clip(v))
		}
		*d.dst = t
	}
	if !l.start.IsZero() && !l.end.IsZero() && l.end.Before(l.start) {
		return l, invalid("InvalidProperty", "periodEndDate", "The periodEndDate is before the periodStartDate.")
	}
	if l.top, err = parseTop(q, "top", maxAccountTop); err != nil {
		return l, err
	}
	if v, ok := q.get("skip"); ok && v != "" {
		n, err := strconv.Atoi(strings.TrimSpace(v))
		if err != nil || n < 0 {
			return l, invalid("InvalidProperty", "skip", "The skip value '%s' is not valid; it must be an integer of 0 or more.", clip(v))
		}
		l.skip = n
	}
	l.raw = l.start.String() + "|" + l.end.String() + "|" + strconv.Itoa(l.top) + "|" + strconv.Itoa(l.skip)
	return l, nil
}

// parseListDate reads YYYY-MM-DD or MM-DD-YYYY (a date-time's date is
// accepted too).
func parseListDate(v string) (time.Time, bool) {
	v = strings.TrimSpace(v)
	if len(v) > 10 && (v[10] == 'T' || v[10] == ' ') {
		v = v[:10]
	}
	for _, layout := range []string{wireDate, "01-02-2006"} {
		if t, err := time.Parse(layout, v); err == nil {
			return t, true
		}
	}
	return time.Time{}, false
}

// selects reports whether an invoice's period overlaps the query's dates.
func (l *accountListQuery) selects(inv *invoicing.Invoice) bool {
	if !l.end.IsZero() && !inv.PeriodStart.Before(l.end.AddDate(0, 0, 1)) {
		return false
	}
	return l.start.IsZero() || inv.PeriodEnd.After(l.start)
}

// writeInvoiceList answers the page of invs (sorted) that the query asks for.
func (a *API) writeInvoiceList(w http.ResponseWriter, r *http.Request, l *accountListQuery, view invoiceView, digest [8]byte, invs []invoicing.Invoice) error {
	cur, err := a.skipToken(l.q, digest)
	if err != nil {
		return err
	}
	var sel []invoicing.Invoice
	for i := range invs {
		if l.selects(&invs[i]) {
			sel = append(sel, invs[i])
		}
	}
	page, next := pageOf(sel, func(inv *invoicing.Invoice) listCursor { return invoiceCursor(inv) }, cur, l.skip, l.top, a.cfg.InvoicePageSize)
	names := subscriptionNames{}
	out := listJSON[armInvoiceJSON]{Value: make([]armInvoiceJSON, 0, len(page))}
	for i := range page {
		out.Value = append(out.Value, a.armInvoice(r, view, names, &page[i]))
	}
	if next != nil {
		out.NextLink = a.nextLink(r, l.q, digest, *next)
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}

// accountSubscriptions returns the subscriptions of a billing account.
func (a *API) accountSubscriptions(ctx context.Context, acct string) ([]account.Subscription, error) {
	all, err := a.deps.Accounts.List(ctx)
	if err != nil {
		return nil, err
	}
	var subs []account.Subscription
	for _, s := range all {
		if s.BillingAccount == acct {
			subs = append(subs, s)
		}
	}
	return subs, nil
}

// resolveAccount returns the billing account a path names: "default" is
// the caller's only account.
func (a *API) resolveAccount(r *http.Request, v *invoiceViewer, name string) (string, error) {
	if !strings.EqualFold(name, defaultName) {
		return name, nil
	}
	all, err := a.deps.Accounts.List(r.Context())
	if err != nil {
		return "", err
	}
	var accts []string
	for _, s := range all {
		if slices.Contains(accts, s.BillingAccount) {
			continue
		}
		ok, err := v.canSee(r.Context(), s.SubscriptionID, s.BillingAccount)
		if err != nil {
			return "", err
		}
		if ok {
			accts = append(accts, s.BillingAccount)
		}
	}
	switch len(accts) {
	case 1:
		return accts[0], nil
	case 0:
		return "", forbidden(r, v.id, accountPath(name))
	}
	slices.Sort(accts)
	if len(accts) > 5 {
		accts = append(accts[:5], "…")
	}
	return "", invalid("AmbiguousBillingAccount", "billingAccountName",
		"The caller may see the invoices of several billing accounts (%s); name one instead of 'default'.", strings.Join(accts, ", "))
}

// listAccountInvoices is Invoices_ListByBillingAccount (and, for the one
// billing profile "default", Invoices_ListByBillingProfile).
func (a *API) listAccountInvoices(w http.ResponseWriter, r *http.Request) error {
	l, err := parseAccountListQuery(r)
	if err != nil {
		return err
	}
	v := a.viewer(r)
	acct, err := a.resolveAccount(r, v, r.PathValue("billingAccountName"))
	if err != nil {
		return err
	}
	if p := r.PathValue("billingProfileName"); p != "" && !strings.EqualFold(p, defaultName) {
		if !v.id.Grants.IsAccountAdmin(acct) {
			return forbidden(r, v.id, accountPath(acct))
		}
		return billing.NotFound("BillingProfileNotFound", "billingProfileName", "The billing account '%s' has one billing profile, 'default'; '%s' was not found.", clip(acct), clip(p))
	}
	subs, err := a.accountSubscriptions(r.Context(), acct)
	if err != nil {
		return err
	}
	visible := map[string]bool{}
	admin := v.id.Grants.IsAccountAdmin(acct)
	if !admin {
		for _, s := range subs {
			if ok, err := v.canSee(r.Context(), s.SubscriptionID, acct); err != nil {
				return err
			} else if ok {
				visible[s.SubscriptionID] = true
			}
		}
		if len(visible) == 0 {
			return forbidden(r, v.id, accountPath(acct))
		}
	}
	invs, err := a.deps.Invoicing.InvoicesOfAccount(r.Context(), acct)
	if err != nil {
		return err
	}
	if admin && len(subs) == 0 && len(invs) == 0 {
		return billing.NotFound("BillingAccountNotFound", "billingAccountName", "The billing account '%s' was not found.", clip(acct))
	}
	if !admin {
		invs = slices.DeleteFunc(invs, func(inv invoicing.Invoice) bool { return !visible[inv.SubscriptionID] })
	}
	sortInvoices(invs)
	digest := listDigest("account-invoices", acct, l.raw)
	return a.writeInvoiceList(w, r, &l, invoiceView{}, digest, invs)
}

// accountInvoice finds the invoice a billing-account path names and checks
// that the caller may see it. A caller who is not the account's admin is
// refused the same way whether the invoice exists or not.
func (a *API) accountInvoice(r *http.Request) (invoicing.Invoice, error) {
	v := a.viewer(r)
	acct, name := r.PathValue("billingAccountName"), r.PathValue("invoiceName")
	byName := strings.EqualFold(acct, defaultName)
	inv, err := a.deps.Invoicing.Invoice(r.Context(), name)
	if err != nil {
		if e := billing.AsError(err); e == nil || e.Kind != billing.KindNotFound {
			return inv, err
		}
		if byName || v.id.Grants.IsAccountAdmin(acct) {
			return inv, invoiceNotFound(name)
		}
		return inv, forbidden(r, v.id, accountPath(acct))
	}
	if !byName && inv.BillingAccount != acct {
		if v.id.Grants.IsAccountAdmin(acct) {
			return inv, invoiceNotFound(name)
		}
		return inv, forbidden(r, v.id, accountPath(acct))
	}
	ok, err := v.canSee(r.Context(), inv.SubscriptionID, inv.BillingAccount)
	if err != nil {
		return inv, err
	}
	if !ok {
		if byName {
			return inv, invoiceNotFound(name) // not the caller's: as if it did not exist
		}
		return inv, forbidden(r, v.id, accountPath(acct))
	}
	return inv, nil
}

// getAccountInvoice is Invoices_GetByBillingAccount, and Invoices_Get
// (billingAccounts/default/invoices/{name}).
func (a *API) getAccountInvoice(w http.ResponseWriter, r *http.Request) error {
	q, err := parseARMQuery(r.URL.RawQuery)
	if err != nil {
		return err
	}
	if _, err := checkAPIVersion(q, billingAccountVersions); err != nil {
		return err
	}
	inv, err := a.accountInvoice(r)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, a.armInvoice(r, invoiceView{}, subscriptionNames{}, &inv))
	return nil
}

// billingSubscription checks a billingSubscriptions path: the subscription
// exists, the account is "default" or its own, and the caller may see its
// invoices.
func (a *API) billingSubscription(r *http.Request) (account.Subscription, error) {
	v := a.viewer(r)
	sub, ok := billing.ParseGUID(r.PathValue("subscriptionId"))
	if !ok {
		return account.Subscription{}, badSubscriptionID(r)
	}
	s, err := a.deps.Accounts.Get(r.Context(), sub)
	if err != nil {
		if e := billing.AsError(err); e != nil && e.Kind == billing.KindNotFound && !v.id.Grants.CanReadSubscription(sub) {
			return s, forbidden(r, v.id, "/subscriptions/"+sub)
		}
		return s, err
	}
	ok, err = v.canSee(r.Context(), s.SubscriptionID, s.BillingAccount)
	if err != nil {
		return s, err
	}
	if !ok {
		return s, forbidden(r, v.id, "/subscriptions/"+sub)
	}
	if acct := r.PathValue("billingAccountName"); !strings.EqualFold(acct, defaultName) && acct != s.BillingAccount {
		return s, billing.NotFound("SubscriptionNotFound", "subscriptionId", "The subscription '%s' is not in the billing account '%s'.", sub, clip(acct))
	}
	return s, nil
}

// listSubscriptionInvoices is Invoices_ListByBillingSubscription.
func (a *API) listSubscriptionInvoices(w http.ResponseWriter, r *http.Request) error {
	l, err := parseAccountListQuery(r)
	if err != nil {
		return err
	}
	s, err := a.billingSubscription(r)
	if err != nil {
		return err
	}
	invs, err := a.deps.Invoicing.Invoices(r.Context(), s.SubscriptionID)
	if err != nil {
		return err
	}
	sortInvoices(invs)
	digest := listDigest("subscription-invoices", s.SubscriptionID, l.raw)
	return a.writeInvoiceList(w, r, &l, invoiceView{bySubscription: true}, digest, invs)
}

// subscriptionInvoice finds the invoice a billingSubscriptions path names.
func (a *API) subscriptionInvoice(r *http.Request) (invoicing.Invoice, error) {
	s, err := a.billingSubscription(r)
	if err != nil {
		return invoicing.Invoice{}, err
	}
	name := r.PathValue("invoiceName")
	inv, err := a.deps.Invoicing.Invoice(r.Context(), name)
	if err != nil {
		return inv, err
	}
	if inv.SubscriptionID != s.SubscriptionID {
		return inv, invoiceNotFound(name)
	}
	return inv, nil
}

// getSubscriptionInvoice is Invoices_GetByBillingSubscription.
func (a *API) getSubscriptionInvoice(w http.ResponseWriter, r *http.Request) error {
	q, err := parseARMQuery(r.URL.RawQuery)
	if err != nil {
		return err
	}
	if _, err := checkAPIVersion(q, billingAccountVersions); err != nil {
		return err
	}
	inv, err := a.subscriptionInvoice(r)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, a.armInvoice(r, invoiceView{bySubscription: true}, subscriptionNames{}, &inv))
	return nil
}
