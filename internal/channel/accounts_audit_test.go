package channel

import (
	"context"
	"path/filepath"
	"reflect"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/komand-ai/komand/internal/audit"
	"github.com/komand-ai/komand/internal/authz"
	"github.com/komand-ai/komand/internal/store"
	"github.com/komand-ai/komand/internal/store/sqlite"
)

type events struct {
	mu  sync.Mutex
	evs []audit.Event
}

func (e *events) Record(_ context.Context, ev audit.Event) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.evs = append(e.evs, ev)
	return nil
}

func (e *events) of(a audit.Action) []audit.Event {
	e.mu.Lock()
	defer e.mu.Unlock()
	var out []audit.Event
	for _, ev := range e.evs {
		if ev.Action == a {
			out = append(out, ev)
		}
	}
	return out
}

type noSecrets struct{}

func (noSecrets) PlatformSecret(context.Context, string, string) (string, error) { return "", nil }
func (noSecrets) Exists(context.Context, string, string) (bool, error)           { return false, nil }

// TestAccountChangesRecordTheAPIKey: a channel account created and deleted
// with an API key is attributed to the key, as every other service's
// changes are (the channel service used to leave apiKeyId out).
func TestAccountChangesRecordTheAPIKey(t *testing.T) {
	ctx := context.Background()
	st, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "k.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	tn := uuid.NewString()
	t0 := time.Date(2026, 1, 1, 9, 0, 0, 0, time.UTC)
	if err := st.CreateTenant(ctx, store.Tenant{ID: tn, Slug: "acme", Name: "A", CreatedAt: t0}); err != nil {
		t.Fatal(err)
	}
	if err := st.CreateAgent(ctx, store.Agent{TenantID: tn, AgentID: "default", Name: "d", CreatedAt: t0, UpdatedAt: t0}, 1000); err != nil {
		t.Fatal(err)
	}
	rec := &events{}
	s := NewService(st, noSecrets{}, authz.New(audit.Denials(rec)), rec, nil, nil, func() time.Time { return t0 }, Options{})
	admin := authz.Principal{TenantID: tn, UserID: "u-admin", Role: authz.Admin, APIKeyID: "key-1"}

	a, err := s.CreateAccount(ctx, admin, AccountInput{Channel: WebChat, AccountID: "site", AgentID: "default"})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.DeleteAccount(ctx, admin, a.ID); err != nil {
		t.Fatal(err)
	}
	base := map[string]any{"channelAccountId": a.ID, "channel": WebChat, "accountId": "site", "apiKeyId": "key-1"}
	for _, action := range []audit.Action{audit.ChannelAccountCreated, audit.ChannelAccountDeleted} {
		got := rec.of(action)
		if len(got) != 1 {
			t.Fatalf("%s entries: %+v, want 1", action, got)
		}
		ev := got[0]
		if ev.TenantID != tn || ev.ActorID != "u-admin" || ev.AgentID != "default" || !reflect.DeepEqual(ev.Details, base) {
			t.Errorf("%s entry: %+v, want details %v", action, ev, base)
		}
	}

	// Without an API key there is no apiKeyId.
	owner := authz.Principal{TenantID: tn, UserID: "u-owner", Role: authz.Owner}
	if _, err := s.CreateAccount(ctx, owner, AccountInput{Channel: WebChat, AccountID: "shop", AgentID: "default"}); err != nil {
		t.Fatal(err)
	}
	if got := rec.of(audit.ChannelAccountCreated); len(got) != 2 || got[1].Details["apiKeyId"] != nil || got[1].ActorID != "u-owner" {
		t.Fatalf("created by a signed-in owner: %+v", got)
	}
}
