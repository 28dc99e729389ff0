package gateway_test

// BenchmarkTurn measures Komand's own overhead per message turn: WebChat in
// (a real HTTP request on loopback, API-key authentication, chat rate
// limit, session lock, history load, audit) → a model call to a
// zero-latency scripted OpenAI-compatible server that asks for one tool
// (current_time) → the tool run (audited) → a second model call that
// answers → the turns stored → the reply out. The model server runs in the
// same process, so its own cost (JSON encoding of two small answers) is
// included; its latency is zero. Concurrent callers use distinct senders
// (sessions), as traffic does. Reported: turns/s, p50-ns and p99-ns per
// turn, cpu-ns per turn.
//
//	go test ./internal/gateway -run '^$' -bench Turn -benchtime 3s

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/komand-ai/komand/internal/app"
	"github.com/komand-ai/komand/internal/app/apptest"
	"github.com/komand-ai/komand/internal/config"
	"github.com/komand-ai/komand/internal/llm"
)

// scriptedModel asks for current_time when the conversation ends with the
// user, and answers when it ends with a tool result.
func scriptedModel(w http.ResponseWriter, r *http.Request) {
	var req struct {
		Messages []struct {
			Role string `json:"role"`
		} `json:"messages"`
	}
	if err := json.NewDecoder(r.Body).Decode(&req); err != nil || len(req.Messages) == 0 {
		http.Error(w, "bad request", 400)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	if req.Messages[len(req.Messages)-1].Role == "tool" {
		io.WriteString(w, `{"choices":[{"index":0,"message":{"role":"assistant","content":"It is noon."},"finish_reason":"stop"}]}`)
		return
	}
	io.WriteString(w, `{"choices":[{"index":0,"message":{"role":"assistant","content":null,"tool_calls":[{"id":"call_1","type":"function","function":{"name":"current_time","arguments":"{}"}}]},"finish_reason":"tool_calls"}]}`)
}

func BenchmarkTurn(b *testing.B) {
	tuneGCAsServe(b)
	for _, kind := range apptest.Kinds() {
		b.Run(kind, func(b *testing.B) {
			model := httptest.NewServer(http.HandlerFunc(scriptedModel))
			b.Cleanup(model.Close)
			provider := &llm.OpenAI{BaseURL: model.URL + "/v1", Client: model.Client()}
			env := apptest.NewWith(b, kind, func(c *config.Config) {
				c.RateLimits.ChatPermitLimit = 1_000_000
				c.Log.Level = "error"
			}, app.Options{Providers: map[string]llm.Provider{"openai": provider}})
			tn := env.Tenant("bench")
			key := env.APIKey(tn, env.User(tn, "op@example.com", "admin"))
			if r := env.Do("POST", "/api/agents/", key, map[string]any{"agentId": "default", "name": "D",
				"modelProvider": "openai", "modelId": "m", "allowedChannels": []string{"WebChat"}}); r.Status != 201 {
				b.Fatalf("agent: %d %s", r.Status, r.Body)
			}
			client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 256}}
			url := env.Server.URL + "/api/webchat/message"
			var (
				next atomic.Int64
				mu   sync.Mutex
				all  []time.Duration
			)
			b.SetParallelism(8)
			b.ResetTimer()
			start, cpu0 := time.Now(), processCPU()
			b.RunParallel(func(pb *testing.PB) {
				body := []byte(fmt.Sprintf(`{"senderId":"sender-%d","text":"What time is it?"}`, next.Add(1)))
				ds := make([]time.Duration, 0, 1024)
				for pb.Next() {
					req, _ := http.NewRequest("POST", url, bytes.NewReader(body))
					req.Header.Set("Content-Type", "application/json")
					req.Header.Set("Authorization", "Bearer "+key)
					t0 := time.Now()
					resp, err := client.Do(req)
					if err != nil {
						b.Error(err)
						return
					}
					raw, _ := io.ReadAll(resp.Body)
					resp.Body.Close()
					ds = append(ds, time.Since(t0))
					if resp.StatusCode != 200 || !bytes.Contains(raw, []byte("It is noon.")) {
						b.Errorf("turn: %d %s", resp.StatusCode, raw)
						return
					}
				}
				mu.Lock()
				all = append(all, ds...)
				mu.Unlock()
			})
			elapsed, cpu := time.Since(start), processCPU()-cpu0
			b.StopTimer()
			b.ReportMetric(float64(b.N)/elapsed.Seconds(), "turns/s")
			b.ReportMetric(float64(cpu.Nanoseconds())/float64(b.N), "cpu-ns/turn")
			if len(all) > 0 {
				slices.Sort(all)
				q := func(p float64) float64 { return float64(all[int(p*float64(len(all)-1))].Nanoseconds()) }
				b.ReportMetric(q(0.50), "p50-ns")
				b.ReportMetric(q(0.99), "p99-ns")
			}
		})
	}
}
