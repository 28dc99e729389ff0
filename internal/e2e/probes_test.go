package e2e_test

import (
	"io"
	"net/http"
	"strconv"
	"testing"
	"time"

	"github.com/komand-ai/komand/internal/app"
	"github.com/komand-ai/komand/internal/app/apptest"
	"github.com/komand-ai/komand/internal/config"
)

// TestProbesAndStaticFilesSpendNoAPIBudget (issue 15, defect 1): one
// address loading the chat page's script far past the API limit must not
// make /health or /ready answer 429 (an orchestrator would restart a
// healthy server) nor spend the address's API budget. The static files
// have their own, larger bound.
func TestProbesAndStaticFilesSpendNoAPIBudget(t *testing.T) {
	// One fixed instant inside a window: the limiter's window cannot end
	// in the middle of the test.
	at := time.Now().Truncate(time.Minute).Add(10 * time.Second)
	env := apptest.NewWith(t, "sqlite", func(c *config.Config) {
		c.RateLimits.ApiPermitLimit = 100
	}, app.Options{Now: func() time.Time { return at }})

	get := func(path string) *http.Response {
		t.Helper()
		resp, err := env.Server.Client().Get(env.Server.URL + path)
		if err != nil {
			t.Fatalf("GET %s: %v", path, err)
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		return resp
	}
	for i := 0; i < 105; i++ {
		if resp := get("/chat/chat.js"); resp.StatusCode != 200 {
			t.Fatalf("load %d of /chat/chat.js: %d", i+1, resp.StatusCode)
		}
	}
	// Probes are not limited at all: more of them than the API limit.
	for i := 0; i < 150; i++ {
		for _, p := range []string{"/health", "/ready"} {
			if r := env.Do("GET", p, "", nil); r.Status != 200 {
				t.Fatalf("%s after %d static loads and %d probes: %d %s", p, 105, i, r.Status, r.Body)
			}
		}
	}
	// The address's API budget is untouched: the first API request of the
	// window has 99 of 100 left.
	r := env.Do("GET", "/api/agents/", "", nil)
	expectError(t, r, 401, "unauthorized")
	if got := r.Header.Get("X-RateLimit-Remaining"); got != "99" {
		t.Fatalf("API budget after static loads and probes: remaining %q, want 99", got)
	}

	// The static files are bounded on their own: 10×100 = 1000 per window
	// (105 spent above), then 429 for them, and still not for the probes
	// or the API.
	for i := 105; i < 1000; i++ {
		if resp := get("/chat/chat.css"); resp.StatusCode != 200 {
			t.Fatalf("static load %d: %d", i+1, resp.StatusCode)
		}
	}
	resp := get("/chat")
	if resp.StatusCode != 429 || resp.Header.Get("Retry-After") == "" || resp.Header.Get("X-RateLimit-Limit") != strconv.Itoa(1000) {
		t.Fatalf("static load past its bound: %d, headers %v", resp.StatusCode, resp.Header)
	}
	if r := env.Do("GET", "/health", "", nil); r.Status != 200 {
		t.Fatalf("/health after the static bound: %d", r.Status)
	}
	r = env.Do("GET", "/api/agents/", "", nil)
	expectError(t, r, 401, "unauthorized")
	if got := r.Header.Get("X-RateLimit-Remaining"); got != "98" {
		t.Fatalf("API budget after the static bound: remaining %q, want 98", got)
	}
}
