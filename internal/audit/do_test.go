package audit_test

import (
	"context"
	"errors"
	"reflect"
	"testing"

	"github.com/komand-ai/komand/internal/audit"
	"github.com/komand-ai/komand/internal/authz"
)

// memRec keeps recorded events and the context each came with; failing
// makes Record fail.
type memRec struct {
	evs     []audit.Event
	ctxErrs []error
	failing bool
}

func (m *memRec) Record(ctx context.Context, ev audit.Event) error {
	if m.failing {
		return errors.New("audit down")
	}
	m.evs = append(m.evs, ev)
	m.ctxErrs = append(m.ctxErrs, ctx.Err())
	return nil
}

var keyed = authz.Principal{TenantID: "t1", UserID: "u1", Role: authz.Admin, APIKeyID: "k1"}

// TestDoRecordsBeforeAndFailureAfter: the event is recorded before the
// action, attributed to the principal with its API key; a failing action
// gets a second, "failed" entry, even once the context is cancelled; a
// successful one does not. The caller's details are never changed.
func TestDoRecordsBeforeAndFailureAfter(t *testing.T) {
	rec := &memRec{}
	details := map[string]any{"operation": "created"}
	ev := audit.Event{Action: audit.AgentConfigured, AgentID: "bot", Details: details}
	ran := false
	err := audit.Do(context.Background(), rec, audit.By(keyed), ev, func() error {
		if len(rec.evs) != 1 {
			t.Fatalf("action ran before its entry was recorded")
		}
		ran = true
		return nil
	})
	if err != nil || !ran || len(rec.evs) != 1 {
		t.Fatalf("success: err %v, ran %v, %d entries", err, ran, len(rec.evs))
	}
	want := audit.Event{TenantID: "t1", Action: audit.AgentConfigured, ActorID: "u1", AgentID: "bot",
		Details: map[string]any{"operation": "created", "apiKeyId": "k1"}}
	if !reflect.DeepEqual(rec.evs[0], want) {
		t.Fatalf("entry: %+v, want %+v", rec.evs[0], want)
	}

	ctx, cancel := context.WithCancel(context.Background())
	boom := errors.New("conflict")
	err = audit.Do(ctx, rec, audit.By(keyed), ev, func() error { cancel(); return boom })
	if err != boom || len(rec.evs) != 3 {
		t.Fatalf("failure: err %v, %d entries", err, len(rec.evs))
	}
	want.Details = map[string]any{"operation": "created", "apiKeyId": "k1", "outcome": "failed"}
	if !reflect.DeepEqual(rec.evs[2], want) || rec.ctxErrs[2] != nil {
		t.Fatalf("failed entry: %+v (ctx %v), want %+v", rec.evs[2], rec.ctxErrs[2], want)
	}
	if !reflect.DeepEqual(details, map[string]any{"operation": "created"}) {
		t.Fatalf("caller's details changed: %v", details)
	}

	// Fail names the outcome and is unwrapped.
	err = audit.Do(context.Background(), rec, audit.By(keyed), ev, func() error { return audit.Fail("limit", boom) })
	if err != boom || rec.evs[4].Details["outcome"] != "limit" {
		t.Fatalf("Fail: err %v, entry %+v", err, rec.evs[4])
	}
	if audit.Fail("limit", nil) != nil {
		t.Fatal("Fail(nil) is not nil")
	}
}

// TestDoFailsClosed: if the event cannot be stored the action does not run.
func TestDoFailsClosed(t *testing.T) {
	rec := &memRec{failing: true}
	err := audit.Do(context.Background(), rec, audit.By(keyed), audit.Event{Action: audit.ContactDeleted}, func() error {
		t.Fatal("action ran without its entry")
		return nil
	})
	if err == nil {
		t.Fatal("Do succeeded without its entry")
	}
}

// TestActorEvent: no API key, no apiKeyId; an event naming its own tenant
// keeps it.
func TestActorEvent(t *testing.T) {
	ev := audit.By(authz.Principal{TenantID: "t1", UserID: "u1"}).Event(audit.Event{TenantID: "t2", Action: audit.Logout})
	if ev.TenantID != "t2" || ev.ActorID != "u1" || ev.Details != nil {
		t.Fatalf("event: %+v", ev)
	}
}

// TestDenialsDetails pins a PermissionDenied entry: verb, resource, role,
// reason, targetId, apiKeyId (and via for a tool call), on the target's
// agent, session and skill.
func TestDenialsDetails(t *testing.T) {
	rec := &memRec{}
	az := authz.New(audit.Denials(rec))
	tg := authz.Target{AgentID: "bot", SessionID: "s1", SkillID: "sk", ID: "x1"}
	if err := az.Deny(context.Background(), keyed, authz.Update, authz.Users, tg, "above one's own"); !errors.Is(err, authz.ErrDenied) {
		t.Fatalf("deny: %v", err)
	}
	want := audit.Event{TenantID: "t1", Action: audit.PermissionDenied, ActorID: "u1", AgentID: "bot", SessionID: "s1", SkillID: "sk",
		Details: map[string]any{"verb": "update", "resource": "users", "role": "admin", "reason": "above one's own",
			"targetId": "x1", "apiKeyId": "k1"}}
	if len(rec.evs) != 1 || !reflect.DeepEqual(rec.evs[0], want) {
		t.Fatalf("denial: %+v, want %+v", rec.evs, want)
	}
	p := authz.Principal{TenantID: "t1", UserID: "u1", Role: authz.Operator}
	_ = az.Refuse(context.Background(), authz.Denial{Principal: p, Verb: authz.Execute, Resource: authz.Skills,
		Target: authz.Target{SkillID: "sk"}, Reason: "not enabled", Via: "model"})
	wantD := map[string]any{"verb": "execute", "resource": "skills", "role": "operator", "reason": "not enabled", "via": "model"}
	if len(rec.evs) != 2 || !reflect.DeepEqual(rec.evs[1].Details, wantD) {
		t.Fatalf("tool denial: %+v, want %v", rec.evs[1], wantD)
	}
}

// TestParseAction: only catalogue names parse.
func TestParseAction(t *testing.T) {
	if a, ok := audit.ParseAction("SkillInstalled"); !ok || a != audit.SkillInstalled {
		t.Fatalf("SkillInstalled: %q %v", a, ok)
	}
	for _, s := range []string{"", "skillinstalled", "DROP TABLE", "SkillInstalled "} {
		if _, ok := audit.ParseAction(s); ok {
			t.Errorf("%q parsed", s)
		}
	}
}
