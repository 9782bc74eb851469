// Package billing is the shared domain kernel of Reckon: identifiers, the
// clock, and domain errors that carry a stable code. It imports nothing else
// of Reckon, and every other package may import it.
package billing

import (
	"errors"
	"fmt"
)

// Kind classifies a domain error; the HTTP layer maps each kind to one status.
type Kind int

const (
	// KindInternal is an unexpected failure; its details are never shown to callers.
	KindInternal Kind = iota
	// KindInvalid is bad input from the caller (400).
	KindInvalid
	// KindNotFound is a missing resource (404).
	KindNotFound
	// KindConflict is a request that contradicts stored state (409).
	KindConflict
	// KindUnauthenticated is a missing or bad credential (401).
	KindUnauthenticated
	// KindForbidden is a credential without the right to act (403).
	KindForbidden
	// KindTooLarge is a request body over the configured limit (413).
	KindTooLarge
	// KindUnavailable is a transient condition; the caller should retry (503).
	KindUnavailable
	// KindUnsupportedMedia is a body in a format or encoding not accepted (415).
	KindUnsupportedMedia
	// KindTooManyRequests is a caller over its request budget (429).
	KindTooManyRequests
)

// Error is a domain error with an ARM-style code ("InvalidProperty"), a
// human message, and the name of the input it concerns (the ARM "target").
type Error struct {
	Kind    Kind
	Code    string
	Message string
	Target  string
	// RetryAfter, in seconds, accompanies KindUnavailable errors.
	RetryAfter int
	// Err is the underlying cause, logged but never shown to callers.
	Err error
}

func (e *Error) Error() string {
	if e.Err != nil {
		return fmt.Sprintf("%s: %s: %v", e.Code, e.Message, e.Err)
	}
	return e.Code + ": " + e.Message
}

func (e *Error) Unwrap() error { return e.Err }

// Invalid returns a KindInvalid error with the given code and target.
func Invalid(code, target, format string, args ...any) *Error {
	return &Error{Kind: KindInvalid, Code: code, Target: target, Message: fmt.Sprintf(format, args...)}
}

// NotFound returns a KindNotFound error.
func NotFound(code, target, format string, args ...any) *Error {
	return &Error{Kind: KindNotFound, Code: code, Target: target, Message: fmt.Sprintf(format, args...)}
}

// Conflict returns a KindConflict error: the request is valid but the state
// of the data does not allow it.
func Conflict(code, target, format string, args ...any) *Error {
	return &Error{Kind: KindConflict, Code: code, Target: target, Message: fmt.Sprintf(format, args...)}
}

// Unavailable returns a KindUnavailable error asking the caller to retry after
// the given number of seconds.
func Unavailable(code string, retryAfter int, format string, args ...any) *Error {
	return &Error{Kind: KindUnavailable, Code: code, RetryAfter: retryAfter, Message: fmt.Sprintf(format, args...)}
}

// AsError returns the *Error in err's chain, or nil.
func AsError(err error) *Error {
	var e *Error
	if errors.As(err, &e) {
		return e
	}
	return nil
}
