package postgres

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/komand-ai/komand/internal/audit"
	"github.com/komand-ai/komand/internal/store"
)

// BenchmarkTurnSteps times, one at a time, the store calls an agent turn
// makes on PostgreSQL, so the turn benchmark's overhead can be split by
// step: the session lock (lock and unlock), the reads (one by one, and
// pipelined by LoadTurn), the agent's turns and an audit commit of a
// turn's size, alone and with the turns in its transaction.
//
//	KOMAND_TEST_POSTGRES_DSN=... go test -run '^$' -bench TurnSteps ./internal/store/postgres/
func BenchmarkTurnSteps(b *testing.B) {
	s, _ := openStore(b)
	ctx := context.Background()
	now := time.Now().UTC().Truncate(time.Microsecond)
	tn := store.Tenant{ID: uuid.NewString(), Slug: randomName("t"), Name: "bench", CreatedAt: now}
	must(b, "CreateTenant", s.CreateTenant(ctx, tn))
	must(b, "CreateAgent", s.CreateAgent(ctx, store.Agent{TenantID: tn.ID, AgentID: "default", Name: "D",
		ModelProvider: "openai", ModelID: "m", AllowedChannels: []string{"WebChat"}, OwnerID: "u",
		CreatedAt: now, UpdatedAt: now}, 1000))
	se := store.Session{ID: uuid.NewString(), TenantID: tn.ID, Key: "WebChat:default:s", Channel: "WebChat",
		ChannelAccountID: "default", SenderID: "s", AgentID: "default", FirstMessageAt: now, LastMessageAt: now}
	must(b, "CreateSession", s.CreateSession(ctx, se, 1000))
	agentTurns := func() []store.Turn {
		return []store.Turn{
			{Role: store.RoleAssistant, ToolCalls: []byte(`[{"id":"call_1","name":"current_time","arguments":{}}]`), CreatedAt: now},
			{Role: store.RoleTool, Text: `{"time":"12:00"}`, ToolCallID: "call_1", ToolName: "current_time", CreatedAt: now},
			{Role: store.RoleAssistant, Text: "It is noon.", CreatedAt: now},
		}
	}
	for range 9 { // a conversation of 10 messages: 36 turns of history
		_, err := s.AppendTurns(ctx, tn.ID, se.ID, append([]store.Turn{{Role: store.RoleUser, Text: "What time is it?", CreatedAt: now}}, agentTurns()...))
		must(b, "AppendTurns", err)
	}
	entries := func(n int) []store.AuditEntry {
		out := make([]store.AuditEntry, n)
		for i := range out {
			out[i] = audit.Entry(ctx, audit.Event{TenantID: tn.ID, Action: audit.MessageSent, SessionID: se.ID,
				Details: map[string]any{"channel": "WebChat", "chars": 11}}, now)
		}
		return out
	}
	// The appends go to a fresh session every 10 calls, as the
	// conversations of the turn benchmark do, so the history stays short.
	appendTo, appends := se.ID, 0
	next := func() string {
		appends++
		if appends%10 == 0 {
			fresh := se
			fresh.ID, fresh.Key = uuid.NewString(), fmt.Sprintf("WebChat:default:s%d", appends)
			must(b, "CreateSession", s.CreateSession(ctx, fresh, 1000))
			appendTo = fresh.ID
		}
		return appendTo
	}
	steps := []struct {
		name string
		fn   func() error
	}{
		{"LockUnlock", func() error {
			unlock, err := s.LockSession(ctx, tn.ID, se.Key)
			if err == nil {
				unlock()
			}
			return err
		}},
		{"ActiveSession", func() error { _, err := s.ActiveSession(ctx, tn.ID, se.Key); return err }},
		{"GetAgent", func() error { _, err := s.GetAgent(ctx, tn.ID, "default"); return err }},
		{"RecentTurns", func() error { _, err := s.RecentTurns(ctx, tn.ID, se.ID, 200); return err }},
		{"LoadTurn", func() error {
			_, err := s.LoadTurn(ctx, tn.ID, store.TurnQuery{Key: se.Key, History: 200})
			return err
		}},
		{"AppendTurns3", func() error { _, err := s.AppendTurns(ctx, tn.ID, next(), agentTurns()); return err }},
		{"AppendAudit2", func() error { return s.AppendAudit(ctx, entries(2), audit.Seal) }},
		{"CommitAudit2Turns3", func() error {
			return s.CommitAudit(ctx, entries(2), audit.Seal,
				[]*store.Unit{{Turns: []store.TurnAppend{{TenantID: tn.ID, SessionID: next(), Turns: agentTurns()}}}})
		}},
	}
	for _, st := range steps {
		b.Run(st.name, func(b *testing.B) {
			for b.Loop() {
				if err := st.fn(); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
