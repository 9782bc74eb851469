package bench

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"text/tabwriter"
)

// group renders n with thousands separators: 1234567 → "1,234,567".
func group(n int64) string {
	s := strconv.FormatInt(n, 10)
	neg := strings.HasPrefix(s, "-")
	s = strings.TrimPrefix(s, "-")
	var b strings.Builder
	for i, c := range s {
		if i > 0 && (len(s)-i)%3 == 0 {
			b.WriteByte(',')
		}
		b.WriteRune(c)
	}
	if neg {
		return "-" + b.String()
	}
	return b.String()
}

func groupf(v float64) string { return group(int64(v + 0.5)) }

func mib(b int64) string {
	if b >= 1<<30 {
		return fmt.Sprintf("%.2f GiB", float64(b)/(1<<30))
	}
	return fmt.Sprintf("%.1f MiB", float64(b)/(1<<20))
}

func ms(v float64) string {
	if v < 10 {
		return fmt.Sprintf("%.2f ms", v)
	}
	return fmt.Sprintf("%.1f ms", v)
}

func writeMachine(w io.Writer, m Machine) {
	fmt.Fprintf(w, "  machine   %d CPUs (nproc; GOMAXPROCS %d), %s, %.1f GiB RAM, %s %s/%s\n",
		m.NProc, m.GOMAXPROCS, orUnknown(m.CPUModel), float64(m.MemTotalMiB)/1024, m.GoVersion, m.OS, m.Arch)
	fmt.Fprintf(w, "  load      load average at start %s; client and server run in this process and share the CPUs\n", orUnknown(m.LoadAverage))
}

func orUnknown(s string) string {
	if s == "" {
		return "unknown"
	}
	return s
}

func writeGoals(w io.Writer, goals []Goal, failures []string) {
	for i, g := range goals {
		label := "  goals     "
		if i > 0 {
			label = "            "
		}
		verdict := "NOT MET"
		if g.Met {
			verdict = "met"
		}
		note := ""
		if g.Note != "" {
			note = " (" + g.Note + ")"
		}
		fmt.Fprintf(w, "%s%s %s%s: %s — %s\n", label, g.Name, g.Target, note, g.Value, verdict)
	}
	if len(failures) == 0 {
		fmt.Fprintf(w, "  checks    all passed\n")
		return
	}
	for i, f := range failures {
		if i == 20 {
			fmt.Fprintf(w, "            … and %d more\n", len(failures)-20)
			break
		}
		fmt.Fprintf(w, "  FAILED    %s\n", f)
	}
}

// WriteIngest prints the ingest benchmark's result as a plain-text table.
func WriteIngest(w io.Writer, r *IngestResult) {
	h := &r.HTTP
	fmt.Fprintf(w, "\nReckon ingest benchmark (reckon bench ingest)\n")
	writeMachine(w, r.Machine)
	fmt.Fprintf(w, "  store     %s\n", r.Store)
	if r.BaselineStore != "" {
		fmt.Fprintf(w, "  baseline  %s (a second fresh store)\n", r.BaselineStore)
	}
	fmt.Fprintf(w, "  workload  %s records (random UUIDv4 ids, 1-hour intervals, integer and decimal-string quantities), %s subscriptions,\n",
		group(int64(r.Records)), group(int64(r.Subscriptions)))
	fmt.Fprintf(w, "            %d meters, %s instances (resourceUri, location, 2–3 tags); %d NDJSON bodies of up to %s records (%s),\n",
		r.Meters, group(int64(r.Instances)), r.Requests, group(int64(r.Batch)), mib(r.BodyBytes))
	fmt.Fprintf(w, "            generated and encoded before timing (%.1f s); %d concurrent clients over loopback\n\n", r.PrepareSeconds, r.Clients)

	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintf(tw, "%s\trecords/s\ttime\tMiB/s\tp50 request\tp99 request\tmax request\t\n", label(""))
	fmt.Fprintf(tw, "%s\t%s\t%.2f s\t%.1f\t%s\t%s\t%s\t\n", label("HTTP  POST /metering/v1/usage"), groupf(h.RecordsPerSec), h.Seconds, h.MiBPerSec,
		ms(h.Latency.P50), ms(h.Latency.P99), ms(h.Latency.Max))
	if b := r.Baseline; b != nil {
		fmt.Fprintf(tw, "%s\t%s\t%.2f s\t\t\t\t\t\n", label("raw   store ingest transactions (baseline)"), groupf(b.RecordsPerSec), b.Seconds)
		fmt.Fprintf(tw, "%s\t%.1f %%\t\t\t\t\t\t\n", label("HTTP / raw"), 100*r.Ratio)
	}
	tw.Flush()
	fmt.Fprintln(w)
	if b := r.Baseline; b != nil {
		fmt.Fprintf(w, "  baseline  %s;\n", b.Method)
		fmt.Fprintf(w, "            timed: instance upserts, key inserts, segment encoding and inserts, %d commits; untimed: validation, key sort (%.1f s)\n",
			b.Transactions, b.PrepareSeconds)
	}
	fmt.Fprintf(w, "  checks    accepted %s (N = %s), duplicates %d, rejected %d, retried requests %d; stored %s keys and %s records in %s segments",
		group(int64(h.Accepted)), group(int64(r.Records)), h.Duplicates, h.Rejected, h.Retries,
		group(h.Stored.Keys), group(h.Stored.Records), group(h.Stored.Segments))
	if b := r.Baseline; b != nil {
		fmt.Fprintf(w, "\n            baseline stored %s keys and %s records in %s segments", group(b.Stored.Keys), group(b.Stored.Records), group(b.Stored.Segments))
	}
	fmt.Fprintln(w)
	writeGoals(w, r.Goals, r.Failures)
}

// WriteAggregates prints the UsageAggregates benchmark's result as plain-text tables.
func WriteAggregates(w io.Writer, r *AggregatesResult) {
	fmt.Fprintf(w, "\nReckon UsageAggregates benchmark (reckon bench aggregates)\n")
	writeMachine(w, r.Machine)
	fmt.Fprintf(w, "  store     %s\n", r.Store)
	fmt.Fprintf(w, "  data set  %s records, %s subscriptions × %d instance×meter series, %d meters, %s instances; reported and used in %s\n",
		group(int64(r.Records)), group(int64(r.Subscriptions)), r.Series, r.Meters, group(int64(r.Instances)), r.Month)
	built := "built in this run"
	if r.Reused {
		built = "reused; it was built"
	}
	if r.LoadSeconds > 0 {
		fmt.Fprintf(w, "            %s in %.1f s (%s records/s): %s\n", built, r.LoadSeconds, groupf(r.LoadRecordsPerSec), r.LoadMethod)
	}
	fmt.Fprintf(w, "            stored %s keys, %s records in %s segments; %s on disk\n", group(r.Stored.Keys), group(r.Stored.Records), group(r.Stored.Segments), mib(r.StoreBytes))
	fmt.Fprintf(w, "            one subscription's month, showDetails=true: Daily %s rows (%d pages), Hourly %s rows (%d pages)\n",
		group(int64(r.DailyRows)), pages(r.DailyRows), group(int64(r.HourlyRows)), pages(r.HourlyRows))
	fmt.Fprintf(w, "  baseline  %s\n\n", r.Baseline)

	fp := &r.FirstPage
	fmt.Fprintf(w, "(a) first page of a one-month Daily query (%d rows), %d requests over different subscriptions, one client\n", fp.RowsPerPage, fp.Requests)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintf(tw, "%s\tp50\tp95\tp99\tmax\t\n", label(""))
	fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t\n", label("HTTP  GET UsageAggregates"), ms(fp.HTTP.P50), ms(fp.HTTP.P95), ms(fp.HTTP.P99), ms(fp.HTTP.Max))
	fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t\n", label("raw   scan and decode of the month"), ms(fp.Raw.P50), ms(fp.Raw.P95), ms(fp.Raw.P99), ms(fp.Raw.Max))
	fmt.Fprintf(tw, "%s\t%.1f×\t\t\t\t\n", label("HTTP / raw (p50)"), fp.Ratio)
	tw.Flush()

	if len(r.Paging) > 0 {
		p0 := r.Paging[0]
		fmt.Fprintf(w, "\n(b) every page via nextLink, one month, %d subscriptions, %d concurrent clients\n", p0.Subscriptions, p0.Clients)
		tw = tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
		fmt.Fprintf(tw, "%s\tpages\trows\ttime\trows/s\traw rows/s\tHTTP / raw\t\n", label(""))
		for _, p := range r.Paging {
			fmt.Fprintf(tw, "%s\t%s\t%s\t%.2f s\t%s\t%s\t%.1f %%\t\n", label(p.Granularity+", showDetails=true"), group(int64(p.Pages)), group(int64(p.Rows)), p.Seconds,
				groupf(p.RowsPerSec), groupf(p.RawRowsPerSec), 100*p.Ratio)
		}
		tw.Flush()
		fmt.Fprintf(w, "  raw: one scan of the same subscriptions' months, %s records in %.2f s (%s records/s); raw rows/s = the HTTP rows over that time\n",
			group(int64(p0.RawRecords)), p0.RawSeconds, groupf(p0.RawRecordsPerSec))
	}

	if rs := r.RSS; rs.Samples > 0 {
		fmt.Fprintf(w, "\n(c) VmRSS while paging Daily and Hourly over every subscription for %.0f s (after a GC), %d samples\n", rs.Seconds, rs.Samples)
		fmt.Fprintf(w, "  start %.0f MiB, min %.0f MiB, max %.0f MiB, end %.0f MiB: spread %.0f MiB; Go heap in use at most %.0f MiB;\n",
			rs.StartMiB, rs.MinMiB, rs.MaxMiB, rs.EndMiB, rs.MaxMiB-rs.MinMiB, rs.HeapMaxMiB)
		fmt.Fprintf(w, "  %.0f MiB when the server had just started, before any query\n", rs.ServerStartMiB)
		fmt.Fprintf(w, "  meanwhile %s pages, %s rows (%s rows/s); the RSS includes the in-process clients and, for SQLite,\n", group(int64(rs.Pages)), group(int64(rs.Rows)), groupf(rs.RowsPerSec))
		fmt.Fprintf(w, "  the page caches the earlier phases filled (the raw baseline's connections are closed before (c))\n")
		if !r.Reused {
			fmt.Fprintf(w, "  note: the data set was built in this process, and what the loader's SQLite cache allocated stays resident;\n")
			fmt.Fprintf(w, "  run again with --reuse for the server's RSS alone\n")
		}
	}
	fmt.Fprintln(w)
	writeGoals(w, r.Goals, r.Failures)
}

// label pads a row label so that, in a right-aligned table, it reads
// left-aligned.
func label(s string) string { return fmt.Sprintf("  %-44s", s) }

func pages(rows int) int { return max(1, (rows+999)/1000) }

// WriteJSON writes v, indented, to the file path.
func WriteJSON(path string, v any) error {
	data, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return err
	}
	return os.WriteFile(path, append(data, '\n'), 0o644)
}
