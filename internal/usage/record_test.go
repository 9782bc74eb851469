package usage

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"
)

const (
	testSub   = "6b0d7a3e-2f4c-4a8e-9b51-0c7d1e2f3a4b"
	testMeter = "f1e2d3c4-b5a6-4978-8a9b-0c1d2e3f4a5b"
)

var testNow = time.Date(2024, 3, 10, 12, 0, 0, 0, time.UTC)

func validInput() RecordInput {
	return RecordInput{
		ID:             "rec-1",
		SubscriptionID: testSub,
		MeterID:        testMeter,
		Quantity:       json.RawMessage(`1.5`),
		UsageStartTime: "2024-03-10T10:00:00Z",
		UsageEndTime:   "2024-03-10T11:00:00Z",
	}
}

func TestValidateAccepts(t *testing.T) {
	in := validInput()
	in.SubscriptionID = "{" + strings.ToUpper(testSub) + "}"
	in.MeterID = strings.ToUpper(testMeter)
	in.UsageStartTime = "2024-03-10 11:00:00+01:00" // a space instead of T, and an offset
	in.UsageEndTime = "2024-03-10T11:00:00.1234567Z"
	r, rej := Validate(&in, testNow, false)
	if rej != nil {
		t.Fatalf("rejected: %+v", rej)
	}
	if r.ID != "rec-1" || r.SubscriptionID != testSub || r.MeterID != testMeter {
		t.Errorf("ids = %q %q %q", r.ID, r.SubscriptionID, r.MeterID)
	}
	if r.Quantity != qty("1.5") {
		t.Errorf("quantity = %s", r.Quantity)
	}
	if want := time.Date(2024, 3, 10, 10, 0, 0, 0, time.UTC); !r.Start.Equal(want) || r.Start.Location() != time.UTC {
		t.Errorf("start = %v, want %v", r.Start, want)
	}
	if want := time.Date(2024, 3, 10, 11, 0, 0, 123456000, time.UTC); !r.End.Equal(want) {
		t.Errorf("end = %v, want %v (truncated to the microsecond)", r.End, want)
	}
	if !r.ReportedAt.IsZero() {
		t.Errorf("ReportedAt = %v, want zero", r.ReportedAt)
	}
	if r.Instance.Data != "" || r.Instance.Hash != [16]byte{} {
		t.Errorf("instance = %+v, want none", r.Instance)
	}
	if r.Key != RecordKey("rec-1") {
		t.Errorf("key is not RecordKey(id)")
	}
	if r.Fingerprint == 0 {
		t.Errorf("fingerprint is zero")
	}
}

func TestValidateLimitsAccepted(t *testing.T) {
	tests := []struct {
		name   string
		mutate func(in *RecordInput)
	}{
		{"id of 128 characters", func(in *RecordInput) { in.ID = strings.Repeat("a", 128) }},
		{"unicode id", func(in *RecordInput) { in.ID = "zählung-①" }},
		{"quantity as string", func(in *RecordInput) { in.Quantity = json.RawMessage(`"1.5"`) }},
		{"quantity zero", func(in *RecordInput) { in.Quantity = json.RawMessage(`0`) }},
		{"quantity with exponent", func(in *RecordInput) { in.Quantity = json.RawMessage(`1.5e3`) }},
		{"interval of exactly 31 days", func(in *RecordInput) {
			in.UsageStartTime, in.UsageEndTime = "2024-02-01T00:00:00Z", "2024-03-03T00:00:00Z"
		}},
		{"zero-length interval", func(in *RecordInput) { in.UsageEndTime = in.UsageStartTime }},
		{"end within the clock skew", func(in *RecordInput) { in.UsageEndTime = "2024-03-10T12:05:00Z" }},
		{"start on 2000-01-01", func(in *RecordInput) {
			in.UsageStartTime, in.UsageEndTime = "2000-01-01T00:00:00Z", "2000-01-01T01:00:00Z"
		}},
		{"50 tags", func(in *RecordInput) { in.Tags = tagsJSON(50) }},
		{"tag name of 512 and value of 256", func(in *RecordInput) {
			in.Tags = json.RawMessage(fmt.Sprintf(`{%q:%q}`, strings.Repeat("n", 512), strings.Repeat("v", 256)))
		}},
		{"empty tags", func(in *RecordInput) { in.Tags = json.RawMessage(`{}`) }},
		{"null tags", func(in *RecordInput) { in.Tags = json.RawMessage(`null`) }},
		{"resourceUri of 2048", func(in *RecordInput) { in.ResourceURI = "/" + strings.Repeat("r", 2047) }},
		{"location of 64", func(in *RecordInput) { in.Location = strings.Repeat("l", 64) }},
		{"nested additionalInfo", func(in *RecordInput) { in.AdditionalInfo = json.RawMessage(`{"a":{"b":[1,2,{"c":null}]}}`) }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			in := validInput()
			tt.mutate(&in)
			if _, rej := Validate(&in, testNow, false); rej != nil {
				t.Fatalf("rejected: %+v", rej)
			}
		})
	}
}

func tagsJSON(n int) json.RawMessage {
	m := make(map[string]string, n)
	for i := 0; i < n; i++ {
		m[fmt.Sprintf("tag%02d", i)] = "v"
	}
	b, _ := json.Marshal(m)
	return b
}

func TestValidateRejects(t *testing.T) {
	tests := []struct {
		name     string
		mutate   func(in *RecordInput)
		operator bool
		code     string
	}{
		{"missing id", func(in *RecordInput) { in.ID = "" }, false, CodeMissingProperty},
		{"id of 129 characters", func(in *RecordInput) { in.ID = strings.Repeat("a", 129) }, false, CodeInvalidID},
		{"id with a newline", func(in *RecordInput) { in.ID = "a\nb" }, false, CodeInvalidID},
		{"id with NUL", func(in *RecordInput) { in.ID = "a\x00" }, false, CodeInvalidID},
		{"id with DEL", func(in *RecordInput) { in.ID = "a\x7f" }, false, CodeInvalidID},
		{"id not UTF-8", func(in *RecordInput) { in.ID = "a\xff" }, false, CodeInvalidID},

		{"missing subscriptionId", func(in *RecordInput) { in.SubscriptionID = "" }, false, CodeMissingProperty},
		{"subscriptionId not a GUID", func(in *RecordInput) { in.SubscriptionID = "not-a-guid" }, false, CodeInvalidSubscriptionID},
		{"subscriptionId without dashes", func(in *RecordInput) { in.SubscriptionID = strings.ReplaceAll(testSub, "-", "") }, false, CodeInvalidSubscriptionID},
		{"subscriptionId urn form", func(in *RecordInput) { in.SubscriptionID = "urn:uuid:" + testSub }, false, CodeInvalidSubscriptionID},
		{"subscriptionId bad hex", func(in *RecordInput) { in.SubscriptionID = "zb0d7a3e-2f4c-4a8e-9b51-0c7d1e2f3a4b" }, false, CodeInvalidSubscriptionID},
		{"missing meterId", func(in *RecordInput) { in.MeterID = "" }, false, CodeMissingProperty},
		{"meterId not a GUID", func(in *RecordInput) { in.MeterID = "meter-1" }, false, CodeInvalidMeterID},
		{"meterId too long", func(in *RecordInput) { in.MeterID = testMeter + "0" }, false, CodeInvalidMeterID},

		{"missing quantity", func(in *RecordInput) { in.Quantity = nil }, false, CodeMissingProperty},
		{"null quantity", func(in *RecordInput) { in.Quantity = json.RawMessage(`null`) }, false, CodeMissingProperty},
		{"negative quantity", func(in *RecordInput) { in.Quantity = json.RawMessage(`-1`) }, false, CodeNegativeQuantity},
		{"negative quantity string", func(in *RecordInput) { in.Quantity = json.RawMessage(`"-2.5"`) }, false, CodeNegativeQuantity},
		{"negative tiny quantity", func(in *RecordInput) { in.Quantity = json.RawMessage(`-1e-12`) }, false, CodeNegativeQuantity},
		{"quantity too precise", func(in *RecordInput) { in.Quantity = json.RawMessage(`0.0000000001`) }, false, CodeInvalidQuantity},
		{"quantity too large", func(in *RecordInput) { in.Quantity = json.RawMessage(`1e400`) }, false, CodeInvalidQuantity},
		{"quantity one over max", func(in *RecordInput) { in.Quantity = json.RawMessage(`9223372036.854775808`) }, false, CodeInvalidQuantity},
		{"quantity junk string", func(in *RecordInput) { in.Quantity = json.RawMessage(`"lots"`) }, false, CodeInvalidQuantity},
		{"quantity NaN string", func(in *RecordInput) { in.Quantity = json.RawMessage(`"NaN"`) }, false, CodeInvalidQuantity},
		{"quantity boolean", func(in *RecordInput) { in.Quantity = json.RawMessage(`true`) }, false, CodeInvalidQuantity},
		{"quantity object", func(in *RecordInput) { in.Quantity = json.RawMessage(`{"v":1}`) }, false, CodeInvalidQuantity},
		{"quantity empty string", func(in *RecordInput) { in.Quantity = json.RawMessage(`""`) }, false, CodeInvalidQuantity},

		{"missing usageStartTime", func(in *RecordInput) { in.UsageStartTime = "" }, false, CodeMissingProperty},
		{"missing usageEndTime", func(in *RecordInput) { in.UsageEndTime = "" }, false, CodeMissingProperty},
		{"bad usageStartTime", func(in *RecordInput) { in.UsageStartTime = "yesterday" }, false, CodeInvalidTime},
		{"usageStartTime without zone", func(in *RecordInput) { in.UsageStartTime = "2024-03-10T10:00:00" }, false, CodeInvalidTime},
		{"usageEndTime date only", func(in *RecordInput) { in.UsageEndTime = "2024-03-10" }, false, CodeInvalidTime},
		{"usageEndTime hour 25", func(in *RecordInput) { in.UsageEndTime = "2024-03-10T25:00:00Z" }, false, CodeInvalidTime},
		{"end before start", func(in *RecordInput) { in.UsageEndTime = "2024-03-10T09:59:59.999999Z" }, false, CodeEndBeforeStart},
		{"interval over 31 days", func(in *RecordInput) {
			in.UsageStartTime, in.UsageEndTime = "2024-02-01T00:00:00Z", "2024-03-03T00:00:00.000001Z"
		}, false, CodeIntervalTooLong},
		{"start before 2000", func(in *RecordInput) {
			in.UsageStartTime, in.UsageEndTime = "1999-12-31T23:00:00Z", "2000-01-01T00:00:00Z"
		}, false, CodeInvalidTime},
		{"usage in the future beyond the skew", func(in *RecordInput) { in.UsageEndTime = "2024-03-10T12:05:00.000001Z" }, false, CodeUsageInFuture},
		{"usage far in the future", func(in *RecordInput) {
			in.UsageStartTime, in.UsageEndTime = "2025-01-01T00:00:00Z", "2025-01-01T01:00:00Z"
		}, false, CodeUsageInFuture},

		{"reportedTime by a non-operator", func(in *RecordInput) { in.ReportedTime = "2024-03-10T11:30:00Z" }, false, CodeReportedTimeNotAllowed},
		{"bad reportedTime by an operator", func(in *RecordInput) { in.ReportedTime = "noon" }, true, CodeInvalidTime},
		{"future reportedTime by an operator", func(in *RecordInput) { in.ReportedTime = "2024-03-10T12:00:00.000001Z" }, true, CodeInvalidTime},

		{"tags an array", func(in *RecordInput) { in.Tags = json.RawMessage(`["a"]`) }, false, CodeInvalidTags},
		{"tags a string", func(in *RecordInput) { in.Tags = json.RawMessage(`"a=b"`) }, false, CodeInvalidTags},
		{"tag value a number", func(in *RecordInput) { in.Tags = json.RawMessage(`{"a":1}`) }, false, CodeInvalidTags},
		{"tag value null", func(in *RecordInput) { in.Tags = json.RawMessage(`{"a":null}`) }, false, CodeInvalidTags},
		{"tag repeated", func(in *RecordInput) { in.Tags = json.RawMessage(`{"a":"1","b":"2","a":"3"}`) }, false, CodeInvalidTags},
		{"tags not closed", func(in *RecordInput) { in.Tags = json.RawMessage(`{"a":"1"`) }, false, CodeInvalidTags},
		{"tag value an object", func(in *RecordInput) { in.Tags = json.RawMessage(`{"a":{"b":"c"}}`) }, false, CodeInvalidTags},
		{"51 tags", func(in *RecordInput) { in.Tags = tagsJSON(51) }, false, CodeInvalidTags},
		{"empty tag name", func(in *RecordInput) { in.Tags = json.RawMessage(`{"":"v"}`) }, false, CodeInvalidTags},
		{"tag name of 513", func(in *RecordInput) {
			in.Tags = json.RawMessage(fmt.Sprintf(`{%q:"v"}`, strings.Repeat("n", 513)))
		}, false, CodeInvalidTags},
		{"tag value of 257", func(in *RecordInput) {
			in.Tags = json.RawMessage(fmt.Sprintf(`{"n":%q}`, strings.Repeat("v", 257)))
		}, false, CodeInvalidTags},

		{"additionalInfo an array", func(in *RecordInput) { in.AdditionalInfo = json.RawMessage(`[1,2]`) }, false, CodeInvalidAdditionalInfo},
		{"additionalInfo a string", func(in *RecordInput) { in.AdditionalInfo = json.RawMessage(`"x"`) }, false, CodeInvalidAdditionalInfo},
		{"additionalInfo a number", func(in *RecordInput) { in.AdditionalInfo = json.RawMessage(`12`) }, false, CodeInvalidAdditionalInfo},
		{"additionalInfo too long", func(in *RecordInput) {
			in.AdditionalInfo = json.RawMessage(fmt.Sprintf(`{"k":%q}`, strings.Repeat("x", MaxAdditionalInfoLength)))
		}, false, CodeFieldTooLong},

		{"resourceUri too long", func(in *RecordInput) { in.ResourceURI = "/" + strings.Repeat("r", 2048) }, false, CodeFieldTooLong},
		{"location too long", func(in *RecordInput) { in.Location = strings.Repeat("l", 65) }, false, CodeFieldTooLong},
		{"resourceUri not UTF-8", func(in *RecordInput) { in.ResourceURI = "/sub/\xff" }, false, CodeInvalidRecord},
	}
	codes := map[string]bool{}
	for _, tt := range tests {
		codes[tt.code] = true
		t.Run(tt.name, func(t *testing.T) {
			in := validInput()
			tt.mutate(&in)
			_, rej := Validate(&in, testNow, tt.operator)
			if rej == nil {
				t.Fatalf("accepted, want %s", tt.code)
			}
			if rej.Code != tt.code {
				t.Fatalf("code = %s (%s), want %s", rej.Code, rej.Message, tt.code)
			}
			if rej.Message == "" {
				t.Errorf("empty message")
			}
		})
	}
	// Every code Validate can produce is exercised above.
	for _, c := range []string{CodeMissingProperty, CodeInvalidID, CodeInvalidSubscriptionID, CodeInvalidMeterID, CodeInvalidQuantity,
		CodeNegativeQuantity, CodeInvalidTime, CodeEndBeforeStart, CodeIntervalTooLong, CodeUsageInFuture, CodeFieldTooLong,
		CodeInvalidTags, CodeInvalidAdditionalInfo, CodeReportedTimeNotAllowed, CodeInvalidRecord} {
		if !codes[c] {
			t.Errorf("no case for code %s", c)
		}
	}
}

func TestValidateReportedTime(t *testing.T) {
	in := validInput()
	in.ReportedTime = "2024-03-10T11:30:00.5+00:00"
	r, rej := Validate(&in, testNow, true)
	if rej != nil {
		t.Fatalf("rejected: %+v", rej)
	}
	if want := time.Date(2024, 3, 10, 11, 30, 0, 500_000_000, time.UTC); !r.ReportedAt.Equal(want) {
		t.Fatalf("ReportedAt = %v, want %v", r.ReportedAt, want)
	}
	// reportedTime equal to now is allowed.
	in.ReportedTime = testNow.Format(time.RFC3339)
	if _, rej := Validate(&in, testNow, true); rej != nil {
		t.Fatalf("reportedTime = now rejected: %+v", rej)
	}
}

func mustValidate(t *testing.T, in RecordInput) Record {
	t.Helper()
	r, rej := Validate(&in, testNow, true)
	if rej != nil {
		t.Fatalf("Validate(%+v) rejected: %+v", in, rej)
	}
	return r
}

func TestFingerprint(t *testing.T) {
	base := validInput()
	base.ResourceURI = "/subscriptions/x/resourceGroups/rg/providers/P/vm/1"
	base.Tags = json.RawMessage(`{"env":"prod","team":"a"}`)
	fp := mustValidate(t, base).Fingerprint

	same := []struct {
		name   string
		mutate func(in *RecordInput)
	}{
		{"identical", func(in *RecordInput) {}},
		{"quantity as string with trailing zero", func(in *RecordInput) { in.Quantity = json.RawMessage(`"1.50"`) }},
		{"quantity with exponent", func(in *RecordInput) { in.Quantity = json.RawMessage(`0.15e1`) }},
		{"tags in another order", func(in *RecordInput) { in.Tags = json.RawMessage(`{ "team" : "a", "env":"prod"}`) }},
		{"same instant in another zone", func(in *RecordInput) {
			in.UsageStartTime, in.UsageEndTime = "2024-03-10T11:00:00+01:00", "2024-03-10 06:00:00-05:00"
		}},
		{"nanoseconds below a microsecond", func(in *RecordInput) { in.UsageEndTime = "2024-03-10T11:00:00.000000999Z" }},
		{"upper-case GUIDs", func(in *RecordInput) {
			in.SubscriptionID, in.MeterID = strings.ToUpper(testSub), "{"+testMeter+"}"
		}},
		{"another id", func(in *RecordInput) { in.ID = "rec-2" }}, // the id is the key, not the content
	}
	for _, tt := range same {
		in := base
		tt.mutate(&in)
		if got := mustValidate(t, in).Fingerprint; got != fp {
			t.Errorf("%s: fingerprint differs", tt.name)
		}
	}

	different := []struct {
		name   string
		mutate func(in *RecordInput)
	}{
		{"quantity", func(in *RecordInput) { in.Quantity = json.RawMessage(`1.500000001`) }},
		{"subscription", func(in *RecordInput) { in.SubscriptionID = "6b0d7a3e-2f4c-4a8e-9b51-0c7d1e2f3a4c" }},
		{"meter", func(in *RecordInput) { in.MeterID = "f1e2d3c4-b5a6-4978-8a9b-0c1d2e3f4a5c" }},
		{"start", func(in *RecordInput) { in.UsageStartTime = "2024-03-10T10:00:00.000001Z" }},
		{"end", func(in *RecordInput) { in.UsageEndTime = "2024-03-10T11:00:01Z" }},
		{"tag value", func(in *RecordInput) { in.Tags = json.RawMessage(`{"env":"prod","team":"b"}`) }},
		{"extra tag", func(in *RecordInput) { in.Tags = json.RawMessage(`{"env":"prod","team":"a","x":""}`) }},
		{"no tags", func(in *RecordInput) { in.Tags = nil }},
		{"empty tags", func(in *RecordInput) { in.Tags = json.RawMessage(`{}`) }},
		{"resourceUri", func(in *RecordInput) { in.ResourceURI += "x" }},
		{"location", func(in *RecordInput) { in.Location = "westeurope" }},
		{"additionalInfo", func(in *RecordInput) { in.AdditionalInfo = json.RawMessage(`{"a":1}`) }},
		{"reportedTime", func(in *RecordInput) { in.ReportedTime = "2024-03-10T11:30:00Z" }},
	}
	seen := map[int64]string{fp: "base"}
	for _, tt := range different {
		in := base
		tt.mutate(&in)
		got := mustValidate(t, in).Fingerprint
		if prev, dup := seen[got]; dup {
			t.Errorf("%s: fingerprint equals that of %s", tt.name, prev)
		}
		seen[got] = tt.name
	}
}

func TestInstanceData(t *testing.T) {
	tests := []struct {
		name   string
		mutate func(in *RecordInput)
		want   string
	}{
		{"no resource", func(in *RecordInput) {}, ""},
		{"null tags and info only", func(in *RecordInput) {
			in.Tags, in.AdditionalInfo = json.RawMessage(`null`), json.RawMessage(` null `)
		}, ""},
		{"resourceUri only", func(in *RecordInput) { in.ResourceURI = "/subscriptions/s/vm/1" },
			`{"Microsoft.Resources":{"resourceUri":"/subscriptions/s/vm/1","location":"","tags":null,"additionalInfo":null}}`},
		{"location only", func(in *RecordInput) { in.Location = "westus" },
			`{"Microsoft.Resources":{"resourceUri":"","location":"westus","tags":null,"additionalInfo":null}}`},
		{"sorted tags", func(in *RecordInput) {
			in.ResourceURI, in.Location = "/r", "westus"
			in.Tags = json.RawMessage(`{"zeta":"1", "alpha":"2", "Mid":"3"}`)
		}, `{"Microsoft.Resources":{"resourceUri":"/r","location":"westus","tags":{"Mid":"3","alpha":"2","zeta":"1"},"additionalInfo":null}}`},
		{"empty tags", func(in *RecordInput) { in.Tags = json.RawMessage(`{}`) },
			`{"Microsoft.Resources":{"resourceUri":"","location":"","tags":{},"additionalInfo":null}}`},
		{"additionalInfo sorted, numbers exact", func(in *RecordInput) {
			in.AdditionalInfo = json.RawMessage(`{"z":1.50,"a":{"y":[3,1e2],"x":null},"m":"s"}`)
		}, `{"Microsoft.Resources":{"resourceUri":"","location":"","tags":null,"additionalInfo":{"a":{"x":null,"y":[3,1e2]},"m":"s","z":1.50}}}`},
		{"escaping", func(in *RecordInput) { in.ResourceURI = `/a"b\c` },
			`{"Microsoft.Resources":{"resourceUri":"/a\"b\\c","location":"","tags":null,"additionalInfo":null}}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			in := validInput()
			tt.mutate(&in)
			r := mustValidate(t, in)
			if r.Instance.Data != tt.want {
				t.Fatalf("instanceData =\n%s\nwant\n%s", r.Instance.Data, tt.want)
			}
			if tt.want == "" {
				if r.Instance.Hash != [16]byte{} {
					t.Fatalf("hash set for no instance")
				}
				return
			}
			if !json.Valid([]byte(r.Instance.Data)) {
				t.Fatalf("instanceData is not valid JSON")
			}
			if r.Instance.Hash == [16]byte{} {
				t.Fatalf("hash not set")
			}
		})
	}
	// Equal instanceData means an equal hash; different means different.
	a, b := validInput(), validInput()
	a.ResourceURI, b.ResourceURI = "/r", "/r"
	a.Tags, b.Tags = json.RawMessage(`{"x":"1","y":"2"}`), json.RawMessage(`{"y":"2","x":"1"}`)
	ra, rb := mustValidate(t, a), mustValidate(t, b)
	if ra.Instance != rb.Instance {
		t.Errorf("same instance, different hash or data: %+v vs %+v", ra.Instance, rb.Instance)
	}
	b.Location = "eastus"
	if rb = mustValidate(t, b); ra.Instance.Hash == rb.Instance.Hash {
		t.Errorf("different instances share a hash")
	}
}

func TestRecordKey(t *testing.T) {
	if RecordKey("a") == RecordKey("b") || RecordKey("a") != RecordKey("a") {
		t.Fatal("RecordKey is not a function of the id")
	}
	if RecordKey("A") == RecordKey("a") {
		t.Fatal("RecordKey folds case")
	}
}

func TestParseTime(t *testing.T) {
	tests := []struct {
		in   string
		want time.Time
		ok   bool
	}{
		{"2024-03-10T10:00:00Z", time.Date(2024, 3, 10, 10, 0, 0, 0, time.UTC), true},
		{"2024-03-10 10:00:00Z", time.Date(2024, 3, 10, 10, 0, 0, 0, time.UTC), true},
		{"2024-03-10T10:00:00.1234569Z", time.Date(2024, 3, 10, 10, 0, 0, 123456000, time.UTC), true},
		{"2024-03-10T12:00:00+02:00", time.Date(2024, 3, 10, 10, 0, 0, 0, time.UTC), true},
		{"2024-03-10t10:00:00z", time.Time{}, false},
		{"2024-03-10T10:00:00", time.Time{}, false},
		{"2024-03-10", time.Time{}, false},
		{"", time.Time{}, false},
		{"2024-03-10T10:00:00.000000000000000000000000000000Z", time.Time{}, false}, // over 40 characters
		{"2024-02-30T10:00:00Z", time.Time{}, false},
	}
	for _, tt := range tests {
		got, err := ParseTime(tt.in)
		if (err == nil) != tt.ok {
			t.Errorf("ParseTime(%q) error = %v, want ok=%v", tt.in, err, tt.ok)
			continue
		}
		if tt.ok && (!got.Equal(tt.want) || got.Location() != time.UTC) {
			t.Errorf("ParseTime(%q) = %v, want %v", tt.in, got, tt.want)
		}
	}
}

// TestParseTimeYearBounds checks that a time whose UTC form leaves years
// 1–9999 is refused, so that every accepted time can be written back in
// RFC 3339.
func TestParseTimeYearBounds(t *testing.T) {
	for _, s := range []string{"9999-12-31T23:30:00-01:00", "0001-01-01T00:30:00+01:00"} {
		if got, err := ParseTime(s); err == nil {
			t.Errorf("ParseTime(%q) = %s, want an error (UTC year %d)", s, got.Format(time.RFC3339Nano), got.Year())
		}
	}
}

func FuzzParseTime(f *testing.F) {
	for _, s := range []string{"2024-03-10T10:00:00Z", "2024-03-10 10:00:00+01:00", "2024-03-10T10:00:00.123456789Z",
		"0001-01-01T00:00:00Z", "9999-12-31T23:59:59.999999Z", "9999-12-31T23:30:00-01:00", "0001-01-01T00:30:00+01:00",
		"2024-02-29T24:00:00Z", "x"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		got, err := ParseTime(s)
		if err != nil {
			return
		}
		if got.Location() != time.UTC {
			t.Fatalf("ParseTime(%q) not in UTC", s)
		}
		if got.Nanosecond()%1000 != 0 {
			t.Fatalf("ParseTime(%q) = %v not truncated to the microsecond", s, got)
		}
		str := got.Format(time.RFC3339Nano)
		back, err := ParseTime(str)
		if err != nil || !back.Equal(got) {
			t.Fatalf("ParseTime(%q) = %s, which re-parses to %v, %v", s, str, back, err)
		}
		back2, err := time.Parse(time.RFC3339Nano, str)
		if err != nil || !back2.Equal(got) {
			t.Fatalf("ParseTime(%q) = %s, which time.Parse reads as %v, %v", s, str, back2, err)
		}
	})
}

// TestInstanceMemos: the service-wide memo of built instances gives
// exactly what building gives, and a resource whose tags,
// location or additionalInfo changed is built again, not served stale.
func TestInstanceMemos(t *testing.T) {
	shared := &sharedInstances{}
	variants := []func(in *RecordInput){
		func(in *RecordInput) {},
		func(in *RecordInput) { in.Tags = []byte(`{"env":"prod"}`) },
		func(in *RecordInput) { in.Tags = []byte(`{"env":"test"}`) },
		func(in *RecordInput) { in.Location = "westeurope" },
		func(in *RecordInput) { in.AdditionalInfo = []byte(`{"size":"D4"}`) },
	}
	for round := range 2 {
		for i, change := range variants {
			for range 2 { // the second time from the memo
				in := validInput()
				in.ResourceURI = "/subscriptions/x/resourceGroups/g/providers/Microsoft.Compute/virtualMachines/vm1"
				change(&in)
				want, rej := buildInstance(&in)
				if rej != nil {
					t.Fatalf("variant %d: %+v", i, rej)
				}
				r, rej := validate(&in, testNow, false, shared)
				if rej != nil {
					t.Fatalf("variant %d: %+v", i, rej)
				}
				if r.Instance != want {
					t.Fatalf("round %d, variant %d: instance %q, want %q", round, i, r.Instance.Data, want.Data)
				}
			}
		}
	}
}
