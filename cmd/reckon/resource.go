package main

import (
	"context"
	"encoding/json"
	"fmt"
	"net/url"
)

// runResource is "reckon subscription|meter put|get|list": the CLI mirror of
// PUT/GET /admin/v1/{kind}/{id}.
func runResource(ctx context.Context, env environment, kind string, args []string) error {
	if len(args) == 0 {
		fmt.Fprintf(env.stderr, "usage: reckon %s put ID --json '{…}' | get ID | list\n", singular(kind))
		return exitError(2)
	}
	verb := args[0]
	fs := newFlagSet(env, singular(kind)+" "+verb)
	var cf clientFlags
	cf.register(fs)
	body := fs.String("json", "", "the object, as JSON (for put); - reads it from standard input")
	dataDir := fs.String("data-dir", "./reckon-data", "data directory whose admin-token to use when no token is given")
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
		_, err = c.do(ctx, "GET", "/admin/v1/"+kind, "", nil, &out)
	case "get", "put":
		if fs.NArg() != 1 {
			return fmt.Errorf("%s %s takes one ID", singular(kind), verb)
		}
		path := "/admin/v1/" + kind + "/" + url.PathEscape(fs.Arg(0))
		if verb == "get" {
			_, err = c.do(ctx, "GET", path, "", nil, &out)
			break
		}
		data := []byte(*body)
		if *body == "-" {
			if data, err = readAllLimited(env.stdin, 1<<20); err != nil {
				return err
			}
		}
		if len(data) == 0 {
			return fmt.Errorf("%s put needs --json", singular(kind))
		}
		_, err = c.do(ctx, "PUT", path, "application/json", data, &out)
	default:
		return fmt.Errorf("unknown %s command %q (put, get, list)", singular(kind), verb)
	}
	if err != nil {
		return err
	}
	enc := json.NewEncoder(env.stdout)
	enc.SetIndent("", "  ")
	return enc.Encode(out)
}

func singular(kind string) string { return kind[:len(kind)-1] }
