package export

import (
	"encoding/csv"
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/reckon-billing/reckon/internal/charges"
	"github.com/reckon-billing/reckon/internal/money"
)

func dec(t testing.TB, s string) money.Decimal {
	t.Helper()
	d, err := money.ParseDecimal(s)
	if err != nil {
		t.Fatal(err)
	}
	return d
}

var (
	periodStart = time.Date(2026, 10, 1, 0, 0, 0, 0, time.UTC)
	periodEnd   = time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC)
)

const vmURI = "/subscriptions/11111111-1111-1111-1111-111111111111/resourceGroups/rg-web/providers/Microsoft.Compute/virtualMachines/vm-1"

// testRows is a small month of cost rows covering every kind Reckon
// produces: priced and unpriced usage, late usage carried from a closed
// period, and the offer terms, in two currencies, with awkward text.
func testRows(t testing.TB) []charges.CostRow {
	day := func(d int) (time.Time, time.Time) {
		s := periodStart.AddDate(0, 0, d-1)
		return s, s.AddDate(0, 0, 1)
	}
	base := func(d int) charges.CostRow {
		s, e := day(d)
		return charges.CostRow{
			SubscriptionID: "11111111-1111-1111-1111-111111111111", BillingAccount: "ba-1", Currency: "USD",
			BillingPeriodStart: periodStart, BillingPeriodEnd: periodEnd, ChargePeriodStart: s, ChargePeriodEnd: e,
			Kind: "Usage", InvoiceName: "INV-2026-10-0001",
		}
	}
	var rows []charges.CostRow
	for d := 1; d <= 3; d++ {
		r := base(d)
		r.MeterID, r.MeterName, r.MeterCategory, r.MeterSubCategory, r.MeterRegion, r.Unit =
			"fab6eb84-500b-4a09-a8ca-7358f8bbaea5", "Base VM Size Hours", "Virtual Machines", "Standard_D2s_v3", "local", "1 Hour"
		r.ResourceURI, r.ResourceGroup, r.Location = vmURI, "rg-web", "local"
		r.Tags = map[string]string{"env": "prod", "owner": `Smith, "J"`, "ünï": "cödé\n2"}
		r.Quantity, r.BillableQuantity = dec(t, "24"), dec(t, "24")
		r.ListUnitPrice, r.UnitPrice, r.Priced = dec(t, "0.0123456789"), dec(t, "0.0123456789"), true
		r.ListCost = r.BillableQuantity.Mul(r.ListUnitPrice)
		r.Cost = r.ListCost
		rows = append(rows, r)
	}
	// Storage with an included quantity: billable part only is priced.
	r := base(2)
	r.MeterID, r.MeterName, r.MeterCategory, r.Unit = "09f8879e-87e9-4305-a572-4b7be209f857", "Blob Storage Data Stored", "Storage", "1 GB/Month"
	r.ResourceURI, r.ResourceGroup, r.Location = "/subscriptions/11111111-1111-1111-1111-111111111111/resourceGroups/rg-data/providers/Microsoft.Storage/storageAccounts/sa1", "rg-data", "local"
	r.Quantity, r.BillableQuantity = dec(t, "10.5"), dec(t, "0.5")
	r.ListUnitPrice, r.UnitPrice, r.Priced = dec(t, "0.02"), dec(t, "0.02"), true
	r.ListCost, r.Cost = dec(t, "0.01"), dec(t, "0.01")
	rows = append(rows, r)
	// A meter without a rate: costs 0, prices unknown (null).
	r = base(2)
	r.MeterID, r.MeterName, r.MeterCategory, r.Unit = "4a3b9c0e-0000-4000-8000-000000000001", "Unpriced Meter", "Key Vault", "10K"
	r.Quantity, r.BillableQuantity = dec(t, "3"), dec(t, "3")
	rows = append(rows, r)
	// Late usage of September, carried into October.
	r = base(1)
	r.Kind, r.OriginalPeriod = "Late usage", "202609-1"
	r.ChargePeriodStart, r.ChargePeriodEnd = periodStart.AddDate(0, 0, -1), periodStart
	r.MeterID, r.MeterName, r.MeterCategory, r.Unit = "fab6eb84-500b-4a09-a8ca-7358f8bbaea5", "Base VM Size Hours", "Virtual Machines", "1 Hour"
	r.ResourceURI, r.ResourceGroup, r.Location = vmURI, "rg-web", "local"
	r.Quantity, r.BillableQuantity = dec(t, "2"), dec(t, "2")
	r.ListUnitPrice, r.UnitPrice, r.Priced = dec(t, "0.0123456789"), dec(t, "0.0123456789"), true
	r.ListCost, r.Cost = dec(t, "0.0246913578"), dec(t, "0.0246913578")
	rows = append(rows, r)
	// Offer terms: no meter, no resource; charge period = billing period.
	term := func(kind, cost string) charges.CostRow {
		r := base(1)
		r.Kind, r.ChargePeriodStart, r.ChargePeriodEnd = kind, periodStart, periodEnd
		r.Cost, r.ListCost = dec(t, cost), dec(t, cost)
		return r
	}
	rc := term("Recurring Charge", "25")
	rc.ListUnitPrice, rc.UnitPrice, rc.Priced = dec(t, "25"), dec(t, "25"), true
	rows = append(rows, rc, term("Monetary Credit", "-10"), term("Monetary Commitment", "-5.5"))
	// A second currency.
	r = base(3)
	r.SubscriptionID, r.Currency, r.InvoiceName = "22222222-2222-2222-2222-222222222222", "EUR", ""
	r.MeterID, r.MeterName, r.MeterCategory, r.Unit = "fab6eb84-500b-4a09-a8ca-7358f8bbaea5", "Base VM Size Hours", "Virtual Machines", "1 Hour"
	r.Quantity, r.BillableQuantity = dec(t, "0.000000001"), dec(t, "0.000000001")
	r.ListUnitPrice, r.UnitPrice, r.Priced = dec(t, "1.5"), dec(t, "1.5"), true
	r.ListCost, r.Cost = dec(t, "0.0000000015"), dec(t, "0.0000000015")
	rows = append(rows, r)
	return rows
}

var testFOCUS = FOCUSOptions{ProviderName: "Contoso Cloud, Inc."}

func writeFOCUS(t testing.TB, rows []charges.CostRow, opts Options) *Manifest {
	t.Helper()
	w, err := NewFOCUSWriter(opts, testFOCUS)
	if err != nil {
		t.Fatal(err)
	}
	for i := range rows {
		if err := w.Write(&rows[i]); err != nil {
			t.Fatal(err)
		}
	}
	m, err := w.Close()
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// readAll reads an export folder into maps of column name → value (absent
// when null).
func readAll(t testing.TB, dir string) (*Manifest, []map[string]string) {
	t.Helper()
	var out []map[string]string
	var cols []Column
	m, err := ReadFolder(dir, func(row []*string) error {
		if cols == nil {
			b, _ := os.ReadFile(filepath.Join(dir, ManifestName))
			var mm Manifest
			json.Unmarshal(b, &mm)
			cols = mm.Columns
		}
		rec := map[string]string{}
		for i, v := range row {
			if v != nil {
				rec[cols[i].Name] = *v
			}
		}
		out = append(out, rec)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return m, out
}

func TestFOCUSColumnIndexes(t *testing.T) {
	if len(FOCUSColumns) != fColumnCount {
		t.Fatalf("%d columns, %d indexes", len(FOCUSColumns), fColumnCount)
	}
	want := map[int]string{
		fBilledCost: "BilledCost", fBillingCurrency: "BillingCurrency", fChargeCategory: "ChargeCategory",
		fChargeClass: "ChargeClass", fChargePeriodStart: "ChargePeriodStart", fConsumedQuantity: "ConsumedQuantity",
		fContractedUnitPrice: "ContractedUnitPrice", fInvoiceId: "InvoiceId", fListUnitPrice: "ListUnitPrice",
		fPricingUnit: "PricingUnit", fRegionName: "RegionName", fResourceType: "ResourceType",
		fServiceName: "ServiceName", fSkuMeter: "SkuMeter", fSubAccountType: "SubAccountType", fTags: "Tags",
		fxMeterId: "x_MeterId", fxResourceGroupName: "x_ResourceGroupName",
	}
	for i, n := range want {
		if FOCUSColumns[i].Name != n {
			t.Errorf("FOCUSColumns[%d] = %s, want %s", i, FOCUSColumns[i].Name, n)
		}
	}
	names := make([]string, len(FOCUSColumns))
	for i, c := range FOCUSColumns {
		names[i] = c.Name
	}
	if !sort.StringsAreSorted(names) {
		t.Errorf("columns not in byte order (Parquet and Azure order): %v", names)
	}
	if len(CostDetailsColumns) != cdColumnCount || CostDetailsColumns[cdCost].Name != "Cost" || CostDetailsColumns[cdTags].Name != "Tags" {
		t.Error("CostDetailsColumns out of step with its indexes")
	}
}

// TestFOCUSConformance checks a CSV export against the FOCUS 1.2 column
// requirements quoted in testdata/focus-1.2-excerpt.md.
func TestFOCUSConformance(t *testing.T) {
	rows := testRows(t)
	dir := t.TempDir()
	m := writeFOCUS(t, rows, Options{Dir: dir, Format: FormatCSV})
	_, got := readAll(t, dir)
	if len(got) != len(rows) || m.RowCount != int64(len(rows)) || m.FOCUSVersion != "1.2" || m.Dataset != "FocusCost" {
		t.Fatalf("%d rows read, manifest %+v; want %d", len(got), m, len(rows))
	}

	mandatory := []string{"BilledCost", "BillingAccountId", "BillingAccountName", "BillingCurrency", "BillingPeriodEnd",
		"BillingPeriodStart", "ChargeCategory", "ChargeClass", "ChargeDescription", "ChargePeriodEnd", "ChargePeriodStart",
		"ContractedCost", "EffectiveCost", "InvoiceIssuerName", "ListCost", "PricingQuantity", "PricingUnit",
		"ProviderName", "PublisherName", "ServiceCategory", "ServiceName"}
	focus12 := map[string]bool{}
	for _, n := range strings.Fields(`AvailabilityZone BilledCost BillingAccountId BillingAccountName BillingAccountType
		BillingCurrency BillingPeriodEnd BillingPeriodStart CapacityReservationId CapacityReservationStatus ChargeCategory
		ChargeClass ChargeDescription ChargeFrequency ChargePeriodEnd ChargePeriodStart CommitmentDiscountCategory
		CommitmentDiscountId CommitmentDiscountName CommitmentDiscountQuantity CommitmentDiscountStatus
		CommitmentDiscountType CommitmentDiscountUnit ConsumedQuantity ConsumedUnit ContractedCost ContractedUnitPrice
		EffectiveCost InvoiceId InvoiceIssuerName ListCost ListUnitPrice PricingCategory PricingCurrency
		PricingCurrencyContractedUnitPrice PricingCurrencyEffectiveCost PricingCurrencyListUnitPrice PricingQuantity
		PricingUnit ProviderName PublisherName RegionId RegionName ResourceId ResourceName ResourceType ServiceCategory
		ServiceName ServiceSubcategory SkuId SkuMeter SkuPriceDetails SkuPriceId SubAccountId SubAccountName
		SubAccountType Tags`) {
		focus12[n] = true
	}
	header := map[string]Column{}
	for _, c := range m.Columns {
		header[c.Name] = c
		if !focus12[c.Name] && !strings.HasPrefix(c.Name, "x_") {
			t.Errorf("column %s is neither a FOCUS 1.2 column nor x_-prefixed", c.Name)
		}
	}
	for _, n := range mandatory {
		if _, ok := header[n]; !ok {
			t.Errorf("mandatory column %s missing", n)
		}
	}
	categories := []string{"Usage", "Purchase", "Tax", "Credit", "Adjustment"}
	frequencies := []string{"One-Time", "Recurring", "Usage-Based"}
	serviceCategories := []string{"AI and Machine Learning", "Analytics", "Business Applications", "Compute", "Databases",
		"Developer Tools", "Multicloud", "Identity", "Integration", "Internet of Things", "Management and Governance",
		"Media", "Migration", "Mobile", "Networking", "Security", "Storage", "Web", "Other"}

	for i, r := range got {
		in := rows[i]
		for _, c := range m.Columns {
			v, ok := r[c.Name]
			if !ok {
				if !c.Nullable {
					t.Errorf("row %d: %s is null", i, c.Name)
				}
				continue
			}
			switch c.Type {
			case TypeDecimal:
				if _, err := money.ParseDecimal(v); err != nil || strings.ContainsAny(v, "eE") {
					t.Errorf("row %d: %s = %q is not a plain decimal", i, c.Name, v)
				}
			case TypeDateTime:
				ts, err := time.Parse(time.RFC3339, v)
				if err != nil || !strings.HasSuffix(v, "Z") || ts.Location() != time.UTC {
					t.Errorf("row %d: %s = %q is not ISO 8601 UTC", i, c.Name, v)
				}
			case TypeJSON:
				var obj map[string]string
				if err := json.Unmarshal([]byte(v), &obj); err != nil {
					t.Errorf("row %d: %s = %q: %v", i, c.Name, v, err)
				}
			}
		}
		cat, class := r["ChargeCategory"], r["ChargeClass"]
		if !slices.Contains(categories, cat) {
			t.Errorf("row %d: ChargeCategory %q", i, cat)
		}
		if !slices.Contains(frequencies, r["ChargeFrequency"]) || (cat == "Purchase" && r["ChargeFrequency"] == "Usage-Based") {
			t.Errorf("row %d: ChargeFrequency %q for %s", i, r["ChargeFrequency"], cat)
		}
		if !slices.Contains(serviceCategories, r["ServiceCategory"]) {
			t.Errorf("row %d: ServiceCategory %q", i, r["ServiceCategory"])
		}
		// ChargeClass: null unless a correction of an invoiced period; then "Correction".
		wantCorrection := in.OriginalPeriod != ""
		if _, isSet := r["ChargeClass"]; isSet != wantCorrection || (isSet && class != "Correction") {
			t.Errorf("row %d (%s): ChargeClass %q, correction %v", i, in.Kind, class, wantCorrection)
		}
		_, hasList := r["ListUnitPrice"]
		_, hasContracted := r["ContractedUnitPrice"]
		_, hasPQ := r["PricingQuantity"]
		_, hasCQ := r["ConsumedQuantity"]
		usageOrPurchase := cat == "Usage" || cat == "Purchase"
		switch {
		case !in.Priced:
			if hasList || hasContracted {
				t.Errorf("row %d: unpriced meter has ListUnitPrice %q / ContractedUnitPrice %q, want null", i, r["ListUnitPrice"], r["ContractedUnitPrice"])
			}
		case usageOrPurchase && class == "":
			if !hasList || !hasContracted {
				t.Errorf("row %d: priced %s row without unit prices", i, cat)
			}
		}
		if hasList {
			lup := dec(t, r["ListUnitPrice"])
			if lup.Sign() < 0 {
				t.Errorf("row %d: negative ListUnitPrice", i)
			}
			if class == "" && hasPQ && lup.Mul(dec(t, r["PricingQuantity"])).Cmp(dec(t, r["ListCost"])) != 0 {
				t.Errorf("row %d: ListUnitPrice %s × PricingQuantity %s != ListCost %s", i, r["ListUnitPrice"], r["PricingQuantity"], r["ListCost"])
			}
		}
		if cat == "Tax" && (hasList || hasPQ) {
			t.Errorf("row %d: Tax with prices", i)
		}
		if usageOrPurchase && class == "" && !hasPQ {
			t.Errorf("row %d: %s without PricingQuantity", i, cat)
		}
		if cat != "Usage" && hasCQ {
			t.Errorf("row %d: ConsumedQuantity on a %s row", i, cat)
		}
		if cat == "Usage" && class == "" && !hasCQ {
			t.Errorf("row %d: usage without ConsumedQuantity", i)
		}
		if in.ResourceURI == "" {
			if _, ok := r["ResourceId"]; ok {
				t.Errorf("row %d: ResourceId %q for a row without resource", i, r["ResourceId"])
			}
		}
		// exact values
		for _, c := range []struct{ col, want string }{
			{"BilledCost", in.Cost.String()}, {"EffectiveCost", in.Cost.String()}, {"ContractedCost", in.Cost.String()},
			{"ListCost", in.ListCost.String()}, {"BillingCurrency", in.Currency}, {"SubAccountId", in.SubscriptionID},
			{"ProviderName", "Contoso Cloud, Inc."}, {"InvoiceIssuerName", "Contoso Cloud, Inc."},
			{"BillingPeriodStart", "2026-10-01T00:00:00Z"}, {"BillingPeriodEnd", "2026-11-01T00:00:00Z"},
			{"ChargePeriodStart", in.ChargePeriodStart.Format(timeLayout)},
		} {
			if r[c.col] != c.want {
				t.Errorf("row %d: %s = %q, want %q", i, c.col, r[c.col], c.want)
			}
		}
	}

	// Kind mapping, row by row.
	wantCat := []string{"Usage", "Usage", "Usage", "Usage", "Usage", "Usage", "Purchase", "Credit", "Adjustment", "Usage"}
	for i, w := range wantCat {
		if got[i]["ChargeCategory"] != w {
			t.Errorf("row %d (%s): ChargeCategory %q, want %q", i, rows[i].Kind, got[i]["ChargeCategory"], w)
		}
	}
	vm := got[0]
	for col, want := range map[string]string{
		"ResourceId": vmURI, "ResourceName": "vm-1", "ResourceType": "Microsoft.Compute/virtualMachines",
		"ServiceCategory": "Compute", "ServiceName": "Virtual Machines", "SkuId": "fab6eb84-500b-4a09-a8ca-7358f8bbaea5",
		"SkuMeter": "Base VM Size Hours", "x_MeterId": "fab6eb84-500b-4a09-a8ca-7358f8bbaea5", "x_ResourceGroupName": "rg-web",
		"x_MeterSubCategory": "Standard_D2s_v3", "RegionId": "local", "RegionName": "local", "ConsumedQuantity": "24",
		"ConsumedUnit": "1 Hour", "PricingQuantity": "24", "PricingUnit": "1 Hour", "ListUnitPrice": "0.0123456789",
		"BilledCost": "0.2962962936", "InvoiceId": "INV-2026-10-0001", "ChargeFrequency": "Usage-Based",
		"Tags": `{"env":"prod","owner":"Smith, \"J\"","ünï":"cödé\n2"}`,
	} {
		if vm[col] != want {
			t.Errorf("VM row: %s = %q, want %q", col, vm[col], want)
		}
	}
	if late := got[5]; late["x_OriginalBillingPeriod"] != "202609-1" || late["ChargeClass"] != "Correction" {
		t.Errorf("late usage row: %v", late)
	}
	if rc := got[6]; rc["ChargeFrequency"] != "Recurring" || rc["PricingQuantity"] != "1" || rc["ListUnitPrice"] != "25" {
		t.Errorf("recurring charge row: %v", rc)
	}
	if st := got[3]; st["ConsumedQuantity"] != "10.5" || st["PricingQuantity"] != "0.5" || st["ServiceCategory"] != "Storage" {
		t.Errorf("storage row: %v", st)
	}
	if _, ok := got[9]["InvoiceId"]; ok {
		t.Errorf("open-period row has InvoiceId %q", got[9]["InvoiceId"])
	}
}

func readHeader(t *testing.T, path string) []string {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	h, err := csv.NewReader(f).Read()
	if err != nil {
		t.Fatal(err)
	}
	h[0] = strings.TrimPrefix(h[0], "\ufeff")
	return h
}

// TestShapeMatchesAzureAndFinOps compares our header with a real Azure
// FOCUS export and the FinOps Foundation sample: every FOCUS 1.2
// mandatory column that both carry is in ours, under the same name, and
// the columns we share with Azure's use the same value formats.
func TestShapeMatchesAzureAndFinOps(t *testing.T) {
	azure := readHeader(t, "testdata/azure_focus1.0_export_head.csv")
	finops := readHeader(t, "testdata/finops_focus1.0_sample_head.csv")
	ours := map[string]bool{}
	for _, c := range FOCUSColumns {
		ours[c.Name] = true
	}
	mandatory := strings.Fields(`BilledCost BillingAccountId BillingAccountName BillingCurrency BillingPeriodEnd
		BillingPeriodStart ChargeCategory ChargeClass ChargeDescription ChargePeriodEnd ChargePeriodStart ContractedCost
		EffectiveCost InvoiceIssuerName ListCost PricingQuantity PricingUnit ProviderName PublisherName ServiceCategory ServiceName`)
	shared := 0
	for _, n := range mandatory {
		if slices.Contains(azure, n) && slices.Contains(finops, n) {
			shared++
			if !ours[n] {
				t.Errorf("%s is in both Azure's export and the FinOps sample but not ours", n)
			}
		}
	}
	if shared != len(mandatory) {
		t.Errorf("only %d of %d mandatory columns are in both references", shared, len(mandatory))
	}
	// Further columns both references carry that apply to Reckon.
	for _, n := range []string{"ChargeFrequency", "ConsumedQuantity", "ConsumedUnit", "ContractedUnitPrice", "ListUnitPrice",
		"PricingCategory", "RegionId", "RegionName", "ResourceId", "ResourceName", "ResourceType", "SkuId", "SubAccountId",
		"SubAccountName", "Tags"} {
		if !slices.Contains(azure, n) || !slices.Contains(finops, n) || !ours[n] {
			t.Errorf("%s: azure %v finops %v ours %v", n, slices.Contains(azure, n), slices.Contains(finops, n), ours[n])
		}
	}
	if !slices.Contains(azure, "x_ResourceGroupName") || !ours["x_ResourceGroupName"] {
		t.Error("x_ResourceGroupName should match Azure's extension column")
	}
	// Value formats shared with Azure's export: UTC instants in the same
	// layout, ChargeCategory/ChargeFrequency from the same allowed values,
	// Tags a JSON object.
	f, _ := os.Open("testdata/azure_focus1.0_export_head.csv")
	defer f.Close()
	recs, err := csv.NewReader(f).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	col := func(name string) int { return slices.Index(azure, name) }
	for _, rec := range recs[1:] {
		for _, n := range []string{"BillingPeriodStart", "BillingPeriodEnd", "ChargePeriodStart", "ChargePeriodEnd"} {
			if _, err := time.Parse(timeLayout, rec[col(n)]); err != nil {
				t.Errorf("Azure %s %q does not parse with our layout", n, rec[col(n)])
			}
		}
		if rec[col("ChargeCategory")] != "Usage" || rec[col("ChargeFrequency")] != "Usage-Based" {
			t.Errorf("Azure row: %s/%s", rec[col("ChargeCategory")], rec[col("ChargeFrequency")])
		}
		if tg := rec[col("Tags")]; tg != "" {
			var obj map[string]string
			if err := json.Unmarshal([]byte(tg), &obj); err != nil {
				t.Errorf("Azure Tags %q: %v", tg, err)
			}
		}
		if rt := ResourceType(rec[col("ResourceId")]); !strings.EqualFold(rt, rec[col("x_ResourceType")]) {
			t.Errorf("ResourceType(%s) = %q, Azure x_ResourceType %q", rec[col("ResourceId")], rt, rec[col("x_ResourceType")])
		}
		if rn := ResourceName(rec[col("ResourceId")]); rn != rec[col("ResourceName")] {
			t.Errorf("ResourceName = %q, Azure %q", rn, rec[col("ResourceName")])
		}
	}
}

// TestTotalsCSVParquetAgree writes the same rows as CSV, gzip CSV and
// Parquet, reads each back, and checks that every cell agrees and that
// BilledCost sums, per currency, to the input rows' Cost exactly.
func TestTotalsCSVParquetAgree(t *testing.T) {
	rows := testRows(t)
	want := map[string]money.Decimal{}
	for _, r := range rows {
		want[r.Currency] = want[r.Currency].Add(r.Cost)
	}
	if want["USD"].String() != "10.4235802386" || want["EUR"].String() != "0.0000000015" {
		t.Fatalf("fixture totals changed: %v", want)
	}
	var reads [][]map[string]string
	for _, f := range []Format{FormatCSV, FormatCSVGzip, FormatParquet} {
		dir := t.TempDir()
		m := writeFOCUS(t, rows, Options{Dir: dir, Format: f})
		_, got := readAll(t, dir)
		sums := map[string]money.Decimal{}
		for _, r := range got {
			sums[r["BillingCurrency"]] = sums[r["BillingCurrency"]].Add(dec(t, r["BilledCost"]))
		}
		for cur, w := range want {
			if sums[cur].Cmp(w) != 0 {
				t.Errorf("%s: %s total %s, want %s", f, cur, sums[cur], w)
			}
		}
		if len(m.Totals) != 2 || m.Totals[0].Currency != "EUR" || m.Totals[0].Cost.Cmp(want["EUR"]) != 0 ||
			m.Totals[1].Cost.Cmp(want["USD"]) != 0 || m.Totals[1].Rows != 9 {
			t.Errorf("%s: manifest totals %+v", f, m.Totals)
		}
		if m.ChargePeriodStart == nil || !m.ChargePeriodStart.Equal(periodStart.AddDate(0, 0, -1)) || !m.ChargePeriodEnd.Equal(periodEnd) {
			t.Errorf("%s: manifest time range %v–%v", f, m.ChargePeriodStart, m.ChargePeriodEnd)
		}
		reads = append(reads, got)
	}
	for i := range reads[0] {
		for k, v := range reads[0][i] {
			if reads[2][i][k] != v || reads[1][i][k] != v {
				t.Errorf("row %d %s: csv %q, csv.gz %q, parquet %q", i, k, v, reads[1][i][k], reads[2][i][k])
			}
		}
		if len(reads[2][i]) != len(reads[0][i]) {
			t.Errorf("row %d: %d non-null cells in Parquet, %d in CSV", i, len(reads[2][i]), len(reads[0][i]))
		}
	}
}

func TestPartitionsAndManifest(t *testing.T) {
	base := testRows(t)
	var rows []charges.CostRow
	for i := 0; i < 60; i++ {
		rows = append(rows, base...)
	}
	for _, f := range []Format{FormatCSV, FormatParquet} {
		dir := t.TempDir()
		m := writeFOCUS(t, rows, Options{Dir: dir, Format: f, MaxFileBytes: 20000, ParquetRowGroupRows: 50})
		if len(m.Files) < 3 {
			t.Fatalf("%s: %d files, want size rollover into ≥ 3", f, len(m.Files))
		}
		var n int64
		for i, fi := range m.Files {
			if fi.Name != "part_0_000"+string(rune('1'+i))+"."+string(f) && i < 9 {
				t.Errorf("%s: file %d named %s", f, i, fi.Name)
			}
			st, err := os.Stat(filepath.Join(dir, fi.Name))
			if err != nil || st.Size() != fi.Bytes {
				t.Errorf("%s: %s size %v, manifest %d", f, fi.Name, st, fi.Bytes)
			}
			if i < len(m.Files)-1 && fi.Bytes < 20000 {
				t.Errorf("%s: %s rolled over at %d bytes", f, fi.Name, fi.Bytes)
			}
			n += fi.Rows
		}
		if n != int64(len(rows)) || m.RowCount != n {
			t.Errorf("%s: %d rows in files, manifest %d, want %d", f, n, m.RowCount, len(rows))
		}
		if _, got := readAll(t, dir); len(got) != len(rows) {
			t.Errorf("%s: read %d rows", f, len(got))
		}
		// A damaged part is detected.
		p := filepath.Join(dir, m.Files[1].Name)
		b, _ := os.ReadFile(p)
		b[len(b)/2] ^= 1
		os.WriteFile(p, b, 0o644)
		if _, err := ReadFolder(dir, func([]*string) error { return nil }); err == nil || !strings.Contains(err.Error(), "sha256") {
			t.Errorf("%s: damaged part read without error: %v", f, err)
		}
		// The folder is not reused.
		if _, err := NewFOCUSWriter(Options{Dir: dir, Format: f}, testFOCUS); err == nil {
			t.Errorf("%s: second export into the same folder allowed", f)
		}
	}
}

func TestEmptyExport(t *testing.T) {
	for _, f := range []Format{FormatCSV, FormatParquet} {
		dir := t.TempDir()
		m := writeFOCUS(t, nil, Options{Dir: dir, Format: f})
		if m.RowCount != 0 || len(m.Files) != 1 || m.ChargePeriodStart != nil || len(m.Totals) != 0 {
			t.Errorf("%s: %+v", f, m)
		}
		if _, got := readAll(t, dir); len(got) != 0 {
			t.Errorf("%s: %d rows", f, len(got))
		}
	}
	if _, err := NewFOCUSWriter(Options{Dir: t.TempDir()}, FOCUSOptions{}); err == nil {
		t.Error("FOCUS export without ProviderName allowed")
	}
}

func TestCostDetails(t *testing.T) {
	for _, f := range []Format{FormatCSVGzip, FormatParquet} {
		t.Run(string(f), func(t *testing.T) { testCostDetails(t, f) })
	}
}

func testCostDetails(t *testing.T, f Format) {
	rows := testRows(t)
	dir := t.TempDir()
	w, err := NewCostDetailsWriter(Options{Dir: dir, Format: f})
	if err != nil {
		t.Fatal(err)
	}
	for i := range rows {
		if err := w.Write(&rows[i]); err != nil {
			t.Fatal(err)
		}
	}
	m, err := w.Close()
	if err != nil {
		t.Fatal(err)
	}
	if m.Dataset != "CostDetails" || m.FOCUSVersion != "" {
		t.Errorf("manifest %+v", m)
	}
	_, got := readAll(t, dir)
	if len(got) != len(rows) {
		t.Fatalf("%d rows", len(got))
	}
	sums := map[string]money.Decimal{}
	for i, r := range got {
		sums[r["Currency"]] = sums[r["Currency"]].Add(dec(t, r["Cost"]))
		if _, ok := r["UnitPrice"]; ok != rows[i].Priced {
			t.Errorf("row %d: UnitPrice %q, priced %v", i, r["UnitPrice"], rows[i].Priced)
		}
	}
	if sums["USD"].String() != "10.4235802386" || sums["EUR"].String() != "0.0000000015" {
		t.Errorf("totals %v", sums)
	}
	want := map[string]string{"Date": "2026-10-01T00:00:00Z", "SubscriptionId": "11111111-1111-1111-1111-111111111111",
		"ResourceGroup": "rg-web", "ResourceId": vmURI, "Location": "local", "ChargeType": "Usage",
		"MeterId": "fab6eb84-500b-4a09-a8ca-7358f8bbaea5", "MeterName": "Base VM Size Hours", "MeterCategory": "Virtual Machines",
		"MeterSubCategory": "Standard_D2s_v3", "Unit": "1 Hour", "Quantity": "24", "UnitPrice": "0.0123456789",
		"Cost": "0.2962962936", "Currency": "USD", "Tags": `{"env":"prod","owner":"Smith, \"J\"","ünï":"cödé\n2"}`}
	for k, v := range want {
		if got[0][k] != v {
			t.Errorf("%s = %q, want %q", k, got[0][k], v)
		}
	}
}

func TestDecimal128(t *testing.T) {
	for _, s := range []string{"0", "1", "-1", "0.0000000000000000001", "-0.0000000000000000001", "9999999999999999999.9999999999999999999",
		"-9999999999999999999.9999999999999999999", "123.45", "-5.5", "0.2962962936"} {
		var b [16]byte
		if err := putDecimal128(b[:], dec(t, s)); err != nil {
			t.Errorf("%s: %v", s, err)
			continue
		}
		if got := decimal128String(b[:]); got != s {
			t.Errorf("%s round-trips as %s", s, got)
		}
	}
	var b [16]byte
	if err := putDecimal128(b[:], dec(t, "10000000000000000000")); err == nil {
		t.Error("20 integer digits accepted")
	}
}

func TestResourceType(t *testing.T) {
	for id, want := range map[string]string{
		vmURI: "Microsoft.Compute/virtualMachines",
		"/subscriptions/s/resourceGroups/g/providers/Microsoft.Sql/servers/s1/databases/d1": "Microsoft.Sql/servers/databases",
		"/subscriptions/s/resourceGroups/g":                                                 "",
		"":                                                                                  "",
		"/subscriptions/s/resourceGroups/g/providers/Microsoft.Compute/virtualMachines/vm/providers/Microsoft.Insights/diagnosticSettings/d": "Microsoft.Insights/diagnosticSettings",
	} {
		if got := ResourceType(id); got != want {
			t.Errorf("ResourceType(%q) = %q, want %q", id, got, want)
		}
	}
}

// TestTagMemo: a tag map changed in place between rows is re-encoded, and
// equal maps give equal JSON.
func TestTagMemo(t *testing.T) {
	var m tagMemo
	tags := map[string]string{"b": "2", "a": "1"}
	if got := string(m.json(tags)); got != `{"a":"1","b":"2"}` {
		t.Fatal(got)
	}
	tags["a"] = "changed"
	if got := string(m.json(tags)); got != `{"a":"changed","b":"2"}` {
		t.Errorf("after change: %s", got)
	}
	delete(tags, "b")
	tags["c"] = "3"
	if got := string(m.json(tags)); got != `{"a":"changed","c":"3"}` {
		t.Errorf("after replace: %s", got)
	}
	if got := string(m.json(map[string]string{"a": "changed", "c": "3"})); got != `{"a":"changed","c":"3"}` {
		t.Errorf("other map: %s", got)
	}
}

// TestWriteSampleForExternalReaders writes a Parquet and a CSV export of
// the fixture rows plus 100,000 generated rows into
// $RECKON_EXPORT_SAMPLE_DIR/{parquet,csv} and logs the input totals, so that
// an independent reader (DuckDB, Arrow) can be checked against them by
// hand. It is skipped unless the variable is set.
func TestWriteSampleForExternalReaders(t *testing.T) {
	dir := os.Getenv("RECKON_EXPORT_SAMPLE_DIR")
	if dir == "" {
		t.Skip("RECKON_EXPORT_SAMPLE_DIR not set")
	}
	rows := testRows(t)
	g := newRowGen(t)
	for _, f := range []Format{FormatParquet, FormatCSV} {
		w, err := NewFOCUSWriter(Options{Dir: filepath.Join(dir, string(f)), Format: f, MaxFileBytes: 1 << 20}, testFOCUS)
		if err != nil {
			t.Fatal(err)
		}
		totals := map[string]money.Decimal{}
		for i := range rows {
			totals[rows[i].Currency] = totals[rows[i].Currency].Add(rows[i].Cost)
			if err := w.Write(&rows[i]); err != nil {
				t.Fatal(err)
			}
		}
		for i := range 100_000 {
			r := g.next(i)
			totals[r.Currency] = totals[r.Currency].Add(r.Cost)
			if err := w.Write(r); err != nil {
				t.Fatal(err)
			}
		}
		m, err := w.Close()
		if err != nil {
			t.Fatal(err)
		}
		t.Logf("%s: %d rows in %d files; input totals EUR %s USD %s; manifest %+v", f, m.RowCount, len(m.Files), totals["EUR"], totals["USD"], m.Totals)
	}
}
