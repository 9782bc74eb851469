package httpapi

import (
	_ "embed"
	"net/http"
)

// openAPI describes the operator and metering endpoints (and the Azure
// APIs, whose normative contract is Azure's own).
//
//go:embed openapi.json
var openAPI []byte

func serveOpenAPI(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.Write(openAPI)
}
