// Package authz is Komand's role-based access control: one permission matrix
// (role → verbs on resources) from security.md's RBAC table, and one Check
// that every domain service calls before acting. The HTTP API, the dashboard
// and the channels all go through the services, so they share these checks.
//
// Decisions are deny by default: an unknown role, resource or verb, or a
// missing principal, is denied. The principal comes from authentication
// (a verified token or API key and the user's current row in the store),
// never from a request body. Every denial goes to the Authorizer's
// DenialSink (package audit's Denials writes it as a PermissionDenied
// entry); if the sink cannot store it the call fails with an internal error
// instead (fail closed). authz imports neither audit nor store, so both may
// depend on it.
package authz

import (
	"context"
	"errors"
	"fmt"
)

// ErrDenied is returned (wrapped) when the matrix does not allow an action.
var ErrDenied = errors.New("authz: permission denied")

// Role is a user's role within its tenant.
type Role string

// Roles, highest first.
const (
	Owner    Role = "owner"
	Admin    Role = "admin"
	Operator Role = "operator"
	Viewer   Role = "viewer"
)

// Roles lists the valid roles, highest first.
var Roles = []Role{Owner, Admin, Operator, Viewer}

// ParseRole returns the role named s (lowercase) and whether it is valid.
func ParseRole(s string) (Role, bool) {
	for _, r := range Roles {
		if string(r) == s {
			return r, true
		}
	}
	return "", false
}

// rank orders roles; unknown roles rank 0, below every real role.
func (r Role) rank() int {
	switch r {
	case Owner:
		return 4
	case Admin:
		return 3
	case Operator:
		return 2
	case Viewer:
		return 1
	}
	return 0
}

// CanGrant reports whether a holder of role r may give role target to
// someone: never a role above its own, and never an unknown role.
func (r Role) CanGrant(target Role) bool {
	return r.rank() > 0 && target.rank() > 0 && target.rank() <= r.rank()
}

// Principal is an authenticated caller.
type Principal struct {
	TenantID string
	UserID   string
	Email    string
	Name     string
	Role     Role
	// APIKeyID is set when the caller authenticated with an API key.
	APIKeyID string
	// SessionID is the refresh-token family of a JWT login.
	SessionID string
	// Public marks a sender anyone can be — a public chat widget's
	// visitor, a Telegram user — speaking through a channel account's
	// principal: it may send messages, never run slash commands.
	Public bool
}

// IsZero reports whether p is the empty (unauthenticated) principal.
func (p Principal) IsZero() bool { return p.TenantID == "" || p.UserID == "" }

// Denial is one refused action, as the DenialSink receives it.
type Denial struct {
	Principal Principal
	Verb      Verb
	Resource  Resource
	Target    Target
	Reason    string // for the audit trail; clients see a plain denial
	// Via, when set, names the path a refused action came by other than
	// the API ("model", "command": a tool call of an agent's turn).
	Via string
}

// DenialSink stores denials. RecordDenial returns only once the denial is
// stored, or with the error that prevented it.
type DenialSink interface {
	RecordDenial(ctx context.Context, d Denial) error
}

// Authorizer checks the matrix and records denials.
type Authorizer struct {
	sink DenialSink
}

// New returns an Authorizer that records denials with sink.
func New(sink DenialSink) *Authorizer { return &Authorizer{sink: sink} }

// Target names what an action is about, for the denial's audit entry.
type Target struct {
	AgentID   string
	SessionID string
	SkillID   string
	ID        string // any other resource ID (user, credential, …)
}

// Check returns nil when p may perform verb on res, and otherwise an error
// wrapping ErrDenied after recording the denial.
func (a *Authorizer) Check(ctx context.Context, p Principal, verb Verb, res Resource, t Target) error {
	if Allowed(p.Role, verb, res) && !p.IsZero() {
		return nil
	}
	return a.Deny(ctx, p, verb, res, t, "role does not allow this action")
}

// Deny records a denial taken outside the matrix (for example granting a
// role above one's own) and returns the error to hand back. The reason is
// for the audit log; clients see a plain denial.
func (a *Authorizer) Deny(ctx context.Context, p Principal, verb Verb, res Resource, t Target, reason string) error {
	return a.Refuse(ctx, Denial{Principal: p, Verb: verb, Resource: res, Target: t, Reason: reason})
}

// Refuse records d and returns the error to hand back: one wrapping
// ErrDenied once d is stored, an internal error when it cannot be.
func (a *Authorizer) Refuse(ctx context.Context, d Denial) error {
	if d.Principal.TenantID == "" {
		// A denial with no principal cannot be attributed to a tenant;
		// services never call Check without one, so this is a bug.
		return fmt.Errorf("%w: no principal", ErrDenied)
	}
	if err := a.sink.RecordDenial(ctx, d); err != nil {
		return fmt.Errorf("authz: recording denial: %w", err)
	}
	return &DeniedError{Role: d.Principal.Role, Verb: d.Verb, Resource: d.Resource}
}

// DeniedError is the denial Check and Deny return. It matches ErrDenied
// (errors.Is), and Message says in plain words what the caller's role does
// not allow, for the client.
type DeniedError struct {
	Role     Role
	Verb     Verb
	Resource Resource
}

func (e *DeniedError) Error() string {
	return fmt.Sprintf("%v: %s %s (role %s)", ErrDenied, e.Verb, e.Resource, e.Role)
}

// Is makes a DeniedError match ErrDenied.
func (e *DeniedError) Is(target error) bool { return target == ErrDenied }

// Message is the denial for the caller: the role's name, what it does not
// allow, and the lowest role that would, for example "Your role (viewer)
// does not allow sending messages to agents; the operator role or higher
// does." It names no internal verb or resource code.
func (e *DeniedError) Message() string {
	what := deniedActions[e.Verb] + " " + resourceNames[e.Resource]
	if e.Verb == Create && e.Resource == Messages {
		what = "sending messages to agents"
	}
	if deniedActions[e.Verb] == "" || resourceNames[e.Resource] == "" {
		what = "this action"
	}
	msg := "Your role"
	if e.Role != "" {
		msg += " (" + string(e.Role) + ")"
	}
	msg += " does not allow " + what
	for i := len(Roles) - 1; i >= 0; i-- {
		if r := Roles[i]; r.rank() > e.Role.rank() && Allowed(r, e.Verb, e.Resource) {
			if r == Owner {
				return msg + "; only an owner may."
			}
			return msg + "; the " + string(r) + " role or higher does."
		}
	}
	return msg + "."
}

// deniedActions and resourceNames put verbs and resources in plain words.
var deniedActions = map[Verb]string{Read: "viewing", Create: "creating", Update: "changing", Delete: "deleting"}

var resourceNames = map[Resource]string{
	Tenant: "tenant settings", Users: "users", APIKeys: "API keys", Agents: "agents", Skills: "skills",
	Channels: "channels", Sessions: "sessions", Memory: "agents' memory", Messages: "messages",
	CRM: "CRM records", Credentials: "credentials", AuditLog: "the audit trail", Dashboard: "dashboards",
	Injection: "the prompt-injection policy and reviews",
}
