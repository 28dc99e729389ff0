package session

import (
	"context"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/komand-ai/komand/internal/audit"
	"github.com/komand-ai/komand/internal/authz"
	"github.com/komand-ai/komand/internal/store"
	"github.com/komand-ai/komand/internal/store/sqlite"
)

func newExpiryService(t *testing.T, now *atomic.Int64) (*Service, *sqlite.Store, store.Session) {
	t.Helper()
	ctx := context.Background()
	st, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "k.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	tn := uuid.NewString()
	t0 := time.Unix(now.Load(), 0).UTC()
	if err := st.CreateTenant(ctx, store.Tenant{ID: tn, Slug: "acme", Name: "A", CreatedAt: t0}); err != nil {
		t.Fatal(err)
	}
	if err := st.CreateAgent(ctx, store.Agent{TenantID: tn, AgentID: "default", Name: "d", CreatedAt: t0, UpdatedAt: t0}, 1000); err != nil {
		t.Fatal(err)
	}
	se := store.Session{ID: uuid.NewString(), TenantID: tn, Key: "WebChat:default:u1", Channel: "WebChat",
		ChannelAccountID: "default", SenderID: "u1", AgentID: "default", FirstMessageAt: t0, LastMessageAt: t0}
	if err := st.CreateSession(ctx, se, 1000); err != nil {
		t.Fatal(err)
	}
	w := audit.NewWriter(st, audit.Options{})
	t.Cleanup(func() { w.Close() })
	clock := func() time.Time { return time.Unix(now.Load(), 0).UTC() }
	s := New(st, authz.New(audit.Denials(w)), w, nil, NewRunner(nil, nil, RunnerOptions{}), Options{IdleTimeout: time.Hour, Now: clock})
	return s, st, se
}

// TestExpireIdle: a session idle past the timeout ends with reason idle
// and SessionEnded; a recent one does not.
func TestExpireIdle(t *testing.T) {
	var now atomic.Int64
	now.Store(time.Date(2026, 1, 1, 9, 0, 0, 0, time.UTC).Unix())
	s, st, se := newExpiryService(t, &now)
	ctx := context.Background()
	if n, err := s.ExpireIdle(ctx); err != nil || n != 0 {
		t.Fatalf("fresh session expired: %d %v", n, err)
	}
	now.Add(2 * 3600)
	if n, err := s.ExpireIdle(ctx); err != nil || n != 1 {
		t.Fatalf("ExpireIdle: %d %v", n, err)
	}
	got, _ := st.GetSession(ctx, se.TenantID, se.ID)
	if got.EndedAt == nil || got.EndReason != "idle" {
		t.Fatalf("session after expiry: %+v", got)
	}
	if _, n, _ := st.ListAudit(ctx, se.TenantID, store.AuditFilter{Action: string(audit.SessionEnded)}, store.Page{Page: 1, PageSize: 1}); n != 1 {
		t.Fatalf("SessionEnded entries: %d", n)
	}
}

// TestExpireIdleWaitsForATurn: expiry takes the session key's locks, so a
// session that is idle when listed but gets a message while expiry waits
// for its lock is not ended under the turn.
func TestExpireIdleWaitsForATurn(t *testing.T) {
	var now atomic.Int64
	now.Store(time.Date(2026, 1, 1, 9, 0, 0, 0, time.UTC).Unix())
	s, st, se := newExpiryService(t, &now)
	ctx := context.Background()
	now.Add(2 * 3600)

	// A turn is in flight: it holds the key's locks.
	unlock, err := s.lockKey(ctx, se.TenantID, se.Key)
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan int, 1)
	go func() {
		n, err := s.ExpireIdle(ctx)
		if err != nil {
			t.Error(err)
		}
		done <- n
	}()
	// Wait until expiry queues behind the turn (or, if it does not lock,
	// until it finishes).
	var n int
	finished := false
	for !finished {
		s.locks.mu.Lock()
		w := s.locks.held[se.TenantID+"\x00"+se.Key]
		queued := w != nil && len(w.queue) > 0
		s.locks.mu.Unlock()
		if queued {
			break
		}
		select {
		case n = <-done:
			finished = true
		case <-time.After(time.Millisecond):
		}
	}
	if finished {
		unlock()
		t.Fatalf("expiry did not wait for the turn's lock (ended %d sessions under it)", n)
	}
	// The turn stores its message, then releases the locks.
	if _, err := st.AppendTurns(ctx, se.TenantID, se.ID, []store.Turn{{Role: store.RoleUser, Text: "hi",
		CreatedAt: time.Unix(now.Load(), 0).UTC()}}); err != nil {
		t.Fatal(err)
	}
	unlock()
	if n := <-done; n != 0 {
		t.Fatalf("expiry ended %d sessions that just got a message", n)
	}
	if got, _ := st.GetSession(ctx, se.TenantID, se.ID); got.EndedAt != nil {
		t.Fatal("the session was ended under a turn")
	}
}
