package injection

import "bytes"

// token is one word of the folded text.
type token struct {
	start, end int32 // folded byte range
	text       []byte
	c          concept
	lit        litSet // literal words the rules name
	leet       bool   // digits or symbols were read as letters
	spaced     bool   // rebuilt from spaced-out letters
	brk        bool   // a sentence or line ends before this word
}

// tokenizer splits folded text into words and looks them up. Its buffers
// are reused between calls.
type tokenizer struct {
	d    *detectorTables
	toks []token
	buf  []byte // backing store for rewritten words
	// cache holds lookups of words seen before by this tokenizer (each
	// pooled scratch has one): one map access instead of one per prefix
	// length. It stops growing at maxCache words.
	cache map[string]wordInfo
}

const maxCache = 8192

func (t *tokenizer) lookup(w []byte) wordInfo {
	if wi, ok := t.cache[string(w)]; ok {
		return wi
	}
	wi := t.d.words[string(w)]
	wi.c |= t.d.lex.prefixes(w)
	if t.cache == nil {
		t.cache = make(map[string]wordInfo, 256)
	}
	if len(t.cache) < maxCache {
		t.cache[string(w)] = wi
	}
	return wi
}

func isWordByte(c byte) bool { return isLetter(c) || isDigit(c) }

func (t *tokenizer) run(f []byte) {
	t.toks, t.buf = t.toks[:0], t.buf[:0]
	if cap(t.buf) < len(f)+64 {
		// Rewritten words point into buf, so it must not move while
		// tokens are being made.
		t.buf = make([]byte, 0, len(f)+64)
	}
	for i := 0; i < len(f); {
		c := f[i]
		if !isWordByte(c) {
			i++
			continue
		}
		if c == 'h' || c == 'w' {
			if n := urlLen(f[i:]); n > 0 {
				t.add(token{start: int32(i), end: int32(i + n), text: f[i : i+n], c: cTarget})
				i += n
				continue
			}
		}
		j, letters, other, email := scanWord(f, i)
		if email {
			t.add(token{start: int32(i), end: int32(j), text: f[i:j], c: cTarget})
		} else {
			t.word(i, j, f[i:j], letters, other)
		}
		i = j
	}
	t.respace(f)
	for k := 1; k < len(t.toks); k++ {
		t.toks[k].brk = sentenceBreak(f[t.toks[k-1].end:t.toks[k].start])
	}
	for k := range t.toks {
		tk := &t.toks[k]
		if tk.c == 0 && tk.lit.empty() {
			wi := t.lookup(tk.text)
			tk.c, tk.lit = wi.c, wi.lit
		}
	}
}

// scanWord reads the word at f[i]: letters and digits, and the symbols
// leetspeak uses ("$", "@", "|", "!", "+") or an apostrophe when a word
// character follows them. A word followed by "@domain.tld" is an e-mail
// address (email true, j past the domain).
func scanWord(f []byte, i int) (j, letters, other int, email bool) {
	for j = i; j < len(f); j++ {
		b := f[j]
		switch {
		case isLetter(b):
			letters++
		case isDigit(b):
			other++
		case b == '@' && j > i && domainLen(f[j+1:]) > 0:
			return j + 1 + domainLen(f[j+1:]), letters, other, true
		case (b == '$' || b == '|' || b == '!' || b == '+' || b == '@') && j > i &&
			j+1 < len(f) && isWordByte(f[j+1]):
			other++
		case b == '\'' && j > i && j+1 < len(f) && f[j+1] == 't' && (j+2 == len(f) || !isWordByte(f[j+2])):
			other++ // "don't"; other apostrophes (French "l'instruction") split words
		default:
			return j, letters, other, false
		}
	}
	return j, letters, other, false
}

func (t *tokenizer) add(tk token) { t.toks = append(t.toks, tk) }

// word adds f[i:j], reading leetspeak when the word mixes letters with
// digits or symbols.
func (t *tokenizer) word(i, j int, w []byte, letters, other int) {
	tk := token{start: int32(i), end: int32(j), text: w}
	if other > 0 && letters >= 2 {
		n := len(t.buf)
		for _, b := range w {
			if b == '\'' {
				continue
			}
			if l, ok := leet(b); ok {
				b, tk.leet = l, true
			}
			t.buf = append(t.buf, b)
		}
		tk.text = t.buf[n:len(t.buf):len(t.buf)]
	}
	t.add(tk)
}

// respace joins runs of single letters written with one separator between
// them ("i g n o r e", "i.g.n.o.r.e") into words again.
func (t *tokenizer) respace(f []byte) {
	out := t.toks[:0]
	for k := 0; k < len(t.toks); {
		e := k
		for e < len(t.toks) && len(t.toks[e].text) == 1 && isLetter(t.toks[e].text[0]) &&
			(e == k || gapOK(f, t.toks[e-1].end, t.toks[e].start)) {
			e++
		}
		if e-k < 4 {
			if e == k {
				e++
			}
			out = append(out, t.toks[k:e]...)
			k = e
			continue
		}
		run := t.toks[k:e]
		n := len(t.buf)
		for _, tk := range run {
			t.buf = append(t.buf, tk.text[0])
		}
		letters := t.buf[n:len(t.buf):len(t.buf)]
		for _, seg := range t.d.segment(letters) {
			out = append(out, token{start: run[seg[0]].start, end: run[seg[1]-1].end,
				text: letters[seg[0]:seg[1]], spaced: true})
		}
		k = e
	}
	t.toks = out
}

func gapOK(f []byte, end, start int32) bool {
	if start-end < 1 || start-end > 2 {
		return false
	}
	for _, b := range f[end:start] {
		if b != ' ' && b != '.' && b != '-' && b != '_' && b != '*' && b != '\t' {
			return false
		}
	}
	return true
}

// urlLen is the length of a URL at the start of b, or 0.
func urlLen(b []byte) int {
	var n int
	switch {
	case bytes.HasPrefix(b, []byte("https://")):
		n = 8
	case bytes.HasPrefix(b, []byte("http://")):
		n = 7
	case bytes.HasPrefix(b, []byte("www.")):
		n = 4
	default:
		return 0
	}
	for n < len(b) && b[n] > ' ' && b[n] != '"' && b[n] != '\'' && b[n] != '<' && b[n] != '>' && b[n] != ')' {
		n++
	}
	return n
}

// domainLen is the length of a domain name (labels and at least one dot)
// at the start of b, or 0.
func domainLen(b []byte) int {
	n, dots, label := 0, 0, 0
	for n < len(b) {
		c := b[n]
		switch {
		case isLetter(c) || isDigit(c) || c == '-':
			label++
		case c == '.' && label > 0 && n+1 < len(b) && isLetter(b[n+1]):
			dots++
			label = 0
		default:
			goto end
		}
		n++
	}
end:
	if dots == 0 || label == 0 {
		return 0
	}
	return n
}

// segment splits letters into known words (rules' words and a few
// function words), fewest words first; text that does not split stays one
// word. It returns [start, end) pairs.
func (d *detectorTables) segment(s []byte) [][2]int {
	const maxRun = 64
	if len(s) > maxRun {
		return [][2]int{{0, len(s)}}
	}
	var best [maxRun + 1]int // fewest words covering s[:i]; 0 = unreachable
	var from [maxRun + 1]int
	best[0] = 1
	for i := 1; i <= len(s); i++ {
		for j := max(0, i-16); j < i; j++ {
			if best[j] == 0 || !d.known(s[j:i]) {
				continue
			}
			if best[i] == 0 || best[j]+1 < best[i] {
				best[i], from[i] = best[j]+1, j
			}
		}
	}
	if best[len(s)] == 0 {
		return [][2]int{{0, len(s)}}
	}
	var segs [][2]int
	for i := len(s); i > 0; i = from[i] {
		segs = append(segs, [2]int{from[i], i})
	}
	for a, b := 0, len(segs)-1; a < b; a, b = a+1, b-1 {
		segs[a], segs[b] = segs[b], segs[a]
	}
	return segs
}

func (d *detectorTables) known(w []byte) bool {
	if d.stop[string(w)] {
		return true
	}
	if len(w) < 3 {
		return false
	}
	_, ok := d.lex.exact[string(w)]
	// A prefix entry ("ignor*") knows a word with a short ending only, so
	// that "ignoreprevious" splits into two words.
	return ok || (len(w) >= 5 && d.lex.prefixLen(w) >= len(w)-4)
}

// sentenceBreak reports whether the bytes between two words end a
// sentence or a line: rules do not match across one.
func sentenceBreak(gap []byte) bool {
	for i, c := range gap {
		switch c {
		case '\n', '!', '?', ';':
			return true
		case '.':
			if i+1 < len(gap) && (gap[i+1] == ' ' || gap[i+1] == '\n' || gap[i+1] == '\t') {
				return true
			}
		}
	}
	return false
}
