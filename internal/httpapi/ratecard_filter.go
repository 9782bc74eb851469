package httpapi

import (
	"fmt"
	"strings"
)

// rateCardFilter is a parsed RateCard $filter: the four parameters that
// select a price list.
type rateCardFilter struct {
	OfferDurableID string
	Currency       string
	Locale         string
	RegionInfo     string
}

// rateCardFilterProps are the $filter's properties, in Azure's spelling.
var rateCardFilterProps = []string{"OfferDurableId", "Currency", "Locale", "RegionInfo"}

// field returns the destination of the property named name (any case).
func (f *rateCardFilter) field(name string) (*string, string) {
	for i, p := range rateCardFilterProps {
		if strings.EqualFold(name, p) {
			return [...]*string{&f.OfferDurableID, &f.Currency, &f.Locale, &f.RegionInfo}[i], p
		}
	}
	return nil, ""
}

// String renders f as a $filter, in the form Azure documents.
func (f rateCardFilter) String() string {
	q := func(v string) string { return "'" + strings.ReplaceAll(v, "'", "''") + "'" }
	return "OfferDurableId eq " + q(f.OfferDurableID) + " and Currency eq " + q(f.Currency) +
		" and Locale eq " + q(f.Locale) + " and RegionInfo eq " + q(f.RegionInfo)
}

// maxRateCardFilter bounds the $filter's length; a real one is about 110
// characters.
const maxRateCardFilter = 1024

// parseRateCardFilter parses the OData subset the RateCard accepts:
//
//	filter = clause *( ws "and" ws clause )
//	clause = property ws "eq" ws "'" value "'"
//
// with exactly the four properties, each once, in any order; property names
// and the operators in any case; ws is one or more spaces or tabs (the
// query's '+' and %20 are both spaces by then); a quote inside a value is
// doubled, as OData writes it. Values are returned as written; what they
// must be is the catalog's business.
func parseRateCardFilter(s string) (rateCardFilter, error) {
	var f rateCardFilter
	bad := func(format string, args ...any) (rateCardFilter, error) {
		return rateCardFilter{}, invalid("InvalidFilter", "$filter", "The $filter is not valid: "+format+
			". It must read: OfferDurableId eq 'MS-AZR-0003P' and Currency eq 'USD' and Locale eq 'en-US' and RegionInfo eq 'US'.", args...)
	}
	if len(s) > maxRateCardFilter {
		return bad("it is longer than %d characters", maxRateCardFilter)
	}
	p := filterLexer{s: s}
	seen := map[string]bool{}
	for clause := 0; ; clause++ {
		spaced := p.space()
		if clause > 0 {
			if p.done() {
				break
			}
			if !spaced {
				return bad("unexpected %s at position %d after the value of a condition", p.describe(), p.i+1)
			}
			if w := p.word(); !strings.EqualFold(w, "and") {
				if w == "" {
					return bad("unexpected %s at position %d", p.describe(), p.i+1)
				}
				return bad("'%s' where 'and' was expected (only 'eq' and 'and' are supported)", clip(w))
			}
			if !p.space() {
				if p.done() {
					return bad("a condition is missing at the end")
				}
				return bad("no space after 'and'")
			}
		}
		if p.done() {
			return bad("a condition is missing at the end")
		}
		name := p.word()
		if name == "" {
			return bad("unexpected %s at position %d where a property name was expected", p.describe(), p.i+1)
		}
		dst, canonical := f.field(name)
		if dst == nil {
			return bad("unknown property '%s'", clip(name))
		}
		if seen[canonical] {
			return bad("%s appears twice", canonical)
		}
		seen[canonical] = true
		if !p.space() {
			return bad("no space after %s", canonical)
		}
		if op := p.word(); !strings.EqualFold(op, "eq") {
			if op == "" {
				return bad("unexpected %s after %s where 'eq' was expected", p.describe(), canonical)
			}
			return bad("operator '%s' for %s; only 'eq' is supported", clip(op), canonical)
		}
		if !p.space() {
			return bad("no space after 'eq'")
		}
		v, ok := p.quoted()
		if !ok {
			return bad("the value of %s must be in single quotes", canonical)
		}
		if v == "" {
			return bad("the value of %s is empty", canonical)
		}
		*dst = v
	}
	var missing []string
	for _, prop := range rateCardFilterProps {
		if !seen[prop] {
			missing = append(missing, prop)
		}
	}
	if len(missing) > 0 {
		return bad("%s missing", strings.Join(missing, ", ")+map[bool]string{true: " is", false: " are"}[len(missing) == 1])
	}
	return f, nil
}

// filterLexer reads a $filter left to right.
type filterLexer struct {
	s string
	i int
}

func (p *filterLexer) done() bool { return p.i >= len(p.s) }

// space skips spaces and tabs and reports whether there were any.
func (p *filterLexer) space() bool {
	start := p.i
	for p.i < len(p.s) && (p.s[p.i] == ' ' || p.s[p.i] == '\t') {
		p.i++
	}
	return p.i > start
}

// word reads ASCII letters.
func (p *filterLexer) word() string {
	start := p.i
	for p.i < len(p.s) && (p.s[p.i]|0x20 >= 'a' && p.s[p.i]|0x20 <= 'z') {
		p.i++
	}
	return p.s[start:p.i]
}

// quoted reads a single-quoted value with doubled quotes inside.
func (p *filterLexer) quoted() (string, bool) {
	if p.i >= len(p.s) || p.s[p.i] != '\'' {
		return "", false
	}
	var b strings.Builder
	for i := p.i + 1; i < len(p.s); i++ {
		if p.s[i] != '\'' {
			b.WriteByte(p.s[i])
			continue
		}
		if i+1 < len(p.s) && p.s[i+1] == '\'' {
			b.WriteByte('\'')
			i++
			continue
		}
		p.i = i + 1
		return b.String(), true
	}
	return "", false
}

// describe names the character at the current position.
func (p *filterLexer) describe() string {
	if p.done() {
		return "end"
	}
	return fmt.Sprintf("character %q", p.s[p.i])
}
