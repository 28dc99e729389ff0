package injection

import (
	"encoding/base64"
	"encoding/hex"
	"net/url"
	"slices"
	"strings"
	"unicode/utf8"
)

// Encoded spans: an instruction hidden as base64, hex or URL-encoding is
// decoded and screened too (ROT13 needs no decoding: the lexicon knows
// its words' ROT13 spellings). A decoded span that screens as an
// injection makes the whole text one, under the obfuscation category, with
// the encoded span's offsets.
const (
	minBase64 = 16
	minHex    = 16
)

func (d *Detector) decoded(text string, src Source, depth int, budget *int, ev *evidence) {
	for i := 0; i < len(text) && *budget > 0; {
		c := text[i]
		switch {
		case c == '%' || (c == '\\' && i+1 < len(text) && text[i+1] == 'x'):
			j := spanEnd(text, i)
			d.try(text, i, j, "url", src, depth, budget, ev)
			i = j
		case isB64(c):
			j := i
			for j < len(text) && (isB64(text[j]) || text[j] == '=') {
				j++
			}
			if j-i >= minBase64 {
				enc := "base64"
				if isHexRun(text[i:j]) {
					enc = "hex"
				}
				d.try(text, i, j, enc, src, depth, budget, ev)
			}
			i = j
			if i < len(text) && text[i] == '%' {
				continue
			}
			if i < len(text) {
				i++
			}
		default:
			i++
		}
	}
}

func spanEnd(s string, i int) int {
	j := i
	for j < len(s) && s[j] > ' ' && s[j] != '"' && s[j] != '\'' && s[j] != '<' && s[j] != '>' {
		j++
	}
	return j
}

func isB64(c byte) bool {
	return 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '+' || c == '/' || c == '-' || c == '_'
}

func isHexRun(s string) bool {
	if len(s)%2 != 0 || len(s) < minHex {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !('0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F') {
			return false
		}
	}
	return true
}

// reversed screens text written backwards (with a right-to-left override
// or with the request to read it in reverse): the whole text, reversed by
// characters, is one decoded span.
func (d *Detector) reversed(text string, src Source, depth int, budget *int, ev *evidence) {
	if len(text) > *budget {
		return
	}
	r := []rune(text)
	slices.Reverse(r)
	d.screenDecoded(text, 0, len(text), "reversed", []byte(string(r)), src, depth, budget, ev)
}

// try decodes text[i:j] as enc and, when it reads as text, screens it.
func (d *Detector) try(text string, i, j int, enc string, src Source, depth int, budget *int, ev *evidence) {
	raw := text[i:j]
	var out []byte
	switch enc {
	case "hex":
		b, err := hex.DecodeString(raw)
		if err != nil {
			return
		}
		out = b
	case "url":
		if strings.Count(raw, "%")+strings.Count(raw, `\x`) < 3 {
			return
		}
		s := strings.ReplaceAll(raw, `\x`, "%")
		u, err := url.QueryUnescape(s)
		if err != nil {
			u, err = url.PathUnescape(s)
			if err != nil {
				return
			}
		}
		out = []byte(u)
	default:
		s := strings.TrimRight(raw, "=")
		for _, e := range []*base64.Encoding{base64.RawStdEncoding, base64.RawURLEncoding} {
			if b, err := e.DecodeString(s); err == nil {
				out = b
				break
			}
		}
	}
	if len(out) < 8 || !readable(out) {
		return
	}
	d.screenDecoded(text, i, j, enc, out, src, depth, budget, ev)
}

// screenDecoded screens out, the decoding of text[i:j], and adds what it
// shows to ev.
func (d *Detector) screenDecoded(text string, i, j int, enc string, out []byte, src Source, depth int, budget *int, ev *evidence) {
	*budget -= len(out)
	sub := d.evidence(string(out), src, depth+1, budget)
	if sub.z <= bias+2 {
		return
	}
	// The decoded text's evidence counts for the whole text, as obfuscated.
	for c, w := range sub.cats {
		ev.add(c, w, Span{Start: i, End: j, Encoding: enc})
	}
	ev.add(CatObfuscate, 1.5, Span{Start: i, End: j, Encoding: enc})
	if z := sub.z + 1.5; z > ev.z {
		ev.z = z
	}
}

// readable reports decoded bytes that are UTF-8 text, mostly letters and
// spaces: binary data decoded by accident is not.
func readable(b []byte) bool {
	if !utf8.Valid(b) {
		return false
	}
	good, n := 0, 0
	for _, r := range string(b) {
		n++
		switch {
		case r == ' ' || r == '\n' || r == '\t' || r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z':
			good++
		case r < ' ' || r == 0x7F || r == utf8.RuneError:
			return false
		}
	}
	return n > 0 && good*10 >= n*7
}
