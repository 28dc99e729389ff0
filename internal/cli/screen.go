package cli

import (
	"bufio"
	"encoding/json"
	"fmt"

	"github.com/komand-ai/komand/internal/injection"
)

// screenCmd is `komand screen`: JSON Lines {"text", "source"} on stdin,
// one {"score", "verdict", "categories"} line per input on stdout, through
// the server's detector with its default threshold. A line that is not such
// an object gets {"error": …} and the command exits 1 after the rest.
func screenCmd(e *env, args []string) int {
	fs := flagSet(e, "screen", "screen [--threshold 0.5] [--spans] < lines.jsonl")
	threshold := fs.Float64("threshold", injection.DefaultThreshold, "score at and above which the verdict is injection")
	spans := fs.Bool("spans", false, "also print the matched spans (byte offsets into the text)")
	if _, code, ok := parse(fs, args); !ok {
		return code
	}
	if *threshold <= 0 || *threshold > 1 {
		fmt.Fprintln(e.stderr, "komand screen: --threshold must be in (0, 1]")
		return exitUsage
	}
	d := injection.New(injection.Options{Threshold: *threshold})
	in := bufio.NewScanner(e.stdin)
	in.Buffer(make([]byte, 0, 64<<10), 16<<20)
	out := bufio.NewWriter(e.stdout)
	defer out.Flush()
	enc := json.NewEncoder(out)
	enc.SetEscapeHTML(false)
	code := exitOK
	for n := 1; in.Scan(); n++ {
		line := in.Bytes()
		if len(line) == 0 {
			continue
		}
		var req struct {
			Text   *string `json:"text"`
			Source string  `json:"source"`
		}
		src, ok := injection.Source(""), false
		if err := json.Unmarshal(line, &req); err == nil && req.Text != nil {
			src, ok = injection.ParseSource(req.Source)
		}
		if !ok {
			_ = enc.Encode(map[string]string{"error": fmt.Sprintf("line %d: want a JSON object with a text string and an optional source of user, skill or external", n)})
			code = exitFail
			continue
		}
		res := d.Screen(*req.Text, src)
		line2 := struct {
			Score      float64          `json:"score"`
			Verdict    string           `json:"verdict"`
			Categories []string         `json:"categories"`
			Spans      []injection.Span `json:"spans,omitempty"`
		}{res.Score, res.Verdict, res.Categories, nil}
		if *spans {
			line2.Spans = res.Spans
		}
		_ = enc.Encode(line2)
	}
	if err := in.Err(); err != nil {
		fmt.Fprintf(e.stderr, "komand screen: reading input: %v\n", err)
		return exitFail
	}
	return code
}
