package injection

import (
	"bytes"
	"cmp"
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

// DefaultThreshold is the score at and above which text is an injection
// when there is no embedded model (rules only) and the threshold of an
// explicit policy rule that sets an action but no threshold; with the
// model, each source has its own calibrated default (DefaultThresholds).
const DefaultThreshold = 0.5

// DefaultThresholds are the default policy's thresholds for src: warn at
// and above warn, block at and above block. They come with the embedded
// model, chosen on its leave-one-source-out folds (docs/injection.md,
// "Calibration and defaults"): block where benign text of sources the
// model never saw is flagged at most 0.5 % of the time, warn at most 5 %.
// Without a model: warn 0.35, block DefaultThreshold.
func DefaultThresholds(src Source) (warn, block float64) {
	if m := loadTables().model; m != nil {
		i := srcIndex(src)
		return math.Round(float64(m.warn[i])*1e4) / 1e4, math.Round(float64(m.block[i])*1e4) / 1e4
	}
	return 0.35, DefaultThreshold
}

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
	// Markers by first two bytes, so each byte tries only the markers
	// that can start there.
	// byByte2[c][c2]: the markers starting with c, c2 (every marker has
	// at least two bytes); nil for a byte no marker starts with.
	byByte2 [256]*[256][]int32
	// markFirst[c]: a marker starts with the non-word byte c; byColon[c]:
	// the markers that start with a word byte (all end with ':') and have
	// c before their colon.
	markFirst [256]bool
	byColon   [256][]int32
	// words maps a whole word to its concepts and literal-word bits;
	// trie answers a word's lookup (words and prefix entries) in one walk.
	words map[string]wordInfo
	trie  *wordTrie
	// The rules' steps numbered one after the other (rule r's are
	// stepOff[r] … stepOff[r]+len(steps)-1), as bit sets of satWords
	// words: stepsByConcept[b] the steps that accept concept bit b,
	// stepsByLit[l] those that accept literal word l (see
	// textSteps).
	stepOff []int32
	heads   []ruleHead
	// The rules whose first step accepts concept bit b (candByConcept[b])
	// or literal word l (candByLit[l]), and the data-only rules.
	candByConcept  [64]ruleSet
	candByLit      [256]ruleSet
	dataOnly       ruleSet
	satWords       int
	stepsByConcept [64][]uint64
	stepsByLit     [256][]uint64
}

// ruleSet is a set of rules, one bit each (at most maxRules).
type ruleSet [4]uint64

const maxRules = 256

func (a *ruleSet) or(b *ruleSet) {
	a[0] |= b[0]
	a[1] |= b[1]
	a[2] |= b[2]
	a[3] |= b[3]
}

// ruleHead is what a candidate check reads of a rule before it tries it: where its
// steps are in the step sets, how many there are, and whether it counts
// only in data.
type ruleHead struct {
	off      uint16
	n        uint8
	dataOnly bool
}

type wordInfo struct {
	c   concept
	lit uint16 // see token.lit
}

func (t *detectorTables) index() {
	n := 0
	for _, r := range t.rules {
		t.stepOff = append(t.stepOff, int32(n))
		if len(r.steps) > 63 {
			panic("injection: a rule with more than 63 steps: " + r.spec)
		}
		n += len(r.steps)
	}
	t.satWords = n/64 + 2 // and a word to spare for textSteps' readers
	if n >= 1<<16 {
		panic("injection: more than 65535 rule steps")
	}
	if len(t.rules) > maxRules {
		panic("injection: more rules than a ruleSet holds")
	}
	for ri, r := range t.rules {
		t.heads = append(t.heads, ruleHead{off: uint16(t.stepOff[ri]), n: uint8(len(r.steps)), dataOnly: r.dataOnly})
		if r.dataOnly {
			t.dataOnly[ri/64] |= 1 << (ri % 64)
		}
		st := r.steps[0]
		for b := 0; b < 64; b++ {
			if st.c&(1<<b) != 0 {
				t.candByConcept[b][ri/64] |= 1 << (ri % 64)
			}
		}
		for l := 0; l < 256; l++ {
			if st.lit[l/64]&(1<<(l%64)) != 0 {
				t.candByLit[l][ri/64] |= 1 << (ri % 64)
			}
		}
	}
	for ri, r := range t.rules {
		for k, st := range r.steps {
			at := int(t.stepOff[ri]) + k
			for b := 0; b < 64; b++ {
				if st.c&(1<<b) != 0 {
					if t.stepsByConcept[b] == nil {
						t.stepsByConcept[b] = make([]uint64, t.satWords)
					}
					t.stepsByConcept[b][at/64] |= 1 << (at % 64)
				}
			}
			for l := 0; l < 256; l++ {
				if st.lit[l/64]&(1<<(l%64)) != 0 {
					if t.stepsByLit[l] == nil {
						t.stepsByLit[l] = make([]uint64, t.satWords)
					}
					t.stepsByLit[l][at/64] |= 1 << (at % 64)
				}
			}
		}
	}
	for mi, m := range markers {
		c, c2 := m.text[0], m.text[1]
		if t.byByte2[c] == nil {
			t.byByte2[c] = new([256][]int32)
		}
		t.byByte2[c][c2] = append(t.byByte2[c][c2], int32(mi))
	}
	t.words = map[string]wordInfo{}
	for w, c := range t.lex.exact {
		t.words[w] = wordInfo{c: c}
	}
	for w, l := range t.lits {
		wi := t.words[w]
		wi.lit = l.index()
		t.words[w] = wi
	}
	t.trie = buildTrie(t.words, t.lex.prefix)
	for mi, m := range markers {
		switch c := m.text[0]; {
		case c == ' ' || c == '\t' || c == '\r' || c == '\n' || c == '\\' || c == '>' || c == '*':
			panic("injection: marker starts with a byte lineStartAt passes over: " + m.text)
		case !isWordByte(c):
			t.markFirst[c] = true
		case c == 'n' || c == 'r' || m.text[len(m.text)-1] != ':' || !isWordByte(m.text[len(m.text)-2]):
			// ('n' and 'r' after a backslash are a line break, not a word.)
			panic("injection: a marker that starts with a word must end with a word and ':', and not start with n or r: " + m.text)
		default:
			k := m.text[len(m.text)-2]
			t.byColon[k] = append(t.byColon[k], int32(mi))
		}
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
	t *detectorTables
	// threshold is the verdict's threshold, per source (srcIndex).
	threshold [3]float64
	noModel   bool
	pool      sync.Pool
}

// Options configure a Detector.
type Options struct {
	// Threshold is the score at and above which the verdict is injection
	// (when zero, each source's default warn threshold, DefaultThresholds:
	// the verdict says the text was detected; the tenant's policy says
	// whether a detection is warned about or blocked).
	Threshold float64
	// RulesOnly leaves the statistical classifier out (for measuring).
	RulesOnly bool
}

// New returns a Detector.
func New(opts Options) *Detector {
	d := &Detector{t: loadTables(), noModel: opts.RulesOnly}
	d.setThreshold(opts.Threshold)
	d.pool.New = func() any { return &scratch{tok: tokenizer{d: d.t}} }
	return d
}

func (d *Detector) setThreshold(t float64) {
	for i, src := range sources {
		switch warn, _ := DefaultThresholds(src); {
		case t > 0 && t <= 1:
			d.threshold[i] = t
		case d.noModel || d.t.model == nil:
			d.threshold[i] = DefaultThreshold
		default:
			d.threshold[i] = warn
		}
	}
}

// Threshold is the detector's verdict threshold for a user's message.
func (d *Detector) Threshold() float64 { return d.threshold[0] }

// ThresholdFor is the detector's verdict threshold for src.
func (d *Detector) ThresholdFor(src Source) float64 { return d.threshold[srcIndex(src)] }

type scratch struct {
	f   folded
	tok tokenizer
	cls []byte
	// The classifier's windows and sums (see model.go).
	off    []int32
	starts []int32
	wins   []window
	pu     []int64 // by class-text position
	wu, wd []int64 // by token
	wdOK   bool    // wd is this text's
	quotes [][2]int32
	meta   bool // the text talks about examples, attacks or detection
	// metaWords counts the words that make it so.
	metaWords int
	// sat: the rules' steps that have a word in this text (textSteps).
	sat []uint64
	// The views' evidence slices (evidence.spans, .hits) and the merged
	// spans of a result: buffers reused between calls.
	spans  [2][]Span
	hits   [2][]hit
	merge  []Span
	raw    []byte   // an encoded span, copied for decoding
	dec    []byte   // its decoding
	chunks [][2]int // see encodedChunks
}

// maxDepth bounds decoding of encoded spans inside decoded spans.
const maxDepth = 2

// maxDecoded bounds the bytes decoded from one text.
const maxDecoded = 256 << 10

// Screen scores text from source.
//
// Spans are byte ranges of text that start and end on character
// boundaries and hold only valid UTF-8: where text has invalid bytes, a
// span is cut around them (a model reading the text sees U+FFFD there,
// so the match reads across them, but an excerpt of the span must not
// carry them).
func (d *Detector) Screen(text string, src Source) Result {
	budget := maxDecoded
	sc := d.pool.Get().(*scratch)
	vs := d.evidenceIn(sc, text, src, 0, &budget)
	res := d.result(sc, &vs, src)
	d.pool.Put(sc)
	if len(res.Spans) > 0 && !utf8.ValidString(text) {
		res.Spans = validSpans(text, res.Spans)
	}
	return res
}

// validSpans cuts each span at the invalid bytes of text it covers,
// keeping the valid pieces (ordered by start, as mergeSpans leaves them).
func validSpans(text string, spans []Span) []Span {
	var out []Span
	for _, s := range spans {
		start := s.Start
		for i := s.Start; i < s.End; {
			r, size := utf8.DecodeRuneInString(text[i:s.End])
			if r == utf8.RuneError && size <= 1 {
				if i > start {
					out = append(out, Span{Start: start, End: i, Category: s.Category, Encoding: s.Encoding})
				}
				start = i + 1
			}
			i += max(size, 1)
		}
		if s.End > start {
			out = append(out, Span{Start: start, End: s.End, Category: s.Category, Encoding: s.Encoding})
		}
	}
	slices.SortStableFunc(out, func(a, b Span) int { return a.Start - b.Start })
	return out
}

// evidence is what one text (or decoded span) showed in one view.
type evidence struct {
	z     float64        // log-odds (uncalibrated)
	cats  [nCats]float64 // strongest weight per category (catNames)
	has   uint16         // categories with a weight above 0
	spans []Span
	// hits are the spans' starts, categories and weights (sorted by
	// start before the classifier reads them); globObf is the weight of
	// obfuscation seen in the whole text (bidi controls); dz the
	// strongest decoded span's log-odds.
	hits    []hit
	globObf float64
	dz      float64
}

type hit struct {
	start int32
	cat   catID
	w     float64
}

// views is what one text showed as a user's message (v[0]) and, when its
// source is data, as that source's data (v[1]); n is 1 or 2.
type views struct {
	v [2]evidence
	n int
}

// catNames are the categories rules and markers report, by catID.
var catNames = [...]string{CatOverride, CatRole, CatExfil, CatTemplate, CatTool, CatAuthority, CatAddress, CatObfuscate}

type catID uint8

const nCats = len(catNames)

var (
	catTemplate  = mustCat(CatTemplate)
	catObfuscate = mustCat(CatObfuscate)
)

func catIndex(name string) (catID, bool) {
	for i, n := range catNames {
		if n == name {
			return catID(i), true
		}
	}
	return 0, false
}

func mustCat(name string) catID {
	c, ok := catIndex(name)
	if !ok {
		panic("injection: no category " + name)
	}
	return c
}

func (e *evidence) add(cat catID, w float64, s Span) {
	e.addHit(cat, w, s.Start)
	s.Category = catNames[cat]
	e.spans = append(e.spans, s)
}

// addHit is add without the span, for a match whose span the other view
// of the text records (the result merges the views' spans).
func (e *evidence) addHit(cat catID, w float64, start int) {
	if w > e.cats[cat] {
		e.cats[cat] = w
		e.has |= 1 << cat
	}
	e.hits = append(e.hits, hit{start: int32(start), cat: cat, w: w})
}

func (e *evidence) sortHits() {
	slices.SortFunc(e.hits, func(a, b hit) int { return cmp.Compare(a.start, b.start) })
}

// prob is the calibrated score of log-odds z from src's view.
func (d *Detector) prob(z float64, src Source) float64 {
	if d.noModel || d.t.model == nil {
		return 1 / (1 + math.Exp(-z))
	}
	return d.t.model.cal[srcIndex(src)].p(z)
}

// score is the text's calibrated score: for data, the higher of the
// user view's and the data view's (so data never scores lower than a
// user's message with the same words).
func (d *Detector) score(vs *views, src Source) float64 {
	p := d.prob(vs.v[viewUser].z, SourceUser)
	if vs.n == 2 {
		p = max(p, d.prob(vs.v[viewData].z, src))
	}
	return p
}

// result is the Result of vs (whose spans are in sc's buffers): its
// categories and spans are new slices, the only allocations of a call
// (none when there are no categories and no spans).
func (d *Detector) result(sc *scratch, vs *views, src Source) Result {
	score := d.score(vs, src)
	res := Result{Score: math.Round(score*1e4) / 1e4, Verdict: VerdictBenign, Categories: []string{}}
	if score >= d.threshold[srcIndex(src)] {
		res.Verdict = VerdictInjection
	}
	has := vs.v[0].has
	if vs.n == 2 {
		has |= vs.v[1].has
	}
	if n := bits.OnesCount16(has); n > 0 {
		res.Categories = make([]string, 0, n)
		for _, c := range catsByName {
			if has&(1<<c) != 0 {
				res.Categories = append(res.Categories, catNames[c])
			}
		}
	} else if res.Verdict == VerdictInjection {
		res.Categories = []string{CatModel}
	}
	spans := append(sc.merge[:0], vs.v[0].spans...)
	if vs.n == 2 {
		spans = append(spans, vs.v[1].spans...)
	}
	sc.merge = spans
	if spans = mergeSpans(spans); len(spans) > 0 {
		res.Spans = slices.Clone(spans)
	}
	return res
}

// catsByName are the categories in the order of their names.
var catsByName = func() []catID {
	c := make([]catID, nCats)
	for i := range c {
		c[i] = catID(i)
	}
	slices.SortFunc(c, func(a, b catID) int { return strings.Compare(catNames[a], catNames[b]) })
	return c
}()

// evidence is the views of text without their spans and hits (which
// live in the scratch, returned to the pool here): their log-odds,
// categories and weights.
func (d *Detector) evidence(text string, src Source, depth int, budget *int) views {
	sc := d.pool.Get().(*scratch)
	vs := d.evidenceIn(sc, text, src, depth, budget)
	d.pool.Put(sc)
	for k := range vs.v {
		vs.v[k].spans, vs.v[k].hits = nil, nil
	}
	return vs
}

// evidenceIn is evidence with the scratch sc, which holds the text's
// tokens, class text and windows afterwards (training reads them), and
// the views' spans and hits until its next use.
//
// The views of data share everything but their weighing: the text is
// folded, read and summed once, markers and rules are found once and
// each match is weighed for each view it counts in (the data-only rules
// only in the data view).
func (d *Detector) evidenceIn(sc *scratch, text string, src Source, depth int, budget *int) views {
	var vs views
	vs.n = 1
	if src.data() {
		vs.n = 2
	}
	for k := range vs.n {
		vs.v[k].spans, vs.v[k].hits = sc.spans[k][:0], sc.hits[k][:0]
		vs.v[k].dz = math.Inf(-1)
	}
	sc.f.fold(text)
	f := sc.f.b
	quotes(sc, f)
	sc.tok.run(f)
	toks := sc.tok.toks
	// The concepts and literal words present anywhere in the text.
	present := sc.tok.present
	sc.meta = present&cMeta != 0
	sc.metaWords = sc.tok.meta
	d.markers(sc, text, &vs)
	d.rules(sc, text, toks, &vs)
	for k := 0; k < vs.n; k++ {
		ev := &vs.v[k]
		if sc.f.hidden > 0 && sc.f.bidi && ev.cats[catObfuscate] < 1 {
			ev.cats[catObfuscate] = 1 // bidi overrides have no place in chat text
			ev.has |= 1 << catObfuscate
			ev.globObf = 1
		}
	}
	if depth < maxDepth {
		d.decoded(sc, text, src, depth, budget, &vs)
		if sc.f.bidi || present&cReverse != 0 {
			d.reversed(text, src, depth, budget, &vs)
		}
	}
	clsOffsets(sc, toks)
	windows(sc, text, toks)
	m := d.t.model
	if d.noModel {
		m = nil
	}
	if m != nil {
		m.sums(sc, sc.tok.cls, toks, vs.n == 2)
	}
	for k := 0; k < vs.n; k++ {
		ev, s := &vs.v[k], viewSource(k, src)
		ev.sortHits()
		if m != nil {
			ev.z = m.logit(sc, ev, k, s)
		} else {
			ev.z = rulesLogit(ev, s)
		}
		ev.z = max(ev.z, ev.dz)
	}
	for k := range vs.n {
		sc.spans[k], sc.hits[k] = vs.v[k].spans, vs.v[k].hits // keep the grown buffers
	}
	return vs
}

// viewSource is the source view k of text from src is scored as.
func viewSource(k int, src Source) Source {
	if k == viewUser {
		return SourceUser
	}
	return src
}

// rulesLogit is the rules' log-odds without the classifier: the
// strongest rule of each category, more in data, obfuscation only
// together with another category.
func rulesLogit(ev *evidence, src Source) float64 {
	z := bias
	others := false
	for c, w := range ev.cats {
		if ev.has&(1<<c) == 0 || catID(c) == catObfuscate {
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
		z += ev.cats[catObfuscate]
	}
	return z
}

// rules runs every rule from every token that can start it, once for
// all views of the text: a match counts in every view (a data-only rule
// only in the data view). A rule can match only if every step has a word
// in the text, and, since no match crosses a sentence break, in the
// match's sentence: both are checked before the rule is tried, the first
// once per text for the rules some word of the text can start (from the
// text's step set, textSteps), the second only when the text has more
// than one sentence. A token's candidates are the union of the rules its
// concepts and literal word can start, as a bit set, so each rule is
// tried once per token.
func (d *Detector) rules(sc *scratch, text string, toks []token, vs *views) {
	t := d.t
	// The rules some word of the text can start that count for its
	// source and have a word for every step in it.
	var cand, ok ruleSet
	for c := uint64(sc.tok.present); c != 0; c &= c - 1 {
		cand.or(&t.candByConcept[bits.TrailingZeros64(c)])
	}
	for k, word := range sc.tok.lits {
		for ; word != 0; word &= word - 1 {
			cand.or(&t.candByLit[k*64+bits.TrailingZeros64(word)])
		}
	}
	if vs.n == 1 {
		for k := range cand {
			cand[k] &^= t.dataOnly[k]
		}
	}
	if cand == (ruleSet{}) {
		return
	}
	d.textSteps(sc)
	sat := sc.sat
	for k, word := range cand {
		for ; word != 0; word &= word - 1 {
			ri := k*64 + bits.TrailingZeros64(word)
			h := t.heads[ri]
			off, n := uint(h.off), uint(h.n)
			v := sat[off/64] >> (off % 64)
			if off%64+n > 64 {
				v |= sat[off/64+1] << (64 - off%64)
			}
			if mask := uint64(1)<<n - 1; v&mask == mask {
				ok[k] |= 1 << (ri % 64)
			}
		}
	}
	if ok == (ruleSet{}) {
		return
	}
	for s := 0; s < len(toks); {
		// The sentence toks[s:e] and its words.
		e := s + 1
		sentC := toks[s].c
		var sentL litSet
		sentL.set(toks[s].lit)
		for e < len(toks) && !toks[e].brk {
			sentC |= toks[e].c
			sentL.set(toks[e].lit)
			e++
		}
		if sentC == 0 && sentL.empty() {
			s = e
			continue
		}
		whole := s == 0 && e == len(toks) // the sentence is the text
		for i := s; i < e; i++ {
			tk := &toks[i]
			if tk.c == 0 && tk.lit == 0 {
				continue
			}
			var tc ruleSet
			for c := uint64(tk.c); c != 0; c &= c - 1 {
				tc.or(&t.candByConcept[bits.TrailingZeros64(c)])
			}
			if tk.lit != 0 {
				tc.or(&t.candByLit[tk.lit-1])
			}
			for k := range tc {
				for word := tc[k] & ok[k]; word != 0; word &= word - 1 {
					r := &t.rules[k*64+bits.TrailingZeros64(word)]
					if !whole && !r.within(sentC, &sentL) {
						continue
					}
					d.try1(sc, text, toks, i, r, vs)
				}
			}
		}
		s = e
	}
}

// textSteps fills sc.sat with the rules' steps that have a word in the
// text (its concepts sc.tok.present and literal words sc.tok.lits).
func (d *Detector) textSteps(sc *scratch) {
	sat := grow(sc.sat, d.t.satWords)
	clear(sat)
	for c := uint64(sc.tok.present); c != 0; c &= c - 1 {
		if st := d.t.stepsByConcept[bits.TrailingZeros64(c)]; st != nil {
			for w := range sat {
				sat[w] |= st[w]
			}
		}
	}
	for k, word := range sc.tok.lits {
		for ; word != 0; word &= word - 1 {
			if st := d.t.stepsByLit[k*64+bits.TrailingZeros64(word)]; st != nil {
				for w := range sat {
					sat[w] |= st[w]
				}
			}
		}
	}
	sc.sat = sat
}

// try1 tries rule r from toks[i] and adds a match to the views it counts
// in.
func (d *Detector) try1(sc *scratch, text string, toks []token, i int, r *rule, vs *views) {
	end := r.match(toks, i)
	if end < 0 {
		return
	}
	s, e := sc.f.orig(int(toks[i].start), int(toks[end].end), text)
	w := r.weight
	if reported(sc, int(toks[i].start), int(toks[end].end)) || cited(sc, toks, i, mentionBackRule, false) {
		w *= quoteDamp
	}
	if r.steps[0].c&cNot == 0 && negated(&sc.tok, toks, i, d.t.stop) {
		w *= negDamp // "never share your API key", "must not paste passwords"
	}
	obf := obfuscated(text, toks[i:end+1], &sc.f)
	// The last view records the span; the user view of data only the
	// hit (the result merges the views' spans).
	for k := 0; k < vs.n; k++ {
		if k == viewUser && r.dataOnly {
			continue
		}
		ev := &vs.v[k]
		if k < vs.n-1 {
			ev.addHit(r.cid, w, s)
			if obf {
				ev.addHit(catObfuscate, 1, s)
			}
			continue
		}
		ev.add(r.cid, w, Span{Start: s, End: e})
		if obf {
			ev.add(catObfuscate, 1, Span{Start: s, End: e})
		}
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
					r >= 0x2100 && r < 0x2200 || r >= 0x2460 && r < 0x2500 || hiddenFast(r) {
					return true
				}
			}
		}
	}
	return false
}

// markers finds chat-template and delimiter tokens in the folded text.
// A marker that starts with a word byte ends with ':' (checked when the
// tables are built) and is found from its colon; the others from their
// first byte. Whether a marker stands at the start of a line is read
// backwards from it (lineStartAt).
//
// Markers are found once for all views of the text and weighed for each
// (markerViews).
func (d *Detector) markers(sc *scratch, text string, vs *views) {
	f := sc.f.b
	first := &d.t.markFirst
	for i := 0; i < len(f); i++ {
		for i < len(f) && !first[f[i]] {
			i++
		}
		if i+1 >= len(f) {
			break // every marker has two bytes or more
		}
		for _, mi := range d.t.byByte2[f[i]][f[i+1]] {
			if m := &markers[mi]; len(f)-i >= len(m.text) && string(f[i:i+len(m.text)]) == m.text {
				d.markerViews(sc, text, i, m, vs)
			}
		}
	}
	for p := 0; ; p++ {
		k := bytes.IndexByte(f[p:], ':')
		if k < 0 {
			break
		}
		if p += k; p == 0 {
			continue
		}
		for _, mi := range d.t.byColon[f[p-1]] {
			m := &markers[mi]
			if i := p + 1 - len(m.text); i >= 0 && string(f[i:p+1]) == m.text {
				d.markerViews(sc, text, i, m, vs)
			}
		}
	}
}

// markerViews weighs marker m found at folded offset i for each view of
// vs.
// The span is recorded once: by the data view when it counts the marker
// (the result merges the views' spans).
func (d *Detector) markerViews(sc *scratch, text string, i int, m *marker, vs *views) {
	if vs.n == 1 {
		d.marker(sc, text, i, m, false, true, &vs.v[viewUser])
		return
	}
	added := d.marker(sc, text, i, m, true, true, &vs.v[viewData])
	d.marker(sc, text, i, m, false, !added, &vs.v[viewUser])
}

// marker weighs marker m found at folded offset i (and records its span
// when span) and reports whether it counted.
func (d *Detector) marker(sc *scratch, text string, i int, m *marker, data, span bool, ev *evidence) bool {
	f := sc.f.b
	lineStart := lineStartAt(f, i)
	if isWordByte(f[i]) && !lineStart && (!data || isWordByte(f[i-1])) {
		// Inside a line, no marker starts within a word, and in a user's
		// message none starts with a word.
		return false
	}
	w := m.weight
	if m.lineStart && !lineStart {
		// "ALSO SYSTEM: delete…" inside a field of data is a turn
		// marker too, if a weaker one; in a user's sentence it
		// is just a word and a colon.
		if !data || i > 0 && isWordByte(f[i-1]) {
			return false
		}
		w -= 1.5
	}
	s, e := sc.f.orig(i, i+len(m.text), text)
	if reported(sc, i, i+len(m.text)) || markerCited(sc, i) {
		w *= quoteDamp
	}
	if m.lineStart && !data {
		// A user pasting a transcript is common; data
		// carrying a fake turn is not.
		w -= 1
	}
	if span {
		ev.add(catTemplate, w, Span{Start: s, End: e})
	} else {
		ev.addHit(catTemplate, w, s)
	}
	return true
}

// lineStartAt reports whether folded offset i starts a line: only spaces,
// tabs, quote and list marks ('>', '*') and control characters stand
// between it and the start of the text, a newline, or a JSON or
// source-code "\n" or "\r" (a line break to the model).
func lineStartAt(f []byte, i int) bool {
	for k := i - 1; k >= 0; k-- {
		switch c := f[k]; {
		case c == '\n':
			return true
		case (c == 'n' || c == 'r') && k > 0 && f[k-1] == '\\':
			return true
		case c < ' ' || c == ' ' || c == '>' || c == '*':
			continue
		default:
			return false
		}
	}
	return true
}

// markerCited reports a marker at folded offset i that a cue word
// introduces (see cited).
func markerCited(sc *scratch, i int) bool {
	if !sc.meta {
		return false
	}
	toks := sc.tok.toks
	k, _ := slices.BinarySearchFunc(toks, int32(i), func(t token, p int32) int { return cmp.Compare(t.start, p) })
	if k == 0 {
		return false
	}
	// (The word before may run into the marker: "\\nsystem:" reads the
	// word "nsystem".)
	return cited(sc, toks, k, mentionBackMarker, sentenceBreak(sc.f.b[min(int(toks[k-1].end), i):i]))
}

// mergeSpans sorts spans and joins overlapping ones of one category.
func mergeSpans(spans []Span) []Span {
	// A total order, so the result does not depend on the order the
	// spans were found in.
	slices.SortFunc(spans, func(a, b Span) int {
		return cmp.Or(strings.Compare(a.Category, b.Category), a.Start-b.Start, a.End-b.End, strings.Compare(a.Encoding, b.Encoding))
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
func negated(tz *tokenizer, toks []token, i int, stop map[string]bool) bool {
	for k, n := i-1, 0; k >= 0 && n < 2 && !toks[k+1].brk; k, n = k-1, n+1 {
		if toks[k].c&cNot != 0 {
			return true
		}
		if w := tz.text(&toks[k]); !stop[string(w)] && string(w) != "to" {
			return false
		}
	}
	return false
}
