// Package track1 drives Reckon with the track-1 Azure SDK for Go
// (github.com/Azure/azure-sdk-for-go v68.0.0+incompatible, packages
// services/preview/commerce/mgmt/2015-06-01-preview/commerce and
// services/preview/billing/mgmt/2018-03-01-preview/billing, on
// go-autorest), whose decoding is stricter than track 2's: MeterId,
// ExcludedMeterIds and subscriptionId must be GUIDs (gofrs/uuid), offer
// term amounts are shopspring decimals, and dates are go-autorest's
// date.Time (the Billing API's invoice and period dates are date.Date,
// YYYY-MM-DD only).
//
// It is a module of its own: the track-1 module is a 69 MB download
// (559 MB unpacked), and its import path is a prefix of the track-2
// modules' (github.com/Azure/azure-sdk-for-go/sdk/...), so in the main
// go.mod every build would have to fetch it to rule out ambiguous imports.
// Its go.mod replaces github.com/reckon-billing/reckon with ../.., so the
// tests use the working tree's server (internal/reckontest is importable:
// the internal rule compares import paths, and this module's path is
// under github.com/reckon-billing/reckon).
//
// The tests are only _test.go files. Run them here with
//
//	cd compat/track1 && go test ./...
//
// or from the main module, where TestAzureSDKForGoTrack1 (compat/track1_test.go)
// runs them as a subprocess as part of "go test ./...".
package track1
