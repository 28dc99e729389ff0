package session

import (
	"strings"
	"testing"

	"github.com/komand-ai/komand/internal/channel"
)

// TestValidateMessageHumanFields (issue 15): a sender's display name and
// ID follow validate's rule for human-readable text (the display name
// took NUL, bidi overrides and zero-width characters); the message names
// the field.
func TestValidateMessageHumanFields(t *testing.T) {
	base := func() channel.InboundMessage {
		return channel.InboundMessage{Channel: channel.Webhook, ChannelAccountID: "acct", SenderID: "u1", Text: "hello",
			SenderDisplayName: "Zoë \u0645\u06cc\u200c\u062e"}
	}
	m := base()
	if err := validateMessage(&m); err != nil {
		t.Fatalf("a valid message was refused: %v", err)
	}
	for _, c := range []struct {
		field string
		edit  func(*channel.InboundMessage)
	}{
		{"displayName", func(m *channel.InboundMessage) { m.SenderDisplayName = "a\x00b" }},
		{"displayName", func(m *channel.InboundMessage) { m.SenderDisplayName = "Support\u202e" }},
		{"displayName", func(m *channel.InboundMessage) { m.SenderDisplayName = "ad\u200bmin" }},
		{"displayName", func(m *channel.InboundMessage) { m.SenderDisplayName = "two\nlines" }},
		{"senderId", func(m *channel.InboundMessage) { m.SenderID = "u\u2066" }},
		{"senderId", func(m *channel.InboundMessage) { m.SenderID = "u\x1b" }},
	} {
		m := base()
		c.edit(&m)
		err := validateMessage(&m)
		if err == nil || !strings.HasPrefix(err.Error(), c.field+": must ") {
			t.Errorf("%+v: %v, want a refusal naming %s", m, err, c.field)
		}
	}
}
