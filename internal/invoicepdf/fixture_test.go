package invoicepdf_test

import (
	"fmt"
	"math/rand/v2"
	"time"

	"github.com/reckon-billing/reckon/internal/invoicing"
	"github.com/reckon-billing/reckon/internal/money"
	"github.com/reckon-billing/reckon/internal/rating"
)

func dec(s string) money.Decimal {
	d, err := money.ParseDecimal(s)
	if err != nil {
		panic(err)
	}
	return d
}

// sample builds an invoice of n usage lines (deterministic pseudo-random
// quantities and prices, some tiered, some late usage, some with German
// names) plus one line of each offer term, with a 19 % tax when tax is
// set. Every figure is computed exactly, as the invoicing service does.
func sample(n int, locale, code string, tax bool) *invoicing.Invoice {
	cur := money.MustParseCurrency(code)
	rnd := rand.New(rand.NewPCG(42, uint64(n)))
	categories := []string{"Virtual Machines", "Storage", "Bandwidth", "Datenübertragung", "SQL Database", "Networking"}
	regions := []string{"EU West", "US East", "Japan East", "Central India", "Germany West Central"}
	names := []string{"D2 v3", "Standard LRS Data Stored", "Data Transfer Out", "Größe S1 Überlauf", "vCore", "Public IP Address", "Premium SSD Managed Disks P30 with a deliberately long name that wraps"}
	units := []string{"1 Hour", "1 GB/Month", "1 GB", "10,000 Transactions", "1/Day"}
	issued := time.Date(2024, 4, 4, 3, 0, 0, 0, time.UTC)
	inv := &invoicing.Invoice{
		Name:           "CONTOSO-000042",
		Kind:           invoicing.KindInvoice,
		BillingAccount: "contoso",
		SubscriptionID: "6f1c2d3e-4a5b-4c6d-8e9f-0a1b2c3d4e5f",
		PeriodName:     "202404-1",
		PeriodStart:    time.Date(2024, 3, 1, 0, 0, 0, 0, time.UTC),
		PeriodEnd:      time.Date(2024, 4, 1, 0, 0, 0, 0, time.UTC),
		IssuedAt:       issued,
		InvoiceDate:    time.Date(2024, 4, 4, 0, 0, 0, 0, time.UTC),
		DueDate:        time.Date(2024, 5, 4, 0, 0, 0, 0, time.UTC),
		Currency:       code,
		Locale:         locale,
		Seller: invoicing.Party{
			Name:    "Reckon Cloud GmbH",
			Address: []string{"Müllerstraße 12", "80469 München", "Germany"},
			TaxID:   "DE123456789",
			Country: "DE",
		},
		Buyer: invoicing.Party{
			Name:    "Contoso Ltd.",
			Address: []string{"1 Main Street", "Springfield"},
			TaxID:   "GB987654321",
			Country: "GB",
		},
	}
	var sub money.Decimal
	for i := range n {
		q := dec(fmt.Sprintf("%d.%03d", rnd.IntN(5000), rnd.IntN(1000)))
		l := invoicing.Line{
			Kind:             string(rating.LineUsage),
			MeterID:          fmt.Sprintf("00000000-0000-0000-0000-%012d", i%97),
			MeterName:        names[i%len(names)],
			MeterCategory:    categories[rnd.IntN(len(categories))],
			MeterSubCategory: "Dv3 Series",
			MeterRegion:      regions[i%len(regions)],
			Unit:             units[i%len(units)],
			Quantity:         q,
		}
		if i%5 == 0 {
			l.IncludedQuantity = money.MinDecimal(q, dec("5"))
		}
		billable := q.Sub(l.IncludedQuantity)
		p1 := dec(fmt.Sprintf("0.%04d", rnd.IntN(9999)+1))
		var exact money.Decimal
		if i%4 == 0 && billable.Cmp(dec("100")) > 0 {
			p2 := dec(fmt.Sprintf("0.%05d", rnd.IntN(9999)+1))
			hundred := dec("100")
			l.Tiers = []rating.TierCharge{
				{TierMin: money.Zero, From: money.Zero, To: hundred, Quantity: hundred, UnitPrice: p1, Amount: hundred.Mul(p1)},
				{TierMin: hundred, From: hundred, To: billable, Quantity: billable.Sub(hundred), UnitPrice: p2, Amount: billable.Sub(hundred).Mul(p2)},
			}
		} else if billable.Sign() > 0 {
			l.Tiers = []rating.TierCharge{{TierMin: money.Zero, From: money.Zero, To: billable, Quantity: billable, UnitPrice: p1, Amount: billable.Mul(p1)}}
		}
		for _, t := range l.Tiers {
			exact = exact.Add(t.Amount)
		}
		l.Amount = cur.Round(exact)
		if i%17 == 3 {
			l.Kind = invoicing.LineLateUsage
			l.OriginalPeriod = "202403-1"
		}
		inv.Lines = append(inv.Lines, l)
		sub = sub.Add(l.Amount)
	}
	for _, t := range []struct {
		kind   rating.LineKind
		amount string
	}{{rating.LineRecurringCharge, "120"}, {rating.LineMonetaryCommitment, "-12.345"}, {rating.LineMonetaryCredit, "-50"}} {
		a := cur.Round(dec(t.amount))
		inv.Lines = append(inv.Lines, invoicing.Line{Kind: string(t.kind), Amount: a})
		sub = sub.Add(a)
	}
	inv.SubTotal = sub
	inv.Total = sub
	if tax {
		rate := dec("0.19")
		inv.Tax = &invoicing.Tax{Label: "VAT 19 %", Rate: rate, Amount: cur.Round(sub.Mul(rate))}
		inv.Total = sub.Add(inv.Tax.Amount)
	}
	return inv
}
