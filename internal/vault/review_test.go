package vault

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/komand-ai/komand/internal/audit"
	"github.com/komand-ai/komand/internal/authz"
	"github.com/komand-ai/komand/internal/store"
	"github.com/komand-ai/komand/internal/store/sqlite"
)

// racingStore runs during a grant read the change a concurrent request
// makes (a revoke).
type racingStore struct {
	store.Vault
	during func()
}

func (r *racingStore) GrantedCredential(ctx context.Context, tenantID, agentID, skillID, name string) (store.Credential, []string, error) {
	c, hosts, err := r.Vault.GrantedCredential(ctx, tenantID, agentID, skillID, name)
	if r.during != nil {
		r.during()
	}
	return c, hosts, err
}

// grantWorld is a credential service over a fresh SQLite store: tenant tn
// with agent "sales", an Admin of it, and the store itself.
type grantWorld struct {
	svc   *Service
	st    *sqlite.Store
	tn    string
	admin authz.Principal
}

// newGrantWorld builds one; wrap, when not nil, wraps the store the
// service reads grants from.
func newGrantWorld(t *testing.T, wrap func(store.Vault) store.Vault) grantWorld {
	t.Helper()
	tn := uuid.NewString()
	st := openStore(t, tn)
	if err := st.CreateAgent(context.Background(), store.Agent{TenantID: tn, AgentID: "sales", Name: "s", CreatedAt: time.Now(), UpdatedAt: time.Now()}, 1000); err != nil {
		t.Fatal(err)
	}
	w := audit.NewWriter(st, audit.Options{})
	t.Cleanup(func() { w.Close() })
	ring, _ := NewKeyring(randomKey(t))
	var vs store.Vault = st
	if wrap != nil {
		vs = wrap(st)
	}
	return grantWorld{svc: NewService(vs, New(st, ring, nil), authz.New(audit.Denials(w)), w, nil, nil), st: st, tn: tn,
		admin: authz.Principal{TenantID: tn, UserID: uuid.NewString(), Role: authz.Admin}}
}

// TestRevokeRacingARead: a grant read that a revocation overtakes is not
// cached, so the next read is refused at once.
func TestRevokeRacingARead(t *testing.T) {
	ctx := context.Background()
	rs := &racingStore{}
	gw := newGrantWorld(t, func(v store.Vault) store.Vault { rs.Vault = v; return rs })
	svc, tn, admin := gw.svc, gw.tn, gw.admin
	c, err := svc.Create(ctx, admin, "stripe", "api_key", "sk_live_racing_value")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := svc.Grant(ctx, admin, c.ID, "sales", "billing", nil); err != nil {
		t.Fatal(err)
	}
	u := Use{TenantID: tn, AgentID: "sales", SkillID: "billing"}
	rs.during = func() {
		rs.during = nil
		if err := svc.Revoke(ctx, admin, c.ID, "sales", "billing"); err != nil {
			t.Error(err)
		}
	}
	if _, err := svc.Resolve(ctx, u, "stripe"); err != nil {
		t.Fatalf("the read that started before the revoke: %v", err)
	}
	if _, err := svc.Resolve(ctx, u, "stripe"); !errors.Is(err, ErrNotGranted) {
		t.Fatalf("after the revoke: %v, want ErrNotGranted", err)
	}
}

// TestUnknownKEKKeepsCachedKeys: after the data keys are re-wrapped under
// a KEK this process does not hold, its cached keys keep working when it
// reloads, instead of every operation failing.
func TestUnknownKEKKeepsCachedKeys(t *testing.T) {
	ctx := context.Background()
	tn := uuid.NewString()
	st := openStore(t, tn)
	clock := time.Now()
	now := func() time.Time { return clock }
	oldKey, newKey := randomKey(t), randomKey(t)
	oldRing, _ := NewKeyring(oldKey)
	v := New(st, oldRing, now)
	id := uuid.NewString()
	ver, ct, err := v.Seal(ctx, tn, id, []byte("value"))
	if err != nil {
		t.Fatal(err)
	}
	both, _ := NewKeyring(newKey, oldKey)
	if n, err := New(st, both, nil).RotateKEK(ctx, []string{tn}); err != nil || n != 1 {
		t.Fatalf("rotate: %d %v", n, err)
	}
	clock = clock.Add(2 * currentTTL) // the old server reloads its keys
	if _, _, err := v.Seal(ctx, tn, uuid.NewString(), []byte("new value")); err != nil {
		t.Fatalf("seal after the KEK moved on: %v", err)
	}
	if got, err := v.Open(ctx, tn, id, ver, ct); err != nil || string(got) != "value" {
		t.Fatalf("open after the KEK moved on: %q %v", got, err)
	}
}
