package billing

import (
	"strings"
	"time"

	"github.com/google/uuid"
)

// Clock returns the current time. Every component that needs the time takes
// a Clock, so that tests can control it.
type Clock func() time.Time

// ParseGUID parses a GUID in its canonical 36-character form (any case, with
// or without braces) and returns it lower-cased. ok is false for anything else.
func ParseGUID(s string) (string, bool) {
	if isLowerGUID(s) {
		return s, true // the common case, without allocating
	}
	s = strings.TrimSuffix(strings.TrimPrefix(s, "{"), "}")
	if len(s) != 36 {
		return "", false
	}
	u, err := uuid.Parse(s)
	if err != nil {
		return "", false
	}
	return u.String(), true
}

// isLowerGUID reports whether s is a GUID in canonical lower-case form.
func isLowerGUID(s string) bool {
	if len(s) != 36 {
		return false
	}
	for i := 0; i < 36; i++ {
		c := s[i]
		switch i {
		case 8, 13, 18, 23:
			if c != '-' {
				return false
			}
		default:
			if !('0' <= c && c <= '9' || 'a' <= c && c <= 'f') {
				return false
			}
		}
	}
	return true
}
