package injection

import (
	_ "embed"
	"encoding/binary"
	"errors"
	"math"
)

// The statistical classifier is logistic regression over hashed character
// 3-, 4- and 5-grams of the normalised words (leetspeak, look-alikes and
// spacing already undone), plus one weight per source. Its weights are
// trained from testdata/corpus.jsonl by `go generate` (see train.go) and
// embedded: nothing is downloaded at run time. Long text is scored in
// overlapping windows and the most suspicious window counts, so an
// instruction buried in a long benign document is not averaged away.
const (
	modelBits   = 16
	modelSize   = 1 << modelBits
	windowBytes = 768
	windowStep  = 384
)

var modelMagic = [4]byte{'K', 'I', 'M', '1'}

type model struct {
	bias float32
	src  [3]float32
	w    []float32
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

func decodeModel(b []byte) (*model, error) {
	if len(b) != 4+4*4+4*modelSize || [4]byte(b[:4]) != modelMagic {
		return nil, errors.New("injection: model file has the wrong size or magic")
	}
	f := func(i int) float32 { return math.Float32frombits(binary.LittleEndian.Uint32(b[4+4*i:])) }
	m := &model{bias: f(0), src: [3]float32{f(1), f(2), f(3)}, w: make([]float32, modelSize)}
	for i := range m.w {
		m.w[i] = f(4 + i)
	}
	return m, nil
}

func (m *model) encode() []byte {
	b := make([]byte, 0, 4+4*4+4*modelSize)
	b = append(b, modelMagic[:]...)
	put := func(v float32) { b = binary.LittleEndian.AppendUint32(b, math.Float32bits(v)) }
	put(m.bias)
	for _, v := range m.src {
		put(v)
	}
	for _, v := range m.w {
		put(v)
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

// grams calls fn for each 3-, 4- and 5-gram of text with the position of
// its first byte and its bucket: one running FNV-1a hash per position,
// read after the third, fourth and fifth byte.
func grams(text []byte, fn func(pos int, bucket uint32)) {
	for i := 0; i+3 <= len(text); i++ {
		h := uint32(2166136261)
		for n := 0; n < 5 && i+n < len(text); n++ {
			h ^= uint32(text[i+n])
			h *= 16777619
			if n >= 2 {
				fn(i, (h^h>>16)&(modelSize-1))
			}
		}
	}
}

// gramSums adds to p[i-lo], for each position i in [lo, hi), the weights
// of the grams starting at i, in the order grams gives them (3-, 4-, then
// 5-gram): grams with the hashing inlined.
func (m *model) gramSums(text []byte, lo, hi int, p []float32) {
	w := m.w[:modelSize]
	n := len(text)
	for i := lo; i < hi && i+3 <= n; i++ {
		h := uint32(2166136261)
		h = (h ^ uint32(text[i])) * 16777619
		h = (h ^ uint32(text[i+1])) * 16777619
		h = (h ^ uint32(text[i+2])) * 16777619
		s := p[i-lo] + w[(h^h>>16)&(modelSize-1)]
		if i+3 < n {
			h = (h ^ uint32(text[i+3])) * 16777619
			s += w[(h^h>>16)&(modelSize-1)]
			if i+4 < n {
				h = (h ^ uint32(text[i+4])) * 16777619
				s += w[(h^h>>16)&(modelSize-1)]
			}
		}
		p[i-lo] = s
	}
}

// gramsAt is k when position p is in [a, b), else 0.
func gramsAt(p, a, b, k int) int {
	if p >= 0 && a <= p && p < b {
		return k
	}
	return 0
}

// A window is two steps: each block of windowStep positions is summed
// into two windows.
const (
	_ uint = windowBytes - 2*windowStep
	_ uint = 2*windowStep - windowBytes
)

// logit is the classifier's log-odds for the most suspicious window of
// text (classText's words; the tokenizer makes it as it reads,
// tokenizer.cls): the window's summed gram weights over the square root of
// its gram count (the count vector's L2 norm for distinct grams), as in
// training.
func (m *model) logit(sc *scratch, text []byte, src Source) float64 {
	base := float64(m.bias + m.src[srcIndex(src)])
	n := len(text)
	if n < 3 {
		return base
	}
	// The summed weight of the grams starting at each position is kept
	// for two blocks of windowStep positions at a time: a window's and
	// the next one's.
	block := func(k int) []float32 {
		lo := k * windowStep
		p := sc.pos[k%2][:min(windowStep, n-lo)]
		clear(p)
		m.gramSums(text, lo, lo+len(p), p)
		return p
	}
	count := func(a, b int) int { // grams starting in [a, b): 3 per position but the last two
		return 3*max(0, min(b, n-4)-a) + gramsAt(n-4, a, b, 2) + gramsAt(n-3, a, b, 1)
	}
	best := math.Inf(-1)
	cur := block(0)
	for a, k := 0, 0; ; a, k = a+windowStep, k+1 {
		b := min(a+windowBytes, n)
		var s float32
		for _, v := range cur { // positions [a, min(a+windowStep, b))
			s += v
		}
		var next []float32
		if a+windowStep < b { // and [a+windowStep, b)
			next = block(k + 1)
			for _, v := range next {
				s += v
			}
		}
		if c := count(a, b); c > 0 {
			best = max(best, float64(s)/math.Sqrt(float64(c)))
		}
		if b == n {
			break
		}
		cur = next
	}
	if math.IsInf(best, -1) {
		return base
	}
	return base + best
}
