package tool

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/json"
	"fmt"
	"log/slog"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/komand-ai/komand/internal/agent"
	"github.com/komand-ai/komand/internal/audit"
	"github.com/komand-ai/komand/internal/authz"
	"github.com/komand-ai/komand/internal/llm"
	"github.com/komand-ai/komand/internal/store"
	"github.com/komand-ai/komand/internal/store/sqlite"
	"github.com/komand-ai/komand/internal/vault"
)

type vaultWorld struct {
	st     *sqlite.Store
	w      *audit.Writer
	creds  *vault.Service
	b      *Builtins
	tenant string
	admin  authz.Principal
}

func newVaultWorld(t *testing.T) *vaultWorld {
	t.Helper()
	ctx := context.Background()
	st, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "k.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	tn := uuid.NewString()
	if err := st.CreateTenant(ctx, store.Tenant{ID: tn, Slug: "acme", Name: "Acme", CreatedAt: time.Now()}); err != nil {
		t.Fatal(err)
	}
	for _, a := range []string{"sales", "support"} {
		if err := st.CreateAgent(ctx, store.Agent{TenantID: tn, AgentID: a, Name: a, CreatedAt: time.Now(), UpdatedAt: time.Now()}, 1000); err != nil {
			t.Fatal(err)
		}
	}
	w := audit.NewWriter(st, audit.Options{})
	t.Cleanup(func() { w.Close() })
	az := authz.New(audit.Denials(w))
	kek := make([]byte, vault.KeySize)
	_, _ = rand.Read(kek)
	ring, _ := vault.NewKeyring(kek)
	creds := vault.NewService(st, vault.New(st, ring, nil), az, w, nil, nil)
	b := NewBuiltins(agent.NewMemory(st, st, az, w, nil), w, creds, nil, nil)
	// A test tool that uses a credential and (carelessly) echoes it.
	b.add(builtin{def: llm.Tool{Name: "charge"}, run: func(ctx context.Context, sc *Context, inv Invocation, args json.RawMessage) (any, error) {
		var in struct {
			Name string `json:"name"`
		}
		_ = json.Unmarshal(args, &in)
		v, err := sc.GetCredential(ctx, in.Name)
		if err != nil {
			return nil, err
		}
		return map[string]any{"authorization": "Bearer " + v, "echo": v, "len": len(v)}, nil
	}})
	return &vaultWorld{st: st, w: w, creds: creds, b: b, tenant: tn,
		admin: authz.Principal{TenantID: tn, UserID: uuid.NewString(), Role: authz.Admin}}
}

func (vw *vaultWorld) count(t *testing.T, action audit.Action) int {
	t.Helper()
	// Entries are durable once recorded; list them from the store.
	_, n, err := vw.st.ListAudit(context.Background(), vw.tenant, store.AuditFilter{Action: string(action)}, store.Page{Page: 1, PageSize: 1})
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// TestGetCredentialGrantedAndScrubbed: a granted skill reads the value,
// the read is audited, and the value never appears in what the model gets.
// Skills without a grant (another skill, another agent, an existing but
// ungranted name, a name that does not exist) all get the same refusal,
// recorded as PermissionDenied.
func TestGetCredentialGrantedAndScrubbed(t *testing.T) {
	vw := newVaultWorld(t)
	ctx := context.Background()
	secret := `sk_live_"quoted"<html>&` + "\u00e9"
	c, err := vw.creds.Create(ctx, vw.admin, "stripe", "api_key", secret)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := vw.creds.Create(ctx, vw.admin, "hubspot", "api_key", "hubspot-secret-value"); err != nil {
		t.Fatal(err)
	}
	if _, err := vw.creds.Grant(ctx, vw.admin, c.ID, "sales", "charge", nil); err != nil {
		t.Fatal(err)
	}
	inv := Invocation{TenantID: vw.tenant, UserID: vw.admin.UserID, AgentID: "sales", SessionID: uuid.NewString(), Via: "model"}
	res, err := vw.b.Run(ctx, inv, llm.ToolCall{ID: "c1", Name: "charge", Arguments: json.RawMessage(`{"name":"stripe"}`)})
	if err != nil || res.IsError {
		t.Fatalf("granted run: %s %v", res.Output, err)
	}
	out := string(res.Output)
	if strings.Contains(out, "sk_live") || strings.Contains(out, "quoted") || strings.Count(out, Scrubbed) != 2 {
		t.Fatalf("the value reached the tool result: %s", out)
	}
	var parsed map[string]any
	if err := json.Unmarshal(res.Output, &parsed); err != nil || parsed["len"] != float64(len(secret)) {
		t.Fatalf("the scrubbed output is not the tool's JSON: %s %v", out, err)
	}
	if n := vw.count(t, audit.CredentialRead); n != 1 {
		t.Fatalf("CredentialRead entries: %d", n)
	}
	es, _, _ := vw.st.ListAudit(ctx, vw.tenant, store.AuditFilter{Action: string(audit.CredentialRead)}, store.Page{Page: 1, PageSize: 1})
	if e := es[0]; e.SkillID != "charge" || e.AgentID != "sales" || e.SessionID != inv.SessionID || strings.Contains(string(e.Details), "sk_live") {
		t.Fatalf("CredentialRead entry: %+v %s", e, e.Details)
	}
	if got, _ := vw.st.GetCredential(ctx, vw.tenant, c.ID); got.LastUsedAt == nil {
		t.Fatal("last use not recorded")
	}

	denied := vw.count(t, audit.PermissionDenied)
	var refusals []string
	for _, tc := range []struct {
		agent, name string
	}{
		{"support", "stripe"},  // the skill on an agent without a grant
		{"sales", "hubspot"},   // a credential the skill was not granted
		{"sales", "nope"},      // no such credential
		{"sales", "../stripe"}, // not a name
		{"sales", ""},          // empty
	} {
		inv := inv
		inv.AgentID = tc.agent
		res, err := vw.b.Run(ctx, inv, llm.ToolCall{ID: "c2", Name: "charge", Arguments: json.RawMessage(`{"name":"` + tc.name + `"}`)})
		if err != nil || !res.IsError {
			t.Fatalf("%+v: %s %v", tc, res.Output, err)
		}
		refusals = append(refusals, string(res.Output))
	}
	for _, r := range refusals {
		if r != refusals[0] || !strings.Contains(r, "not available") {
			t.Fatalf("refusals differ or say too much: %q", refusals)
		}
	}
	if n := vw.count(t, audit.PermissionDenied) - denied; n != len(refusals) {
		t.Fatalf("%d PermissionDenied entries for %d refusals", n, len(refusals))
	}
	if n := vw.count(t, audit.CredentialRead); n != 1 {
		t.Fatalf("a refused read was recorded as a read: %d", n)
	}
	// Revoked: refused again.
	if err := vw.creds.Revoke(ctx, vw.admin, c.ID, "sales", "charge"); err != nil {
		t.Fatal(err)
	}
	if res, _ := vw.b.Run(ctx, inv, llm.ToolCall{ID: "c3", Name: "charge", Arguments: json.RawMessage(`{"name":"stripe"}`)}); !res.IsError {
		t.Fatalf("a revoked grant still reads: %s", res.Output)
	}
}

// TestFailedToolScrubsShortValues: a tool that fails with a credential
// value in its error (one shorter than the log redactor's 8-byte minimum)
// leaks it neither to the model nor to the log.
func TestFailedToolScrubsShortValues(t *testing.T) {
	vw := newVaultWorld(t)
	ctx := context.Background()
	var logs bytes.Buffer
	vw.b.log = slog.New(slog.NewJSONHandler(&logs, nil))
	pin := "73x9q1"
	c, err := vw.creds.Create(ctx, vw.admin, "pin", "password", pin)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := vw.creds.Grant(ctx, vw.admin, c.ID, "sales", "leaky", nil); err != nil {
		t.Fatal(err)
	}
	vw.b.add(builtin{def: llm.Tool{Name: "leaky"}, run: func(ctx context.Context, sc *Context, inv Invocation, args json.RawMessage) (any, error) {
		v, err := sc.GetCredential(ctx, "pin")
		if err != nil {
			return nil, err
		}
		return nil, fmt.Errorf("upstream refused pin %s", v)
	}})
	inv := Invocation{TenantID: vw.tenant, UserID: vw.admin.UserID, AgentID: "sales", SessionID: uuid.NewString(), Via: "model"}
	res, err := vw.b.Run(ctx, inv, llm.ToolCall{ID: "c1", Name: "leaky", Arguments: json.RawMessage(`{}`)})
	if err != nil || !res.IsError {
		t.Fatalf("run: %s %v", res.Output, err)
	}
	if strings.Contains(string(res.Output), pin) || strings.Contains(logs.String(), pin) {
		t.Fatalf("the value leaked: output %s, log %s", res.Output, logs.String())
	}
	if !strings.Contains(logs.String(), Scrubbed) {
		t.Fatalf("the log line lost its scrubbed detail: %s", logs.String())
	}
}
