package audit_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/komand-ai/komand/internal/audit"
	"github.com/komand-ai/komand/internal/requestid"
	"github.com/komand-ai/komand/internal/store"
	"github.com/komand-ai/komand/internal/store/sqlite"
)

func openSQLite(t *testing.T) (*sqlite.Store, string) {
	t.Helper()
	st, err := sqlite.Open(context.Background(), filepath.Join(t.TempDir(), "k.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	id := "11111111-1111-4111-8111-111111111111"
	if err := st.CreateTenant(context.Background(), store.Tenant{ID: id, Slug: "acme", Name: "Acme", CreatedAt: time.Now()}); err != nil {
		t.Fatal(err)
	}
	return st, id
}

func TestWriterChainsAndVerifies(t *testing.T) {
	st, tenant := openSQLite(t)
	w := audit.NewWriter(st, audit.Options{})
	ctx := requestid.With(context.Background(), "req-1")
	var wg sync.WaitGroup
	errs := make(chan error, 200)
	for i := 0; i < 200; i++ {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			errs <- w.Record(ctx, audit.Event{TenantID: tenant, Action: audit.AgentConfigured, AgentID: fmt.Sprintf("a-%d", i)})
		}(i)
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatalf("Record: %v", err)
		}
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	res, err := audit.Verify(context.Background(), st, tenant)
	if err != nil || !res.OK || res.Entries != 200 {
		t.Fatalf("Verify: %+v %v", res, err)
	}
	es, _, _ := st.ListAudit(context.Background(), tenant, store.AuditFilter{}, store.Page{Page: 1, PageSize: 1})
	if es[0].RequestID != "req-1" {
		t.Fatalf("request ID: got %q, want req-1", es[0].RequestID)
	}
}

// TestVerifyDetectsTampering edits, deletes and reorders rows directly in
// the database file, as an attacker with file access would, and expects
// Verify to name the first broken link.
func TestVerifyDetectsTampering(t *testing.T) {
	cases := []struct {
		name   string
		sql    []string
		broken int64
		reason string
	}{
		{"edit-details", []string{`UPDATE komand_audit_log SET details = '{"operation":"nothing"}' WHERE seq = 3`}, 3, "modified"},
		{"edit-actor", []string{`UPDATE komand_audit_log SET actor_id = 'someone-else' WHERE seq = 2`}, 2, "modified"},
		{"delete-middle", []string{`DELETE FROM komand_audit_log WHERE seq = 2`}, 3, "sequence"},
		{"delete-tail", []string{`DELETE FROM komand_audit_log WHERE seq = 5`}, 5, "head"},
		{"rehash-one", []string{`UPDATE komand_audit_log SET action = 'Forged', hash = 'ab' WHERE seq = 4`}, 4, "modified"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			st, tenant := openSQLite(t)
			w := audit.NewWriter(st, audit.Options{})
			for i := 0; i < 5; i++ {
				if err := w.Record(context.Background(), audit.Event{TenantID: tenant, Action: audit.AgentConfigured, ActorID: "u1"}); err != nil {
					t.Fatal(err)
				}
			}
			w.Close()
			db := st.DB()
			// The append-only triggers stop the application; an attacker
			// with the file drops them first.
			for _, q := range append([]string{
				`DROP TRIGGER IF EXISTS komand_audit_log_no_update`,
				`DROP TRIGGER IF EXISTS komand_audit_log_no_delete`,
			}, c.sql...) {
				if _, err := db.Exec(q); err != nil {
					t.Fatalf("%s: %v", q, err)
				}
			}
			res, err := audit.Verify(context.Background(), st, tenant)
			if err != nil {
				t.Fatal(err)
			}
			if res.OK || res.BrokenAt != c.broken || !strings.Contains(res.Reason, c.reason) {
				t.Fatalf("got %+v, want broken at %d (%s)", res, c.broken, c.reason)
			}
		})
	}
}

type failingStore struct{ store.Audit }

func (failingStore) AppendAudit(context.Context, []store.AuditEntry, store.SealFunc) error {
	return errors.New("disk full")
}

func TestRecordFailsClosed(t *testing.T) {
	var logs bytes.Buffer
	w := audit.NewWriter(failingStore{}, audit.Options{Logger: slog.New(slog.NewJSONHandler(&logs, nil))})
	ctx := requestid.With(context.Background(), "req-fails-closed-1")
	err := w.Record(ctx, audit.Event{TenantID: "t", Action: audit.PermissionDenied})
	w.Close()
	if err == nil {
		t.Fatal("Record succeeded although the store failed")
	}
	if strings.Contains(err.Error(), "disk full") {
		t.Fatalf("error carries the store's detail: %v", err)
	}
	// The operator's log names the failed request and the store's reason.
	if !strings.Contains(logs.String(), "req-fails-closed-1") || !strings.Contains(logs.String(), "disk full") {
		t.Fatalf("failure log lacks the request ID or the cause: %s", logs.String())
	}
}

type slowStore struct {
	store.Audit
	entered chan struct{} // receives once per commit, when it starts
	release chan struct{}
	mu      sync.Mutex
	n       int
}

func (s *slowStore) AppendAudit(ctx context.Context, es []store.AuditEntry, seal store.SealFunc) error {
	select {
	case s.entered <- struct{}{}:
	default:
	}
	<-s.release
	s.mu.Lock()
	s.n += len(es)
	s.mu.Unlock()
	return nil
}

// TestBackpressureAndDrain: a full queue blocks callers (no drop), a caller
// whose context ends gets an error, and Close commits everything accepted.
func TestBackpressureAndDrain(t *testing.T) {
	ss := &slowStore{entered: make(chan struct{}, 1), release: make(chan struct{})}
	w := audit.NewWriter(ss, audit.Options{QueueSize: 4, MaxBatch: 2})
	var wg sync.WaitGroup
	for i := 0; i < 6; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_ = w.Record(context.Background(), audit.Event{TenantID: "t", Action: audit.MessageReceived})
		}()
	}
	// The writer is stuck in its first commit and the six fill it and the
	// queue: wait for both (the callers are goroutines, so the queue is
	// polled, with a deadline).
	<-ss.entered
	for deadline := time.Now().Add(10 * time.Second); audit.Queued(w) < 4; {
		if time.Now().After(deadline) {
			t.Fatalf("queue holds %d entries, want it full (4)", audit.Queued(w))
		}
		runtime.Gosched()
	}
	// Full, and it stays full until the store is released: this call's
	// own deadline ends its wait.
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancel()
	if err := w.Record(ctx, audit.Event{TenantID: "t", Action: audit.MessageReceived}); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Record on a full queue: got %v, want deadline exceeded", err)
	}
	close(ss.release)
	wg.Wait()
	w.Close()
	if ss.n != 6 {
		t.Fatalf("stored %d entries, want 6", ss.n)
	}
	if err := w.Record(context.Background(), audit.Event{TenantID: "t", Action: audit.MessageReceived}); !errors.Is(err, audit.ErrClosed) {
		t.Fatalf("Record after Close: %v", err)
	}
}

func TestRedaction(t *testing.T) {
	secrets := []string{
		"eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.abcdefghijk",
		"kmd_syQH-LTHZSezDhW8o5gLQN_MXM9UILMiDQ3tqZlvf_U",
		"kmr_abcdefghijklmnopqrstuvwxyz012345",
		"kmi_K3Vd1hFq9Yx0bTz-_wLm2sPaQeRcUoNiGjH4kAvB7yE",
		"sk-ant-api03-abcdefghijklmnopqrstuvwxyz",
		"AKIAIOSFODNN7EXAMPLE",
		"postgres://app:hunter2@db:5432/komand",
		"Bearer abcdefghijklmnop",
		"BEARER ABCDEFGHIJKLMNOP",
		"ghp_abcdefghijklmnopqrstuvwxyz0123",
		"xoxb-1234567890-abcdefghij",
		"-----BEGIN RSA PRIVATE KEY-----",
		"MySQL://root:toor@db/prod",
	}
	for _, s := range secrets {
		out := string(audit.CanonicalDetails(map[string]any{"note": "value " + s + " end", "nested": []any{map[string]any{"x": s}}}))
		if strings.Contains(out, s) || !strings.Contains(out, audit.Redacted) {
			t.Errorf("secret %q survived: %s", s, out)
		}
	}
	out := string(audit.CanonicalDetails(map[string]any{
		"password": "hunter2hunter2", "Authorization": "x", "clientSecret": "s", "apiKeyId": "key-123", "tokenPrefix": "kmd_abc",
	}))
	for _, s := range []string{"hunter2hunter2", `"x"`, `"s"`} {
		if strings.Contains(out, s) {
			t.Errorf("sensitive key value %s survived: %s", s, out)
		}
	}
	if !strings.Contains(out, "key-123") || !strings.Contains(out, "kmd_abc") {
		t.Errorf("identifiers were redacted: %s", out)
	}
	big := string(audit.CanonicalDetails(map[string]any{"x": strings.Repeat("a", 100_000)}))
	if len(big) > 16<<10 {
		t.Errorf("details not bounded: %d bytes", len(big))
	}
}

func TestCatalogue(t *testing.T) {
	spec := []string{"MessageReceived", "MessageSent", "ToolExecutionStarted", "ToolExecutionCompleted",
		"ToolExecutionFailed", "SkillInstalled", "SkillUninstalled", "AgentConfigured", "SessionCreated",
		"SessionEnded", "PromptInjectionDetected", "PermissionDenied"}
	for _, a := range spec {
		if !audit.Known(audit.Action(a)) {
			t.Errorf("%s missing from the catalogue", a)
		}
	}
	if audit.Known("DROP TABLE") {
		t.Error("unknown action accepted")
	}
}
