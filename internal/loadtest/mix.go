package loadtest

import (
	"fmt"
	"math/rand/v2"
	"strconv"
	"strings"
)

// Op is one kind of operation a client performs.
type Op int

// The operations, in report order.
const (
	OpIngest     Op = iota // POST /metering/v1/usage: a batch of new records
	OpAggregates           // UsageAggregates: every page of a recent window
	OpRateCard             // RateCard, gzip
	OpInvoices             // the Billing API's invoice list with download links
	OpDownload             // an invoice PDF through its download link
	numOps
)

var opNames = [numOps]string{"ingest", "aggregates", "ratecard", "invoices", "download"}

// String returns the operation's name as the mix and the report spell it.
func (o Op) String() string {
	if o < 0 || o >= numOps {
		return "op" + strconv.Itoa(int(o))
	}
	return opNames[o]
}

// Ops lists every operation in report order.
func Ops() []Op {
	out := make([]Op, numOps)
	for i := range out {
		out[i] = Op(i)
	}
	return out
}

// Mix is the relative weight of each operation.
type Mix [numOps]int

// DefaultMix is the mix when none is given.
var DefaultMix = Mix{OpIngest: 20, OpAggregates: 40, OpRateCard: 20, OpInvoices: 15, OpDownload: 5}

// ParseMix reads "ingest=20,aggregates=40,…"; operations left out weigh 0.
func ParseMix(s string) (Mix, error) {
	var m Mix
	seen := map[string]bool{}
	for part := range strings.SplitSeq(s, ",") {
		part = strings.TrimSpace(part)
		if part == "" {
			continue
		}
		name, w, ok := strings.Cut(part, "=")
		name = strings.ToLower(strings.TrimSpace(name))
		if !ok {
			return m, fmt.Errorf("mix: %q is not NAME=WEIGHT", part)
		}
		op := Op(-1)
		for i, n := range opNames {
			if n == name {
				op = Op(i)
			}
		}
		if op < 0 {
			return m, fmt.Errorf("mix: unknown operation %q (known: %s)", name, strings.Join(opNames[:], ", "))
		}
		if seen[name] {
			return m, fmt.Errorf("mix: %s given twice", name)
		}
		seen[name] = true
		n, err := strconv.Atoi(strings.TrimSpace(w))
		if err != nil || n < 0 || n > 1_000_000 {
			return m, fmt.Errorf("mix: weight of %s must be a whole number from 0 to 1000000", name)
		}
		m[op] = n
	}
	if m.total() == 0 {
		return m, fmt.Errorf("mix: no operation has a weight")
	}
	return m, nil
}

// String writes the mix as ParseMix reads it.
func (m Mix) String() string {
	var parts []string
	for i, w := range m {
		if w > 0 {
			parts = append(parts, opNames[i]+"="+strconv.Itoa(w))
		}
	}
	return strings.Join(parts, ",")
}

func (m Mix) total() int {
	t := 0
	for _, w := range m {
		t += w
	}
	return t
}

// pick draws an operation by weight.
func (m Mix) pick(rng *rand.Rand) Op {
	n := rng.IntN(m.total())
	for i, w := range m {
		if n < w {
			return Op(i)
		}
		n -= w
	}
	return OpIngest // unreachable with a valid mix
}
