package postgres

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net/url"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/komand-ai/komand/internal/audit"
	"github.com/komand-ai/komand/internal/store"
)

// dsnEnv names the variable that enables these tests. It must name a role
// that may CREATE DATABASE (and, for TestNonSuperuserOwner, CREATE ROLE).
const dsnEnv = "KOMAND_TEST_POSTGRES_DSN"

func baseDSN(t testing.TB) string {
	t.Helper()
	dsn := os.Getenv(dsnEnv)
	if dsn == "" {
		t.Skip(dsnEnv + " is not set; set it to a PostgreSQL DSN (e.g. " +
			"postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable) to run the PostgreSQL store tests")
	}
	return dsn
}

func randomName(prefix string) string {
	b := make([]byte, 6)
	_, _ = rand.Read(b)
	return prefix + hex.EncodeToString(b)
}

// withDatabase returns dsn pointing at database name (and user, if set).
func withDatabase(t testing.TB, dsn, name, user string) string {
	t.Helper()
	if strings.HasPrefix(dsn, "postgres://") || strings.HasPrefix(dsn, "postgresql://") {
		u, err := url.Parse(dsn)
		if err != nil {
			t.Fatalf("parse %s: %v", dsnEnv, err)
		}
		u.Path = "/" + name
		if user != "" {
			u.User = url.User(user)
		}
		return u.String()
	}
	// Keyword/value form: a later keyword overrides an earlier one.
	dsn += " dbname=" + name
	if user != "" {
		dsn += " user=" + user
	}
	return dsn
}

// adminExec runs statements on the base DSN's database.
func adminExec(t testing.TB, sqls ...string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, baseDSN(t))
	if err != nil {
		t.Fatalf("connect to %s: %v", dsnEnv, err)
	}
	defer conn.Close(ctx)
	for _, sql := range sqls {
		if _, err := conn.Exec(ctx, sql); err != nil {
			t.Fatalf("%s: %v", sql, err)
		}
	}
}

// freshDatabase creates an empty database komand_t_<random>, dropped (with
// FORCE) when the test ends, and returns a DSN for it. owner, if not empty,
// becomes the database's owner and the DSN's user.
func freshDatabase(t testing.TB, owner string) string {
	t.Helper()
	base := baseDSN(t)
	name := randomName("komand_t_")
	ident := pgx.Identifier{name}.Sanitize()
	create := "CREATE DATABASE " + ident
	if owner != "" {
		create += " OWNER " + pgx.Identifier{owner}.Sanitize()
	}
	adminExec(t, create)
	t.Cleanup(func() { adminExec(t, "DROP DATABASE IF EXISTS "+ident+" WITH (FORCE)") })
	return withDatabase(t, base, name, owner)
}

// openStore opens a Store on a fresh database; it is closed before the
// database is dropped.
func openStore(t testing.TB) (*Store, string) {
	t.Helper()
	dsn := freshDatabase(t, "")
	return openOn(t, dsn), dsn
}

func openOn(t testing.TB, dsn string) *Store {
	t.Helper()
	s, err := Open(context.Background(), dsn)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() { _ = s.Close() })
	return s
}

func must(t testing.TB, what string, err error) {
	t.Helper()
	if err != nil {
		t.Fatalf("%s: %v", what, err)
	}
}

func sqlState(err error) string {
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) {
		return pgErr.Code
	}
	return ""
}

var tNow = time.Date(2025, 6, 1, 12, 0, 0, 123456000, time.UTC)

// seedTenant creates a tenant with one row in every tenant-owned table.
func seedTenant(t testing.TB, s *Store, slug string) (store.Tenant, store.User) {
	t.Helper()
	ctx := context.Background()
	tn := store.Tenant{ID: uuid.NewString(), Slug: slug, Name: slug, CreatedAt: tNow}
	must(t, "CreateTenant", s.CreateTenant(ctx, tn))
	u := store.User{ID: uuid.NewString(), TenantID: tn.ID, Email: slug + "@example.com", Name: slug,
		Role: ownerRole, PasswordHash: "x", Active: true, CreatedAt: tNow, UpdatedAt: tNow}
	must(t, "CreateUser", s.CreateUser(ctx, u))
	must(t, "CreateAPIKey", s.CreateAPIKey(ctx, store.APIKey{ID: uuid.NewString(), TenantID: tn.ID,
		UserID: u.ID, Name: "k", Prefix: "kmd_", Hash: randomName("h"), CreatedAt: tNow}))
	must(t, "CreateRefreshToken", s.CreateRefreshToken(ctx, store.RefreshToken{Hash: randomName("r"),
		TenantID: tn.ID, UserID: u.ID, FamilyID: uuid.NewString(), CreatedAt: tNow, ExpiresAt: tNow.Add(time.Hour)}))
	must(t, "CreateAgent", s.CreateAgent(ctx, store.Agent{TenantID: tn.ID, AgentID: "a-" + slug, Name: "a",
		OwnerID: u.ID, CreatedAt: tNow, UpdatedAt: tNow}, 1000))
	must(t, "AppendAudit", s.AppendAudit(ctx, []store.AuditEntry{auditEntry(tn.ID)}, audit.Seal))
	se := store.Session{ID: uuid.NewString(), TenantID: tn.ID, Key: "WebChat:default:" + slug, Channel: "WebChat",
		ChannelAccountID: "default", SenderID: slug, AgentID: "a-" + slug, FirstMessageAt: tNow, LastMessageAt: tNow}
	must(t, "CreateSession", s.CreateSession(ctx, se, 1000))
	_, err := s.AppendTurns(ctx, tn.ID, se.ID, []store.Turn{{Role: store.RoleUser, Text: "hi", CreatedAt: tNow}})
	must(t, "AppendTurns", err)
	_, err = s.PutMemory(ctx, store.MemoryEntry{TenantID: tn.ID, AgentID: "a-" + slug, Key: "k", Value: "v",
		CreatedAt: tNow, UpdatedAt: tNow}, 10)
	must(t, "PutMemory", err)
	must(t, "CreateDataKey", s.CreateDataKey(ctx, store.DataKey{TenantID: tn.ID, Version: 1, KEKID: "kek",
		Wrapped: []byte("w"), CreatedAt: tNow}))
	credID := uuid.NewString()
	must(t, "CreateCredential", s.CreateCredential(ctx, store.Credential{TenantID: tn.ID, ID: credID,
		Name: "c", Type: "api_key", KeyVersion: 1, Ciphertext: []byte("c"), CreatedAt: tNow, UpdatedAt: tNow}, 1000))
	must(t, "GrantCredential", s.GrantCredential(ctx, store.CredentialGrant{TenantID: tn.ID, CredentialID: credID,
		AgentID: "a-" + slug, SkillID: "s", CreatedAt: tNow}))
	must(t, "CreateChannelAccount", s.CreateChannelAccount(ctx, store.ChannelAccount{TenantID: tn.ID, ID: uuid.NewString(),
		Channel: "Webhook", AccountID: "default", AgentID: "a-" + slug, CreatedAt: tNow, UpdatedAt: tNow}))
	must(t, "MarkWebhookSeen", s.MarkWebhookSeen(ctx, tn.ID, "default", "sig", tNow, tNow.Add(time.Hour)))
	must(t, "EnqueueDelivery", s.EnqueueDelivery(ctx, store.Delivery{TenantID: tn.ID, ID: uuid.NewString(), Channel: "Telegram",
		ChannelAccountID: uuid.NewString(), Payload: []byte("{}"), Attempts: 1, NextAttemptAt: tNow, LeaseToken: "t",
		LeaseUntil: tNow, CreatedAt: tNow}))
	must(t, "CreateSkill", s.CreateSkill(ctx, store.Skill{TenantID: tn.ID, SkillID: "s", Version: "1.0.0", VersionKey: "1",
		Contract: []byte("{}"), Module: []byte("m"), CreatedAt: tNow}, 10, 10))
	_, err = s.PutSkillInstall(ctx, store.SkillInstall{TenantID: tn.ID, AgentID: "a-" + slug, SkillID: "s", Version: "1.0.0",
		Granted: []byte("[]"), Config: []byte("{}"), InstalledAt: tNow, UpdatedAt: tNow})
	must(t, "PutSkillInstall", err)
	must(t, "PutSkillPolicy", s.PutSkillPolicy(ctx, store.SkillPolicy{TenantID: tn.ID, UpdatedAt: tNow}))
	must(t, "CreateContact", s.CreateContact(ctx, store.Contact{TenantID: tn.ID, ID: uuid.NewString(), Name: "n", CreatedAt: tNow, UpdatedAt: tNow}, 10))
	must(t, "PutInjectionPolicy", s.PutInjectionPolicy(ctx, store.InjectionPolicy{TenantID: tn.ID, Doc: []byte("{}"), UpdatedAt: tNow}))
	must(t, "CreateReview", s.CreateReview(ctx, store.Review{TenantID: tn.ID, ID: uuid.NewString(), SessionID: se.ID, AgentID: "a-" + slug,
		Kind: store.ReviewMessage, Source: "user", TurnSeq: 1, Status: store.ReviewPending, CreatedAt: tNow}))
	must(t, "CreateConfirmation", s.CreateConfirmation(ctx, store.Confirmation{TenantID: tn.ID, ID: uuid.NewString(), SessionID: se.ID,
		AgentID: "a-" + slug, UserID: u.ID, TurnSeq: 1, CallHash: "h", CodeHash: "h", Status: store.ConfirmationPending,
		CreatedAt: tNow, ExpiresAt: tNow.Add(time.Hour)}))
	return tn, u
}

func auditEntry(tenantID string) store.AuditEntry {
	return store.AuditEntry{ID: uuid.NewString(), TenantID: tenantID, Action: "test.event",
		ActorID: "actor", Details: []byte(`{"k":"v"}`), RequestID: "req", Timestamp: time.Now()}
}

// tenantTables are the tables under row-level security.
var tenantTables = []string{"komand_users", "komand_api_keys", "komand_refresh_families",
	"komand_refresh_tokens", "komand_agents", "komand_audit_log", "komand_audit_heads",
	"komand_sessions", "komand_session_turns", "komand_agent_memory", "komand_vault_keys", "komand_credentials", "komand_credential_grants",
	"komand_channel_accounts", "komand_webhook_seen", "komand_skills", "komand_skill_installs", "komand_skill_policy", "komand_crm_contacts",
	"komand_injection_policies", "komand_injection_reviews", "komand_outbox", "komand_tool_confirmations"}

// TestRowLevelSecurity checks the second wall on its own: raw SQL on a
// komand_app connection, without any WHERE clause.
func TestRowLevelSecurity(t *testing.T) {
	s, _ := openStore(t)
	ctx := context.Background()
	a, _ := seedTenant(t, s, "alpha")
	b, _ := seedTenant(t, s, "beta")

	conn, err := s.pool.Acquire(ctx)
	must(t, "acquire", err)
	defer conn.Release()
	var user string
	must(t, "current_user", conn.QueryRow(ctx, "SELECT current_user").Scan(&user))
	if user != appRole {
		t.Fatalf("pool runs as %q, want %s", user, appRole)
	}

	ownerCount := func(table, tenantID string) int {
		var n int
		must(t, "owner count", s.OwnerPool().QueryRow(ctx,
			"SELECT count(*) FROM "+table+" WHERE tenant_id = $1", tenantID).Scan(&n))
		return n
	}
	for _, table := range tenantTables {
		if ownerCount(table, a.ID) == 0 || ownerCount(table, b.ID) == 0 {
			t.Fatalf("%s: seed left a tenant without rows", table)
		}
		var n int
		// Never set on this session, then set and reset by a transaction
		// (the setting is then '' rather than NULL): both show nothing.
		for _, phase := range []string{"unset", "after transaction"} {
			must(t, table, conn.QueryRow(ctx, "SELECT count(*) FROM "+table).Scan(&n))
			if n != 0 {
				t.Errorf("%s, no tenant set (%s): %d rows visible, want 0", table, phase, n)
			}
			tx, err := conn.Begin(ctx)
			must(t, "begin", err)
			_, err = tx.Exec(ctx, setTenantSQL, a.ID)
			must(t, "set tenant", err)
			must(t, table, tx.QueryRow(ctx, "SELECT count(*) FROM "+table).Scan(&n))
			if want := ownerCount(table, a.ID); n != want {
				t.Errorf("%s, tenant A set: %d rows visible, want A's %d", table, n, want)
			}
			must(t, table, tx.QueryRow(ctx, "SELECT count(*) FROM "+table+" WHERE tenant_id <> $1", a.ID).Scan(&n))
			if n != 0 {
				t.Errorf("%s, tenant A set: %d rows of other tenants visible", table, n)
			}
			must(t, "commit", tx.Commit(ctx))
		}
	}

	// WITH CHECK: under tenant A, a row claiming tenant B is refused, and
	// so is any row when no tenant is set.
	inserts := []struct{ table, sql string }{
		{"komand_agents", `INSERT INTO komand_agents (tenant_id, agent_id, name, system_prompt, model_provider,
			model_id, max_context_tokens, owner_id, created_at, updated_at)
			VALUES ($1, 'evil', 'n', '', '', '', 0, '', now(), now())`},
		{"komand_audit_log", `INSERT INTO komand_audit_log (id, tenant_id, seq, action, actor_id, agent_id,
			session_id, skill_id, details, request_id, ts, prev_hash, hash)
			VALUES ('evil', $1, 99, 'x', '', '', '', '', '{}', '', now(), '', 'h')`},
		{"komand_audit_heads", `INSERT INTO komand_audit_heads (tenant_id, seq, hash) VALUES ($1, 99, 'h')
			ON CONFLICT (tenant_id) DO UPDATE SET seq = 99`},
		{"komand_sessions", `INSERT INTO komand_sessions (id, tenant_id, session_key, channel, channel_account_id,
			sender_id, agent_id, first_message_at, last_message_at)
			VALUES ('evil', $1, 'WebChat:default:evil', 'WebChat', 'default', 'evil', 'a', now(), now())`},
		{"komand_agent_memory", `INSERT INTO komand_agent_memory (tenant_id, agent_id, mem_key, value, created_at,
			updated_at) VALUES ($1, 'a-beta', 'evil', 'v', now(), now())`},
		{"komand_vault_keys", `INSERT INTO komand_vault_keys (tenant_id, version, kek_id, wrapped, created_at)
			VALUES ($1, 99, 'evil', 'w', now())`},
		{"komand_channel_accounts", `INSERT INTO komand_channel_accounts (id, tenant_id, channel, account_id, agent_id,
			created_at, updated_at) VALUES ('evil', $1, 'Webhook', 'evil', 'a-beta', now(), now())`},
		{"komand_webhook_seen", `INSERT INTO komand_webhook_seen (tenant_id, account_id, signature, expires_at)
			VALUES ($1, 'evil', 'evil', now())`},
		{"komand_skills", `INSERT INTO komand_skills (tenant_id, skill_id, version, version_key, name, description,
			publisher_id, contract, module, module_digest, signature_hash, is_verified, created_at)
			VALUES ($1, 'evil', '6.6.6', 'k', 'n', 'd', 'p', '{}', 'm', 'd', 'h', true, now())`},
		{"komand_skill_installs", `INSERT INTO komand_skill_installs (tenant_id, agent_id, skill_id, version, granted,
			installed_at, updated_at) VALUES ($1, 'a-beta', 's', '1.0.0', '[]', now(), now())`},
		{"komand_skill_policy", `INSERT INTO komand_skill_policy (tenant_id, allow_unsigned, updated_at)
			VALUES ($1, true, now()) ON CONFLICT (tenant_id) DO UPDATE SET allow_unsigned = true`},
		{"komand_crm_contacts", `INSERT INTO komand_crm_contacts (tenant_id, id, name, created_at, updated_at)
			VALUES ($1, 'evil', 'n', now(), now())`},
		{"komand_credentials", `INSERT INTO komand_credentials (id, tenant_id, name, type, key_version, ciphertext,
			created_at, updated_at) VALUES ('evil', $1, 'evil', 'api_key', 1, 'c', now(), now())`},
		{"komand_injection_policies", `INSERT INTO komand_injection_policies (tenant_id, doc, updated_at)
			VALUES ($1, '{"action":"warn"}', now()) ON CONFLICT (tenant_id) DO UPDATE SET doc = '{"action":"warn"}'`},
		{"komand_injection_reviews", `INSERT INTO komand_injection_reviews (tenant_id, id, session_id, agent_id, kind, source,
			turn_seq, status, created_at) VALUES ($1, 'evil', 'evil', 'a-beta', 'message', 'user', 1, 'pending', now())`},
		{"komand_tool_confirmations", `INSERT INTO komand_tool_confirmations (tenant_id, id, session_id, agent_id, user_id,
			turn_seq, call_hash, code_hash, status, created_at, expires_at) VALUES ($1, 'evil', 'evil', 'a-beta', 'u', 1, 'h', 'h',
			'pending', now(), now())`},
		{"komand_outbox", `INSERT INTO komand_outbox (tenant_id, id, channel, channel_account_id, payload, attempts,
			next_attempt_at, lease_until, created_at) VALUES ($1, 'evil', 'Telegram', 'evil', convert_to('{}', 'UTF8'), 1, now(), now(), now())`},
	}
	for _, ins := range inserts {
		for _, setTenant := range []bool{true, false} {
			err := pgx.BeginFunc(ctx, conn, func(tx pgx.Tx) error {
				if setTenant {
					if _, err := tx.Exec(ctx, setTenantSQL, a.ID); err != nil {
						return err
					}
				}
				_, err := tx.Exec(ctx, ins.sql, b.ID)
				return err
			})
			if sqlState(err) != "42501" {
				t.Errorf("%s: insert for tenant B (tenant A set: %t): got %v, want SQLSTATE 42501", ins.table, setTenant, err)
			}
		}
	}

	// USING also hides rows from UPDATE and DELETE.
	err = pgx.BeginFunc(ctx, conn, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, setTenantSQL, a.ID); err != nil {
			return err
		}
		tag, err := tx.Exec(ctx, "DELETE FROM komand_agents")
		if err == nil && tag.RowsAffected() != int64(ownerCount("komand_agents", a.ID)) {
			err = fmt.Errorf("DELETE affected %d rows", tag.RowsAffected())
		}
		if err != nil {
			return err
		}
		return errors.New("rollback")
	})
	if err.Error() != "rollback" {
		t.Errorf("DELETE under tenant A: %v", err)
	}
	if ownerCount("komand_agents", b.ID) == 0 {
		t.Errorf("DELETE under tenant A removed tenant B's agents")
	}

	// Platform bookkeeping is out of komand_app's reach.
	_, err = conn.Exec(ctx, "SELECT count(*) FROM komand_schema_migrations")
	if sqlState(err) != "42501" {
		t.Errorf("komand_app reading komand_schema_migrations: got %v, want SQLSTATE 42501", err)
	}
}

// TestAuditLogAppendOnly checks that komand_app has no UPDATE, DELETE or
// TRUNCATE privilege on the audit log, even for its own tenant's rows.
func TestAuditLogAppendOnly(t *testing.T) {
	s, _ := openStore(t)
	ctx := context.Background()
	a, _ := seedTenant(t, s, "alpha")
	for _, sql := range []string{
		"UPDATE komand_audit_log SET details = '{}' WHERE tenant_id = $1",
		"DELETE FROM komand_audit_log WHERE tenant_id = $1",
		"TRUNCATE komand_audit_log",
	} {
		err := s.inTenant(ctx, a.ID, func(tx pgx.Tx) error {
			args := []any{a.ID}
			if strings.HasPrefix(sql, "TRUNCATE") {
				args = nil
			}
			_, err := tx.Exec(ctx, sql, args...)
			return err
		})
		if sqlState(err) != "42501" {
			t.Errorf("%s as komand_app: got %v, want permission denied (42501)", strings.Fields(sql)[0], err)
		}
	}
	// The same on the chain heads: DELETE is not granted either.
	err := s.inTenant(ctx, a.ID, func(tx pgx.Tx) error {
		_, err := tx.Exec(ctx, "DELETE FROM komand_audit_heads WHERE tenant_id = $1", a.ID)
		return err
	})
	if sqlState(err) != "42501" {
		t.Errorf("DELETE komand_audit_heads as komand_app: got %v, want 42501", err)
	}
}

// TestTurnsAppendOnly checks that komand_app may change a turn's flag (a
// review decision) and nothing else of it, and may not delete turns or
// reviews, or delete the policy.
func TestTurnsAppendOnly(t *testing.T) {
	s, _ := openStore(t)
	ctx := context.Background()
	a, _ := seedTenant(t, s, "alpha")
	for _, sql := range []string{
		"UPDATE komand_session_turns SET text = 'rewritten' WHERE tenant_id = $1",
		"UPDATE komand_session_turns SET flag = '', text = 'rewritten' WHERE tenant_id = $1",
		"UPDATE komand_session_turns SET role = 'assistant' WHERE tenant_id = $1",
		"DELETE FROM komand_session_turns WHERE tenant_id = $1",
		"DELETE FROM komand_injection_reviews WHERE tenant_id = $1",
		"DELETE FROM komand_tool_confirmations WHERE tenant_id = $1",
		"DELETE FROM komand_injection_policies WHERE tenant_id = $1",
	} {
		err := s.inTenant(ctx, a.ID, func(tx pgx.Tx) error {
			_, err := tx.Exec(ctx, sql, a.ID)
			return err
		})
		if sqlState(err) != "42501" {
			t.Errorf("%q as komand_app: got %v, want permission denied (42501)", sql, err)
		}
	}
	err := s.inTenant(ctx, a.ID, func(tx pgx.Tx) error {
		tag, err := tx.Exec(ctx, "UPDATE komand_session_turns SET flag = 'rejected' WHERE tenant_id = $1", a.ID)
		if err == nil && tag.RowsAffected() == 0 {
			err = errors.New("no turn updated")
		}
		return err
	})
	must(t, "UPDATE flag as komand_app", err)
}

// TestConcurrentAppend has two Store instances (two replicas) append
// batches for the same tenants at the same time, with batches that mix two
// tenants in opposite orders (a deadlock trap), and checks that each tenant
// ends with one unbroken chain.
func TestConcurrentAppend(t *testing.T) {
	s1, dsn := openStore(t)
	s2 := openOn(t, dsn)
	ctx := context.Background()
	a, _ := seedTenant(t, s1, "alpha")
	b, _ := seedTenant(t, s1, "beta")

	const workers, batches, perBatch = 4, 25, 40
	var wg sync.WaitGroup
	errs := make(chan error, workers)
	for w := range workers {
		st := []*Store{s1, s2}[w%2]
		first, second := a.ID, b.ID
		if w >= 2 {
			first, second = b.ID, a.ID
		}
		wg.Go(func() {
			for range batches {
				entries := make([]store.AuditEntry, 0, perBatch)
				for i := range perBatch {
					tenant := first
					if i%3 == 2 {
						tenant = second
					}
					entries = append(entries, auditEntry(tenant))
				}
				if err := st.AppendAudit(ctx, entries, audit.Seal); err != nil {
					errs <- err
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatalf("AppendAudit: %v", err)
	}

	total := int64(0)
	for _, tn := range []store.Tenant{a, b} {
		entries, err := s2.ScanAudit(ctx, tn.ID, 0, 1_000_000)
		must(t, "ScanAudit", err)
		prev := ""
		for i, e := range entries {
			if e.Seq != int64(i+1) || e.PrevHash != prev {
				t.Fatalf("tenant %s entry %d: seq %d prev %q, want seq %d prev %q", tn.Slug, i, e.Seq, e.PrevHash, i+1, prev)
			}
			prev = e.Hash
		}
		res, err := audit.Verify(ctx, s1, tn.ID)
		must(t, "Verify", err)
		if !res.OK {
			t.Fatalf("tenant %s: chain broken at %d: %s", tn.Slug, res.BrokenAt, res.Reason)
		}
		total += res.Entries
	}
	if want := int64(2 + workers*batches*perBatch); total != want {
		t.Fatalf("stored %d entries, want %d", total, want)
	}
}

// TestConcurrentDemotion races two replicas demoting (or deactivating) the
// tenant's only two owners: exactly one must win.
func TestConcurrentDemotion(t *testing.T) {
	s1, dsn := openStore(t)
	s2 := openOn(t, dsn)
	ctx := context.Background()
	tn, o1 := seedTenant(t, s1, "alpha")
	o2 := store.User{ID: uuid.NewString(), TenantID: tn.ID, Email: "second@example.com", Name: "o2",
		Role: ownerRole, PasswordHash: "x", Active: true, CreatedAt: tNow, UpdatedAt: tNow}
	must(t, "CreateUser", s1.CreateUser(ctx, o2))

	for round := range 20 {
		change := func(st *Store, id string) error {
			if round%2 == 0 {
				_, err := st.SetUserRole(ctx, tn.ID, id, "admin", tNow)
				return err
			}
			_, err := st.DeactivateUser(ctx, tn.ID, id, tNow)
			return err
		}
		start := make(chan struct{})
		var e1, e2 error
		var wg sync.WaitGroup
		wg.Go(func() { <-start; e1 = change(s1, o1.ID) })
		wg.Go(func() { <-start; e2 = change(s2, o2.ID) })
		close(start)
		wg.Wait()

		lost := 0
		for _, err := range []error{e1, e2} {
			switch {
			case err == nil:
			case errors.Is(err, store.ErrLastOwner):
				lost++
			default:
				t.Fatalf("round %d: %v", round, err)
			}
		}
		if lost != 1 {
			t.Fatalf("round %d: %d changes refused, want exactly 1", round, lost)
		}
		var owners int
		must(t, "count", s1.OwnerPool().QueryRow(ctx, `SELECT count(*) FROM komand_users
			WHERE tenant_id = $1 AND role = 'owner' AND active`, tn.ID).Scan(&owners))
		if owners != 1 {
			t.Fatalf("round %d: %d active owners left, want 1", round, owners)
		}
		// Restore both owners for the next round.
		_, err := s1.OwnerPool().Exec(ctx, `UPDATE komand_users SET role = 'owner', active = true
			WHERE tenant_id = $1`, tn.ID)
		must(t, "restore", err)
	}
}

// TestMigrationsIdempotent opens the same database several times, twice of
// them concurrently (two replicas starting together).
func TestMigrationsIdempotent(t *testing.T) {
	dsn := freshDatabase(t, "")
	var wg sync.WaitGroup
	errs := make([]error, 3)
	for i := range errs {
		wg.Go(func() {
			s, err := Open(context.Background(), dsn)
			if err == nil {
				err = s.Close()
			}
			errs[i] = err
		})
	}
	wg.Wait()
	for _, err := range errs {
		must(t, "concurrent Open", err)
	}
	s := openOn(t, dsn)
	var n, platform int
	must(t, "versions", s.OwnerPool().QueryRow(context.Background(),
		"SELECT count(*) FROM komand_schema_migrations").Scan(&n))
	if want := len(mustGlob(t)); n != want {
		t.Errorf("%d migrations recorded, want %d", n, want)
	}
	must(t, "platform", s.OwnerPool().QueryRow(context.Background(),
		"SELECT count(*) FROM komand_tenants WHERE id = $1 AND slug = '_platform'", store.PlatformTenantID).Scan(&platform))
	if platform != 1 {
		t.Errorf("%d platform tenants, want 1", platform)
	}
	must(t, "Ping", s.Ping(context.Background()))
}

func mustGlob(t *testing.T) []string {
	entries, err := migrationFS.ReadDir("migrations")
	must(t, "read migrations", err)
	return func() []string {
		var out []string
		for _, e := range entries {
			out = append(out, e.Name())
		}
		return out
	}()
}

// TestNonSuperuserOwner runs the store as it is meant to be deployed: the
// DSN's user owns the database but is no superuser, so FORCE ROW LEVEL
// SECURITY binds it, and the cross-tenant lookups must still work through
// their SECURITY DEFINER functions.
func TestNonSuperuserOwner(t *testing.T) {
	baseDSN(t)
	role := randomName("komand_t_owner_")
	ident := pgx.Identifier{role}.Sanitize()
	// CREATEROLE lets the owner grant itself komand_app (PostgreSQL 15).
	adminExec(t, "CREATE ROLE "+ident+" LOGIN NOSUPERUSER CREATEROLE")
	t.Cleanup(func() { adminExec(t, "DROP ROLE IF EXISTS "+ident) })
	dsn := freshDatabase(t, role)
	s := openOn(t, dsn)
	ctx := context.Background()
	tn, u := seedTenant(t, s, "alpha")

	got, err := s.TenantIDByEmail(ctx, strings.ToUpper(u.Email))
	must(t, "TenantIDByEmail", err)
	if got != tn.ID {
		t.Errorf("TenantIDByEmail = %q, want %q", got, tn.ID)
	}
	keys, err := s.ListAPIKeys(ctx, tn.ID, u.ID)
	must(t, "ListAPIKeys", err)
	if got, err := s.TenantIDByAPIKeyHash(ctx, keys[0].Hash); err != nil || got != tn.ID {
		t.Errorf("TenantIDByAPIKeyHash = %q, %v; want %q", got, err, tn.ID)
	}
	var hash string
	must(t, "hash", s.inTenant(ctx, tn.ID, func(tx pgx.Tx) error {
		return tx.QueryRow(ctx, "SELECT hash FROM komand_refresh_tokens").Scan(&hash)
	}))
	if got, err := s.TenantIDByRefreshHash(ctx, hash); err != nil || got != tn.ID {
		t.Errorf("TenantIDByRefreshHash = %q, %v; want %q", got, err, tn.ID)
	}
	if _, err := s.TenantIDByEmail(ctx, "nobody@example.com"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("TenantIDByEmail(unknown) = %v, want ErrNotFound", err)
	}
	exp := tNow.Add(time.Hour)
	invited := store.User{ID: uuid.NewString(), TenantID: tn.ID, Email: "invitee@example.com", Name: "i",
		Role: "viewer", Active: true, InviteHash: randomName("i"), InviteExpiresAt: &exp, CreatedAt: tNow, UpdatedAt: tNow}
	must(t, "CreateUser (invited)", s.CreateUser(ctx, invited))
	if got, err := s.TenantIDByInviteHash(ctx, invited.InviteHash); err != nil || got != tn.ID {
		t.Errorf("TenantIDByInviteHash = %q, %v; want %q", got, err, tn.ID)
	}
	if _, err := s.TenantIDByInviteHash(ctx, "no-such-invite"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("TenantIDByInviteHash(unknown) = %v, want ErrNotFound", err)
	}
	// The delivery worker's lookup (seedTenant queued one delivery).
	if got, err := s.DueDeliveryTenants(ctx, tNow, 10); err != nil || len(got) != 1 || got[0] != tn.ID {
		t.Errorf("DueDeliveryTenants = %q, %v; want [%q]", got, err, tn.ID)
	}

	// FORCE: the owner itself sees no tenant rows unless it names a tenant.
	var n int
	must(t, "owner count", s.OwnerPool().QueryRow(ctx, "SELECT count(*) FROM komand_users").Scan(&n))
	if n != 0 {
		t.Errorf("non-superuser owner sees %d users with no tenant set, want 0", n)
	}
	// komand_app cannot switch the owner's lookup policy on for itself.
	must(t, "app lookup", pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, "SELECT set_config('komand.definer_lookup', 'on', true)"); err != nil {
			return err
		}
		return tx.QueryRow(ctx, "SELECT count(*) FROM komand_users").Scan(&n)
	}))
	if n != 0 {
		t.Errorf("komand_app with komand.definer_lookup=on sees %d users, want 0", n)
	}
}

// TestErrorsCarryNoSQL checks that a driver error is wrapped without the
// statement text.
func TestErrorsCarryNoSQL(t *testing.T) {
	s, _ := openStore(t)
	ctx := context.Background()
	tn, _ := seedTenant(t, s, "alpha")
	err := s.CreateAgent(ctx, store.Agent{TenantID: tn.ID, AgentID: "a-alpha", OwnerID: "x"}, 1000)
	if !errors.Is(err, store.ErrConflict) {
		t.Fatalf("duplicate agent: %v, want ErrConflict", err)
	}
	err = s.CreateUser(ctx, store.User{ID: uuid.NewString(), TenantID: "no-such-tenant", Email: "x@y.z"})
	if err == nil || strings.Contains(err.Error(), "INSERT") {
		t.Fatalf("CreateUser for unknown tenant: %v", err)
	}
}

// TestLockSessionAcrossStores checks the cross-replica half of session
// ordering: two Stores (two pools, as two Komand processes would have) on one
// database exclude each other on the same session key, not on other keys or
// tenants, and a released lock can be taken by the other.
func TestLockSessionAcrossStores(t *testing.T) {
	s1, dsn := openStore(t)
	s2 := openOn(t, dsn)
	ctx := context.Background()
	tn, _ := seedTenant(t, s1, "alpha")
	const key = "WebChat:default:user-1"

	u1, err := s1.LockSession(ctx, tn.ID, key)
	must(t, "s1 lock", err)
	// Released exactly once, also when the test fails early (a held
	// connection would make the pool's Close wait forever).
	var once sync.Once
	unlock1 := func() { once.Do(u1) }
	t.Cleanup(unlock1)

	// While s1 holds it, s2 cannot take it: its wait ends only with its
	// context.
	waitCtx, cancel := context.WithTimeout(ctx, 300*time.Millisecond)
	u2, err := s2.LockSession(waitCtx, tn.ID, key)
	cancel()
	if err == nil {
		u2()
		t.Fatal("s2 took a session lock that s1 holds")
	}
	// Other keys and other tenants are independent.
	u, err := s2.LockSession(ctx, tn.ID, "WebChat:default:user-2")
	must(t, "s2 lock other key", err)
	u()
	u, err = s2.LockSession(ctx, uuid.NewString(), key)
	must(t, "s2 lock same key, other tenant", err)
	u()

	acquired := make(chan func(), 1)
	go func() {
		u, err := s2.LockSession(ctx, tn.ID, key)
		if err != nil {
			t.Errorf("s2 lock after release: %v", err)
			close(acquired)
			return
		}
		acquired <- u
	}()
	unlock1()
	if u, ok := <-acquired; ok {
		u()
	}
	// Nothing is left locked: s1 can take it again at once.
	u, err = s1.LockSession(ctx, tn.ID, key)
	must(t, "s1 relock", err)
	u()
}

// TestTwoBatchTxRollsBack checks the audit writer's pipelined transaction:
// a failure in the second batch (or in queuing it) leaves nothing of the
// first, and the pool stays usable (the connection was rolled back or
// dropped, not returned mid-transaction).
func TestTwoBatchTxRollsBack(t *testing.T) {
	s, _ := openStore(t)
	ctx := context.Background()
	a, _ := seedTenant(t, s, "alpha")
	heads := func() int {
		var n int
		must(t, "count", s.OwnerPool().QueryRow(ctx, "SELECT count(*) FROM komand_audit_heads WHERE tenant_id = $1", a.ID).Scan(&n))
		return n
	}
	must(t, "clear head", func() error {
		_, err := s.OwnerPool().Exec(ctx, "DELETE FROM komand_audit_heads WHERE tenant_id = $1", a.ID)
		return err
	}())
	first := func(b *pgx.Batch) error {
		b.Queue(setTenantSQL, a.ID)
		b.Queue(`INSERT INTO komand_audit_heads (tenant_id, seq, hash) VALUES ($1, 0, '')`, a.ID)
		return nil
	}
	for name, second := range map[string]func(b *pgx.Batch) error{
		"statement fails": func(b *pgx.Batch) error {
			b.Queue(`SELECT 1/0`)
			return nil
		},
		"queueing fails": func(b *pgx.Batch) error { return errors.New("seal failed") },
	} {
		if err := s.twoBatchTx(ctx, first, second); err == nil {
			t.Fatalf("%s: no error", name)
		}
		if n := heads(); n != 0 {
			t.Fatalf("%s: the first batch's row survived the failure (%d rows)", name, n)
		}
	}
	var idleInTx int
	must(t, "activity", s.OwnerPool().QueryRow(ctx, `SELECT count(*) FROM pg_stat_activity
		WHERE datname = current_database() AND state LIKE 'idle in transaction%'`).Scan(&idleInTx))
	if idleInTx != 0 {
		t.Fatalf("%d pooled connections are still inside a failed transaction", idleInTx)
	}
	if err := s.twoBatchTx(ctx, first, func(b *pgx.Batch) error { return nil }); err != nil {
		t.Fatalf("commit: %v", err)
	}
	if n := heads(); n != 1 {
		t.Fatalf("committed transaction left %d rows, want 1", n)
	}
}
