package httpapi

import (
	"net/http"
	"strings"
)

// armRouter matches ARM-style paths case-insensitively, as Azure Resource
// Manager does ("UsageAggregates" and "usageAggregates" are one route).
// Patterns are literal segments and {name} wildcards.
type armRouter struct {
	routes []armRoute
}

type armRoute struct {
	method   string
	pattern  string
	segments []string
	handler  http.Handler
}

func (rt *armRouter) handle(method, pattern string, h http.Handler) {
	rt.routes = append(rt.routes, armRoute{method: method, pattern: pattern, segments: splitPath(pattern), handler: h})
}

func splitPath(p string) []string {
	return strings.Split(strings.Trim(p, "/"), "/")
}

// match finds the route for r and sets its wildcards as path values. It
// reports whether the path matched a pattern at all (with another method).
func (rt *armRouter) match(r *http.Request) (h http.Handler, pattern string, pathMatched bool) {
	segs := splitPath(r.URL.Path)
	for _, route := range rt.routes {
		if len(route.segments) != len(segs) {
			continue
		}
		ok := true
		for i, s := range route.segments {
			if strings.HasPrefix(s, "{") {
				if segs[i] == "" {
					ok = false
					break
				}
				continue
			}
			if !strings.EqualFold(s, segs[i]) {
				ok = false
				break
			}
		}
		if !ok {
			continue
		}
		pathMatched = true
		if route.method != r.Method && !(route.method == http.MethodGet && r.Method == http.MethodHead) {
			continue
		}
		for i, s := range route.segments {
			if strings.HasPrefix(s, "{") {
				r.SetPathValue(strings.Trim(s, "{}"), segs[i])
			}
		}
		return route.handler, route.pattern, true
	}
	return nil, "", pathMatched
}
