// Package demo builds the data of "reckon serve --demo": subscriptions, a
// price catalog imported from real Azure retail prices, and about 60 days of
// usage.
//
// The catalog comes from data/retail_prices.json, a small subset of real
// Azure Retail Prices API items (see data/ATTRIBUTION.md), imported through
// the catalog's retail-prices import like an operator's file: meters and
// their USD prices under two offers (see Offers). The usage is generated:
// every record is a pure function of its identity (subscription, resource,
// meter and usage time) and of fixed seeds, never of the time Load runs, so
// a record id always stands for the same content and loading again, later or
// on a restart over the same store, adds only the records that have become
// due and never conflicts with what is stored.
package demo

import (
	"bytes"
	"context"
	_ "embed"
	"encoding/json"
	"fmt"
	"hash/fnv"
	"math/rand/v2"
	"strconv"
	"strings"
	"time"

	"github.com/reckon-billing/reckon/internal/account"
	"github.com/reckon-billing/reckon/internal/catalog"
	"github.com/reckon-billing/reckon/internal/money"
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
	Offers        []catalog.Offer
	Meters        int                    // meters in the catalog imports
	Imports       []catalog.ImportResult // what each catalog import did
	Records       int                    // records generated
	Accepted      int                    // records new to the store (the others were there already)
}

// Days is how many days of usage the demo covers, ending at the last full
// hour at least one hour before Load's now.
const Days = 60

// batchSize is how many records Load ingests per request.
const batchSize = 10_000

// Load puts the demo data in place; it is idempotent. now is the current
// time: usage ends at the last hour boundary at least one hour before it and
// every record has been reported more than two minutes before it, so that
// every reported window the demo fills is settled. The usage service's clock
// must not be behind now.
func Load(ctx context.Context, svc Services, now time.Time) (Summary, error) {
	var sum Summary
	for _, s := range subscriptions {
		stored, _, err := svc.Accounts.Put(ctx, s.SubscriptionID, s)
		if err != nil {
			return sum, fmt.Errorf("demo: subscription %s: %w", s.SubscriptionID, err)
		}
		sum.Subscriptions = append(sum.Subscriptions, stored)
	}
	if err := loadCatalog(ctx, svc.Catalog, &sum); err != nil {
		return sum, err
	}

	recs := generate(now)
	sum.Records = len(recs)
	for len(recs) > 0 {
		if err := ctx.Err(); err != nil {
			return sum, err
		}
		n := min(len(recs), batchSize)
		b := svc.Usage.NewBatch(true)
		for i := range recs[:n] {
			b.Add(i, &recs[i], nil)
		}
		res, err := svc.Usage.Ingest(ctx, b)
		if err != nil {
			return sum, fmt.Errorf("demo: ingest usage: %w", err)
		}
		sum.Accepted += res.Accepted
		if len(res.Rejected) > 0 {
			r := res.Rejected[0]
			return sum, fmt.Errorf("demo: %d usage records rejected, the first (%s) with %s: %s (a store written by another version of the demo data must be deleted first)",
				len(res.Rejected), r.ID, r.Code, r.Message)
		}
		recs = recs[n:]
	}
	return sum, nil
}

// Demo subscriptions: fixed, obviously fake GUIDs whose first eight digits
// differ, so that record ids (which carry them) are unique across them.
const (
	SubContosoProd    = "0d0d0001-0d0d-4d0d-8d0d-0d0d0d0d0001"
	SubContosoDevTest = "0d0d0002-0d0d-4d0d-8d0d-0d0d0d0d0002"
	SubFabrikam       = "0d0d0003-0d0d-4d0d-8d0d-0d0d0d0d0003"
	SubNorthwind      = "0d0d0004-0d0d-4d0d-8d0d-0d0d0d0d0004"
)

var subscriptions = []account.Subscription{
	{SubscriptionID: SubContosoProd, DisplayName: "Contoso Retail - Production", BillingAccount: "contoso-ea-100001",
		OfferDurableID: "MS-AZR-0003P", Currency: "USD", Locale: "en-US", RegionInfo: "US", BillingDay: 1},
	{SubscriptionID: SubContosoDevTest, DisplayName: "Contoso Retail - Dev/Test", BillingAccount: "contoso-ea-100001",
		OfferDurableID: "MS-AZR-0003P", Currency: "USD", Locale: "en-US", RegionInfo: "US", BillingDay: 1},
	{SubscriptionID: SubFabrikam, DisplayName: "Fabrikam Analytics GmbH", BillingAccount: "fabrikam-mca-200002",
		OfferDurableID: "MS-AZR-0003P", Currency: "EUR", Locale: "de-DE", RegionInfo: "DE", BillingDay: 15},
	{SubscriptionID: SubNorthwind, DisplayName: "Northwind Networks", BillingAccount: "northwind-payg-300003",
		OfferDurableID: "MS-AZR-0003P", Currency: "USD", Locale: "en-US", RegionInfo: "US", BillingDay: 1},
}

// Subscriptions returns the demo subscriptions as Load puts them.
func Subscriptions() []account.Subscription {
	return append([]account.Subscription(nil), subscriptions...)
}

//go:embed data/retail_prices.json
var retailPrices []byte

//go:embed data/offer_terms.json
var offerTerms []byte

// RetailPrices returns the embedded Azure Retail Prices API items
// ({"Items":[…]}) the demo catalog comes from.
func RetailPrices() []byte { return retailPrices }

// The demo's offers. Every subscription is on OfferPAYG (USD, or EUR for
// Fabrikam in Germany); OfferCommitment carries all three kinds of offer
// term, so that its RateCard shows them.
const (
	OfferPAYG       = "MS-AZR-0003P"
	OfferCommitment = "MS-AZR-0026P"
	// EURPerUSD is the stated exchange rate of the EUR price list, derived
	// from the USD one and rounded to EURDecimals fractional digits.
	EURPerUSD   = "0.92"
	EURDecimals = 4
)

// Offers returns the demo offers as Load puts them.
func Offers() []catalog.Offer {
	rate, err := money.ParseDecimal(EURPerUSD)
	if err != nil {
		panic(err)
	}
	return []catalog.Offer{
		{DurableID: OfferPAYG, Name: "Pay-As-You-Go", Regions: []string{"DE", "GB", "US"}, Currencies: []catalog.OfferCurrency{
			{Currency: "USD"},
			{Currency: "EUR", BaseCurrency: "USD", ExchangeRate: rate, RoundingDecimals: EURDecimals},
		}},
		{DurableID: OfferCommitment, Name: "Reckon demo: monetary commitment plan", Regions: []string{"US"},
			Currencies: []catalog.OfferCurrency{{Currency: "USD"}}},
	}
}

// loadCatalog puts the offers in place and imports the retail prices under
// each, then the commitment offer's terms (a RateCard body with OfferTerms
// only). Every step writes nothing when the catalog already holds it.
func loadCatalog(ctx context.Context, cat *catalog.Service, sum *Summary) error {
	for _, o := range Offers() {
		stored, _, err := cat.PutOffer(ctx, o.DurableID, o)
		if err != nil {
			return fmt.Errorf("demo: offer %s: %w", o.DurableID, err)
		}
		sum.Offers = append(sum.Offers, stored)
	}
	imports := []struct {
		format string
		params catalog.ImportParams
		body   []byte
	}{
		{catalog.FormatRetailPrices, catalog.ImportParams{OfferDurableID: OfferPAYG, Currency: "USD", Locale: "en-US", RegionInfo: "US"}, retailPrices},
		{catalog.FormatRetailPrices, catalog.ImportParams{OfferDurableID: OfferCommitment, Currency: "USD", Locale: "en-US", RegionInfo: "US"}, retailPrices},
		{catalog.FormatRateCard, catalog.ImportParams{OfferDurableID: OfferCommitment, Currency: "USD", Locale: "en-US", RegionInfo: "US"}, offerTerms},
	}
	for i, im := range imports {
		res, err := cat.Import(catalog.WithImportActor(ctx, "demo"), im.format, im.params, bytes.NewReader(im.body))
		if err != nil {
			return fmt.Errorf("demo: catalog import %d (%s, %s): %w", i, im.format, im.params.OfferDurableID, err)
		}
		if len(res.Rejected) > 0 {
			return fmt.Errorf("demo: catalog import %d rejected %d items, the first: %s", i, len(res.Rejected), res.Rejected[0])
		}
		sum.Imports = append(sum.Imports, res)
	}
	m := sum.Imports[0].Meters
	sum.Meters = m.Added + m.Changed + m.Unchanged
	return nil
}

// Meters returns the demo meters as the catalog import reads them from the
// embedded retail items, in meter id order: meterName → meterName,
// serviceName → meterCategory, productName → meterSubCategory, location →
// meterRegion, unitOfMeasure → unit.
func Meters() ([]catalog.Meter, error) {
	set, err := catalog.ParseImport(catalog.FormatRetailPrices, catalog.ImportParams{OfferDurableID: OfferPAYG}, bytes.NewReader(retailPrices))
	if err != nil {
		return nil, fmt.Errorf("demo: retail prices: %w", err)
	}
	if len(set.Rejected) > 0 {
		return nil, fmt.Errorf("demo: retail prices: %s", set.Rejected[0])
	}
	out := make([]catalog.Meter, len(set.Meters))
	for i, m := range set.Meters {
		out[i] = m.Meter
	}
	return out, nil
}

// Meter ids used by the fleet (all in data/retail_prices.json).
const (
	// Compute: 1 Hour.
	meterD4dsV5Win   = "0028186c-0c1f-5639-b217-111721bb6d37" // D4ds v5, Windows, US Central
	meterD32aV4      = "004069b6-ef1c-4d13-987b-66cfd7cb575a" // D32a v4/D32as v4, Linux, US West 2
	meterB8lsV2Win   = "002f193c-0131-507a-b071-ce85c4a47575" // B8ls v2, Windows, US West 2
	meterD16sV5Win   = "0007942f-35ac-5c71-9845-63365457677b" // D16s v5, Windows, US East 2
	meterE16V3       = "003e1713-c374-4003-9a73-27b3ccc80c38" // E16 v3/E16s v3, Linux, EU West
	meterB8asV2Win   = "002a9eb3-5e72-5b49-a1ff-9275f0f99da3" // B8as v2, Windows, EU West
	meterDC1dsV3Win  = "002975ce-e142-5aac-8a7d-2be77c8e8811" // DC1ds_v3, Windows, EU North
	meterColdStored  = "00367488-e374-5d9f-8950-491dc4ba13e3" // Cold RA-GRS Data Stored, 1 GB/Month, US West Central
	meterZRSStored   = "00027356-c92d-4d1c-bf45-4503a328cf3e" // ZRS Data Stored (page blob), 1 GB/Month, NO East
	meterE10Disk     = "0001d427-82df-4d83-8ab2-b60768527e08" // E10 LRS Disk, 1/Month, UK South
	meterE1Disk      = "003818bd-971c-5d62-a619-1d4afbbff1f8" // E1 ZRS Disk, 1/Month, DE West Central
	meterCoolReads   = "003afa77-88c3-4da1-9464-69f643721f8b" // Cool Read Operations, 10K, US East
	meterCoolWrites  = "00277b9f-c6f5-451f-9ac4-f6c388ebb27a" // Cool GRS Write Operations, 10K, EU West
	meterCoolRetriev = "7fee4018-c73d-4765-9c46-98b2b9b57b16" // Cool Data Retrieval, 1 GB, US East
	meterBandwidth   = "003ac03d-5086-5838-9f6f-c2b815f9dd0b" // Bandwidth Data Transfer, 1 GB, EU North
	meterERIn        = "67d2ce10-48c6-4834-a7a1-c7b4a19803c4" // ExpressRoute Direct Data Transfer In, 1 GB, Zone 2
	meterNVAData     = "00029829-4c50-552f-80f7-7972429ab52e" // Virtual WAN NVA Data Processed, 1 GB, CH West
)

// kind says how a series of usage records is shaped.
type kind int

const (
	alwaysOn    kind = iota // an hour of use every hour
	officeHours             // weekdays from a to b o'clock UTC, partial first and last hours
	batchRuns               // on some days, a run of a to b hours
	storedGB                // daily GB/Month: size a GB growing by b MB a day
	diskMonth               // daily share of a month (1/Month)
	operations              // daily operations in units of 10K, between a and b a day
	dailyGB                 // daily GB, between a and b MB
	hourlyGB                // hourly GB, between a and b MB, following the working day
)

// series is one meter metered for one resource.
type series struct {
	meter string
	kind  kind
	a, b  int
}

// resource is one Azure resource of the demo fleet.
type resource struct {
	sub, group, provider, name, location string
	tags, info                           json.RawMessage
	series                               []series
}

// fleet lists the demo resources; it is built once from fixed data and a
// fixed seed and does not depend on the time.
var fleet = buildFleet()

func buildFleet() []resource {
	rng := rand.New(rand.NewPCG(0x5eed_f1ee7, 0xdea0_0001))
	var out []resource
	type group struct {
		sub, name, location string
		tags                map[string]string
	}
	add := func(g group, provider, name string, tags map[string]string, info map[string]string, ss ...series) {
		merged := make(map[string]string, len(g.tags)+len(tags))
		for k, v := range g.tags {
			merged[k] = v
		}
		for k, v := range tags {
			merged[k] = v
		}
		r := resource{sub: g.sub, group: g.name, provider: provider, name: name, location: g.location, series: ss}
		r.tags, _ = json.Marshal(merged)
		if info != nil {
			r.info, _ = json.Marshal(info)
		}
		out = append(out, r)
	}
	const (
		vm      = "Microsoft.Compute/virtualMachines"
		disk    = "Microsoft.Compute/disks"
		storage = "Microsoft.Storage/storageAccounts"
	)
	vmInfo := func(size, image string) map[string]string {
		return map[string]string{"ServiceType": size, "ImageType": image}
	}
	win, ubuntu := "Windows Server 2022 Datacenter", "Canonical Ubuntu 22.04 LTS"
	owners := []string{"ana.lopez@contoso.example", "raj.patel@contoso.example", "li.wei@contoso.example", "sam.okafor@contoso.example"}

	// Contoso Retail - Production.
	web := group{SubContosoProd, "rg-storefront-prod", "centralus", map[string]string{"env": "prod", "costCenter": "CC-1001", "app": "storefront", "owner": "web-team@contoso.example"}}
	for i := 1; i <= 8; i++ {
		add(web, vm, fmt.Sprintf("vm-web-%02d", i), nil, vmInfo("Standard_D4ds_v5", win), series{meterD4dsV5Win, alwaysOn, 0, 0})
	}
	api := group{SubContosoProd, "rg-checkout-prod", "eastus2", map[string]string{"env": "prod", "costCenter": "CC-1002", "app": "checkout", "owner": "payments@contoso.example"}}
	for i := 1; i <= 4; i++ {
		add(api, vm, fmt.Sprintf("vm-api-%02d", i), nil, vmInfo("Standard_D16s_v5", win), series{meterD16sV5Win, alwaysOn, 0, 0})
	}
	etl := group{SubContosoProd, "rg-data-prod", "westus2", map[string]string{"env": "prod", "costCenter": "CC-1003", "app": "analytics"}}
	for i := 1; i <= 3; i++ {
		add(etl, vm, fmt.Sprintf("vm-etl-%02d", i), map[string]string{"schedule": "nightly"}, vmInfo("Standard_D32a_v4", ubuntu),
			series{meterD32aV4, batchRuns, 3, 8})
	}
	lake := group{SubContosoProd, "rg-data-prod", "westcentralus", etl.tags}
	add(lake, storage, "stcontosolake01", nil, nil, series{meterColdStored, storedGB, 18_000 + rng.IntN(4_000), 40_000})
	media := group{SubContosoProd, "rg-media-prod", "eastus", map[string]string{"env": "prod", "costCenter": "CC-1001", "app": "storefront"}}
	for i := 1; i <= 2; i++ {
		add(media, storage, fmt.Sprintf("stcontosomedia%02d", i), nil, nil,
			series{meterCoolReads, operations, 200_000 + rng.IntN(100_000), 2_000_000},
			series{meterCoolRetriev, dailyGB, 5_000, 60_000 + rng.IntN(40_000)})
	}

	// Contoso Retail - Dev/Test.
	dev := group{SubContosoDevTest, "rg-dev-shared", "westus2", map[string]string{"env": "dev", "costCenter": "CC-2001"}}
	for i := 1; i <= 8; i++ {
		add(dev, vm, fmt.Sprintf("vm-dev-%02d", i), map[string]string{"owner": owners[rng.IntN(len(owners))]}, vmInfo("Standard_B8ls_v2", win),
			series{meterB8lsV2Win, officeHours, 14, 23 + rng.IntN(2)})
	}
	ci := group{SubContosoDevTest, "rg-ci", "westus2", map[string]string{"env": "test", "costCenter": "CC-2002", "app": "build-agents", "owner": "devops@contoso.example"}}
	for i := 1; i <= 4; i++ {
		add(ci, vm, fmt.Sprintf("vm-build-%02d", i), nil, vmInfo("Standard_D32a_v4", ubuntu), series{meterD32aV4, batchRuns, 2, 10})
	}
	devData := group{SubContosoDevTest, "rg-dev-data", "eastus", map[string]string{"env": "dev", "costCenter": "CC-2001"}}
	add(devData, storage, "stcontosodev01", nil, nil, series{meterCoolReads, operations, 5_000, 150_000})

	// Fabrikam Analytics GmbH (EUR).
	spark := group{SubFabrikam, "rg-analytics-weu", "westeurope", map[string]string{"env": "prod", "costCenter": "FA-4100", "app": "spark", "owner": "data-platform@fabrikam.example"}}
	for i := 1; i <= 6; i++ {
		add(spark, vm, fmt.Sprintf("vm-spark-%02d", i), nil, vmInfo("Standard_E16_v3", ubuntu), series{meterE16V3, alwaysOn, 0, 0})
	}
	for i := 1; i <= 2; i++ {
		add(spark, vm, fmt.Sprintf("vm-jump-%02d", i), map[string]string{"app": "bastion"}, vmInfo("Standard_B8as_v2", win),
			series{meterB8asV2Win, officeHours, 6, 17 + rng.IntN(2)})
	}
	add(spark, storage, "stfabrikamraw01", nil, nil, series{meterCoolWrites, operations, 80_000, 400_000})
	enclave := group{SubFabrikam, "rg-secure-neu", "northeurope", map[string]string{"env": "prod", "costCenter": "FA-4200", "app": "confidential", "compliance": "gdpr"}}
	for i := 1; i <= 3; i++ {
		add(enclave, vm, fmt.Sprintf("vm-enclave-%02d", i), nil, vmInfo("Standard_DC1ds_v3", win), series{meterDC1dsV3Win, alwaysOn, 0, 0})
	}
	ledger := group{SubFabrikam, "rg-ledger-neu", "northeurope", map[string]string{"env": "prod", "costCenter": "FA-4300", "app": "ledger"}}
	add(ledger, "Microsoft.Blockchain/blockchainMembers", "fabrikamledger", nil, nil, series{meterBandwidth, hourlyGB, 50, 1_500})
	archive := group{SubFabrikam, "rg-archive-noe", "norwayeast", map[string]string{"env": "prod", "costCenter": "FA-4100", "retention": "7y"}}
	for i := 1; i <= 2; i++ {
		add(archive, storage, fmt.Sprintf("stfabrikamarch%02d", i), nil, nil, series{meterZRSStored, storedGB, 2_000 + rng.IntN(3_000), 15_000})
	}
	cache := group{SubFabrikam, "rg-cache-gwc", "germanywestcentral", map[string]string{"env": "staging", "costCenter": "FA-4400"}}
	for i := 1; i <= 6; i++ {
		add(cache, disk, fmt.Sprintf("disk-cache-%02d", i), nil, nil, series{meterE1Disk, diskMonth, 0, 0})
	}

	// Northwind Networks.
	edge := group{SubNorthwind, "rg-edge-cus", "centralus", map[string]string{"env": "prod", "costCenter": "NW-300", "app": "edge-proxy", "owner": "noc@northwind.example"}}
	for i := 1; i <= 4; i++ {
		add(edge, vm, fmt.Sprintf("vm-edge-%02d", i), nil, vmInfo("Standard_D4ds_v5", win), series{meterD4dsV5Win, alwaysOn, 0, 0})
	}
	disks := group{SubNorthwind, "rg-edge-uks", "uksouth", map[string]string{"env": "prod", "costCenter": "NW-310"}}
	for i := 1; i <= 8; i++ {
		add(disks, disk, fmt.Sprintf("disk-edge-%02d", i), nil, nil, series{meterE10Disk, diskMonth, 0, 0})
	}
	backbone := group{SubNorthwind, "rg-backbone", "japaneast", map[string]string{"env": "prod", "costCenter": "NW-320", "app": "backbone"}}
	add(backbone, "Microsoft.Network/expressRoutePorts", "erdirect-tokyo", nil, nil, series{meterERIn, hourlyGB, 2_000, 40_000})
	vwan := group{SubNorthwind, "rg-vwan-chw", "switzerlandwest", map[string]string{"env": "prod", "costCenter": "NW-320", "app": "backbone"}}
	for i := 1; i <= 2; i++ {
		add(vwan, "Microsoft.Network/virtualHubs", fmt.Sprintf("vhub-chw-%02d", i), nil, nil, series{meterNVAData, hourlyGB, 500, 12_000})
	}
	return out
}

// Fixed seeds of the per-record and per-day random streams.
const (
	seedRecord uint64 = 0x7265636b6f6e2d31 // "reckon-1"
	seedDay    uint64 = 0x64656d6f2d646179 // "demo-day"
)

func streamFor(seed uint64, key string) *rand.Rand {
	h := fnv.New64a()
	h.Write([]byte(key))
	return rand.New(rand.NewPCG(seed, h.Sum64()))
}

// Reported times: each subscription's meter sources report once an hour, at
// a fixed offset past the hour, so records reported together share a
// reported time as they would in a real deployment.
var reportOffset = map[string]time.Duration{
	SubContosoProd:    7*time.Minute + 13*time.Second,
	SubContosoDevTest: 19*time.Minute + 41*time.Second,
	SubFabrikam:       33*time.Minute + 5*time.Second,
	SubNorthwind:      48*time.Minute + 52*time.Second,
}

// latePermille is the share of records reported one to three days late.
const latePermille = 25

// reportedAt is when a record whose usage ended at end is reported: at the
// first report pass at least two minutes after end, or for a late record at
// the first pass one to three days after end.
func reportedAt(sub string, end time.Time, rng *rand.Rand) time.Time {
	t := end.Add(2 * time.Minute)
	if rng.IntN(1000) < latePermille {
		t = end.Add(24*time.Hour + time.Duration(rng.IntN(48*60))*time.Minute)
	}
	p := t.Truncate(time.Hour).Add(reportOffset[sub])
	if p.Before(t) {
		p = p.Add(time.Hour)
	}
	return p
}

// generator collects the records of one Load.
type generator struct {
	start, cutoff, settled time.Time
	recs                   []usage.RecordInput
}

// generate returns the demo usage due at now, in a fixed order.
func generate(now time.Time) []usage.RecordInput {
	now = now.UTC()
	g := &generator{
		cutoff:  now.Add(-time.Hour).Truncate(time.Hour),
		settled: now.Add(-2 * time.Minute),
	}
	g.start = g.cutoff.Add(-Days * 24 * time.Hour).Truncate(24 * time.Hour)
	g.recs = make([]usage.RecordInput, 0, 60_000)
	for i := range fleet {
		r := &fleet[i]
		for _, s := range r.series {
			g.series(r, s)
		}
	}
	return g.recs
}

// emit adds the record of r's meter for [from, to) unless it has not been
// reported yet. q is the quantity in units of 10^-scale.
func (g *generator) emit(r *resource, meter string, from, to time.Time, q int64, scale int, rng *rand.Rand) {
	if q <= 0 || to.After(g.cutoff) || from.Before(g.start) {
		return
	}
	rep := reportedAt(r.sub, to, rng)
	if !rep.Before(g.settled) {
		return
	}
	g.recs = append(g.recs, usage.RecordInput{
		ID:             recordID(r, meter, from),
		SubscriptionID: r.sub,
		MeterID:        meter,
		Quantity:       json.RawMessage(decimal(q, scale)),
		UsageStartTime: from.Format(time.RFC3339),
		UsageEndTime:   to.Format(time.RFC3339),
		ResourceURI:    "/subscriptions/" + r.sub + "/resourceGroups/" + r.group + "/providers/" + r.provider + "/" + r.name,
		Location:       r.location,
		Tags:           r.tags,
		AdditionalInfo: r.info,
		ReportedTime:   rep.Format(time.RFC3339),
	})
}

// recordID is "demo-<sub8>-<resource>-<meter8>-<unix start>".
func recordID(r *resource, meter string, from time.Time) string {
	return "demo-" + r.sub[:8] + "-" + r.name + "-" + meter[:8] + "-" + strconv.FormatInt(from.Unix(), 10)
}

// recordRand is the random stream of one record, keyed by its identity.
func recordRand(r *resource, meter string, t time.Time) *rand.Rand {
	return streamFor(seedRecord, recordID(r, meter, t))
}

// dayRand is the random stream of one resource's decisions for one day.
func dayRand(r *resource, meter string, day time.Time) *rand.Rand {
	return streamFor(seedDay, r.sub+"/"+r.name+"/"+meter+"/"+day.Format(time.DateOnly))
}

// Hour fractions are written with six decimals.
const hourScale = 6

// hourFraction is minutes/60 hours in units of 10^-6, rounded half up.
func hourFraction(minutes int) int64 {
	return (int64(minutes)*1_000_000 + 30) / 60
}

func (g *generator) series(r *resource, s series) {
	hour := time.Hour
	switch s.kind {
	case alwaysOn:
		for h := g.start; !h.Add(hour).After(g.cutoff); h = h.Add(hour) {
			g.emit(r, s.meter, h, h.Add(hour), 1, 0, recordRand(r, s.meter, h))
		}
	case officeHours:
		for day := g.start; day.Before(g.cutoff); day = day.Add(24 * hour) {
			if wd := day.Weekday(); wd == time.Saturday || wd == time.Sunday {
				continue
			}
			rng := dayRand(r, s.meter, day)
			if rng.IntN(100) < 8 { // a day off
				continue
			}
			on := rng.IntN(45)       // minutes past the first hour it starts
			off := 15 + rng.IntN(46) // minutes into the last hour it stops
			g.run(r, s.meter, day.Add(time.Duration(s.a)*hour), s.b-s.a, on, off)
		}
	case batchRuns:
		for day := g.start; day.Before(g.cutoff); day = day.Add(24 * hour) {
			rng := dayRand(r, s.meter, day)
			if rng.IntN(100) < 30 { // no run today
				continue
			}
			n := s.a + rng.IntN(s.b-s.a+1)
			first := rng.IntN(24 - n + 1)
			g.run(r, s.meter, day.Add(time.Duration(first)*hour), n, rng.IntN(60), 1+rng.IntN(60))
		}
	case storedGB, diskMonth, operations, dailyGB:
		for day := g.start; !day.Add(24 * hour).After(g.cutoff); day = day.Add(24 * hour) {
			rng := recordRand(r, s.meter, day)
			q, scale := daily(s, day, rng)
			g.emit(r, s.meter, day, day.Add(24*hour), q, scale, rng)
		}
	case hourlyGB:
		for h := g.start; !h.Add(hour).After(g.cutoff); h = h.Add(hour) {
			rng := recordRand(r, s.meter, h)
			mb := s.a + rng.IntN(s.b-s.a+1)
			mb = mb * diurnal[h.Hour()] / 10
			if wd := h.Weekday(); wd == time.Saturday || wd == time.Sunday {
				mb /= 3
			}
			g.emit(r, s.meter, h, h.Add(hour), int64(mb), 3, rng)
		}
	}
}

// diurnal weighs traffic by UTC hour, in tenths.
var diurnal = [24]int{3, 2, 2, 2, 3, 4, 6, 8, 10, 10, 10, 10, 9, 10, 10, 10, 10, 9, 8, 7, 6, 5, 4, 3}

// run emits a VM run of n hours from start: the first hour begins on
// minutes past it and the last one ends off minutes into it (60: full).
func (g *generator) run(r *resource, meter string, start time.Time, n, on, off int) {
	for i := range n {
		h := start.Add(time.Duration(i) * time.Hour)
		from, to, q := h, h.Add(time.Hour), int64(1_000_000)
		if i == 0 && on > 0 {
			from, q = h.Add(time.Duration(on)*time.Minute), hourFraction(60-on)
		}
		if i == n-1 && off < 60 {
			to = h.Add(time.Duration(off) * time.Minute)
			q = hourFraction(int(to.Sub(from) / time.Minute))
		}
		g.emit(r, meter, from, to, q, hourScale, recordRand(r, meter, from))
	}
}

// daily returns the quantity of a daily record as an integer and its scale.
func daily(s series, day time.Time, rng *rand.Rand) (int64, int) {
	dim := int64(time.Date(day.Year(), day.Month()+1, 0, 0, 0, 0, 0, time.UTC).Day())
	switch s.kind {
	case storedGB:
		// The size grows by s.b MB a day from a fixed date, with a little
		// churn; Azure bills it as GB/Month, a 1/days-in-month share a day.
		age := int64(day.Sub(time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)) / (24 * time.Hour))
		mb := int64(s.a)*1000 + age*int64(s.b) + int64(rng.IntN(2000))
		return (mb*10 + dim/2) / dim, 4 // (mb/1000 GB)/dim in units of 10^-4, rounded half up
	case diskMonth:
		return (1_000_000 + dim/2) / dim, 6
	case operations:
		ops := int64(s.a + rng.IntN(s.b-s.a+1))
		if wd := day.Weekday(); wd == time.Saturday || wd == time.Sunday {
			ops /= 2
		}
		return ops, 4 // units of 10K with four decimals: exact
	default: // dailyGB
		return int64(s.a + rng.IntN(s.b-s.a+1)), 3
	}
}

// decimal renders n × 10^-scale in plain decimal form without trailing zeros.
func decimal(n int64, scale int) string {
	s := strconv.FormatInt(n, 10)
	if scale == 0 {
		return s
	}
	if len(s) <= scale {
		s = strings.Repeat("0", scale-len(s)+1) + s
	}
	whole, frac := s[:len(s)-scale], strings.TrimRight(s[len(s)-scale:], "0")
	if frac == "" {
		return whole
	}
	return whole + "." + frac
}
