package app

import (
	"runtime/debug"
	"testing"

	"github.com/komand-ai/komand/internal/config"
	"github.com/komand-ai/komand/internal/llm"
)

func TestTuneGC(t *testing.T) {
	prev := debug.SetGCPercent(-1)
	debug.SetGCPercent(prev)
	t.Cleanup(func() { debug.SetGCPercent(prev) })

	debug.SetGCPercent(100)
	p, set := TuneGC([]string{"PATH=/bin", "XGOGC=5"})
	if p != DefaultGCPercent || !set {
		t.Fatalf("no GOGC: got %d, set=%v", p, set)
	}
	if got := debug.SetGCPercent(DefaultGCPercent); got != DefaultGCPercent {
		t.Fatalf("runtime percent %d, want %d", got, DefaultGCPercent)
	}

	// GOGC present: the runtime's current value is kept and reported.
	debug.SetGCPercent(150)
	p, set = TuneGC([]string{"GOGC=150"})
	if p != 150 || set {
		t.Fatalf("GOGC set: got %d, set=%v", p, set)
	}
	if got := debug.SetGCPercent(150); got != 150 {
		t.Fatalf("runtime percent changed to %d", got)
	}
}

func TestProvidersFromConfig(t *testing.T) {
	cfg := config.Default()
	if n := len(Providers(cfg)); n != 0 {
		t.Fatalf("default config: %d providers", n)
	}
	cfg.Providers.OpenAI.ApiKey = "sk-x"
	p, ok := Providers(cfg)["openai"].(*llm.OpenAI)
	if !ok || p.BaseURL != config.DefaultOpenAIBaseURL || p.APIKey != "sk-x" {
		t.Fatalf("key only: %+v", p)
	}
	if _, ok := Providers(cfg)["anthropic"]; ok {
		t.Fatalf("anthropic configured by an OpenAI key")
	}
	cfg.Providers.Anthropic.ApiKey = "sk-ant"
	a, ok := Providers(cfg)["anthropic"].(*llm.Anthropic)
	if !ok || a.BaseURL != config.DefaultAnthropicBaseURL || a.APIKey != "sk-ant" {
		t.Fatalf("anthropic: %+v", a)
	}
	cfg.Providers.OpenAI = config.ProviderConfig{BaseUrl: "http://127.0.0.1:11434/v1"}
	p, ok = Providers(cfg)["openai"].(*llm.OpenAI)
	if !ok || p.BaseURL != "http://127.0.0.1:11434/v1" || p.APIKey != "" {
		t.Fatalf("local server: %+v", p)
	}
}
