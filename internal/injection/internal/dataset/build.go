package dataset

import (
	"fmt"
	"io/fs"
)

// Caps per origin (groups of twins count once); origins not listed get
// DefaultCap.
var Caps = map[string]int{
	// Player-written defences are many and odd; keep them from outweighing
	// the everyday benign sources.
	"tensortrust-defenses": 5000,
}

// Build verifies the raw files against m, reads them with the loaders of
// table, adds the project's own text and returns the finished, validated
// examples. raw is the data directory's raw/ folder.
func Build(raw fs.FS, m *Manifest, table []Source) ([]Example, error) {
	if err := m.CheckTable(table); err != nil {
		return nil, err
	}
	if err := m.Verify(raw); err != nil {
		return nil, err
	}
	b := newBuilder()
	for _, f := range m.Files {
		s := table[lookup(table, f)]
		data, err := fs.ReadFile(raw, f.RawPath())
		if err != nil {
			return nil, err
		}
		if err := s.load(b, f.Path, data); err != nil {
			return nil, fmt.Errorf("%s: %w", f.RawPath(), err)
		}
	}
	own(b)
	out := finish(b.ex, Caps)
	if err := Validate(out); err != nil {
		return nil, err
	}
	return out, nil
}

// own adds the project's hand-written text.
func own(b *builder) {
	englishIndirect(b)
	englishDirect(b)
	englishHardNegatives(b)
	moreHardNegatives(b)
	multilingual(b)
	komandDocs(b)
	moreDocs(b)
	hardNegativeData(b)
	twins(b)
}

// Summarise fills m's counts from the built examples.
func Summarise(m *Manifest, examples []Example) {
	m.Seed = seed
	m.Origins = CountByOrigin(examples)
	m.Total = Counts{}
	for _, c := range m.Origins {
		m.Total.Injection += c.Injection
		m.Total.Benign += c.Benign
	}
}
