package injection

import (
	_ "embed"
	"encoding/binary"
	"errors"
	"math"
)

// The statistical classifier is logistic regression over hashed features
// of the normalised words (leetspeak, look-alikes and spacing already
// undone): character 3-, 4- and 5-grams, word unigrams and bigrams, and,
// for data sources only, a second copy of the word unigrams and bigrams
// (so "reply in German" can weigh more in an e-mail than in a user's
// message), plus dense features per window: the rules' weight per category
// (the rules are learned features, not a fixed offset), whether any rule
// matched, and the window's length, each with a weight per view (user,
// data), and a bias per source.
//
// Text is scored in sentence windows: a window is up to winSents sentences
// (at most winBytes bytes of the class text; a long sentence is cut every
// winForce bytes), one starting at every sentence, and the most
// suspicious window counts, so an instruction buried in a long benign
// document is not averaged away and a document is not an attack for being
// an e-mail. Training (train.go) labels the windows of attacked documents
// by the inserted attack's span.
//
// The score is calibrated: p = σ(a·z + b) per source (Platt scaling fitted
// on out-of-fold scores, train.go). Data (skill, external) is scored in two
// views, as a user's message and as data, and its score is the higher of
// the two calibrated scores: the same words never score lower as data
// than from a user (TestDataAtLeastUser).
//
// Its weights are trained by `go generate` (see train.go) and embedded:
// nothing is downloaded at run time.
const (
	modelBits = 19
	modelSize = 1 << modelBits
	winSents  = 3
	winBytes  = 512
	winForce  = 256
	// nDense: the categories' rule weights, "a rule matched", length.
	nDense = nCats + 2
)

var modelMagic = [4]byte{'K', 'I', 'M', '2'}

// calib is Platt scaling: p = σ(a·z + b).
type calib struct{ a, b float32 }

func (c calib) p(z float64) float64 { return 1 / (1 + math.Exp(-(float64(c.a)*z + float64(c.b)))) }

// The views of a text.
const (
	viewUser = 0
	viewData = 1
)

type model struct {
	bias  [3]float32         // per source (srcIndex)
	dense [2][nDense]float32 // per view
	cal   [3]calib           // per source
	// The default policy's thresholds per source (calibrated scores):
	// warn at and above warn, block at and above block.
	warn, block [3]float32
	scale       float32 // a gram's weight is scale·w[i]
	w           []int16
}

//go:embed model.bin
var modelBin []byte

func embeddedModel() *model {
	m, err := decodeModel(modelBin)
	if err != nil {
		return nil // a missing model leaves the rules alone (tested)
	}
	return m
}

const modelHeader = 3 + 2*nDense + 2*3 + 3 + 3 + 1 // float32s after magic and bits

func decodeModel(b []byte) (*model, error) {
	if len(b) != 8+4*modelHeader+2*modelSize || [4]byte(b[:4]) != modelMagic || binary.LittleEndian.Uint32(b[4:]) != modelBits {
		return nil, errors.New("injection: model file has the wrong size, magic or bits")
	}
	k := 8
	f := func() float32 {
		v := math.Float32frombits(binary.LittleEndian.Uint32(b[k:]))
		k += 4
		return v
	}
	m := &model{w: make([]int16, modelSize)}
	for i := range m.bias {
		m.bias[i] = f()
	}
	for v := range m.dense {
		for i := range m.dense[v] {
			m.dense[v][i] = f()
		}
	}
	for i := range m.cal {
		m.cal[i] = calib{f(), f()}
	}
	for i := range m.warn {
		m.warn[i] = f()
	}
	for i := range m.block {
		m.block[i] = f()
	}
	m.scale = f()
	for i := range m.w {
		m.w[i] = int16(binary.LittleEndian.Uint16(b[k+2*i:]))
	}
	return m, nil
}

func (m *model) encode() []byte {
	b := make([]byte, 0, 8+4*modelHeader+2*modelSize)
	b = append(b, modelMagic[:]...)
	b = binary.LittleEndian.AppendUint32(b, modelBits)
	put := func(v float32) { b = binary.LittleEndian.AppendUint32(b, math.Float32bits(v)) }
	for _, v := range m.bias {
		put(v)
	}
	for v := range m.dense {
		for _, x := range m.dense[v] {
			put(x)
		}
	}
	for _, c := range m.cal {
		put(c.a)
		put(c.b)
	}
	for _, v := range m.warn {
		put(v)
	}
	for _, v := range m.block {
		put(v)
	}
	put(m.scale)
	for _, v := range m.w {
		b = binary.LittleEndian.AppendUint16(b, uint16(v))
	}
	return b
}

func srcIndex(s Source) int {
	switch s {
	case SourceSkill:
		return 1
	case SourceExternal:
		return 2
	}
	return 0
}

var sources = [3]Source{SourceUser, SourceSkill, SourceExternal}

// classText writes the words of toks, space-separated, into sc.cls.
func classText(sc *scratch, toks []token) []byte {
	b := append(sc.cls[:0], ' ')
	for k := range toks {
		t := &toks[k]
		if t.c == cTarget {
			b = append(b, "http "...) // addresses as one shape, not their letters
			continue
		}
		b = append(b, sc.tok.text(t)...)
		b = append(b, ' ')
	}
	sc.cls = b
	return b
}

// Feature hashing. Character grams: one running FNV-1a hash per position,
// read after the third, fourth and fifth byte. Words: FNV-1a of the word,
// mixed with a seed per kind.
const (
	seedUni  = 0x9e3779b9
	seedBi   = 0x85ebca6b
	seedDUni = 0xc2b2ae35
	seedDBi  = 0x27d4eb2f
)

func mix(x uint32) uint32 {
	x ^= x >> 16
	x *= 0x7feb352d
	x ^= x >> 15
	x *= 0x846ca68b
	x ^= x >> 16
	return x
}

func bucket(h uint32) uint32 { return (h ^ h>>16) & (modelSize - 1) }

func wordHash(w []byte) uint32 {
	h := uint32(2166136261)
	for _, c := range w {
		h = (h ^ uint32(c)) * 16777619
	}
	return h
}

// clsOffsets records in sc.off the class-text offset of the space before
// each token's word (len(toks) entries, then len(cls)).
func clsOffsets(sc *scratch, toks []token) {
	off := sc.off[:0]
	p := 0
	for k := range toks {
		off = append(off, int32(p))
		if toks[k].c == cTarget {
			p += 5
		} else {
			p += int(toks[k].blen)
			if toks[k].blen == 0 {
				p += int(toks[k].end - toks[k].start)
			}
			p++
		}
	}
	off = append(off, int32(len(sc.tok.cls)))
	sc.off = off
}

// features calls fn for every feature of the class text cls (tokens toks,
// offsets sc.off): each character gram at the position of its first byte,
// and each word's unigram and bigram (data: also the data copies, with
// data true) at the position of the space before it. This is the plain
// enumeration training uses; sums (below) is the same, inlined.
func features(sc *scratch, cls []byte, toks []token, data bool, fn func(pos int, b uint32, data bool)) {
	for i := 0; i+3 <= len(cls); i++ {
		h := uint32(2166136261)
		for n := 0; n < 5 && i+n < len(cls); n++ {
			h = (h ^ uint32(cls[i+n])) * 16777619
			if n >= 2 {
				fn(i, bucket(h), false)
			}
		}
	}
	prev := uint32(0)
	for k := range toks {
		a := int(sc.off[k])
		w := cls[a+1 : sc.off[k+1]]
		if len(w) > 0 && w[len(w)-1] == ' ' {
			w = w[:len(w)-1]
		}
		h := wordHash(w)
		fn(a, mix(h^seedUni)&(modelSize-1), false)
		fn(a, mix(prev*31+h^seedBi)&(modelSize-1), false)
		if data {
			fn(a, mix(h^seedDUni)&(modelSize-1), true)
			fn(a, mix(prev*31+h^seedDBi)&(modelSize-1), true)
		}
		prev = h
	}
}

// gramCount is the number of character grams starting in [a, b) of an
// n-byte class text: three per position but the last two.
func gramCount(a, b, n int) int {
	c := 3 * max(0, min(b, n-4)-a)
	if p := n - 4; p >= 0 && a <= p && p < b {
		c += 2
	}
	if p := n - 3; p >= 0 && a <= p && p < b {
		c++
	}
	return c
}

// sums fills sc.pu with the prefix sums, in quantised units, of the
// character grams' weights by class-text position (pu[i] is the sum over
// positions < i), and sc.wu (and sc.wd when data, sc.wdOK says which)
// with those of the user view's word features (the data view's extra
// ones) by token.
func (m *model) sums(sc *scratch, cls []byte, toks []token, data bool) {
	n := len(cls)
	pu := grow(sc.pu, n+1)
	w := (*[modelSize]int16)(m.w) // indexed by masked hashes: no bounds checks
	var acc int64
	pu[0] = 0
	i := 0
	// Every position with all three grams after it, without branches; the
	// last four positions below.
	for ; i+5 <= n; i++ {
		g := cls[i : i+5 : i+5]
		h := (uint32(2166136261) ^ uint32(g[0])) * 16777619
		h = (h ^ uint32(g[1])) * 16777619
		h3 := (h ^ uint32(g[2])) * 16777619
		h4 := (h3 ^ uint32(g[3])) * 16777619
		h5 := (h4 ^ uint32(g[4])) * 16777619
		acc += int64(int32(w[(h3^h3>>16)&(modelSize-1)]) + int32(w[(h4^h4>>16)&(modelSize-1)]) + int32(w[(h5^h5>>16)&(modelSize-1)]))
		pu[i+1] = acc
	}
	for ; i < n; i++ {
		var s int32
		if i+3 <= n {
			h := uint32(2166136261)
			h = (h ^ uint32(cls[i])) * 16777619
			h = (h ^ uint32(cls[i+1])) * 16777619
			h = (h ^ uint32(cls[i+2])) * 16777619
			s = int32(w[(h^h>>16)&(modelSize-1)])
			if i+3 < n {
				h = (h ^ uint32(cls[i+3])) * 16777619
				s += int32(w[(h^h>>16)&(modelSize-1)])
			}
		}
		acc += int64(s)
		pu[i+1] = acc
	}
	// Words: prefix sums by token (a window is a range of tokens, and a
	// word's features sit at the space before it, inside the window of
	// its token): wu[k] is the sum over the words before token k, wd the
	// same of the data view's extra features. (Integer sums: exact in
	// any order.)
	wu := grow(sc.wu, len(toks)+1)
	var wd []int64
	if data {
		wd = grow(sc.wd, len(toks)+1)
		wd[0] = 0
	}
	wu[0] = 0
	prev := uint32(0)
	var run, runD int64
	off := sc.off[:len(toks)+1]
	for k := range toks {
		a := int(off[k])
		e := int(off[k+1])
		if e > a+1 && cls[e-1] == ' ' {
			e--
		}
		h := uint32(2166136261)
		for _, c := range cls[a+1 : e] {
			h = (h ^ uint32(c)) * 16777619
		}
		run += int64(w[mix(h^seedUni)&(modelSize-1)]) + int64(w[mix(prev*31+h^seedBi)&(modelSize-1)])
		wu[k+1] = run
		if data {
			runD += int64(w[mix(h^seedDUni)&(modelSize-1)]) + int64(w[mix(prev*31+h^seedDBi)&(modelSize-1)])
			wd[k+1] = runD
		}
		prev = h
	}
	sc.pu, sc.wu = pu, wu
	if data {
		sc.wd = wd
	}
	sc.wdOK = data
}

func grow[T any](s []T, n int) []T {
	if cap(s) < n {
		return make([]T, n, max(n, 2*cap(s)))
	}
	return s[:n]
}

// window is a range of tokens [t0, t1): class text [off[t0], off[t1]),
// original text [o0, o1).
type window struct {
	t0, t1 int32
	o0, o1 int32
	lenX   float64 // the window's length feature (lenFeature), computed once for all views
}

// lenFeature is the dense length feature of a window of n bytes of class
// text.
func lenFeature(n int) float64 {
	if n >= 0 && n < len(lenFeatures) {
		return lenFeatures[n]
	}
	return lenFeatureOf(n)
}

func lenFeatureOf(n int) float64 { return math.Log2(1+float64(n)) / 10 }

// lenFeatures are lenFeatureOf(n) for the window lengths most texts have.
var lenFeatures = func() (t [2 * winBytes]float64) {
	for n := range t {
		t[n] = lenFeatureOf(n)
	}
	return t
}()

// windows fills sc.wins with text's windows: one starting at each start
// point (the first word, every sentence's first word, and a word at least
// every winForce bytes of a long sentence), each up to winSents start
// points long and at most winBytes of class text (at least one start
// point), leaving out windows that end where the one before ends. Text
// without words is one window.
func windows(sc *scratch, text string, toks []token) []window {
	wins := sc.wins[:0]
	if len(toks) == 0 {
		sc.wins = append(wins, window{0, 0, 0, int32(len(text)), lenFeature(0)})
		return sc.wins
	}
	starts := sc.starts[:0]
	last := int32(-1 << 30)
	for k := range toks {
		if k == 0 || toks[k].brk || sc.off[k]-last >= winForce {
			starts = append(starts, int32(k))
			last = sc.off[k]
		}
	}
	sc.starts = starts
	origAt := func(k int32) int32 {
		if k == 0 {
			return 0
		}
		if int(k) >= len(toks) {
			return int32(len(text))
		}
		return int32(sc.f.at(int(toks[k].start)))
	}
	prevEnd := int32(-1)
	for i := range starts {
		j := i + 1
		for j < len(starts) && j < i+winSents && sc.off[starts[j]]-sc.off[starts[i]] < winBytes {
			j++
		}
		// starts[i:j] are in the window; it ends at starts[j] or the end.
		end := int32(len(toks))
		if j < len(starts) {
			end = starts[j]
		}
		if end == prevEnd {
			continue
		}
		prevEnd = end
		wins = append(wins, window{t0: starts[i], t1: end, o0: origAt(starts[i]), o1: origAt(end), lenX: lenFeature(int(sc.off[end] - sc.off[starts[i]]))})
	}
	sc.wins = wins
	return wins
}

// denseOf fills x with window w's dense features from ev (its hits
// sorted by start, see evidence.sortHits).
func denseOf(x *[nDense]float64, ev *evidence, w window) {
	*x = [nDense]float64{}
	h := ev.hits
	lo, hi := 0, len(h)
	for lo < hi { // the first hit at or after w.o0
		m := int(uint(lo+hi) >> 1)
		if h[m].start < w.o0 {
			lo = m + 1
		} else {
			hi = m
		}
	}
	for i := lo; i < len(h) && h[i].start < w.o1; i++ {
		x[h[i].cat] = max(x[h[i].cat], h[i].w)
	}
	x[catObfuscate] = max(x[catObfuscate], ev.globObf)
	others := false
	for c := range nCats {
		if catID(c) != catObfuscate && x[c] > 0 {
			others = true
		}
	}
	if others {
		x[nCats] = 1
	} else {
		x[catObfuscate] = 0 // hiding words is evidence only together with what was hidden
	}
	x[nCats+1] = w.lenX
}

// logit is the classifier's log-odds for the most suspicious window of
// the text under view v (the tokenizer's class text sc.tok.cls; the
// windows sc.wins; the sums sc.pu, sc.wu, sc.wd) for source src.
func (m *model) logit(sc *scratch, ev *evidence, v int, src Source) float64 {
	n := len(sc.tok.cls)
	best := math.Inf(-1)
	dw := &m.dense[v]
	base := float64(m.bias[srcIndex(src)])
	var x [nDense]float64
	for _, w := range sc.wins {
		a, b := int(sc.off[w.t0]), int(sc.off[w.t1])
		cnt := gramCount(a, b, n) + 2*int(w.t1-w.t0)
		s := sc.pu[b] - sc.pu[a] + sc.wu[w.t1] - sc.wu[w.t0]
		if v == viewData && sc.wdOK {
			s += sc.wd[w.t1] - sc.wd[w.t0]
		}
		z := base
		if cnt > 0 {
			z += float64(m.scale) * float64(s) / math.Sqrt(float64(cnt))
		}
		denseOf(&x, ev, w)
		for i, xv := range x {
			z += float64(dw[i]) * xv
		}
		best = max(best, z)
	}
	return best
}
