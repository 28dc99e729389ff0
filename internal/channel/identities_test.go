package channel_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"

	"github.com/komand-ai/komand/internal/apperr"
	"github.com/komand-ai/komand/internal/audit"
	"github.com/komand-ai/komand/internal/authz"
	"github.com/komand-ai/komand/internal/channel"
	"github.com/komand-ai/komand/internal/store"
)

// platforms answers every Slack and Telegram Web API call with ok.
func (w *world) withPlatforms(t *testing.T) {
	t.Helper()
	api := httptest.NewServer(http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		rw.Header().Set("Content-Type", "application/json")
		_, _ = io.WriteString(rw, `{"ok":true,"result":{}}`)
	}))
	t.Cleanup(api.Close)
	w.s = channel.NewService(w.Store, w.secrets, w.Authz, w.Audit, func(_ context.Context, p authz.Principal, m channel.InboundMessage) (channel.Reply, error) {
		w.mu.Lock()
		defer w.mu.Unlock()
		w.dispatched = append(w.dispatched, dispatched{p, m})
		return channel.Reply{Text: "answer to " + m.Text}, nil
	}, slog.New(slog.DiscardHandler), w.Clock.Now, channel.Options{TelegramAPI: api.URL, SlackAPI: api.URL})
}

func (w *world) platformAccount(t *testing.T, tenantID, ch string) store.ChannelAccount {
	t.Helper()
	secret := map[string]string{w.TenantA: w.secretA, w.TenantB: w.secretB}[tenantID]
	a, err := w.s.CreateAccount(ctx, w.As(tenantID, authz.Admin), channel.AccountInput{Channel: ch,
		AccountID: "acct-" + strings.ToLower(ch), AgentID: "support", SecretCredentialID: secret, TokenCredentialID: secret})
	if err != nil {
		t.Fatal(err)
	}
	return a
}

// TestIdentityMapping: only an Owner or Admin maps, lists and unmaps; a
// mapping names a Slack or Telegram user ID of the account's channel and
// an active user of the same tenant; each change is audited.
func TestIdentityMapping(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	admin := w.As(w.TenantA, authz.Admin)
	member := w.As(w.TenantA, authz.Operator)
	slack := w.platformAccount(t, w.TenantA, channel.Slack)
	tg := w.platformAccount(t, w.TenantA, channel.Telegram)
	hook := w.webhook(t, w.TenantA)

	for _, role := range []authz.Role{authz.Operator, authz.Viewer} {
		p := w.As(w.TenantA, role)
		if _, err := w.s.MapIdentity(ctx, p, slack.ID, channel.IdentityInput{ExternalID: "U0001", UserID: p.UserID}); !errors.Is(err, authz.ErrDenied) {
			t.Errorf("%s maps itself: %v", role, err)
		}
		if _, err := w.s.ListIdentities(ctx, p, slack.ID); !errors.Is(err, authz.ErrDenied) {
			t.Errorf("%s lists: %v", role, err)
		}
		if err := w.s.UnmapIdentity(ctx, p, slack.ID, "U0001"); !errors.Is(err, authz.ErrDenied) {
			t.Errorf("%s unmaps: %v", role, err)
		}
	}

	deactivated := w.As(w.TenantA, authz.Viewer)
	if _, err := w.Store.DeactivateUser(ctx, w.TenantA, deactivated.UserID, w.Clock.Now()); err != nil {
		t.Fatal(err)
	}
	for name, c := range map[string]struct {
		account string
		in      channel.IdentityInput
		want    apperr.Kind
	}{
		"a webhook account":      {hook.ID, channel.IdentityInput{ExternalID: "U0001", UserID: member.UserID}, apperr.Invalid},
		"not a Slack user ID":    {slack.ID, channel.IdentityInput{ExternalID: "u0001", UserID: member.UserID}, apperr.Invalid},
		"a Slack bot ID":         {slack.ID, channel.IdentityInput{ExternalID: "B0001", UserID: member.UserID}, apperr.Invalid},
		"a Telegram name":        {tg.ID, channel.IdentityInput{ExternalID: "ada", UserID: member.UserID}, apperr.Invalid},
		"a Telegram leading 0":   {tg.ID, channel.IdentityInput{ExternalID: "042", UserID: member.UserID}, apperr.Invalid},
		"a negative Telegram ID": {tg.ID, channel.IdentityInput{ExternalID: "-42", UserID: member.UserID}, apperr.Invalid},
		"no user":                {slack.ID, channel.IdentityInput{ExternalID: "U0001"}, apperr.Invalid},
		"an unknown user":        {slack.ID, channel.IdentityInput{ExternalID: "U0001", UserID: "00000000-0000-4000-8000-000000000000"}, apperr.NotFound},
		"another tenant's user":  {slack.ID, channel.IdentityInput{ExternalID: "U0001", UserID: w.As(w.TenantB, authz.Owner).UserID}, apperr.NotFound},
		"a deactivated user":     {slack.ID, channel.IdentityInput{ExternalID: "U0001", UserID: deactivated.UserID}, apperr.Invalid},
		"an unknown account":     {"00000000-0000-4000-8000-000000000001", channel.IdentityInput{ExternalID: "U0001", UserID: member.UserID}, apperr.NotFound},
	} {
		if _, err := w.s.MapIdentity(ctx, admin, c.account, c.in); kind(err) != c.want {
			t.Errorf("%s: %v, want kind %v", name, err, c.want)
		}
	}
	// Another tenant's Owner cannot see A's account.
	if _, err := w.s.MapIdentity(ctx, w.As(w.TenantB, authz.Owner), slack.ID, channel.IdentityInput{ExternalID: "U0001",
		UserID: w.As(w.TenantB, authz.Owner).UserID}); !errors.Is(err, channel.ErrAccountNotFound) {
		t.Errorf("B maps on A's account: %v", err)
	}
	if l, _ := w.s.ListIdentities(ctx, admin, slack.ID); len(l) != 0 {
		t.Fatalf("refused mappings were stored: %+v", l)
	}

	i, err := w.s.MapIdentity(ctx, admin, slack.ID, channel.IdentityInput{ExternalID: "U0001", UserID: member.UserID})
	if err != nil || i.UserID != member.UserID || i.CreatedBy != admin.UserID {
		t.Fatalf("map: %+v %v", i, err)
	}
	if _, err := w.s.MapIdentity(ctx, admin, slack.ID, channel.IdentityInput{ExternalID: "U0001", UserID: admin.UserID}); kind(err) != apperr.Conflict {
		t.Fatalf("remap without unmapping: %v", err)
	}
	if _, err := w.s.MapIdentity(ctx, admin, tg.ID, channel.IdentityInput{ExternalID: "42", UserID: admin.UserID}); err != nil {
		t.Fatal(err)
	}
	if l, err := w.s.ListIdentities(ctx, admin, slack.ID); err != nil || len(l) != 1 || l[0].ExternalID != "U0001" {
		t.Fatalf("list: %+v %v", l, err)
	}
	if err := w.s.UnmapIdentity(ctx, admin, slack.ID, "U0001"); err != nil {
		t.Fatal(err)
	}
	if err := w.s.UnmapIdentity(ctx, admin, slack.ID, "U0001"); !errors.Is(err, channel.ErrIdentityNotFound) {
		t.Fatalf("unmap twice: %v", err)
	}
	mapped := w.Entries(w.TenantA, audit.ChannelIdentityMapped)
	unmapped := w.Entries(w.TenantA, audit.ChannelIdentityUnmapped)
	if len(mapped) != 2 || mapped[0].ActorID != admin.UserID || mapped[0].Details["externalId"] != "U0001" ||
		mapped[0].Details["userId"] != member.UserID || mapped[0].Details["role"] != "operator" || mapped[0].Details["channelAccountId"] != slack.ID {
		t.Fatalf("mapped entries: %+v", mapped)
	}
	if len(unmapped) != 1 || unmapped[0].Details["externalId"] != "U0001" || unmapped[0].Details["userId"] != member.UserID {
		t.Fatalf("unmapped entries: %+v", unmapped)
	}
}

// TestAccountSettingsValidation: slackTeamId only on Slack accounts, in
// Slack's format; a change is audited with its previous value.
func TestAccountSettingsValidation(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	admin := w.As(w.TenantA, authz.Admin)
	slack := w.platformAccount(t, w.TenantA, channel.Slack)
	tg := w.platformAccount(t, w.TenantA, channel.Telegram)
	str := func(s string) *string { return &s }
	for name, c := range map[string]struct {
		id string
		u  channel.AccountUpdate
	}{
		"a team on Telegram": {tg.ID, channel.AccountUpdate{SlackTeamID: str("T0001")}},
		"a malformed team":   {slack.ID, channel.AccountUpdate{SlackTeamID: str("team-1")}},
		"a user as team":     {slack.ID, channel.AccountUpdate{SlackTeamID: str("U0001")}},
	} {
		if _, err := w.s.UpdateAccount(ctx, admin, c.id, c.u); kind(err) != apperr.Invalid {
			t.Errorf("%s: %v", name, err)
		}
	}
	if _, err := w.s.UpdateAccount(ctx, w.As(w.TenantA, authz.Operator), slack.ID, channel.AccountUpdate{SlackTeamID: str("T0001")}); !errors.Is(err, authz.ErrDenied) {
		t.Fatalf("operator sets the team: %v", err)
	}
	a, err := w.s.UpdateAccount(ctx, admin, slack.ID, channel.AccountUpdate{SlackTeamID: str("T0001")})
	if err != nil || a.SlackTeamID != "T0001" {
		t.Fatalf("update: %+v %v", a, err)
	}
	if a, err := w.s.UpdateAccount(ctx, admin, slack.ID, channel.AccountUpdate{SlackTeamID: str("")}); err != nil || a.SlackTeamID != "" {
		t.Fatalf("clear: %+v %v", a, err)
	}
	ev := w.Entries(w.TenantA, audit.ChannelAccountUpdated)
	if len(ev) != 2 || ev[0].Details["slackTeamId"] != "T0001" || fmt.Sprint(ev[0].Details["previous"]) != "map[slackTeamId:]" ||
		ev[1].Details["slackTeamId"] != "" || fmt.Sprint(ev[1].Details["previous"]) != "map[slackTeamId:T0001]" {
		t.Fatalf("audit: %+v", ev)
	}
}

// TestMappedSenders: a Telegram update's from.id and a Slack event's user
// (in the account's team) act as the mapped Komand user, with that user's
// current role, not public and not the account's actor; an unmapped or
// deactivated user, a member of another team, or a mapping on another
// account stays the account's channel actor (Telegram: public).
func TestMappedSenders(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	w.withPlatforms(t)
	admin := w.As(w.TenantA, authz.Admin)
	operator := w.As(w.TenantA, authz.Operator)
	viewer := w.As(w.TenantA, authz.Viewer)
	slack := w.platformAccount(t, w.TenantA, channel.Slack)
	tg := w.platformAccount(t, w.TenantA, channel.Telegram)
	mapTo := func(a store.ChannelAccount, ext, user string) {
		t.Helper()
		if _, err := w.s.MapIdentity(ctx, admin, a.ID, channel.IdentityInput{ExternalID: ext, UserID: user}); err != nil {
			t.Fatal(err)
		}
	}
	mapTo(tg, "42", operator.UserID)
	mapTo(tg, "43", viewer.UserID)
	mapTo(slack, "U0OPERATOR", operator.UserID)
	mapTo(slack, "U0ADMIN", admin.UserID)
	if _, err := w.Store.DeactivateUser(ctx, w.TenantA, viewer.UserID, w.Clock.Now()); err != nil {
		t.Fatal(err)
	}
	str := func(s string) *string { return &s }
	if _, err := w.s.UpdateAccount(ctx, admin, slack.ID, channel.AccountUpdate{SlackTeamID: str("T0ACME")}); err != nil {
		t.Fatal(err)
	}

	update := 0
	telegram := func(from int64) authz.Principal {
		t.Helper()
		update++
		body := fmt.Sprintf(`{"update_id":%d,"message":{"message_id":%d,"date":%d,"text":"hi","from":{"id":%d,"first_name":"A"},"chat":{"id":%d}}}`,
			update, update, w.Clock.Now().Unix(), from, from)
		if err := w.s.ReceiveTelegram(ctx, channel.TelegramDelivery{AccountID: tg.ID, Secret: signingSecret, Body: []byte(body)}); err != nil {
			t.Fatal(err)
		}
		return w.lastDispatched(t).p
	}
	event := 0
	slackMsg := func(user, team, userTeam string) authz.Principal {
		t.Helper()
		event++
		body := fmt.Sprintf(`{"type":"event_callback","team_id":%q,"event_id":"Ev%d","event":{"type":"message","user":%q,"user_team":%q,"text":"hi","channel":"C1","ts":"1.%d"}}`,
			team, event, user, userTeam, event)
		ts := strconv.FormatInt(w.Clock.Now().Unix(), 10)
		if _, err := w.s.ReceiveSlack(ctx, channel.SlackDelivery{AccountID: slack.ID, Timestamp: ts,
			Signature: channel.SlackSign([]byte(signingSecret), ts, []byte(body)), Body: []byte(body)}); err != nil {
			t.Fatal(err)
		}
		return w.lastDispatched(t).p
	}
	user := func(u authz.Principal) authz.Principal {
		return authz.Principal{TenantID: u.TenantID, UserID: u.UserID, Email: u.Email, Name: u.Name, Role: u.Role}
	}
	tgActor := authz.Principal{TenantID: w.TenantA, UserID: channel.AccountActor(tg.ID), Role: authz.Operator, Public: true}
	slackActor := authz.Principal{TenantID: w.TenantA, UserID: channel.AccountActor(slack.ID), Role: authz.Operator}
	for name, c := range map[string]struct {
		got, want authz.Principal
	}{
		"a mapped Telegram user":        {telegram(42), user(operator)},
		"an unmapped Telegram user":     {telegram(44), tgActor},
		"a deactivated mapped user":     {telegram(43), tgActor},
		"a mapped Slack member":         {slackMsg("U0OPERATOR", "T0ACME", ""), user(operator)},
		"a mapped Slack Admin":          {slackMsg("U0ADMIN", "T0ACME", "T0ACME"), user(admin)},
		"an unmapped Slack member":      {slackMsg("U0OTHER", "T0ACME", ""), slackActor},
		"the mapped ID in another team": {slackMsg("U0ADMIN", "T0EVIL", ""), slackActor},
		"a Slack Connect guest":         {slackMsg("U0ADMIN", "T0ACME", "T0EVIL"), slackActor},
		"a Slack event naming no team":  {slackMsg("U0ADMIN", "", ""), slackActor},
	} {
		if c.got != c.want {
			t.Errorf("%s: principal %+v, want %+v", name, c.got, c.want)
		}
	}

	// The role is the user's current one, read at every message.
	if _, err := w.Store.SetUserRole(ctx, w.TenantA, operator.UserID, "viewer", w.Clock.Now()); err != nil {
		t.Fatal(err)
	}
	if p := telegram(42); p.Role != authz.Viewer || p.UserID != operator.UserID {
		t.Fatalf("after a demotion: %+v", p)
	}
	// Unmapped: a channel actor again.
	if err := w.s.UnmapIdentity(ctx, admin, tg.ID, "42"); err != nil {
		t.Fatal(err)
	}
	if p := telegram(42); p != tgActor {
		t.Fatalf("after unmapping: %+v", p)
	}
}

func (w *world) lastDispatched(t *testing.T) dispatched {
	t.Helper()
	w.s.Wait()
	w.mu.Lock()
	defer w.mu.Unlock()
	if len(w.dispatched) == 0 {
		t.Fatal("nothing dispatched")
	}
	d := w.dispatched[len(w.dispatched)-1]
	w.dispatched = nil
	return d
}
