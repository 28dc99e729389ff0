package store

import (
	"context"
	"strings"
	"time"
)

// DataKey is one version of a tenant's data-encryption key, wrapped
// (encrypted) by the key-encryption key KEKID. The store never sees a key
// in the clear.
type DataKey struct {
	TenantID  string
	Version   int
	KEKID     string
	Wrapped   []byte
	CreatedAt time.Time
}

// DataKeyRewrap is a new wrapping for one data key version.
type DataKeyRewrap struct {
	TenantID string
	Version  int
	OldKEKID string
	NewKEKID string
	Wrapped  []byte
}

// Credential is a vault entry: metadata and the value's ciphertext under
// the tenant's data key KeyVersion. Names are unique per tenant.
type Credential struct {
	TenantID string
	ID       string
	Name     string
	Type     string
	// Source is "" for a value stored here, or the external secret
	// manager holding it (then Ciphertext seals the reference).
	Source     string
	KeyVersion int
	Ciphertext []byte
	CreatedBy  string
	CreatedAt  time.Time
	UpdatedAt  time.Time
	LastUsedAt *time.Time
}

// Vault stores tenants' data keys and credentials.
type Vault interface {
	// CreateDataKey stores a new key version; an existing version gives
	// ErrConflict (another replica created it first).
	CreateDataKey(ctx context.Context, k DataKey) error
	// DataKeys returns the tenant's key versions, newest first.
	DataKeys(ctx context.Context, tenantID string) ([]DataKey, error)
	// RewrapDataKeys replaces the wrapping of each key version that is
	// still wrapped by its OldKEKID (others were re-wrapped meanwhile and
	// are skipped), in one transaction, and reports how many it replaced.
	RewrapDataKeys(ctx context.Context, rs []DataKeyRewrap) (int, error)

	// CreateCredential stores c; a taken name gives ErrConflict, and a
	// tenant that already has maxCredentials credentials gives ErrLimit
	// (atomically, also under concurrent writers).
	CreateCredential(ctx context.Context, c Credential, maxCredentials int) error
	GetCredential(ctx context.Context, tenantID, id string) (Credential, error)
	GetCredentialByName(ctx context.Context, tenantID, name string) (Credential, error)
	// ListCredentials returns one page ordered by name, and the total.
	ListCredentials(ctx context.Context, tenantID string, p Page) ([]Credential, int, error)
	// UpdateCredential replaces Name, Type and UpdatedAt, and, when
	// replaceValue is set, KeyVersion and Ciphertext (a rename never
	// writes the value back, so it cannot undo a concurrent replacement);
	// a taken name gives ErrConflict.
	UpdateCredential(ctx context.Context, c Credential, replaceValue bool) error
	// ReencryptCredential replaces a credential's ciphertext and key
	// version if it still holds exactly oldCiphertext (ErrConflict
	// otherwise: its value was replaced meanwhile, under whatever key);
	// UpdatedAt is not changed.
	ReencryptCredential(ctx context.Context, tenantID, id string, oldCiphertext []byte, newVersion int, ciphertext []byte) error
	// CredentialsBelowVersion returns up to limit credentials of the
	// tenant whose key version is below version, by ID.
	CredentialsBelowVersion(ctx context.Context, tenantID string, version, limit int) ([]Credential, error)
	// TouchCredential sets LastUsedAt.
	TouchCredential(ctx context.Context, tenantID, id string, at time.Time) error
	DeleteCredential(ctx context.Context, tenantID, id string) error

	// GrantCredential lets one skill of one agent read a credential; an
	// existing grant gives ErrConflict, an unknown credential or agent
	// ErrNotFound. Grants go with their credential or agent.
	GrantCredential(ctx context.Context, g CredentialGrant) error
	// RevokeCredential removes a grant; an unknown one gives ErrNotFound.
	RevokeCredential(ctx context.Context, tenantID, credentialID, agentID, skillID string) error
	// CredentialGrants lists a credential's grants by agent and skill.
	CredentialGrants(ctx context.Context, tenantID, credentialID string) ([]CredentialGrant, error)
	// GrantedCredential returns the credential called name if skillID on
	// agentID holds a grant for it, and ErrNotFound otherwise (whether the
	// name exists or not), with the grant's hosts.
	GrantedCredential(ctx context.Context, tenantID, agentID, skillID, name string) (Credential, []string, error)
}

// SplitHosts reads a grant's stored hosts (comma-separated; "" is none).
func SplitHosts(s string) []string {
	if s == "" {
		return nil
	}
	return strings.Split(s, ",")
}

// CredentialGrant lets one skill of one agent read one credential.
type CredentialGrant struct {
	TenantID     string
	CredentialID string
	AgentID      string
	SkillID      string
	// Hosts bind the grant to requests to these hosts, by reference only
	// (none: any use).
	Hosts     []string
	CreatedBy string
	CreatedAt time.Time
}

// PageKey is the credential's position in CredentialList.
func (c Credential) PageKey() (List, []any) { return CredentialList, []any{c.Name} }
