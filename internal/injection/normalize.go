package injection

import (
	"encoding/binary"
	"sync"
	"unicode"
	"unicode/utf8"

	"golang.org/x/text/unicode/norm"
)

// folded is the text every signal reads: compatibility-decomposed (NFKD, so
// full-width letters, ligatures, Roman numerals and mathematical
// alphanumerics become their plain letters), combining marks dropped (so
// "précédentes" reads "precedentes"), lower-cased, Cyrillic and Greek
// look-alikes folded to the Latin letters they imitate, and zero-width,
// bidi and other format characters removed. segs map folded bytes back to
// the bytes of the original text they came from (see orig), so a match
// maps back to the original.
type folded struct {
	b    []byte
	segs []foldSeg
	// nonASCII counts original runes that needed the slow path.
	nonASCII int
	// hidden counts removed format characters (zero-width, bidi) and
	// invalid bytes.
	hidden int
	// bidi: the text holds a bidi embedding, override or isolate.
	bidi bool
	// tmp is foldRune's buffer (a local one would escape: one allocation
	// per call).
	tmp [32]byte
}

// foldSeg: the folded bytes from f on (to the next segment) came from the
// original text at o: one byte each from an ASCII run (run), or all of
// them from the one rune at o.
type foldSeg struct {
	f, o int32
	run  bool
}

func (f *folded) reset() {
	f.b, f.segs, f.nonASCII, f.hidden, f.bidi = f.b[:0], f.segs[:0], 0, 0, false
}

// lower maps ASCII upper-case letters to lower case and every other byte
// to itself.
var lower = func() (t [256]byte) {
	for i := range t {
		t[i] = byte(i)
		if 'A' <= i && i <= 'Z' {
			t[i] = byte(i + 'a' - 'A')
		}
	}
	return t
}()

// confusables maps look-alike letters (after lower-casing) to the Latin
// letter a reader sees. It covers the Cyrillic and Greek letters used in
// homoglyph attacks and a few IPA and Latin-extended ones; it is not the
// whole Unicode confusables table, which would fold real text in other
// scripts that the rules do not cover anyway.
var confusables = map[rune]rune{
	// Cyrillic
	'а': 'a', 'в': 'b', 'е': 'e', 'ё': 'e', 'һ': 'h', 'і': 'i', 'ї': 'i', 'ј': 'j', 'к': 'k',
	'м': 'm', 'н': 'h', 'о': 'o', 'р': 'p', 'с': 'c', 'т': 't', 'у': 'y', 'х': 'x', 'ѕ': 's',
	'ԁ': 'd', 'ԛ': 'q', 'ԝ': 'w', 'ү': 'y', 'ɡ': 'g', 'г': 'r', 'п': 'n', 'ո': 'n', 'ց': 'g',
	'ѡ': 'w', 'ӏ': 'l', 'ʟ': 'l', 'ɪ': 'i', 'ᴀ': 'a', 'ᴇ': 'e', 'ᴏ': 'o', 'ʀ': 'r', 'ѵ': 'v',
	// Greek
	'α': 'a', 'β': 'b', 'ε': 'e', 'η': 'n', 'ι': 'i', 'κ': 'k', 'ν': 'v', 'ο': 'o', 'ρ': 'p',
	'τ': 't', 'υ': 'u', 'χ': 'x', 'ω': 'w', 'ϲ': 'c', 'ϳ': 'j', 'γ': 'y', 'μ': 'u', 'ς': 's',
	'ζ': 'z', 'δ': 'd', 'λ': 'l',
	// Latin extended and symbols
	'ı': 'i', 'ł': 'l', 'ø': 'o', 'đ': 'd', 'ħ': 'h', 'ŧ': 't', 'ƅ': 'b', 'ɑ': 'a', 'ß': 's',
	'ſ': 's', 'æ': 'a', 'œ': 'o', '\u2019': '\'', '\u2018': '\'', '\u02bc': '\'',
	'\u201c': '"', '\u201d': '"', '\u201e': '"', '«': '"', '»': '"', '‹': '"', '›': '"',
}

// hiddenRune reports characters that render as nothing: zero-width spaces
// and joiners, bidi embeddings, overrides and isolates, the soft hyphen,
// tag characters and every other format (Cf) character.
func hiddenRune(r rune) bool {
	switch {
	case r == 0xAD, r == 0x34F, r == 0x180E, r == 0xFEFF:
		return true
	case r >= 0x200B && r <= 0x200F, r >= 0x202A && r <= 0x202E, r >= 0x2060 && r <= 0x206F:
		return true
	case r >= 0xE0000 && r <= 0xE007F, r >= 0xFE00 && r <= 0xFE0F:
		return true
	}
	return unicode.Is(unicode.Cf, r)
}

// fold fills f from s. Runs of ASCII bytes take a fast path (lower-case
// only); NFKD, mark dropping and look-alike folding run per non-ASCII rune.
func (f *folded) fold(s string) {
	f.reset()
	if cap(f.b) < len(s) {
		f.b = make([]byte, 0, len(s)+len(s)/8)
	}
	var ft *runeFolds
	for i := 0; i < len(s); {
		if s[i] < utf8.RuneSelf {
			n := len(f.b)
			f.segs = append(f.segs, foldSeg{f: int32(n), o: int32(i), run: true})
			var j int
			f.b, j = appendLowerASCII(f.b, s, i)
			i = j
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		f.nonASCII++
		// An invalid byte is not a character: a model is shown U+FFFD for
		// it, which hides nothing from its reader. It is removed like the
		// invisible characters, so a word cut by one still reads whole.
		if hiddenFast(r) || r == utf8.RuneError && size == 1 {
			f.hidden++
			if r >= 0x202A && r <= 0x202E || r >= 0x2066 && r <= 0x2069 {
				f.bidi = true
			}
			i += size
			continue
		}
		n := len(f.b)
		if ft == nil {
			ft = foldTable()
		}
		if e, ok := ft.get(r); ok && size > 1 {
			f.b = append(f.b, ft.pool[e.off:e.off+uint32(e.n)]...)
		} else if r >= cjkLo && r < cjkHi {
			f.b = append(f.b, s[i:i+size]...) // folds to itself (TestFoldCJKIdentity)
		} else {
			f.b = foldRune(f.b, s[i:i+size], &f.tmp)
		}
		if len(f.b) > n {
			f.segs = append(f.segs, foldSeg{f: int32(n), o: int32(i)})
		}
		i += size
	}
}

// The CJK Unified Ideographs: every one folds to itself.
const cjkLo, cjkHi = 0x4E00, 0xA000

// appendLowerASCII appends the run of ASCII bytes at s[i:], lower-cased,
// to b, and returns b and the end of the run. It reads 8 bytes at a time.
func appendLowerASCII(b []byte, s string, i int) ([]byte, int) {
	for i+8 <= len(s) {
		c := s[i : i+8]
		w := uint64(c[0]) | uint64(c[1])<<8 | uint64(c[2])<<16 | uint64(c[3])<<24 |
			uint64(c[4])<<32 | uint64(c[5])<<40 | uint64(c[6])<<48 | uint64(c[7])<<56
		if w&0x8080808080808080 != 0 {
			break // the run ends in these 8 bytes
		}
		// Bytes in 'A'..'Z' get 0x20: their high bit after adding
		// 0x80-'A' is set (>= 'A') and after adding 0x80-'Z'-1 is not
		// (<= 'Z'); no byte carries into the next, all are < 0x80.
		ge := w + 0x3f3f3f3f3f3f3f3f // 0x80 - 'A' = 0x3f
		gt := w + 0x2525252525252525 // 0x80 - 'Z' - 1 = 0x25
		w |= (ge &^ gt & 0x8080808080808080) >> 2
		b = binary.LittleEndian.AppendUint64(b, w)
		i += 8
	}
	for i < len(s) && s[i] < utf8.RuneSelf {
		b = append(b, lower[s[i]])
		i++
	}
	return b, i
}

// hiddenFast is hiddenRune, from a table below U+3000.
func hiddenFast(r rune) bool {
	if r < 0x3000 {
		return hiddenLow[r>>6]&(1<<(r&63)) != 0
	}
	return hiddenRune(r)
}

var hiddenLow = func() (t [0x3000 / 64]uint64) {
	for r := rune(0); r < 0x3000; r++ {
		if hiddenRune(r) {
			t[r>>6] |= 1 << (r & 63)
		}
	}
	return t
}()

// foldRune appends the folding of one rune (its bytes r): NFKD, marks
// and hidden characters dropped, lower-cased, look-alikes made Latin.
func foldRune(b []byte, r string, scratch *[32]byte) []byte {
	d := norm.NFKD.AppendString(scratch[:0], r)
	for len(d) > 0 {
		dr, ds := utf8.DecodeRune(d)
		d = d[ds:]
		if unicode.Is(unicode.Mn, dr) || hiddenRune(dr) {
			continue
		}
		dr = unicode.ToLower(dr)
		if m, ok := confusables[dr]; ok {
			dr = m
		}
		b = utf8.AppendRune(b, dr)
	}
	return b
}

// foldTable holds foldRune's answer for the runes that text in the
// languages the rules cover (and attacks on them) mostly uses: U+0080 to
// U+2FFF (Latin, Greek, Cyrillic, punctuation, letter-like symbols) and
// the full-width forms. Other runes take foldRune itself. It is built on
// first use.
var foldTable = sync.OnceValue(func() *runeFolds {
	t := &runeFolds{}
	var scratch [32]byte
	for _, rg := range [...][2]rune{{0x80, 0x3000}, {0xFF00, 0xFFF0}} {
		t.lo = append(t.lo, rg[0])
		t.hi = append(t.hi, rg[1])
		t.base = append(t.base, int32(len(t.e)))
		for r := rg[0]; r < rg[1]; r++ {
			off := len(t.pool)
			t.pool = foldRune(t.pool, string(r), &scratch)
			t.e = append(t.e, foldEntry{off: uint32(off), n: uint8(len(t.pool) - off)})
		}
	}
	return t
})

type runeFolds struct {
	lo, hi []rune  // ranges [lo, hi)
	base   []int32 // each range's first entry
	e      []foldEntry
	pool   []byte
}

type foldEntry struct {
	off uint32
	n   uint8
}

func (t *runeFolds) get(r rune) (foldEntry, bool) {
	for k, lo := range t.lo {
		if r >= lo && r < t.hi[k] {
			return t.e[t.base[k]+int32(r-lo)], true
		}
	}
	return foldEntry{}, false
}

// orig maps a folded byte range to the original byte range: from the
// start of the character folded byte start came from to the end of the
// character folded byte end-1 came from. Characters folding removed
// (zero-width, bidi, invalid bytes) after the range are not in it, so a
// range ends where its last character does, on a character boundary.
func (f *folded) orig(start, end int, text string) (int, int) {
	if len(f.b) == 0 {
		return 0, 0
	}
	start = min(start, len(f.b)-1)
	s := f.at(start)
	if end <= start {
		return s, s
	}
	end = min(end, len(f.b))
	return s, max(s, f.atEnd(end-1, text))
}

// seg is the index of the last segment starting at or before folded byte
// x (0 <= x < len(f.b)).
func (f *folded) seg(x int) int {
	lo, hi := 0, len(f.segs)
	for hi-lo > 1 {
		m := int(uint(lo+hi) >> 1)
		if int(f.segs[m].f) <= x {
			lo = m
		} else {
			hi = m
		}
	}
	return lo
}

// at is the original offset of folded byte x (0 <= x < len(f.b)).
func (f *folded) at(x int) int {
	sg := f.segs[f.seg(x)]
	if sg.run {
		return int(sg.o) + x - int(sg.f)
	}
	return int(sg.o)
}

// atEnd is the original offset just past the character folded byte x
// (0 <= x < len(f.b)) came from.
func (f *folded) atEnd(x int, text string) int {
	sg := f.segs[f.seg(x)]
	if sg.run {
		return int(sg.o) + x - int(sg.f) + 1
	}
	_, size := utf8.DecodeRuneInString(text[sg.o:])
	return int(sg.o) + size
}

// leet folds digits and symbols used as letters inside a word that also
// has letters ("1gn0re" → "ignore", "pr3v10us" → "previous"). A word of
// digits only is a number and is left alone.
func leet(c byte) (byte, bool) {
	switch c {
	case '0':
		return 'o', true
	case '1', '!', '|':
		return 'i', true
	case '3':
		return 'e', true
	case '4', '@':
		return 'a', true
	case '5', '$':
		return 's', true
	case '7', '+':
		return 't', true
	case '8':
		return 'b', true
	case '9':
		return 'g', true
	}
	return 0, false
}

func isLetter(c byte) bool { return 'a' <= c && c <= 'z' || c >= 0x80 }
func isDigit(c byte) bool  { return '0' <= c && c <= '9' }
