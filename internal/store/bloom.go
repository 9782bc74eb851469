package store

import "encoding/binary"

// bloom is a Bloom filter over 128-bit keys that are themselves uniformly
// random (prefixes of SHA-256 digests), so its probes are taken from the
// key's own bits. It answers "certainly absent" or "maybe present".
type bloom struct {
	bits []uint64
	m    uint64 // number of bits
	n    int    // keys added
	cap  int    // keys it was sized for (10 bits and 7 probes each: about 1 % false positives)
}

const bloomProbes = 7

func newBloom(capacity int) *bloom {
	capacity = max(capacity, 1<<16)
	m := uint64(capacity) * 10
	return &bloom{bits: make([]uint64, (m+63)/64), m: m, cap: capacity}
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
	b.n++
}

// mayContain is false only for keys that were never added.
func (b *bloom) mayContain(k [16]byte) bool {
	return b.probes(&k, func(bit uint64) bool { return b.bits[bit/64]&(1<<(bit%64)) != 0 })
}

// full reports whether the filter holds more keys than it was sized for.
func (b *bloom) full() bool { return b.n > b.cap }
