package e2e_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/komand-ai/komand/internal/app"
	"github.com/komand-ai/komand/internal/app/apptest"
	"github.com/komand-ai/komand/internal/audit"
	"github.com/komand-ai/komand/internal/channel"
	"github.com/komand-ai/komand/internal/config"
	"github.com/komand-ai/komand/internal/store"
	"github.com/komand-ai/komand/internal/store/postgres"
	"github.com/komand-ai/komand/internal/store/sqlite"
)

// The outbox end to end: Slack and Telegram replies that the platform did
// not accept are retried by the delivery worker, across a restart and
// across replicas, and MessageSent says how each ended. The platforms are
// local fakes speaking their Web API / Bot API; the clock is injected and
// the worker is driven with Channels.DeliverDue (its ticker never fires).

// testClock is an injected clock the test moves by hand.
type testClock struct {
	mu  sync.Mutex
	now time.Time
}

func newTestClock() *testClock {
	return &testClock{now: time.Now().UTC().Truncate(time.Microsecond)}
}

func (c *testClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *testClock) Add(d time.Duration) {
	c.mu.Lock()
	c.now = c.now.Add(d)
	c.mu.Unlock()
}

// flakyPlatform is a Telegram Bot API (sendMessage) or Slack Web API
// (chat.postMessage) that refuses requests while it has failures left,
// in the way modes says (the last mode repeats): "drop" closes the
// connection unanswered, "503" and "429" answer that status in the API's
// own error format, "refuse" is a permanent refusal (Telegram 403, Slack
// ok:false invalid_auth), "hang" holds the request until the client gives
// up.
type flakyPlatform struct {
	slack bool
	token string

	mu       sync.Mutex
	fails    int // failures left
	failed   int // failures since down
	modes    []string
	requests int
	sent     []map[string]any
	arrived  chan struct{} // one value per request, if set
}

func (f *flakyPlatform) down(n int, modes ...string) {
	f.mu.Lock()
	f.fails, f.failed, f.modes = n, 0, modes
	f.mu.Unlock()
}

func (f *flakyPlatform) counts() (requests, sent int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.requests, len(f.sent)
}

func (f *flakyPlatform) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	f.mu.Lock()
	f.requests++
	mode := ""
	if f.fails > 0 {
		f.fails--
		mode = f.modes[min(f.failed, len(f.modes)-1)]
		f.failed++
	}
	if f.arrived != nil {
		f.arrived <- struct{}{}
	}
	f.mu.Unlock()
	w.Header().Set("Content-Type", "application/json")
	switch mode {
	case "drop":
		c, _, err := w.(http.Hijacker).Hijack()
		if err == nil {
			c.Close()
		}
		return
	case "hang":
		<-r.Context().Done()
		return
	case "503":
		w.WriteHeader(503)
		if f.slack {
			io.WriteString(w, `<html>Service Unavailable</html>`)
		} else {
			io.WriteString(w, `{"ok":false,"error_code":503,"description":"Service Unavailable"}`)
		}
		return
	case "429":
		if f.slack {
			w.Header().Set("Retry-After", "7")
			w.WriteHeader(429)
			io.WriteString(w, `{"ok":false,"error":"ratelimited"}`)
		} else {
			w.WriteHeader(429)
			io.WriteString(w, `{"ok":false,"error_code":429,"description":"Too Many Requests: retry after 7","parameters":{"retry_after":7}}`)
		}
		return
	case "refuse":
		if f.slack {
			io.WriteString(w, `{"ok":false,"error":"invalid_auth"}`)
		} else {
			w.WriteHeader(403)
			io.WriteString(w, `{"ok":false,"error_code":403,"description":"Forbidden: bot was blocked by the user"}`)
		}
		return
	}
	var m map[string]any
	path := "/bot" + f.token + "/sendMessage"
	if f.slack {
		path = "/api/chat.postMessage"
	}
	if r.URL.Path != path || (f.slack && r.Header.Get("Authorization") != "Bearer "+f.token) || json.Unmarshal(body, &m) != nil {
		w.WriteHeader(400)
		io.WriteString(w, `{"ok":false,"error_code":400,"description":"Bad Request"}`)
		return
	}
	f.mu.Lock()
	f.sent = append(f.sent, m)
	f.mu.Unlock()
	if f.slack {
		io.WriteString(w, `{"ok":true,"channel":"C1","ts":"1700000000.000200"}`)
	} else {
		io.WriteString(w, `{"ok":true,"result":{"message_id":1,"chat":{"id":42},"text":"x"}}`)
	}
}

// outboxWorld is one Komand (or several on one database) with a Slack or
// Telegram account whose API is a flakyPlatform.
type outboxWorld struct {
	t        *testing.T
	kind     string
	cfg      config.Config
	clock    *testClock
	platform *flakyPlatform
	env      *apptest.Env // the latest started
	tenant   string
	path     string // the account's webhook path
	secret   string // Telegram's secret token or Slack's signing secret
	botToken string
}

func newOutboxWorld(t *testing.T, kind string, slack bool, mutate func(*config.Config)) *outboxWorld {
	t.Helper()
	w := &outboxWorld{t: t, kind: kind, clock: newTestClock(), secret: "outbox-secret-4b1d9e7a62c0"}
	w.botToken = "7123456789:AAOutboxPLANTEDbotToken0x5e3c"
	if slack {
		w.botToken = "xoxb-9876-5432-OutboxPLANTEDtoken"
	}
	w.platform = &flakyPlatform{slack: slack, token: w.botToken}
	api := httptest.NewServer(w.platform)
	t.Cleanup(api.Close)
	w.cfg = apptest.Config(t, kind)
	w.cfg.Channels.Telegram.ApiBaseUrl, w.cfg.Channels.Slack.ApiBaseUrl = api.URL, api.URL
	if mutate != nil {
		mutate(&w.cfg)
	}
	env := w.start(nil)
	w.tenant = env.Tenant("acme")
	admin := env.APIKey(w.tenant, env.User(w.tenant, "admin@example.com", "admin"))
	cred := func(name, value string) string {
		r := env.Do("POST", "/api/credentials/", admin, map[string]any{"name": name, "type": "token", "value": value})
		if r.Status != 201 {
			t.Fatalf("credential: %d %s", r.Status, r.Body)
		}
		return decodeData[credentialView](t, r).ID
	}
	ch := channel.Telegram
	if slack {
		ch = channel.Slack
	}
	if r := env.Do("POST", "/api/agents/", admin, map[string]any{"agentId": "bot", "name": "Bot",
		"allowedChannels": []string{ch}}); r.Status != 201 {
		t.Fatalf("agent: %d %s", r.Status, r.Body)
	}
	r := env.Do("POST", "/api/channels/accounts/", admin, map[string]any{"channel": ch, "accountId": "support",
		"agentId": "bot", "secretCredentialId": cred("secret", w.secret), "tokenCredentialId": cred("bot-token", w.botToken)})
	if r.Status != 201 {
		t.Fatalf("account: %d %s", r.Status, r.Body)
	}
	w.path = decodeData[struct {
		WebhookPath string `json:"webhookPath"`
	}](t, r).WebhookPath
	return w
}

// start starts a Komand on the world's configuration and clock (a second
// one on the same data dir or database is a restart, or a replica). Its
// worker runs only on ticks sent to ticks (nil: never).
func (w *outboxWorld) start(ticks chan time.Time) *apptest.Env {
	w.t.Helper()
	if ticks == nil {
		ticks = make(chan time.Time)
	}
	w.env = apptest.Start(w.t, w.cfg, app.Options{Now: w.clock.Now, DeliveryTicks: ticks})
	return w.env
}

// message sends one signed inbound message from chat (a Telegram chat ID
// or a Slack channel) through env and waits for its reply's first attempt.
func (w *outboxWorld) message(env *apptest.Env, id int, chat int64, text string) *apptest.Response {
	w.t.Helper()
	now := w.clock.Now()
	var r *apptest.Response
	if w.platform.slack {
		body := fmt.Sprintf(`{"type":"event_callback","event_id":"Ev%d","event_time":%d,"event":{"type":"message",
			"channel":"C%d","user":"U42","text":%q,"ts":"1700000000.%06d"}}`, id, now.Unix(), chat, text, id)
		ts := strconv.FormatInt(now.Unix(), 10)
		r = env.Do("POST", w.path, "", body, channel.SlackTimestampHeader, ts,
			channel.SlackSignatureHeader, channel.SlackSign([]byte(w.secret), ts, []byte(body)))
	} else {
		body := fmt.Sprintf(`{"update_id":%d,"message":{"message_id":%d,"date":%d,"text":%q,
			"from":{"id":%d,"is_bot":false,"first_name":"Ada"},"chat":{"id":%d,"type":"private"}}}`, id, id, now.Unix(), text, chat, chat)
		r = env.Do("POST", w.path, "", body, channel.TelegramSecretHeader, w.secret)
	}
	if r.Status != 200 {
		w.t.Fatalf("delivery %d: %d %s", id, r.Status, r.Body)
	}
	env.App.Channels.Wait()
	return r
}

// deliverDue runs one round of env's worker and returns what it attempted.
func (w *outboxWorld) deliverDue(env *apptest.Env) int {
	w.t.Helper()
	n, err := env.App.Channels.DeliverDue(w.t.Context())
	if err != nil {
		w.t.Fatalf("DeliverDue: %v", err)
	}
	return n
}

// outboxRow is a row of komand_outbox as the database holds it.
type outboxRow struct {
	Attempts       int
	LastErrorClass string
	NextAttemptAt  time.Time
	All            string // every column as text
}

// rows reads komand_outbox directly (the owner on PostgreSQL, past RLS).
func (w *outboxWorld) rows(env *apptest.Env) []outboxRow {
	w.t.Helper()
	ctx := w.t.Context()
	var out []outboxRow
	switch st := env.App.Store.(type) {
	case *sqlite.Store:
		rs, err := st.DB().QueryContext(ctx, `SELECT attempts, last_error_class, next_attempt_at,
			tenant_id || id || channel || channel_account_id || agent_id || session_id || message_id || request_id ||
			CAST(payload AS TEXT) || lease_token || last_error_class FROM komand_outbox`)
		if err != nil {
			w.t.Fatalf("outbox rows: %v", err)
		}
		defer rs.Close()
		for rs.Next() {
			var r outboxRow
			var next int64
			if err := rs.Scan(&r.Attempts, &r.LastErrorClass, &next, &r.All); err != nil {
				w.t.Fatalf("outbox row: %v", err)
			}
			r.NextAttemptAt = time.UnixMicro(next).UTC()
			out = append(out, r)
		}
	case *postgres.Store:
		rs, err := st.OwnerPool().Query(ctx, `SELECT attempts, last_error_class, next_attempt_at, o::text FROM komand_outbox o`)
		if err != nil {
			w.t.Fatalf("outbox rows: %v", err)
		}
		defer rs.Close()
		for rs.Next() {
			var r outboxRow
			if err := rs.Scan(&r.Attempts, &r.LastErrorClass, &r.NextAttemptAt, &r.All); err != nil {
				w.t.Fatalf("outbox row: %v", err)
			}
			out = append(out, r)
		}
	default:
		w.t.Fatalf("store %T", st)
	}
	return out
}

// sent returns the details of the tenant's MessageSent entries, oldest
// first, with each entry's request ID under "requestId".
func (w *outboxWorld) sent(env *apptest.Env) []map[string]any {
	w.t.Helper()
	es, _, err := env.App.Store.ListAudit(w.t.Context(), w.tenant, store.AuditFilter{Action: string(audit.MessageSent)}, store.Page{Page: 1, PageSize: 100})
	if err != nil {
		w.t.Fatalf("list audit: %v", err)
	}
	var out []map[string]any
	for _, e := range es {
		var d map[string]any
		if err := json.Unmarshal(e.Details, &d); err != nil {
			w.t.Fatalf("details: %v", err)
		}
		d["requestId"], d["actorId"] = e.RequestID, e.ActorID
		out = append(out, d)
	}
	slices.Reverse(out) // the listing is newest first
	return out
}

// outcomes returns the "delivery" field of each MessageSent entry.
func outcomes(sent []map[string]any) []string {
	var out []string
	for _, d := range sent {
		out = append(out, fmt.Sprint(d["delivery"]))
	}
	return out
}

// noBotToken checks the token is in no outbox row, audit entry, log line
// or, on SQLite, anywhere in the database files.
func (w *outboxWorld) noBotToken(env *apptest.Env) {
	w.t.Helper()
	for _, r := range w.rows(env) {
		noSecret(w.t, "an outbox row", []byte(r.All), w.botToken, w.secret)
	}
	es, _, err := env.App.Store.ListAudit(w.t.Context(), w.tenant, store.AuditFilter{}, store.Page{Page: 1, PageSize: 500})
	if err != nil {
		w.t.Fatalf("list audit: %v", err)
	}
	for _, e := range es {
		noSecret(w.t, "audit entry "+e.Action, e.Details, w.botToken, w.secret)
	}
	noSecret(w.t, "the logs", []byte(env.Logs()), w.botToken, w.secret)
	if w.kind == "sqlite" {
		var all []byte
		for _, f := range []string{app.SQLiteFile, app.SQLiteFile + "-wal"} {
			b, err := os.ReadFile(filepath.Join(w.cfg.Server.DataDir, f))
			if err != nil && !os.IsNotExist(err) {
				w.t.Fatalf("read %s: %v", f, err)
			}
			all = append(all, b...)
		}
		if !bytes.Contains(all, []byte("komand_outbox")) {
			w.t.Fatalf("the database files do not hold the outbox: the search below would prove nothing")
		}
		noSecret(w.t, "the database files", all, w.botToken, w.secret)
	}
}

// TestOutboxRetriesUntilDelivered: the Bot API is down for the first three
// attempts (a dropped connection, a 503, a 429 asking for 7 s), then up.
// The reply is sent exactly once, after 4 attempts, each failure recorded
// on the row with its class, the 429's wait honoured; MessageSent says
// delivered after 4 attempts, with the inbound request's ID. Nothing holds
// the bot token.
func TestOutboxRetriesUntilDelivered(t *testing.T) {
	t.Parallel()
	for _, kind := range apptest.Kinds() {
		t.Run(kind, func(t *testing.T) {
			w := newOutboxWorld(t, kind, false, nil)
			env := w.env
			w.platform.down(3, "drop", "503", "429")
			r := w.message(env, 1001, 77, "where is my order?")
			if req, sent := w.platform.counts(); req != 1 || sent != 0 {
				t.Fatalf("first attempt: %d requests, %d sent", req, sent)
			}
			wantClass := []string{"unreachable", "http_5xx", "http_429"}
			for i := range 3 {
				rows := w.rows(env)
				if len(rows) != 1 || rows[0].Attempts != i+1 || rows[0].LastErrorClass != wantClass[i] {
					t.Fatalf("after attempt %d: outbox %+v", i+1, rows)
				}
				if i == 0 {
					w.noBotToken(env) // while the reply waits in the outbox
				}
				if i == 2 && rows[0].NextAttemptAt.Sub(w.clock.Now()) < 7*time.Second {
					t.Fatalf("the 429's retry_after was not honoured: next attempt in %v", rows[0].NextAttemptAt.Sub(w.clock.Now()))
				}
				// Not before its backoff: nothing is due yet.
				if n := w.deliverDue(env); n != 0 {
					t.Fatalf("attempted %d deliveries before their backoff", n)
				}
				w.clock.Add(w.cfg.Channels.Delivery.MaxBackoff)
				if n := w.deliverDue(env); n != 1 {
					t.Fatalf("round %d attempted %d deliveries, want 1", i+1, n)
				}
			}
			if req, sent := w.platform.counts(); req != 4 || sent != 1 {
				t.Fatalf("%d requests, %d sent; want 4 and 1", req, sent)
			}
			w.platform.mu.Lock()
			if m := w.platform.sent[0]; m["chat_id"] != float64(77) || m["text"] == "" {
				t.Errorf("sendMessage: %v", m)
			}
			w.platform.mu.Unlock()
			if rows := w.rows(env); len(rows) != 0 {
				t.Fatalf("outbox after delivery: %+v", rows)
			}
			// Delivered once: later rounds send nothing again.
			w.clock.Add(time.Hour)
			if n := w.deliverDue(env); n != 0 {
				t.Fatalf("a delivered reply was attempted again (%d)", n)
			}
			if req, _ := w.platform.counts(); req != 4 {
				t.Fatalf("%d requests after delivery, want 4", req)
			}
			sent := w.sent(env)
			if got := outcomes(sent); !slices.Equal(got, []string{"queued", "delivered"}) {
				t.Fatalf("MessageSent entries: %v", sent)
			}
			d := sent[1]
			if d["attempts"] != float64(4) || d["statusClass"] != "2xx" || d["channel"] != "Telegram" || d["messageId"] != "1001" ||
				d["deliveryId"] == nil || d["requestId"] != r.ReqIDHeader() || !strings.HasPrefix(fmt.Sprint(d["actorId"]), "channel:") {
				t.Fatalf("MessageSent (delivered): %v, request %s", d, r.ReqIDHeader())
			}
			if _, ok := d["outcome"]; ok {
				t.Errorf("a delivered reply is marked failed: %v", d)
			}
			w.noBotToken(env)
		})
	}
}

// TestOutboxGivesUp: a reply the Web API keeps refusing with 503 is given
// up after Channels__Delivery__MaxAttempts attempts; one refused for good
// (ok:false invalid_auth) after its first; one whose worker came back
// after MaxAge without another send. Each gets MessageSent failed with the
// attempts and the class, and leaves nothing in the outbox.
func TestOutboxGivesUp(t *testing.T) {
	t.Parallel()
	for _, kind := range apptest.Kinds() {
		t.Run(kind, func(t *testing.T) {
			w := newOutboxWorld(t, kind, true, func(c *config.Config) { c.Channels.Delivery.MaxAttempts = 3 })
			env := w.env
			w.platform.down(1<<30, "503")
			w.message(env, 1, 1, "first")
			for round := range 2 {
				w.clock.Add(w.cfg.Channels.Delivery.MaxBackoff)
				if n := w.deliverDue(env); n != 1 {
					t.Fatalf("round %d attempted %d deliveries, want 1", round+1, n)
				}
			}
			// Given up at the third failure, not left for another claim.
			if rows := w.rows(env); len(rows) != 0 {
				t.Fatalf("outbox after giving up: %+v", rows)
			}
			for range 3 {
				w.clock.Add(w.cfg.Channels.Delivery.MaxBackoff)
				if n := w.deliverDue(env); n != 0 {
					t.Fatalf("a given-up reply was attempted again (%d)", n)
				}
			}
			if req, sent := w.platform.counts(); req != 3 || sent != 0 {
				t.Fatalf("%d requests, %d sent; want 3 and 0", req, sent)
			}
			sent := w.sent(env)
			if got := outcomes(sent); !slices.Equal(got, []string{"queued", "failed"}) {
				t.Fatalf("MessageSent entries: %v", sent)
			}
			if d := sent[1]; d["attempts"] != float64(3) || d["statusClass"] != "http_5xx" || d["outcome"] != "failed" || d["channel"] != "Slack" {
				t.Fatalf("MessageSent (failed): %v", d)
			}

			// Refused for good: not retried.
			w.platform.down(1<<30, "refuse")
			w.message(env, 2, 2, "second")
			w.clock.Add(time.Hour)
			if n := w.deliverDue(env); n != 0 {
				t.Fatalf("a refused reply was retried (%d)", n)
			}
			if req, _ := w.platform.counts(); req != 4 {
				t.Fatalf("%d requests, want 4", req)
			}
			if d := w.sent(env); len(d) != 4 || d[3]["delivery"] != "failed" || d[3]["attempts"] != float64(1) || d[3]["statusClass"] != "api_error" {
				t.Fatalf("MessageSent (refused): %v", d)
			}

			// Past MaxAge when next claimed: given up without a send.
			w.platform.down(1<<30, "503")
			w.message(env, 3, 3, "third")
			w.clock.Add(w.cfg.Channels.Delivery.MaxAge + time.Minute)
			if n := w.deliverDue(env); n != 1 {
				t.Fatalf("expired round attempted %d", n)
			}
			if req, _ := w.platform.counts(); req != 5 {
				t.Fatalf("%d requests, want 5 (an expired reply was sent)", req)
			}
			if d := w.sent(env); len(d) != 6 || d[5]["delivery"] != "failed" || d[5]["attempts"] != float64(1) || d[5]["statusClass"] != "http_5xx" {
				t.Fatalf("MessageSent (expired): %v", d)
			}
			if rows := w.rows(env); len(rows) != 0 {
				t.Fatalf("outbox after giving up: %+v", rows)
			}
			w.noBotToken(env)
		})
	}
}

// TestOutboxSurvivesRestart: a reply that failed is in the outbox when
// the server stops; the next server on the same data dir (or database)
// sends it. A server stopped in the middle of an attempt releases it, so
// the next one sends it at once rather than when the lease would end.
func TestOutboxSurvivesRestart(t *testing.T) {
	t.Parallel()
	for _, kind := range apptest.Kinds() {
		t.Run(kind, func(t *testing.T) {
			w := newOutboxWorld(t, kind, false, nil)
			first := w.env
			w.platform.down(1<<30, "503")
			w.message(first, 2001, 5, "before the restart")
			first.Close()

			w.platform.down(0)
			second := w.start(nil)
			w.clock.Add(w.cfg.Channels.Delivery.MaxBackoff)
			if n := w.deliverDue(second); n != 1 {
				t.Fatalf("the restarted server attempted %d deliveries, want 1", n)
			}
			if req, sent := w.platform.counts(); req != 2 || sent != 1 {
				t.Fatalf("%d requests, %d sent; want 2 and 1", req, sent)
			}
			if d := w.sent(second); len(d) != 2 || d[1]["delivery"] != "delivered" || d[1]["attempts"] != float64(2) {
				t.Fatalf("MessageSent: %v", d)
			}

			// Stopped mid-attempt: the worker's request hangs, Close cancels it.
			w.platform.down(2, "503", "hang")
			w.message(second, 2002, 6, "during the shutdown")
			ticks := make(chan time.Time, 1)
			second.Close()
			third := w.start(ticks)
			w.platform.mu.Lock()
			arrived := make(chan struct{}, 4)
			w.platform.arrived = arrived
			w.platform.mu.Unlock()
			w.clock.Add(w.cfg.Channels.Delivery.MaxBackoff)
			ticks <- w.clock.Now()
			<-arrived // the worker's attempt is in flight
			third.Close()
			fourth := w.start(nil)
			if rows := w.rows(fourth); len(rows) != 1 || rows[0].Attempts != 2 || rows[0].NextAttemptAt.After(w.clock.Now()) {
				t.Fatalf("after a shutdown mid-attempt: outbox %+v (want released, due now)", rows)
			}
			if n := w.deliverDue(fourth); n != 1 { // same clock: no lease to wait out
				t.Fatalf("after the shutdown the next server attempted %d deliveries, want 1", n)
			}
			if req, sent := w.platform.counts(); req != 5 || sent != 2 {
				t.Fatalf("%d requests, %d sent; want 5 and 2", req, sent)
			}
			if d := w.sent(fourth); len(d) != 4 || d[3]["delivery"] != "delivered" || d[3]["attempts"] != float64(3) || d[3]["messageId"] != "2002" {
				t.Fatalf("MessageSent: %v", d)
			}
		})
	}
}

// TestOutboxTwoReplicasSendOnce: replies queued on two replicas of one
// PostgreSQL database while the Bot API is down are each sent exactly
// once when both replicas' workers run at the same moment.
func TestOutboxTwoReplicasSendOnce(t *testing.T) {
	t.Parallel()
	if !slices.Contains(apptest.Kinds(), "postgres") {
		t.Skip("KOMAND_TEST_POSTGRES_DSN not set: PostgreSQL replicas not tested")
	}
	w := newOutboxWorld(t, "postgres", false, nil)
	r1 := w.env
	r2 := w.start(nil)
	w.platform.down(1<<30, "503")
	const n = 24
	for i := range n {
		env := r1
		if i%2 == 1 {
			env = r2
		}
		w.message(env, 3000+i, int64(100+i), "hello")
	}
	if rows := w.rows(r1); len(rows) != n {
		t.Fatalf("%d rows in the outbox, want %d", len(rows), n)
	}
	w.platform.down(0)
	w.clock.Add(w.cfg.Channels.Delivery.MaxBackoff)
	var start, done sync.WaitGroup
	start.Add(1)
	counts := make([]int, 2)
	for i, env := range []*apptest.Env{r1, r2} {
		done.Add(1)
		go func() {
			defer done.Done()
			start.Wait()
			c, err := env.App.Channels.DeliverDue(t.Context())
			if err != nil {
				t.Errorf("replica %d: %v", i+1, err)
			}
			counts[i] = c
		}()
	}
	start.Done()
	done.Wait()
	if counts[0]+counts[1] != n {
		t.Fatalf("replicas attempted %v, want %d in all", counts, n)
	}
	w.platform.mu.Lock()
	chats := map[float64]int{}
	for _, m := range w.platform.sent {
		chats[m["chat_id"].(float64)]++
	}
	w.platform.mu.Unlock()
	for i := range n {
		if c := chats[float64(100+i)]; c != 1 {
			t.Errorf("chat %d got %d replies, want 1", 100+i, c)
		}
	}
	if len(chats) != n {
		t.Errorf("%d chats answered, want %d", len(chats), n)
	}
	delivered := 0
	for _, d := range w.sent(r1) {
		if d["delivery"] == "delivered" {
			delivered++
		}
	}
	if delivered != n {
		t.Errorf("%d MessageSent delivered entries, want %d", delivered, n)
	}
}
