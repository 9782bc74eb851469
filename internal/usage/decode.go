package usage

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"io"

	"github.com/go-json-experiment/json/jsontext"
)

// ErrMalformedBody is returned by DecodeRecords when the body is neither a
// JSON array of objects nor a stream of JSON objects (NDJSON).
var ErrMalformedBody = errors.New("usage: malformed body")

// MaxRecordsPerRequest bounds the records of one request.
const MaxRecordsPerRequest = 1_000_000

// DecodeRecords reads a JSON array of records or NDJSON (one object per
// line; any whitespace between objects is accepted) and calls fn for each
// element in order. An element that is valid JSON but not a valid record
// (wrong types, unknown or repeated properties) is passed with a rejection.
// A body that is not valid JSON returns an error wrapping ErrMalformedBody;
// an error of the reader itself (for example a size limit) is returned as is.
//
// It reads the body in one pass, token by token, without reflection: this
// is the hot path of ingestion.
func DecodeRecords(r io.Reader, fn func(index int, in *RecordInput, rej *Rejection) error) error {
	br := bufio.NewReaderSize(r, 64<<10)
	if bom, err := br.Peek(3); err == nil && string(bom) == "\xef\xbb\xbf" {
		br.Discard(3) // a UTF-8 byte order mark, as some Windows tools write
	}
	dec := jsontext.NewDecoder(br, jsontext.AllowDuplicateNames(true))
	array := false
	switch dec.PeekKind() {
	case '[':
		if _, err := dec.ReadToken(); err != nil {
			return malformed(err)
		}
		array = true
	case '{':
	case 0:
		if _, err := dec.ReadToken(); err != nil && err != io.EOF {
			return malformed(err)
		}
		return nil // an empty body carries no records
	default:
		return fmt.Errorf("%w: expected a JSON array or NDJSON objects", ErrMalformedBody)
	}
	for index := 0; ; index++ {
		k := dec.PeekKind()
		if array && k == ']' {
			if _, err := dec.ReadToken(); err != nil {
				return malformed(err)
			}
			break
		}
		if k == 0 {
			_, err := dec.ReadToken()
			if !array && err == io.EOF {
				break
			}
			return malformed(err)
		}
		if index >= MaxRecordsPerRequest {
			return fmt.Errorf("%w: more than %d records", ErrMalformedBody, MaxRecordsPerRequest)
		}
		var in RecordInput
		rej, err := decodeRecord(dec, &in)
		if err != nil {
			return malformed(err)
		}
		if err := fn(index, &in, rej); err != nil {
			return err
		}
	}
	if array {
		if k := dec.PeekKind(); k != 0 {
			return fmt.Errorf("%w: data after the closing bracket", ErrMalformedBody)
		}
		if _, err := dec.ReadToken(); err != io.EOF {
			return malformed(err)
		}
	}
	return nil
}

func malformed(err error) error {
	if err == nil {
		return fmt.Errorf("%w: unexpected end", ErrMalformedBody)
	}
	var se *jsontext.SyntacticError
	if errors.As(err, &se) || errors.Is(err, io.ErrUnexpectedEOF) || err == io.EOF {
		return fmt.Errorf("%w: %v", ErrMalformedBody, err)
	}
	return err // the reader failed (size limit, connection)
}

// Record properties, as bits for the seen-set of decodeRecord.
const (
	propID = 1 << iota
	propSubscription
	propMeter
	propQuantity
	propStart
	propEnd
	propResource
	propLocation
	propTags
	propInfo
	propReported
)

// decodeRecord reads one element. A record-level problem becomes a
// rejection (the element is still consumed whole); a syntax error is
// returned as an error.
func decodeRecord(dec *jsontext.Decoder, in *RecordInput) (*Rejection, error) {
	if dec.PeekKind() != '{' {
		if err := dec.SkipValue(); err != nil {
			return nil, err
		}
		return reject(CodeInvalidRecord, "A record must be a JSON object."), nil
	}
	if _, err := dec.ReadToken(); err != nil {
		return nil, err
	}
	var rej *Rejection
	note := func(r *Rejection) {
		if rej == nil {
			rej = r
		}
	}
	seen := 0
	for {
		if dec.PeekKind() == '}' {
			_, err := dec.ReadToken()
			return rej, err
		}
		nameTok, err := dec.ReadToken()
		if err != nil {
			return nil, err
		}
		name := nameTok.String()
		var str *string
		var raw *json.RawMessage
		bit := 0
		switch name {
		case "id":
			str, bit = &in.ID, propID
		case "subscriptionId":
			str, bit = &in.SubscriptionID, propSubscription
		case "meterId":
			str, bit = &in.MeterID, propMeter
		case "usageStartTime":
			str, bit = &in.UsageStartTime, propStart
		case "usageEndTime":
			str, bit = &in.UsageEndTime, propEnd
		case "resourceUri":
			str, bit = &in.ResourceURI, propResource
		case "location":
			str, bit = &in.Location, propLocation
		case "reportedTime":
			str, bit = &in.ReportedTime, propReported
		case "quantity":
			raw, bit = &in.Quantity, propQuantity
		case "tags":
			raw, bit = &in.Tags, propTags
		case "additionalInfo":
			raw, bit = &in.AdditionalInfo, propInfo
		default:
			note(reject(CodeUnknownProperty, "The record has an unknown property %q.", clip(name)))
			if err := dec.SkipValue(); err != nil {
				return nil, err
			}
			continue
		}
		if seen&bit != 0 {
			note(reject(CodeInvalidRecord, "The property '%s' appears twice.", name))
		}
		seen |= bit
		switch kind := dec.PeekKind(); {
		case str != nil && kind == '"':
			tok, err := dec.ReadToken()
			if err != nil {
				return nil, err
			}
			*str = tok.String()
		case str != nil && kind == 'n':
			if _, err := dec.ReadToken(); err != nil {
				return nil, err
			}
		case str != nil:
			note(reject(CodeInvalidRecord, "The property '%s' must be a string.", name))
			if err := dec.SkipValue(); err != nil {
				return nil, err
			}
		default:
			v, err := dec.ReadValue()
			if err != nil {
				return nil, err
			}
			*raw = append((*raw)[:0], v...) // v is only valid until the next read
		}
	}
}
