package main

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
)

// runClose is "reckon close --subscription ID --period NAME [--force]": the
// CLI mirror of POST /admin/v1/subscriptions/{id}/billingPeriods/{name}/close.
func runClose(ctx context.Context, env environment, args []string) error {
	fs := newFlagSet(env, "close")
	var cf clientFlags
	cf.register(fs)
	sub := fs.String("subscription", "", "subscription id")
	period := fs.String("period", "", "billing period name, e.g. 202611-1")
	force := fs.Bool("force", false, "close now, without waiting for the grace time")
	dataDir := fs.String("data-dir", "./reckon-data", "data directory whose operator-credentials to use")
	if err := parseFlags(fs, env, args); err != nil {
		return err
	}
	if *sub == "" || *period == "" || fs.NArg() > 0 {
		fmt.Fprintln(env.stderr, "usage: reckon close --subscription ID --period NAME [--force]")
		return exitError(2)
	}
	c, err := cf.client(env, *dataDir)
	if err != nil {
		return err
	}
	path := "/admin/v1/subscriptions/" + url.PathEscape(*sub) + "/billingPeriods/" + url.PathEscape(*period) + "/close"
	if *force {
		path += "?force=true"
	}
	var out any
	if _, err := c.do(ctx, "POST", path, "", nil, &out); err != nil {
		return err
	}
	return printJSON(env, out)
}

// runInvoice is "reckon invoice list|show|pdf": a subscription's invoices
// through the Azure-compatible API, and an invoice's PDF (exactly the
// stored bytes, checked against the sha256 the invoice carries).
func runInvoice(ctx context.Context, env environment, args []string) error {
	if len(args) == 0 {
		fmt.Fprintln(env.stderr, "usage: reckon invoice list --subscription ID | show NAME --subscription ID | pdf NAME --subscription ID [-o FILE] | credit NAME --reason TEXT")
		return exitError(2)
	}
	verb := args[0]
	if verb == "credit" {
		return runCreditNote(ctx, env, args[1:])
	}
	fs := newFlagSet(env, "invoice "+verb)
	var cf clientFlags
	cf.register(fs)
	sub := fs.String("subscription", "", "subscription id")
	outFile := fs.String("o", "", "where to write the PDF (default: NAME.pdf)")
	dataDir := fs.String("data-dir", "./reckon-data", "data directory whose operator-credentials to use")
	if err := parseFlags(fs, env, args[1:]); err != nil {
		return err
	}
	if *sub == "" {
		return fmt.Errorf("invoice %s needs --subscription", verb)
	}
	c, err := cf.client(env, *dataDir)
	if err != nil {
		return err
	}
	base := "/subscriptions/" + url.PathEscape(*sub) + "/providers/Microsoft.Billing/invoices"
	const v = "?api-version=2018-03-01-preview"
	switch verb {
	case "list":
		var out any
		if _, err := c.do(ctx, "GET", base+v, "", nil, &out); err != nil {
			return err
		}
		return printJSON(env, out)
	case "show", "pdf":
		if fs.NArg() != 1 {
			return fmt.Errorf("invoice %s takes one invoice NAME", verb)
		}
		name := fs.Arg(0)
		var inv struct {
			Properties struct {
				DownloadURL struct{ URL string } `json:"downloadUrl"`
			} `json:"properties"`
		}
		var raw any
		if _, err := c.do(ctx, "GET", base+"/"+url.PathEscape(name)+v, "", nil, &raw); err != nil {
			return err
		}
		if verb == "show" {
			return printJSON(env, raw)
		}
		if err := remarshal(raw, &inv); err != nil || inv.Properties.DownloadURL.URL == "" {
			return fmt.Errorf("invoice %s: no download link in the answer", name)
		}
		resp, err := c.http.Get(inv.Properties.DownloadURL.URL) // signed: no bearer token
		if err != nil {
			return err
		}
		defer resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			return fmt.Errorf("download %s: %s", name, resp.Status)
		}
		pdf, err := io.ReadAll(io.LimitReader(resp.Body, 64<<20))
		if err != nil {
			return err
		}
		file := *outFile
		if file == "" {
			file = name + ".pdf"
		}
		if err := os.WriteFile(file, pdf, 0o644); err != nil {
			return err
		}
		sum := sha256.Sum256(pdf)
		fmt.Fprintf(env.stdout, "%s: %d bytes, sha256 %s\n", file, len(pdf), hex.EncodeToString(sum[:]))
		return nil
	}
	return fmt.Errorf("unknown invoice command %q (list, show, pdf, credit)", verb)
}

// runCreditNote is "reckon invoice credit NAME --reason R": a credit note
// reversing an issued invoice (POST /admin/v1/invoices/{name}/creditNotes).
func runCreditNote(ctx context.Context, env environment, args []string) error {
	fs := newFlagSet(env, "invoice credit")
	var cf clientFlags
	cf.register(fs)
	reason := fs.String("reason", "", "why the invoice is corrected (printed on the credit note)")
	dataDir := fs.String("data-dir", "./reckon-data", "data directory whose operator-credentials to use")
	if err := parseFlags(fs, env, args); err != nil {
		return err
	}
	if fs.NArg() != 1 || *reason == "" {
		fmt.Fprintln(env.stderr, "usage: reckon invoice credit NAME --reason TEXT")
		return exitError(2)
	}
	c, err := cf.client(env, *dataDir)
	if err != nil {
		return err
	}
	body, _ := json.Marshal(map[string]string{"reason": *reason})
	var out any
	if _, err := c.do(ctx, "POST", "/admin/v1/invoices/"+url.PathEscape(fs.Arg(0))+"/creditNotes", "application/json", body, &out); err != nil {
		return err
	}
	return printJSON(env, out)
}

// remarshal converts a decoded JSON value into another shape.
func remarshal(from, to any) error {
	b, err := json.Marshal(from)
	if err != nil {
		return err
	}
	return json.Unmarshal(b, to)
}
