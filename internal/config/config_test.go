package config

import (
	"bytes"
	"encoding/json"
	"fmt"
	"log/slog"
	"strings"
	"testing"
)

func TestRedactURL(t *testing.T) {
	tests := []struct{ in, want string }{
		{"", ""},
		{"postgres://komand:s3cret@db:5432/komand?sslmode=require", "postgres://komand:[REDACTED]@db:5432/komand?sslmode=require"},
		{"postgresql://komand@db/komand", "postgresql://komand@db/komand"},
		{"postgres://db/komand?user=k&password=s3cret&sslmode=disable", "postgres://db/komand?user=k&password=[REDACTED]&sslmode=disable"},
		{"postgres://db/komand?sslpassword=s3cret", "postgres://db/komand?sslpassword=[REDACTED]"},
		{"postgres://k:p%40ss@db/komand", "postgres://k:[REDACTED]@db/komand"},
		{"postgres://k:p@ss@db/komand", "postgres://k:[REDACTED]@db/komand"},
		{"redis://:s3cret@cache:6379/0", "redis://:[REDACTED]@cache:6379/0"},
		{"rediss://default:s3cret@cache", "rediss://default:[REDACTED]@cache"},
		{"redis://cache:6379", "redis://cache:6379"},
		// Unparseable or ambiguous: redact everything.
		{"host=db user=k password=s3cret", Redaction},
		{"postgres://k:s3/cret@db/komand", Redaction},
		{"postgres://k:s3#cret@db/komand", Redaction},
		{"postgres://k:s3?cret@db/komand", Redaction},
		{"postgres://k:s3cret@db/x%zz", Redaction},
		{"mailto:s3cret", Redaction},
	}
	for _, tt := range tests {
		if got := redactURL(tt.in); got != tt.want {
			t.Errorf("redactURL(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

func secretConfig() Config {
	c := Default()
	c.ConnectionStrings.Komand = "postgres://komand:pg-s3cret@db/komand"
	c.ConnectionStrings.Redis = "redis://:redis-s3cret@cache:6379"
	c.Jwt.SecretKey = "jwt-s3cret-0123456789abcdef0123456789"
	c.Cors.AllowedOrigins = []string{"https://a.example"}
	c.Server.TrustedProxies = []string{"10.0.0.0/8"}
	return c
}

func TestRedacted(t *testing.T) {
	c := secretConfig()
	r := c.Redacted()
	if r.Jwt.SecretKey != Redaction {
		t.Errorf("SecretKey = %q", r.Jwt.SecretKey)
	}
	if r.ConnectionStrings.Komand != "postgres://komand:[REDACTED]@db/komand" {
		t.Errorf("Komand = %q", r.ConnectionStrings.Komand)
	}
	if r.ConnectionStrings.Redis != "redis://:[REDACTED]@cache:6379" {
		t.Errorf("Redis = %q", r.ConnectionStrings.Redis)
	}
	if r.Server.Addr != c.Server.Addr || r.Cors.AllowedOrigins[0] != "https://a.example" {
		t.Error("non-secret values changed")
	}
	// A deep copy: changing the dump does not change the original.
	r.Cors.AllowedOrigins[0] = "changed"
	r.Server.TrustedProxies[0] = "changed"
	if c.Cors.AllowedOrigins[0] != "https://a.example" || c.Server.TrustedProxies[0] != "10.0.0.0/8" {
		t.Error("Redacted shares slices with the original")
	}
	// Unset secrets stay empty so a dump shows them as unset.
	if d := Default().Redacted(); d.Jwt.SecretKey != "" || d.ConnectionStrings.Komand != "" {
		t.Error("empty secrets were replaced")
	}
	// The original is untouched.
	if c.Jwt.SecretKey != "jwt-s3cret-0123456789abcdef0123456789" {
		t.Error("Redacted modified its receiver")
	}
}

func TestDumpsDoNotLeak(t *testing.T) {
	c := secretConfig()
	var logs bytes.Buffer
	slog.New(slog.NewJSONHandler(&logs, nil)).Info("configuration", "config", c)
	outputs := map[string]string{
		"String":  c.String(),
		"%v":      fmt.Sprintf("%v", c),
		"%+v":     fmt.Sprintf("%+v", c),
		"%#v":     fmt.Sprintf("%#v", c),
		"%v ptr":  fmt.Sprintf("%v", &c),
		"slog":    logs.String(),
		"%s list": fmt.Sprint([]Config{c}),
	}
	for name, out := range outputs {
		if strings.Contains(out, "s3cret") {
			t.Errorf("%s leaks a secret: %s", name, out)
		}
		if !strings.Contains(out, "[REDACTED]") {
			t.Errorf("%s shows no redaction: %s", name, out)
		}
	}

	// String uses the environment variable names, one per line.
	s := c.String()
	for _, line := range []string{
		"Environment=Production",
		"Server__Addr=127.0.0.1:5000",
		"Server__ShutdownTimeout=30s",
		"Cors__AllowedOrigins=https://a.example",
		"RateLimits__ApiPermitLimit=100",
		"Jwt__SecretKey=[REDACTED]",
		"ConnectionStrings__Komand=postgres://komand:[REDACTED]@db/komand",
		"Log__Format=json",
	} {
		if !strings.Contains(s, line+"\n") {
			t.Errorf("String() lacks %q:\n%s", line, s)
		}
	}
	if n := strings.Count(s, "\n"); n != len(settings) {
		t.Errorf("String() has %d lines, want %d", n, len(settings))
	}

	// slog groups by section.
	var entry struct {
		Config map[string]any `json:"config"`
	}
	if err := json.Unmarshal(logs.Bytes(), &entry); err != nil {
		t.Fatal(err)
	}
	jwt, _ := entry.Config["Jwt"].(map[string]any)
	if entry.Config["Environment"] != "Production" || jwt["Issuer"] != "komand.ai" || jwt["SecretKey"] != Redaction {
		t.Errorf("slog value = %v", entry.Config)
	}
}

// Every Config field is covered by the settings table, so that a new field
// cannot be forgotten by the file parser, the environment parser and the
// dumps.
func TestSettingsCoverEveryField(t *testing.T) {
	var c Config
	seen := map[any]bool{}
	for _, s := range settings {
		p := s.field(&c)
		if seen[p] {
			t.Errorf("%s: field listed twice", s.key())
		}
		seen[p] = true
	}
	// Count the leaf fields by marshalling the struct.
	b, _ := json.Marshal(c)
	var top map[string]json.RawMessage
	_ = json.Unmarshal(b, &top)
	var leaves func(raw json.RawMessage) int
	leaves = func(raw json.RawMessage) int {
		var obj map[string]json.RawMessage
		if json.Unmarshal(raw, &obj) != nil || obj == nil { // a value, or null
			return 1
		}
		n := 0
		for _, v := range obj {
			n += leaves(v)
		}
		return n
	}
	n := leaves(b)
	if n != len(settings) {
		t.Errorf("Config has %d fields, settings table has %d", n, len(settings))
	}
}
