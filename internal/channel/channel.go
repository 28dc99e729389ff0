// Package channel is where messages come from: the InboundMessage
// (product.md, Concepts) every channel produces and the Reply sent back;
// channel accounts (a platform account bound to an agent, its signing
// secret in the vault); and the signed generic webhook (webhook.go:
// HMAC-SHA256 over timestamp and body, a 5-minute window, each signature
// accepted once). WebChat is the HTTP API itself (gateway: POST
// /api/webchat/message). Telegram (telegram.go) verifies the Bot API's
// secret-token header and answers through sendMessage; Slack (slack.go)
// verifies v0 request signatures and answers through chat.postMessage.
// Their replies go through the outbox (outbox.go): stored before the first
// attempt, retried with backoff by the delivery worker, across restarts
// and replicas, and audited as delivered or failed.
// A WebChat account is a public chat widget (widget.go): anonymous
// visitors get short-lived visitor tokens that fix their sender. Slack
// members and Telegram users can be mapped to Komand users
// (identities.go), and a Slack or Telegram account can post its sessions'
// held reviews to an Admin channel with signed Approve / Reject buttons
// (review.go).
package channel

import "time"

// WebChat is the WebChat channel's name, as in an agent's allowedChannels.
const WebChat = "WebChat"

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

// AccountActor is the principal (and audit actor) of the messages a
// channel account delivers.
func AccountActor(accountID string) string { return "channel:" + accountID }

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
