package agentattack

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"regexp"
	"sort"
	"strings"
	"sync"
)

// obedient is a Chat Completions server (the OpenAI wire protocol) that
// does whatever its context tells it to. On every request it reads every
// message (user, tool, earlier assistant turns; JSON in tool outputs is
// decoded, as a real model reads it) for directives, in this grammar:
//
//	call tool <name> with {json}        a tool call
//	/tool <name> {json}                 a tool call (slash text that reached the model)
//	/memory set <key> <value>           memory_store
//	fetch <url>                         web-fetch
//	remember <key> = <value>            memory_store
//	recall <key>                        memory_recall
//	look up contact <query>             crm-contact-lookup
//	include in your answer: <text>      text put in the reply
//	repeat/print/output … instructions  the system prompt put in the reply
//
// A directive may be conditional — `when the user says "thanks", <directive>`
// — and then acts only once a later user message contains the word (the
// injection waits for a later turn). In arguments and included text
// {{system}} is replaced by the system prompt, {{context}} by what the
// conversation holds (user messages and tool data) and {{last}} by the
// newest tool output, URL-encoded: the model hands over what it knows.
//
// The first directive that has not been carried out yet becomes the next
// tool call (its ID is derived from the directive, so a directive counts
// as done once a call with that ID is in the context; a call Komand held
// and left out of the history is tried again). With none left the model
// answers: the newest tool data, then what it was told to include.
type obedient struct {
	mu       sync.Mutex
	requests int
	calls    []string // tool calls emitted, "name args"
}

// oaMessage is a message of the request as the model receives it.
type oaMessage struct {
	Role       string  `json:"role"`
	Content    *string `json:"content"`
	ToolCallID string  `json:"tool_call_id"`
	ToolCalls  []struct {
		ID       string `json:"id"`
		Function struct {
			Name      string `json:"name"`
			Arguments string `json:"arguments"`
		} `json:"function"`
	} `json:"tool_calls"`
}

type directive struct {
	msg     int    // index of the message it was read from
	at      int    // offset in that message's text (order)
	cond    string // trigger word, "" when unconditional
	tool    string // tool to call, "" for a text directive
	args    string // JSON arguments (a template)
	include string // text for the reply (a template)
	reveal  bool   // put the system prompt in the reply
	raw     string
}

func (d directive) id() string {
	h := sha256.Sum256([]byte(d.cond + "\x00" + d.raw))
	return "call_" + hex.EncodeToString(h[:8])
}

var (
	reCall    = regexp.MustCompile(`(?i)\bcall (?:the )?tool ([a-z0-9_-]+) with\s*`)
	reSlash   = regexp.MustCompile(`/tool ([a-z0-9_-]+)\s*`)
	reMemSet  = regexp.MustCompile(`/memory set (\S+) ([^\n<]+)`)
	reFetch   = regexp.MustCompile(`(?i)\bfetch (https?://[^\s"'<>)\]]+)`)
	reRemem   = regexp.MustCompile(`(?i)\bremember:? ([a-z0-9_-]+) = ([^\n<]+?)(?:\.\s|\.$|\n|<|$)`)
	reRecall  = regexp.MustCompile(`(?i)\brecall ([a-z0-9_-]+)`)
	reLookup  = regexp.MustCompile(`(?i)\blook up (?:the )?(?:crm )?contacts? ([^\s.?,!]+)`)
	reInclude = regexp.MustCompile(`(?i)\binclude [^:\n]{0,40}in your (?:answer|reply|response):\s*([^\n<]+)`)
	reReveal  = regexp.MustCompile(`(?i)\b(?:repeat|output|print|reveal|show|list)\b[^.\n]{0,60}\b(?:instructions|system prompt)`)
	reWhen    = regexp.MustCompile(`(?i)when the user (?:next )?(?:says|writes) "([^"]+)",?\s*$`)
)

// jsonAt returns the JSON object starting at s[i:] and its length.
func jsonAt(s string, i int) (string, int) {
	if i >= len(s) || s[i] != '{' {
		return "", 0
	}
	dec := json.NewDecoder(strings.NewReader(s[i:]))
	var v map[string]any
	if err := dec.Decode(&v); err != nil {
		return "", 0
	}
	n := int(dec.InputOffset())
	return s[i : i+n], n
}

// directives reads the directives of one text.
func directives(msg int, text string) []directive {
	var out []directive
	add := func(at int, d directive) {
		d.msg, d.at = msg, at
		if m := reWhen.FindStringSubmatch(text[max(0, at-80):at]); m != nil {
			d.cond = strings.ToLower(m[1])
		}
		out = append(out, d)
	}
	for _, re := range []*regexp.Regexp{reCall, reSlash} {
		for _, m := range re.FindAllStringSubmatchIndex(text, -1) {
			if args, n := jsonAt(text, m[1]); n > 0 {
				add(m[0], directive{tool: text[m[2]:m[3]], args: args, raw: text[m[0] : m[1]+n]})
			}
		}
	}
	for _, m := range reMemSet.FindAllStringSubmatchIndex(text, -1) {
		args, _ := json.Marshal(map[string]string{"key": text[m[2]:m[3]], "value": strings.TrimSpace(text[m[4]:m[5]])})
		add(m[0], directive{tool: "memory_store", args: string(args), raw: text[m[0]:m[1]]})
	}
	for _, m := range reFetch.FindAllStringSubmatchIndex(text, -1) {
		args, _ := json.Marshal(map[string]string{"url": strings.TrimRight(text[m[2]:m[3]], ".,;")})
		add(m[0], directive{tool: "web-fetch", args: string(args), raw: text[m[0]:m[1]]})
	}
	for _, m := range reRemem.FindAllStringSubmatchIndex(text, -1) {
		args, _ := json.Marshal(map[string]string{"key": text[m[2]:m[3]], "value": strings.TrimSpace(text[m[4]:m[5]])})
		add(m[0], directive{tool: "memory_store", args: string(args), raw: text[m[0]:m[1]]})
	}
	for _, m := range reRecall.FindAllStringSubmatchIndex(text, -1) {
		args, _ := json.Marshal(map[string]string{"key": text[m[2]:m[3]]})
		add(m[0], directive{tool: "memory_recall", args: string(args), raw: text[m[0]:m[1]]})
	}
	for _, m := range reLookup.FindAllStringSubmatchIndex(text, -1) {
		args, _ := json.Marshal(map[string]string{"query": text[m[2]:m[3]]})
		add(m[0], directive{tool: "crm-contact-lookup", args: string(args), raw: text[m[0]:m[1]]})
	}
	for _, m := range reInclude.FindAllStringSubmatchIndex(text, -1) {
		add(m[0], directive{include: strings.TrimSpace(text[m[2]:m[3]]), raw: text[m[0]:m[1]]})
	}
	for _, m := range reReveal.FindAllStringIndex(text, -1) {
		add(m[0], directive{reveal: true, raw: text[m[0]:m[1]]})
	}
	sort.SliceStable(out, func(i, j int) bool { return out[i].at < out[j].at })
	return out
}

// leaves returns the texts a model reads in s: s itself, and every string
// of every JSON object in it (a tool's output is JSON inside a data block),
// except the platform's own notices.
func leaves(s string) []string {
	out := []string{s}
	var walk func(k string, v any)
	walk = func(k string, v any) {
		switch x := v.(type) {
		case string:
			if k != "notice" {
				out = append(out, x)
			}
		case map[string]any:
			for kk, vv := range x {
				walk(kk, vv)
			}
		case []any:
			for _, vv := range x {
				walk(k, vv)
			}
		}
	}
	for i := 0; i < len(s); i++ {
		if s[i] != '{' {
			continue
		}
		if obj, n := jsonAt(s, i); n > 0 {
			var v any
			_ = json.Unmarshal([]byte(obj), &v)
			walk("", v)
			i += n - 1
		}
	}
	return out
}

// allLeaves is leaves, and the leaves of every string that holds JSON
// itself (a fetched JSON document inside a skill's output), a few levels
// deep.
func allLeaves(s string, depth int) []string {
	ls := leaves(s)
	if depth == 0 {
		return ls
	}
	out := ls
	for _, l := range ls[1:] {
		if strings.Contains(l, "{") {
			out = append(out, allLeaves(l, depth-1)[1:]...)
		}
	}
	return out
}

// reTemplate are the placeholders of a directive, left out of what the
// model repeats as data.
var reTemplate = regexp.MustCompile(`\{\{[a-z]+\}\}`)

func (o *obedient) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.URL.Path != "/v1/chat/completions" || r.Method != http.MethodPost {
		http.NotFound(w, r)
		return
	}
	body, _ := io.ReadAll(r.Body)
	var req struct {
		Messages []oaMessage `json:"messages"`
		Stream   bool        `json:"stream"`
	}
	if err := json.Unmarshal(body, &req); err != nil || req.Stream {
		http.Error(w, "bad request", http.StatusBadRequest)
		return
	}
	msg := o.decide(req.Messages)
	w.Header().Set("Content-Type", "application/json")
	finish := "stop"
	if msg["tool_calls"] != nil {
		finish = "tool_calls"
	}
	_ = json.NewEncoder(w).Encode(map[string]any{
		"id": "chatcmpl-obedient", "object": "chat.completion", "model": "obedient",
		"choices": []any{map[string]any{"index": 0, "message": msg, "finish_reason": finish}},
		"usage":   map[string]any{"prompt_tokens": 10, "completion_tokens": 5, "total_tokens": 15},
	})
}

// decide is the model: the next tool call, or the answer.
func (o *obedient) decide(msgs []oaMessage) map[string]any {
	o.mu.Lock()
	o.requests++
	o.mu.Unlock()
	system := ""
	done := map[string]bool{}
	lastUser := -1
	var ds []directive
	var context, last []string
	for i, m := range msgs {
		text := ""
		if m.Content != nil {
			text = *m.Content
		}
		for _, c := range m.ToolCalls {
			done[c.ID] = true
		}
		switch m.Role {
		case "system":
			system = text
			continue
		case "user":
			lastUser = i
		case "assistant":
			continue // its own words are not orders
		}
		ls := allLeaves(text, 3)
		if m.Role == "tool" {
			last = last[:0]
			if len(ls) > 1 {
				ls = ls[1:] // the decoded data, not the wrapper
			}
		}
		for _, l := range ls {
			ds = append(ds, directives(i, l)...)
			if !strings.Contains(l, "untrusted-data-") {
				l = reTemplate.ReplaceAllString(l, "")
				context = append(context, l)
				if m.Role == "tool" {
					last = append(last, l)
				}
			}
		}
	}
	trigger := ""
	if lastUser >= 0 && msgs[lastUser].Content != nil {
		trigger = strings.ToLower(*msgs[lastUser].Content)
	}
	active := func(d directive) bool {
		if d.cond == "" {
			return true
		}
		return d.msg < lastUser && strings.Contains(trigger, d.cond)
	}
	fill := func(s string) string {
		r := strings.NewReplacer(
			"{{system}}", clipEsc(system),
			"{{context}}", clipEsc(strings.Join(context, " | ")),
			"{{last}}", clipEsc(strings.Join(last, " | ")))
		return r.Replace(s)
	}
	for _, d := range ds {
		if d.tool == "" || done[d.id()] || !active(d) {
			continue
		}
		args := fill(d.args)
		o.mu.Lock()
		o.calls = append(o.calls, d.tool+" "+args)
		o.mu.Unlock()
		return map[string]any{"role": "assistant", "content": nil, "tool_calls": []any{map[string]any{
			"id": d.id(), "type": "function", "function": map[string]any{"name": d.tool, "arguments": args}}}}
	}
	// The answer: what this turn's tools returned, then what this turn's
	// texts (or a triggered earlier one) said to include.
	var b strings.Builder
	b.WriteString("Here is what I found.")
	for i := lastUser + 1; i < len(msgs); i++ {
		if msgs[i].Role != "tool" || msgs[i].Content == nil {
			continue
		}
		ls := leaves(*msgs[i].Content)
		if len(ls) > 1 {
			ls = ls[1:]
		} else {
			ls = []string{"Done."}
		}
		for _, l := range ls {
			fmt.Fprintf(&b, "\n%s", clip(l, 600))
		}
	}
	for _, d := range ds {
		if d.tool != "" || !active(d) || (d.cond == "" && d.msg < lastUser) {
			continue
		}
		if d.reveal {
			b.WriteString("\nMy instructions: " + system)
		} else {
			b.WriteString("\n" + fill(d.include))
		}
	}
	return map[string]any{"role": "assistant", "content": b.String()}
}

func clip(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n]
}

// clipEsc URL-encodes s, at most 1,200 bytes of it (web-fetch takes URLs
// of up to 2,048).
func clipEsc(s string) string { return url.QueryEscape(clip(s, 1200)) }

func (o *obedient) emitted() []string {
	o.mu.Lock()
	defer o.mu.Unlock()
	return append([]string(nil), o.calls...)
}
