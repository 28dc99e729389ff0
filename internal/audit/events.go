package audit

// Action names one kind of audit event. The catalogue below is the only place
// actions are defined, so the set can be reviewed (and documented) as a whole,
// as Teleport does in lib/events/codes.go. Action is a defined type, so an
// event name that is not in the catalogue does not compile; the store keeps
// it as a string (Entry converts), and a name from a request is parsed with
// ParseAction.
type Action string

// The twelve events of the security specification (security.md, Audit Trail).
const (
	MessageReceived         Action = "MessageReceived"         // inbound message arrives at the gateway
	MessageSent             Action = "MessageSent"             // outbound response dispatched
	ToolExecutionStarted    Action = "ToolExecutionStarted"    // skill execution begins
	ToolExecutionCompleted  Action = "ToolExecutionCompleted"  // skill execution succeeds
	ToolExecutionFailed     Action = "ToolExecutionFailed"     // skill execution fails or times out
	SkillInstalled          Action = "SkillInstalled"          // skill added to an agent's enabled list
	SkillUninstalled        Action = "SkillUninstalled"        // skill removed from an agent
	AgentConfigured         Action = "AgentConfigured"         // agent created, changed or deleted
	SessionCreated          Action = "SessionCreated"          // new session started
	SessionEnded            Action = "SessionEnded"            // session closed
	PromptInjectionDetected Action = "PromptInjectionDetected" // suspicious input flagged
	PermissionDenied        Action = "PermissionDenied"        // insufficient permissions for the requested action
)

// Additional identity events emitted by the core.
const (
	TenantCreated      Action = "TenantCreated"
	LoginSucceeded     Action = "LoginSucceeded"
	LoginFailed        Action = "LoginFailed"
	LoginThrottled     Action = "LoginThrottled"
	Logout             Action = "Logout"
	TokenRefreshed     Action = "TokenRefreshed"
	RefreshTokenReused Action = "RefreshTokenReused" // a spent refresh token came back: the family is revoked
	UserCreated        Action = "UserCreated"
	UserInvited        Action = "UserInvited"        // user created without a password, with a one-time invitation
	UserInviteAccepted Action = "UserInviteAccepted" // invited user set a password with the invitation
	UserRoleChanged    Action = "UserRoleChanged"
	UserDeactivated    Action = "UserDeactivated"
	UserReactivated    Action = "UserReactivated" // a deactivated user may log in again (its old credentials stay revoked)
	APIKeyCreated      Action = "APIKeyCreated"
	APIKeyRevoked      Action = "APIKeyRevoked"
)

// Agent runtime events.
const (
	MemoryWritten Action = "MemoryWritten" // an agent memory key created or replaced (never the value)
	MemoryDeleted Action = "MemoryDeleted"
	// CircuitBreakerTripped: a turn was ended by one of the agent's
	// limits (breaker, limit, counts; see docs/runtime.md).
	CircuitBreakerTripped Action = "CircuitBreakerTripped"
)

// Credential vault events (never the value).
const (
	CredentialCreated Action = "CredentialCreated"
	CredentialUpdated Action = "CredentialUpdated" // renamed, retyped or value replaced
	CredentialDeleted Action = "CredentialDeleted"
	CredentialGranted Action = "CredentialGranted" // a skill of an agent may now read it
	CredentialRevoked Action = "CredentialRevoked"
	CredentialRead    Action = "CredentialRead" // a skill read it at run time (skill, agent, session; never the value)
	DataKeyRotated    Action = "DataKeyRotated" // a tenant's new data key; then its credentials are re-encrypted
)

// Skill registry events.
const (
	SkillRegistered    Action = "SkillRegistered"    // a skill version added to the tenant's registry
	SkillRejected      Action = "SkillRejected"      // a package refused: bad or missing signature
	SkillDeleted       Action = "SkillDeleted"       // a version (or every version) removed
	SkillPolicyChanged Action = "SkillPolicyChanged" // the tenant allowed or refused unsigned skills
)

// CRM events (never the contact's fields).
const (
	ContactCreated Action = "ContactCreated"
	ContactUpdated Action = "ContactUpdated"
	ContactDeleted Action = "ContactDeleted"
)

// Channel events.
const (
	ChannelAccountCreated Action = "ChannelAccountCreated"
	ChannelAccountDeleted Action = "ChannelAccountDeleted"
	ChannelAccountUpdated Action = "ChannelAccountUpdated" // a setting changed (allowCommands: old and new value)
	WebhookRejected       Action = "WebhookRejected"       // bad, stale or replayed signature: never reaches an agent
	// A Slack member or Telegram user of an account mapped to a Komand
	// user (or the mapping deleted).
	ChannelIdentityMapped   Action = "ChannelIdentityMapped"
	ChannelIdentityUnmapped Action = "ChannelIdentityUnmapped"
	// ReviewCallbackRefused: an Approve or Reject button of a review posted
	// to Slack or Telegram was clicked by a member who is not mapped, from
	// another chat, or with a token that is unknown, spent or expired (a
	// role that may not decide is PermissionDenied).
	ReviewCallbackRefused Action = "ReviewCallbackRefused"
	// WebChatVisitorStarted: a public chat widget gave an anonymous
	// visitor a token (a new visitor, or a renewal of the same one).
	WebChatVisitorStarted Action = "WebChatVisitorStarted"
)

// Prompt-injection defense events (PromptInjectionDetected is above).
const (
	InjectionPolicyChanged Action = "InjectionPolicyChanged" // the tenant's block/warn/escalate policy replaced
	TurnHeld               Action = "TurnHeld"               // a message, tool output or tool call held for an Admin's review
	TurnReviewed           Action = "TurnReviewed"           // an Admin approved or rejected a held turn
	// A consequential tool call in a tainted turn of a Komand user waits
	// for their in-channel "CONFIRM <code>": requested (the call held and
	// the code sent), confirmed (the exact call released to run once), or
	// refused (a wrong, replayed, expired or foreign confirmation).
	ToolCallConfirmationRequested Action = "ToolCallConfirmationRequested"
	ToolCallConfirmed             Action = "ToolCallConfirmed"
	ToolCallConfirmationRefused   Action = "ToolCallConfirmationRefused"
	ReplySanitized                Action = "ReplySanitized" // an agent reply had images, links with data or system-prompt text removed
)

// Catalogue lists every action, specification events first.
var Catalogue = []Action{
	MessageReceived, MessageSent, ToolExecutionStarted, ToolExecutionCompleted,
	ToolExecutionFailed, SkillInstalled, SkillUninstalled, AgentConfigured,
	SessionCreated, SessionEnded, PromptInjectionDetected, PermissionDenied,
	TenantCreated, LoginSucceeded, LoginFailed, LoginThrottled, Logout,
	TokenRefreshed, RefreshTokenReused, UserCreated, UserInvited,
	UserInviteAccepted, UserRoleChanged, UserDeactivated, UserReactivated, APIKeyCreated,
	APIKeyRevoked, MemoryWritten, MemoryDeleted, CircuitBreakerTripped,
	CredentialCreated, CredentialUpdated, CredentialDeleted, CredentialGranted,
	CredentialRevoked, CredentialRead, DataKeyRotated, ChannelAccountCreated,
	ChannelAccountDeleted, ChannelAccountUpdated, WebhookRejected, WebChatVisitorStarted,
	ChannelIdentityMapped, ChannelIdentityUnmapped, ReviewCallbackRefused,
	SkillRegistered, SkillRejected, SkillDeleted, SkillPolicyChanged,
	ContactCreated, ContactUpdated, ContactDeleted,
	InjectionPolicyChanged, TurnHeld, TurnReviewed, ReplySanitized,
	ToolCallConfirmationRequested, ToolCallConfirmed, ToolCallConfirmationRefused,
}

// Known reports whether a is in the catalogue.
func Known(a Action) bool {
	for _, c := range Catalogue {
		if c == a {
			return true
		}
	}
	return false
}

// ParseAction returns the action named s and whether it is in the
// catalogue.
func ParseAction(s string) (Action, bool) {
	if a := Action(s); Known(a) {
		return a, true
	}
	return "", false
}
