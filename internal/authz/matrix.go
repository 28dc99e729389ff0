package authz

// Verb is an operation on a resource.
type Verb string

// Verbs.
const (
	Read   Verb = "read"
	Create Verb = "create"
	Update Verb = "update"
	Delete Verb = "delete"
	// Execute is running a skill as a tool. It is in no role's row: the
	// tool runtime refuses a skill the agent may not run (Refuse), so the
	// refusal takes the same path as every other denial.
	Execute Verb = "execute"
)

// Resource is a kind of thing a tenant owns.
type Resource string

// Resources. Later capabilities add theirs here, so the matrix stays whole.
const (
	Tenant      Resource = "tenant"      // tenant settings, billing
	Users       Resource = "users"       // user management
	APIKeys     Resource = "apikeys"     // machine credentials
	Agents      Resource = "agents"      // agent configuration
	Skills      Resource = "skills"      // skill registry and installation
	Channels    Resource = "channels"    // channel setup
	Sessions    Resource = "sessions"    // sessions and their history
	Memory      Resource = "memory"      // agents' long-term memory
	Messages    Resource = "messages"    // sending messages to agents
	CRM         Resource = "crm"         // basic CRM operations through skills
	Credentials Resource = "credentials" // credential vault
	AuditLog    Resource = "audit"       // audit trail
	Dashboard   Resource = "dashboard"   // dashboards
	Injection   Resource = "injection"   // prompt-injection policy and review queue
)

var (
	all      = []Verb{Read, Create, Update, Delete}
	readOnly = []Verb{Read}
)

// matrix is security.md's RBAC table, as data:
//
//	Owner     full access, billing, user management
//	Admin     agent configuration, skill management, channel setup
//	Operator  send messages, view history, basic CRM operations
//	Viewer    read-only access to dashboards and logs
//
// Roles are cumulative upward (an Admin can do what an Operator can). What a
// role may do beyond the table is a product decision documented in
// docs/security.md ("RBAC"): Admins also manage credentials, read users and end sessions,
// because configuring agents needs them; agent memory is written by Admins
// (and by the agent's own memory tools) and read by Operators, while a
// Viewer, whose role is dashboards and logs, does not read it; nobody but an Owner creates users,
// changes roles, issues API keys or touches tenant settings (every user lists and
// revokes its own API keys: an ownership rule of package user, not a matrix entry). The prompt-injection policy and its
// review queue (held customer messages and tool outputs) are an Admin's: an
// Operator or Viewer neither reads nor decides them. Anything not listed is
// denied.
var matrix = map[Role]map[Resource][]Verb{
	Owner: {
		Tenant: all, Users: all, APIKeys: all, Agents: all, Skills: all,
		Channels: all, Sessions: all, Memory: all, Messages: all, CRM: all,
		Credentials: all, AuditLog: readOnly, Dashboard: readOnly, Injection: all,
	},
	Admin: {
		Users: readOnly, Agents: all, Skills: all, Channels: all,
		Sessions: all, Memory: all, Messages: {Read, Create}, CRM: {Read, Create, Update},
		Credentials: all, AuditLog: readOnly, Dashboard: readOnly, Injection: all,
	},
	Operator: {
		Agents: readOnly, Skills: readOnly, Channels: readOnly,
		Sessions: readOnly, Memory: readOnly, Messages: {Read, Create}, CRM: {Read, Create, Update},
		AuditLog: readOnly, Dashboard: readOnly,
	},
	Viewer: {
		Agents: readOnly, Skills: readOnly, Channels: readOnly,
		Sessions: readOnly, Messages: readOnly,
		AuditLog: readOnly, Dashboard: readOnly,
	},
}

// Allowed reports whether the matrix lets role do verb on res. It is the
// single source of truth; Authorizer.Check adds auditing around it.
func Allowed(role Role, verb Verb, res Resource) bool {
	for _, v := range matrix[role][res] {
		if v == verb {
			return true
		}
	}
	return false
}
