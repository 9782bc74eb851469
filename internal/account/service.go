package account

import (
	"context"

	"github.com/reckon-billing/reckon/internal/billing"
)

// Repository stores subscriptions.
type Repository interface {
	// PutSubscription creates or replaces s; created reports which. It
	// returns the stored subscription with its timestamps.
	PutSubscription(ctx context.Context, s Subscription, now billing.Clock) (stored Subscription, created bool, err error)
	// Subscription returns a subscription, or a KindNotFound error.
	Subscription(ctx context.Context, id string) (Subscription, error)
	// Subscriptions lists every subscription in id order.
	Subscriptions(ctx context.Context) ([]Subscription, error)
}

// Service manages subscriptions.
type Service struct {
	repo  Repository
	clock billing.Clock
}

// NewService returns a Service over repo.
func NewService(repo Repository, clock billing.Clock) *Service {
	return &Service{repo: repo, clock: clock}
}

// Put validates s and creates or replaces the subscription id.
func (s *Service) Put(ctx context.Context, id string, sub Subscription) (Subscription, bool, error) {
	if err := sub.Normalize(id); err != nil {
		return Subscription{}, false, err
	}
	return s.repo.PutSubscription(ctx, sub, s.clock)
}

// Get returns the subscription id.
func (s *Service) Get(ctx context.Context, id string) (Subscription, error) {
	guid, ok := billing.ParseGUID(id)
	if !ok {
		return Subscription{}, billing.Invalid("InvalidSubscriptionId", "subscriptionId", "The provided subscription identifier '%s' is malformed or invalid.", id)
	}
	return s.repo.Subscription(ctx, guid)
}

// List returns every subscription.
func (s *Service) List(ctx context.Context) ([]Subscription, error) {
	return s.repo.Subscriptions(ctx)
}

// NotFound is the error for a subscription that does not exist.
func NotFound(id string) error {
	return billing.NotFound("SubscriptionNotFound", "subscriptionId", "The subscription '%s' could not be found.", id)
}
