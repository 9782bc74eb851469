package httpapi

// ResetRateCards empties the cache of rendered RateCards, so that a
// benchmark can measure rendering.
func ResetRateCards(a *API) {
	a.rateCards.mu.Lock()
	a.rateCards.m = nil
	a.rateCards.mu.Unlock()
}
