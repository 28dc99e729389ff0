package injection

import (
	"cmp"
	"math"
	"slices"
	"testing"
	"unicode/utf8"
)

// evidenceRef is the straightforward computation evidenceIn optimises:
// each view on its own, markers by the byte-by-byte scan (markersRef),
// and every rule tried at every token (rulesRef), with no index, no
// pre-check of the words a rule needs and nothing shared between the
// views. Decoded spans are screened as evidenceIn screens them.
func (d *Detector) evidenceRef(sc *scratch, text string, src Source, depth int, budget *int) views {
	var vs views
	vs.n = 1
	if src.data() {
		vs.n = 2
	}
	sc.f.fold(text)
	quotes(sc, sc.f.b)
	sc.tok.run(sc.f.b)
	toks := sc.tok.toks
	sc.meta = sc.tok.present&cMeta != 0
	sc.metaWords = sc.tok.meta
	for k := 0; k < vs.n; k++ {
		ev, s := &vs.v[k], viewSource(k, src)
		ev.dz = math.Inf(-1)
		d.markersRef(sc, text, s, ev)
		d.rulesRef(sc, text, toks, s, ev)
		if sc.f.hidden > 0 && sc.f.bidi && ev.cats[catObfuscate] < 1 {
			ev.cats[catObfuscate] = 1
			ev.has |= 1 << catObfuscate
			ev.globObf = 1
		}
	}
	if depth < maxDepth {
		d.decoded(sc, text, src, depth, budget, &vs)
		if sc.f.bidi || sc.tok.present&cReverse != 0 {
			d.reversed(text, src, depth, budget, &vs)
		}
	}
	clsOffsets(sc, toks)
	windows(sc, text, toks)
	m := d.t.model
	if d.noModel {
		m = nil
	}
	for k := 0; k < vs.n; k++ {
		ev, s := &vs.v[k], viewSource(k, src)
		ev.sortHits()
		if m != nil {
			ev.z = logitRef(m, sc, ev, k, s)
		} else {
			ev.z = rulesLogit(ev, s)
		}
		ev.z = max(ev.z, ev.dz)
	}
	return vs
}

// logitRef is the classifier's log-odds summed over the plain feature
// enumeration of each window (features), in the quantised units sums
// uses, so it is exact.
func logitRef(m *model, sc *scratch, ev *evidence, v int, src Source) float64 {
	cls, toks := sc.tok.cls, sc.tok.toks
	type f struct {
		pos  int
		w    int64
		data bool
	}
	var fs []f
	features(sc, cls, toks, v == viewData, func(pos int, b uint32, data bool) {
		fs = append(fs, f{pos, int64(m.w[b]), data})
	})
	best := math.Inf(-1)
	var x [nDense]float64
	for _, w := range sc.wins {
		a, b := int(sc.off[w.t0]), int(sc.off[w.t1])
		var s int64
		for _, x := range fs {
			if x.pos >= a && x.pos < b {
				s += x.w
			}
		}
		cnt := gramCount(a, b, len(cls)) + 2*int(w.t1-w.t0)
		z := float64(m.bias[srcIndex(src)])
		if cnt > 0 {
			z += float64(m.scale) * float64(s) / math.Sqrt(float64(cnt))
		}
		denseOf(&x, ev, w)
		x[nCats+1] = math.Log2(1+float64(b-a)) / 10 // the length feature, not the window's precomputed one
		for i, xv := range x {
			z += float64(m.dense[v][i]) * xv
		}
		best = max(best, z)
	}
	return best
}

// rulesRef tries every rule that counts for src at every token.
func (d *Detector) rulesRef(sc *scratch, text string, toks []token, src Source, ev *evidence) {
	for i := range toks {
		for ri := range d.t.rules {
			d.try1Ref(sc, text, toks, i, &d.t.rules[ri], src, ev)
		}
	}
}

func (d *Detector) try1Ref(sc *scratch, text string, toks []token, i int, r *rule, src Source, ev *evidence) {
	if r.dataOnly && !src.data() {
		return
	}
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
		w *= negDamp
	}
	ev.add(r.cid, w, Span{Start: s, End: e})
	if obfuscated(text, toks[i:end+1], &sc.f) {
		ev.add(catObfuscate, 1, Span{Start: s, End: e})
	}
}

// resultRef is result without the scratch: categories sorted by name.
func (d *Detector) resultRef(vs *views, src Source) Result {
	score := d.prob(vs.v[viewUser].z, SourceUser)
	if vs.n == 2 {
		score = max(score, d.prob(vs.v[viewData].z, src))
	}
	res := Result{Score: math.Round(score*1e4) / 1e4, Verdict: VerdictBenign, Categories: []string{}}
	if score >= d.threshold[srcIndex(src)] {
		res.Verdict = VerdictInjection
	}
	has := vs.v[0].has | vs.v[1].has
	for c, name := range catNames {
		if has&(1<<c) != 0 {
			res.Categories = append(res.Categories, name)
		}
	}
	slices.Sort(res.Categories)
	if res.Verdict == VerdictInjection && len(res.Categories) == 0 {
		res.Categories = append(res.Categories, CatModel)
	}
	var spans []Span
	for k := 0; k < vs.n; k++ {
		spans = append(spans, vs.v[k].spans...)
	}
	if spans = mergeSpans(spans); len(spans) > 0 {
		res.Spans = spans
	}
	return res
}

// TestScreenMatchesReference: the optimised screen (the views sharing
// markers and rules, rules found through their index and pre-checked,
// buffers in the pooled scratch, the windowed sums) gives bit for bit
// what the straightforward computation gives, on the corpus, its texts
// cut to chat size and generated texts, from every source, with and
// without the classifier: each view's log-odds, categories, weights, hits
// and spans, without decoding (depth maxDepth) and with it, and Screen's
// whole result.
func TestScreenMatchesReference(t *testing.T) {
	texts := refTexts(t)
	sortHits := func(h []hit) []hit {
		h = slices.Clone(h)
		slices.SortFunc(h, func(a, b hit) int {
			return cmp.Or(cmp.Compare(a.start, b.start), cmp.Compare(a.cat, b.cat), cmp.Compare(a.w, b.w))
		})
		return h
	}
	sortSpans := func(s []Span) []Span {
		s = slices.Clone(s)
		slices.SortFunc(s, func(a, b Span) int {
			return cmp.Or(a.Start-b.Start, a.End-b.End, cmp.Compare(a.Category, b.Category), cmp.Compare(a.Encoding, b.Encoding))
		})
		return s
	}
	checked, flagged := 0, 0
	for _, rulesOnly := range []bool{false, true} {
		d := New(Options{RulesOnly: rulesOnly})
		ref := New(Options{RulesOnly: rulesOnly})
		for _, text := range texts {
			for _, src := range sources {
				for _, depth := range []int{maxDepth, 0} {
					sc, rsc := d.pool.Get().(*scratch), ref.pool.Get().(*scratch)
					b1, b2 := maxDecoded, maxDecoded
					got := d.evidenceIn(sc, text, src, depth, &b1)
					want := ref.evidenceRef(rsc, text, src, depth, &b2)
					if got.n != want.n || b1 != b2 {
						t.Fatalf("%s %q: %d views (budget %d), reference %d (%d)", src, text, got.n, b1, want.n, b2)
					}
					for k := 0; k < got.n; k++ {
						g, w := &got.v[k], &want.v[k]
						if math.Float64bits(g.z) != math.Float64bits(w.z) || math.Float64bits(g.dz) != math.Float64bits(w.dz) ||
							g.cats != w.cats || g.has != w.has || g.globObf != w.globObf {
							t.Fatalf("rules only %v, %s view %d, depth %d, %q:\n z %v dz %v cats %v has %b\nreference z %v dz %v cats %v has %b",
								rulesOnly, src, k, depth, text, g.z, g.dz, g.cats, g.has, w.z, w.dz, w.cats, w.has)
						}
						if !slices.Equal(sortHits(g.hits), sortHits(w.hits)) {
							t.Fatalf("rules only %v, %s view %d, depth %d, %q: hits %v, reference %v",
								rulesOnly, src, k, depth, text, g.hits, w.hits)
						}
					}
					// A span two views share is recorded once: the views'
					// spans together, merged, are the reference's.
					var gs, ws []Span
					for k := 0; k < got.n; k++ {
						gs = append(gs, got.v[k].spans...)
						ws = append(ws, want.v[k].spans...)
					}
					if gs, ws = mergeSpans(sortSpans(gs)), mergeSpans(sortSpans(ws)); !slices.Equal(gs, ws) {
						t.Fatalf("rules only %v, %s depth %d, %q: spans %v, reference %v", rulesOnly, src, depth, text, gs, ws)
					}
					if depth == 0 {
						res, wres := d.result(sc, &got, src), ref.resultRef(&want, src)
						if !slices.Equal(res.Categories, wres.Categories) || res.Score != wres.Score || res.Verdict != wres.Verdict ||
							!slices.Equal(res.Spans, wres.Spans) {
							t.Fatalf("%s %q: result %+v, reference %+v", src, text, res, wres)
						}
						wspans := wres.Spans
						if len(wspans) > 0 && !utf8.ValidString(text) {
							wspans = validSpans(text, wspans)
						}
						if s := d.Screen(text, src); !slices.Equal(s.Categories, wres.Categories) || s.Score != wres.Score ||
							s.Verdict != wres.Verdict || !slices.Equal(s.Spans, wspans) {
							t.Fatalf("%s %q: Screen %+v, reference %+v", src, text, s, wres)
						}
						if res.Verdict == VerdictInjection {
							flagged++
						}
						checked++
					}
					d.pool.Put(sc)
					ref.pool.Put(rsc)
				}
			}
		}
	}
	t.Logf("%d screenings, %d flagged", checked, flagged)
	if flagged < checked/10 || flagged > checked*9/10 {
		t.Errorf("%d of %d texts flagged: the texts do not exercise both verdicts", flagged, checked)
	}
}
