package authz_test

import (
	"context"
	"errors"
	"testing"

	"github.com/komand-ai/komand/internal/audit"
	"github.com/komand-ai/komand/internal/authz"
)

type memRecorder struct {
	events []audit.Event
	err    error
}

func (m *memRecorder) Record(_ context.Context, ev audit.Event) error {
	if m.err != nil {
		return m.err
	}
	m.events = append(m.events, ev)
	return nil
}

func TestCheckAuditsDenials(t *testing.T) {
	rec := &memRecorder{}
	az := authz.New(audit.Denials(rec))
	ctx := context.Background()
	viewer := authz.Principal{TenantID: "t1", UserID: "u1", Role: authz.Viewer}
	if err := az.Check(ctx, viewer, authz.Read, authz.Agents, authz.Target{}); err != nil || len(rec.events) != 0 {
		t.Fatalf("allowed check: %v, events %d", err, len(rec.events))
	}
	err := az.Check(ctx, viewer, authz.Delete, authz.Agents, authz.Target{AgentID: "bot"})
	if !errors.Is(err, authz.ErrDenied) {
		t.Fatalf("got %v, want authz.ErrDenied", err)
	}
	if len(rec.events) != 1 {
		t.Fatalf("events: %d", len(rec.events))
	}
	ev := rec.events[0]
	if ev.Action != audit.PermissionDenied || ev.TenantID != "t1" || ev.ActorID != "u1" || ev.AgentID != "bot" ||
		ev.Details["verb"] != "delete" || ev.Details["resource"] != "agents" {
		t.Fatalf("denial entry: %+v", ev)
	}
	// A principal without a user is denied even for an allowed action.
	if err := az.Check(ctx, authz.Principal{TenantID: "t1", Role: authz.Owner}, authz.Read, authz.Agents, authz.Target{}); !errors.Is(err, authz.ErrDenied) {
		t.Fatalf("zero principal: %v", err)
	}
	// If the denial cannot be recorded, the error is not a plain denial.
	rec.err = errors.New("audit down")
	err = az.Check(ctx, viewer, authz.Delete, authz.Agents, authz.Target{})
	if err == nil || errors.Is(err, authz.ErrDenied) {
		t.Fatalf("unrecorded denial: got %v, want an internal error", err)
	}
}
