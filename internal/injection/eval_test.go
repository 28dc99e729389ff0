package injection

import (
	"bytes"
	"math"
	"os"
	"testing"
)

// Floors for TestCorpusMetrics, under the default warn thresholds (what
// the default policy flags).
const (
	minRecall = 0.73
	maxFPR    = 0.05
	minF1     = 0.81
)

type confusion struct{ tp, fp, tn, fn int }

func (c confusion) precision() float64 { return ratio(c.tp, c.tp+c.fp) }
func (c confusion) recall() float64    { return ratio(c.tp, c.tp+c.fn) }
func (c confusion) fpr() float64       { return ratio(c.fp, c.fp+c.tn) }
func (c confusion) f1() float64 {
	p, r := c.precision(), c.recall()
	if p+r == 0 {
		return 0
	}
	return 2 * p * r / (p + r)
}

func ratio(a, b int) float64 {
	if b == 0 {
		return 0
	}
	return float64(a) / float64(b)
}

func readCorpus(t testing.TB) []Example {
	t.Helper()
	f, err := os.Open("testdata/corpus.jsonl")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	ex, err := ReadCorpus(f)
	if err != nil {
		t.Fatal(err)
	}
	return ex
}

// evaluate counts d's verdicts on the test (or training) split of ex; with
// warn, a score at or above the source's default warn threshold is the
// verdict injection.
func evaluate(d *Detector, ex []Example, test, warn bool, miss func(Example, Result)) confusion {
	var c confusion
	for _, e := range ex {
		if InTestSplit(e.Text) != test {
			continue
		}
		r := d.Screen(e.Text, e.Source)
		got := r.Verdict == VerdictInjection
		if w, _ := DefaultThresholds(e.Source); warn {
			got = r.Score >= w
		}
		switch {
		case got && e.Injection():
			c.tp++
		case got:
			c.fp++
			if miss != nil {
				miss(e, r)
			}
		case e.Injection():
			c.fn++
			if miss != nil {
				miss(e, r)
			}
		default:
			c.tn++
		}
	}
	return c
}

// TestCorpusMetrics measures the detector on the held-out split of the
// project's corpus (the split the model never trained on), flagged at the
// default warn thresholds, and holds the numbers above a floor a little
// under what was measured when the model was last trained
// (docs/injection.md, "Corpus and measurement"). A change to the
// rules, the lexicon or the corpus that costs recall or adds false
// positives fails here.
func TestCorpusMetrics(t *testing.T) {
	ex := readCorpus(t)
	var inj, ben int
	for _, e := range ex {
		if e.Injection() {
			inj++
		} else {
			ben++
		}
	}
	if len(ex) < 600 || ben*2 < len(ex)-40 {
		t.Fatalf("corpus has %d examples (%d benign); want at least 600, about half benign", len(ex), ben)
	}
	d := New(Options{})
	c := evaluate(d, ex, true, true, func(e Example, r Result) {
		t.Logf("miss: %s %s/%s score %.3f %v: %.120q", e.Label, e.Source, e.Lang, r.Score, r.Categories, e.Text)
	})
	t.Logf("test split: %d examples, tp %d fp %d tn %d fn %d; precision %.3f recall %.3f F1 %.3f FPR %.3f",
		c.tp+c.fp+c.tn+c.fn, c.tp, c.fp, c.tn, c.fn, c.precision(), c.recall(), c.f1(), c.fpr())
	if c.tp+c.fn < 100 || c.fp+c.tn < 100 {
		t.Fatalf("test split too small: %+v", c)
	}
	if c.recall() < minRecall || c.fpr() > maxFPR || c.f1() < minF1 {
		t.Errorf("recall %.3f (floor %.2f), FPR %.3f (ceiling %.2f), F1 %.3f (floor %.2f)",
			c.recall(), minRecall, c.fpr(), maxFPR, c.f1(), minF1)
	}
	rules := evaluate(New(Options{RulesOnly: true}), ex, true, false, nil)
	t.Logf("rules only: precision %.3f recall %.3f F1 %.3f FPR %.3f", rules.precision(), rules.recall(), rules.f1(), rules.fpr())
	if rules.f1() >= c.f1() {
		t.Errorf("the classifier adds nothing: F1 %.3f with it, %.3f without", c.f1(), rules.f1())
	}
}

// TestModelReproducible retrains the classifier from the training data
// (the corpus's training split and $KOMAND_TRAINING_DATA/examples.jsonl)
// and compares it with the embedded model.bin byte for byte: the model in
// the binary is the one `go generate ./internal/injection` makes from that
// data. It needs the data directory (the public data is not in the
// repository), so it runs only when KOMAND_TRAINING_DATA is set.
func TestModelReproducible(t *testing.T) {
	dir := os.Getenv("KOMAND_TRAINING_DATA")
	if dir == "" {
		t.Skip("KOMAND_TRAINING_DATA is not set")
	}
	ex, err := LoadTrainingData("testdata/corpus.jsonl", dir)
	if err != nil {
		t.Fatal(err)
	}
	got, _ := Train(ex, TrainOptions{Workers: 2})
	if bytes.Equal(got, modelBin) {
		return
	}
	// Another CPU architecture may round (or fuse) floating-point steps
	// differently: the same data must still give the same weights to
	// within that rounding.
	a, errA := decodeModel(got)
	m := embeddedModel()
	if errA != nil || m == nil {
		t.Fatalf("model does not decode: %v, embedded %v", errA, m != nil)
	}
	diff := 0.0
	for i := range a.w {
		diff = max(diff, math.Abs(float64(a.w[i])*float64(a.scale)-float64(m.w[i])*float64(m.scale)))
	}
	for i := range a.bias {
		diff = max(diff, math.Abs(float64(a.bias[i]-m.bias[i])), math.Abs(float64(a.block[i]-m.block[i])))
	}
	if diff > 1e-3 {
		t.Fatalf("retrained model differs from the embedded model.bin by up to %g: run KOMAND_TRAINING_DATA=%s go generate ./internal/injection", diff, dir)
	}
}
