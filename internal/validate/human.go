package validate

import (
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/komand-ai/komand/internal/apperr"
)

// One rule for every human-readable field (issue 15): what a person reads
// in the console, an audit entry, a log line or a model's prompt must be
// the text it looks like. Two strictness levels:
//
//   - Line (names, titles, display names, e-mail addresses, contact
//     fields): one line, no control character at all (C0 including tab
//     and newline, DEL, C1), no line or paragraph separator.
//   - Prose (descriptions, system prompts, notes): several lines; tab,
//     newline and CR LF are allowed, a lone CR (which rewrites a line in a
//     terminal or a log) is not; so are the left-to-right, right-to-left
//     and Arabic letter marks (U+200E, U+200F, U+061C), which right-to-left
//     text needs to place neutral characters and which cannot reorder
//     anything.
//
// Both refuse, anywhere:
//
//   - bidi embeddings, overrides and isolates (U+202A–U+202E,
//     U+2066–U+2069), which reorder what is shown ("Trojan Source");
//   - invisible characters: the zero-width space U+200B, the word joiner
//     and invisible operators U+2060–U+2064, the byte order mark U+FEFF,
//     the soft hyphen, Hangul fillers, tag characters (U+E0000–U+E007F,
//     a known way to smuggle text to a model) and every other format
//     (Cf) character not allowed below;
//   - the zero-width non-joiner U+200C and joiner U+200D except where a
//     language needs them: between two letters or marks of one script
//     that shapes with them (Arabic, Persian, Syriac, N'Ko, Mongolian,
//     Indic and Southeast Asian scripts) or after one at a word's end, and
//     the joiner between two parts of an emoji sequence (👩‍💻).
//     "ad\u200dmin" is refused: Latin letters never join, and it would
//     look like "admin".
//
// The Arabic number signs that are format characters but visible
// (U+0600–U+0605, U+06DD, U+070F, U+08E2, U+110BD, U+110CD) are allowed.
// Line marks (LRM, RLM, ALM) are refused in Line fields: a name is short,
// can be shown with dir="auto", and an invisible mark only helps a
// look-alike.

// Line checks a single-line human-readable field (its length and
// presence are checked apart, with Text or MaxLen).
func Line(field, v string) error { return human(field, v, false) }

// Prose checks a multi-line human-readable field.
func Prose(field, v string) error { return human(field, v, true) }

// Name checks a required single-line human-readable field of at most
// max characters: Text and Line.
func Name(field, v string, max int) error {
	if err := Text(field, v, max); err != nil {
		return err
	}
	return Line(field, v)
}

func human(field, v string, multiline bool) error {
	if !utf8.ValidString(v) {
		return apperr.Field(field, "must be valid UTF-8")
	}
	prev := rune(-1)
	for i, r := range v {
		switch {
		case r == '\n' || r == '\t':
			if !multiline {
				return apperr.Field(field, "must be one line without control characters")
			}
		case r == '\r':
			if !multiline || i+1 >= len(v) || v[i+1] != '\n' {
				return apperr.Field(field, "must not contain control characters")
			}
		case r < 0x20 || r == 0x7f || r >= 0x80 && r < 0xa0:
			return apperr.Field(field, "must not contain control characters")
		case r == 0x2028 || r == 0x2029:
			return apperr.Field(field, "must not contain line or paragraph separators")
		case r >= 0x202a && r <= 0x202e || r >= 0x2066 && r <= 0x2069:
			return apperr.Field(field, "must not contain bidirectional control characters")
		case r == 0x200e || r == 0x200f || r == 0x061c:
			if !multiline {
				return apperr.Field(field, "must not contain bidirectional control characters")
			}
		case r == 0x200c || r == 0x200d:
			next := rune(-1) // the end of the text
			if rest := v[i+utf8.RuneLen(r):]; rest != "" {
				next, _ = utf8.DecodeRuneInString(rest)
			}
			if !joins(r, prev, next) {
				return apperr.Field(field, "must not contain invisible characters")
			}
		case invisible(r):
			return apperr.Field(field, "must not contain invisible characters")
		}
		prev = r
	}
	return nil
}

// invisible reports the characters refused as rendering as nothing (or
// as a blank that is not a space): every format character but the
// visible Arabic number signs, and the Hangul fillers.
func invisible(r rune) bool {
	switch r {
	case 0x0600, 0x0601, 0x0602, 0x0603, 0x0604, 0x0605, 0x06dd, 0x070f, 0x08e2, 0x110bd, 0x110cd:
		return false
	case 0x115f, 0x1160, 0x3164, 0xffa0, 0x034f, 0x180e:
		return true
	}
	return unicode.Is(unicode.Cf, r)
}

// joinerScripts are the scripts whose shaping uses ZWJ and ZWNJ.
var joinerScripts = []*unicode.RangeTable{
	unicode.Arabic, unicode.Syriac, unicode.Nko, unicode.Mongolian, unicode.Devanagari, unicode.Bengali,
	unicode.Gurmukhi, unicode.Gujarati, unicode.Oriya, unicode.Tamil, unicode.Telugu, unicode.Kannada,
	unicode.Malayalam, unicode.Sinhala, unicode.Myanmar, unicode.Khmer, unicode.Tibetan, unicode.Thaana,
}

// joins reports a joiner j between prev and next (-1: the text's start
// or end) that a language needs: after a letter or mark of a joining
// script, before a letter of the same script or where a word ends (the
// Malayalam chillu "ന്‍" ends with a joiner).
func joins(j, prev, next rune) bool {
	if prev < 0 {
		return false
	}
	wordEnd := next < 0 || !unicode.IsLetter(next) && !unicode.Is(unicode.M, next) && next != 0x200c && next != 0x200d
	for _, s := range joinerScripts {
		if unicode.Is(s, prev) && (wordEnd || unicode.Is(s, next)) { // a script's marks (virama) are in it
			return true
		}
		// A mark of the Inherited script (a shadda, a nukta used across
		// scripts) takes its base's script: accept it before a letter of
		// a joining script.
		if unicode.Is(unicode.Inherited, prev) && unicode.Is(s, next) {
			return true
		}
	}
	// Emoji ZWJ sequences: an emoji (with its variation selector or skin
	// tone, if any) joined to another emoji.
	return j == 0x200d && emojiPart(prev) && unicode.Is(unicode.So, next)
}

func emojiPart(r rune) bool {
	return unicode.Is(unicode.So, r) || r == 0xfe0f || r >= 0x1f3fb && r <= 0x1f3ff
}

// StripLine returns v without what Line refuses in it (invalid bytes
// become U+FFFD first), for names a platform supplies and a person cannot
// correct, such as a Telegram user's first name: the message is taken,
// and the name it is shown under is the visible one.
func StripLine(v string) string {
	v = strings.ToValidUTF8(v, "\uFFFD")
	if Line("", v) == nil {
		return v
	}
	var b strings.Builder
	prev := rune(-1)
	for i, r := range v {
		keep := true
		switch {
		case r < 0x20 || r == 0x7f || r >= 0x80 && r < 0xa0, r == 0x2028 || r == 0x2029,
			r >= 0x202a && r <= 0x202e || r >= 0x2066 && r <= 0x2069, r == 0x200e || r == 0x200f || r == 0x061c:
			keep = false
		case r == 0x200c || r == 0x200d:
			next := rune(-1)
			if rest := v[i+utf8.RuneLen(r):]; rest != "" {
				next, _ = utf8.DecodeRuneInString(rest)
			}
			keep = joins(r, prev, next)
		case invisible(r):
			keep = false
		}
		if keep {
			b.WriteRune(r)
			prev = r
		}
	}
	return b.String()
}
