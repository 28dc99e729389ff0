package injection

import (
	"math"
	"testing"
)

// TestTrainMatchesRuntime: the log-odds training computes for a
// document's windows (features, plain) is the runtime's (sums, inlined)
// for the same weights, within quantisation.
func TestTrainMatchesRuntime(t *testing.T) {
	ex := readCorpus(t)[:300]
	for i := range ex {
		ex[i].Origin = CorpusOrigin
	}
	ts := newTrainSet(ex, 1)
	p := ts.fit(func(i int) bool { return i%2 == 0 })
	m := p.quantise()
	d := withModel(m)
	bad := 0
	for i, e := range ex {
		doc := &ts.docs[i]
		if len(e.Text) > trainMaxBytes {
			continue
		}
		best := math.Inf(-1)
		for wi := range doc.wins {
			best = max(best, p.z(doc, &doc.wins[wi], doc.view))
		}
		zu, zd := d.logits(e.Text, e.Source)
		z := zu
		if e.Source.data() {
			z = zd
		}
		// (A decoded span can only raise the runtime's score.)
		if (math.Abs(z-best) > 0.02 && math.Abs(z-best) > 0.02*math.Abs(best)) && !(z > best && hasEncoding(d.Screen(e.Text, e.Source))) {
			if bad++; bad < 10 {
				t.Errorf("%d %s: runtime %.4f, training %.4f: %.80q", i, e.Source, z, best, e.Text)
			}
		}
	}
}

func hasEncoding(r Result) bool {
	for _, s := range r.Spans {
		if s.Encoding != "" {
			return true
		}
	}
	return false
}
