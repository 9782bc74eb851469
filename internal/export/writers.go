package export

import (
	"github.com/reckon-billing/reckon/internal/charges"
)

// FOCUSWriter streams CostRows into a FOCUS 1.2 export folder (dataset
// "FocusCost"): each row is mapped and written as it comes, so memory does
// not grow with the export.
type FOCUSWriter struct {
	t   *tableWriter
	m   focusMapper
	rec record
}

// NewFOCUSWriter starts a FOCUS export into opts.Dir.
func NewFOCUSWriter(opts Options, focus FOCUSOptions) (*FOCUSWriter, error) {
	if err := focus.validate(); err != nil {
		return nil, err
	}
	t, err := newTableWriter(opts, "FocusCost", FOCUSVersion, FOCUSColumns,
		fBilledCost, fBillingCurrency, fChargePeriodStart, fChargePeriodEnd)
	if err != nil {
		return nil, err
	}
	return &FOCUSWriter{t: t, m: focusMapper{opts: focus}, rec: make(record, fColumnCount)}, nil
}

// Write writes one row.
func (w *FOCUSWriter) Write(r *charges.CostRow) error {
	w.m.fill(w.rec, r)
	return w.t.write(w.rec)
}

// Close finishes the last part file and writes manifest.json, returning it.
func (w *FOCUSWriter) Close() (*Manifest, error) { return w.t.close() }

// CostDetailsColumns are the columns of the cost and usage details export:
// one row per meter × resource × day.
var CostDetailsColumns = []Column{
	{"Date", TypeDateTime, false},
	{"SubscriptionId", TypeString, false},
	{"ResourceGroup", TypeString, true},
	{"ResourceId", TypeString, true},
	{"Location", TypeString, true},
	{"ChargeType", TypeString, false},
	{"MeterId", TypeString, true},
	{"MeterName", TypeString, true},
	{"MeterCategory", TypeString, true},
	{"MeterSubCategory", TypeString, true},
	{"MeterRegion", TypeString, true},
	{"Unit", TypeString, true},
	{"Quantity", TypeDecimal, true},
	{"UnitPrice", TypeDecimal, true},
	{"Cost", TypeDecimal, false},
	{"Currency", TypeString, false},
	{"InvoiceId", TypeString, true},
	{"Tags", TypeJSON, true},
}

const (
	cdDate = iota
	cdSubscriptionId
	cdResourceGroup
	cdResourceId
	cdLocation
	cdChargeType
	cdMeterId
	cdMeterName
	cdMeterCategory
	cdMeterSubCategory
	cdMeterRegion
	cdUnit
	cdQuantity
	cdUnitPrice
	cdCost
	cdCurrency
	cdInvoiceId
	cdTags
	cdColumnCount
)

// CostDetailsWriter streams CostRows into a "cost and usage details"
// export (dataset "CostDetails"): the rows of a Daily CostRows query, one
// per meter × resource × day, with quantity, unit price (empty when the
// meter has no price), cost, tags and resource group. Offer-term rows are
// written too (ChargeType says which), so that the costs add up to the
// invoice. Date is the start of the row's charge period.
type CostDetailsWriter struct {
	t    *tableWriter
	rec  record
	tags []byte
	keys []string
}

// NewCostDetailsWriter starts a cost details export into opts.Dir.
func NewCostDetailsWriter(opts Options) (*CostDetailsWriter, error) {
	t, err := newTableWriter(opts, "CostDetails", "", CostDetailsColumns, cdCost, cdCurrency, cdDate, cdDate)
	if err != nil {
		return nil, err
	}
	return &CostDetailsWriter{t: t, rec: make(record, cdColumnCount)}, nil
}

// Write writes one row.
func (w *CostDetailsWriter) Write(r *charges.CostRow) error {
	rec := w.rec
	rec[cdDate].setTime(r.ChargePeriodStart)
	rec[cdSubscriptionId].setString(r.SubscriptionID)
	rec[cdResourceGroup].setStringOrNull(r.ResourceGroup)
	rec[cdResourceId].setStringOrNull(r.ResourceURI)
	rec[cdLocation].setStringOrNull(r.Location)
	rec[cdChargeType].setString(r.Kind)
	rec[cdMeterId].setStringOrNull(r.MeterID)
	rec[cdMeterName].setStringOrNull(r.MeterName)
	rec[cdMeterCategory].setStringOrNull(r.MeterCategory)
	rec[cdMeterSubCategory].setStringOrNull(r.MeterSubCategory)
	rec[cdMeterRegion].setStringOrNull(r.MeterRegion)
	rec[cdUnit].setStringOrNull(r.Unit)
	if r.MeterID != "" {
		rec[cdQuantity].setDecimal(r.Quantity)
	} else {
		rec[cdQuantity].setNull()
	}
	if r.Priced {
		rec[cdUnitPrice].setDecimal(r.UnitPrice)
	} else {
		rec[cdUnitPrice].setNull()
	}
	rec[cdCost].setDecimal(r.Cost)
	rec[cdCurrency].setString(r.Currency)
	rec[cdInvoiceId].setStringOrNull(r.InvoiceName)
	if len(r.Tags) == 0 {
		rec[cdTags].setNull()
	} else {
		w.tags, w.keys = appendTagsJSON(w.tags[:0], w.keys[:0], r.Tags)
		rec[cdTags].setBytes(w.tags)
	}
	return w.t.write(rec)
}

// Close finishes the last part file and writes manifest.json, returning it.
func (w *CostDetailsWriter) Close() (*Manifest, error) { return w.t.close() }
