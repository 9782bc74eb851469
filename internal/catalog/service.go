package catalog

import (
	"context"

	"github.com/reckon-billing/reckon/internal/billing"
)

// Repository stores meters.
type Repository interface {
	// PutMeter creates or replaces m; created reports which.
	PutMeter(ctx context.Context, m Meter, now billing.Clock) (stored Meter, created bool, err error)
	// Meter returns a meter, or a KindNotFound error.
	Meter(ctx context.Context, id string) (Meter, error)
	// Meters lists every meter in id order.
	Meters(ctx context.Context) ([]Meter, error)
}

// Service manages the catalog.
type Service struct {
	repo  Repository
	clock billing.Clock
}

// NewService returns a Service over repo.
func NewService(repo Repository, clock billing.Clock) *Service {
	return &Service{repo: repo, clock: clock}
}

// PutMeter validates m and creates or replaces the meter id.
func (s *Service) PutMeter(ctx context.Context, id string, m Meter) (Meter, bool, error) {
	if err := m.Normalize(id); err != nil {
		return Meter{}, false, err
	}
	return s.repo.PutMeter(ctx, m, s.clock)
}

// Meter returns the meter id.
func (s *Service) Meter(ctx context.Context, id string) (Meter, error) {
	guid, ok := billing.ParseGUID(id)
	if !ok {
		return Meter{}, billing.Invalid("InvalidMeterId", "meterId", "The meter id '%s' is not a GUID.", clipText(id))
	}
	return s.repo.Meter(ctx, guid)
}

// Meters returns every meter.
func (s *Service) Meters(ctx context.Context) ([]Meter, error) {
	return s.repo.Meters(ctx)
}

// MeterNotFound is the error for a meter that does not exist.
func MeterNotFound(id string) error {
	return billing.NotFound("MeterNotFound", "meterId", "The meter '%s' could not be found.", id)
}
