package cli

import (
	"bufio"
	"encoding/json"
	"fmt"
	"strconv"

	"github.com/komand-ai/komand/internal/injection"
)

// screenCmd is `komand screen`: JSON Lines {"text", "source"} on stdin,
// one {"score", "verdict", "categories"} line per input on stdout, through
// the server's detector with its default thresholds (each source's default
// block threshold, injection.DefaultThresholds) unless --threshold sets
// one. A line that is not such an object gets {"error": …} and the command
// exits 1 after the rest.
func screenCmd(e *env, args []string) int {
	fs := flagSet(e, "screen", "screen [--threshold 0.9] [--spans] < lines.jsonl")
	threshold := fs.Float64("threshold", 0, "score at and above which the verdict is injection (default: each source's default block threshold)")
	spans := fs.Bool("spans", false, "also print the matched spans (byte offsets into the text)")
	if _, code, ok := parse(fs, args); !ok {
		return code
	}
	if *threshold < 0 || *threshold > 1 {
		fmt.Fprintln(e.stderr, "komand screen: --threshold must be in (0, 1]")
		return exitUsage
	}
	d := injection.New(injection.Options{Threshold: *threshold})
	in := bufio.NewScanner(e.stdin)
	in.Buffer(make([]byte, 0, 64<<10), 16<<20)
	out := bufio.NewWriterSize(e.stdout, 64<<10)
	defer out.Flush()
	code := exitOK
	var buf []byte
	var req screenReq
	for n := 1; in.Scan(); n++ {
		line := in.Bytes()
		if len(line) == 0 {
			continue
		}
		req.Text, req.Source = nil, ""
		src, ok := injection.Source(""), false
		if err := json.Unmarshal(line, &req); err == nil && req.Text != nil {
			src, ok = injection.ParseSource(req.Source)
		}
		if !ok {
			buf = fmt.Appendf(buf[:0], `{"error":"line %d: want a JSON object with a text string and an optional source of user, skill or external"}`+"\n", n)
			_, _ = out.Write(buf)
			code = exitFail
			continue
		}
		res := d.Screen(*req.Text, src)
		if !*spans {
			res.Spans = nil
		}
		buf = appendResult(buf[:0], res)
		_, _ = out.Write(buf)
	}
	if err := in.Err(); err != nil {
		fmt.Fprintf(e.stderr, "komand screen: reading input: %v\n", err)
		return exitFail
	}
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
