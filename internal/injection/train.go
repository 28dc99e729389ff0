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

// Training parameters (fixed, so the model is reproducible). The L2
// strength is chosen by cross-validation on the examples Train is given
// (trainL2s, trainFolds).
const (
	trainEpochs = 20
	trainRate   = 1.0
	trainSeed   = 7
	trainFolds  = 5
)

// trainL2s are the L2 strengths cross-validation chooses from.
var trainL2s = []float64{1e-6, 3e-6, 1e-5, 3e-5, 1e-4, 3e-4}

// trainRow is one example as the classifier sees it: the rules' log-odds
// (a fixed offset), the source and the hashed grams of its words.
type trainRow struct {
	z0    float64
	src   int
	y     float64
	grams []uint32
	fold  int
}

func trainRows(examples []Example) []trainRow {
	d := New(Options{RulesOnly: true})
	rows := make([]trainRow, 0, len(examples))
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
		h := fnv.New32a()
		_, _ = h.Write([]byte("cv\x00" + e.Text))
		rows = append(rows, trainRow{z0: ev.z, src: srcIndex(e.Source), y: y, grams: g, fold: int(h.Sum32() % trainFolds)})
	}
	return rows
}

// fit runs stochastic gradient descent on rows (all but fold skip, or all
// when skip is -1) with L2 strength l2.
func fit(rows []trainRow, skip int, l2 float64) *model {
	m := &model{w: make([]float32, modelSize)}
	// The gram weights are scale*v, so that L2 decay of every weight at
	// each step is one multiplication of scale.
	v := make([]float64, modelSize)
	scale := 1.0
	var b float64
	var srcW [3]float64
	rng := rand.New(rand.NewPCG(trainSeed, trainSeed))
	var order []int
	for i := range rows {
		if rows[i].fold != skip {
			order = append(order, i)
		}
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
				s += v[g]
			}
			z += scale * s / k
			p := 1 / (1 + math.Exp(-z))
			g := p - r.y
			b -= rate * g
			srcW[r.src] -= rate * g
			scale *= 1 - rate*l2
			step := rate * g / k / scale
			for _, gi := range r.grams {
				v[gi] -= step
			}
			if scale < 1e-6 {
				for i := range v {
					v[i] *= scale
				}
				scale = 1
			}
		}
	}
	m.bias = float32(b)
	for i := range srcW {
		m.src[i] = float32(srcW[i])
	}
	for i, x := range v {
		m.w[i] = float32(scale * x)
	}
	return m
}

// CVResult is one L2 strength's cross-validated quality on the training
// examples: the detector's log-loss and errors at DefaultThreshold over
// the held-out folds.
type CVResult struct {
	L2             float64
	LogLoss        float64
	TP, FP, TN, FN int
	Chosen         bool
}

// crossValidate scores each L2 strength by training on all folds but one
// and screening the held-out fold with the whole detector.
func crossValidate(examples []Example, rows []trainRow) []CVResult {
	var out []CVResult
	for _, l2 := range trainL2s {
		res := CVResult{L2: l2}
		for f := 0; f < trainFolds; f++ {
			d := withModel(fit(rows, f, l2))
			for i, e := range examples {
				if rows[i].fold != f {
					continue
				}
				p := d.Screen(e.Text, e.Source).Score
				p = min(max(p, 1e-4), 1-1e-4)
				inj := p >= DefaultThreshold
				if e.Injection() {
					res.LogLoss -= math.Log(p)
					if inj {
						res.TP++
					} else {
						res.FN++
					}
				} else {
					res.LogLoss -= math.Log(1 - p)
					if inj {
						res.FP++
					} else {
						res.TN++
					}
				}
			}
		}
		res.LogLoss /= float64(len(examples))
		out = append(out, res)
	}
	return out
}

// withModel is a detector that uses m as its classifier.
func withModel(m *model) *Detector {
	t := *loadTables()
	t.model = m
	d := &Detector{t: &t, threshold: DefaultThreshold}
	d.pool.New = func() any { return &scratch{tok: tokenizer{d: d.t}} }
	return d
}

// Train fits the classifier on examples (the caller passes the training
// split) with the rules as a fixed offset, and returns the model file and
// the cross-validation that chose its L2 strength (the lowest held-out
// log-loss). The same corpus gives the same bytes.
func Train(examples []Example) ([]byte, []CVResult) {
	rows := trainRows(examples)
	cv := crossValidate(examples, rows)
	best := 0
	for i := range cv {
		if cv[i].LogLoss < cv[best].LogLoss {
			best = i
		}
	}
	cv[best].Chosen = true
	return fit(rows, -1, cv[best].L2).encode(), cv
}
