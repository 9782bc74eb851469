package httpapi

// SetUsageDetailsPageSize sets the page size of usageDetails and returns
// a function restoring it (tests that change it must not run in parallel).
func SetUsageDetailsPageSize(n int) (restore func()) {
	old := usageDetailsPageSize
	usageDetailsPageSize = n
	return func() { usageDetailsPageSize = old }
}

// SetProviderPageSize is SetUsageDetailsPageSize for the provider usage API.
func SetProviderPageSize(n int) (restore func()) {
	old := providerPageSize
	providerPageSize = n
	return func() { providerPageSize = old }
}
