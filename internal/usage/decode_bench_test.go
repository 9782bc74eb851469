package usage

import (
	"bytes"
	"fmt"
	"math/rand/v2"
	"testing"
	"time"
)

// benchBody is an NDJSON body of n records shaped like the ingest
// benchmark's: random ids, 1,000 subscriptions, 20 meters, 10,000 resources
// with tags, hourly intervals.
func benchBody(n int) []byte {
	r := rand.New(rand.NewPCG(1, 2))
	var b bytes.Buffer
	start := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	for i := range n {
		sub, inst := r.IntN(1000), r.IntN(10)
		t := start.Add(time.Duration(r.IntN(24*30)) * time.Hour)
		fmt.Fprintf(&b, `{"id":"%08x-%04x-4%03x-8%03x-%012x","subscriptionId":"00000000-0000-0000-0000-%012d","meterId":"11111111-0000-0000-0000-%012d","quantity":%d.%d,"usageStartTime":"%s","usageEndTime":"%s","resourceUri":"/subscriptions/00000000-0000-0000-0000-%012d/resourceGroups/rg%d/providers/Microsoft.Compute/virtualMachines/vm%d","location":"eastus","tags":{"env":"prod","team":"t%d"}}`+"\n",
			r.Uint32(), r.IntN(1<<16), r.IntN(1<<12), r.IntN(1<<12), r.Int64N(1<<48), sub, r.IntN(20), r.IntN(100), i%10,
			t.Format(time.RFC3339), t.Add(time.Hour).Format(time.RFC3339), sub, inst%3, inst, inst%4)
	}
	return b.Bytes()
}

// BenchmarkDecodeValidate measures the request side of ingestion: decoding
// and validating a 10,000-record body, with the service-wide memo warm.
func BenchmarkDecodeValidate(b *testing.B) {
	body := benchBody(10_000)
	shared := &sharedInstances{}
	now := time.Date(2026, 6, 1, 0, 0, 0, 0, time.UTC)
	b.SetBytes(int64(len(body)))
	b.ReportAllocs()
	for b.Loop() {
		batch := &Batch{now: now, shared: shared}
		if err := DecodeRecords(bytes.NewReader(body), func(i int, in *RecordInput, rej *Rejection) error { batch.Add(i, in, rej); return nil }); err != nil {
			b.Fatal(err)
		}
		if len(batch.rejected) != 0 {
			b.Fatalf("rejected %+v", batch.rejected[0])
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*10_000), "ns/record")
}
