package cli

import (
	"bufio"
	"encoding/json"
	"fmt"
	"runtime"
	"runtime/debug"
	"slices"
	"strconv"
	"strings"
	"sync"
	"unicode/utf16"
	"unicode/utf8"

	"github.com/komand-ai/komand/internal/app"
	"github.com/komand-ai/komand/internal/injection"
)

// screenCmd is `komand screen`: JSON Lines {"text", "source"} on stdin,
// one {"score", "verdict", "categories"} line per input on stdout, through
// the server's detector with its default thresholds (each source's default
// warn threshold, injection.DefaultThresholds: the score at which a
// detection is recorded) unless --threshold sets one. A line that is not
// such an object gets {"error": …} and the command exits 1 after the rest.
// With more than one core (GOMAXPROCS) lines are screened in batches on as
// many goroutines, and written in input order.
func screenCmd(e *env, args []string) int {
	fs := flagSet(e, "screen", "screen [--threshold 0.9] [--spans] < lines.jsonl")
	threshold := fs.Float64("threshold", 0, "score at and above which the verdict is injection (default: each source's default warn threshold, where detection starts)")
	spans := fs.Bool("spans", false, "also print the matched spans (byte offsets into the text)")
	if _, code, ok := parse(fs, args); !ok {
		return code
	}
	if *threshold < 0 || *threshold > 1 {
		fmt.Fprintln(e.stderr, "komand screen: --threshold must be in (0, 1]")
		return exitUsage
	}
	d := injection.New(injection.Options{Threshold: *threshold})
	if !slices.ContainsFunc(e.environ, func(kv string) bool { return strings.HasPrefix(kv, "GOGC=") }) {
		// The server's collector target (app.DefaultGCPercent): the live
		// heap is the detector's tables and one line, and at Go's default
		// a stream of short texts collects often. Restored afterwards (the
		// command also runs in-process, in tests and bench/screen).
		defer debug.SetGCPercent(debug.SetGCPercent(app.DefaultGCPercent))
	}
	in := bufio.NewScanner(e.stdin)
	in.Buffer(make([]byte, 0, 64<<10), 16<<20)
	out := bufio.NewWriterSize(e.stdout, 64<<10)
	defer out.Flush()
	sc := screener{d: d, spans: *spans}
	var code int
	if workers := runtime.GOMAXPROCS(0); workers > 1 {
		code = sc.parallel(in, out, workers)
	} else {
		code = exitOK
		var buf []byte
		for n := 1; in.Scan(); n++ {
			var failed bool
			buf, failed = sc.line(buf[:0], in.Bytes(), n)
			if failed {
				code = exitFail
			}
			_, _ = out.Write(buf)
		}
	}
	if err := in.Err(); err != nil {
		fmt.Fprintf(e.stderr, "komand screen: reading input: %v\n", err)
		return exitFail
	}
	return code
}

// screener screens the lines of `komand screen`; one per goroutine (its
// parser is reused from line to line).
type screener struct {
	d     *injection.Detector
	spans bool
	p     reqParser
}

// line appends the output line for input line number n (nothing for an
// empty line) to b; failed says it was an error line.
func (s *screener) line(b, line []byte, n int) ([]byte, bool) {
	if len(line) == 0 {
		return b, false
	}
	var text string
	src, ok := injection.Source(""), false
	if s.p.parse(line) {
		text, ok = s.p.text, s.p.hasText
		if ok {
			src, ok = injection.ParseSource(s.p.source)
		}
	} else {
		var req screenReq
		if json.Unmarshal(line, &req) == nil && req.Text != nil {
			text = *req.Text
			src, ok = injection.ParseSource(req.Source)
		}
	}
	if !ok {
		return fmt.Appendf(b, `{"error":"line %d: want a JSON object with a text string and an optional source of user, skill or external"}`+"\n", n), true
	}
	res := s.d.Screen(text, src)
	if !s.spans {
		res.Spans = nil
	}
	return appendResult(b, res), false
}

// screenBatch is a run of input lines (copied out of the scanner) and,
// once screened, their output, in input order.
type screenBatch struct {
	first  int      // line number of lines[0]
	lines  [][]byte // into data
	data   []byte
	out    []byte
	failed bool
	done   chan struct{}
}

// screenBatchBytes is about how much input a batch holds: big enough that
// handing it to a worker costs little next to screening it.
const screenBatchBytes = 64 << 10

// parallel screens in's lines with workers goroutines and writes the
// results to out in input order: the reader cuts the input into batches,
// each batch goes to a free worker and, in order, to the writer. At most
// 2×workers batches are in flight, so memory stays bounded whatever the
// input's length.
func (s *screener) parallel(in *bufio.Scanner, out *bufio.Writer, workers int) int {
	todo := make(chan *screenBatch, workers)
	ordered := make(chan *screenBatch, 2*workers)
	var wg sync.WaitGroup
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			w := screener{d: s.d, spans: s.spans}
			for b := range todo {
				for i, l := range b.lines {
					var failed bool
					b.out, failed = w.line(b.out, l, b.first+i)
					b.failed = b.failed || failed
				}
				close(b.done)
			}
		}()
	}
	code := exitOK
	written := make(chan struct{})
	go func() {
		defer close(written)
		for b := range ordered {
			<-b.done
			_, _ = out.Write(b.out)
			if b.failed {
				code = exitFail
			}
		}
	}()
	n := 1
	for {
		b := &screenBatch{first: n, done: make(chan struct{})}
		for len(b.data) < screenBatchBytes && in.Scan() {
			l := in.Bytes()
			start := len(b.data)
			b.data = append(b.data, l...)
			b.lines = append(b.lines, b.data[start:len(b.data):len(b.data)])
			n++
		}
		if len(b.lines) == 0 {
			break
		}
		// Re-slice: appends may have moved data after earlier lines
		// were cut from it.
		off := 0
		for i, l := range b.lines {
			b.lines[i] = b.data[off : off+len(l) : off+len(l)]
			off += len(l)
		}
		ordered <- b // blocks when the writer is 2×workers behind
		todo <- b
	}
	close(todo)
	close(ordered)
	wg.Wait()
	<-written
	return code
}

type screenReq struct {
	Text   *string `json:"text"`
	Source string  `json:"source"`
}

// appendResult appends res as one JSON line: {"score", "verdict",
// "categories", "spans" (when there are any)}, the encoding
// encoding/json gives it, without its reflection (the command's cost on
// streams of short texts). Verdicts, categories and encodings are
// constants of the injection package, plain ASCII with nothing to escape
// (TestScreenEncodingMatchesJSON).
func appendResult(b []byte, res injection.Result) []byte {
	b = append(b, `{"score":`...)
	b = strconv.AppendFloat(b, res.Score, 'f', -1, 64)
	b = append(b, `,"verdict":"`...)
	b = append(b, res.Verdict...)
	b = append(b, `","categories":[`...)
	for i, c := range res.Categories {
		if i > 0 {
			b = append(b, ',')
		}
		b = append(append(append(b, '"'), c...), '"')
	}
	b = append(b, ']')
	if len(res.Spans) > 0 {
		b = append(b, `,"spans":[`...)
		for i, s := range res.Spans {
			if i > 0 {
				b = append(b, ',')
			}
			b = append(b, `{"start":`...)
			b = strconv.AppendInt(b, int64(s.Start), 10)
			b = append(b, `,"end":`...)
			b = strconv.AppendInt(b, int64(s.End), 10)
			b = append(b, `,"category":"`...)
			b = append(b, s.Category...)
			b = append(b, '"')
			if s.Encoding != "" {
				b = append(b, `,"encoding":"`...)
				b = append(b, s.Encoding...)
				b = append(b, '"')
			}
			b = append(b, '}')
		}
		b = append(b, ']')
	}
	return append(b, "}\n"...)
}

// reqParser reads lines as {"text": …, "source": …} (either key
// optional, once each, in any order, strings only) the way encoding/json
// would, without its reflection; anything else (another key or type,
// invalid UTF-8, trailing bytes) is left to encoding/json (parse false).
// Its buffer for unescaping is reused between lines.
type reqParser struct {
	text, source string
	hasText      bool
	buf          []byte
}

func (p *reqParser) parse(line []byte) bool {
	p.text, p.source, p.hasText = "", "", false
	i := skipSpace(line, 0)
	if i >= len(line) || line[i] != '{' {
		return false
	}
	i = skipSpace(line, i+1)
	seen := 0
	if i < len(line) && line[i] == '}' {
		i++
	} else {
		for {
			key, j, ok := p.str(line, i)
			if !ok {
				return false
			}
			i = skipSpace(line, j)
			if i >= len(line) || line[i] != ':' {
				return false
			}
			val, j, ok := p.str(line, skipSpace(line, i+1))
			if !ok {
				return false
			}
			switch {
			case key == "text" && seen&1 == 0:
				p.text, p.hasText, seen = val, true, seen|1
			case key == "source" && seen&2 == 0:
				p.source, seen = val, seen|2
			default:
				return false
			}
			i = skipSpace(line, j)
			if i < len(line) && line[i] == ',' {
				i = skipSpace(line, i+1)
				continue
			}
			if i < len(line) && line[i] == '}' {
				i++
				break
			}
			return false
		}
	}
	return skipSpace(line, i) == len(line)
}

// parseReq is reqParser.parse into a screenReq (for tests).
func parseReq(line []byte, req *screenReq) bool {
	var p reqParser
	if !p.parse(line) {
		return false
	}
	req.Text, req.Source = nil, p.source
	if p.hasText {
		req.Text = &p.text
	}
	return true
}

func skipSpace(b []byte, i int) int {
	for i < len(b) && (b[i] == ' ' || b[i] == '\t' || b[i] == '\r' || b[i] == '\n') {
		i++
	}
	return i
}

// jsonPlain: the bytes a JSON string holds as themselves (not '"', '\\'
// or a control character).
var jsonPlain = func() (t [256]bool) {
	for c := 0x20; c < 256; c++ {
		t[c] = c != '"' && c != '\\'
	}
	return t
}()

// str reads the JSON string at b[i]: its value and the offset past it.
// Escapes are decoded (into p.buf); control characters and invalid UTF-8
// are not handled here (false). The value is a new string; keys ("text",
// "source") and sources are compared and dropped without one when they
// need no unescaping.
func (p *reqParser) str(b []byte, i int) (string, int, bool) {
	if i >= len(b) || b[i] != '"' {
		return "", 0, false
	}
	i++
	start := i
	high := byte(0)
	for i < len(b) && jsonPlain[b[i]] {
		high |= b[i]
		i++
	}
	if i < len(b) && b[i] == '"' {
		if high >= utf8.RuneSelf && !utf8.Valid(b[start:i]) {
			return "", 0, false
		}
		return internString(b[start:i]), i + 1, true
	}
	out := append(p.buf[:0], b[start:i]...)
	for i < len(b) {
		c := b[i]
		switch {
		case c == '"':
			p.buf = out[:0]
			if !utf8.Valid(out) {
				return "", 0, false
			}
			return internString(out), i + 1, true
		case c < 0x20:
			return "", 0, false
		case c != '\\':
			j := i + 1
			for j < len(b) && jsonPlain[b[j]] {
				j++
			}
			out = append(out, b[i:j]...)
			i = j
			continue
		}
		if i+1 >= len(b) {
			return "", 0, false
		}
		switch e := b[i+1]; e {
		case '"', '\\', '/':
			out = append(out, e)
		case 'b':
			out = append(out, '\b')
		case 'f':
			out = append(out, '\f')
		case 'n':
			out = append(out, '\n')
		case 'r':
			out = append(out, '\r')
		case 't':
			out = append(out, '\t')
		case 'u':
			r, ok := hex4(b, i+2)
			if !ok {
				return "", 0, false
			}
			i += 6
			if utf16.IsSurrogate(r) {
				// A pair, or U+FFFD as encoding/json reads a lone half.
				r2, ok2 := rune(-1), false
				if i+1 < len(b) && b[i] == '\\' && b[i+1] == 'u' {
					r2, ok2 = hex4(b, i+2)
				}
				if dec := utf16.DecodeRune(r, r2); ok2 && dec != utf8.RuneError {
					r = dec
					i += 6
				} else {
					r = utf8.RuneError
				}
			}
			out = utf8.AppendRune(out, r)
			continue
		default:
			return "", 0, false
		}
		i += 2
	}
	return "", 0, false
}

// internString is string(b), without an allocation for the keys and
// sources of a request.
func internString(b []byte) string {
	switch string(b) {
	case "text":
		return "text"
	case "source":
		return "source"
	case "user":
		return "user"
	case "skill":
		return "skill"
	case "external":
		return "external"
	}
	return string(b)
}

func hex4(b []byte, i int) (rune, bool) {
	if i+4 > len(b) {
		return 0, false
	}
	var r rune
	for _, c := range b[i : i+4] {
		switch {
		case '0' <= c && c <= '9':
			r = r<<4 | rune(c-'0')
		case 'a' <= c && c <= 'f':
			r = r<<4 | rune(c-'a'+10)
		case 'A' <= c && c <= 'F':
			r = r<<4 | rune(c-'A'+10)
		default:
			return 0, false
		}
	}
	return r, true
}
