package main

import (
	"flag"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/reckon-billing/reckon/internal/invoicing"
	"github.com/reckon-billing/reckon/internal/money"
)

// invoiceFlags are serve's flags for periods and invoices.
type invoiceFlags struct {
	graceTime      time.Duration
	lateUsage      string
	closeInterval  time.Duration
	sellerName     string
	sellerAddress  string
	sellerTaxID    string
	sellerLogo     string
	taxRates       string
	paymentDays    int
	downloadExpiry time.Duration
}

func (f *invoiceFlags) register(fs *flag.FlagSet) {
	fs.DurationVar(&f.graceTime, "grace-time", 72*time.Hour, "how long after a billing period's end it is closed and invoiced")
	fs.StringVar(&f.lateUsage, "late-usage", invoicing.LateUsageCarry, "usage of a closed period that arrives later: carry (into the next invoice) or discard")
	fs.DurationVar(&f.closeInterval, "close-interval", time.Minute, "how often the scheduler looks for periods to close (0: never; close with reckon close)")
	fs.StringVar(&f.sellerName, "seller-name", "Reckon operator", "seller name printed on invoices")
	fs.StringVar(&f.sellerAddress, "seller-address", "", "seller address printed on invoices, lines separated by '|'")
	fs.StringVar(&f.sellerTaxID, "seller-tax-id", "", "seller tax id printed on invoices")
	fs.StringVar(&f.sellerLogo, "seller-logo", "", "PNG file of the seller's logo printed on invoices")
	fs.StringVar(&f.taxRates, "tax", "", "tax rates by buyer country, e.g. 'DE=0.19:VAT 19 %,FR=0.20:TVA 20 %' (none: invoices carry no tax line)")
	fs.IntVar(&f.paymentDays, "payment-days", 30, "days from the invoice date to its due date")
	fs.DurationVar(&f.downloadExpiry, "download-link-lifetime", time.Hour, "how long an invoice download link works")
}

// config turns the flags into the invoicing configuration.
func (f *invoiceFlags) config() (invoicing.Config, error) {
	c := invoicing.Config{GraceTime: f.graceTime, LateUsage: f.lateUsage, PaymentDays: f.paymentDays,
		Seller: invoicing.Party{Name: f.sellerName, TaxID: f.sellerTaxID}}
	if f.lateUsage != invoicing.LateUsageCarry && f.lateUsage != invoicing.LateUsageDiscard {
		return c, fmt.Errorf("serve: --late-usage must be %s or %s", invoicing.LateUsageCarry, invoicing.LateUsageDiscard)
	}
	if f.graceTime < 0 || f.paymentDays < 0 {
		return c, fmt.Errorf("serve: --grace-time and --payment-days may not be negative")
	}
	if f.sellerAddress != "" {
		c.Seller.Address = strings.Split(f.sellerAddress, "|")
	}
	if f.sellerLogo != "" {
		b, err := os.ReadFile(f.sellerLogo)
		if err != nil {
			return c, fmt.Errorf("serve: --seller-logo: %w", err)
		}
		if len(b) < 8 || string(b[1:4]) != "PNG" {
			return c, fmt.Errorf("serve: --seller-logo %s is not a PNG file", f.sellerLogo)
		}
		c.Seller.LogoPNG = b
	}
	rates, err := parseTaxRates(f.taxRates)
	if err != nil {
		return c, err
	}
	c.TaxRates = rates
	return c, nil
}

// parseTaxRates reads "DE=0.19:VAT 19 %,FR=0.20:TVA 20 %".
func parseTaxRates(s string) (map[string]invoicing.TaxRate, error) {
	out := map[string]invoicing.TaxRate{}
	if strings.TrimSpace(s) == "" {
		return out, nil
	}
	for _, item := range strings.Split(s, ",") {
		country, rest, ok := strings.Cut(strings.TrimSpace(item), "=")
		rate, label, _ := strings.Cut(rest, ":")
		country = strings.ToUpper(strings.TrimSpace(country))
		d, err := money.ParseDecimal(strings.TrimSpace(rate))
		if !ok || len(country) != 2 || err != nil || d.Sign() < 0 || d.Cmp(money.DecimalFromInt(1)) >= 0 {
			return nil, fmt.Errorf("serve: --tax item %q is not COUNTRY=RATE[:LABEL] with 0 <= RATE < 1", item)
		}
		if label = strings.TrimSpace(label); label == "" {
			label = "Tax"
		}
		out[country] = invoicing.TaxRate{Rate: d, Label: label}
	}
	return out, nil
}
