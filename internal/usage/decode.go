package usage

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
)

// ErrMalformedBody is returned by DecodeRecords when the body is neither a
// JSON array of objects nor a stream of JSON objects (NDJSON).
var ErrMalformedBody = errors.New("usage: malformed body")

// MaxRecordsPerRequest bounds the records of one request.
const MaxRecordsPerRequest = 1_000_000

// DecodeRecords reads a JSON array of records or NDJSON (one object per
// line; any whitespace between objects is accepted) and calls fn for each
// element in order. An element that is valid JSON but not a valid record
// (wrong types, unknown properties) is passed with a rejection. A body that
// is not valid JSON returns an error wrapping ErrMalformedBody; so does an
// error returned by the reader (for example, a body over its size limit),
// which is returned as is.
func DecodeRecords(r io.Reader, fn func(index int, in *RecordInput, rej *Rejection) error) error {
	br := bufio.NewReaderSize(r, 64<<10)
	first, err := peekNonSpace(br)
	if err == io.EOF {
		return nil // an empty body carries no records
	}
	if err != nil {
		return err
	}
	dec := json.NewDecoder(br)
	array := first == '['
	if array {
		if _, err := dec.Token(); err != nil {
			return malformed(err)
		}
	} else if first != '{' {
		return fmt.Errorf("%w: expected a JSON array or NDJSON objects", ErrMalformedBody)
	}
	index := 0
	var raw json.RawMessage
	for {
		if array && !dec.More() {
			break
		}
		raw = raw[:0]
		if err := dec.Decode(&raw); err != nil {
			if !array && err == io.EOF {
				break
			}
			return malformed(err)
		}
		if index >= MaxRecordsPerRequest {
			return fmt.Errorf("%w: more than %d records", ErrMalformedBody, MaxRecordsPerRequest)
		}
		var in RecordInput
		rej := decodeRecord(raw, &in)
		if err := fn(index, &in, rej); err != nil {
			return err
		}
		index++
	}
	if array {
		if _, err := dec.Token(); err != nil {
			return malformed(err)
		}
		if _, err := dec.Token(); err != io.EOF {
			return fmt.Errorf("%w: data after the closing bracket", ErrMalformedBody)
		}
	}
	return nil
}

func malformed(err error) error {
	var se *json.SyntaxError
	if errors.As(err, &se) || errors.Is(err, io.ErrUnexpectedEOF) || err == io.EOF {
		return fmt.Errorf("%w: %v", ErrMalformedBody, err)
	}
	var ue *json.UnmarshalTypeError
	if errors.As(err, &ue) {
		return fmt.Errorf("%w: %v", ErrMalformedBody, err)
	}
	if strings.HasPrefix(err.Error(), "invalid character") || strings.HasPrefix(err.Error(), "json:") {
		return fmt.Errorf("%w: %v", ErrMalformedBody, err)
	}
	return err // the reader failed (size limit, connection)
}

func peekNonSpace(br *bufio.Reader) (byte, error) {
	for {
		b, err := br.ReadByte()
		if err != nil {
			return 0, err
		}
		switch b {
		case ' ', '\t', '\r', '\n':
			continue
		case 0xEF: // a UTF-8 byte order mark
			if rest, err := br.Peek(2); err == nil && rest[0] == 0xBB && rest[1] == 0xBF {
				br.Discard(2)
				continue
			}
		}
		return b, br.UnreadByte()
	}
}

func decodeRecord(raw json.RawMessage, in *RecordInput) *Rejection {
	if len(raw) == 0 || raw[0] != '{' {
		return reject(CodeInvalidRecord, "A record must be a JSON object.")
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.DisallowUnknownFields()
	if err := dec.Decode(in); err != nil {
		var ue *json.UnmarshalTypeError
		if errors.As(err, &ue) {
			return reject(CodeInvalidRecord, "The property '%s' must be a %s.", ue.Field, jsonKind(ue.Type.Kind().String()))
		}
		if msg := err.Error(); strings.HasPrefix(msg, "json: unknown field ") {
			return reject(CodeUnknownProperty, "The record has an unknown property %s.", strings.TrimPrefix(msg, "json: unknown field "))
		}
		return reject(CodeInvalidRecord, "The record is not valid: %v.", err)
	}
	return nil
}

func jsonKind(goKind string) string {
	switch goKind {
	case "string":
		return "string"
	case "map", "struct":
		return "object"
	default:
		return goKind
	}
}
