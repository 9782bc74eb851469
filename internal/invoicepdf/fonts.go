package invoicepdf

import (
	_ "embed"
	"encoding/binary"
	"errors"
	"sync"
)

// The fonts embedded in every PDF (see fonts/LICENSE). DejaVu Sans covers
// Latin, Greek, Cyrillic and the currency signs (€ £ ¥ ₹ ₩ ₽ ₺ …);
// Droid Sans Fallback covers Chinese and Japanese (and full-width forms
// such as ￥) and is added to a document only when its text needs it.
var (
	//go:embed fonts/DejaVuSans.ttf
	dejaVuSans []byte
	//go:embed fonts/DejaVuSans-Bold.ttf
	dejaVuSansBold []byte
	//go:embed fonts/DroidSansFallbackFull.ttf
	droidFallback []byte
)

// font is one embedded TrueType font and the characters it has glyphs for.
type font struct {
	family, style string // as registered with fpdf
	ttf           []byte
	once          sync.Once
	cov           *coverage
	err           error
}

var (
	fontRegular  = &font{family: "DejaVu", style: "", ttf: dejaVuSans}
	fontBold     = &font{family: "DejaVu", style: "B", ttf: dejaVuSansBold}
	fontFallback = &font{family: "DroidFallback", style: "", ttf: droidFallback}
)

// covers reports whether f has a glyph for r. The character map is parsed
// once per process.
func (f *font) covers(r rune) bool {
	f.once.Do(func() { f.cov, f.err = parseCoverage(f.ttf) })
	return f.err == nil && f.cov.has(r)
}

// coverage is the set of Basic Multilingual Plane characters a font maps to
// a glyph (fpdf's UTF-8 fonts are limited to the BMP).
type coverage [65536 / 64]uint64

func (c *coverage) has(r rune) bool {
	return r >= 0 && r < 65536 && c[r>>6]&(1<<(r&63)) != 0
}

func (c *coverage) set(lo, hi uint32) { // inclusive
	for r := lo; r <= hi && r < 65536; r++ {
		c[r>>6] |= 1 << (r & 63)
	}
}

var errCmap = errors.New("invoicepdf: font has no usable Unicode cmap")

// parseCoverage reads a TrueType font's 'cmap' table: the Unicode BMP
// subtable (platform 3 encoding 1, format 4) or, failing that, the full
// repertoire subtable (platform 3 encoding 10, format 12). A character
// counts as covered when it maps to a glyph other than .notdef.
func parseCoverage(ttf []byte) (*coverage, error) {
	u16 := func(b []byte, off int) (uint32, bool) {
		if off < 0 || off+2 > len(b) {
			return 0, false
		}
		return uint32(binary.BigEndian.Uint16(b[off:])), true
	}
	u32 := func(b []byte, off int) (uint32, bool) {
		if off < 0 || off+4 > len(b) {
			return 0, false
		}
		return binary.BigEndian.Uint32(b[off:]), true
	}
	numTables, ok := u16(ttf, 4)
	if !ok {
		return nil, errCmap
	}
	var cmap []byte
	for i := 0; i < int(numTables); i++ {
		rec := 12 + 16*i
		if rec+16 > len(ttf) {
			return nil, errCmap
		}
		if string(ttf[rec:rec+4]) == "cmap" {
			off, _ := u32(ttf, rec+8)
			n, _ := u32(ttf, rec+12)
			if uint64(off)+uint64(n) > uint64(len(ttf)) {
				return nil, errCmap
			}
			cmap = ttf[off : off+n]
		}
	}
	if cmap == nil {
		return nil, errCmap
	}
	nSub, ok := u16(cmap, 2)
	if !ok {
		return nil, errCmap
	}
	var fmt4, fmt12 []byte
	for i := 0; i < int(nSub); i++ {
		pid, ok1 := u16(cmap, 4+8*i)
		eid, ok2 := u16(cmap, 6+8*i)
		off, ok3 := u32(cmap, 8+8*i)
		if !ok1 || !ok2 || !ok3 || uint64(off) >= uint64(len(cmap)) {
			return nil, errCmap
		}
		sub := cmap[off:]
		format, _ := u16(sub, 0)
		switch {
		case pid == 3 && eid == 1 && format == 4:
			fmt4 = sub
		case pid == 3 && eid == 10 && format == 12:
			fmt12 = sub
		}
	}
	c := new(coverage)
	switch {
	case fmt4 != nil:
		segX2, ok := u16(fmt4, 6)
		if !ok {
			return nil, errCmap
		}
		n := int(segX2 / 2)
		ends, starts, deltas, ranges := 14, 16+2*n, 16+4*n, 16+6*n
		for s := 0; s < n; s++ {
			end, ok1 := u16(fmt4, ends+2*s)
			start, ok2 := u16(fmt4, starts+2*s)
			delta, ok3 := u16(fmt4, deltas+2*s)
			ro, ok4 := u16(fmt4, ranges+2*s)
			if !ok1 || !ok2 || !ok3 || !ok4 {
				return nil, errCmap
			}
			for r := start; r <= end && r != 0xFFFF; r++ {
				glyph := uint32(0)
				if ro == 0 {
					glyph = (r + delta) & 0xFFFF
				} else {
					g, ok := u16(fmt4, ranges+2*s+int(ro)+2*int(r-start))
					if ok && g != 0 {
						glyph = (g + delta) & 0xFFFF
					}
				}
				if glyph != 0 {
					c.set(r, r)
				}
			}
		}
	case fmt12 != nil:
		nGroups, ok := u32(fmt12, 12)
		if !ok {
			return nil, errCmap
		}
		for g := 0; g < int(nGroups); g++ {
			lo, ok1 := u32(fmt12, 16+12*g)
			hi, ok2 := u32(fmt12, 20+12*g)
			gid, ok3 := u32(fmt12, 24+12*g)
			if !ok1 || !ok2 || !ok3 {
				return nil, errCmap
			}
			if gid == 0 {
				lo++ // the first character maps to .notdef
			}
			if lo <= hi {
				c.set(lo, hi)
			}
		}
	default:
		return nil, errCmap
	}
	return c, nil
}
