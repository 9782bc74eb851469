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
