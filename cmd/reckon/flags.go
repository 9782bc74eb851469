package main

import (
	"flag"
	"fmt"
	"strings"
)

// newFlagSet returns a flag set whose flags default to RECKON_* variables.
func newFlagSet(env environment, name string) *flag.FlagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(env.stderr)
	return fs
}

// envName is the environment variable of a flag: --tls-cert → RECKON_TLS_CERT.
func envName(flagName string) string {
	return "RECKON_" + strings.ToUpper(strings.ReplaceAll(flagName, "-", "_"))
}

// parseFlags parses args, flags and positional arguments in any order
// ("put ID --json …" as well as "put --json … ID"; "--" ends the flags),
// then fills every flag not given on the command line from its RECKON_*
// variable. The positional arguments are left in fs.Args().
func parseFlags(fs *flag.FlagSet, env environment, args []string) error {
	var positional []string
	for {
		if err := fs.Parse(args); err != nil {
			if err == flag.ErrHelp {
				return exitError(0)
			}
			return exitError(2)
		}
		rest := fs.Args()
		if len(rest) == 0 {
			break
		}
		if len(args) > len(rest) && args[len(args)-len(rest)-1] == "--" {
			positional = append(positional, rest...)
			break
		}
		positional = append(positional, rest[0])
		args = rest[1:]
	}
	if err := fs.Parse(append([]string{"--"}, positional...)); err != nil {
		return exitError(2)
	}
	set := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
	var err error
	fs.VisitAll(func(f *flag.Flag) {
		if set[f.Name] || err != nil {
			return
		}
		if v := env.getenv(envName(f.Name)); v != "" {
			if e := fs.Set(f.Name, v); e != nil {
				err = fmt.Errorf("%s=%q: %w", envName(f.Name), v, e)
			}
		}
	})
	return err
}
