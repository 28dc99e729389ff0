// Package channel defines what every channel adapter produces and consumes:
// an InboundMessage (product.md, Concepts) from a platform's payload, and a
// reply sent back through the platform. WebChat, the first channel, is the
// HTTP API itself (gateway: POST /api/webchat/message); the signed-webhook,
// Slack and Telegram adapters implement Adapter.
package channel

import (
	"context"
	"time"
)

// Channel names. They are the values of an agent's allowedChannels.
const (
	WebChat  = "WebChat"
	Webhook  = "Webhook"
	Slack    = "Slack"
	Telegram = "Telegram"
)

// Attachment is a file or link that came with a message.
type Attachment struct {
	Type string `json:"type"`
	URL  string `json:"url,omitempty"`
	Name string `json:"name,omitempty"`
}

// InboundMessage is one message from a channel, in product.md's fields.
type InboundMessage struct {
	MessageID         string
	Channel           string
	ChannelAccountID  string
	SenderID          string
	SenderDisplayName string
	Text              string
	Timestamp         time.Time // UTC
	Attachments       []Attachment
	Metadata          map[string]string
}

// SessionKey is the message's session key, {Channel}:{Account}:{Sender}.
func (m InboundMessage) SessionKey() string {
	return m.Channel + ":" + m.ChannelAccountID + ":" + m.SenderID
}

// Reply is what the agent answers to one message.
type Reply struct {
	SessionID string
	Text      string
	Timestamp time.Time
}

// Adapter turns a platform's inbound request into messages and sends replies
// back through the platform's API.
type Adapter interface {
	// Name is the channel name (WebChat, Slack, …).
	Name() string
	// Send delivers reply for msg on the platform.
	Send(ctx context.Context, msg InboundMessage, reply Reply) error
}
