package httpapi

import (
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"strconv"

	"github.com/reckon-billing/reckon/internal/billing"
	"github.com/reckon-billing/reckon/internal/store"
)

// statusByKind is the one place a domain error kind becomes an HTTP status.
var statusByKind = map[billing.Kind]int{
	billing.KindInvalid:          http.StatusBadRequest,
	billing.KindNotFound:         http.StatusNotFound,
	billing.KindConflict:         http.StatusConflict,
	billing.KindUnauthenticated:  http.StatusUnauthorized,
	billing.KindForbidden:        http.StatusForbidden,
	billing.KindTooLarge:         http.StatusRequestEntityTooLarge,
	billing.KindUnavailable:      http.StatusServiceUnavailable,
	billing.KindUnsupportedMedia: http.StatusUnsupportedMediaType,
	billing.KindTooManyRequests:  http.StatusTooManyRequests,
	billing.KindInternal:         http.StatusInternalServerError,
}

type armErrorBody struct {
	Error armError `json:"error"`
}

type armError struct {
	Code    string `json:"code"`
	Message string `json:"message"`
	Target  string `json:"target,omitempty"`
}

// writeError answers err in ARM's error envelope. A database that is
// unavailable right now (store.IsUnavailable: PostgreSQL restarting, SQLite
// full or read-only, …) is a 503 with Retry-After, even when a service
// wrapped the driver's error as an internal one. Other errors that are not
// domain errors are logged and answered as a bare internal error.
func writeError(w http.ResponseWriter, r *http.Request, log *slog.Logger, err error) {
	e := billing.AsError(err)
	if e == nil || e.Kind == billing.KindInternal {
		if u := store.Unavailable(err); u != nil && r.Context().Err() == nil {
			e = u
		}
	}
	if e == nil {
		if errors.Is(err, r.Context().Err()) && r.Context().Err() != nil {
			return // the client went away
		}
		log.ErrorContext(r.Context(), "internal error", "err", err, "method", r.Method, "path", r.URL.Path, "requestId", w.Header().Get("x-ms-request-id"))
		e = &billing.Error{Kind: billing.KindInternal, Code: "InternalServerError", Message: "An internal error occurred; the request id identifies it in the server's log."}
	} else if e.Err != nil {
		log.WarnContext(r.Context(), "request failed", "code", e.Code, "err", e.Err, "requestId", w.Header().Get("x-ms-request-id"))
	}
	status, ok := statusByKind[e.Kind]
	if !ok {
		status = http.StatusInternalServerError
	}
	if e.RetryAfter > 0 {
		w.Header().Set("Retry-After", strconv.Itoa(e.RetryAfter))
	}
	w.Header().Set("x-ms-error-code", e.Code)
	writeJSON(w, status, armErrorBody{Error: armError{Code: e.Code, Message: e.Message, Target: e.Target}})
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	body, err := json.Marshal(v)
	if err != nil {
		http.Error(w, `{"error":{"code":"InternalServerError","message":"encoding failed"}}`, http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(status)
	w.Write(body)
}

func invalid(code, target, msg string, args ...any) error {
	return billing.Invalid(code, target, msg, args...)
}
