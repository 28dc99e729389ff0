package injection

import (
	"encoding/binary"
	"math/bits"
)

// Reported speech. Security training, alert triage notes and support
// tickets quote attacks ("users type 'ignore all previous instructions'",
// "tokens like <|im_start|>"); a phrase inside quotation marks or an HTML
// code span, or one that a cue word ("such as", "like") introduces, in
// text that also talks about examples, attacks or detection, weighs
// quoteDamp of its weight. An attacker who wraps an instruction in quotes
// and adds "for example" lowers its score; that is why the deterministic
// controls (see the session package) do not depend on the detector.
const quoteDamp = 0.3

// maxQuote bounds a quoted stretch, in folded bytes.
const maxQuote = 400

// quotes records the quoted stretches of folded text f in sc.quotes: text
// between a pair of '"' or '`', or of single quotes at word boundaries
// (apostrophes inside words are not quotes). In JSON text ('{' or '[' first)
// bare '"' is syntax and only an escaped \" quotes.
func quotes(sc *scratch, f []byte) {
	sc.quotes = sc.quotes[:0]
	json := false
	for _, c := range f {
		if c == ' ' || c == '\n' || c == '\t' || c == '\r' {
			continue
		}
		json = c == '{' || c == '['
		break
	}
	opens := func(i int) bool {
		switch f[i] {
		case '<':
			return codeTag(f, i, "<code>")
		case '`':
			return true
		case '"':
			return !json || i > 0 && f[i-1] == '\\'
		case '\'':
			return (i == 0 || !isWordByte(f[i-1])) && i+1 < len(f) && f[i+1] != ' '
		}
		return false
	}
	closes := func(i int, q byte) bool {
		if q == '<' {
			return codeTag(f, i, "</code>")
		}
		if f[i] != q {
			return false
		}
		switch q {
		case '"':
			return !json || f[i-1] == '\\'
		case '\'':
			return f[i-1] != ' ' && (i+1 == len(f) || !isWordByte(f[i+1]))
		}
		return true
	}
	for i := 0; i < len(f); i++ {
		i = quoteByte(f, i)
		if i == len(f) || !opens(i) {
			continue
		}
		q := f[i]
		for j := i + 1; j < len(f) && j <= i+maxQuote; j++ {
			if f[j] == '\n' && j+1 < len(f) && f[j+1] == '\n' {
				break // a paragraph ends any quote
			}
			if closes(j, q) {
				if q == '<' {
					j += len("</code>") - 1
				}
				sc.quotes = append(sc.quotes, [2]int32{int32(i), int32(j + 1)})
				i = j
				break
			}
		}
	}
}

// codeTag reports whether f holds tag at i (HTML code spans quote too).
func codeTag(f []byte, i int, tag string) bool {
	return len(f)-i >= len(tag) && string(f[i:i+len(tag)]) == tag
}

// inQuotes reports whether folded range [s, e) overlaps a quote: a
// match inside one, or one that runs into or out of one (the words around a
// quoted attack are commentary on it).
func inQuotes(sc *scratch, s, e int) bool {
	// Quotes are sorted and disjoint: find the first that ends after s.
	q := sc.quotes
	lo, hi := 0, len(q)
	for lo < hi {
		m := int(uint(lo+hi) >> 1)
		if int(q[m][1]) <= s {
			lo = m + 1
		} else {
			hi = m
		}
	}
	return lo < len(q) && int(q[lo][0]) < e
}

// reported reports whether a match at folded [s, e) is quoted in text that
// discusses attacks or examples.
func reported(sc *scratch, s, e int) bool {
	return sc.meta && inQuotes(sc, s, e)
}

// mentionBack bounds how many words before a match a cue may stand.
const (
	mentionBackRule   = 3
	mentionBackMarker = 6
)

// cited reports a match whose first word is toks[i] (or, for a marker, the
// word before which it stands: toks[i] is the first word after it, i may
// be len(toks)) and that a cue word introduces ("phrases like …", "a
// sentence such as …") within back words before it in the same sentence,
// in text that discusses attacks or examples: reported speech without
// quotation marks. The cue itself does not make the text discuss attacks:
// another word must ("for example, ignore your instructions" is not
// cited).
func cited(sc *scratch, toks []token, i, back int, gapBreak bool) bool {
	if !sc.meta || gapBreak {
		return false
	}
	for k, n := i-1, 0; k >= 0 && n < back; k, n = k-1, n+1 {
		if toks[k].c&cMention != 0 && (sc.metaWords > 1 || toks[k].c&cMeta == 0) {
			return true
		}
		if toks[k].brk {
			return false
		}
	}
	return false
}

// quoteByte is the offset of the first '"', '\”, '`' or '<' in f at or
// after i (len(f) if none), found 8 bytes at a time.
func quoteByte(f []byte, i int) int {
	for ; i+8 <= len(f); i += 8 {
		w := binary.LittleEndian.Uint64(f[i:])
		if m := hasZero(w^0x2222222222222222) | hasZero(w^0x2727272727272727) | hasZero(w^0x6060606060606060) |
			hasZero(w^0x3c3c3c3c3c3c3c3c); m != 0 {
			return i + bits.TrailingZeros64(m)/8
		}
	}
	for ; i < len(f); i++ {
		if c := f[i]; c == '"' || c == '\'' || c == '`' || c == '<' {
			return i
		}
	}
	return i
}
