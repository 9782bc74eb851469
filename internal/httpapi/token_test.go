package httpapi

import (
	"encoding/base64"
	"math"
	"strings"
	"testing"
	"time"

	"github.com/reckon-billing/reckon/internal/usage"
)

var tokKey = []byte("0123456789abcdef0123456789abcdef")

func tokQuery() usage.Query {
	return usage.Query{
		SubscriptionID: "6f1c3a52-8d7e-4b4a-9a8e-3c1d2b4e5f60",
		ReportedStart:  time.Date(2024, 3, 1, 0, 0, 0, 0, time.UTC),
		ReportedEnd:    time.Date(2024, 3, 8, 0, 0, 0, 0, time.UTC),
		Granularity:    usage.Daily,
		ShowDetails:    true,
	}
}

var tokKeys = []usage.GroupKey{
	{},
	{Bucket: 1709251200, MeterKey: 1, InstanceKey: 0},
	{Bucket: 1709251200, MeterKey: 42, InstanceKey: 7},
	{Bucket: -86400, MeterKey: math.MaxInt64, InstanceKey: math.MaxInt64},
	{Bucket: math.MinInt64, MeterKey: math.MinInt64, InstanceKey: -1},
}

func TestTokenRoundTrip(t *testing.T) {
	q := tokQuery()
	for _, k := range tokKeys {
		tok := encodeToken(tokKey, &q, k)
		if tok == "" || strings.ContainsAny(tok, "+/=&?# ") {
			t.Fatalf("token %q is not URL-safe", tok)
		}
		got, ok := decodeToken(tokKey, &q, tok)
		if !ok || got != k {
			t.Fatalf("decodeToken(encodeToken(%+v)) = %+v, %v", k, got, ok)
		}
		// The query's paging fields are not part of its identity.
		q2 := q
		q2.PageSize, q2.After = 7, &k
		if got, ok := decodeToken(tokKey, &q2, tok); !ok || got != k {
			t.Fatalf("token refused for the same query with another page position")
		}
	}
	// Deterministic: the same inputs give the same token.
	if encodeToken(tokKey, &q, tokKeys[2]) != encodeToken(tokKey, &q, tokKeys[2]) {
		t.Fatal("encodeToken is not deterministic")
	}
}

// TestTokenTampered flips every bit of every byte of a token: each change
// is refused.
func TestTokenTampered(t *testing.T) {
	q := tokQuery()
	for _, k := range tokKeys {
		raw, err := base64.RawURLEncoding.DecodeString(encodeToken(tokKey, &q, k))
		if err != nil {
			t.Fatal(err)
		}
		for i := range raw {
			for bit := 0; bit < 8; bit++ {
				bad := append([]byte(nil), raw...)
				bad[i] ^= 1 << bit
				if got, ok := decodeToken(tokKey, &q, base64.RawURLEncoding.EncodeToString(bad)); ok {
					t.Fatalf("byte %d bit %d flipped: accepted as %+v", i, bit, got)
				}
			}
		}
		// Truncated, extended, or with a byte removed.
		for n := 0; n < len(raw); n++ {
			if _, ok := decodeToken(tokKey, &q, base64.RawURLEncoding.EncodeToString(raw[:n])); ok {
				t.Fatalf("token truncated to %d bytes accepted", n)
			}
			cut := append(append([]byte(nil), raw[:n]...), raw[n+1:]...)
			if _, ok := decodeToken(tokKey, &q, base64.RawURLEncoding.EncodeToString(cut)); ok {
				t.Fatalf("token without byte %d accepted", n)
			}
		}
		if _, ok := decodeToken(tokKey, &q, base64.RawURLEncoding.EncodeToString(append(raw, 0))); ok {
			t.Fatal("token with a byte appended accepted")
		}
	}
}

// TestTokenTamperedText changes every character of a token's text: each
// change is refused. (A change to the unused low bits of the last
// character must be refused too: the token is compared as written.)
func TestTokenTamperedText(t *testing.T) {
	q := tokQuery()
	const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
	for _, k := range tokKeys {
		tok := encodeToken(tokKey, &q, k)
		for i := range tok {
			for _, c := range alphabet {
				if byte(c) == tok[i] {
					continue
				}
				bad := tok[:i] + string(c) + tok[i+1:]
				if got, ok := decodeToken(tokKey, &q, bad); ok {
					t.Fatalf("token %q changed at %d to %q accepted as %+v", tok, i, bad, got)
				}
			}
		}
		for _, bad := range []string{tok + "=", tok + "==", " " + tok, tok + "\n", strings.ToUpper(tok), tok + "A"} {
			if bad == tok {
				continue
			}
			if _, ok := decodeToken(tokKey, &q, bad); ok {
				t.Fatalf("token %q accepted as %q", tok, bad)
			}
		}
	}
}

func TestTokenOtherQuery(t *testing.T) {
	q := tokQuery()
	tok := encodeToken(tokKey, &q, tokKeys[2])
	others := map[string]func(q *usage.Query){
		"subscription": func(q *usage.Query) { q.SubscriptionID = "0b6c1e7a-2f3d-4c5b-8a9e-1d2c3b4a5f6e" },
		"start":        func(q *usage.Query) { q.ReportedStart = q.ReportedStart.Add(-24 * time.Hour) },
		"end":          func(q *usage.Query) { q.ReportedEnd = q.ReportedEnd.Add(24 * time.Hour) },
		"start by 1µs": func(q *usage.Query) { q.ReportedStart = q.ReportedStart.Add(time.Microsecond) },
		"window shifted": func(q *usage.Query) {
			q.ReportedStart, q.ReportedEnd = q.ReportedEnd, q.ReportedEnd.Add(7*24*time.Hour)
		},
		"granularity":     func(q *usage.Query) { q.Granularity = usage.Hourly },
		"showDetails":     func(q *usage.Query) { q.ShowDetails = false },
		"subscription uc": func(q *usage.Query) { q.SubscriptionID = strings.ToUpper(q.SubscriptionID) },
	}
	for name, change := range others {
		q2 := tokQuery()
		change(&q2)
		if got, ok := decodeToken(tokKey, &q2, tok); ok {
			t.Errorf("token of one query accepted for another (%s) as %+v", name, got)
		}
	}
	// And another server key.
	other := append([]byte(nil), tokKey...)
	other[0] ^= 1
	if _, ok := decodeToken(other, &q, tok); ok {
		t.Error("token accepted under another key")
	}
	if _, ok := decodeToken(nil, &q, tok); ok {
		t.Error("token accepted under an empty key")
	}
}

func TestTokenJunk(t *testing.T) {
	q := tokQuery()
	for _, s := range []string{"", "x", "AAAA", "%%%", "null", strings.Repeat("A", 40), strings.Repeat("A", 257), strings.Repeat("_", 1000),
		base64.RawURLEncoding.EncodeToString(make([]byte, 40)), base64.StdEncoding.EncodeToString(make([]byte, 40))} {
		if got, ok := decodeToken(tokKey, &q, s); ok {
			t.Errorf("junk %q accepted as %+v", s, got)
		}
	}
}

func FuzzDecodeToken(f *testing.F) {
	q := tokQuery()
	for _, k := range tokKeys {
		f.Add(encodeToken(tokKey, &q, k))
	}
	f.Add("")
	f.Add("AQ")
	f.Add(strings.Repeat("A", 60))
	f.Fuzz(func(t *testing.T, s string) {
		k, ok := decodeToken(tokKey, &q, s)
		if !ok {
			if k != (usage.GroupKey{}) {
				t.Fatalf("refused token %q returned a key %+v", s, k)
			}
			return
		}
		// Only what encodeToken produced is accepted, byte for byte.
		if want := encodeToken(tokKey, &q, k); s != want {
			t.Fatalf("accepted %q as %+v, but encodeToken gives %q", s, k, want)
		}
	})
}
