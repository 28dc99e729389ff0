package logging

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
)

func TestSecretsRedactEveryForm(t *testing.T) {
	s := NewSecrets()
	plain := "sk_live_9f8e7d6c5b4a"
	quoted := `pa"ss<wörd>\with` + "\n" + `newline`
	s.Add(plain)
	s.Add(quoted)
	s.Add("short") // ignored: would match ordinary words

	var buf bytes.Buffer
	for _, format := range []string{"json", "text"} {
		buf.Reset()
		log := NewRedacting(&buf, "debug", format, s)
		log.Info("calling with "+plain, "err", errors.New("upstream said "+plain+" is invalid"),
			"nested", fmt.Sprintf("%q", quoted), "q", quoted, "word", "short")
		out := buf.String()
		for _, leak := range []string{plain, "pa\\\"ss", "wörd>", `\\with`} {
			if strings.Contains(out, leak) {
				t.Fatalf("%s: %q leaked: %s", format, leak, out)
			}
		}
		if strings.Count(out, Redaction) < 4 || !strings.Contains(out, "short") {
			t.Fatalf("%s: %s", format, out)
		}
	}
	// Values added after the logger was built are redacted too.
	later := "ghp_LATERADDEDTOKEN123"
	buf.Reset()
	log := NewRedacting(&buf, "info", "json", s)
	s.Add(later)
	log.InfoContext(context.Background(), "x", "v", later)
	if strings.Contains(buf.String(), later) {
		t.Fatalf("a value added later leaked: %s", buf.String())
	}
}

func TestSensitiveKeys(t *testing.T) {
	var buf bytes.Buffer
	log := New(&buf, "info", "json")
	log.Info("login", "password", "hunter2hunter2", "Authorization", "Bearer abc.def", "refresh_token", "rt-1",
		"client_secret", "cs-1", "user", "alice", "prompt_tokens", 12)
	out := buf.String()
	for _, leak := range []string{"hunter2", "abc.def", "rt-1", "cs-1"} {
		if strings.Contains(out, leak) {
			t.Fatalf("%q leaked: %s", leak, out)
		}
	}
	if !strings.Contains(out, "alice") || !strings.Contains(out, `"prompt_tokens":12`) {
		t.Fatalf("ordinary attributes were redacted: %s", out)
	}
}

func TestSecretsBounded(t *testing.T) {
	s := NewSecrets()
	s.Pin("platform-jwt-key-0123456789")
	for i := range maxSecrets + 100 {
		s.Add(fmt.Sprintf("secret-value-%06d", i))
	}
	if s.n > maxSecrets {
		t.Fatalf("%d remembered, max %d", s.n, maxSecrets)
	}
	newest := fmt.Sprintf("secret-value-%06d", maxSecrets+99)
	if got := string(s.Redact([]byte("x " + newest + " y"))); got != "x "+Redaction+" y" {
		t.Fatalf("newest not redacted: %q", got)
	}
	if got := string(s.Redact([]byte("key platform-jwt-key-0123456789"))); got != "key "+Redaction {
		t.Fatalf("a pinned platform secret was evicted by credential values: %q", got)
	}
}

func BenchmarkRedactLine(b *testing.B) {
	s := NewSecrets()
	for i := range 1000 {
		s.Add(fmt.Sprintf("sk_live_%024d", i))
	}
	line := []byte(`{"time":"2026-12-02T20:00:00Z","level":"INFO","msg":"request","method":"GET","path":"/api/agents/","status":200,"duration_ms":1.2,"request_id":"0123456789abcdef0123456789abcdef"}` + "\n")
	b.ReportAllocs()
	for b.Loop() {
		s.Redact(line)
	}
}
