package httpapi

import (
	"crypto/hmac"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/reckon-billing/reckon/internal/billing"
	"github.com/reckon-billing/reckon/internal/export"
	"github.com/reckon-billing/reckon/internal/exportjob"
)

// exportDownloadPath is where the files of finished exports are served,
// behind links signed like the invoices' (no bearer token needed).
const exportDownloadPath = "/downloads/v1/exports/"

func (a *API) exportRoutes() {
	if a.deps.Exports == nil {
		return
	}
	if a.cfg.DownloadLinkLifetime <= 0 {
		a.cfg.DownloadLinkLifetime = defaultDownloadLinkLifetime
	}
	a.operator("POST /admin/v1/exports", a.serve(a.startExport))
	a.operator("GET /admin/v1/exports", a.serve(a.listExports))
	a.operator("GET /admin/v1/exports/{exportId}", a.serve(a.getExport))
	a.mux.HandleFunc("GET "+exportDownloadPath+"{exportId}/{file}", a.serve(a.downloadExportFile))
}

// exportView is a job with, once it succeeded, signed links to its files.
type exportView struct {
	exportjob.Job
	Files []exportFileLink `json:"files,omitempty"`
}

type exportFileLink struct {
	Name       string    `json:"name"`
	URL        string    `json:"url"`
	ExpiryTime time.Time `json:"expiryTime"`
}

func (a *API) exportView(r *http.Request, j exportjob.Job) exportView {
	v := exportView{Job: j}
	if j.State != exportjob.Succeeded || j.Manifest == nil {
		return v
	}
	names := []string{export.ManifestName}
	for _, f := range j.Manifest.Files {
		names = append(names, f.Name)
	}
	expires := a.now().Add(a.cfg.DownloadLinkLifetime).Unix()
	for _, n := range names {
		v.Files = append(v.Files, exportFileLink{Name: n, ExpiryTime: time.Unix(expires, 0).UTC(),
			URL: baseURL(r) + exportDownloadPath + url.PathEscape(j.ID) + "/" + url.PathEscape(n) + "?" + a.downloadQuery("exports/"+j.ID+"/"+n, expires)})
	}
	return v
}

// startExport is POST /admin/v1/exports: it starts an export and answers
// 202 with the job and its Location.
func (a *API) startExport(w http.ResponseWriter, r *http.Request) error {
	var req exportjob.Request
	if err := decodeBody(w, r, &req); err != nil {
		return err
	}
	j, err := a.deps.Exports.Start(r.Context(), req)
	if err != nil {
		return err
	}
	w.Header().Set("Location", baseURL(r)+"/admin/v1/exports/"+j.ID)
	writeJSON(w, http.StatusAccepted, a.exportView(r, j))
	return nil
}

func (a *API) listExports(w http.ResponseWriter, r *http.Request) error {
	jobs, err := a.deps.Exports.Jobs(r.Context())
	if err != nil {
		return err
	}
	out := []exportView{}
	for _, j := range jobs {
		out = append(out, a.exportView(r, j))
	}
	writeJSON(w, http.StatusOK, map[string]any{"value": out})
	return nil
}

func (a *API) getExport(w http.ResponseWriter, r *http.Request) error {
	j, ok, err := a.deps.Exports.Job(r.Context(), r.PathValue("exportId"))
	if err != nil {
		return err
	}
	if !ok {
		return billing.NotFound("ExportNotFound", "exportId", "The export '%s' could not be found.", clip(r.PathValue("exportId")))
	}
	writeJSON(w, http.StatusOK, a.exportView(r, j))
	return nil
}

// downloadExportFile serves a signed link to an export's file.
func (a *API) downloadExportFile(w http.ResponseWriter, r *http.Request) error {
	id, name := r.PathValue("exportId"), r.PathValue("file")
	first, _, _ := strings.Cut(r.URL.RawQuery, "&")
	v, found := strings.CutPrefix(first, "expires=")
	expires, err := strconv.ParseInt(v, 10, 64)
	if !found || err != nil || len(v) > 12 || !hmac.Equal([]byte(r.URL.RawQuery), []byte(a.downloadQuery("exports/"+id+"/"+name, expires))) {
		return badDownloadLink()
	}
	if exp := time.Unix(expires, 0).UTC(); !a.now().Before(exp) {
		return &billing.Error{Kind: billing.KindForbidden, Code: "DownloadLinkExpired",
			Message: fmt.Sprintf("The download link expired at %s. Ask for the export again for a new one.", exp.Format(time.RFC3339))}
	}
	path, err := a.deps.Exports.File(r.Context(), id, name)
	if err != nil {
		return err
	}
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return err
	}
	w.Header().Set("Content-Disposition", `attachment; filename="`+strings.ReplaceAll(name, `"`, "")+`"`)
	w.Header().Set("Cache-Control", "private, no-store")
	ct := "application/octet-stream"
	switch {
	case strings.HasSuffix(name, ".json"):
		ct = "application/json"
	case strings.HasSuffix(name, ".csv"):
		ct = "text/csv"
	case strings.HasSuffix(name, ".gz"):
		ct = "application/gzip"
	}
	w.Header().Set("Content-Type", ct)
	http.ServeContent(w, r, "", st.ModTime(), f)
	return nil
}
