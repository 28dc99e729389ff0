package logging

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"strings"
	"testing"

	"github.com/komand-ai/komand/internal/requestid"
)

// TestPrintfGoesThroughTheHandler: a library's Printf line becomes one JSON
// record of the logger, with the request ID of its context, and a secret
// value in the library's text is redacted like in Komand's own lines.
func TestPrintfGoesThroughTheHandler(t *testing.T) {
	const secret = "redis-password-7f3a9c1e5b"
	s := NewSecrets()
	s.Pin(secret)
	var buf bytes.Buffer
	p := Printf{Log: NewRedacting(&buf, "info", "json", s), Level: slog.LevelWarn, Component: "redis"}
	ref := "req-42"
	ctx := requestid.WithRef(context.Background(), &ref)
	p.Printf(ctx, "redis: dial redis://:%s@10.0.0.1:6379 failed: %v\n", secret, "timeout")

	line := strings.TrimSpace(buf.String())
	if strings.Contains(line, secret) || strings.Count(line, "\n") != 0 {
		t.Fatalf("line leaks the secret or is not one line: %q", line)
	}
	var rec map[string]any
	if err := json.Unmarshal([]byte(line), &rec); err != nil {
		t.Fatalf("not a JSON record: %v: %q", err, line)
	}
	if rec["level"] != "WARN" || rec["component"] != "redis" || rec["request_id"] != "req-42" ||
		!strings.Contains(rec["msg"].(string), "failed: timeout") || !strings.Contains(rec["msg"].(string), Redaction) {
		t.Fatalf("record: %v", rec)
	}
}
