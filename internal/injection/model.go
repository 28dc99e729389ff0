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
	for _, t := range toks {
		if t.c == cTarget {
			b = append(b, "http "...) // addresses as one shape, not their letters
			continue
		}
		b = append(b, t.text...)
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

// logit is the classifier's log-odds for the most suspicious window: the
// window's summed gram weights over the square root of its gram count (the
// count vector's L2 norm for distinct grams), as in training.
func (m *model) logit(sc *scratch, toks []token, src Source) float64 {
	text := classText(sc, toks)
	base := float64(m.bias + m.src[srcIndex(src)])
	if len(text) < 3 {
		return base
	}
	// pos[i] is the summed weight of the grams starting at i; counts are
	// 3 per position but the last two.
	if cap(sc.pos) < len(text) {
		sc.pos = make([]float32, len(text))
	}
	pos := sc.pos[:len(text)]
	clear(pos)
	grams(text, func(i int, bkt uint32) { pos[i] += m.w[bkt] })
	count := func(a, b int) int { // grams starting in [a, b)
		n := 0
		for i := a; i < b; i++ {
			n += min(3, max(0, len(text)-i-2))
		}
		return n
	}
	best := math.Inf(-1)
	for a := 0; ; a += windowStep {
		b := min(a+windowBytes, len(text))
		var s float32
		for _, v := range pos[a:b] {
			s += v
		}
		if n := count(a, b); n > 0 {
			best = max(best, float64(s)/math.Sqrt(float64(n)))
		}
		if b == len(text) {
			break
		}
	}
	if math.IsInf(best, -1) {
		return base
	}
	return base + best
}
