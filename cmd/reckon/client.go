package main

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"
	"time"
)

// apiClient calls a Reckon server's operator and metering endpoints.
type apiClient struct {
	base  string
	token string
	http  *http.Client
}

type clientFlags struct {
	server, token, cacert string
}

func (cf *clientFlags) register(fs *flag.FlagSet) {
	fs.StringVar(&cf.server, "server", "http://127.0.0.1:8080", "URL of the Reckon server")
	fs.StringVar(&cf.token, "token", "", "operator bearer token (default: $RECKON_ADMIN_TOKEN, or the data directory's admin-token)")
	fs.StringVar(&cf.cacert, "cacert", "", "PEM file of a CA (or self-signed certificate) to trust")
}

func (cf *clientFlags) client(env environment, dataDir string) (*apiClient, error) {
	token := cf.token
	if token == "" {
		token = env.getenv("RECKON_ADMIN_TOKEN")
	}
	if token == "" && dataDir != "" {
		if b, err := os.ReadFile(dataDir + "/admin-token"); err == nil {
			token = strings.TrimSpace(string(b))
		}
	}
	tr := http.DefaultTransport.(*http.Transport).Clone()
	if cf.cacert != "" {
		pem, err := os.ReadFile(cf.cacert)
		if err != nil {
			return nil, err
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("%s holds no PEM certificate", cf.cacert)
		}
		tr.TLSClientConfig = &tls.Config{RootCAs: pool}
	}
	return &apiClient{base: strings.TrimSuffix(cf.server, "/"), token: token, http: &http.Client{Transport: tr, Timeout: 10 * time.Minute}}, nil
}

// do sends a request and decodes a JSON answer into out; a non-2xx answer
// becomes an error carrying the ARM error code and message.
func (c *apiClient) do(ctx context.Context, method, path, contentType string, body []byte, out any) (int, error) {
	req, err := http.NewRequestWithContext(ctx, method, c.base+path, bytes.NewReader(body))
	if err != nil {
		return 0, err
	}
	if c.token != "" {
		req.Header.Set("Authorization", "Bearer "+c.token)
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	if err != nil {
		return resp.StatusCode, err
	}
	if resp.StatusCode >= 300 {
		var e struct {
			Error struct{ Code, Message string } `json:"error"`
		}
		if json.Unmarshal(data, &e) == nil && e.Error.Code != "" {
			return resp.StatusCode, fmt.Errorf("%s %s: %d %s: %s", method, path, resp.StatusCode, e.Error.Code, e.Error.Message)
		}
		return resp.StatusCode, fmt.Errorf("%s %s: %s", method, path, resp.Status)
	}
	if out != nil {
		if err := json.Unmarshal(data, out); err != nil {
			return resp.StatusCode, fmt.Errorf("%s %s: decoding the answer: %w", method, path, err)
		}
	}
	return resp.StatusCode, nil
}
