package injection

//go:generate go run ./internal/gen -corpus testdata/corpus.jsonl -out model.bin

import (
	"bufio"
	"encoding/json"
	"fmt"
	"hash/fnv"
	"io"
	"math"
	"math/rand/v2"
)

// Example is one labelled line of the corpus.
type Example struct {
	Text   string `json:"text"`
	Label  string `json:"label"` // "injection" or "benign"
	Source Source `json:"source"`
	Lang   string `json:"lang"`
	Kind   string `json:"kind"`
}

// Injection reports the example's label.
func (e Example) Injection() bool { return e.Label == VerdictInjection }

// ReadCorpus reads JSON Lines examples.
func ReadCorpus(r io.Reader) ([]Example, error) {
	var out []Example
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 1<<20), 1<<24)
	for line := 1; sc.Scan(); line++ {
		if len(sc.Bytes()) == 0 {
			continue
		}
		var e Example
		if err := json.Unmarshal(sc.Bytes(), &e); err != nil {
			return nil, fmt.Errorf("corpus line %d: %w", line, err)
		}
		src, ok := ParseSource(string(e.Source))
		if !ok || (e.Label != VerdictInjection && e.Label != VerdictBenign) || e.Text == "" {
			return nil, fmt.Errorf("corpus line %d: bad label, source or empty text", line)
		}
		e.Source = src
		out = append(out, e)
	}
	return out, sc.Err()
}

// InTestSplit reports whether an example belongs to the held-out test
// split: three in ten, chosen by a hash of the text so the split does not
// move when examples are added.
func InTestSplit(text string) bool {
	h := fnv.New32a()
	_, _ = h.Write([]byte(text))
	return h.Sum32()%10 < 3
}

// Training parameters (fixed, so the model is reproducible).
const (
	trainEpochs = 20
	trainRate   = 1.0
	trainL2     = 1e-4
	trainSeed   = 7
)

// Train fits the classifier on examples (the caller passes the training
// split) with the rules as a fixed offset, and returns the model file.
// The same corpus gives the same bytes.
func Train(examples []Example) []byte {
	d := New(Options{RulesOnly: true})
	type row struct {
		z0    float64
		src   int
		y     float64
		grams []uint32
	}
	rows := make([]row, 0, len(examples))
	for _, e := range examples {
		budget := maxDecoded
		ev := d.evidence(e.Text, e.Source, 0, &budget)
		sc := d.pool.Get().(*scratch)
		sc.f.fold(e.Text)
		sc.tok.run(sc.f.b)
		text := classText(sc, sc.tok.toks)
		var g []uint32
		grams(text, func(_ int, b uint32) { g = append(g, b) })
		d.pool.Put(sc)
		y := 0.0
		if e.Injection() {
			y = 1
		}
		rows = append(rows, row{z0: ev.z, src: srcIndex(e.Source), y: y, grams: g})
	}
	m := &model{w: make([]float32, modelSize)}
	w := make([]float64, modelSize)
	var b float64
	var srcW [3]float64
	rng := rand.New(rand.NewPCG(trainSeed, trainSeed))
	order := make([]int, len(rows))
	for i := range order {
		order[i] = i
	}
	for epoch := 0; epoch < trainEpochs; epoch++ {
		rng.Shuffle(len(order), func(i, j int) { order[i], order[j] = order[j], order[i] })
		rate := trainRate / (1 + float64(epoch)/10)
		for _, i := range order {
			r := rows[i]
			z := r.z0 + b + srcW[r.src]
			k := math.Sqrt(float64(max(1, len(r.grams))))
			var s float64
			for _, g := range r.grams {
				s += w[g]
			}
			z += s / k
			p := 1 / (1 + math.Exp(-z))
			g := float64(p - r.y)
			b -= float64(rate * g)
			srcW[r.src] -= float64(rate * g)
			step := float64(rate * g / k)
			for _, gi := range r.grams {
				w[gi] -= step + float64(rate*trainL2*w[gi])
			}
		}
	}
	m.bias = float32(b)
	for i := range srcW {
		m.src[i] = float32(srcW[i])
	}
	for i, v := range w {
		m.w[i] = float32(v)
	}
	return m.encode()
}
