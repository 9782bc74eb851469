package invoicing

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"runtime"
	"slices"
	"strings"
	"sync"
	"time"
	"unicode"

	"github.com/reckon-billing/reckon/internal/account"
	"github.com/reckon-billing/reckon/internal/billing"
	"github.com/reckon-billing/reckon/internal/charges"
)

// Defaults of Config.
const (
	DefaultGraceTime    = 72 * time.Hour
	DefaultPaymentDays  = 30
	DefaultSettleMargin = 30 * time.Second
)

// Service closes periods and serves invoices.
type Service struct {
	repo     Repository
	accounts *account.Service
	charges  *charges.Service
	render   Renderer
	clock    billing.Clock
	cfg      Config

	mu    sync.Mutex
	marks map[string]UsageMark // FirstUsage results by subscription
}

// NewService returns the invoicing service.
func NewService(repo Repository, accounts *account.Service, ch *charges.Service, render Renderer, clock billing.Clock, cfg Config) *Service {
	if cfg.GraceTime == 0 {
		cfg.GraceTime = DefaultGraceTime
	}
	if cfg.LateUsage == "" {
		cfg.LateUsage = LateUsageCarry
	}
	if cfg.PaymentDays == 0 {
		cfg.PaymentDays = DefaultPaymentDays
	}
	if cfg.SettleMargin == 0 {
		cfg.SettleMargin = DefaultSettleMargin
	}
	if cfg.NumberPrefix == nil {
		cfg.NumberPrefix = DefaultNumberPrefix
	}
	if cfg.CloseWorkers <= 0 {
		cfg.CloseWorkers = runtime.GOMAXPROCS(0)
	}
	if cfg.Log == nil {
		cfg.Log = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	return &Service{repo: repo, accounts: accounts, charges: ch, render: render, clock: clock, cfg: cfg, marks: map[string]UsageMark{}}
}

// DefaultNumberPrefix is the invoice-number prefix of a billing account
// when Config.NumberPrefix is nil: the account name upper-cased, letters
// and digits only, then "-" ("contoso-eu" → "CONTOSOEU-"); "INV-" when the
// name has no letter or digit. Accounts whose prefixes coincide share one
// numbering sequence, so numbers never repeat.
func DefaultNumberPrefix(billingAccount string) string {
	var b strings.Builder
	for _, r := range strings.ToUpper(billingAccount) {
		if r < 128 && (unicode.IsLetter(r) || unicode.IsDigit(r)) {
			b.WriteRune(r)
		}
	}
	if b.Len() == 0 {
		return "INV-"
	}
	return b.String() + "-"
}

// InvoiceName is the name of the document numbered number in the sequence
// of prefix: the number zero-padded to six digits ("CONTOSO-000001").
func InvoiceName(prefix string, number int64) string {
	return fmt.Sprintf("%s%06d", prefix, number)
}

// PeriodFilter selects periods by their end (inclusive bounds; zero: none).
type PeriodFilter struct {
	EndFrom, EndTo time.Time
}

// Match reports whether p's end is within the filter's bounds.
func (f PeriodFilter) Match(p Period) bool {
	return (f.EndFrom.IsZero() || !p.End.Before(f.EndFrom)) && (f.EndTo.IsZero() || !p.End.After(f.EndTo))
}

func (s *Service) now() time.Time { return s.clock().UTC().Truncate(time.Microsecond) }

func (s *Service) subscription(ctx context.Context, id string) (account.Subscription, error) {
	return s.accounts.Get(ctx, id)
}

// periods returns the subscription's periods, oldest first, and its latest
// close (zero: none).
func (s *Service) periods(ctx context.Context, sub account.Subscription, now time.Time) ([]Period, time.Time, error) {
	closed, err := s.repo.ClosedPeriods(ctx, sub.SubscriptionID)
	if err != nil {
		return nil, time.Time{}, err
	}
	var lastClose time.Time
	for _, p := range closed {
		if p.ClosedAt != nil && p.ClosedAt.After(lastClose) {
			lastClose = *p.ClosedAt
		}
	}
	first := sub.CreatedAt
	s.mu.Lock()
	known := s.marks[sub.SubscriptionID]
	s.mu.Unlock()
	mark, err := s.repo.FirstUsage(ctx, sub.SubscriptionID, known)
	if err != nil {
		return nil, time.Time{}, err
	}
	if mark != known {
		s.mu.Lock()
		s.marks[sub.SubscriptionID] = mark
		s.mu.Unlock()
	}
	if !mark.First.IsZero() && mark.First.Before(first) {
		first = mark.First
	}
	if first.After(now) {
		first = now
	}
	return timeline(sub.SubscriptionID, closed, first, sub.BillingDay, now), lastClose, nil
}

// Periods lists the subscription's billing periods, newest first: every
// period from the one containing its first usage (or its creation) up to
// the current, open one. Closed periods are as they were closed; open
// ones follow the subscription's current billing day.
func (s *Service) Periods(ctx context.Context, subscriptionID string) ([]Period, error) {
	sub, err := s.subscription(ctx, subscriptionID)
	if err != nil {
		return nil, err
	}
	ps, _, err := s.periods(ctx, sub, s.now())
	if err != nil {
		return nil, err
	}
	slices.Reverse(ps)
	return ps, nil
}

// Period returns one period by name (NotFound "BillingPeriodNotFound").
func (s *Service) Period(ctx context.Context, subscriptionID, name string) (Period, error) {
	sub, err := s.subscription(ctx, subscriptionID)
	if err != nil {
		return Period{}, err
	}
	ps, _, err := s.periods(ctx, sub, s.now())
	if err != nil {
		return Period{}, err
	}
	for _, p := range ps {
		if strings.EqualFold(p.Name, name) {
			return p, nil
		}
	}
	return Period{}, periodNotFound(name)
}

func periodNotFound(name string) error {
	return billing.NotFound("BillingPeriodNotFound", "billingPeriodName", "The billing period '%s' could not be found.", name)
}

// Close closes the named period and issues its invoice: now if force,
// otherwise only once its end plus the grace time has passed (Conflict
// "PeriodNotEnded"). A period that has not ended cannot be closed, even
// with force. Closing a closed period issues nothing and returns its
// invoice. Two processes closing at once issue one invoice.
//
// The invoice rates the period's usage reported before the close's
// cut-off, now minus Config.SettleMargin (so that no ingest transaction
// still in flight can later commit a record reported before it; usage
// reported later is late usage). Under the carry policy it also carries
// the late usage of the subscription's other closed periods (see
// lateUsage).
func (s *Service) Close(ctx context.Context, subscriptionID, name string, force bool) (*Invoice, error) {
	sub, err := s.subscription(ctx, subscriptionID)
	if err != nil {
		return nil, err
	}
	inv, _, err := s.closeRetrying(ctx, sub, name, force, "")
	return inv, err
}

// closeRetrying closes a period, computing the invoice again when another
// period of the subscription closed meanwhile.
func (s *Service) closeRetrying(ctx context.Context, sub account.Subscription, name string, force bool, actor string) (*Invoice, bool, error) {
	for attempt := 0; ; attempt++ {
		inv, created, err := s.close(ctx, sub, name, force, actor)
		if errors.Is(err, ErrStale) && attempt < 10 {
			continue
		}
		return inv, created, err
	}
}

// CloseDue closes every period whose end plus the grace time has passed,
// each subscription's oldest first, several subscriptions at a time
// (Config.CloseWorkers); the scheduler inside serve calls it periodically.
// It goes on after a failure and returns every failure joined.
func (s *Service) CloseDue(ctx context.Context) (closed int, err error) {
	subs, err := s.accounts.List(ctx)
	if err != nil {
		return 0, err
	}
	var (
		mu   sync.Mutex
		errs []error
		wg   sync.WaitGroup
	)
	work := make(chan account.Subscription)
	for range min(s.cfg.CloseWorkers, max(len(subs), 1)) {
		wg.Go(func() {
			for sub := range work {
				n, err := s.closeDueOf(ctx, sub)
				mu.Lock()
				closed += n
				if err != nil {
					errs = append(errs, fmt.Errorf("subscription %s: %w", sub.SubscriptionID, err))
				}
				mu.Unlock()
			}
		})
	}
	for _, sub := range subs {
		if ctx.Err() != nil {
			break
		}
		work <- sub
	}
	close(work)
	wg.Wait()
	if ctx.Err() != nil {
		errs = append(errs, ctx.Err())
	}
	return closed, errors.Join(errs...)
}

func (s *Service) closeDueOf(ctx context.Context, sub account.Subscription) (int, error) {
	now := s.now()
	ps, _, err := s.periods(ctx, sub, now)
	if err != nil {
		return 0, err
	}
	n := 0
	for _, p := range ps {
		if p.ClosedAt != nil || p.End.Add(s.cfg.GraceTime).After(now) {
			continue
		}
		_, created, err := s.closeRetrying(ctx, sub, p.Name, false, "")
		if err != nil {
			return n, err
		}
		if created {
			n++
		}
	}
	return n, nil
}

// RunScheduler calls CloseDue every interval until ctx ends, logging what
// it closed and any failure.
func (s *Service) RunScheduler(ctx context.Context, every time.Duration) {
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		n, err := s.CloseDue(ctx)
		if n > 0 {
			s.cfg.Log.Info("closed billing periods", "invoices", n)
		}
		if err != nil && ctx.Err() == nil {
			s.cfg.Log.Error("closing billing periods", "err", err)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// Invoices lists a subscription's invoices and credit notes, newest first,
// without their lines (Invoice returns a document with its lines).
func (s *Service) Invoices(ctx context.Context, subscriptionID string) ([]Invoice, error) {
	sub, err := s.subscription(ctx, subscriptionID)
	if err != nil {
		return nil, err
	}
	return s.repo.InvoicesOf(ctx, sub.SubscriptionID)
}

// InvoicesOfAccount lists a billing account's invoices and credit notes,
// newest first, without their lines.
func (s *Service) InvoicesOfAccount(ctx context.Context, billingAccount string) ([]Invoice, error) {
	return s.repo.InvoicesOfAccount(ctx, billingAccount)
}

// Invoice returns one invoice by name, with its lines (NotFound
// "InvoiceNotFound").
func (s *Service) Invoice(ctx context.Context, name string) (Invoice, error) {
	return s.repo.Invoice(ctx, name)
}

// PDF returns the bytes stored when the invoice was issued (NotFound
// "InvoiceNotFound").
func (s *Service) PDF(ctx context.Context, name string) ([]byte, error) { return s.repo.PDF(ctx, name) }

// InvoiceNotFound is the error for an invoice that does not exist.
func InvoiceNotFound(name string) error {
	return billing.NotFound("InvoiceNotFound", "invoiceName", "The invoice '%s' could not be found.", name)
}

// SetInvoiceAccess records the billing account admin's opt-in letting the
// subscription's roles see its invoices (audited by the caller).
func (s *Service) SetInvoiceAccess(ctx context.Context, subscriptionID string, enabled bool) error {
	sub, err := s.subscription(ctx, subscriptionID)
	if err != nil {
		return err
	}
	return s.repo.SetInvoiceAccess(ctx, sub.SubscriptionID, enabled, s.now())
}

// InvoiceAccess reports the opt-in of a subscription (false until set).
func (s *Service) InvoiceAccess(ctx context.Context, subscriptionID string) (bool, error) {
	guid, ok := billing.ParseGUID(subscriptionID)
	if !ok {
		return false, billing.Invalid("InvalidSubscriptionId", "subscriptionId", "The provided subscription identifier '%s' is malformed or invalid.", subscriptionID)
	}
	return s.repo.InvoiceAccess(ctx, guid)
}
