package audit_test

import (
	"context"
	"testing"

	"github.com/komand-ai/komand/internal/audit"
	"github.com/komand-ai/komand/internal/store"
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

// TestGroupAddDoesNotWaitAndWaitDoes: Add returns while the store is held;
// Wait returns only after every added entry is committed, in order.
func TestGroupAddDoesNotWaitAndWaitDoes(t *testing.T) {
	gs := &gateStore{release: make(chan struct{}), stored: make(chan []store.AuditEntry, 16)}
	w := audit.NewWriter(gs, audit.Options{})
	defer w.Close()
	g := audit.NewGroup(w)
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
			got = append(got, e.Action)
		}
	}
	want := []audit.Action{audit.MessageReceived, audit.ToolExecutionCompleted, audit.MessageSent}
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("committed order %v, want %v", got, want)
		}
	}
}

// TestGroupFailsClosed: a failed commit is reported by Wait and by Record.
func TestGroupFailsClosed(t *testing.T) {
	w := audit.NewWriter(failingStore{}, audit.Options{})
	defer w.Close()
	g := audit.NewGroup(w)
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
