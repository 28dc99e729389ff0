// Package logging builds Komand's log/slog logger. Its handler adds the
// request ID carried in the context to every record, so any line logged with
// a request's context (InfoContext, ErrorContext, …) can be tied to the
// client's X-Request-Id and to the audit entries of that request.
package logging

import (
	"context"
	"io"
	"log/slog"
	"strings"

	"github.com/komand-ai/komand/internal/requestid"
)

// New returns a logger writing to w at level ("debug", "info", "warn",
// "error") in format ("json" or "text"). Attributes whose key names a
// secret (password, token, secret, api_key, authorization, …) are
// replaced by [Redaction].
func New(w io.Writer, level, format string) *slog.Logger {
	return NewRedacting(w, level, format, nil)
}

// NewRedacting is New with every value in secrets (which may be nil)
// replaced in the output, including values added after the logger is built.
func NewRedacting(w io.Writer, level, format string, secrets *Secrets) *slog.Logger {
	if secrets != nil {
		w = secrets.Writer(w)
	}
	opts := &slog.HandlerOptions{Level: ParseLevel(level), ReplaceAttr: func(_ []string, a slog.Attr) slog.Attr {
		if sensitiveKey(a.Key) {
			return slog.String(a.Key, Redaction)
		}
		return a
	}}
	var h slog.Handler
	if strings.EqualFold(format, "text") {
		h = slog.NewTextHandler(w, opts)
	} else {
		h = slog.NewJSONHandler(w, opts)
	}
	return slog.New(RequestIDHandler{Handler: h})
}

// ParseLevel maps a level name to a slog.Level (info when unknown).
func ParseLevel(s string) slog.Level {
	switch strings.ToLower(s) {
	case "debug":
		return slog.LevelDebug
	case "warn", "warning":
		return slog.LevelWarn
	case "error":
		return slog.LevelError
	}
	return slog.LevelInfo
}

// RequestIDHandler adds request_id to records whose context carries one.
type RequestIDHandler struct{ slog.Handler }

// Handle implements slog.Handler.
func (h RequestIDHandler) Handle(ctx context.Context, r slog.Record) error {
	if id := requestid.From(ctx); id != "" {
		r.AddAttrs(slog.String("request_id", id))
	}
	return h.Handler.Handle(ctx, r)
}

// WithAttrs implements slog.Handler.
func (h RequestIDHandler) WithAttrs(attrs []slog.Attr) slog.Handler {
	return RequestIDHandler{h.Handler.WithAttrs(attrs)}
}

// WithGroup implements slog.Handler.
func (h RequestIDHandler) WithGroup(name string) slog.Handler {
	return RequestIDHandler{h.Handler.WithGroup(name)}
}
