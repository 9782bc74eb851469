package httpapi

import (
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"strings"

	"github.com/reckon-billing/reckon/internal/account"
	"github.com/reckon-billing/reckon/internal/billing"
	"github.com/reckon-billing/reckon/internal/catalog"
)

// maxAdminBody bounds the body of an operator call.
const maxAdminBody = 1 << 20

// decodeBody decodes a JSON object strictly (unknown properties are errors).
func decodeBody(w http.ResponseWriter, r *http.Request, v any) error {
	body := http.MaxBytesReader(w, r.Body, maxAdminBody)
	dec := json.NewDecoder(body)
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		var mbe *http.MaxBytesError
		var ute *json.UnmarshalTypeError
		switch {
		case errors.As(err, &mbe):
			return &billing.Error{Kind: billing.KindTooLarge, Code: "RequestBodyTooLarge", Message: "The request body is larger than 1 MiB."}
		case errors.As(err, &ute):
			return invalid("InvalidRequestContent", ute.Field, "The property '%s' has the wrong type.", ute.Field)
		case errors.Is(err, io.EOF):
			return invalid("InvalidRequestContent", "", "The request body is empty; a JSON object is required.")
		case strings.HasPrefix(err.Error(), "json: unknown field "):
			f := strings.Trim(strings.TrimPrefix(err.Error(), "json: unknown field "), `"`)
			return invalid("InvalidRequestContent", f, "The property '%s' is not known.", f)
		default:
			return invalid("InvalidRequestContent", "", "The request body is not valid JSON: %v.", err)
		}
	}
	if dec.More() {
		return invalid("InvalidRequestContent", "", "The request body has data after the JSON object.")
	}
	return nil
}

func createdStatus(created bool) int {
	if created {
		return http.StatusCreated
	}
	return http.StatusOK
}

func (a *API) putSubscription(w http.ResponseWriter, r *http.Request) {
	var s account.Subscription
	if err := decodeBody(w, r, &s); err != nil {
		writeError(w, r, a.log, err)
		return
	}
	stored, created, err := a.deps.Accounts.Put(r.Context(), r.PathValue("subscriptionId"), s)
	if err != nil {
		writeError(w, r, a.log, err)
		return
	}
	writeJSON(w, createdStatus(created), stored)
}

func (a *API) getSubscription(w http.ResponseWriter, r *http.Request) {
	s, err := a.deps.Accounts.Get(r.Context(), r.PathValue("subscriptionId"))
	if err != nil {
		writeError(w, r, a.log, err)
		return
	}
	writeJSON(w, http.StatusOK, s)
}

func (a *API) listSubscriptions(w http.ResponseWriter, r *http.Request) {
	subs, err := a.deps.Accounts.List(r.Context())
	if err != nil {
		writeError(w, r, a.log, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"value": subs})
}

func (a *API) putMeter(w http.ResponseWriter, r *http.Request) {
	var m catalog.Meter
	if err := decodeBody(w, r, &m); err != nil {
		writeError(w, r, a.log, err)
		return
	}
	stored, created, err := a.deps.Catalog.PutMeter(r.Context(), r.PathValue("meterId"), m)
	if err != nil {
		writeError(w, r, a.log, err)
		return
	}
	writeJSON(w, createdStatus(created), stored)
}

func (a *API) getMeter(w http.ResponseWriter, r *http.Request) {
	m, err := a.deps.Catalog.Meter(r.Context(), r.PathValue("meterId"))
	if err != nil {
		writeError(w, r, a.log, err)
		return
	}
	writeJSON(w, http.StatusOK, m)
}

func (a *API) listMeters(w http.ResponseWriter, r *http.Request) {
	ms, err := a.deps.Catalog.Meters(r.Context())
	if err != nil {
		writeError(w, r, a.log, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"value": ms})
}
