package injection

import "unicode/utf8"

// Words outside ASCII. After folding, Latin text is ASCII (accents are
// dropped, look-alike letters made Latin), so a word with other bytes is
// in another script: Cyrillic, Greek, Arabic, Hebrew, Devanagari, Hangul
// (decomposed into letters by the folding), or Chinese and Japanese, which
// are written without spaces between words. The ASCII trie (wordTrie) has
// room for 64 distinct bytes only and is the hot path of English text, so
// these words have tables of their own: wideLexicon for words that are
// spaced, cjkLexicon for words found inside a run of Han and kana.

// wideLexicon holds the non-ASCII entries by their first two characters.
type wideLexicon struct {
	by map[string][]wideEntry
}

type wideEntry struct {
	w      string
	c      concept
	prefix bool
}

func (l *wideLexicon) init() { l.by = map[string][]wideEntry{} }

// head2 is the byte length of the first two characters of w (all of w
// when it has fewer).
func head2(w []byte) int {
	n := 0
	for k := 0; k < 2 && n < len(w); k++ {
		_, s := utf8.DecodeRune(w[n:])
		n += s
	}
	return n
}

func (l *wideLexicon) add(w string, c concept, prefix bool) {
	if utf8.RuneCountInString(w) < 2 {
		panic("injection: a lexicon entry outside ASCII needs two characters: " + w)
	}
	key := w[:head2([]byte(w))]
	for k, e := range l.by[key] {
		if e.w == w && e.prefix == prefix {
			l.by[key][k].c |= c
			return
		}
	}
	l.by[key] = append(l.by[key], wideEntry{w: w, c: c, prefix: prefix})
}

// lookup is the concepts of w: its whole-word entries and the prefix
// entries it starts with. Hebrew and Arabic write "and", "the", "from",
// "to" and "with" as one letter joined to the word (והצג "and show",
// وأرني "and show me"): a word that starts with one of them and is not
// in the lexicon is looked up without it.
func (l *wideLexicon) lookup(w []byte) concept {
	c := l.lookup1(w)
	if c == 0 && len(w) > 6 {
		if r, s := utf8.DecodeRune(w); proclitic(r) {
			c = l.lookup1(w[s:])
		}
	}
	return c
}

func proclitic(r rune) bool {
	switch r {
	case 'ו', 'ה', 'מ', 'ב', 'ל', 'ש', 'כ', 'و', 'ب', 'ل', 'ف', 'ك':
		return true
	}
	return false
}

func (l *wideLexicon) lookup1(w []byte) concept {
	es := l.by[string(w[:head2(w)])]
	var c concept
	for k := range es {
		e := &es[k]
		if e.prefix {
			if len(w) >= len(e.w) && string(w[:len(e.w)]) == e.w {
				c |= e.c
			}
		} else if string(w) == e.w {
			c |= e.c
		}
	}
	return c
}

// cjkLexicon holds the Chinese and Japanese entries (Han and kana only;
// a trailing '*' means nothing there: every entry is found wherever it
// occurs). first[r] has bit k set when an entry of k+1 characters starts
// with r; every such character is 3 bytes of UTF-8.
type cjkLexicon struct {
	words map[string]concept
	first map[rune]uint32
}

func (l *cjkLexicon) init() {
	l.words = map[string]concept{}
	l.first = map[rune]uint32{}
}

func (l *cjkLexicon) add(w string, c concept) {
	n := utf8.RuneCountInString(w)
	if n > 32 {
		panic("injection: CJK lexicon entry longer than 32 characters: " + w)
	}
	r, _ := utf8.DecodeRuneInString(w)
	l.words[w] |= c
	l.first[r] |= 1 << (n - 1)
}

// match is the longest entry at the start of b (which starts with r):
// its byte length and concepts, or 0.
func (l *cjkLexicon) match(b []byte, r rune) (int, concept) {
	m := l.first[r]
	for m != 0 {
		k := 31 - leadingZeros32(m)
		m &^= 1 << k
		n := 3 * (k + 1)
		if n > len(b) {
			continue
		}
		if c, ok := l.words[string(b[:n])]; ok {
			return n, c
		}
	}
	return 0, 0
}

func leadingZeros32(x uint32) int {
	n := 0
	for x&(1<<31) == 0 {
		x <<= 1
		n++
	}
	return n
}

// isCJKRune: Han (with 々) and kana, the characters written without
// spaces. All are 3 bytes of UTF-8.
func isCJKRune(r rune) bool {
	return r >= 0x3040 && r <= 0x30FF && r != 0x30FB || r >= 0x3400 && r <= 0x9FFF || r >= 0xF900 && r <= 0xFAFF || r == 0x3005
}

// cjkSep: CJK punctuation (ideographic comma and full stop, brackets,
// the katakana middle dot) separates words. Full-width ASCII is folded to
// ASCII before this.
func cjkSep(r rune) bool {
	return r >= 0x3000 && r <= 0x303F && r != 0x3005 || r == 0x30FB
}

func isCJKWord(w string) bool {
	if w == "" {
		return false
	}
	for _, r := range w {
		if !isCJKRune(r) {
			return false
		}
	}
	return true
}

func isASCII(w string) bool {
	for i := 0; i < len(w); i++ {
		if w[i] >= 0x80 {
			return false
		}
	}
	return true
}

// wideWord adds the word f[i:j], which has bytes outside ASCII, as one or
// more tokens: it is cut where the script changes between Latin, Greek
// and Cyrillic on one side and every later script on the other ("AI에게"
// is "ai" and "에게"); runs of Han and kana are split into the lexicon's
// words, longest first, with each stretch between them one token, and
// CJK punctuation separates words (an ideographic full stop also ends a
// sentence).
func (t *tokenizer) wideWord(i, j int, brk bool) {
	f := t.f
	cj := &t.d.lex.cjk
	for p := i; p < j; {
		r, size := utf8.DecodeRune(f[p:j])
		switch {
		case cjkSep(r):
			if r == 0x3002 {
				brk = true
			}
			p += size
		case isCJKRune(r):
			start, q := p, p
			for q < j {
				r2, s2 := utf8.DecodeRune(f[q:j])
				if !isCJKRune(r2) {
					break
				}
				n, c := cj.match(f[q:j], r2)
				if n == 0 {
					q += s2
					continue
				}
				if q > start {
					t.add(token{start: int32(start), end: int32(q), brk: brk})
					brk = false
				}
				t.add(token{start: int32(q), end: int32(q + n), c: c, brk: brk})
				brk = false
				q += n
				start = q
			}
			if q > start {
				t.add(token{start: int32(start), end: int32(q), brk: brk})
				brk = false
			}
			p = q
		default:
			far := r >= 0x590
			q, high := p, false
			for q < j {
				r2, s2 := utf8.DecodeRune(f[q:j])
				if isCJKRune(r2) || cjkSep(r2) || (r2 >= 0x590) != far {
					break
				}
				high = high || r2 >= utf8.RuneSelf
				q += s2
			}
			if !high {
				letters, other := 0, 0
				for _, b := range f[p:q] {
					if isLetter(b) {
						letters++
					} else {
						other++
					}
				}
				t.word(p, q, f[p:q], letters, other, brk)
			} else {
				// The trie still reads a leading ASCII part, as it did
				// before these tables ("ignoreж" is ignore).
				wi := t.d.trie.lookup(f[p:q])
				t.add(token{start: int32(p), end: int32(q), c: wi.c | t.d.lex.wide.lookup(f[p:q]), brk: brk})
			}
			brk = false
			p = q
		}
	}
}

func (t *tokenizer) add(tk token) {
	t.toks = append(t.toks, tk)
	t.note(&t.toks[len(t.toks)-1])
}
