package injection

import (
	"math"
	"math/bits"
	"slices"
	"strings"
	"sync"
	"unicode/utf8"
)

// Source says where screened text came from. The same words weigh more in
// data (skill output, external content) than in a user's message: data has
// no business addressing the assistant at all.
type Source string

const (
	SourceUser     Source = "user"
	SourceSkill    Source = "skill"
	SourceExternal Source = "external"
)

// ParseSource returns the source named s ("" is user).
func ParseSource(s string) (Source, bool) {
	switch Source(s) {
	case "", SourceUser:
		return SourceUser, true
	case SourceSkill, SourceExternal:
		return Source(s), true
	}
	return "", false
}

func (s Source) data() bool { return s == SourceSkill || s == SourceExternal }

// Verdicts.
const (
	VerdictInjection = "injection"
	VerdictBenign    = "benign"
)

// DefaultThreshold is the score at and above which text is an injection.
const DefaultThreshold = 0.5

// Result is one screening.
type Result struct {
	Score      float64  `json:"score"`
	Verdict    string   `json:"verdict"`
	Categories []string `json:"categories"`
	Spans      []Span   `json:"spans,omitempty"`
}

// Span is a match: byte offsets into the original text. Encoding names the
// encoding a decoded span was hidden in ("base64", "hex", "url").
type Span struct {
	Start    int    `json:"start"`
	End      int    `json:"end"`
	Category string `json:"category"`
	Encoding string `json:"encoding,omitempty"`
}

// bias is the log-odds of text with no evidence at all.
const bias = -4.0

// detectorTables are built once and shared by every Detector.
type detectorTables struct {
	lex   *lexiconIndex
	rules []rule
	lits  map[string]litSet
	stop  map[string]bool
	model *model
	// Rules by the concepts and literal words their first step accepts,
	// and markers by first byte, so each token and byte tries only the
	// rules and markers that can start there.
	byConcept [64][]int32
	byLit     [256][]int32
	byByte    [256][]int32
	// onlyLineStart[c]: every marker starting with c is a line-start one.
	onlyLineStart [256]bool
	// words maps a whole word to its concepts and literal-word bits.
	words map[string]wordInfo
}

type wordInfo struct {
	c   concept
	lit litSet
}

func (t *detectorTables) index() {
	for ri, r := range t.rules {
		st := r.steps[0]
		for b := 0; b < 64; b++ {
			if st.c&(1<<b) != 0 {
				t.byConcept[b] = append(t.byConcept[b], int32(ri))
			}
		}
		for b := 0; b < 256; b++ {
			if st.lit[b/64]&(1<<(b%64)) != 0 {
				t.byLit[b] = append(t.byLit[b], int32(ri))
			}
		}
	}
	for mi, m := range markers {
		t.byByte[m.text[0]] = append(t.byByte[m.text[0]], int32(mi))
	}
	for c := range t.onlyLineStart {
		t.onlyLineStart[c] = len(t.byByte[c]) > 0
		for _, mi := range t.byByte[c] {
			t.onlyLineStart[c] = t.onlyLineStart[c] && markers[mi].lineStart
		}
	}
	t.words = map[string]wordInfo{}
	for w, c := range t.lex.exact {
		t.words[w] = wordInfo{c: c}
	}
	for w, l := range t.lits {
		wi := t.words[w]
		wi.lit = l
		t.words[w] = wi
	}
}

var (
	tablesOnce sync.Once
	tables     *detectorTables
)

func loadTables() *detectorTables {
	tablesOnce.Do(func() {
		rules, lits, err := parseRules(ruleSpecs)
		if err != nil {
			panic("injection: " + err.Error()) // the rules are constants
		}
		t := &detectorTables{lex: buildLexicon(), rules: rules, lits: lits, stop: map[string]bool{}}
		for _, w := range []string{"a", "i", "an", "the", "to", "of", "and", "in", "on", "is", "are", "be", "me",
			"my", "all", "you", "your", "it", "this", "that", "what", "now", "with", "for", "as", "no", "do", "not"} {
			t.stop[w] = true
		}
		t.model = embeddedModel()
		t.index()
		tables = t
	})
	return tables
}

// Detector screens text. It is safe for concurrent use.
type Detector struct {
	t         *detectorTables
	threshold float64
	noModel   bool
	pool      sync.Pool
}

// Options configure a Detector.
type Options struct {
	// Threshold is the score at and above which the verdict is injection
	// (DefaultThreshold when zero).
	Threshold float64
	// RulesOnly leaves the statistical classifier out (for measuring).
	RulesOnly bool
}

// New returns a Detector.
func New(opts Options) *Detector {
	if opts.Threshold <= 0 || opts.Threshold > 1 {
		opts.Threshold = DefaultThreshold
	}
	d := &Detector{t: loadTables(), threshold: opts.Threshold, noModel: opts.RulesOnly}
	d.pool.New = func() any { return &scratch{tok: tokenizer{d: d.t}} }
	return d
}

// Threshold is the detector's verdict threshold.
func (d *Detector) Threshold() float64 { return d.threshold }

type scratch struct {
	f      folded
	tok    tokenizer
	cls    []byte
	pos    []float32
	quotes [][2]int32
	meta   bool     // the text talks about examples, attacks or detection
	seen   []uint32 // per rule: the token stamp it was last tried at
	viable []bool   // per rule: every step has a word in this text
	stamp  uint32
}

// maxDepth bounds decoding of encoded spans inside decoded spans.
const maxDepth = 2

// maxDecoded bounds the bytes decoded from one text.
const maxDecoded = 256 << 10

// Screen scores text from source.
func (d *Detector) Screen(text string, src Source) Result {
	budget := maxDecoded
	ev := d.evidence(text, src, 0, &budget)
	return d.result(ev)
}

// evidence is what one text (or decoded span) showed.
type evidence struct {
	z     float64            // log-odds
	cats  map[string]float64 // strongest weight per category
	spans []Span
}

func (e *evidence) add(cat string, w float64, s Span) {
	if e.cats == nil {
		e.cats = map[string]float64{}
	}
	if w > e.cats[cat] {
		e.cats[cat] = w
	}
	s.Category = cat
	e.spans = append(e.spans, s)
}

func (d *Detector) result(ev evidence) Result {
	score := 1 / (1 + math.Exp(-ev.z))
	res := Result{Score: math.Round(score*1e4) / 1e4, Verdict: VerdictBenign, Categories: []string{}}
	if score >= d.threshold {
		res.Verdict = VerdictInjection
	}
	for c := range ev.cats {
		res.Categories = append(res.Categories, c)
	}
	slices.Sort(res.Categories)
	if res.Verdict == VerdictInjection && len(res.Categories) == 0 {
		res.Categories = append(res.Categories, CatModel)
	}
	res.Spans = mergeSpans(ev.spans)
	return res
}

func (d *Detector) evidence(text string, src Source, depth int, budget *int) evidence {
	sc := d.pool.Get().(*scratch)
	defer d.pool.Put(sc)
	var ev evidence
	sc.f.fold(text)
	f := sc.f.b
	quotes(sc, f)
	sc.tok.run(f)
	toks := sc.tok.toks
	sc.meta = false
	for i := range toks {
		if toks[i].c&cMeta != 0 {
			sc.meta = true
			break
		}
	}
	d.markers(sc, text, src, &ev)
	d.rules(sc, text, toks, src, &ev)
	if sc.f.hidden > 0 && bidiControls(text) && ev.cats[CatObfuscate] < 1 {
		if ev.cats == nil {
			ev.cats = map[string]float64{}
		}
		ev.cats[CatObfuscate] = 1 // bidi overrides have no place in chat text
	}
	z := bias
	others := false
	for c, w := range ev.cats {
		if c == CatObfuscate {
			continue
		}
		others = true
		if src.data() {
			w *= 1.25
		}
		z += w
	}
	if others {
		// Hiding words is evidence only together with what was hidden.
		z += ev.cats[CatObfuscate]
	}
	if !d.noModel && d.t.model != nil {
		z += d.t.model.logit(sc, toks, src)
	}
	ev.z = z
	if depth < maxDepth {
		d.decoded(text, src, depth, budget, &ev)
		if bidiControls(text) || hasConcept(toks, cReverse) {
			d.reversed(text, src, depth, budget, &ev)
		}
	}
	return ev
}

// rules runs every rule from every token that can start it.
func (d *Detector) rules(sc *scratch, text string, toks []token, src Source, ev *evidence) {
	// A rule can match only if every step has a word in the text.
	var present concept
	var lits litSet
	for i := range toks {
		present |= toks[i].c
		lits.add(toks[i].lit)
	}
	if cap(sc.viable) < len(d.t.rules) {
		sc.viable = make([]bool, len(d.t.rules))
	}
	sc.viable = sc.viable[:len(d.t.rules)]
	for ri := range d.t.rules {
		r := &d.t.rules[ri]
		ok := !r.dataOnly || src.data()
		for _, st := range r.steps {
			ok = ok && (st.c&present != 0 || st.lit.meets(lits))
		}
		sc.viable[ri] = ok
	}
	if len(sc.seen) < len(d.t.rules) {
		sc.seen = make([]uint32, len(d.t.rules))
	}
	for i := range toks {
		tk := &toks[i]
		if tk.c == 0 && tk.lit.empty() {
			continue
		}
		sc.stamp++
		if sc.stamp == 0 { // wrapped: forget old stamps
			clear(sc.seen)
			sc.stamp = 1
		}
		try := func(list []int32) {
			for _, ri := range list {
				if sc.seen[ri] == sc.stamp || !sc.viable[ri] {
					continue
				}
				sc.seen[ri] = sc.stamp
				d.try1(sc, text, toks, i, &d.t.rules[ri], src, ev)
			}
		}
		for c := uint64(tk.c); c != 0; c &= c - 1 {
			try(d.t.byConcept[bits.TrailingZeros64(c)])
		}
		for w := range tk.lit {
			for l := tk.lit[w]; l != 0; l &= l - 1 {
				try(d.t.byLit[w*64+bits.TrailingZeros64(l)])
			}
		}
	}
}

// try1 tries rule r from toks[i].
func (d *Detector) try1(sc *scratch, text string, toks []token, i int, r *rule, src Source, ev *evidence) {
	if r.dataOnly && !src.data() {
		return
	}
	end := r.match(toks, i)
	if end < 0 {
		return
	}
	s, e := sc.f.orig(int(toks[i].start), int(toks[end].end), text)
	w := r.weight
	if reported(sc, int(toks[i].start), int(toks[end].end)) {
		w *= quoteDamp
	}
	if r.steps[0].c&cNot == 0 && negated(toks, i, d.t.stop) {
		w *= negDamp // "never share your API key", "must not paste passwords"
	}
	ev.add(r.cat, w, Span{Start: s, End: e})
	if obfuscated(text, toks[i:end+1], &sc.f) {
		ev.add(CatObfuscate, 1, Span{Start: s, End: e})
	}
}

// obfuscated reports a match that needed leetspeak, spaced letters,
// removed invisible characters or look-alike letters to read.
func obfuscated(text string, toks []token, f *folded) bool {
	for _, t := range toks {
		if t.leet || t.spaced {
			return true
		}
		s, e := f.orig(int(t.start), int(t.end), text)
		if e-s != int(t.end-t.start) {
			for _, r := range text[s:e] {
				if r >= 0x370 && r < 0x530 || r >= 0xFF00 && r < 0xFFF0 || r >= 0x1D400 && r < 0x1D800 ||
					r >= 0x2100 && r < 0x2200 || r >= 0x2460 && r < 0x2500 || hiddenRune(r) {
					return true
				}
			}
		}
	}
	return false
}

func bidiControls(s string) bool {
	for _, r := range s {
		if r >= 0x202A && r <= 0x202E || r >= 0x2066 && r <= 0x2069 {
			return true
		}
	}
	return false
}

// markers finds chat-template and delimiter tokens in the folded text.
func (d *Detector) markers(sc *scratch, text string, src Source, ev *evidence) {
	f := sc.f.b
	lineStart := true
	for i := 0; i < len(f); i++ {
		c := f[i]
		if c == '\n' {
			lineStart = true
			continue
		}
		if c == '\\' && i+1 < len(f) && (f[i+1] == 'n' || f[i+1] == 'r') {
			// A JSON or source-code "\n" is a line break to the model.
			lineStart = true
			i++
			continue
		}
		if lineStart && (c == ' ' || c == '\t' || c == '>' || c == '*' || c == '\r') {
			continue
		}
		if !lineStart && isWordByte(c) && (!src.data() || i > 0 && isWordByte(f[i-1])) {
			// Inside a line, no marker starts within a word: skip it.
			for i+1 < len(f) && isWordByte(f[i+1]) {
				i++
			}
			continue
		}
		if len(d.t.byByte[c]) == 0 {
			if c >= utf8.RuneSelf || c > ' ' {
				lineStart = false
			}
			continue
		}
		for _, mi := range d.t.byByte[c] {
			m := &markers[mi]
			if len(f)-i < len(m.text) || string(f[i:i+len(m.text)]) != m.text {
				continue
			}
			w := m.weight
			if m.lineStart && !lineStart {
				// "ALSO SYSTEM: delete…" inside a field of data is a turn
				// marker too, if a weaker one; in a user's sentence it
				// is just a word and a colon.
				if !src.data() || i > 0 && isWordByte(f[i-1]) {
					continue
				}
				w -= 1.5
			}
			s, e := sc.f.orig(i, i+len(m.text), text)
			if reported(sc, i, i+len(m.text)) {
				w *= quoteDamp
			}
			if m.lineStart && !src.data() {
				// A user pasting a transcript is common; data
				// carrying a fake turn is not.
				w -= 1
			}
			ev.add(CatTemplate, w, Span{Start: s, End: e})
		}
		if c >= utf8.RuneSelf || c > ' ' {
			lineStart = false
		}
	}
}

// mergeSpans sorts spans and joins overlapping ones of one category.
func mergeSpans(spans []Span) []Span {
	slices.SortFunc(spans, func(a, b Span) int {
		if a.Category != b.Category {
			return strings.Compare(a.Category, b.Category)
		}
		return a.Start - b.Start
	})
	out := spans[:0]
	for _, s := range spans {
		if n := len(out); n > 0 && out[n-1].Category == s.Category && s.Start <= out[n-1].End {
			out[n-1].End = max(out[n-1].End, s.End)
			continue
		}
		out = append(out, s)
	}
	slices.SortStableFunc(out, func(a, b Span) int { return a.Start - b.Start })
	return out
}

// negDamp scales a rule that matched right after a negation.
const negDamp = 0.5

// negated reports a negation word just before toks[i] (with at most one
// short word between, in the same sentence).
func negated(toks []token, i int, stop map[string]bool) bool {
	for k, n := i-1, 0; k >= 0 && n < 2 && !toks[k+1].brk; k, n = k-1, n+1 {
		if toks[k].c&cNot != 0 {
			return true
		}
		if !stop[string(toks[k].text)] && string(toks[k].text) != "to" {
			return false
		}
	}
	return false
}

func hasConcept(toks []token, c concept) bool {
	for i := range toks {
		if toks[i].c&c != 0 {
			return true
		}
	}
	return false
}
