package natsingest

import (
	"errors"
	"testing"
	"time"

	"github.com/reckon-billing/reckon/internal/usage"
)

func TestOwner(t *testing.T) {
	// Messages: 3 records, a dead letter, a malformed one, 2 records, 1 record.
	ws := []work{{base: 0}, {skip: true}, {bad: errors.New("x")}, {base: 3}, {base: 5}}
	with := []int{0, 3, 4}
	for i, want := range []int{0, 0, 0, 3, 3, 4} {
		if got := owner(ws, with, i); got != want {
			t.Errorf("owner of record %d = message %d, want %d", i, got, want)
		}
	}
}

func TestElements(t *testing.T) {
	for _, tc := range []struct {
		data string
		want []string
	}{
		{`[{"a":1}, {"b":[2,3]} ,5]`, []string{`{"a":1}`, `{"b":[2,3]}`, `5`}},
		{"{\"a\":1}\n{\"b\":2}\n", []string{`{"a":1}`, `{"b":2}`}},
		{"\xef\xbb\xbf{\"a\":1}", []string{`{"a":1}`}},
		{`{"a":1}`, []string{`{"a":1}`}},
		{``, nil},
	} {
		got := elements([]byte(tc.data))
		if len(got) != len(tc.want) {
			t.Errorf("elements(%q) = %q, want %q", tc.data, got, tc.want)
			continue
		}
		for i := range got {
			if string(got[i]) != tc.want[i] {
				t.Errorf("elements(%q)[%d] = %s, want %s", tc.data, i, got[i], tc.want[i])
			}
		}
	}
}

func TestDecodeMessage(t *testing.T) {
	entries, err := decodeMessage([]byte(`{"id":"a"}` + "\n" + `{"id":"b","colour":1}`))
	if err != nil || len(entries) != 2 || entries[0].in.ID != "a" || entries[0].rej != nil ||
		entries[1].rej == nil || entries[1].rej.Code != usage.CodeUnknownProperty {
		t.Fatalf("decodeMessage = %+v, %v", entries, err)
	}
	// A message that breaks off after a valid record is malformed as a whole.
	if _, err := decodeMessage([]byte(`{"id":"a"}` + "\n" + `{"id":`)); !errors.Is(err, usage.ErrMalformedBody) {
		t.Fatalf("truncated message: %v, want ErrMalformedBody", err)
	}
	if _, err := decodeMessage([]byte(`not json`)); !errors.Is(err, usage.ErrMalformedBody) {
		t.Fatalf("not JSON: %v, want ErrMalformedBody", err)
	}
}

func TestBackoff(t *testing.T) {
	c := Consumer{cfg: Config{RetryMin: time.Second, RetryMax: 30 * time.Second}}
	for n, want := range map[int]time.Duration{1: time.Second, 2: 2 * time.Second, 3: 4 * time.Second, 5: 16 * time.Second, 6: 30 * time.Second, 100: 30 * time.Second} {
		if got := c.backoff(n); got != want {
			t.Errorf("backoff(%d) = %v, want %v", n, got, want)
		}
	}
}

func TestConfigDefaults(t *testing.T) {
	var c Config
	c.fill()
	if c.Stream != "RECKON_USAGE" || c.Subject != "reckon.usage.>" || c.Durable != "reckon-ingest" ||
		c.DeadLetterSubject != "reckon.usage.rejected" || c.Workers != 2 || c.MaxAckPending != 20000 || c.Log == nil {
		t.Fatalf("defaults: %+v", c)
	}
	if got := redactURL("nats://user:pw@host:4222"); got != "nats://***@host:4222" {
		t.Fatalf("redactURL = %q", got)
	}
}
