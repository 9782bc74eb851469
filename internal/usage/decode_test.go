package usage

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
	"testing"
	"testing/iotest"
)

type decoded struct {
	index int
	id    string
	code  string // rejection code, "" when none
}

func decodeAll(body string) ([]decoded, error) {
	var out []decoded
	err := DecodeRecords(strings.NewReader(body), func(index int, in *RecordInput, rej *Rejection) error {
		d := decoded{index: index, id: in.ID}
		if rej != nil {
			d.code = rej.Code
		}
		out = append(out, d)
		return nil
	})
	return out, err
}

const rec1 = `{"id":"a","subscriptionId":"` + testSub + `","meterId":"` + testMeter + `","quantity":1,"usageStartTime":"2024-03-10T10:00:00Z","usageEndTime":"2024-03-10T11:00:00Z"}`
const rec2 = `{"id":"b","quantity":"2"}`

func TestDecodeRecords(t *testing.T) {
	tests := []struct {
		name string
		body string
		want []decoded
	}{
		{"array", "[" + rec1 + "," + rec2 + "]", []decoded{{0, "a", ""}, {1, "b", ""}}},
		{"array with whitespace", " \r\n[ " + rec1 + " ,\n\t" + rec2 + " ]\n\n", []decoded{{0, "a", ""}, {1, "b", ""}}},
		{"empty array", "[]", nil},
		{"NDJSON", rec1 + "\n" + rec2 + "\n", []decoded{{0, "a", ""}, {1, "b", ""}}},
		{"NDJSON CRLF without final newline", rec1 + "\r\n" + rec2, []decoded{{0, "a", ""}, {1, "b", ""}}},
		{"NDJSON blank lines", "\n\n" + rec1 + "\n\n\n" + rec2 + "\n\n", []decoded{{0, "a", ""}, {1, "b", ""}}},
		{"objects on one line", rec1 + " " + rec2 + rec1, []decoded{{0, "a", ""}, {1, "b", ""}, {2, "a", ""}}},
		{"single object", rec2, []decoded{{0, "b", ""}}},
		{"BOM then array", "\xEF\xBB\xBF[" + rec2 + "]", []decoded{{0, "b", ""}}},
		{"BOM then NDJSON", "\xEF\xBB\xBF" + rec2 + "\n" + rec2, []decoded{{0, "b", ""}, {1, "b", ""}}},
		{"empty body", "", nil},
		{"whitespace body", " \n\t\r\n", nil},
		{"BOM only", "\xEF\xBB\xBF", nil},

		{"element not an object", `[1, "x", null, [], ` + rec2 + `]`,
			[]decoded{{0, "", CodeInvalidRecord}, {1, "", CodeInvalidRecord}, {2, "", CodeInvalidRecord}, {3, "", CodeInvalidRecord}, {4, "b", ""}}},
		{"id a number", `[{"id":5}]`, []decoded{{0, "", CodeInvalidRecord}}},
		{"quantity raw keeps any JSON", `[{"id":"q","quantity":{"a":1}}]`, []decoded{{0, "q", ""}}},
		{"subscriptionId an object", `[{"id":"c","subscriptionId":{}}]`, []decoded{{0, "c", CodeInvalidRecord}}},
		{"usageStartTime a number", `[{"id":"d","usageStartTime":1710064800}]`, []decoded{{0, "d", CodeInvalidRecord}}},
		{"unknown property", `[{"id":"e","quantityy":1}]`, []decoded{{0, "e", CodeUnknownProperty}}},
		{"unknown property in NDJSON", `{"id":"e","foo":1}` + "\n" + rec2, []decoded{{0, "e", CodeUnknownProperty}, {1, "b", ""}}},
		{"repeated property", `[{"id":"f","id":"g"}]`, []decoded{{0, "g", CodeInvalidRecord}}},
		{"null strings are absent", `[{"id":"h","location":null,"resourceUri":null}]`, []decoded{{0, "h", ""}}},
		{"rejected element keeps later ones", `[{"id":1},` + rec1 + `]`, []decoded{{0, "", CodeInvalidRecord}, {1, "a", ""}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := decodeAll(tt.body)
			if err != nil {
				t.Fatalf("error %v", err)
			}
			if fmt.Sprint(got) != fmt.Sprint(tt.want) {
				t.Fatalf("got %v, want %v", got, tt.want)
			}
		})
	}
}

func TestDecodeRecordsRejectionMessages(t *testing.T) {
	var rejs []*Rejection
	err := DecodeRecords(strings.NewReader(`[{"id":5},{"id":"x","colour":"red"}]`), func(_ int, _ *RecordInput, rej *Rejection) error {
		rejs = append(rejs, rej)
		return nil
	})
	if err != nil || len(rejs) != 2 || rejs[0] == nil || rejs[1] == nil {
		t.Fatalf("err=%v rejs=%v", err, rejs)
	}
	if !strings.Contains(rejs[0].Message, "'id'") || !strings.Contains(rejs[0].Message, "string") {
		t.Errorf("type rejection message %q does not name the property and type", rejs[0].Message)
	}
	if !strings.Contains(rejs[1].Message, "colour") {
		t.Errorf("unknown property message %q does not name it", rejs[1].Message)
	}
}

func TestDecodeRecordsMalformed(t *testing.T) {
	tests := []struct {
		name string
		body string
	}{
		{"truncated array", "[" + rec1},
		{"truncated object", `[{"id":`},
		{"truncated NDJSON", rec1 + "\n" + `{"id":"b"`},
		{"unclosed array", "[" + rec1 + ","},
		{"missing comma", "[" + rec1 + " " + rec2 + "]"},
		{"trailing comma", "[" + rec1 + ",]"},
		{"not JSON", "hello"},
		{"a string", `"records"`},
		{"a number", `42`},
		{"null", `null`},
		{"NDJSON junk line", rec1 + "\nnot json\n"},
		{"NDJSON array line after objects", rec2 + "\n]"},
		{"data after closing bracket", "[" + rec2 + "] x"},
		{"object after closing bracket", "[" + rec2 + "]" + rec2},
		{"second array", "[][]"},
		{"lone BOM byte", "\xEF[]"},
		{"closing bracket only", "]"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := decodeAll(tt.body)
			if !errors.Is(err, ErrMalformedBody) {
				t.Fatalf("error = %v, want ErrMalformedBody", err)
			}
		})
	}
}

func TestDecodeRecordsCallbackError(t *testing.T) {
	stop := errors.New("stop")
	calls := 0
	err := DecodeRecords(strings.NewReader("["+rec1+","+rec2+","+rec1+"]"), func(index int, _ *RecordInput, _ *Rejection) error {
		calls++
		if index == 1 {
			return stop
		}
		return nil
	})
	if err != stop || calls != 2 {
		t.Fatalf("err = %v after %d calls, want stop after 2", err, calls)
	}
}

// TestDecodeRecordsReaderError checks that a failing reader (a body over
// its size limit, a dropped connection) is reported as it is, not as a
// malformed body.
func TestDecodeRecordsReaderError(t *testing.T) {
	boom := errors.New("body too large")
	for _, prefix := range []string{"", "[" + rec1 + ",", rec1 + "\n"} {
		r := io.MultiReader(strings.NewReader(prefix), iotest.ErrReader(boom))
		err := DecodeRecords(r, func(int, *RecordInput, *Rejection) error { return nil })
		if !errors.Is(err, boom) {
			t.Errorf("prefix %q: error = %v, want the reader's error", prefix, err)
		}
		if errors.Is(err, ErrMalformedBody) {
			t.Errorf("prefix %q: reader error reported as malformed body", prefix)
		}
	}
}

// TestDecodeRecordsOneByteReader decodes through a reader that returns one
// byte at a time, which exercises every buffer boundary.
func TestDecodeRecordsOneByteReader(t *testing.T) {
	body := " [" + rec1 + "," + rec2 + "]"
	var ids []string
	err := DecodeRecords(iotest.OneByteReader(strings.NewReader(body)), func(_ int, in *RecordInput, rej *Rejection) error {
		if rej != nil {
			t.Errorf("rejection %+v", rej)
		}
		ids = append(ids, in.ID)
		return nil
	})
	if err != nil || strings.Join(ids, ",") != "a,b" {
		t.Fatalf("ids %v, err %v", ids, err)
	}
}

// TestDecodeRecordsDoesNotRetainInput checks that each callback gets its
// own RecordInput whose raw fields are not overwritten by later elements.
func TestDecodeRecordsDoesNotRetainInput(t *testing.T) {
	var ins []*RecordInput
	body := `[{"id":"a","quantity":"1","tags":{"k":"v1"}},{"id":"b","quantity":"22222","tags":{"k":"v2"}}]`
	if err := DecodeRecords(strings.NewReader(body), func(_ int, in *RecordInput, _ *Rejection) error {
		ins = append(ins, in)
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if len(ins) != 2 || string(ins[0].Quantity) != `"1"` || string(ins[0].Tags) != `{"k":"v1"}` || ins[0].ID != "a" {
		t.Fatalf("first record changed after decoding the second: %+v", ins[0])
	}
}

func FuzzDecodeRecords(f *testing.F) {
	for _, s := range []string{"", "[]", "[" + rec1 + "," + rec2 + "]", rec1 + "\n" + rec2, "\xEF\xBB\xBF[]", `[1,{"id":5}]`,
		"[" + rec2 + "] x", `{"id":"e","foo":1}`, "[", "{", `[{"quantity":1e999}]`, "\xEF", `{"tags":{"a":"b"}}` + "\n]"} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		next := 0
		var seen []string
		err := DecodeRecords(bytes.NewReader(data), func(index int, in *RecordInput, rej *Rejection) error {
			if index != next {
				t.Fatalf("index %d, want %d", index, next)
			}
			next++
			if in == nil {
				t.Fatalf("nil record at %d", index)
			}
			if rej != nil && rej.Code == "" {
				t.Fatalf("rejection without code at %d", index)
			}
			code := ""
			if rej != nil {
				code = rej.Code
			} else {
				// A decoded record must be safe to validate.
				Validate(in, testNow, true)
			}
			seen = append(seen, fmt.Sprintf("%q %s", in.ID, code))
			return nil
		})
		if err != nil && !errors.Is(err, ErrMalformedBody) {
			t.Fatalf("error %v does not wrap ErrMalformedBody (the reader cannot fail)", err)
		}
		// Reading one byte at a time changes nothing.
		var again []string
		err2 := DecodeRecords(iotest.OneByteReader(bytes.NewReader(data)), func(_ int, in *RecordInput, rej *Rejection) error {
			code := ""
			if rej != nil {
				code = rej.Code
			}
			again = append(again, fmt.Sprintf("%q %s", in.ID, code))
			return nil
		})
		if (err == nil) != (err2 == nil) || strings.Join(seen, "\n") != strings.Join(again, "\n") {
			t.Fatalf("one-byte reader differs: %v %v / %v %v", seen, err, again, err2)
		}
		// An accepted array has as many elements as encoding/json sees.
		if trimmed := bytes.TrimLeft(data, " \t\r\n"); err == nil && len(trimmed) > 0 && trimmed[0] == '[' {
			var elems []json.RawMessage
			if jerr := json.Unmarshal(data, &elems); jerr == nil && len(elems) != len(seen) {
				t.Fatalf("%d elements decoded, encoding/json sees %d", len(seen), len(elems))
			}
		}
	})
}
