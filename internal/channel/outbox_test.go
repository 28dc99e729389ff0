package channel

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/komand-ai/komand/internal/audit"
	"github.com/komand-ai/komand/internal/authz"
	"github.com/komand-ai/komand/internal/store"
	"github.com/komand-ai/komand/internal/store/sqlite"
)

func TestBackoff(t *testing.T) {
	o := DeliveryOptions{InitialBackoff: 2 * time.Second, MaxBackoff: 30 * time.Second,
		Jitter: func(d time.Duration) time.Duration { return d }}.withDefaults()
	for attempt, want := range map[int]time.Duration{1: 2 * time.Second, 2: 4 * time.Second, 3: 8 * time.Second,
		4: 16 * time.Second, 5: 30 * time.Second, 60: 30 * time.Second, 1 << 30: 30 * time.Second} {
		if got := o.backoff(attempt, 0); got != want {
			t.Errorf("backoff(%d) = %v, want %v", attempt, got, want)
		}
	}
	// A Retry-After longer than the delay wins, but never beyond the cap.
	if got := o.backoff(1, 7*time.Second); got != 7*time.Second {
		t.Errorf("backoff with Retry-After 7s = %v", got)
	}
	if got := o.backoff(1, time.Hour); got != 30*time.Second {
		t.Errorf("backoff with Retry-After 1h = %v, want the cap", got)
	}
	// The default jitter stays in [d/2, d] and varies.
	o.Jitter = nil
	o = o.withDefaults()
	seen := map[time.Duration]bool{}
	for range 200 {
		d := o.backoff(3, 0)
		if d < 4*time.Second || d > 8*time.Second {
			t.Fatalf("jittered backoff(3) = %v, want within [4s, 8s]", d)
		}
		seen[d] = true
	}
	if len(seen) < 10 {
		t.Errorf("jitter drew %d distinct delays in 200", len(seen))
	}
}

func TestClassify(t *testing.T) {
	for status, want := range map[int]struct {
		class string
		retry bool
	}{429: {ClassRateLimited, true}, 500: {ClassServerError, true}, 503: {ClassServerError, true},
		400: {ClassClientError, false}, 401: {ClassClientError, false}, 403: {ClassClientError, false}, 200: {ClassBadResponse, false}} {
		e := classify("x", status, 0)
		if e.class != want.class || e.retry != want.retry {
			t.Errorf("classify(%d) = %s/%t, want %s/%t", status, e.class, e.retry, want.class, want.retry)
		}
	}
	for h, want := range map[string]time.Duration{"7": 7 * time.Second, " 2 ": 2 * time.Second, "": 0, "-1": 0,
		"Wed, 21 Oct 2015 07:28:00 GMT": 0, "99999999": 24 * time.Hour} {
		if got := retryAfter(h); got != want {
			t.Errorf("retryAfter(%q) = %v, want %v", h, got, want)
		}
	}
}

type recorder struct {
	mu     sync.Mutex
	events []audit.Event
}

func (r *recorder) Record(_ context.Context, ev audit.Event) error {
	r.mu.Lock()
	r.events = append(r.events, ev)
	r.mu.Unlock()
	return nil
}

type tokens struct{}

func (tokens) PlatformSecret(context.Context, string, string) (string, error) {
	return "123:bot-token", nil
}
func (tokens) Exists(context.Context, string, string) (bool, error) { return true, nil }

// outboxService is a channel service on SQLite whose Telegram API counts
// requests and accepts them all.
func outboxService(t *testing.T, now func() time.Time, o DeliveryOptions) (*Service, *sqlite.Store, *recorder, *atomic.Int32, store.ChannelAccount) {
	t.Helper()
	st, err := sqlite.Open(t.Context(), filepath.Join(t.TempDir(), "k.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	var requests atomic.Int32
	api := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		requests.Add(1)
		_, _ = io.Copy(io.Discard, r.Body)
		io.WriteString(w, `{"ok":true,"result":{}}`)
	}))
	t.Cleanup(api.Close)
	at := now()
	tn := store.Tenant{ID: uuid.NewString(), Slug: "acme", Name: "Acme", CreatedAt: at}
	ag := store.Agent{TenantID: tn.ID, AgentID: "bot", Name: "Bot", CreatedAt: at, UpdatedAt: at}
	a := store.ChannelAccount{TenantID: tn.ID, ID: uuid.NewString(), Channel: Telegram, AccountID: "support", AgentID: "bot",
		SecretCredentialID: uuid.NewString(), TokenCredentialID: uuid.NewString(), CreatedAt: at, UpdatedAt: at}
	for _, err := range []error{st.CreateTenant(t.Context(), tn), st.CreateAgent(t.Context(), ag, 1000), st.CreateChannelAccount(t.Context(), a)} {
		if err != nil {
			t.Fatal(err)
		}
	}
	rec := &recorder{}
	s := NewService(st, tokens{}, authz.New(audit.Denials(rec)), rec, nil, slog.New(slog.DiscardHandler), now,
		Options{TelegramAPI: api.URL, Delivery: o})
	return s, st, rec, &requests, a
}

// TestOutboxGivesUpAfterDeadAttempts: a delivery whose attempts all died
// with their process (claimed, never finished) is given up once it has
// used MaxAttempts, without another send.
func TestOutboxGivesUpAfterDeadAttempts(t *testing.T) {
	now := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	s, st, rec, requests, a := outboxService(t, func() time.Time { return now }, DeliveryOptions{MaxAttempts: 3})
	body, _ := json.Marshal(outPayload{Text: "hello", ChatID: 42})
	d := store.Delivery{TenantID: a.TenantID, ID: uuid.NewString(), Channel: Telegram, ChannelAccountID: a.ID, AgentID: "bot",
		MessageID: "7", Payload: body, Attempts: 3, NextAttemptAt: now, LeaseToken: "dead-worker",
		LeaseUntil: now.Add(-time.Second), LastErrorClass: ClassUnreachable, CreatedAt: now.Add(-time.Minute)}
	if err := st.EnqueueDelivery(t.Context(), d); err != nil {
		t.Fatal(err)
	}
	if n, err := s.DeliverDue(t.Context()); n != 1 || err != nil {
		t.Fatalf("DeliverDue = %d, %v", n, err)
	}
	if n := requests.Load(); n != 0 {
		t.Fatalf("%d sends of a delivery past its attempts", n)
	}
	if len(rec.events) != 1 || rec.events[0].Action != audit.MessageSent || rec.events[0].Details["delivery"] != "failed" ||
		rec.events[0].Details["attempts"] != 3 || rec.events[0].Details["statusClass"] != ClassUnreachable {
		t.Fatalf("audit: %+v", rec.events)
	}
	if ts, _ := st.DueDeliveryTenants(t.Context(), now.Add(time.Hour), 10); len(ts) != 0 {
		t.Fatalf("the outbox still holds it: %v", ts)
	}
}

// TestRunDeliveries: the worker makes a round at each tick and returns
// when its context is cancelled.
func TestRunDeliveries(t *testing.T) {
	now := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	s, st, rec, requests, a := outboxService(t, func() time.Time { return now }, DeliveryOptions{})
	body, _ := json.Marshal(outPayload{Text: "hello", ChatID: 42})
	if err := st.EnqueueDelivery(t.Context(), store.Delivery{TenantID: a.TenantID, ID: uuid.NewString(), Channel: Telegram,
		ChannelAccountID: a.ID, Payload: body, Attempts: 1, NextAttemptAt: now, LeaseUntil: now, CreatedAt: now}); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(t.Context())
	ticks := make(chan time.Time) // unbuffered: a send returns once the worker took it
	done := make(chan struct{})
	go func() {
		defer close(done)
		s.RunDeliveries(ctx, ticks)
	}()
	ticks <- now
	ticks <- now // the first round has finished when the second tick is taken
	if n := requests.Load(); n != 1 {
		t.Fatalf("%d sends, want 1", n)
	}
	rec.mu.Lock()
	if len(rec.events) != 1 || rec.events[0].Details["delivery"] != "delivered" {
		t.Fatalf("audit: %+v", rec.events)
	}
	rec.mu.Unlock()
	cancel()
	<-done // returns on cancel (a leak would hang the test here)
}
