package logging

import (
	"context"
	"fmt"
	"log/slog"
	"strings"
)

// Printf adapts a library's Printf(ctx, format, args...) logging hook, such
// as go-redis's redis.SetLogger, to a slog logger: each call becomes one
// record at Level, with the formatted text as its message and Component as
// the "component" attribute. The line then passes through the logger's
// handler like Komand's own lines: JSON, the request ID of ctx, and the
// redaction of secret values (which a library writing to stderr would
// bypass).
type Printf struct {
	Log       *slog.Logger
	Level     slog.Level
	Component string
}

// Printf logs one formatted line.
func (p Printf) Printf(ctx context.Context, format string, v ...any) {
	if p.Log == nil {
		return
	}
	if ctx == nil {
		ctx = context.Background()
	}
	msg := strings.TrimSpace(fmt.Sprintf(format, v...))
	p.Log.LogAttrs(ctx, p.Level, msg, slog.String("component", p.Component))
}
