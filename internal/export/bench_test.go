package export

import (
	"bufio"
	"encoding/csv"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"testing"
	"time"

	"github.com/reckon-billing/reckon/internal/charges"
	"github.com/reckon-billing/reckon/internal/money"
)

// rowGen generates cost rows one at a time into a reused CostRow, as the
// lead's CostRows will stream them: 1,000 resources × 4 meters per day,
// varied costs, tags on most resources. Nothing is held per row, so the
// benchmark's memory is the writer's.
type rowGen struct {
	row    charges.CostRow
	uris   []string
	groups []string
	tags   []map[string]string
	qty    []money.Decimal
	price  []money.Decimal
	cost   []money.Decimal // qty[i] × price[i]
	meters [][6]string
}

func newRowGen(tb testing.TB) *rowGen {
	g := &rowGen{}
	for i := range 1000 {
		rg := fmt.Sprintf("rg-%02d", i%50)
		g.groups = append(g.groups, rg)
		g.uris = append(g.uris, fmt.Sprintf("/subscriptions/11111111-1111-1111-1111-%012d/resourceGroups/%s/providers/Microsoft.Compute/virtualMachines/vm-%04d", i%20, rg, i))
		if i%5 != 0 {
			g.tags = append(g.tags, map[string]string{"env": []string{"prod", "dev", "test"}[i%3], "costCenter": fmt.Sprintf("cc-%d", i%17), "owner": "team, \"ops\""})
		} else {
			g.tags = append(g.tags, nil)
		}
	}
	for i := range 97 {
		q := dec(tb, fmt.Sprintf("%d.%03d", i%24+1, i*7%1000))
		p := dec(tb, fmt.Sprintf("0.%07d", 1000+i*3571))
		g.qty, g.price, g.cost = append(g.qty, q), append(g.price, p), append(g.cost, q.Mul(p))
	}
	g.meters = [][6]string{
		{"fab6eb84-500b-4a09-a8ca-7358f8bbaea5", "Base VM Size Hours", "Virtual Machines", "Standard_D2s_v3", "local", "1 Hour"},
		{"09f8879e-87e9-4305-a572-4b7be209f857", "Blob Storage Data Stored", "Storage", "Blob", "local", "1 GB/Month"},
		{"b4438d5d-453b-4ee1-b42a-dc72e377f1e4", "Table Transactions", "Storage", "Table", "local", "10K"},
		{"9764f92c-e44a-498e-8dc1-aad66587a810", "Ingress Hours", "Networking", "Virtual Network", "local", "1 Hour"},
	}
	g.row = charges.CostRow{BillingAccount: "ba-1", Currency: "USD", Kind: "Usage", Priced: true,
		BillingPeriodStart: periodStart, BillingPeriodEnd: periodEnd, InvoiceName: "INV-2026-10-0001", Location: "local"}
	return g
}

func (g *rowGen) next(i int) *charges.CostRow {
	r := &g.row
	res, m, day := i%1000, (i/1000)%4, (i/4000)%30
	r.ChargePeriodStart = periodStart.AddDate(0, 0, day)
	r.ChargePeriodEnd = r.ChargePeriodStart.Add(24 * time.Hour)
	r.SubscriptionID = g.uris[res][15:51]
	r.ResourceURI, r.ResourceGroup, r.Tags = g.uris[res], g.groups[res], g.tags[res]
	mt := &g.meters[m]
	r.MeterID, r.MeterName, r.MeterCategory, r.MeterSubCategory, r.MeterRegion, r.Unit = mt[0], mt[1], mt[2], mt[3], mt[4], mt[5]
	k := i % len(g.qty)
	r.Quantity, r.BillableQuantity, r.ListUnitPrice, r.UnitPrice = g.qty[k], g.qty[k], g.price[k], g.price[k]
	r.ListCost, r.Cost = g.cost[k], g.cost[k]
	return r
}

// heapAt reports heap in use (after a GC) when the benchmark passes 1M rows
// and at the end, to show memory stays flat while streaming.
type heapAt struct{ at1M, end float64 }

func heapMB() float64 {
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return float64(ms.HeapInuse) / (1 << 20)
}

func (h *heapAt) report(b *testing.B, start time.Time) {
	b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "rows/s")
	if b.N >= 1_000_000 {
		h.end = heapMB()
		b.ReportMetric(h.at1M, "heapMB@1M")
		b.ReportMetric(h.end, "heapMB@end")
	}
}

func benchFOCUS(b *testing.B, f Format) {
	g := newRowGen(b)
	dir := filepath.Join(b.TempDir(), "out")
	w, err := NewFOCUSWriter(Options{Dir: dir, Format: f}, testFOCUS)
	if err != nil {
		b.Fatal(err)
	}
	var h heapAt
	b.ResetTimer()
	start := time.Now()
	for i := range b.N {
		if err := w.Write(g.next(i)); err != nil {
			b.Fatal(err)
		}
		if i == 1_000_000 {
			h.at1M = heapMB()
		}
	}
	m, err := w.Close()
	if err != nil {
		b.Fatal(err)
	}
	b.StopTimer()
	h.report(b, start)
	var bytes int64
	for _, fi := range m.Files {
		bytes += fi.Bytes
	}
	b.ReportMetric(float64(bytes)/float64(b.N), "B/row")
}

// BenchmarkFOCUSCSV streams b.N generated rows into a FOCUS CSV export
// (target: ≥ 200,000 rows/s at 10M rows: -benchtime=10000000x).
func BenchmarkFOCUSCSV(b *testing.B) { benchFOCUS(b, FormatCSV) }

// BenchmarkFOCUSCSVGzip is the same with gzip.
func BenchmarkFOCUSCSVGzip(b *testing.B) { benchFOCUS(b, FormatCSVGzip) }

// BenchmarkFOCUSParquet streams b.N rows into a FOCUS Parquet export
// (target: ≥ 100,000 rows/s at 10M rows).
func BenchmarkFOCUSParquet(b *testing.B) { benchFOCUS(b, FormatParquet) }

// BenchmarkBaselineCSV is the same-run baseline: the same generated rows'
// fields (the CostRow's own 23 fields, decimals as text, instants in the
// same layout) written with encoding/csv to a buffered file, with no FOCUS
// mapping, no tags JSON, no partitioning, hashing or manifest.
func BenchmarkBaselineCSV(b *testing.B) {
	g := newRowGen(b)
	f, err := os.Create(filepath.Join(b.TempDir(), "baseline.csv"))
	if err != nil {
		b.Fatal(err)
	}
	defer f.Close()
	bw := bufio.NewWriterSize(f, 256<<10)
	cw := csv.NewWriter(bw)
	rec := make([]string, 23)
	var h heapAt
	b.ResetTimer()
	start := time.Now()
	for i := range b.N {
		r := g.next(i)
		rec[0], rec[1], rec[2] = r.SubscriptionID, r.BillingAccount, r.Currency
		rec[3], rec[4] = r.BillingPeriodStart.Format(timeLayout), r.BillingPeriodEnd.Format(timeLayout)
		rec[5], rec[6] = r.ChargePeriodStart.Format(timeLayout), r.ChargePeriodEnd.Format(timeLayout)
		rec[7], rec[8], rec[9], rec[10], rec[11], rec[12], rec[13] = r.Kind, r.MeterID, r.MeterName, r.MeterCategory, r.MeterSubCategory, r.MeterRegion, r.Unit
		rec[14], rec[15], rec[16] = r.ResourceURI, r.ResourceGroup, r.Location
		rec[17], rec[18], rec[19], rec[20] = r.Quantity.String(), r.BillableQuantity.String(), r.ListUnitPrice.String(), r.UnitPrice.String()
		rec[21], rec[22] = r.ListCost.String(), r.Cost.String()
		if err := cw.Write(rec); err != nil {
			b.Fatal(err)
		}
		if i == 1_000_000 {
			h.at1M = heapMB()
		}
	}
	cw.Flush()
	if err := bw.Flush(); err != nil {
		b.Fatal(err)
	}
	b.StopTimer()
	h.report(b, start)
}
