package authn

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/komand-ai/komand/internal/apperr"
	"github.com/komand-ai/komand/internal/audit"
	"github.com/komand-ai/komand/internal/ratelimit"
	"github.com/komand-ai/komand/internal/store"
	"github.com/komand-ai/komand/internal/store/sqlite"
)

// cheapParams keep argon2 fast in tests; production uses DefaultParams.
var cheapParams = Params{Memory: 64, Time: 1, Threads: 1, SaltLen: 16, KeyLen: 32}

var testKey = []byte("0123456789abcdef0123456789abcdef")

const testPassword = "correct horse battery staple"

// clock is a settable clock shared by the service and the limiter.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func newClock() *clock {
	// Aligned to the login window so that "advance by one window" always
	// crosses exactly one boundary.
	return &clock{t: time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)}
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

// memRecorder keeps events in memory.
type memRecorder struct {
	mu     sync.Mutex
	events []audit.Event
}

func (r *memRecorder) Record(_ context.Context, ev audit.Event) error {
	if ev.TenantID == "" || ev.Action == "" {
		return errors.New("event needs a tenant and an action")
	}
	r.mu.Lock()
	r.events = append(r.events, ev)
	r.mu.Unlock()
	return nil
}

func (r *memRecorder) byAction(a audit.Action) []audit.Event {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []audit.Event
	for _, ev := range r.events {
		if ev.Action == a {
			out = append(out, ev)
		}
	}
	return out
}

func (r *memRecorder) reset() {
	r.mu.Lock()
	r.events = nil
	r.mu.Unlock()
}

// switchRecorder fails while failing is set, and records otherwise.
type switchRecorder struct {
	memRecorder
	mu      sync.Mutex
	failing bool
}

func (r *switchRecorder) setFailing(b bool) {
	r.mu.Lock()
	r.failing = b
	r.mu.Unlock()
}

func (r *switchRecorder) Record(ctx context.Context, ev audit.Event) error {
	r.mu.Lock()
	f := r.failing
	r.mu.Unlock()
	if f {
		return errors.New("audit: entry not stored")
	}
	return r.memRecorder.Record(ctx, ev)
}

type fixture struct {
	st     *sqlite.Store
	svc    *Service
	rec    *memRecorder
	clock  *clock
	tenant string
	owner  store.User // active owner
	op     store.User // active operator
	gone   store.User // inactive viewer
}

type fixtureOpt func(*Options)

func openStore(t *testing.T) *sqlite.Store {
	t.Helper()
	st, err := sqlite.Open(t.Context(), filepath.Join(t.TempDir(), "komand.db"))
	if err != nil {
		t.Fatalf("sqlite.Open: %v", err)
	}
	t.Cleanup(func() { st.Close() })
	return st
}

func newFixture(t *testing.T, opts ...fixtureOpt) *fixture {
	t.Helper()
	f := &fixture{st: openStore(t), rec: &memRecorder{}, clock: newClock()}
	o := Options{
		Store:    f.st,
		Audit:    f.rec,
		Throttle: ratelimit.NewMemoryBackoff(1000, f.clock.Now),
		JWTKey:   testKey,
		Params:   cheapParams,
		Now:      f.clock.Now,
		Logger:   slog.New(slog.NewTextHandler(io.Discard, nil)),
	}
	for _, fn := range opts {
		fn(&o)
	}
	svc, err := New(o)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	f.svc = svc

	ctx := t.Context()
	f.tenant = uuid.NewString()
	if err := f.st.CreateTenant(ctx, store.Tenant{ID: f.tenant, Slug: "acme", Name: "Acme", CreatedAt: f.clock.Now()}); err != nil {
		t.Fatalf("CreateTenant: %v", err)
	}
	f.owner = f.addUser(t, "Owner@Acme.test", "owner", true)
	f.op = f.addUser(t, "op@acme.test", "operator", true)
	f.gone = f.addUser(t, "gone@acme.test", "viewer", false)
	return f
}

func (f *fixture) addUser(t *testing.T, email, role string, active bool) store.User {
	t.Helper()
	hash, err := f.svc.HashPassword(testPassword)
	if err != nil {
		t.Fatalf("HashPassword: %v", err)
	}
	u := store.User{
		ID: uuid.NewString(), TenantID: f.tenant, Email: email, Name: "Name of " + email,
		Role: role, PasswordHash: hash, Active: active,
		CreatedAt: f.clock.Now(), UpdatedAt: f.clock.Now(),
	}
	if err := f.st.CreateUser(t.Context(), u); err != nil {
		t.Fatalf("CreateUser: %v", err)
	}
	return u
}

func (f *fixture) login(t *testing.T, email string) Tokens {
	t.Helper()
	tok, _, err := f.svc.Login(t.Context(), email, testPassword, "192.0.2.1")
	if err != nil {
		t.Fatalf("Login(%s): %v", email, err)
	}
	return tok
}

// wantKind fails unless err is an *apperr.Error of kind k with message msg
// (msg "" skips the message check).
func wantKind(t *testing.T, err error, k apperr.Kind, msg string) *apperr.Error {
	t.Helper()
	if err == nil {
		t.Fatalf("error = nil, want kind %v", k.Code())
	}
	e, ok := apperr.As(err)
	if !ok {
		t.Fatalf("error %v (%T) is not an *apperr.Error", err, err)
	}
	if e.Kind != k {
		t.Fatalf("kind = %s, want %s (err %v)", e.Kind.Code(), k.Code(), err)
	}
	if msg != "" && e.Message != msg {
		t.Fatalf("message = %q, want %q", e.Message, msg)
	}
	return e
}
