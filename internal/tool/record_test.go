package tool

import (
	"context"
	"reflect"
	"testing"

	"github.com/komand-ai/komand/internal/audit"
)

type memRec struct{ evs []audit.Event }

func (m *memRec) Record(_ context.Context, ev audit.Event) error {
	m.evs = append(m.evs, ev)
	return nil
}

// TestToolEntriesNameTheAPIKey: a tool run for a caller that used an API
// key is attributed to the key, like the turn's MessageReceived and
// MessageSent; the caller's details map is not changed.
func TestToolEntriesNameTheAPIKey(t *testing.T) {
	rec := &memRec{}
	inv := Invocation{TenantID: "t1", UserID: "u1", AgentID: "bot", SessionID: "s1", APIKeyID: "k1", Via: "model"}
	details := map[string]any{"tool": "current_time"}
	if err := recordTool(context.Background(), rec, audit.ToolExecutionStarted, inv, "current_time", details, true); err != nil {
		t.Fatal(err)
	}
	want := audit.Event{TenantID: "t1", Action: audit.ToolExecutionStarted, ActorID: "u1", AgentID: "bot", SessionID: "s1",
		SkillID: "current_time", Details: map[string]any{"tool": "current_time", "apiKeyId": "k1"}}
	if len(rec.evs) != 1 || !reflect.DeepEqual(rec.evs[0], want) {
		t.Fatalf("entry: %+v, want %+v", rec.evs, want)
	}
	if len(details) != 1 {
		t.Fatalf("caller's details changed: %v", details)
	}
	if a := memActor(inv); a.APIKeyID != "k1" || a.Via != "tool" {
		t.Fatalf("memory actor: %+v", a)
	}
}
