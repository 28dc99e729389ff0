package injection

// Reported speech. Security training, alert triage notes and support
// tickets quote attacks ("users type 'ignore all previous instructions'");
// a phrase inside quotation marks, in text that also talks about examples,
// attacks or detection, weighs quoteDamp of its weight. An attacker who
// wraps an instruction in quotes and adds "for example" lowers its score;
// that is why the deterministic controls (see the session package) do not
// depend on the detector.
const quoteDamp = 0.3

// maxQuote bounds a quoted stretch, in folded bytes.
const maxQuote = 400

// quotes records the quoted stretches of folded text f in sc.quotes: text
// between a pair of '"' or '`', or of single quotes at word boundaries
// (apostrophes inside words are not quotes). In JSON text ('{' or '[' first)
// bare '"' is syntax and only an escaped \" quotes.
func quotes(sc *scratch, f []byte) {
	sc.quotes = sc.quotes[:0]
	json := false
	for _, c := range f {
		if c == ' ' || c == '\n' || c == '\t' || c == '\r' {
			continue
		}
		json = c == '{' || c == '['
		break
	}
	opens := func(i int) bool {
		switch f[i] {
		case '`':
			return true
		case '"':
			return !json || i > 0 && f[i-1] == '\\'
		case '\'':
			return (i == 0 || !isWordByte(f[i-1])) && i+1 < len(f) && f[i+1] != ' '
		}
		return false
	}
	closes := func(i int, q byte) bool {
		if f[i] != q {
			return false
		}
		switch q {
		case '"':
			return !json || f[i-1] == '\\'
		case '\'':
			return f[i-1] != ' ' && (i+1 == len(f) || !isWordByte(f[i+1]))
		}
		return true
	}
	for i := 0; i < len(f); i++ {
		if !opens(i) {
			continue
		}
		q := f[i]
		for j := i + 1; j < len(f) && j <= i+maxQuote; j++ {
			if f[j] == '\n' && j+1 < len(f) && f[j+1] == '\n' {
				break // a paragraph ends any quote
			}
			if closes(j, q) {
				sc.quotes = append(sc.quotes, [2]int32{int32(i), int32(j + 1)})
				i = j
				break
			}
		}
	}
}

// inQuotes reports whether folded range [s, e) overlaps a quote: a
// match inside one, or one that runs into or out of one (the words around a
// quoted attack are commentary on it).
func inQuotes(sc *scratch, s, e int) bool {
	for _, q := range sc.quotes {
		if int(q[0]) < e && s < int(q[1]) {
			return true
		}
	}
	return false
}

// reported reports whether a match at folded [s, e) is quoted in text that
// discusses attacks or examples.
func reported(sc *scratch, s, e int) bool {
	return sc.meta && inQuotes(sc, s, e)
}
