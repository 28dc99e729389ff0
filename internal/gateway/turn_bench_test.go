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

// conversationLength is the messages one sender sends before the next
// caller's sender takes over: sessions in the benchmark hold conversations
// of 10 messages (40 turns: user, tool call, tool result, answer), as a
// support chat does, rather than one session growing for the whole run.
const conversationLength = 10

func BenchmarkTurn(b *testing.B) {
	tuneGCAsServe(b)
	for _, kind := range apptest.Kinds() {
		b.Run(kind, func(b *testing.B) {
			model := httptest.NewServer(http.HandlerFunc(scriptedModel))
			b.Cleanup(model.Close)
			timed := &timedTransport{next: model.Client().Transport}
			provider := &llm.OpenAI{BaseURL: model.URL + "/v1", Client: &http.Client{Transport: timed}}
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
			var senders atomic.Int64
			// 1 caller: the latency of one turn on an idle server; 16
			// callers: sustained throughput (and latency under it).
			for _, callers := range []int{1, 16} {
				b.Run(fmt.Sprintf("callers=%d", callers), func(b *testing.B) {
					runTurns(b, client, url, key, callers, &senders, timed)
				})
			}
		})
	}
}

// timedTransport adds up the time Komand spends waiting for the model
// (request written to answer read), so that with one caller each turn's
// own overhead is its latency minus its model time.
type timedTransport struct {
	next http.RoundTripper
	ns   atomic.Int64
}

func (t *timedTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	t0 := time.Now()
	resp, err := t.next.RoundTrip(r)
	if err == nil {
		// The answer is read by the client after RoundTrip returns; read
		// it here so its transfer counts as model time.
		raw, rerr := io.ReadAll(resp.Body)
		resp.Body.Close()
		resp.Body, err = io.NopCloser(bytes.NewReader(raw)), rerr
	}
	t.ns.Add(int64(time.Since(t0)))
	return resp, err
}

// runTurns sends b.N WebChat turns from callers concurrent senders and
// reports turns/s, p50/p99 and CPU per turn. With one caller it also
// reports Komand's own overhead per turn (latency minus model time,
// overhead-p50-ns and overhead-p99-ns).
func runTurns(b *testing.B, client *http.Client, url, key string, callers int, senders *atomic.Int64, model *timedTransport) {
	var (
		next atomic.Int64
		mu   sync.Mutex
		all  []time.Duration
		own  []time.Duration
		wg   sync.WaitGroup
	)
	b.ResetTimer()
	start, cpu0 := time.Now(), processCPU()
	for range callers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			ds := make([]time.Duration, 0, 1024)
			ov := make([]time.Duration, 0, 1024)
			var body []byte
			for i := 0; next.Add(1) <= int64(b.N); i++ {
				if i%conversationLength == 0 {
					body = []byte(fmt.Sprintf(`{"senderId":"sender-%d","text":"What time is it?"}`, senders.Add(1)))
				}
				req, _ := http.NewRequest("POST", url, bytes.NewReader(body))
				req.Header.Set("Content-Type", "application/json")
				req.Header.Set("Authorization", "Bearer "+key)
				m0 := model.ns.Load()
				t0 := time.Now()
				resp, err := client.Do(req)
				if err != nil {
					b.Error(err)
					return
				}
				raw, _ := io.ReadAll(resp.Body)
				resp.Body.Close()
				d := time.Since(t0)
				ds = append(ds, d)
				if callers == 1 {
					ov = append(ov, d-time.Duration(model.ns.Load()-m0))
				}
				if resp.StatusCode != 200 || !bytes.Contains(raw, []byte("It is noon.")) {
					b.Errorf("turn: %d %s", resp.StatusCode, raw)
					return
				}
			}
			mu.Lock()
			all = append(all, ds...)
			own = append(own, ov...)
			mu.Unlock()
		}()
	}
	wg.Wait()
	elapsed, cpu := time.Since(start), processCPU()-cpu0
	b.StopTimer()
	b.ReportMetric(float64(b.N)/elapsed.Seconds(), "turns/s")
	b.ReportMetric(float64(cpu.Nanoseconds())/float64(b.N), "cpu-ns/turn")
	quantiles(b, all, "")
	quantiles(b, own, "overhead-")
}

func quantiles(b *testing.B, ds []time.Duration, prefix string) {
	if len(ds) == 0 {
		return
	}
	slices.Sort(ds)
	q := func(p float64) float64 { return float64(ds[int(p*float64(len(ds)-1))].Nanoseconds()) }
	b.ReportMetric(q(0.50), prefix+"p50-ns")
	b.ReportMetric(q(0.99), prefix+"p99-ns")
}
