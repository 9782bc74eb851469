package main

import (
	"context"
	"encoding/json"
	"fmt"
	"net/url"
	"time"

	"github.com/google/uuid"
)

// runPrincipal is "reckon principal put|get|list|delete": the CLI mirror of
// /admin/v1/principals. A new secret is read from RECKON_PRINCIPAL_SECRET or
// standard input, never from a flag.
func runPrincipal(ctx context.Context, env environment, args []string) error {
	if len(args) == 0 {
		fmt.Fprintln(env.stderr, "usage: reckon principal put CLIENT_ID --name NAME [--secret-stdin] [--user] | get CLIENT_ID | list | delete CLIENT_ID")
		return exitError(2)
	}
	verb := args[0]
	fs := newFlagSet(env, "principal "+verb)
	var cf clientFlags
	cf.register(fs)
	name := fs.String("name", "", "display name (put)")
	user := fs.Bool("user", false, "a portal user with a password instead of a service principal (put)")
	secretStdin := fs.Bool("secret-stdin", false, "read the new secret (or password) from standard input (put); default: $RECKON_PRINCIPAL_SECRET")
	dataDir := fs.String("data-dir", "./reckon-data", "data directory whose operator-credentials to use")
	if err := parseFlags(fs, env, args[1:]); err != nil {
		return err
	}
	c, err := cf.client(env, *dataDir)
	if err != nil {
		return err
	}
	var out any
	switch verb {
	case "list":
		_, err = c.do(ctx, "GET", "/admin/v1/principals", "", nil, &out)
	case "get", "delete", "put":
		if fs.NArg() != 1 {
			return fmt.Errorf("principal %s takes one CLIENT_ID", verb)
		}
		path := "/admin/v1/principals/" + url.PathEscape(fs.Arg(0))
		switch verb {
		case "get":
			_, err = c.do(ctx, "GET", path, "", nil, &out)
		case "delete":
			if _, err = c.do(ctx, "DELETE", path, "", nil, nil); err == nil {
				out = map[string]string{"deleted": fs.Arg(0)}
			}
		default:
			secret := env.getenv("RECKON_PRINCIPAL_SECRET")
			if *secretStdin {
				b, err := readAllLimited(env.stdin, 4096)
				if err != nil {
					return err
				}
				secret = string(trimNewline(b))
			}
			in := map[string]string{"displayName": *name}
			if *user {
				in["kind"], in["password"] = "user", secret
			} else if secret != "" {
				in["secret"] = secret
			}
			body, _ := json.Marshal(in)
			_, err = c.do(ctx, "PUT", path, "application/json", body, &out)
		}
	default:
		return fmt.Errorf("unknown principal command %q (put, get, list, delete)", verb)
	}
	if err != nil {
		return err
	}
	return printJSON(env, out)
}

// runRole is "reckon role assign|list|delete": role assignments.
func runRole(ctx context.Context, env environment, args []string) error {
	if len(args) == 0 {
		fmt.Fprintln(env.stderr, "usage: reckon role assign --principal ID --role ROLE --scope SCOPE [--id GUID] | list [--principal ID] | delete ID")
		return exitError(2)
	}
	verb := args[0]
	fs := newFlagSet(env, "role "+verb)
	var cf clientFlags
	cf.register(fs)
	principal := fs.String("principal", "", "principal (client id)")
	role := fs.String("role", "", "Owner, Contributor, Reader, Billing Reader, Account Admin, Operator or Usage Writer")
	scope := fs.String("scope", "", "/, /subscriptions/{id} or /providers/Microsoft.Billing/billingAccounts/{name}")
	id := fs.String("id", "", "assignment id (a GUID; default: a new one)")
	dataDir := fs.String("data-dir", "./reckon-data", "data directory whose operator-credentials to use")
	if err := parseFlags(fs, env, args[1:]); err != nil {
		return err
	}
	c, err := cf.client(env, *dataDir)
	if err != nil {
		return err
	}
	var out any
	switch verb {
	case "assign":
		if *id == "" {
			*id = newGUID()
		}
		body, _ := json.Marshal(map[string]string{"principalId": *principal, "roleDefinitionName": *role, "scope": *scope})
		_, err = c.do(ctx, "PUT", "/admin/v1/roleAssignments/"+url.PathEscape(*id), "application/json", body, &out)
	case "list":
		q := ""
		if *principal != "" {
			q = "?principalId=" + url.QueryEscape(*principal)
		}
		_, err = c.do(ctx, "GET", "/admin/v1/roleAssignments"+q, "", nil, &out)
	case "delete":
		if fs.NArg() != 1 {
			return fmt.Errorf("role delete takes one assignment ID")
		}
		if _, err = c.do(ctx, "DELETE", "/admin/v1/roleAssignments/"+url.PathEscape(fs.Arg(0)), "", nil, nil); err == nil {
			out = map[string]string{"deleted": fs.Arg(0)}
		}
	default:
		return fmt.Errorf("unknown role command %q (assign, list, delete)", verb)
	}
	if err != nil {
		return err
	}
	return printJSON(env, out)
}

// runAudit is "reckon audit [--since T] [--limit N]": the audit trail.
func runAudit(ctx context.Context, env environment, args []string) error {
	fs := newFlagSet(env, "audit")
	var cf clientFlags
	cf.register(fs)
	since := fs.Duration("since", 24*time.Hour, "how far back to list")
	limit := fs.Int("limit", 1000, "at most this many events")
	dataDir := fs.String("data-dir", "./reckon-data", "data directory whose operator-credentials to use")
	if err := parseFlags(fs, env, args); err != nil {
		return err
	}
	c, err := cf.client(env, *dataDir)
	if err != nil {
		return err
	}
	var out struct {
		Value []struct {
			At                            time.Time
			Actor, Action, Target, Remote string
			Detail                        string
			Success                       bool
		}
	}
	q := url.Values{"since": {time.Now().Add(-*since).UTC().Format(time.RFC3339)}, "limit": {fmt.Sprint(*limit)}}
	if _, err := c.do(ctx, "GET", "/admin/v1/audit?"+q.Encode(), "", nil, &out); err != nil {
		return err
	}
	for _, e := range out.Value {
		ok := "ok"
		if !e.Success {
			ok = "FAILED"
		}
		fmt.Fprintf(env.stdout, "%s  %-24s %-6s %-28s %s %s %s\n", e.At.Format(time.RFC3339), e.Action, ok, e.Actor, e.Target, e.Remote, e.Detail)
	}
	return nil
}

func printJSON(env environment, v any) error {
	enc := json.NewEncoder(env.stdout)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

func trimNewline(b []byte) []byte {
	for len(b) > 0 && (b[len(b)-1] == '\n' || b[len(b)-1] == '\r') {
		b = b[:len(b)-1]
	}
	return b
}

func newGUID() string { return uuid.NewString() }
