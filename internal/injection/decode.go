package injection

import (
	"encoding/base64"
	"math/bits"
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

func (d *Detector) decoded(sc *scratch, text string, src Source, depth int, budget *int, vs *views) {
	// The scan below never carries state across a byte <= ' ' (an encoded
	// span or a base64 run ends before one, and the byte after one starts
	// a step), so it runs only over the chunks between such bytes that
	// can hold something to decode: those with a '%' or '\\', or with 16
	// bytes or more. Prose has none; finding them costs a few word-wide
	// operations per 8 bytes.
	sc.chunks = encodedChunks(sc.chunks[:0], text)
	for _, ch := range sc.chunks {
		if *budget <= 0 {
			return
		}
		d.decodedRange(sc, text, ch[0], ch[1], src, depth, budget, vs)
	}
}

// encodedChunks appends, in order, the maximal runs of bytes > ' ' in
// text that hold a '%' or a '\\' or are at least minBase64 bytes long. It
// reads 8 bytes at a time: a run of 16 bytes or more covers a whole
// 8-byte block, so only blocks with no byte <= ' ', or with an escape
// byte, lead to a look at the run around them.
func encodedChunks(out [][2]int, text string) [][2]int {
	look := func(i int) int { // adds the run around text[i] if it counts; returns its end
		s, e := i, i
		for s > 0 && text[s-1] > ' ' {
			s--
		}
		for e < len(text) && text[e] > ' ' {
			e++
		}
		if e-s >= minBase64 || hasEscape(text[s:e]) {
			if n := len(out); n == 0 || out[n-1][0] != s {
				out = append(out, [2]int{s, e})
			}
		}
		return e
	}
	pos := 0
	for pos+8 <= len(text) {
		b := text[pos : pos+8]
		w := uint64(b[0]) | uint64(b[1])<<8 | uint64(b[2])<<16 | uint64(b[3])<<24 |
			uint64(b[4])<<32 | uint64(b[5])<<40 | uint64(b[6])<<48 | uint64(b[7])<<56
		// Bytes <= ' ' (bytes >= 0x80 never count), '%' and '\\'.
		spaces := (w - 0x2121212121212121) & ^w & 0x8080808080808080
		esc := hasZero(w^0x2525252525252525) | hasZero(w^0x5c5c5c5c5c5c5c5c)
		switch {
		case esc != 0:
			pos = look(pos + bits.TrailingZeros64(esc)/8)
		case spaces == 0:
			pos = look(pos)
		default:
			pos += 8
		}
	}
	for ; pos < len(text); pos++ {
		if text[pos] > ' ' {
			pos = look(pos)
		}
	}
	return out
}

// hasEscape reports whether s holds a '%' or a '\\'.
func hasEscape(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] == '%' || s[i] == '\\' {
			return true
		}
	}
	return false
}

// hasZero reports (in bit 7 of each byte) the zero bytes of w.
func hasZero(w uint64) uint64 { return (w - 0x0101010101010101) & ^w & 0x8080808080808080 }

// decodedRange is the scan of one chunk text[start:end].
func (d *Detector) decodedRange(sc *scratch, text string, start, end int, src Source, depth int, budget *int, vs *views) {
	for i := start; i < end && *budget > 0; {
		// Pass over bytes that start nothing.
		for i < end && encClass[text[i]] == 0 {
			i++
		}
		if i == end {
			break
		}
		c := text[i]
		switch {
		case c == '%' || (c == '\\' && i+1 < len(text) && text[i+1] == 'x'):
			j := spanEnd(text, i)
			d.try(sc, text, i, j, "url", src, depth, budget, vs)
			i = j
		case encClass[c] == encB64:
			j := i
			for j < len(text) && encClass[text[j]]&(encB64|encPad) != 0 {
				j++
			}
			if j-i >= minBase64 {
				enc := "base64"
				if isHexRun(text[i:j]) {
					enc = "hex"
				}
				d.try(sc, text, i, j, enc, src, depth, budget, vs)
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

// encClass classifies bytes for decoded: base64 alphabet (standard and
// URL), '=' padding, and the bytes that can start a URL- or \x-escape.
const (
	encB64 = 1 << iota
	encPad
	encEsc
)

var encClass = func() (t [256]uint8) {
	for c := range 256 {
		if isB64(byte(c)) {
			t[c] = encB64
		}
	}
	t['='] = encPad
	t['%'] = encEsc
	t['\\'] = encEsc
	return t
}()

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
func (d *Detector) reversed(text string, src Source, depth int, budget *int, vs *views) {
	if len(text) > *budget {
		return
	}
	r := []rune(text)
	slices.Reverse(r)
	d.screenDecoded(text, 0, len(text), "reversed", []byte(string(r)), src, depth, budget, vs)
}

// try decodes text[i:j] as enc and, when it reads as text, screens it.
// Base64 and hex decode into the scratch's buffers.
func (d *Detector) try(sc *scratch, text string, i, j int, enc string, src Source, depth int, budget *int, vs *views) {
	raw := text[i:j]
	var out []byte
	switch enc {
	case "hex":
		out = decodeHex(sc.dec[:0], raw) // isHexRun checked the digits
		sc.dec = out
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
		sc.raw = append(sc.raw[:0], strings.TrimRight(raw, "=")...)
		for _, e := range [...]*base64.Encoding{base64.RawStdEncoding, base64.RawURLEncoding} {
			if n := e.DecodedLen(len(sc.raw)); cap(sc.dec) < n {
				sc.dec = make([]byte, n, max(n, 2*cap(sc.dec)))
			}
			if n, err := e.Decode(sc.dec[:cap(sc.dec)], sc.raw); err == nil {
				out = sc.dec[:n]
				break
			}
		}
	}
	if len(out) < 8 || !readable(out) {
		return
	}
	d.screenDecoded(text, i, j, enc, out, src, depth, budget, vs)
}

// decodeHex appends the bytes that the hex digits in s (an even number of
// them, all valid) encode.
func decodeHex(dst []byte, s string) []byte {
	for k := 0; k+1 < len(s); k += 2 {
		dst = append(dst, hexVal(s[k])<<4|hexVal(s[k+1]))
	}
	return dst
}

func hexVal(c byte) byte {
	switch {
	case c >= 'a':
		return c - 'a' + 10
	case c >= 'A':
		return c - 'A' + 10
	}
	return c - '0'
}

// screenDecoded screens out, the decoding of text[i:j], and adds what it
// shows to ev.
func (d *Detector) screenDecoded(text string, i, j int, enc string, out []byte, src Source, depth int, budget *int, vs *views) {
	*budget -= len(out)
	sub := d.evidence(string(out), src, depth+1, budget)
	for k := 0; k < vs.n; k++ {
		sv, ev := &sub.v[k], &vs.v[k]
		if sv.z <= bias+2 {
			continue
		}
		// The decoded text's evidence counts for the whole text, as obfuscated.
		for c, w := range sv.cats {
			if sv.has&(1<<c) != 0 {
				ev.add(catID(c), w, Span{Start: i, End: j, Encoding: enc})
			}
		}
		ev.add(catObfuscate, 1.5, Span{Start: i, End: j, Encoding: enc})
		ev.dz = max(ev.dz, sv.z+1.5)
	}
}

// readable reports decoded bytes that are UTF-8 text, mostly letters and
// spaces: binary data decoded by accident is not.
func readable(b []byte) bool {
	if !utf8.Valid(b) {
		return false
	}
	good, n := 0, 0
	for k := 0; k < len(b); {
		r, size := utf8.DecodeRune(b[k:])
		k += size
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
