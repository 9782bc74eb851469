package httpapi

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"

	"github.com/reckon-billing/reckon/internal/usage"
)

// A continuation token carries where a page ended and a digest of the query
// it belongs to, authenticated with the server's key: a tampered token, or
// one replayed against another query, is refused.

const tokenVersion = 1

func queryDigest(q *usage.Query) [8]byte {
	h := sha256.New()
	var b [8]byte
	h.Write([]byte(q.SubscriptionID))
	binary.BigEndian.PutUint64(b[:], uint64(q.ReportedStart.UnixMicro()))
	h.Write(b[:])
	binary.BigEndian.PutUint64(b[:], uint64(q.ReportedEnd.UnixMicro()))
	h.Write(b[:])
	h.Write([]byte(q.Granularity))
	if q.ShowDetails {
		h.Write([]byte{1})
	} else {
		h.Write([]byte{0})
	}
	var d [8]byte
	copy(d[:], h.Sum(nil))
	return d
}

// encodeToken returns the continuation token for the page after k.
func encodeToken(key []byte, q *usage.Query, k usage.GroupKey) string {
	p := []byte{tokenVersion}
	d := queryDigest(q)
	p = append(p, d[:]...)
	p = binary.AppendVarint(p, k.Bucket)
	p = binary.AppendVarint(p, k.MeterKey)
	p = binary.AppendVarint(p, k.InstanceKey)
	mac := hmac.New(sha256.New, key)
	mac.Write(p)
	p = mac.Sum(p)[:len(p)+16]
	return base64.RawURLEncoding.EncodeToString(p)
}

// decodeToken checks a continuation token against q and returns where the
// previous page ended; ok is false for a token that is not ours or not for q.
func decodeToken(key []byte, q *usage.Query, tok string) (usage.GroupKey, bool) {
	var k usage.GroupKey
	if len(tok) > 256 {
		return k, false
	}
	for i := 0; i < len(tok); i++ { // the decoder would skip newlines
		if c := tok[i]; !('A' <= c && c <= 'Z' || 'a' <= c && c <= 'z' || '0' <= c && c <= '9' || c == '-' || c == '_') {
			return k, false
		}
	}
	raw, err := base64.RawURLEncoding.Strict().DecodeString(tok) // Strict: one encoding per token
	if err != nil || len(raw) < 1+8+3+16 || raw[0] != tokenVersion {
		return k, false
	}
	body, sig := raw[:len(raw)-16], raw[len(raw)-16:]
	mac := hmac.New(sha256.New, key)
	mac.Write(body)
	if !hmac.Equal(mac.Sum(nil)[:16], sig) {
		return k, false
	}
	if d := queryDigest(q); !hmac.Equal(d[:], body[1:9]) {
		return k, false
	}
	p := body[9:]
	var vals [3]int64
	for i := range vals {
		v, n := binary.Varint(p)
		if n <= 0 {
			return k, false
		}
		vals[i], p = v, p[n:]
	}
	if len(p) != 0 {
		return k, false
	}
	return usage.GroupKey{Bucket: vals[0], MeterKey: vals[1], InstanceKey: vals[2]}, true
}
