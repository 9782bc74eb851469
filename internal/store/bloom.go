package store

import "encoding/binary"

// bloom is a Bloom filter over 128-bit keys that are themselves uniformly
// random (prefixes of SHA-256 digests), so its probes are taken from the
// key's own bits. It answers "certainly absent" or "maybe present".
type bloom struct {
	bits []uint64
	m    uint64 // number of bits
}

// With 14 bits and 10 probes a key, a filter holding the keys it was sized
// for answers "maybe" for about 0.08 % of absent keys. A key is checked
// against the filter of every run, so the rate must stay low as runs add up.
const (
	bloomBitsPerKey = 14
	bloomProbes     = 10
)

// newBloom returns a filter sized for capacity keys.
func newBloom(capacity int) *bloom {
	m := uint64(max(capacity, 64)) * bloomBitsPerKey
	return &bloom{bits: make([]uint64, (m+63)/64), m: m}
}

func (b *bloom) probes(k *[16]byte, fn func(bit uint64) bool) bool {
	h1 := binary.LittleEndian.Uint64(k[0:8])
	h2 := binary.LittleEndian.Uint64(k[8:16]) | 1
	for i := range uint64(bloomProbes) {
		if !fn((h1 + i*h2) % b.m) {
			return false
		}
	}
	return true
}

func (b *bloom) add(k [16]byte) {
	b.probes(&k, func(bit uint64) bool {
		b.bits[bit/64] |= 1 << (bit % 64)
		return true
	})
}

// mayContain is false only for keys that were never added.
func (b *bloom) mayContain(k [16]byte) bool {
	return b.probes(&k, func(bit uint64) bool { return b.bits[bit/64]&(1<<(bit%64)) != 0 })
}
