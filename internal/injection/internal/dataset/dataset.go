// Package dataset builds the prompt-injection detector's training set from
// public data files (copied into a local directory, verified against a
// committed manifest) and from the project's own hand-written text: hard
// benign negatives, multilingual attacks and their benign twins, and
// documents in a clean and an attacked version.
//
// No third-party text lives in this package: the public files are read at
// build time from the data directory (see docs/injection.md, "Training
// data"). Everything is deterministic: fixed seeds, sorted output.
package dataset

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"hash/fnv"
	"io"
	"math/rand/v2"
	"sort"
	"strings"
	"unicode/utf8"
)

// Labels.
const (
	Injection = "injection"
	Benign    = "benign"
)

// Channels an example arrives by (the detector's Source).
const (
	User     = "user"     // a chat message
	Skill    = "skill"    // tool output: JSON, code, command output
	External = "external" // e-mail, web page, document, table, webhook
)

// Example is one line of examples.jsonl.
type Example struct {
	Text   string `json:"text"`
	Label  string `json:"label"`
	Source string `json:"source"`
	Lang   string `json:"lang"`
	Kind   string `json:"kind"`
	Origin string `json:"origin"`
	// Span is the byte range [start, end) of the attack text inserted into
	// a document; the document without it is the clean twin.
	Span *[2]int `json:"span,omitempty"`
	// Group ties a clean document to its attacked versions (twins), so a
	// split can keep them on one side.
	Group string `json:"group,omitempty"`
}

// MaxTextBytes bounds one example; longer plain texts are cut at a rune
// boundary, longer documents are skipped.
const MaxTextBytes = 6000

// DefaultCap is the most examples (counted by groups of twins) one origin
// contributes, so no single source dominates.
const DefaultCap = 8000

// seed is the one seed every random choice derives from.
const seed = 20261208

// rng returns a generator seeded by the build seed and name, so each
// origin's choices are independent of every other origin's.
func rng(name string) *rand.Rand {
	return rand.New(rand.NewPCG(seed, hash64(name)))
}

func hash64(s string) uint64 {
	h := fnv.New64a()
	_, _ = h.Write([]byte(s))
	return h.Sum64()
}

// clean trims s, normalises line ends and cuts it to MaxTextBytes.
func clean(s string) string {
	s = strings.ReplaceAll(s, "\r\n", "\n")
	s = strings.TrimSpace(s)
	if !utf8.ValidString(s) {
		s = strings.ToValidUTF8(s, "")
	}
	if len(s) > MaxTextBytes {
		cut := MaxTextBytes
		for cut > 0 && !utf8.RuneStart(s[cut]) {
			cut--
		}
		s = strings.TrimSpace(s[:cut])
	}
	return s
}

// finish deduplicates, resolves label conflicts, caps every origin and
// sorts. Exact duplicate texts keep their first occurrence in the
// (deterministic) input order; a text seen with both labels is dropped
// everywhere, since it cannot teach anything.
func finish(in []Example, caps map[string]int) []Example {
	labels := map[string]string{}
	conflict := map[string]bool{}
	for _, e := range in {
		if l, ok := labels[e.Text]; ok && l != e.Label {
			conflict[e.Text] = true
		}
		labels[e.Text] = e.Label
	}
	seen := map[string]bool{}
	var kept []Example
	for _, e := range in {
		if e.Text == "" || conflict[e.Text] || seen[e.Text] {
			continue
		}
		seen[e.Text] = true
		kept = append(kept, e)
	}
	// A twin whose clean or attacked partner was dropped is no longer a
	// twin; drop attacked documents whose clean version is gone.
	cleanOf := map[string]bool{}
	for _, e := range kept {
		if e.Group != "" && e.Span == nil {
			cleanOf[e.Group] = true
		}
	}
	var out []Example
	for _, e := range kept {
		if e.Span != nil && !cleanOf[e.Group] {
			continue
		}
		out = append(out, e)
	}
	out = capOrigins(out, caps)
	sort.SliceStable(out, func(i, j int) bool {
		a, b := out[i], out[j]
		if a.Origin != b.Origin {
			return a.Origin < b.Origin
		}
		ka, kb := groupKey(a), groupKey(b)
		if ka != kb {
			return ka < kb
		}
		return a.Text < b.Text
	})
	return out
}

func groupKey(e Example) string {
	if e.Group != "" {
		return e.Group
	}
	return e.Text
}

// capOrigins keeps at most caps[origin] (DefaultCap when absent) groups
// per origin, chosen by a seeded hash of the group key so the choice is
// stable when other origins change.
func capOrigins(in []Example, caps map[string]int) []Example {
	byOrigin := map[string]map[string]bool{}
	for _, e := range in {
		if byOrigin[e.Origin] == nil {
			byOrigin[e.Origin] = map[string]bool{}
		}
		byOrigin[e.Origin][groupKey(e)] = true
	}
	keep := map[string]bool{}
	for origin, groups := range byOrigin {
		limit, ok := caps[origin]
		if !ok {
			limit = DefaultCap
		}
		keys := make([]string, 0, len(groups))
		for k := range groups {
			keys = append(keys, k)
		}
		sort.Slice(keys, func(i, j int) bool {
			hi, hj := hash64(origin+"\x00"+keys[i]), hash64(origin+"\x00"+keys[j])
			if hi != hj {
				return hi < hj
			}
			return keys[i] < keys[j]
		})
		if len(keys) > limit {
			keys = keys[:limit]
		}
		for _, k := range keys {
			keep[origin+"\x00"+k] = true
		}
	}
	var out []Example
	for _, e := range in {
		if keep[e.Origin+"\x00"+groupKey(e)] {
			out = append(out, e)
		}
	}
	return out
}

// WriteJSONL writes examples one per line.
func WriteJSONL(w io.Writer, examples []Example) error {
	bw := bufio.NewWriter(w)
	enc := json.NewEncoder(bw)
	enc.SetEscapeHTML(false)
	for _, e := range examples {
		if err := enc.Encode(e); err != nil {
			return err
		}
	}
	return bw.Flush()
}

// ReadJSONL reads examples written by WriteJSONL.
func ReadJSONL(r io.Reader) ([]Example, error) {
	var out []Example
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 1<<20), 1<<26)
	for line := 1; sc.Scan(); line++ {
		if len(bytes.TrimSpace(sc.Bytes())) == 0 {
			continue
		}
		var e Example
		if err := json.Unmarshal(sc.Bytes(), &e); err != nil {
			return nil, fmt.Errorf("line %d: %w", line, err)
		}
		out = append(out, e)
	}
	return out, sc.Err()
}

// Counts is the number of examples of each label.
type Counts struct {
	Injection int `json:"injection"`
	Benign    int `json:"benign"`
}

// CountByOrigin tallies examples per origin.
func CountByOrigin(examples []Example) map[string]Counts {
	out := map[string]Counts{}
	for _, e := range examples {
		c := out[e.Origin]
		if e.Label == Injection {
			c.Injection++
		} else {
			c.Benign++
		}
		out[e.Origin] = c
	}
	return out
}

// Validate checks the invariants every built set must hold: labels,
// sources, non-empty text, spans inside the text on rune boundaries, every
// attacked document's clean twin present, no text under two labels.
func Validate(examples []Example) error {
	labelOf := map[string]string{}
	cleanText := map[string]map[string]bool{}
	for _, e := range examples {
		if e.Group != "" && e.Span == nil {
			if cleanText[e.Group] == nil {
				cleanText[e.Group] = map[string]bool{}
			}
			cleanText[e.Group][e.Text] = true
		}
	}
	for i, e := range examples {
		if e.Text == "" {
			return fmt.Errorf("example %d (%s): empty text", i, e.Origin)
		}
		if e.Label != Injection && e.Label != Benign {
			return fmt.Errorf("example %d (%s): label %q", i, e.Origin, e.Label)
		}
		if e.Source != User && e.Source != Skill && e.Source != External {
			return fmt.Errorf("example %d (%s): source %q", i, e.Origin, e.Source)
		}
		if e.Origin == "" || e.Kind == "" || e.Lang == "" {
			return fmt.Errorf("example %d: origin, kind and lang are required", i)
		}
		if !utf8.ValidString(e.Text) {
			return fmt.Errorf("example %d (%s): invalid UTF-8", i, e.Origin)
		}
		if l, ok := labelOf[e.Text]; ok && l != e.Label {
			return fmt.Errorf("example %d (%s): text appears with both labels", i, e.Origin)
		}
		labelOf[e.Text] = e.Label
		if e.Span != nil {
			s, t := e.Span[0], e.Span[1]
			if s < 0 || t <= s || t > len(e.Text) {
				return fmt.Errorf("example %d (%s): span %v outside text of %d bytes", i, e.Origin, *e.Span, len(e.Text))
			}
			if !utf8.RuneStart(e.Text[s]) || (t < len(e.Text) && !utf8.RuneStart(e.Text[t])) {
				return fmt.Errorf("example %d (%s): span %v not on rune boundaries", i, e.Origin, *e.Span)
			}
			if e.Label != Injection || e.Group == "" {
				return fmt.Errorf("example %d (%s): a span marks an attacked twin (injection, grouped)", i, e.Origin)
			}
			if !cleanText[e.Group][e.Text[:s]+e.Text[t:]] {
				return fmt.Errorf("example %d (%s): removing the span does not give the clean twin of group %s", i, e.Origin, e.Group)
			}
		}
	}
	return nil
}
