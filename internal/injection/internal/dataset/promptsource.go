package dataset

import (
	"regexp"
	"strconv"
	"strings"
)

// loadPromptsource reads the jinja prompts of a promptsource templates.yaml
// and renders the part before "|||" (what the model is asked) with neutral
// fillers for the variables: instruction-style benign text.
func loadPromptsource(b *builder, name string, data []byte) error {
	for i, t := range yamlScalars(string(data), "jinja") {
		p := renderJinja(t, name, i)
		if len(p) < 20 || overrideRE.MatchString(p) {
			continue
		}
		b.add("promptsource", Benign, User, "instruction", "", p)
	}
	return nil
}

// fillers stand in for template variables: plain text of our own.
var fillers = []string{
	"The new library on Elm Street opens on Monday and will stay open until nine in the evening.",
	"A small bakery in the village sold out of bread before noon.",
	"the committee",
	"Maria moved to Lisbon in 2019 and started a cycling club there.",
	"The river flooded the lower fields after three days of rain.",
	"a red bicycle",
	"How long does the ferry take to cross the bay?",
	"The museum added a room about early printing presses.",
	"positive",
	"Tom gave the keys to his neighbour before leaving for the airport.",
	"The recipe needs two eggs, flour, milk and a pinch of salt.",
	"yes",
}

var (
	jinjaStmt = regexp.MustCompile(`(?s)\{%.*?%\}|\{#.*?#\}`)
	jinjaExpr = regexp.MustCompile(`(?s)\{\{.*?\}\}`)
	blankRuns = regexp.MustCompile(`\n[ \t]*(\n[ \t]*)+`)
	spaceRuns = regexp.MustCompile(`[ \t]+`)
)

func renderJinja(t, name string, i int) string {
	if k := strings.Index(t, "|||"); k >= 0 {
		t = t[:k]
	}
	t = jinjaStmt.ReplaceAllString(t, "")
	n := int(hash64(name+strconv.Itoa(i)) % uint64(len(fillers)))
	t = jinjaExpr.ReplaceAllStringFunc(t, func(string) string {
		n = (n + 1) % len(fillers)
		return fillers[n]
	})
	t = spaceRuns.ReplaceAllString(t, " ")
	t = blankRuns.ReplaceAllString(t, "\n\n")
	return clean(t)
}

// yamlScalars returns the values of every "key:" in a YAML document whose
// value is a scalar (plain, single- or double-quoted, possibly spanning
// lines). It handles what promptsource's files use, not all of YAML.
func yamlScalars(doc, key string) []string {
	var out []string
	lines := strings.Split(doc, "\n")
	for i := 0; i < len(lines); i++ {
		line := lines[i]
		trimmed := strings.TrimLeft(line, " ")
		indent := len(line) - len(trimmed)
		if !strings.HasPrefix(trimmed, key+":") {
			continue
		}
		rest := strings.TrimPrefix(trimmed, key+":")
		if rest != "" && rest[0] != ' ' {
			continue
		}
		rest = strings.TrimLeft(rest, " ")
		switch {
		case strings.HasPrefix(rest, `"`):
			v, n := yamlDouble(rest[1:], lines[i+1:])
			out = append(out, v)
			i += n
		case strings.HasPrefix(rest, `'`):
			v, n := yamlSingle(rest[1:], lines[i+1:])
			out = append(out, v)
			i += n
		default:
			parts := []string{rest}
			for i+1 < len(lines) {
				next := lines[i+1]
				nt := strings.TrimLeft(next, " ")
				if nt == "" || len(next)-len(nt) <= indent {
					break
				}
				parts = append(parts, nt)
				i++
			}
			out = append(out, strings.Join(parts, " "))
		}
	}
	return out
}

// yamlDouble decodes a double-quoted scalar that starts with first and
// may continue on more; it returns the value and the lines consumed from
// more.
func yamlDouble(first string, more []string) (string, int) {
	var sb strings.Builder
	cur, used := first, 0
	pendingFold := false
	for {
		i := 0
		for i < len(cur) {
			c := cur[i]
			if pendingFold {
				pendingFold = false
			}
			switch c {
			case '"':
				return sb.String(), used
			case '\\':
				if i+1 >= len(cur) {
					// Escaped line break: join without a space.
					i = len(cur)
					goto nextLineNoFold
				}
				i++
				switch e := cur[i]; e {
				case 'n':
					sb.WriteByte('\n')
				case 't':
					sb.WriteByte('\t')
				case '"', '\\', '/', ' ':
					sb.WriteByte(e)
				case '0':
					sb.WriteByte(0)
				case 'x', 'u', 'U':
					w := map[byte]int{'x': 2, 'u': 4, 'U': 8}[e]
					if i+w < len(cur)+1 && i+1+w <= len(cur) {
						if r, err := strconv.ParseUint(cur[i+1:i+1+w], 16, 32); err == nil {
							sb.WriteRune(rune(r))
						}
						i += w
					}
				default:
					sb.WriteByte(e)
				}
				i++
			default:
				sb.WriteByte(c)
				i++
			}
		}
		// Unescaped line break: fold to a space (trailing spaces dropped).
		{
			s := strings.TrimRight(sb.String(), " \t")
			sb.Reset()
			sb.WriteString(s)
		}
		{
			next, n, ok := foldBreak(&sb, more, used)
			if used = n; !ok {
				return sb.String(), used
			}
			cur = next
			continue
		}
	nextLineNoFold:
		if used >= len(more) {
			return sb.String(), used
		}
		cur = strings.TrimLeft(more[used], " \t")
		// An escaped space at the start of a continued line is kept.
		used++
	}
}

// yamlSingle decodes a single-quoted scalar (” is a quote).
func yamlSingle(first string, more []string) (string, int) {
	var sb strings.Builder
	cur, used := first, 0
	for {
		for i := 0; i < len(cur); i++ {
			if cur[i] == '\'' {
				if i+1 < len(cur) && cur[i+1] == '\'' {
					sb.WriteByte('\'')
					i++
					continue
				}
				return sb.String(), used
			}
			sb.WriteByte(cur[i])
		}
		next, n, ok := foldBreak(&sb, more, used)
		if used = n; !ok {
			return sb.String(), used
		}
		cur = next
	}
}

// foldBreak folds the unescaped line break after a quoted scalar's line:
// blank lines in more, from used on, stand for newlines, none for a space.
// It returns the next line (leading blanks dropped), the lines consumed so
// far, and false when more runs out first.
func foldBreak(sb *strings.Builder, more []string, used int) (string, int, bool) {
	if used >= len(more) {
		return "", used, false
	}
	blanks := 0
	for used < len(more) && strings.TrimSpace(more[used]) == "" {
		blanks++
		used++
	}
	if blanks > 0 {
		sb.WriteString(strings.Repeat("\n", blanks))
	} else {
		sb.WriteByte(' ')
	}
	if used >= len(more) {
		return "", used, false
	}
	return strings.TrimLeft(more[used], " \t"), used + 1, true
}
