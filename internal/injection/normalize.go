package injection

import (
	"unicode"
	"unicode/utf8"

	"golang.org/x/text/unicode/norm"
)

// folded is the text every signal reads: compatibility-decomposed (NFKD, so
// full-width letters, ligatures, Roman numerals and mathematical
// alphanumerics become their plain letters), combining marks dropped (so
// "précédentes" reads "precedentes"), lower-cased, Cyrillic and Greek
// look-alikes folded to the Latin letters they imitate, and zero-width,
// bidi and other format characters removed. off[i] is the byte offset in
// the original text that folded byte i came from, so a match maps back to
// the original.
type folded struct {
	b   []byte
	off []int32
	// nonASCII counts original runes that needed the slow path.
	nonASCII int
	// hidden counts removed format characters (zero-width, bidi).
	hidden int
}

func (f *folded) reset() {
	f.b, f.off, f.nonASCII, f.hidden = f.b[:0], f.off[:0], 0, 0
}

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

// fold fills f from s.
func (f *folded) fold(s string) {
	f.reset()
	var scratch [32]byte
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			if 'A' <= c && c <= 'Z' {
				c += 'a' - 'A'
			}
			f.b = append(f.b, c)
			f.off = append(f.off, int32(i))
			i++
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		f.nonASCII++
		if hiddenRune(r) {
			f.hidden++
			i += size
			continue
		}
		d := norm.NFKD.AppendString(scratch[:0], s[i:i+size])
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
			n := len(f.b)
			f.b = utf8.AppendRune(f.b, dr)
			for ; n < len(f.b); n++ {
				f.off = append(f.off, int32(i))
			}
		}
		i += size
	}
}

// orig maps a folded byte range to the original byte range.
func (f *folded) orig(start, end int, text string) (int, int) {
	if len(f.off) == 0 {
		return 0, 0
	}
	if start >= len(f.off) {
		start = len(f.off) - 1
	}
	s := int(f.off[start])
	e := len(text)
	if end < len(f.off) {
		e = int(f.off[end])
	}
	if e < s {
		e = s
	}
	return s, e
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
