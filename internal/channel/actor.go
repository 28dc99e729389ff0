package channel

import "strings"

// IsAccountActor reports whether userID is a channel account's own
// principal ("channel:<id>": a signed webhook, a Slack workspace, a
// Telegram bot; "widget:<id>": a public chat widget's visitors) rather than
// a Komand user: its senders are not Komand users acting for themselves.
func IsAccountActor(userID string) bool {
	return strings.HasPrefix(userID, "channel:") || strings.HasPrefix(userID, "widget:")
}
