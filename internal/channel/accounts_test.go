package channel_test

import (
	"context"
	"crypto/rand"
	"errors"
	"log/slog"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/komand-ai/komand/internal/agent"
	"github.com/komand-ai/komand/internal/apperr"
	"github.com/komand-ai/komand/internal/audit"
	"github.com/komand-ai/komand/internal/authz"
	"github.com/komand-ai/komand/internal/channel"
	"github.com/komand-ai/komand/internal/servicetest"
	"github.com/komand-ai/komand/internal/store"
	"github.com/komand-ai/komand/internal/vault"
)

var ctx = context.Background()

// world is the channel service on the fixture, with the real vault for
// signing secrets, an agent "support" in both tenants and a signing
// secret in each; dispatched messages are kept.
type world struct {
	*servicetest.Fixture
	s       *channel.Service
	secrets *vault.Service
	secretA string // credential IDs
	secretB string

	mu         sync.Mutex
	dispatched []dispatched
}

type dispatched struct {
	p authz.Principal
	m channel.InboundMessage
}

const signingSecret = "whsec-0123456789abcdef0123456789abcdef"

func newWorld(t *testing.T) *world {
	t.Helper()
	f := servicetest.New(t)
	kek := make([]byte, vault.KeySize)
	_, _ = rand.Read(kek)
	ring, err := vault.NewKeyring(kek)
	if err != nil {
		t.Fatal(err)
	}
	w := &world{Fixture: f}
	w.secrets = vault.NewService(f.Store, vault.New(f.Store, ring, f.Clock.Now), f.Authz, f.Audit, nil, f.Clock.Now)
	w.s = channel.NewService(f.Store, w.secrets, f.Authz, f.Audit, func(_ context.Context, p authz.Principal, m channel.InboundMessage) (channel.Reply, error) {
		w.mu.Lock()
		defer w.mu.Unlock()
		w.dispatched = append(w.dispatched, dispatched{p, m})
		return channel.Reply{Text: "answer to " + m.Text}, nil
	}, slog.New(slog.DiscardHandler), f.Clock.Now, channel.Options{})
	agents := agent.New(f.Store, f.Authz, f.Audit, f.Clock.Now)
	name := "Support"
	for _, tn := range []string{f.TenantA, f.TenantB} {
		owner := f.As(tn, authz.Owner)
		if _, err := agents.Create(ctx, owner, agent.Input{AgentID: "support", Name: &name}); err != nil {
			t.Fatal(err)
		}
		c, err := w.secrets.Create(ctx, owner, "webhook-secret", "token", signingSecret)
		if err != nil {
			t.Fatal(err)
		}
		if tn == f.TenantA {
			w.secretA = c.ID
		} else {
			w.secretB = c.ID
		}
	}
	return w
}

func kind(err error) apperr.Kind {
	if e, ok := apperr.As(err); ok {
		return e.Kind
	}
	return -1
}

func (w *world) webhook(t *testing.T, tenantID string) store.ChannelAccount {
	t.Helper()
	secret := map[string]string{w.TenantA: w.secretA, w.TenantB: w.secretB}[tenantID]
	a, err := w.s.CreateAccount(ctx, w.As(tenantID, authz.Admin), channel.AccountInput{Channel: channel.Webhook,
		AccountID: "crm-hook", AgentID: "support", SecretCredentialID: secret})
	if err != nil {
		t.Fatal(err)
	}
	return a
}

func TestAccountLifecycle(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	admin := w.As(w.TenantA, authz.Admin)
	a := w.webhook(t, w.TenantA)
	if a.TenantID != w.TenantA || a.Channel != channel.Webhook || a.AgentID != "support" || a.CreatedBy != admin.UserID || !a.CreatedAt.Equal(servicetest.Start) {
		t.Fatalf("created %+v", a)
	}
	viewer := w.As(w.TenantA, authz.Viewer)
	if got, err := w.s.GetAccount(ctx, viewer, a.ID); err != nil || got != a {
		t.Fatalf("get %+v %v", got, err)
	}
	widget, err := w.s.CreateAccount(ctx, admin, channel.AccountInput{Channel: channel.WebChat, AccountID: "site", AgentID: "support"})
	if err != nil {
		t.Fatal(err)
	}
	if list, total, err := w.s.ListAccounts(ctx, viewer, store.Page{Page: 1, PageSize: 10}); err != nil || total != 2 || len(list) != 2 {
		t.Fatalf("list %d of %d %v", len(list), total, err)
	}
	if _, err := w.s.CreateAccount(ctx, admin, channel.AccountInput{Channel: channel.Webhook, AccountID: "crm-hook", AgentID: "support", SecretCredentialID: w.secretA}); kind(err) != apperr.Conflict {
		t.Fatalf("same accountId twice: %v", err)
	}
	if err := w.s.DeleteAccount(ctx, admin, widget.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := w.s.GetAccount(ctx, viewer, widget.ID); !errors.Is(err, channel.ErrAccountNotFound) {
		t.Fatalf("get after delete: %v", err)
	}
	if err := w.s.DeleteAccount(ctx, admin, widget.ID); !errors.Is(err, channel.ErrAccountNotFound) {
		t.Fatalf("delete twice: %v", err)
	}
	var got []string
	for _, e := range w.Entries(w.TenantA, "") {
		if e.Action != string(audit.ChannelAccountCreated) && e.Action != string(audit.ChannelAccountDeleted) {
			continue
		}
		o, _ := e.Details["outcome"].(string)
		got = append(got, e.Action+":"+e.Details["accountId"].(string)+":"+o)
		if e.ActorID != admin.UserID || e.AgentID != "support" || e.Details["channelAccountId"] == "" || e.Details["channel"] == "" {
			t.Errorf("entry %+v %v", e.AuditEntry, e.Details)
		}
	}
	// The duplicate's entry is followed by its failed outcome.
	want := []string{string(audit.ChannelAccountCreated) + ":crm-hook:", string(audit.ChannelAccountCreated) + ":site:",
		string(audit.ChannelAccountCreated) + ":crm-hook:", string(audit.ChannelAccountCreated) + ":crm-hook:failed", string(audit.ChannelAccountDeleted) + ":site:"}
	if !slices.Equal(got, want) {
		t.Fatalf("entries %v, want %v", got, want)
	}
}

func TestAccountValidation(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	admin := w.As(w.TenantA, authz.Admin)
	for _, c := range []struct {
		name  string
		in    channel.AccountInput
		kind  apperr.Kind
		field string // of an invalid request; the message of a missing one
	}{
		{"unknown channel", channel.AccountInput{Channel: "Carrier", AccountID: "x", AgentID: "support", SecretCredentialID: w.secretA}, apperr.Invalid, "channel"},
		{"accountId", channel.AccountInput{Channel: channel.Webhook, AccountID: "X Y", AgentID: "support", SecretCredentialID: w.secretA}, apperr.Invalid, "accountId"},
		{"agentId", channel.AccountInput{Channel: channel.Webhook, AccountID: "x", AgentID: "../support", SecretCredentialID: w.secretA}, apperr.Invalid, "agentId"},
		{"secret missing", channel.AccountInput{Channel: channel.Webhook, AccountID: "x", AgentID: "support"}, apperr.Invalid, "secretCredentialId"},
		{"secret malformed", channel.AccountInput{Channel: channel.Webhook, AccountID: "x", AgentID: "support", SecretCredentialID: "' OR 1=1"}, apperr.Invalid, "secretCredentialId"},
		{"widget with a secret", channel.AccountInput{Channel: channel.WebChat, AccountID: "x", AgentID: "support", SecretCredentialID: w.secretA}, apperr.Invalid, "secretCredentialId"},
		{"telegram without a token", channel.AccountInput{Channel: channel.Telegram, AccountID: "x", AgentID: "support", SecretCredentialID: w.secretA}, apperr.Invalid, "tokenCredentialId"},
		{"another tenant's secret", channel.AccountInput{Channel: channel.Webhook, AccountID: "x", AgentID: "support", SecretCredentialID: w.secretB}, apperr.NotFound, "secret credential not found"},
		{"unknown secret", channel.AccountInput{Channel: channel.Webhook, AccountID: "x", AgentID: "support", SecretCredentialID: "00000000-0000-4000-8000-000000000000"}, apperr.NotFound, "secret credential not found"},
	} {
		_, err := w.s.CreateAccount(ctx, admin, c.in)
		e, ok := apperr.As(err)
		if !ok || e.Kind != c.kind || (c.kind == apperr.Invalid && e.Field != c.field) || (c.kind == apperr.NotFound && e.Message != c.field) {
			t.Errorf("%s: %v", c.name, err)
		}
	}
	if _, total, _ := w.s.ListAccounts(ctx, admin, store.Page{Page: 1, PageSize: 10}); total != 0 {
		t.Fatalf("%d accounts stored by refused requests", total)
	}
	if es := w.Entries(w.TenantA, audit.ChannelAccountCreated); len(es) != 0 {
		t.Fatalf("refused requests recorded: %d", len(es))
	}
	// An agent that does not exist is found out by the store, after the
	// entry: the failed outcome follows.
	if _, err := w.s.CreateAccount(ctx, admin, channel.AccountInput{Channel: channel.Webhook, AccountID: "x", AgentID: "nobody", SecretCredentialID: w.secretA}); kind(err) != apperr.NotFound {
		t.Fatalf("unknown agent: %v", err)
	}
	es := w.Entries(w.TenantA, audit.ChannelAccountCreated)
	if len(es) != 2 || es[1].Details["outcome"] != "failed" {
		t.Fatalf("unknown agent's entries %+v", es)
	}
}

// TestAccountRBAC: Owners and Admins configure channels; every role reads.
func TestAccountRBAC(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	a := w.webhook(t, w.TenantA)
	for _, role := range authz.Roles {
		p := w.As(w.TenantA, role)
		configures := role == authz.Owner || role == authz.Admin
		before := len(w.Entries(w.TenantA, audit.PermissionDenied))
		_, err := w.s.CreateAccount(ctx, p, channel.AccountInput{Channel: channel.WebChat, AccountID: "by-" + string(role), AgentID: "support"})
		if configures != (err == nil) || (!configures && !errors.Is(err, authz.ErrDenied)) {
			t.Errorf("%s create: %v", role, err)
		}
		if err := w.s.DeleteAccount(ctx, p, a.ID); !configures && !errors.Is(err, authz.ErrDenied) {
			t.Errorf("%s delete: %v", role, err)
		} else if configures {
			if err != nil {
				t.Errorf("%s delete: %v", role, err)
			}
			a = w.webhook(t, w.TenantA)
		}
		if denied := w.Entries(w.TenantA, audit.PermissionDenied); configures != (len(denied) == before) ||
			(!configures && (len(denied) != before+2 || denied[len(denied)-1].ActorID != p.UserID || denied[len(denied)-1].Details["resource"] != "channels")) {
			t.Errorf("%s: %d new denials", role, len(denied)-before)
		}
		if _, err := w.s.GetAccount(ctx, p, a.ID); err != nil {
			t.Errorf("%s get: %v", role, err)
		}
		if _, _, err := w.s.ListAccounts(ctx, p, store.Page{Page: 1, PageSize: 10}); err != nil {
			t.Errorf("%s list: %v", role, err)
		}
	}
}

// TestAccountCrossTenant: another tenant's account is not found.
func TestAccountCrossTenant(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	a := w.webhook(t, w.TenantA)
	ownerB := w.As(w.TenantB, authz.Owner)
	if _, err := w.s.GetAccount(ctx, ownerB, a.ID); !errors.Is(err, channel.ErrAccountNotFound) {
		t.Fatalf("get: %v", err)
	}
	if err := w.s.DeleteAccount(ctx, ownerB, a.ID); !errors.Is(err, channel.ErrAccountNotFound) {
		t.Fatalf("delete: %v", err)
	}
	if _, total, _ := w.s.ListAccounts(ctx, ownerB, store.Page{Page: 1, PageSize: 10}); total != 0 {
		t.Fatalf("B lists %d accounts", total)
	}
	if _, err := w.s.GetAccount(ctx, w.As(w.TenantA, authz.Viewer), a.ID); err != nil {
		t.Fatalf("A's account after B's attempts: %v", err)
	}
}

// TestWebhookDelivery: a signed delivery reaches the account's agent as an
// Operator-level channel principal of the account's tenant; a bad, stale
// or replayed one, or one for an account of another channel, never does,
// and its refusal is recorded with the reason; an unknown account learns
// nothing more.
func TestWebhookDelivery(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	a := w.webhook(t, w.TenantA)
	ts := strconv.FormatInt(w.Clock.Now().Unix(), 10)
	body := []byte(`{"senderId":"cust-1","text":"hello","displayName":"Customer","messageId":"m-1"}`)
	d := channel.Delivery{AccountID: a.ID, Timestamp: ts, Signature: channel.Sign([]byte(signingSecret), ts, body), Body: body}
	reply, err := w.s.ReceiveWebhook(ctx, d)
	if err != nil || reply.Text != "answer to hello" {
		t.Fatalf("delivery: %+v %v", reply, err)
	}
	if len(w.dispatched) != 1 {
		t.Fatalf("%d dispatched", len(w.dispatched))
	}
	got := w.dispatched[0]
	if got.p.TenantID != w.TenantA || got.p.UserID != "channel:"+a.ID || got.p.Role != authz.Operator ||
		got.m.Channel != channel.Webhook || got.m.ChannelAccountID != "crm-hook" || got.m.SenderID != "cust-1" || got.m.MessageID != "m-1" {
		t.Fatalf("dispatched %+v", got)
	}
	refused := func(what string, d channel.Delivery, reason string) {
		t.Helper()
		before := len(w.Entries(w.TenantA, audit.WebhookRejected))
		if _, err := w.s.ReceiveWebhook(ctx, d); !errors.Is(err, channel.ErrUnauthorized) {
			t.Errorf("%s: %v", what, err)
		}
		es := w.Entries(w.TenantA, audit.WebhookRejected)
		if reason == "" {
			if len(es) != before {
				t.Errorf("%s: recorded", what)
			}
			return
		}
		if len(es) != before+1 || es[len(es)-1].Details["reason"] != reason || es[len(es)-1].AgentID != "support" {
			t.Errorf("%s: entries %+v", what, es[before:])
		}
	}
	refused("replay", d, "replayed delivery")
	other := []byte(`{"senderId":"cust-1","text":"transfer everything"}`)
	refused("body changed", channel.Delivery{AccountID: a.ID, Timestamp: ts, Signature: d.Signature, Body: other}, channel.ErrBadSignature.Error())
	refused("no signature", channel.Delivery{AccountID: a.ID, Timestamp: ts, Body: other}, channel.ErrNoSignature.Error())
	refused("signed with another secret", channel.Delivery{AccountID: a.ID, Timestamp: ts, Signature: channel.Sign([]byte("guess"), ts, other), Body: other}, channel.ErrBadSignature.Error())
	old := strconv.FormatInt(w.Clock.Now().Add(-channel.ReplayWindow-time.Second).Unix(), 10)
	refused("stale", channel.Delivery{AccountID: a.ID, Timestamp: old, Signature: channel.Sign([]byte(signingSecret), old, other), Body: other}, channel.ErrStale.Error())
	refused("unknown account", channel.Delivery{AccountID: "00000000-0000-4000-8000-000000000000", Timestamp: ts, Signature: channel.Sign([]byte(signingSecret), ts, other), Body: other}, "")
	refused("malformed account", channel.Delivery{AccountID: "../" + a.ID, Timestamp: ts, Signature: channel.Sign([]byte(signingSecret), ts, other), Body: other}, "")
	widget, err := w.s.CreateAccount(ctx, w.As(w.TenantA, authz.Admin), channel.AccountInput{Channel: channel.WebChat, AccountID: "site", AgentID: "support"})
	if err != nil {
		t.Fatal(err)
	}
	refused("a WebChat account's URL", channel.Delivery{AccountID: widget.ID, Timestamp: ts, Signature: channel.Sign([]byte(signingSecret), ts, other), Body: other},
		"delivery for a Webhook account that is a WebChat account")
	if len(w.dispatched) != 1 {
		t.Fatalf("refused deliveries reached the agent: %+v", w.dispatched[1:])
	}
	// A signed body that is not a message is refused as invalid, after the
	// signature (so it was recorded as seen).
	bad := []byte(`{"senderId":"x","text":"hi","admin":true}`)
	if _, err := w.s.ReceiveWebhook(ctx, channel.Delivery{AccountID: a.ID, Timestamp: ts, Signature: channel.Sign([]byte(signingSecret), ts, bad), Body: bad}); kind(err) != apperr.Invalid {
		t.Fatalf("unknown field: %v", err)
	}
	if !strings.Contains(w.Entries(w.TenantA, audit.WebhookRejected)[0].ActorID, a.ID) {
		t.Fatal("rejection entries do not name the account")
	}
}

// TestAccountChangesRecordTheAPIKey: a channel account created and deleted
// with an API key is attributed to the key, as every other service's
// changes are (the channel service used to leave apiKeyId out); without a
// key there is no apiKeyId.
func TestAccountChangesRecordTheAPIKey(t *testing.T) {
	w := newWorld(t)
	admin := w.As(w.TenantA, authz.Admin)
	admin.APIKeyID = "key-1"
	a, err := w.s.CreateAccount(ctx, admin, channel.AccountInput{Channel: channel.WebChat, AccountID: "site", AgentID: "support"})
	if err != nil {
		t.Fatal(err)
	}
	if err := w.s.DeleteAccount(ctx, admin, a.ID); err != nil {
		t.Fatal(err)
	}
	base := map[string]any{"channelAccountId": a.ID, "channel": channel.WebChat, "accountId": "site", "apiKeyId": "key-1"}
	for _, action := range []audit.Action{audit.ChannelAccountCreated, audit.ChannelAccountDeleted} {
		got := w.Entries(w.TenantA, action)
		if len(got) != 1 {
			t.Fatalf("%s entries: %+v, want 1", action, got)
		}
		e := got[0]
		if e.ActorID != admin.UserID || e.AgentID != "support" || !reflect.DeepEqual(e.Details, base) {
			t.Errorf("%s entry: %+v %v, want details %v", action, e.AuditEntry, e.Details, base)
		}
	}
	owner := w.As(w.TenantA, authz.Owner)
	if _, err := w.s.CreateAccount(ctx, owner, channel.AccountInput{Channel: channel.WebChat, AccountID: "shop", AgentID: "support"}); err != nil {
		t.Fatal(err)
	}
	got := w.Entries(w.TenantA, audit.ChannelAccountCreated)
	if len(got) != 2 || got[1].Details["apiKeyId"] != nil || got[1].ActorID != owner.UserID {
		t.Fatalf("created by a signed-in owner: %+v", got)
	}
}
