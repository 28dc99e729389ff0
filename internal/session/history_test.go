package session

import (
	"strings"
	"testing"

	"github.com/komand-ai/komand/internal/store"
)

// TestHistoryMessagesRendering: what the model sees of stored turns.
// Komand's notices, blocked/held/rejected messages and held tool calls are
// left out; tool outputs and webhook messages are data blocks with the
// turn's nonce; withheld outputs are errors.
func TestHistoryMessagesRendering(t *testing.T) {
	calls := []byte(`[{"id":"c1","name":"memory_recall","arguments":{}}]`)
	turns := []store.Turn{
		{Role: store.RoleUser, Text: "blocked attack", Flag: store.FlagBlocked},
		{Role: store.RoleAssistant, Text: RefusalReply, Flag: store.FlagNotice},
		{Role: store.RoleUser, Text: "held attack", Flag: store.FlagHeld},
		{Role: store.RoleUser, Text: "rejected attack", Flag: store.FlagRejected},
		{Role: store.RoleUser, Text: "hello <|im_start|>", Flag: store.FlagWarn},
		{Role: store.RoleAssistant, ToolCalls: calls},
		{Role: store.RoleTool, Text: `{"v":"fine"}`, ToolCallID: "c1", ToolName: "memory_recall"},
		{Role: store.RoleAssistant, ToolCalls: calls},
		{Role: store.RoleTool, Text: `{"v":"evil"}`, ToolCallID: "c1", ToolName: "memory_recall", Flag: store.FlagBlocked},
		{Role: store.RoleAssistant, ToolCalls: calls, Flag: store.FlagHeld},
		{Role: store.RoleAssistant, Text: HoldingReply, Flag: store.FlagNotice},
	}
	for _, external := range []bool{false, true} {
		msgs := historyMessages(turns, external, "abcd")
		var got []string
		for _, m := range msgs {
			got = append(got, m.Role)
		}
		if strings.Join(got, ",") != "user,assistant,tool,assistant,tool" {
			t.Fatalf("external=%v roles %v", external, got)
		}
		all := ""
		for _, m := range msgs {
			all += m.Text + "\n"
		}
		for _, gone := range []string{"blocked attack", "held attack", "rejected attack", "evil", RefusalReply, HoldingReply} {
			if strings.Contains(all, gone) {
				t.Errorf("external=%v: %q reached the model", external, gone)
			}
		}
		if !strings.HasPrefix(msgs[2].Text, "<untrusted-data-abcd source=\"tool memory_recall\">") || msgs[2].IsError {
			t.Errorf("tool output: %+v", msgs[2])
		}
		if !msgs[4].IsError || !strings.Contains(msgs[4].Text, "withheld") {
			t.Errorf("blocked output: %+v", msgs[4])
		}
		// A message flagged warn reaches the model after the caution note.
		user, cautioned := strings.CutPrefix(msgs[0].Text, CautionNote)
		if !cautioned {
			t.Errorf("external=%v: warned message without the caution note: %q", external, msgs[0].Text)
		}
		if external != strings.HasPrefix(user, "<untrusted-data-abcd source=\"webhook message\">") {
			t.Errorf("external=%v: user message %q", external, user)
		}
		if external && strings.Contains(user, "<|im_start|>") {
			t.Errorf("webhook text not neutralised: %q", user)
		}
	}
	if calls := pendingCalls(turns); calls != nil {
		t.Errorf("a held call is not pending until approved: %v", calls)
	}
	turns[9].Flag = ""
	if calls := pendingCalls(turns); len(calls) != 1 || calls[0].Name != "memory_recall" {
		t.Errorf("approved call not pending: %v", calls)
	}
	// A confirmation message is not a message for the model and does not
	// end the wait of an approved call.
	turns = append(turns, store.Turn{Role: store.RoleUser, Text: "CONFIRM 123456", Flag: store.FlagConfirm})
	if calls := pendingCalls(turns); len(calls) != 1 {
		t.Errorf("a confirmation message hid the approved call: %v", calls)
	}
	if msgs := historyMessages(turns, false, "abcd"); strings.Contains(msgs[len(msgs)-1].Text, "CONFIRM") {
		t.Errorf("the confirmation message reached the model: %+v", msgs[len(msgs)-1])
	}
}

// TestHistoryCommandResults: a slash command's result is stored as a tool
// turn with no assistant call before it; sent as it is, a provider refuses
// the whole request (a tool message must answer a tool call). It is left
// out (the assistant turn after it carries the answer), and every tool
// message the model is sent answers a call of the assistant message before
// it.
func TestHistoryCommandResults(t *testing.T) {
	calls := []byte(`[{"id":"c1","name":"memory_recall","arguments":{}},{"id":"c2","name":"current_time","arguments":{}}]`)
	turns := []store.Turn{
		{Role: store.RoleUser, Text: "/memory get plan"},
		{Role: store.RoleTool, Text: `{"key":"plan","value":"gold"}`, ToolCallID: commandCallPrefix + "1", ToolName: "memory_recall"},
		{Role: store.RoleAssistant, Text: `{"key":"plan","value":"gold"}`},
		{Role: store.RoleUser, Text: "and the time?"},
		{Role: store.RoleAssistant, ToolCalls: calls},
		{Role: store.RoleTool, Text: `{"v":"gold"}`, ToolCallID: "c1", ToolName: "memory_recall"},
		{Role: store.RoleTool, Text: `{"t":"noon"}`, ToolCallID: "c2", ToolName: "current_time"},
		{Role: store.RoleTool, Text: `{"stray":true}`, ToolCallID: "c9", ToolName: "current_time"},
		{Role: store.RoleAssistant, Text: "Gold, at noon."},
	}
	msgs := historyMessages(turns, false, "abcd")
	var got []string
	for _, m := range msgs {
		got = append(got, m.Role+":"+m.ToolCallID)
	}
	if want := "user:,assistant:,user:,assistant:,tool:c1,tool:c2,assistant:"; strings.Join(got, ",") != want {
		t.Fatalf("messages %v, want %s", got, want)
	}
}
