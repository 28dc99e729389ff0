// Package servicetest is the fixture of the domain services' unit tests
// (agent, channel, crm, user, tenant, …): a real store (SQLite in the
// test's temporary directory, never a mock), the real audit writer and
// authorizer over it, two tenants with a user of every role, and a clock
// the test moves. A test builds the service it tests from these fields
// and reads the audit trail back from the store.
//
// Audit is the Recorder services are given: it forwards to the writer,
// after a hook a test may set (Before) to make recording fail (the service
// must then fail closed) or to play a concurrent writer between a
// service's audit entry and its store call (the service must then record
// the failed outcome).
package servicetest

import (
	"context"
	"encoding/json"
	"fmt"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/komand-ai/komand/internal/audit"
	"github.com/komand-ai/komand/internal/authz"
	"github.com/komand-ai/komand/internal/store"
	"github.com/komand-ai/komand/internal/store/sqlite"
)

// Fixture is one test's services' world.
type Fixture struct {
	Store   *sqlite.Store
	Writer  *audit.Writer
	Audit   *Recorder
	Authz   *authz.Authorizer
	Clock   *Clock
	TenantA string // tenant IDs
	TenantB string

	t          testing.TB
	mu         sync.Mutex
	principals map[string]authz.Principal
}

// Start is the clock's initial time.
var Start = time.Date(2026, 3, 1, 9, 0, 0, 0, time.UTC)

// New opens a fresh SQLite store with tenants "tenant-a" and "tenant-b".
// Everything is closed when the test ends.
func New(t testing.TB) *Fixture {
	t.Helper()
	ctx := context.Background()
	st, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "komand.db"))
	if err != nil {
		t.Fatal(err)
	}
	clock := &Clock{now: Start}
	w := audit.NewWriter(st, audit.Options{Now: clock.Now})
	t.Cleanup(func() {
		if err := w.Close(); err != nil {
			t.Errorf("audit writer: %v", err)
		}
		if err := st.Close(); err != nil {
			t.Errorf("store: %v", err)
		}
	})
	rec := &Recorder{next: w}
	f := &Fixture{Store: st, Writer: w, Audit: rec, Authz: authz.New(audit.Denials(rec)), Clock: clock,
		TenantA: "00000000-0000-7000-8000-00000000000a", TenantB: "00000000-0000-7000-8000-00000000000b",
		t: t, principals: map[string]authz.Principal{}}
	for id, slug := range map[string]string{f.TenantA: "tenant-a", f.TenantB: "tenant-b"} {
		if err := st.CreateTenant(ctx, store.Tenant{ID: id, Slug: slug, Name: slug, CreatedAt: Start}); err != nil {
			t.Fatal(err)
		}
	}
	return f
}

// As returns the principal of tenantID's user of role (created in the
// store on first use, active, with e-mail <role>@<tenant>.test), as
// authentication would make it.
func (f *Fixture) As(tenantID string, role authz.Role) authz.Principal {
	f.t.Helper()
	f.mu.Lock()
	defer f.mu.Unlock()
	key := tenantID + "/" + string(role)
	if p, ok := f.principals[key]; ok {
		return p
	}
	slug := map[string]string{f.TenantA: "a", f.TenantB: "b"}[tenantID]
	u := store.User{ID: fmt.Sprintf("00000000-0000-7000-8%03d-%012d", len(f.principals), len(f.principals)), TenantID: tenantID,
		Email: string(role) + "@" + slug + ".test", Name: string(role), Role: string(role),
		PasswordHash: "unusable", Active: true, CreatedAt: Start, UpdatedAt: Start}
	if err := f.Store.CreateUser(context.Background(), u); err != nil {
		f.t.Fatalf("user %s: %v", key, err)
	}
	p := authz.Principal{TenantID: tenantID, UserID: u.ID, Email: u.Email, Name: u.Name, Role: role}
	f.principals[key] = p
	return p
}

// Entry is a stored audit entry with its details decoded.
type Entry struct {
	store.AuditEntry
	Details map[string]any
}

// Entries returns tenantID's audit entries with action ("" for every
// action), oldest first.
func (f *Fixture) Entries(tenantID string, action audit.Action) []Entry {
	f.t.Helper()
	es, _, err := f.Store.ListAudit(context.Background(), tenantID, store.AuditFilter{Action: string(action)}, store.Page{Page: 1, PageSize: 1000})
	if err != nil {
		f.t.Fatal(err)
	}
	out := make([]Entry, len(es))
	for i, e := range es {
		out[len(es)-1-i] = Entry{AuditEntry: e}
		if err := json.Unmarshal(e.Details, &out[len(es)-1-i].Details); err != nil {
			f.t.Fatalf("entry %s: details %q: %v", e.ID, e.Details, err)
		}
	}
	return out
}

// Recorder is the audit.Recorder of the fixture's services.
type Recorder struct {
	next audit.Recorder
	mu   sync.Mutex
	hook func(context.Context, audit.Event) error
}

// Record runs the hook, if any, and stores ev unless the hook failed.
func (r *Recorder) Record(ctx context.Context, ev audit.Event) error {
	r.mu.Lock()
	hook := r.hook
	r.mu.Unlock()
	if hook != nil {
		if err := hook(ctx, ev); err != nil {
			return err
		}
	}
	return r.next.Record(ctx, ev)
}

// Before sets the hook run before each event is recorded (nil: none).
func (r *Recorder) Before(hook func(context.Context, audit.Event) error) {
	r.mu.Lock()
	r.hook = hook
	r.mu.Unlock()
}

// Clock is a settable time source.
type Clock struct {
	mu  sync.Mutex
	now time.Time
}

// Now returns the clock's time.
func (c *Clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

// Advance moves the clock forward by d.
func (c *Clock) Advance(d time.Duration) {
	c.mu.Lock()
	c.now = c.now.Add(d)
	c.mu.Unlock()
}
