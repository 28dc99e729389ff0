// Package web serves Komand's browser pages. The first is the embeddable
// WebChat page at /chat: static HTML, CSS and JavaScript embedded in the
// binary, calling the WebChat API from the page's own origin — with a
// staff member's API key or access token, or, at /chat?widget=<id> (a
// public chat widget), with a visitor token the page fetches for an
// anonymous visitor (see channel/widget.go).
//
// The pages get their own Content-Security-Policy (scripts, styles and
// connections from Komand's origin only, no inline script) and may be framed
// only by Komand itself and the origins in Cors__AllowedOrigins.
package web

import (
	"embed"
	"net/http"
	"strings"
)

//go:embed static
var static embed.FS

type asset struct {
	file, contentType string
}

var assets = map[string]asset{
	"/chat":          {"static/chat.html", "text/html; charset=utf-8"},
	"/chat/chat.js":  {"static/chat.js", "text/javascript; charset=utf-8"},
	"/chat/chat.css": {"static/chat.css", "text/css; charset=utf-8"},
}

// Paths lists the paths Handler serves.
func Paths() []string {
	return []string{"/chat", "/chat/chat.js", "/chat/chat.css"}
}

// Handler serves the chat page's files. frameAncestors are the origins that
// may embed the page in a frame, besides Komand itself.
func Handler(frameAncestors []string) http.Handler {
	ancestors := "'self'"
	for _, o := range frameAncestors {
		// Origins were validated by the configuration; anything with a
		// character that could end the directive is skipped.
		if o != "" && !strings.ContainsAny(o, " ;,'\"\r\n") {
			ancestors += " " + o
		}
	}
	csp := "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; img-src 'self'; " +
		"base-uri 'none'; form-action 'none'; frame-ancestors " + ancestors
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		a, ok := assets[r.URL.Path]
		if !ok {
			http.NotFound(w, r)
			return
		}
		b, err := static.ReadFile(a.file)
		if err != nil {
			http.Error(w, "not found", http.StatusNotFound)
			return
		}
		h := w.Header()
		h.Set("Content-Security-Policy", csp)
		h.Del("X-Frame-Options") // frame-ancestors governs framing
		h.Set("Content-Type", a.contentType)
		h.Set("Cache-Control", "no-cache")
		_, _ = w.Write(b)
	})
}
