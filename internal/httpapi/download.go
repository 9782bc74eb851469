package httpapi

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"mime"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/reckon-billing/reckon/internal/billing"
	"github.com/reckon-billing/reckon/internal/invoicing"
)

// Download links. An invoice's PDF is fetched, without a bearer token, from
//
//	{scheme}://{host the client called}/downloads/v1/invoices/{name}.pdf?expires={unix seconds}&sig={signature}
//
// where the signature is HMAC-SHA256, under the server's download key
// (shared by every node of a store), over the invoice name and the expiry.
// The link works while the clock is before the expiry and never after; any
// change to it (name, expiry, signature, an added or reordered parameter)
// makes it fail with 403 in the ARM error envelope. The answer is exactly
// the bytes stored when the invoice was issued.
//
// The billing-account API's download operation is a long-running operation
// in ARM's "Location" style: POST answers 202 with Location and
// Retry-After; the operation's result is a fresh link. The operation id
// is itself signed (invoice and scope), so any node can answer the poll
// without stored state, and the poll checks the caller's access again.

// downloadPath is where download links point.
const downloadPath = "/downloads/v1/invoices/"

// downloadRetryAfter is the Retry-After of the download operation, in
// seconds.
const downloadRetryAfter = 1

func (a *API) downloadSignature(name string, expires int64) []byte {
	mac := hmac.New(sha256.New, a.deps.DownloadKey)
	mac.Write([]byte("reckon-invoice-download-v1\x00"))
	mac.Write([]byte(name))
	mac.Write([]byte{0})
	mac.Write([]byte(strconv.FormatInt(expires, 10)))
	return mac.Sum(nil)
}

// downloadQuery is the query of the link to name expiring at expires; the
// server accepts no other form.
func (a *API) downloadQuery(name string, expires int64) string {
	return "expires=" + strconv.FormatInt(expires, 10) + "&sig=" + base64.RawURLEncoding.EncodeToString(a.downloadSignature(name, expires))
}

// downloadLink returns a signed link to an invoice's PDF on the host the
// client called, and when it expires.
func (a *API) downloadLink(r *http.Request, name string) (string, time.Time) {
	expires := a.now().Add(a.cfg.DownloadLinkLifetime).Unix()
	return baseURL(r) + downloadPath + url.PathEscape(name) + ".pdf?" + a.downloadQuery(name, expires), time.Unix(expires, 0).UTC()
}

// badDownloadLink is the answer to a link that was not issued as it is.
func badDownloadLink() error {
	return &billing.Error{Kind: billing.KindForbidden, Code: "InvalidDownloadLink",
		Message: "The download link is not valid: it was changed, or it was not issued by this server. Ask the Invoices API for a new one."}
}

// downloadInvoicePDF serves a download link.
func (a *API) downloadInvoicePDF(w http.ResponseWriter, r *http.Request) error {
	name, ok := strings.CutSuffix(r.PathValue("file"), ".pdf")
	if !ok || name == "" {
		return badDownloadLink()
	}
	first, _, _ := strings.Cut(r.URL.RawQuery, "&")
	v, found := strings.CutPrefix(first, "expires=")
	if !found || v == "" || len(v) > 12 {
		return badDownloadLink()
	}
	expires, err := strconv.ParseInt(v, 10, 64)
	if err != nil {
		return badDownloadLink()
	}
	// The whole query must be the one issued: same expiry, same signature,
	// nothing added.
	if !hmac.Equal([]byte(r.URL.RawQuery), []byte(a.downloadQuery(name, expires))) {
		return badDownloadLink()
	}
	exp := time.Unix(expires, 0).UTC()
	if !a.now().Before(exp) {
		return &billing.Error{Kind: billing.KindForbidden, Code: "DownloadLinkExpired",
			Message: fmt.Sprintf("The download link expired at %s. Ask the Invoices API for a new one.", exp.Format(time.RFC3339))}
	}
	inv, err := a.deps.Invoicing.Invoice(r.Context(), name)
	if err != nil {
		return err
	}
	pdf, err := a.deps.Invoicing.PDF(r.Context(), name)
	if err != nil {
		return err
	}
	if sum := sha256.Sum256(pdf); !strings.EqualFold(hex.EncodeToString(sum[:]), inv.PDFSHA256) {
		return fmt.Errorf("invoice %s: the stored PDF's sha256 %x is not the invoice's %s", name, sum, inv.PDFSHA256)
	}
	h := w.Header()
	h.Set("Content-Type", "application/pdf")
	h.Set("Content-Disposition", mime.FormatMediaType("attachment", map[string]string{"filename": name + ".pdf"}))
	h.Set("Content-Length", strconv.Itoa(len(pdf)))
	h.Set("Cache-Control", "private, no-store")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("ETag", `"`+strings.ToLower(inv.PDFSHA256)+`"`)
	w.WriteHeader(http.StatusOK)
	if r.Method != http.MethodHead {
		w.Write(pdf)
	}
	return nil
}

// The download operation.

const operationPrefix = "invoiceDownload_"

// downloadOperation returns the id of the operation downloading an
// invoice; scope is "" for the billing-account form, the subscription for
// the billing-subscription form.
func (a *API) downloadOperation(scope, name string) string {
	p := []byte(scope + "\x00" + name)
	return operationPrefix + base64.RawURLEncoding.EncodeToString(append(p, a.operationMAC(p)...))
}

func (a *API) operationMAC(p []byte) []byte {
	mac := hmac.New(sha256.New, a.deps.DownloadKey)
	mac.Write([]byte("reckon-invoice-download-operation-v1\x00"))
	mac.Write(p)
	return mac.Sum(nil)[:16]
}

// parseDownloadOperation checks an operation id and returns its scope and
// invoice.
func (a *API) parseDownloadOperation(id string) (scope, name string, ok bool) {
	tok, found := strings.CutPrefix(id, operationPrefix)
	if !found || len(tok) > 1024 {
		return "", "", false
	}
	raw, err := base64.RawURLEncoding.Strict().DecodeString(tok)
	if err != nil || len(raw) < 17 {
		return "", "", false
	}
	p, sig := raw[:len(raw)-16], raw[len(raw)-16:]
	if !hmac.Equal(a.operationMAC(p), sig) {
		return "", "", false
	}
	scope, name, found = strings.Cut(string(p), "\x00")
	return scope, name, found
}

func operationNotFound(id string) error {
	return billing.NotFound("OperationNotFound", "operationId", "The operation '%s' was not found.", clip(id))
}

// checkDocument checks the download's documentName (2024-04-01): the one
// document of an invoice is named after it. 2020-05-01's downloadToken is
// opaque and not checked.
func checkDocument(q armQuery, inv *invoicing.Invoice) error {
	if d, ok := q.get("documentName"); ok && d != "" && !strings.EqualFold(d, inv.Name) {
		return billing.NotFound("DocumentNotFound", "documentName", "The invoice '%s' has no document '%s'; its document is '%s'.", inv.Name, clip(d), inv.Name)
	}
	return nil
}

// startDownload answers the POST of a download operation: 202, with the
// operation's Location under prefix (the escaped path the result is under).
func (a *API) startDownload(w http.ResponseWriter, r *http.Request, q armQuery, version, prefix, scope string, inv *invoicing.Invoice) error {
	if err := checkDocument(q, inv); err != nil {
		return err
	}
	h := w.Header()
	h.Set("Location", baseURL(r)+prefix+"/operationResults/"+a.downloadOperation(scope, inv.Name)+"?api-version="+version)
	h.Set("Retry-After", strconv.Itoa(downloadRetryAfter))
	h.Set("Content-Length", "0")
	w.WriteHeader(http.StatusAccepted)
	return nil
}

// downloadResult is the result of a download operation.
func (a *API) downloadResult(w http.ResponseWriter, r *http.Request, inv *invoicing.Invoice) {
	u, exp := a.downloadLink(r, inv.Name)
	writeJSON(w, http.StatusOK, downloadURLJSON{ExpiryTime: exp.Format(time.RFC3339), URL: u})
}

// downloadAccountInvoice is Invoices_DownloadByBillingAccount.
func (a *API) downloadAccountInvoice(w http.ResponseWriter, r *http.Request) error {
	q, err := parseARMQuery(r.URL.RawQuery)
	if err != nil {
		return err
	}
	version, err := checkAPIVersion(q, billingAccountVersions)
	if err != nil {
		return err
	}
	inv, err := a.accountInvoice(r)
	if err != nil {
		return err
	}
	prefix := accountPath(r.PathValue("billingAccountName")) + "/invoices/" + url.PathEscape(inv.Name)
	return a.startDownload(w, r, q, version, prefix, "", &inv)
}

// accountDownloadResult answers the poll of a billing-account download
// operation. Its query is not read: clients append theirs to Location.
func (a *API) accountDownloadResult(w http.ResponseWriter, r *http.Request) error {
	op := r.PathValue("operationId")
	scope, name, ok := a.parseDownloadOperation(op)
	if !ok || scope != "" || name != r.PathValue("invoiceName") {
		return operationNotFound(op)
	}
	inv, err := a.accountInvoice(r)
	if err != nil {
		return err
	}
	a.downloadResult(w, r, &inv)
	return nil
}

// downloadSubscriptionInvoice is Invoices_DownloadByBillingSubscription.
func (a *API) downloadSubscriptionInvoice(w http.ResponseWriter, r *http.Request) error {
	q, err := parseARMQuery(r.URL.RawQuery)
	if err != nil {
		return err
	}
	version, err := checkAPIVersion(q, billingAccountVersions)
	if err != nil {
		return err
	}
	inv, err := a.subscriptionInvoice(r)
	if err != nil {
		return err
	}
	prefix := accountPath(r.PathValue("billingAccountName")) + "/billingSubscriptions/" + inv.SubscriptionID
	return a.startDownload(w, r, q, version, prefix, inv.SubscriptionID, &inv)
}

// subscriptionDownloadResult answers the poll of a billing-subscription
// download operation.
func (a *API) subscriptionDownloadResult(w http.ResponseWriter, r *http.Request) error {
	op := r.PathValue("operationId")
	scope, name, ok := a.parseDownloadOperation(op)
	sub, _ := billing.ParseGUID(r.PathValue("subscriptionId"))
	if !ok || scope == "" || scope != sub {
		return operationNotFound(op)
	}
	r.SetPathValue("invoiceName", name)
	inv, err := a.subscriptionInvoice(r)
	if err != nil {
		return err
	}
	a.downloadResult(w, r, &inv)
	return nil
}
