package audit_test

import (
	"context"
	"errors"
	"runtime"
	"slices"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/komand-ai/komand/internal/audit"
	"github.com/komand-ai/komand/internal/store"
	"github.com/komand-ai/komand/internal/store/sqlite"
)

// gateStore holds every commit until released, and counts what it stored.
type gateStore struct {
	store.Audit
	release chan struct{}
	stored  chan []store.AuditEntry
}

func (g *gateStore) AppendAudit(ctx context.Context, es []store.AuditEntry, seal store.SealFunc) error {
	<-g.release
	g.stored <- append([]store.AuditEntry(nil), es...)
	return nil
}

// TestUnitAddDoesNotWaitAndWaitDoes: Add returns while the store is held;
// Wait returns only after every added entry is committed, in order.
func TestUnitAddDoesNotWaitAndWaitDoes(t *testing.T) {
	gs := &gateStore{release: make(chan struct{}), stored: make(chan []store.AuditEntry, 16)}
	w := audit.NewWriter(gs, audit.Options{})
	defer w.Close()
	g := audit.NewUnit(w)
	ctx := context.Background()
	for _, a := range []audit.Action{audit.MessageReceived, audit.ToolExecutionCompleted, audit.MessageSent} {
		if err := g.Add(ctx, audit.Event{TenantID: "t", Action: a}); err != nil {
			t.Fatalf("Add %s: %v", a, err)
		}
	}
	waited := make(chan error, 1)
	go func() { waited <- g.Wait(ctx) }()
	select {
	case err := <-waited:
		t.Fatalf("Wait returned (%v) before anything was committed", err)
	default:
	}
	close(gs.release)
	if err := <-waited; err != nil {
		t.Fatalf("Wait: %v", err)
	}
	var got []audit.Action
	for len(got) < 3 {
		for _, e := range <-gs.stored {
			got = append(got, audit.Action(e.Action))
		}
	}
	want := []audit.Action{audit.MessageReceived, audit.ToolExecutionCompleted, audit.MessageSent}
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("committed order %v, want %v", got, want)
		}
	}
}

// TestUnitFailsClosed: a failed commit is reported by Wait and by Record.
func TestUnitFailsClosed(t *testing.T) {
	w := audit.NewWriter(failingStore{}, audit.Options{})
	defer w.Close()
	g := audit.NewUnit(w)
	ctx := context.Background()
	if err := g.Add(ctx, audit.Event{TenantID: "t", Action: audit.MessageReceived}); err != nil {
		t.Fatalf("Add: %v", err)
	}
	if err := g.Wait(ctx); err == nil {
		t.Fatal("Wait succeeded although the store failed")
	}
	if err := g.Record(ctx, audit.Event{TenantID: "t", Action: audit.ToolExecutionStarted}); err == nil {
		t.Fatal("Record succeeded although the store failed")
	}
	if err := g.Add(ctx, audit.Event{Action: audit.MessageSent}); err == nil {
		t.Fatal("Add accepted an event without a tenant")
	}
}

// TestUnitCommitStoresTurnsWithTheEntry: Commit stores the unit's turns in
// the entry's transaction on a real store; an append that cannot be made
// fails the Commit and stores neither the entry nor the turns; over a plain
// Recorder Commit does nothing and says so; the writes are handed over once.
func TestUnitCommitStoresTurnsWithTheEntry(t *testing.T) {
	st, tenant := openSQLite(t)
	ctx := context.Background()
	se, now := newSession(t, st, tenant, "u")
	w := audit.NewWriter(st, audit.Options{})
	defer w.Close()

	g := audit.NewUnit(w)
	if err := g.Add(ctx, audit.Event{TenantID: tenant, Action: audit.MessageReceived}); err != nil {
		t.Fatal(err)
	}
	turns := []store.Turn{{Role: store.RoleAssistant, Text: "It is noon.", CreatedAt: now}}
	g.AppendTurns(tenant, se.ID, turns)
	if err := g.Commit(ctx, audit.Event{TenantID: tenant, Action: audit.MessageSent}); err != nil {
		t.Fatalf("Commit: %v", err)
	}
	if turns[0].Seq != 1 {
		t.Errorf("committed turn's Seq: %d, want 1", turns[0].Seq)
	}
	hist, err := st.RecentTurns(ctx, tenant, se.ID, 10)
	if err != nil || len(hist) != 1 || hist[0].Text != "It is noon." {
		t.Fatalf("history after Commit: %+v %v", hist, err)
	}
	head, _, _ := st.AuditHead(ctx, tenant)
	if head != 2 {
		t.Fatalf("audit head after Commit: %d, want 2", head)
	}
	// The writes went with the first Commit: a second one stores only its
	// entry.
	if err := g.Commit(ctx, audit.Event{TenantID: tenant, Action: audit.MessageSent}); err != nil {
		t.Fatalf("second Commit: %v", err)
	}
	if hist, _ := st.RecentTurns(ctx, tenant, se.ID, 10); len(hist) != 1 {
		t.Fatalf("history after a second Commit: %+v", hist)
	}
	if head, _, _ := st.AuditHead(ctx, tenant); head != 3 {
		t.Fatalf("audit head after a second Commit: %d, want 3", head)
	}

	// An ended session: the Commit fails, and nothing of it is stored.
	if _, err := st.EndSession(ctx, tenant, se.ID, now, "ended"); err != nil {
		t.Fatal(err)
	}
	g = audit.NewUnit(w)
	g.AppendTurns(tenant, se.ID, []store.Turn{{Role: store.RoleAssistant, Text: "late", CreatedAt: now}})
	if err := g.Commit(ctx, audit.Event{TenantID: tenant, Action: audit.MessageSent}); err == nil {
		t.Fatal("Commit to an ended session succeeded")
	}
	if head, _, _ := st.AuditHead(ctx, tenant); head != 3 {
		t.Fatalf("audit head after a failed Commit: %d, want 3", head)
	}
	if hist, _ := st.RecentTurns(ctx, tenant, se.ID, 10); len(hist) != 1 {
		t.Fatalf("history after a failed Commit: %+v", hist)
	}

	var plain recorderFunc = func(context.Context, audit.Event) error { t.Error("a plain Recorder recorded"); return nil }
	pu := audit.NewUnit(plain)
	pu.AppendTurns(tenant, se.ID, turns)
	if err := pu.Commit(ctx, audit.Event{TenantID: tenant, Action: audit.MessageSent}); !errors.Is(err, errors.ErrUnsupported) {
		t.Fatalf("Commit over a plain Recorder: %v, want ErrUnsupported", err)
	}
}

// newSession stores an active WebChat session of sender in tenant.
func newSession(t *testing.T, st *sqlite.Store, tenant, sender string) (store.Session, time.Time) {
	t.Helper()
	now := time.Now().UTC().Truncate(time.Microsecond)
	se := store.Session{ID: uuid.NewString(), TenantID: tenant, Key: "WebChat:default:" + sender,
		Channel: "WebChat", ChannelAccountID: "default", SenderID: sender, AgentID: "default",
		FirstMessageAt: now, LastMessageAt: now}
	if err := st.CreateSession(context.Background(), se, 1000); err != nil {
		t.Fatal(err)
	}
	return se, now
}

type recorderFunc func(context.Context, audit.Event) error

func (f recorderFunc) Record(ctx context.Context, ev audit.Event) error { return f(ctx, ev) }

// gatedStore holds the first AppendAudit until released, so that the
// entries submitted meanwhile are committed as one batch.
type gatedStore struct {
	store.Audit
	entered, release chan struct{}
	once             bool
}

func (g *gatedStore) AppendAudit(ctx context.Context, es []store.AuditEntry, seal store.SealFunc) error {
	if !g.once {
		g.once = true
		close(g.entered)
		<-g.release
	}
	return g.Audit.AppendAudit(ctx, es, seal)
}

// TestCommitFailureDoesNotFailTheBatch: a unit of work whose turns cannot
// be stored fails alone; another request's entry committed in the same
// batch is stored and succeeds.
func TestCommitFailureDoesNotFailTheBatch(t *testing.T) {
	st, tenant := openSQLite(t)
	ctx := context.Background()
	se, now := newSession(t, st, tenant, "v")
	if _, err := st.EndSession(ctx, tenant, se.ID, now, "ended"); err != nil {
		t.Fatal(err)
	}
	gs := &gatedStore{Audit: st, entered: make(chan struct{}), release: make(chan struct{})}
	w := audit.NewWriter(gs, audit.Options{})
	defer w.Close()

	first := make(chan error, 1)
	go func() { first <- w.Record(ctx, audit.Event{TenantID: tenant, Action: audit.LoginSucceeded}) }()
	<-gs.entered // the writer is committing the first batch; the next two queue up
	failing, other := make(chan error, 1), make(chan error, 1)
	go func() {
		u := audit.NewUnit(w)
		u.AppendTurns(tenant, se.ID, []store.Turn{{Role: store.RoleAssistant, Text: "late", CreatedAt: now}})
		failing <- u.Commit(ctx, audit.Event{TenantID: tenant, Action: audit.MessageSent})
	}()
	go func() { other <- w.Record(ctx, audit.Event{TenantID: tenant, Action: audit.UserCreated}) }()
	for audit.Queued(w) < 2 {
		runtime.Gosched()
	}
	close(gs.release)
	if err := <-first; err != nil {
		t.Fatal(err)
	}
	if err := <-failing; err == nil {
		t.Fatal("a Commit whose turns cannot be stored succeeded")
	}
	if err := <-other; err != nil {
		t.Fatalf("another request failed with the batch: %v", err)
	}
	es, _, err := st.ListAudit(ctx, tenant, store.AuditFilter{}, store.Page{Page: 1, PageSize: 10})
	if err != nil {
		t.Fatal(err)
	}
	var actions []string
	for _, e := range es {
		actions = append(actions, e.Action)
	}
	if len(es) != 2 || slices.Contains(actions, string(audit.MessageSent)) {
		t.Fatalf("stored %v, want LoginSucceeded and UserCreated only", actions)
	}
	if res, err := audit.Verify(ctx, st, tenant); err != nil || !res.OK {
		t.Fatalf("chain after the retried batch: %+v %v", res, err)
	}
}
