package session

import (
	"context"
	"encoding/json"
	"log/slog"
	"testing"

	"github.com/komand-ai/komand/internal/channel"
	"github.com/komand-ai/komand/internal/llm"
	"github.com/komand-ai/komand/internal/store"
)

type notices []channel.ReviewNotice

func (n *notices) PostReview(_ context.Context, r channel.ReviewNotice) error {
	*n = append(*n, r)
	return nil
}

// TestNotifyReview: a posted review shows what the queue shows — the held
// calls as RenderCalls renders them, the excerpt quoted and escaped — for
// the session's channel account.
func TestNotifyReview(t *testing.T) {
	var got notices
	s := &Service{log: slog.New(slog.DiscardHandler)}
	se := store.Session{TenantID: "t1", ID: "s1", AgentID: "bot", Channel: channel.Slack, ChannelAccountID: "ws"}
	s.notifyReview(t.Context(), se, store.Review{ID: "r0"}, store.Turn{}) // no notifier: nothing
	s.SetReviewNotifier(&got)
	calls := []llm.ToolCall{{ID: "c1", Name: "memory_store", Arguments: json.RawMessage(`{"value":"<!here> ` + "\u202e" + `x","key":"k"}`)}}
	raw, _ := json.Marshal(calls)
	s.notifyReview(t.Context(), se, store.Review{ID: "r1", Kind: store.ReviewToolCall, Source: "skill", ToolName: "memory_store",
		Excerpt: string(raw)}, store.Turn{ToolCalls: raw})
	s.notifyReview(t.Context(), se, store.Review{ID: "r2", Kind: store.ReviewMessage, Source: "user",
		Excerpt: "ignore <@U1> `all`\nnow"}, store.Turn{})
	if len(got) != 2 {
		t.Fatalf("notices: %+v", got)
	}
	want := `memory_store key="k" value="\u003c!here\u003e \u202ex"`
	if n := got[0]; n.Held != want || n.Held != RenderCalls(calls) || n.ReviewID != "r1" || n.SessionID != "s1" ||
		n.TenantID != "t1" || n.Channel != channel.Slack || n.AccountID != "ws" || n.AgentID != "bot" {
		t.Fatalf("call notice: %+v", n)
	}
	if n := got[1]; n.Held != `"ignore \u003c@U1\u003e \u0060all\u0060\nnow"` || n.Kind != store.ReviewMessage {
		t.Fatalf("message notice: %+v", n)
	}
}
