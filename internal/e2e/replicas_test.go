package e2e_test

import (
	"fmt"
	"slices"
	"sync"
	"testing"

	"github.com/komand-ai/komand/internal/app"
	"github.com/komand-ai/komand/internal/app/apptest"
	"github.com/komand-ai/komand/internal/audit"
	"github.com/komand-ai/komand/internal/store"
)

// TestTwoReplicasOneSession starts two Komand servers on one PostgreSQL
// database and sends one sender's messages to both at once: the session's
// messages are handled one at a time across the replicas (the advisory
// lock), so there is one session, and its history is every message followed
// by its own answer, nothing lost or interleaved.
func TestTwoReplicasOneSession(t *testing.T) {
	t.Parallel()
	if !slices.Contains(apptest.Kinds(), "postgres") {
		t.Skip("KOMAND_TEST_POSTGRES_DSN not set: PostgreSQL replicas not tested")
	}
	cfg := apptest.Config(t, "postgres")
	r1 := apptest.Start(t, cfg, app.Options{})
	r2 := apptest.Start(t, cfg, app.Options{})
	tn := r1.Tenant("acme")
	op := r1.APIKey(tn, r1.User(tn, "op@example.com", "operator"))
	admin := r1.APIKey(tn, r1.User(tn, "admin@example.com", "admin"))
	if r := r1.Do("POST", "/api/agents/", admin, map[string]any{"agentId": "default", "name": "D",
		"allowedChannels": []string{"WebChat"}}); r.Status != 201 {
		t.Fatalf("agent: %d %s", r.Status, r.Body)
	}

	const n = 24
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			env := r1
			if i%2 == 1 {
				env = r2
			}
			r := env.Do("POST", "/api/webchat/message", op, map[string]any{"senderId": "shared", "text": fmt.Sprintf("msg-%02d", i)})
			if r.Status != 200 {
				t.Errorf("message %d on replica %d: %d %s", i, i%2+1, r.Status, r.Body)
			}
		}()
	}
	wg.Wait()

	ss, total, err := r1.App.Store.ListSessions(t.Context(), tn, store.SessionFilter{}, store.Page{Page: 1, PageSize: 10})
	if err != nil || total != 1 {
		t.Fatalf("sessions: %d (%v), want 1", total, err)
	}
	turns, total, err := r2.App.Store.ListTurns(t.Context(), tn, ss[0].ID, store.Page{Page: 1, PageSize: 1000})
	if err != nil || total != 2*n {
		t.Fatalf("turns: %d (%v), want %d", total, err, 2*n)
	}
	seen := map[string]bool{}
	for i := 0; i < len(turns); i += 2 {
		u, a := turns[i], turns[i+1]
		if u.Role != store.RoleUser || a.Role != store.RoleAssistant || u.RequestID != a.RequestID {
			t.Fatalf("turns %d/%d interleaved: %+v / %+v", u.Seq, a.Seq, u, a)
		}
		seen[u.Text] = true
	}
	if len(seen) != n {
		t.Errorf("%d distinct messages, want %d", len(seen), n)
	}
	_, created, err := r1.App.Store.ListAudit(t.Context(), tn, store.AuditFilter{Action: string(audit.SessionCreated)}, store.Page{Page: 1, PageSize: 1})
	if err != nil || created != 1 {
		t.Errorf("SessionCreated entries: %d (%v), want 1", created, err)
	}
}
