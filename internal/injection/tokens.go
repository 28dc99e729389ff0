package injection

import "bytes"

// token is one word of the folded text.
type token struct {
	start, end int32 // folded byte range
	c          concept
	// When blen > 0 the word as read (leetspeak undone, spaced letters
	// joined) is the tokenizer's buf[boff:boff+blen]; otherwise it is the
	// folded text itself (see tokenizer.text). No pointers: tokens are
	// many, and copying them costs no write barriers.
	boff, blen int32
	lit        uint16 // the literal word the rules name: its bit + 1, or 0
	leet       bool   // digits or symbols were read as letters
	spaced     bool   // rebuilt from spaced-out letters
	brk        bool   // a sentence or line ends before this word
	addr       bool   // a URL or an e-mail address (c is cTarget)
}

// tokenizer splits folded text into words and looks them up. Its buffers
// are reused between calls.
type tokenizer struct {
	d    *detectorTables
	f    []byte // the folded text of the last run
	toks []token
	buf  []byte // backing store for rewritten words
	// cls is the classifier's text (classText of toks), built as the
	// words are read; present and lits are the concepts and literal words
	// of all words, meta the number of words with cMeta.
	cls     []byte
	present concept
	lits    litSet
	meta    int
}

// text is the word tk reads as.
func (t *tokenizer) text(tk *token) []byte {
	if tk.blen > 0 {
		return t.buf[tk.boff : tk.boff+tk.blen]
	}
	return t.f[tk.start:tk.end]
}

func isWordByte(c byte) bool { return isLetter(c) || isDigit(c) }

// gapBreak: a byte between two words that ends a sentence or line by
// itself (a '.' does when a space, tab or newline follows it).
var gapBreak = [256]bool{'\n': true, '!': true, '?': true, ';': true}

func (t *tokenizer) run(f []byte) {
	t.f, t.toks, t.buf = f, t.toks[:0], t.buf[:0]
	t.cls = append(t.cls[:0], ' ')
	t.present, t.lits, t.meta = 0, litSet{}, 0
	// brk: the gap since the last word holds a sentence break (see
	// sentenceBreak); singles: the longest run of one-letter words.
	brk := false
	singles, run := 0, 0
	for i := 0; i < len(f); {
		c := f[i]
		if !isWordByte(c) {
			if gapBreak[c] || c == '.' && i+1 < len(f) && (f[i+1] == ' ' || f[i+1] == '\n' || f[i+1] == '\t') {
				brk = true
			}
			i++
			continue
		}
		if c == 'h' || c == 'w' {
			if n := urlLen(f[i:]); n > 0 {
				t.toks = append(t.toks, token{start: int32(i), end: int32(i + n), c: cTarget, addr: true, brk: brk})
				t.note(&t.toks[len(t.toks)-1])
				brk, run = false, 0
				i += n
				continue
			}
		}
		j, letters, other, high, email := scanWord(f, i)
		if email {
			t.toks = append(t.toks, token{start: int32(i), end: int32(j), c: cTarget, addr: true, brk: brk})
			t.note(&t.toks[len(t.toks)-1])
			run = 0
		} else if high {
			// A word with letters outside ASCII (after folding: another
			// script) is looked up in the wide tables, and Chinese and
			// Japanese, written without spaces, is split into the
			// lexicon's words.
			t.wideWord(i, j, brk)
			run = 0
		} else {
			t.word(i, j, f[i:j], letters, other, brk)
			if j-i == 1 && isLetter(c) {
				run++
				singles = max(singles, run)
			} else {
				run = 0
			}
		}
		brk = false
		i = j
	}
	if len(t.toks) > 0 {
		t.toks[0].brk = false
	}
	if singles >= 4 && t.respace(f) {
		// Joined letters are new words: look them up and take the
		// classifier's text and the word sets again.
		t.cls = append(t.cls[:0], ' ')
		t.present, t.lits, t.meta = 0, litSet{}, 0
		for k := range t.toks {
			tk := &t.toks[k]
			if tk.spaced {
				wi := t.d.trie.lookup(t.text(tk))
				tk.c, tk.lit = wi.c, wi.lit
			}
			t.note(tk)
		}
	}
}

// note adds tk to the classifier's text and the word sets.
func (t *tokenizer) note(tk *token) {
	if tk.c == cTarget {
		t.cls = append(t.cls, "http "...) // addresses as one shape, not their letters
	} else {
		t.cls = append(t.cls, t.text(tk)...)
		t.cls = append(t.cls, ' ')
	}
	t.present |= tk.c
	t.lits.set(tk.lit)
	if tk.c&cMeta != 0 {
		t.meta++
	}
}

// scanWord reads the word at f[i]: letters and digits, and the symbols
// leetspeak uses ("$", "@", "|", "!", "+") or an apostrophe when a word
// character follows them. A word followed by "@domain.tld" is an e-mail
// address (email true, j past the domain). high reports a byte outside
// ASCII.
func scanWord(f []byte, i int) (j, letters, other int, high, email bool) {
	for j = i; j < len(f); j++ {
		b := f[j]
		switch wordClass[b] {
		case wcLetter:
			letters++
		case wcHigh:
			letters++
			high = true
		case wcDigit:
			other++
		case wcSymbol:
			switch {
			case b == '@' && j > i && domainLen(f[j+1:]) > 0:
				return j + 1 + domainLen(f[j+1:]), letters, other, high, true
			case b != '\'' && j > i && j+1 < len(f) && isWordByte(f[j+1]):
				other++
			case b == '\'' && j > i && j+1 < len(f) && f[j+1] == 't' && (j+2 == len(f) || !isWordByte(f[j+2])):
				other++ // "don't"; other apostrophes (French "l'instruction") split words
			default:
				return j, letters, other, high, false
			}
		default:
			return j, letters, other, high, false
		}
	}
	return j, letters, other, high, false
}

// wordClass sorts bytes for scanWord: letters (isLetter), digits, and the
// symbols that can sit inside a word ("$", "|", "!", "+", "@", "'").
const (
	wcOther = iota
	wcLetter
	wcHigh // a letter byte outside ASCII
	wcDigit
	wcSymbol
)

var wordClass = func() (t [256]uint8) {
	for c := range 256 {
		switch b := byte(c); {
		case b >= 0x80:
			t[c] = wcHigh
		case isLetter(b):
			t[c] = wcLetter
		case isDigit(b):
			t[c] = wcDigit
		case b == '$' || b == '|' || b == '!' || b == '+' || b == '@' || b == '\'':
			t[c] = wcSymbol
		}
	}
	return t
}()

// word adds f[i:j], reading leetspeak when the word mixes letters with
// digits or symbols.
func (t *tokenizer) word(i, j int, w []byte, letters, other int, brk bool) {
	tk := token{start: int32(i), end: int32(j), brk: brk}
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
		tk.boff, tk.blen = int32(n), int32(len(t.buf)-n)
	}
	wi := t.d.trie.lookup(t.text(&tk))
	tk.c, tk.lit = wi.c, wi.lit
	t.toks = append(t.toks, tk)
	t.note(&t.toks[len(t.toks)-1])
}

// respace joins runs of single letters written with one separator between
// them ("i g n o r e", "i.g.n.o.r.e") into words again, and reports
// whether it joined any.
func (t *tokenizer) respace(f []byte) bool {
	joined := false
	out := t.toks[:0]
	for k := 0; k < len(t.toks); {
		e := k
		for e < len(t.toks) && t.toks[e].blen == 0 && t.toks[e].end-t.toks[e].start == 1 && isLetter(f[t.toks[e].start]) &&
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
			t.buf = append(t.buf, f[tk.start])
		}
		letters := t.buf[n:len(t.buf):len(t.buf)]
		for _, seg := range t.d.segment(letters) {
			out = append(out, token{start: run[seg[0]].start, end: run[seg[1]-1].end,
				boff: int32(n + seg[0]), blen: int32(seg[1] - seg[0]), spaced: true, brk: run[seg[0]].brk})
		}
		joined = true
		k = e
	}
	t.toks = out
	return joined
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
