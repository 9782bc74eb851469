// Package catalog holds what can be sold and at what price: meters now;
// offers, currencies and effective-dated rates as the catalog grows.
package catalog

import (
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/reckon-billing/reckon/internal/billing"
)

// Meter statuses.
const (
	MeterActive     = "Active"
	MeterDeprecated = "Deprecated"
)

// Meter is a billable item, identified by its GUID; its names are metadata
// that may change.
type Meter struct {
	MeterID          string `json:"meterId"`
	MeterName        string `json:"meterName"`
	MeterCategory    string `json:"meterCategory"`
	MeterSubCategory string `json:"meterSubCategory"`
	MeterRegion      string `json:"meterRegion"`
	Unit             string `json:"unit"`
	MeterStatus      string `json:"meterStatus"`
	// MeterTags are the RateCard's tags ("Third Party": a meter with no
	// discount); none for a first-party meter.
	MeterTags []string  `json:"meterTags"`
	CreatedAt time.Time `json:"createdAt"`
	UpdatedAt time.Time `json:"updatedAt"`
}

// Normalize fills defaults and checks every field. id comes from the path.
func (m *Meter) Normalize(id string) error {
	guid, ok := billing.ParseGUID(id)
	if !ok {
		return billing.Invalid("InvalidMeterId", "meterId", "The meter id '%s' is not a GUID.", clipText(id))
	}
	if m.MeterID != "" {
		if body, ok := billing.ParseGUID(m.MeterID); !ok || body != guid {
			return billing.Invalid("InvalidProperty", "meterId", "The meterId in the body does not match the path.")
		}
	}
	m.MeterID = guid
	if m.MeterStatus == "" {
		m.MeterStatus = MeterActive
	}
	switch {
	case strings.EqualFold(m.MeterStatus, MeterActive):
		m.MeterStatus = MeterActive
	case strings.EqualFold(m.MeterStatus, MeterDeprecated):
		m.MeterStatus = MeterDeprecated
	default:
		return billing.Invalid("InvalidProperty", "meterStatus", "The meterStatus must be Active or Deprecated.")
	}
	for _, f := range []struct {
		name     string
		v        string
		required bool
	}{
		{"meterName", m.MeterName, true},
		{"meterCategory", m.MeterCategory, true},
		{"meterSubCategory", m.MeterSubCategory, false},
		{"meterRegion", m.MeterRegion, false},
		{"unit", m.Unit, true},
	} {
		if err := CheckText(f.name, f.v, f.required, 256); err != nil {
			return err
		}
	}
	tags, err := normalizeTags(m.MeterTags)
	if err != nil {
		return err
	}
	m.MeterTags = tags
	return nil
}

// MaxMeterTags bounds the tags of one meter.
const MaxMeterTags = 16

// normalizeTags checks a meter's tags: printable texts of at most 64
// characters. Blank tags are dropped (the RateCard's blank tag means first
// party, which is no tag) and repeated ones kept once, in first-seen order.
// The result is never nil.
func normalizeTags(tags []string) ([]string, error) {
	out := make([]string, 0, len(tags))
	for _, t := range tags {
		if strings.TrimSpace(t) == "" || slices.Contains(out, t) {
			continue
		}
		if err := CheckText("meterTags", t, true, 64); err != nil {
			return nil, err
		}
		out = append(out, t)
	}
	if len(out) > MaxMeterTags {
		return nil, billing.Invalid("InvalidProperty", "meterTags", "A meter has at most %d tags.", MaxMeterTags)
	}
	return out, nil
}

// CheckText validates a short human-readable text property.
func CheckText(name, v string, required bool, maxLen int) error {
	if v == "" {
		if required {
			return billing.Invalid("MissingProperty", name, "The property '%s' is required.", name)
		}
		return nil
	}
	if !utf8.ValidString(v) || utf8.RuneCountInString(v) > maxLen || strings.ContainsFunc(v, func(r rune) bool { return r < 0x20 || r == 0x7f }) {
		return billing.Invalid("InvalidProperty", name, "The property '%s' must be at most %d printable characters.", name, maxLen)
	}
	return nil
}

func clipText(s string) string {
	if len(s) > 64 {
		return s[:64] + "…"
	}
	return s
}
