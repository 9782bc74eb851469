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
	"net/url"
	"os"
	"path/filepath"
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
	server, token, cacert  string
	clientID, clientSecret string
}

func (cf *clientFlags) register(fs *flag.FlagSet) {
	fs.StringVar(&cf.server, "server", "http://127.0.0.1:8080", "URL of the Reckon server")
	fs.StringVar(&cf.token, "token", "", "a bearer token to send as is (instead of signing in)")
	fs.StringVar(&cf.clientID, "client-id", "", "service principal to sign in as (default: $RECKON_CLIENT_ID, or the data directory's operator-credentials)")
	fs.StringVar(&cf.cacert, "cacert", "", "PEM file of a CA (or self-signed certificate) to trust")
}

// client returns a client of the server, signed in: with --token as is, or
// with a token obtained from the server's token service for --client-id
// and RECKON_CLIENT_SECRET (secrets are not taken as flags: they would show
// in the process list), or for the operator credentials that "reckon serve"
// wrote into dataDir on first start.
func (cf *clientFlags) client(env environment, dataDir string) (*apiClient, error) {
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
	c := &apiClient{base: strings.TrimSuffix(cf.server, "/"), token: cf.token, http: &http.Client{Transport: tr, Timeout: 10 * time.Minute}}
	if c.token != "" {
		return c, nil
	}
	id, secret := cf.clientID, ""
	if id == "" {
		id = env.getenv("RECKON_CLIENT_ID")
	}
	if id != "" {
		if secret = env.getenv("RECKON_CLIENT_SECRET"); secret == "" {
			return nil, fmt.Errorf("signing in as %s needs its secret in RECKON_CLIENT_SECRET", id)
		}
	} else if dataDir != "" {
		if b, err := os.ReadFile(filepath.Join(dataDir, "operator-credentials")); err == nil {
			lines := strings.Fields(string(b))
			if len(lines) == 2 {
				id, secret = lines[0], lines[1]
			}
		}
	}
	if id == "" || secret == "" {
		return c, nil // the server will say 401
	}
	tok, err := c.signIn(id, secret)
	if err != nil {
		return nil, err
	}
	c.token = tok
	return c, nil
}

// signIn obtains a token with the client-credentials grant.
func (c *apiClient) signIn(id, secret string) (string, error) {
	form := url.Values{"grant_type": {"client_credentials"}, "client_id": {id}, "client_secret": {secret},
		"resource": {"https://management.core.windows.net/"}}
	resp, err := c.http.PostForm(c.base+"/adfs/oauth2/token", form)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	var body struct {
		AccessToken string `json:"access_token"`
		Error       string `json:"error"`
		Description string `json:"error_description"`
	}
	if err := json.NewDecoder(io.LimitReader(resp.Body, 1<<20)).Decode(&body); err != nil {
		return "", fmt.Errorf("sign in as %s: %s", id, resp.Status)
	}
	if resp.StatusCode != http.StatusOK || body.AccessToken == "" {
		return "", fmt.Errorf("sign in as %s: %s: %s %s", id, resp.Status, body.Error, body.Description)
	}
	return body.AccessToken, nil
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
