package httpapi_test

import (
	"bytes"
	"encoding/json"
	"mime"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/reckon-billing/reckon/internal/httpapi"
	"github.com/reckon-billing/reckon/internal/invoicing"
	"github.com/reckon-billing/reckon/internal/reckontest"
)

// downloadLink gets an invoice through the subscription-level API and
// returns its download link and expiry.
func (w *invoiceWorld) downloadLink(t *testing.T, inv invoicing.Invoice) (string, time.Time) {
	t.Helper()
	got, _ := getAs[legacyInvoiceBody](t, w.srv, w.srv.AdminToken, "/subscriptions/"+inv.SubscriptionID+legacyBase+"invoices/"+inv.Name+"?api-version="+v2018)
	d := got.Properties.DownloadURL
	if d == nil {
		t.Fatalf("%s has no downloadUrl", inv.Name)
	}
	exp, err := time.Parse(time.RFC3339, d.ExpiryTime)
	if err != nil {
		t.Fatalf("expiryTime %q: %v", d.ExpiryTime, err)
	}
	return d.URL, exp
}

// fetchPDF fetches a download link without a bearer token and checks that
// it answers the invoice's stored PDF with the right headers.
func (w *invoiceWorld) fetchPDF(t *testing.T, link string, inv invoicing.Invoice) {
	t.Helper()
	resp, body := send(t, w.srv, request{path: strings.TrimPrefix(link, w.srv.URL)})
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s: %d %s", link, resp.StatusCode, clipBody(body))
	}
	stored, err := w.inv.PDF(t.Context(), inv.Name)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(body, stored) || sha256Hex(body) != inv.PDFSHA256 || !bytes.HasPrefix(body, []byte("%PDF-")) {
		t.Errorf("%s: served %d bytes (sha256 %s), want the stored %d bytes (sha256 %s)", inv.Name, len(body), sha256Hex(body), len(stored), inv.PDFSHA256)
	}
	h := resp.Header
	disp, params, err := mime.ParseMediaType(h.Get("Content-Disposition"))
	if h.Get("Content-Type") != "application/pdf" || err != nil || disp != "attachment" || params["filename"] != inv.Name+".pdf" ||
		h.Get("Content-Length") != strconv.Itoa(len(stored)) || h.Get("Cache-Control") != "private, no-store" ||
		h.Get("X-Content-Type-Options") != "nosniff" {
		t.Errorf("%s: headers %v", inv.Name, h)
	}
	checkRequestIDs(t, resp)
}

// TestDownloadLinks: a link works without a bearer token until its
// expiryTime and never after, serves exactly the stored PDF, and fails on
// any change.
func TestDownloadLinks(t *testing.T) {
	reckontest.ForEachBackend(t, func(t *testing.T, b reckontest.Backend) {
		w := startInvoiceWorld(t, b, httpapi.Config{})
		srv := w.srv
		issued := w.clock.Now()
		link, exp := w.downloadLink(t, w.a[1])
		if !exp.Equal(issued.Add(time.Hour).Truncate(time.Second)) {
			t.Errorf("expiry %s, want an hour after %s", exp, issued)
		}
		for _, inv := range []invoicing.Invoice{w.a[0], w.cn, w.c} {
			l, _ := w.downloadLink(t, inv)
			w.fetchPDF(t, l, inv)
		}
		w.fetchPDF(t, link, w.a[1])

		// Any change fails.
		u, err := url.Parse(link)
		if err != nil {
			t.Fatal(err)
		}
		q := u.Query()
		expires, sig := q.Get("expires"), q.Get("sig")
		flip := func(s string) string {
			c := byte('A')
			if s[3] == 'A' {
				c = 'B'
			}
			return s[:3] + string(c) + s[4:]
		}
		otherLink, _ := w.downloadLink(t, w.a[0])
		op, _ := url.Parse(otherLink)
		path := u.Path
		for _, bad := range []string{
			path + "?expires=" + expires + "&sig=" + flip(sig),
			path + "?expires=" + strconv.Itoa(mustAtoi(t, expires)+3600) + "&sig=" + sig,
			path + "?expires=" + strconv.Itoa(mustAtoi(t, expires)-1) + "&sig=" + sig,
			path + "?expires=0" + expires + "&sig=" + sig,
			path + "?sig=" + sig + "&expires=" + expires,
			path + "?expires=" + expires + "&sig=" + sig + "&x=1",
			path + "?expires=" + expires + "&sig=" + sig + "&expires=" + expires,
			path + "?expires=" + expires + "&sig=" + sig + "=",
			path + "?expires=" + expires,
			path,
			path + "?expires=" + expires + "&sig=" + strings.ToLower(sig),
			strings.TrimSuffix(path, ".pdf") + "?" + u.RawQuery,
			strings.TrimSuffix(path, ".pdf") + ".PDF?" + u.RawQuery,
			op.Path + "?" + u.RawQuery, // another invoice with this link's signature
			path + "?" + op.RawQuery,   // this invoice with another's signature
			"/downloads/v1/invoices/.pdf?" + u.RawQuery,
		} {
			if bad == path+"?expires="+expires+"&sig="+strings.ToLower(sig) && strings.ToLower(sig) == sig {
				continue
			}
			resp, body := send(t, srv, request{path: bad})
			wantError(t, resp, body, http.StatusForbidden, "InvalidDownloadLink", "")
			if resp.Header.Get("Content-Type") == "application/pdf" {
				t.Errorf("%s served a PDF", bad)
			}
		}

		// It works up to its expiry, never from then on, bearer token or not.
		w.clock.Set(exp.Add(-time.Second))
		w.fetchPDF(t, link, w.a[1])
		for _, at := range []time.Time{exp, exp.Add(time.Millisecond), exp.Add(30 * 24 * time.Hour)} {
			w.clock.Set(at)
			for _, token := range []string{"", srv.AdminToken} {
				resp, body := send(t, srv, request{path: strings.TrimPrefix(link, srv.URL), token: token})
				e := wantError(t, resp, body, http.StatusForbidden, "DownloadLinkExpired", "")
				if !strings.Contains(e.Error.Message, exp.Format(time.RFC3339)) {
					t.Errorf("message %q does not say when it expired", e.Error.Message)
				}
			}
		}
		// A new link works again.
		fresh, freshExp := w.downloadLink(t, w.a[1])
		if fresh == link || !freshExp.After(exp) {
			t.Errorf("new link %s expiring %s", fresh, freshExp)
		}
		w.fetchPDF(t, fresh, w.a[1])

		// The link is on the host the client called.
		resp, body := send(t, srv, request{path: "/subscriptions/" + subA + legacyBase + "invoices/" + w.a[1].Name + "?api-version=" + v2018,
			token: srv.AdminToken, host: "billing.example.com:8443"})
		var viaHost legacyInvoiceBody
		if resp.StatusCode != http.StatusOK || json.Unmarshal(body, &viaHost) != nil || viaHost.Properties.DownloadURL == nil ||
			!strings.HasPrefix(viaHost.Properties.DownloadURL.URL, "http://billing.example.com:8443/downloads/v1/invoices/"+w.a[1].Name+".pdf?expires=") {
			t.Errorf("via another host: %d %s", resp.StatusCode, clipBody(body))
		}
	})
}

func mustAtoi(t *testing.T, s string) int {
	t.Helper()
	n, err := strconv.Atoi(s)
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// TestDownloadLinkLifetime: the lifetime is configurable, and a link of
// another server (another key) is refused.
func TestDownloadLinkLifetime(t *testing.T) {
	srv, clock, svc := startInvoiceServer(t, reckontest.SQLite, httpapi.Config{DownloadLinkLifetime: 10 * time.Minute})
	putSub(t, srv, subA, "contoso", "Enabled")
	importRateCard(t, srv, "offerDurableId=MS-AZR-0003P&currency=USD&locale=en-US&regionInfo=US", rateCardImport)
	clock.Set(time.Date(2024, 7, 1, 0, 0, 0, 0, time.UTC))
	inv := closePeriod(t, srv, subA, "202407-1", "?force=true")
	w := &invoiceWorld{srv: srv, clock: clock, inv: svc}
	link, exp := w.downloadLink(t, inv)
	if want := clock.Now().Add(10 * time.Minute); !exp.Equal(want) {
		t.Errorf("expiry %s, want %s", exp, want)
	}
	clock.Advance(10*time.Minute - time.Second)
	w.fetchPDF(t, link, inv)
	clock.Advance(time.Second)
	resp, body := send(t, srv, request{path: strings.TrimPrefix(link, srv.URL)})
	wantError(t, resp, body, http.StatusForbidden, "DownloadLinkExpired", "")

	other, otherClock, _ := startInvoiceServer(t, reckontest.SQLite, httpapi.Config{})
	otherClock.Set(clock.Now().Add(-time.Minute))
	putSub(t, other, subA, "contoso", "Enabled")
	resp, body = send(t, other, request{path: strings.TrimPrefix(link, srv.URL)})
	wantError(t, resp, body, http.StatusForbidden, "InvalidDownloadLink", "")
}

// downloadResultBody is the result of the download operation.
type downloadResultBody struct {
	ExpiryTime string `json:"expiryTime"`
	URL        string `json:"url"`
}

// TestInvoiceDownloadOperation drives the download long-running operation
// of the billing-account API: POST answers 202 with Location and
// Retry-After; polling Location (with or without extra query parameters)
// answers 200 {url, expiryTime}; the URL serves the PDF. Operation ids are
// tamper-evident and the poll checks access again.
func TestInvoiceDownloadOperation(t *testing.T) {
	reckontest.ForEachBackend(t, func(t *testing.T, b reckontest.Backend) {
		w := startInvoiceWorld(t, b, httpapi.Config{})
		srv, tok := w.srv, w.srv.AdminToken
		start := func(t *testing.T, path, token string) string {
			t.Helper()
			resp, body := send(t, srv, request{method: http.MethodPost, path: path, token: token})
			if resp.StatusCode != http.StatusAccepted || len(body) != 0 || resp.Header.Get("Retry-After") != "1" {
				t.Fatalf("POST %s: %d %v %s", path, resp.StatusCode, resp.Header, body)
			}
			loc := resp.Header.Get("Location")
			if !strings.HasPrefix(loc, srv.URL+"/providers/Microsoft.Billing/billingAccounts/") || !strings.Contains(loc, "/operationResults/invoiceDownload_") {
				t.Fatalf("Location %q", loc)
			}
			return loc
		}
		poll := func(t *testing.T, loc, token string, inv invoicing.Invoice) {
			t.Helper()
			res, _ := getAs[downloadResultBody](t, srv, token, strings.TrimPrefix(loc, srv.URL))
			if res.ExpiryTime != w.clock.Now().Add(time.Hour).UTC().Format(time.RFC3339) {
				t.Errorf("expiryTime %q", res.ExpiryTime)
			}
			w.fetchPDF(t, res.URL, inv)
		}

		acct := accountBase + "contoso/invoices/" + w.a[1].Name
		loc := start(t, acct+"/download?api-version="+v2024, tok)
		if want := srv.URL + acct + "/operationResults/"; !strings.HasPrefix(loc, want) || !strings.HasSuffix(loc, "?api-version="+v2024) {
			t.Errorf("Location %q, want under %s", loc, want)
		}
		poll(t, loc, tok, w.a[1])
		// @azure/arm-billing appends the original query to Location.
		poll(t, loc+"&api-version="+v2020+"&downloadToken=DRS_1", tok, w.a[1])
		poll(t, loc+"&documentName=x", tok, w.a[1])
		// The same through "default", by document name, and in 2020-05-01.
		poll(t, start(t, accountBase+"default/invoices/"+w.cn.Name+"/download?api-version="+v2024+"&documentName="+w.cn.Name, tok), tok, w.cn)
		poll(t, start(t, acct+"/download?api-version="+v2020+"&downloadToken=DRS_12345", tok), tok, w.a[1])

		// By billing subscription.
		subPath := accountBase + "default/billingSubscriptions/" + subA
		subLoc := start(t, subPath+"/invoices/"+w.a[0].Name+"/download?api-version="+v2024, tok)
		if !strings.HasPrefix(subLoc, srv.URL+subPath+"/operationResults/invoiceDownload_") {
			t.Errorf("Location %q", subLoc)
		}
		poll(t, subLoc, tok, w.a[0])
		poll(t, start(t, accountBase+"contoso/billingSubscriptions/"+subB+"/invoices/"+w.b.Name+"/download?api-version="+v2020, tok), tok, w.b)

		// Access is checked when the operation starts and when it is polled.
		admin := srv.Principal(t, "dl-admin", "Account Admin@/providers/Microsoft.Billing/billingAccounts/contoso")
		reader := srv.Principal(t, "dl-reader", "Reader@/subscriptions/"+subA)
		fabrikam := srv.Principal(t, "dl-fabrikam", "Account Admin@/providers/Microsoft.Billing/billingAccounts/fabrikam")
		poll(t, loc, admin, w.a[1])
		poll(t, subLoc, admin, w.a[0])
		for _, token := range []string{reader, fabrikam} {
			for _, p := range []string{loc, subLoc} {
				resp, body := send(t, srv, request{path: strings.TrimPrefix(p, srv.URL), token: token})
				wantError(t, resp, body, http.StatusForbidden, "AuthorizationFailed", "")
			}
			resp, body := send(t, srv, request{method: http.MethodPost, path: acct + "/download?api-version=" + v2024, token: token})
			wantError(t, resp, body, http.StatusForbidden, "AuthorizationFailed", "")
		}
		resp, body := send(t, srv, request{path: strings.TrimPrefix(loc, srv.URL)})
		wantError(t, resp, body, http.StatusUnauthorized, "AuthenticationFailed", "")

		// Operation ids are the server's own, for this invoice and scope.
		opOf := func(l string) string {
			u, _ := url.Parse(l)
			return u.Path[strings.LastIndex(u.Path, "/")+1:]
		}
		op, subOp := opOf(loc), opOf(subLoc)
		for _, path := range []string{
			acct + "/operationResults/" + op[:len(op)-2] + "AA",
			acct + "/operationResults/invoiceDownload_x",
			acct + "/operationResults/" + strings.TrimPrefix(op, "invoiceDownload_"),
			accountBase + "contoso/invoices/" + w.a[0].Name + "/operationResults/" + op,         // another invoice
			acct + "/operationResults/" + subOp,                                                 // a subscription operation
			accountBase + "default/billingSubscriptions/" + subB + "/operationResults/" + subOp, // another subscription
			subPath + "/operationResults/" + op,                                                 // an account operation
		} {
			resp, body := get(t, srv, path)
			wantError(t, resp, body, http.StatusNotFound, "OperationNotFound", "operationId")
		}

		// Bad starts.
		for _, c := range []struct {
			path, code, target string
			status             int
		}{
			{acct + "/download?api-version=" + v2024 + "&documentName=other", "DocumentNotFound", "documentName", 404},
			{accountBase + "contoso/invoices/NOPE-000001/download?api-version=" + v2024, "InvoiceNotFound", "invoiceName", 404},
			{subPath + "/invoices/" + w.b.Name + "/download?api-version=" + v2024, "InvoiceNotFound", "invoiceName", 404},
			{acct + "/download", "MissingApiVersionParameter", "api-version", 400},
			{acct + "/download?api-version=" + v2018, "InvalidApiVersionParameter", "api-version", 400},
		} {
			resp, body := send(t, srv, request{method: http.MethodPost, path: c.path, token: tok})
			wantError(t, resp, body, c.status, c.code, c.target)
		}
		resp, body = get(t, srv, acct+"/download?api-version="+v2024)
		wantError(t, resp, body, http.StatusBadRequest, "MethodNotAllowed", "")
	})
}
