package usage

import (
	"context"

	"github.com/reckon-billing/reckon/internal/catalog"
)

// Store is what the usage service needs from a database. Implementations
// live in package store, one per SQL dialect, and pass the same conformance
// suite.
type Store interface {
	// SubscriptionKeys maps subscription GUIDs to their internal keys;
	// unknown subscriptions are absent from the result.
	SubscriptionKeys(ctx context.Context, ids []string) (map[string]int64, error)
	// MeterKeys maps meter GUIDs to their internal keys; unknown meters are
	// absent from the result.
	MeterKeys(ctx context.Context, ids []string) (map[string]int64, error)
	// Ingest runs fn in one write transaction and commits it if fn returns
	// nil. Nothing fn wrote survives an error.
	Ingest(ctx context.Context, fn func(tx IngestTx) error) error
	// ScanSegments calls fn for each segment of a subscription whose
	// reported time is in [from, to) (Unix microseconds), in reported order.
	ScanSegments(ctx context.Context, subscriptionKey, from, to int64, fn func(reportedAt int64, data []byte) error) error
	// Instances returns the instanceData of the given instance keys.
	Instances(ctx context.Context, keys []int64) (map[int64]string, error)
	// MetersByKey returns the meters with the given internal keys.
	MetersByKey(ctx context.Context, keys []int64) (map[int64]catalog.Meter, error)
}

// InstanceCreator is implemented by a store whose ingest transactions run
// concurrently (PostgreSQL): the instances a group needs are created before
// its transaction, in short transactions of their own, so that concurrent
// ingest transactions (on one node or several) never wait for each other's
// uncommitted new instances. An instance is a dictionary entry: creating it
// without records is harmless.
type InstanceCreator interface {
	CreateInstances(ctx context.Context, instances []NewInstance) error
}

// IngestTx is a write transaction of the ingest path.
type IngestTx interface {
	// InstanceKeys returns the key of each instance, creating the ones
	// that do not exist yet.
	InstanceKeys(ctx context.Context, instances []NewInstance) ([]int64, error)
	// InsertKeys records the idempotency keys that are new and returns, for
	// those that existed already, their stored fingerprints. rows are sorted
	// by key and unique.
	InsertKeys(ctx context.Context, rows []KeyRow) (existing map[[16]byte]int64, err error)
	// InsertSegments stores packed records.
	InsertSegments(ctx context.Context, segs []Segment) error
}

// NewInstance is an instance to look up or create.
type NewInstance struct {
	SubscriptionKey int64
	Hash            [16]byte
	Data            string
}

// KeyRow is the idempotency entry of one accepted record.
type KeyRow struct {
	Key             [16]byte
	Fingerprint     int64
	SubscriptionKey int64
}

// Segment is a packed group of records of one subscription reported at the
// same instant.
type Segment struct {
	SubscriptionKey int64
	ReportedAt      int64 // Unix microseconds
	Records         int
	Data            []byte
}
