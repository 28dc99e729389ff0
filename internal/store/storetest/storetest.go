// Package storetest is the conformance suite every store.Store
// implementation must pass. It is written against the interface only, so the
// SQLite store runs it on a file in t.TempDir() and the PostgreSQL store on a
// fresh database, and both are held to the same behaviour: tenancy (a row of
// another tenant is indistinguishable from a missing one), uniqueness
// conflicts, the last-owner rule, refresh-token rotation with reuse
// detection, pagination, round-trips of every field, and the hash-chained,
// all-or-nothing audit log.
//
// IDs in the suite are UUID strings and emails and agent IDs are lower-case
// ASCII with a common prefix, so the expected orders do not depend on a
// database collation.
package storetest

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"reflect"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/komand-ai/komand/internal/store"
)

// test is one conformance test; it gets a fresh, empty, migrated store.
type test struct {
	name string
	fn   func(t *testing.T, s store.Store)
}

// Run runs the whole suite. open must return a fresh, empty, migrated store
// for every call; Run closes it when the subtest ends, so open only needs to
// clean up what it created besides the store (a database, a directory).
// The groups run in parallel, so open must be safe for concurrent use.
func Run(t *testing.T, open func(t *testing.T) store.Store) {
	groups := []struct {
		name  string
		tests []test
	}{
		{"Ping", []test{{"Answers", testPing}, {"Writable", testWritable}}},
		{"Tenants", tenantTests},
		{"Users", userTests},
		{"APIKeys", apiKeyTests},
		{"RefreshTokens", refreshTests},
		{"Agents", agentTests},
		{"Sessions", sessionTests},
		{"Memory", memoryTests},
		{"Vault", vaultTests},
		{"Channels", channelTests},
		{"ChannelIdentities", identityTests},
		{"Outbox", outboxTests},
		{"Skills", skillTests},
		{"CRM", crmTests},
		{"Injection", injectionTests},
		{"Confirmations", confirmationTests},
		{"Audit", auditTests},
		{"Listing", listingTests},
		{"Isolation", isolationTests},
		{"Concurrency", concurrencyTests},
		{"Limits", limitTests},
		{"Breakers", breakerTests},
	}
	for _, g := range groups {
		t.Run(g.name, func(t *testing.T) {
			t.Parallel() // every test has a store of its own
			for _, tc := range g.tests {
				t.Run(tc.name, func(t *testing.T) {
					s := open(t)
					t.Cleanup(func() {
						if err := s.Close(); err != nil {
							t.Errorf("Close: %v", err)
						}
					})
					tc.fn(t, s)
				})
			}
		})
	}
}

func testPing(t *testing.T, s store.Store) {
	if err := s.Ping(t.Context()); err != nil {
		t.Fatalf("Ping: %v", err)
	}
}

// testWritable: a healthy store is writable, again and again (the probe's write
// leaves nothing behind that a second probe trips over), and the data
// written around it is unchanged.
func testWritable(t *testing.T, s store.Store) {
	ctx := t.Context()
	for i := range 3 {
		if err := s.Writable(ctx); err != nil {
			t.Fatalf("Writable %d: %v", i, err)
		}
	}
	if err := s.CreateTenant(ctx, store.Tenant{ID: newID(), Slug: "ready", Name: "Ready", CreatedAt: t0}); err != nil {
		t.Fatalf("a write after Writable: %v", err)
	}
	if err := s.Writable(ctx); err != nil {
		t.Fatalf("Writable after a write: %v", err)
	}
}

// ---- fixtures ----

// t0 is the suite's reference time. It has microsecond precision, so values
// derived from it round-trip unchanged.
var t0 = time.Date(2025, 3, 14, 15, 9, 26, 535897000, time.UTC)

// east is a non-UTC zone, to check that stores return UTC.
var east = time.FixedZone("UTC+5:30", 5*3600+1800)

func newID() string { return uuid.NewString() }

// newHash returns a fresh hex SHA-256, as stored for keys and tokens.
func newHash() string {
	sum := sha256.Sum256([]byte(uuid.NewString()))
	return hex.EncodeToString(sum[:])
}

// norm is what a store must return for a stored time: UTC, truncated to
// microseconds.
func norm(ts time.Time) time.Time { return ts.UTC().Truncate(time.Microsecond) }

func normPtr(ts *time.Time) *time.Time {
	if ts == nil {
		return nil
	}
	n := norm(*ts)
	return &n
}

func ptr[T any](v T) *T { return &v }

// equal fails the test unless got and want are deeply equal. Times compare
// equal only if both are UTC (time.Local is a different location even when
// it is UTC), which is what the suite requires of stores.
func equal[T any](t *testing.T, what string, got, want T) {
	t.Helper()
	if !reflect.DeepEqual(got, want) {
		t.Errorf("%s:\n got %+v\nwant %+v", what, got, want)
	}
}

// isErr fails the test unless errors.Is(err, want) (want nil: err is nil).
func isErr(t *testing.T, what string, err, want error) {
	t.Helper()
	if want == nil {
		if err != nil {
			t.Fatalf("%s: got error %v, want nil", what, err)
		}
		return
	}
	if !errors.Is(err, want) {
		t.Fatalf("%s: got error %v, want %v", what, err, want)
	}
}

func mkTenant(t *testing.T, s store.Store, slug string) store.Tenant {
	t.Helper()
	tn := store.Tenant{ID: newID(), Slug: slug, Name: "Tenant " + slug, CreatedAt: t0}
	isErr(t, "CreateTenant "+slug, s.CreateTenant(t.Context(), tn), nil)
	return tn
}

func mkUser(t *testing.T, s store.Store, tenantID, email, role string) store.User {
	t.Helper()
	u := store.User{
		ID: newID(), TenantID: tenantID, Email: email, Name: "User " + email, Role: role,
		PasswordHash: "$argon2id$v=19$m=65536,t=3,p=4$" + newHash()[:22], Active: true,
		CreatedAt: t0, UpdatedAt: t0,
	}
	isErr(t, "CreateUser "+email, s.CreateUser(t.Context(), u), nil)
	return u
}

func mkAPIKey(t *testing.T, s store.Store, u store.User, name string) store.APIKey {
	t.Helper()
	h := newHash()
	k := store.APIKey{
		ID: newID(), TenantID: u.TenantID, UserID: u.ID, Name: name,
		Prefix: "kmd_" + h[:6], Hash: h, CreatedAt: t0,
	}
	isErr(t, "CreateAPIKey "+name, s.CreateAPIKey(t.Context(), k), nil)
	return k
}

// mkRefresh creates the first token of a new family, valid for a day from
// t0.
func mkRefresh(t *testing.T, s store.Store, u store.User) store.RefreshToken {
	t.Helper()
	rt := store.RefreshToken{
		Hash: newHash(), TenantID: u.TenantID, UserID: u.ID, FamilyID: newID(),
		CreatedAt: t0, ExpiresAt: t0.Add(24 * time.Hour),
	}
	isErr(t, "CreateRefreshToken", s.CreateRefreshToken(t.Context(), rt), nil)
	return rt
}

// nextToken is the token a rotation at time at stores.
func nextToken(prev store.RefreshToken, at time.Time) store.RefreshToken {
	return store.RefreshToken{
		Hash: newHash(), TenantID: prev.TenantID, UserID: prev.UserID, FamilyID: prev.FamilyID,
		CreatedAt: at, ExpiresAt: at.Add(24 * time.Hour),
	}
}

func mkAgent(t *testing.T, s store.Store, tenantID, agentID, ownerID string) store.Agent {
	t.Helper()
	a := store.Agent{
		TenantID: tenantID, AgentID: agentID, Name: "Agent " + agentID,
		Description: ptr("Answers questions about " + agentID), SystemPrompt: "You are " + agentID + ".",
		ModelProvider: "anthropic", ModelID: "claude-sonnet-4", MaxContextTokens: 200000,
		EnabledSkillIDs: []string{"web.search", "kb.lookup"}, AllowedChannels: []string{"web", "slack"},
		OwnerID: ownerID, CreatedAt: t0, UpdatedAt: t0,
	}
	isErr(t, "CreateAgent "+agentID, s.CreateAgent(t.Context(), a, 1000), nil)
	return a
}

// seal is the suite's deterministic SealFunc: SHA-256 over every field but
// Hash. The timestamp is formatted with its zone and nanoseconds, so a store
// that seals a value other than the one it stores is caught when the stored
// entry is sealed again.
func seal(e *store.AuditEntry) string {
	s := fmt.Sprintf("%q|%q|%d|%q|%q|%q|%q|%q|%q|%q|%s|%q",
		e.ID, e.TenantID, e.Seq, e.Action, e.ActorID, e.AgentID, e.SessionID, e.SkillID,
		e.Details, e.RequestID, e.Timestamp.Format(time.RFC3339Nano), e.PrevHash)
	sum := sha256.Sum256([]byte(s))
	return hex.EncodeToString(sum[:])
}
