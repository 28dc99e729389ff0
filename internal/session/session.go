// Package session runs Komand's message flow (product.md, "Message flow"):
// an InboundMessage from any channel finds or creates its session
// {Channel}:{Account}:{Sender}, is checked against the session's channel,
// and is handled one at a time per session, in arrival order; the bound
// agent answers (Runner: system prompt + history → model → tools → …) and
// the new turns are appended to the history.
//
// Ordering: within a process a FIFO lock per session key; across replicas
// the store's LockSession (a PostgreSQL advisory lock). Both are taken
// before the session is looked up, so two first messages cannot create two
// sessions.
//
// Nothing is lost: the user's turn is stored before the model is called, so
// a provider outage fails the request with a clear error but keeps the
// message in the history; the agent's turns are stored together once the
// turn is done.
//
// Authorization is the RBAC table's: sending needs messages:create (Operator
// and up), reading sessions and history sessions:read (every role), ending a
// session sessions:update (Admin and up). Audit: SessionCreated,
// MessageReceived, MessageSent, SessionEnded (by a user or on idle expiry),
// plus what the runner records for tools.
package session

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/google/uuid"

	"github.com/komand-ai/komand/internal/apperr"
	"github.com/komand-ai/komand/internal/audit"
	"github.com/komand-ai/komand/internal/authz"
	"github.com/komand-ai/komand/internal/channel"
	"github.com/komand-ai/komand/internal/injection"
	"github.com/komand-ai/komand/internal/ratelimit"
	"github.com/komand-ai/komand/internal/requestid"
	"github.com/komand-ai/komand/internal/store"
	"github.com/komand-ai/komand/internal/validate"
)

// Limits on inbound messages.
const (
	MaxTextChars     = 10_000
	MaxSenderIDLen   = 256
	MaxDisplayName   = 256
	MaxMetadataKeys  = 32
	MaxMetadataValue = 1024
	// DefaultAgentID is the agent a channel account without its own
	// binding talks to.
	DefaultAgentID = "default"
	// historyTurns bounds the turns loaded for one model call before
	// trimming to the agent's context size.
	historyTurns = 200
)

// Options configure a Service.
type Options struct {
	ChatLimit   int           // messages per window and sender; 0 uses 30
	ChatWindow  time.Duration // 0 uses 60 s
	IdleTimeout time.Duration // 0 disables idle expiry
	// MaxActiveSessions is the per-tenant quota of sessions not yet ended
	// (Limits:MaxActiveSessions); 0 uses DefaultMaxActiveSessions.
	MaxActiveSessions int
	Now               func() time.Time
	Logger            *slog.Logger
	// Guard screens messages and tool outputs for prompt injection (nil:
	// no screening; the deterministic controls apply regardless).
	Guard *Guard
}

// Service handles messages and serves sessions.
type Service struct {
	st      store.Store
	authz   *authz.Authorizer
	audit   audit.Recorder
	limiter ratelimit.Limiter
	runner  *Runner
	locks   *keyLock
	opts    Options
	// notifier announces opened reviews (SetReviewNotifier).
	notifier ReviewNotifier
	log      *slog.Logger
}

// New returns a Service.
func New(st store.Store, az *authz.Authorizer, rec audit.Recorder, lim ratelimit.Limiter, runner *Runner, opts Options) *Service {
	if opts.ChatLimit <= 0 {
		opts.ChatLimit = 30
	}
	if opts.ChatWindow <= 0 {
		opts.ChatWindow = 60 * time.Second
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.MaxActiveSessions <= 0 {
		opts.MaxActiveSessions = DefaultMaxActiveSessions
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	return &Service{st: st, authz: az, audit: rec, limiter: lim, runner: runner, locks: newKeyLock(),
		opts: opts, log: opts.Logger}
}

// DefaultMaxActiveSessions is the per-tenant quota of active sessions
// unless Options sets another.
const DefaultMaxActiveSessions = 10_000

// ErrNotFound is a session the caller cannot see.
var ErrNotFound = apperr.New(apperr.NotFound, "session not found")

func notFound(err error) error {
	if errors.Is(err, store.ErrNotFound) {
		return ErrNotFound
	}
	return err
}

// validateMessage checks an inbound message's fields.
func validateMessage(m *channel.InboundMessage) error {
	if err := validate.Text("senderId", m.SenderID, MaxSenderIDLen); err != nil {
		return err
	}
	if err := validate.Line("senderId", m.SenderID); err != nil {
		return err
	}
	if err := validate.Text("text", m.Text, MaxTextChars); err != nil {
		return err
	}
	if err := validate.First(validate.MaxLen("displayName", m.SenderDisplayName, MaxDisplayName),
		validate.Line("displayName", m.SenderDisplayName)); err != nil {
		return err
	}
	// The account ID may not contain ':' so that a session key splits into
	// channel, account and sender one way only.
	if err := validate.Text("accountId", m.ChannelAccountID, validate.MaxIDLen); err != nil {
		return err
	}
	if strings.ContainsAny(m.ChannelAccountID, ":\x00\r\n\t ") {
		return apperr.Field("accountId", "must not contain ':', spaces or control characters")
	}
	if len(m.Metadata) > MaxMetadataKeys {
		return apperr.Field("metadata", "must have at most 32 keys")
	}
	for k, v := range m.Metadata {
		if err := validate.First(validate.Text("metadata", k, validate.MaxIDLen),
			validate.MaxLen("metadata", v, MaxMetadataValue)); err != nil {
			return err
		}
	}
	return nil
}

// Hooks let a streaming channel follow a turn. OnStart is called once the
// message has been accepted (validated, authorised, within its rate limit,
// its session found) and before the agent runs, so errors before it can
// still be answered as a plain error response; OnDelta receives the reply's
// text as the model streams it.
type Hooks struct {
	OnStart func()
	OnDelta func(string)
}

// Handle processes one inbound message from p and returns the agent's
// reply. sessionID, when not empty, names the session the caller means to
// continue: it must be the active session of the message's key (a session
// of another channel is refused).
func (s *Service) Handle(ctx context.Context, p authz.Principal, m channel.InboundMessage, sessionID string, hooks Hooks) (channel.Reply, error) {
	if err := validateMessage(&m); err != nil {
		return channel.Reply{}, err
	}
	if err := s.authz.Check(ctx, p, authz.Create, authz.Messages, authz.Target{SessionID: sessionID}); err != nil {
		return channel.Reply{}, err
	}
	if err := s.chatLimit(ctx, p.TenantID, m); err != nil {
		return channel.Reply{}, err
	}
	if m.MessageID == "" {
		m.MessageID = uuid.NewString()
	}
	now := s.opts.Now().UTC().Truncate(time.Microsecond)
	if m.Timestamp.IsZero() {
		m.Timestamp = now
	}
	key := m.SessionKey()

	unlock, err := s.lockKey(ctx, p.TenantID, key)
	if err != nil {
		return channel.Reply{}, err
	}
	// Everything the turn writes is durable before Handle returns, so the
	// session's next message may start once the locks are released; the
	// release (a round trip to PostgreSQL) need not delay the reply. The
	// process's own lock is released after the store's, so a next message
	// arriving here still waits for both.
	defer func() { go unlock() }()

	st, err := s.session(ctx, p, m, sessionID, now)
	if err != nil {
		return channel.Reply{}, err
	}
	if st.Agent == nil {
		return channel.Reply{}, apperr.New(apperr.NotFound, "the session's agent no longer exists")
	}
	se, ag, history := st.Session, *st.Agent, st.History
	// The turn is one unit of work: its audit entries take their place in
	// the chain as they happen, a tool's start is awaited before the tool
	// runs, and the rest are awaited together, with the agent's messages,
	// when finish commits the unit before the reply is returned.
	work := audit.NewUnit(s.audit)
	if err := s.add(ctx, work, p, audit.MessageReceived, se, map[string]any{
		"channel": m.Channel, "messageId": m.MessageID, "chars": utf8.RuneCountInString(m.Text),
	}); err != nil {
		return channel.Reply{}, err
	}
	if code, ok := parseConfirm(m.Text); ok {
		// "CONFIRM <code>" is for Komand, never for the model.
		if hooks.OnStart != nil {
			hooks.OnStart()
		}
		return s.confirm(ctx, p, work, m, se, history, code)
	}
	pol, err := s.opts.Guard.policy(ctx, p.TenantID)
	if err != nil {
		_ = work.Wait(context.WithoutCancel(ctx))
		return channel.Reply{}, err
	}
	user := store.Turn{Role: store.RoleUser, Text: m.Text, RequestID: requestid.From(ctx), CreatedAt: now}
	src := injection.SourceUser
	if se.Channel == channel.Webhook {
		src = injection.SourceExternal // another system's message, not a person's
	}
	det, detected := s.opts.Guard.screen(pol, ag.AgentID, m.Text, src)
	if detected {
		// Fail closed: a detection that cannot be recorded stops here.
		if err := work.Record(ctx, detectedEvent(p.TenantID, p.UserID, ag.AgentID, se.ID, "", det, m.Text)); err != nil {
			return channel.Reply{}, err
		}
		user.Flag = flagFor(det.dec.Action)
	}
	if hooks.OnStart != nil {
		hooks.OnStart()
	}
	if user.Flag == store.FlagBlocked || user.Flag == store.FlagHeld {
		return s.stopMessage(ctx, p, work, m, se, user, det)
	}
	// The user's turn is stored while the model thinks: it is durable
	// before anything the agent produced is appended after it, and before
	// the reply, but its commit is not on the turn's critical path.
	appended := make(chan error, 1)
	go func() {
		_, err := s.st.AppendTurns(context.WithoutCancel(ctx), p.TenantID, se.ID, []store.Turn{user})
		appended <- err
	}()

	commands, err := s.commandAccess(ctx, p, m)
	if err != nil {
		<-appended
		_ = work.Wait(context.WithoutCancel(ctx))
		return channel.Reply{}, err
	}
	out, runErr := s.runner.Turn(ctx, TurnInput{Principal: p, Agent: ag, Session: se, History: history,
		Text: m.Text, OnDelta: hooks.OnDelta, Audit: work, Guard: s.opts.Guard, Policy: pol,
		Tainted: user.Flag == store.FlagWarn, KomandUser: komandUser(p), Commands: commands})
	if err := <-appended; err != nil {
		_ = work.Wait(context.WithoutCancel(ctx))
		return channel.Reply{}, err
	}
	return s.finish(ctx, p, work, se, sentDetails(m), out, runErr)
}

// finish ends the turn's unit of work: it stores what the turn produced
// (also after a failure), opens a review when it stopped for one, records
// MessageSent and waits for the turn's audit entries.
func (s *Service) finish(ctx context.Context, p authz.Principal, work *audit.Unit, se store.Session, sent map[string]any, out TurnOutput, runErr error) (channel.Reply, error) {
	fail := func(err error) (channel.Reply, error) {
		_ = work.Wait(context.WithoutCancel(ctx))
		return channel.Reply{}, err
	}
	if runErr == nil && out.Hold == nil {
		// The usual end of a turn: the unit's writes (the agent's
		// messages) are committed with its final entry, MessageSent, in
		// the transaction that stores it and whatever of the unit is
		// still queued: one commit on the reply's path instead of two. A
		// failure stores neither and answers 500 without the reply. Like
		// the turns of a failed turn, they are stored even if the client
		// has gone away. Over a Recorder that cannot (ErrUnsupported)
		// the turns are stored below, and MessageSent after them.
		at := s.opts.Now().UTC().Truncate(time.Microsecond)
		sent["chars"], sent["iterations"], sent["stop"] = utf8.RuneCountInString(out.Reply), out.Iterations, out.Stop
		if out.Breaker != "" {
			sent["breaker"] = out.Breaker
		}
		work.AppendTurns(p.TenantID, se.ID, out.Turns)
		if !out.Usage.IsZero() {
			work.AddUsage(p.TenantID, se.ID, out.Usage)
		}
		switch err := work.Commit(context.WithoutCancel(ctx), event(p, audit.MessageSent, se, sent)); {
		case err == nil:
			return channel.Reply{SessionID: se.ID, Text: out.Reply, Timestamp: at}, nil
		case !errors.Is(err, errors.ErrUnsupported):
			return fail(err)
		}
	}
	if len(out.Turns) > 0 {
		// Whatever the agent produced before a failure is kept too.
		if _, err := s.st.AppendTurns(context.WithoutCancel(ctx), p.TenantID, se.ID, out.Turns); err != nil {
			return fail(err)
		}
	}
	if !out.Usage.IsZero() {
		// And so is what it used (tokens spent are spent).
		if err := s.st.AddSessionUsage(context.WithoutCancel(ctx), p.TenantID, se.ID, out.Usage); err != nil && !errors.Is(err, store.ErrNotFound) {
			return fail(err)
		}
	}
	if runErr != nil {
		sent["outcome"], sent["reason"] = "failed", out.Stop
		_ = s.add(context.WithoutCancel(ctx), work, p, audit.MessageSent, se, sent)
		return fail(runErr)
	}
	var opened store.Review
	if h := out.Hold; h != nil && h.Confirm {
		// The sender confirms it in-channel (confirm.go).
		if err := s.openConfirmation(ctx, p, work, se, out); err != nil {
			return fail(err)
		}
	} else if h != nil {
		r := store.Review{Kind: h.Kind, Source: string(h.Source), TurnSeq: out.Turns[h.Turn].Seq, ToolName: h.ToolName,
			Excerpt: h.Excerpt, Score: h.Score, Categories: h.Categories}
		var err error
		if opened, err = s.openReview(ctx, p, work, se, r); err != nil {
			return fail(err)
		}
	}
	at := s.opts.Now().UTC().Truncate(time.Microsecond)
	sent["chars"], sent["iterations"], sent["stop"] = utf8.RuneCountInString(out.Reply), out.Iterations, out.Stop
	if out.Breaker != "" {
		sent["breaker"] = out.Breaker
	}
	if err := s.add(ctx, work, p, audit.MessageSent, se, sent); err != nil {
		return fail(err)
	}
	if err := work.Wait(ctx); err != nil {
		return channel.Reply{}, err
	}
	if opened.ID != "" {
		// Stored and audited: announced to the account's review
		// destination, if it has one.
		s.notifyReview(ctx, se, opened, out.Turns[out.Hold.Turn])
	}
	return channel.Reply{SessionID: se.ID, Text: out.Reply, Timestamp: at}, nil
}

// commandAccess decides whether m's text may be a slash command, from who
// sent it (issue 16): a Komand user acting for themselves may — a login or
// an API key on WebChat, a Slack member or Telegram user an Admin mapped to
// a Komand user (the principal is then that user's, channel.sender); a
// Webhook or Slack account only when an Admin set its allowCommands, and
// then a consequential command is held for review; nobody else (a public
// sender, an unmapped Telegram user, a chat-widget visitor, an account
// without the setting): their "/…" is text for the model. Deny by default:
// a channel not named here has no commands.
func (s *Service) commandAccess(ctx context.Context, p authz.Principal, m channel.InboundMessage) (CommandAccess, error) {
	if p.Public {
		return CommandsNone, nil
	}
	switch m.Channel {
	case channel.WebChat, channel.Telegram:
		if komandUser(p) {
			return CommandsUser, nil
		}
		return CommandsNone, nil
	case channel.Slack:
		if komandUser(p) {
			return CommandsUser, nil
		}
	case channel.Webhook:
	default:
		return CommandsNone, nil
	}
	if !strings.HasPrefix(m.Text, "/") {
		return CommandsNone, nil // not a command: no need to read the account
	}
	a, err := s.st.ChannelAccountByKey(ctx, p.TenantID, m.Channel, m.ChannelAccountID)
	if errors.Is(err, store.ErrNotFound) {
		return CommandsNone, nil
	}
	if err != nil {
		return CommandsNone, err
	}
	if a.AllowCommands && p.UserID == channel.AccountActor(a.ID) {
		return CommandsHeld, nil
	}
	return CommandsNone, nil
}

// sentDetails starts the details of a message's MessageSent entry. A
// channel whose replies go through the outbox (Slack, Telegram) gets
// "delivery": "queued" here, and a second MessageSent from the channel
// once the reply is delivered or given up.
func sentDetails(m channel.InboundMessage) map[string]any {
	d := map[string]any{"channel": m.Channel, "messageId": m.MessageID}
	if channel.QueuesReplies(m.Channel) {
		d["delivery"] = "queued"
	}
	return d
}

// stopMessage answers a message that was blocked (a neutral refusal) or
// held for review (a holding reply): the message is stored, flagged, and
// never reaches the model.
func (s *Service) stopMessage(ctx context.Context, p authz.Principal, work *audit.Unit, m channel.InboundMessage, se store.Session, user store.Turn, det detection) (channel.Reply, error) {
	reply, stop := RefusalReply, "blocked"
	if user.Flag == store.FlagHeld {
		reply, stop = HoldingReply, "held"
	}
	notice := store.Turn{Role: store.RoleAssistant, Text: reply, Flag: store.FlagNotice, RequestID: user.RequestID,
		CreatedAt: user.CreatedAt}
	out := TurnOutput{Turns: []store.Turn{user, notice}, Reply: reply, Stop: stop}
	if user.Flag == store.FlagHeld {
		out.Hold = &Hold{Kind: store.ReviewMessage, Turn: 0, Source: det.src,
			Excerpt: injection.Excerpt(m.Text, det.res.Spans, excerptBytes), Score: det.res.Score,
			Categories: det.res.Categories}
	}
	return s.finish(ctx, p, work, se, sentDetails(m), out, nil)
}

// chatLimit applies the chat rate limit per tenant, channel, account and
// sender.
func (s *Service) chatLimit(ctx context.Context, tenantID string, m channel.InboundMessage) error {
	if s.limiter == nil {
		return nil
	}
	d, err := s.limiter.Allow(ctx, "chat:"+tenantID+":"+m.SessionKey(), s.opts.ChatLimit, s.opts.ChatWindow)
	if err != nil {
		return apperr.Wrap(err, apperr.Unavailable, "service temporarily unavailable")
	}
	if d.Allowed {
		return nil
	}
	e := apperr.New(apperr.RateLimited, "too many messages; retry later")
	e.RetryAfter = max(time.Until(d.Reset), time.Second)
	return e
}

// session finds the active session for m's key (or the session named by
// sessionID), with its agent and recent history in one read, or creates it
// bound to the channel account's agent. The caller holds the key's locks.
func (s *Service) session(ctx context.Context, p authz.Principal, m channel.InboundMessage, sessionID string, now time.Time) (store.TurnState, error) {
	key := m.SessionKey()
	st, err := s.st.LoadTurn(ctx, p.TenantID, store.TurnQuery{Key: key, SessionID: sessionID, History: historyTurns})
	if sessionID != "" {
		if err != nil {
			return store.TurnState{}, notFound(err)
		}
		switch se := st.Session; {
		case se.EndedAt != nil:
			return store.TurnState{}, apperr.New(apperr.Conflict, "the session has ended")
		case se.Channel != m.Channel:
			return store.TurnState{}, apperr.New(apperr.Conflict, "the session belongs to another channel")
		case se.Key != key:
			return store.TurnState{}, apperr.New(apperr.Conflict, "the session belongs to another sender")
		}
		return st, nil
	}
	if err == nil {
		if st.Session.Channel != m.Channel {
			return store.TurnState{}, apperr.New(apperr.Conflict, "the session belongs to another channel")
		}
		return st, nil
	}
	if !errors.Is(err, store.ErrNotFound) {
		return store.TurnState{}, err
	}

	agentID, err := s.boundAgent(ctx, p.TenantID, m)
	if err != nil {
		return store.TurnState{}, err
	}
	ag, err := s.st.GetAgent(ctx, p.TenantID, agentID)
	if errors.Is(err, store.ErrNotFound) {
		return store.TurnState{}, apperr.New(apperr.NotFound,
			"no agent is bound to this channel account (create an agent with agentId \"default\")")
	}
	if err != nil {
		return store.TurnState{}, err
	}
	allowed := false
	for _, c := range ag.AllowedChannels {
		allowed = allowed || c == m.Channel
	}
	if !allowed {
		return store.TurnState{}, s.authz.Deny(ctx, p, authz.Create, authz.Messages,
			authz.Target{AgentID: ag.AgentID}, "the agent does not allow this channel")
	}
	meta := map[string]string{}
	for k, v := range m.Metadata {
		meta[k] = v
	}
	if m.SenderDisplayName != "" {
		meta["senderDisplayName"] = m.SenderDisplayName
	}
	se := store.Session{
		ID: uuid.NewString(), TenantID: p.TenantID, Key: key, Channel: m.Channel,
		ChannelAccountID: m.ChannelAccountID, SenderID: m.SenderID, AgentID: ag.AgentID,
		Metadata: meta, FirstMessageAt: now, LastMessageAt: now,
	}
	err = audit.Do(ctx, s.audit, audit.By(p), sessionEvent(audit.SessionCreated, se, map[string]any{"channel": m.Channel}), func() error {
		err := s.st.CreateSession(ctx, se, s.opts.MaxActiveSessions)
		if errors.Is(err, store.ErrLimit) {
			return audit.Fail("limit", err)
		}
		return err
	})
	if errors.Is(err, store.ErrLimit) {
		return store.TurnState{}, apperr.New(apperr.LimitReached, fmt.Sprintf(
			"the tenant has reached its limit of %d active sessions (Limits:MaxActiveSessions); "+
				"sessions end after their idle timeout", s.opts.MaxActiveSessions))
	}
	if err != nil {
		return store.TurnState{}, err
	}
	return store.TurnState{Session: se, Agent: &ag, History: []store.Turn{}}, nil
}

// boundAgent is the agent a new session of m's channel account is bound
// to: the account's configured agent, or, for a WebChat account that is
// not configured, the agent "default".
func (s *Service) boundAgent(ctx context.Context, tenantID string, m channel.InboundMessage) (string, error) {
	a, err := s.st.ChannelAccountByKey(ctx, tenantID, m.Channel, m.ChannelAccountID)
	switch {
	case err == nil:
		return a.AgentID, nil
	case !errors.Is(err, store.ErrNotFound):
		return "", err
	case m.Channel == channel.WebChat:
		return DefaultAgentID, nil
	}
	return "", apperr.New(apperr.NotFound, "no agent is bound to this channel account")
}

// add puts an event in the turn's unit of work without waiting for it.
func (s *Service) add(ctx context.Context, g *audit.Unit, p authz.Principal, action audit.Action, se store.Session, details map[string]any) error {
	return g.Add(ctx, event(p, action, se, details))
}

// event is an event of session se by p.
func event(p authz.Principal, action audit.Action, se store.Session, details map[string]any) audit.Event {
	return audit.By(p).Event(sessionEvent(action, se, details))
}

// sessionEvent is an event of session se, not yet attributed.
func sessionEvent(action audit.Action, se store.Session, details map[string]any) audit.Event {
	return audit.Event{TenantID: se.TenantID, Action: action, AgentID: se.AgentID, SessionID: se.ID, Details: details}
}

// List returns one page of p's tenant's sessions, most recently active first.
func (s *Service) List(ctx context.Context, p authz.Principal, f store.SessionFilter, pg store.Page) ([]store.Session, int, error) {
	if err := s.authz.Check(ctx, p, authz.Read, authz.Sessions, authz.Target{}); err != nil {
		return nil, 0, err
	}
	if err := validate.Pagination(pg.Page, pg.PageSize); err != nil {
		return nil, 0, err
	}
	switch f.Status {
	case "", "active", "ended":
	default:
		return nil, 0, apperr.Field("status", "must be active or ended")
	}
	return s.st.ListSessions(ctx, p.TenantID, f, pg)
}

// Get returns one session.
func (s *Service) Get(ctx context.Context, p authz.Principal, id string) (store.Session, error) {
	if err := s.authz.Check(ctx, p, authz.Read, authz.Sessions, authz.Target{SessionID: id}); err != nil {
		return store.Session{}, err
	}
	se, err := s.st.GetSession(ctx, p.TenantID, id)
	return se, notFound(err)
}

// History returns one page of a session's turns, oldest first.
func (s *Service) History(ctx context.Context, p authz.Principal, id string, pg store.Page) ([]store.Turn, int, error) {
	if _, err := s.Get(ctx, p, id); err != nil {
		return nil, 0, err
	}
	if err := validate.Pagination(pg.Page, pg.PageSize); err != nil {
		return nil, 0, err
	}
	return s.st.ListTurns(ctx, p.TenantID, id, pg)
}

// End closes an active session (SessionEnded).
func (s *Service) End(ctx context.Context, p authz.Principal, id string) (store.Session, error) {
	if err := s.authz.Check(ctx, p, authz.Update, authz.Sessions, authz.Target{SessionID: id}); err != nil {
		return store.Session{}, err
	}
	se, err := s.st.GetSession(ctx, p.TenantID, id)
	if err != nil {
		return store.Session{}, notFound(err)
	}
	if se.EndedAt != nil {
		return store.Session{}, apperr.New(apperr.Conflict, "the session has already ended")
	}
	unlock, err := s.lockKey(ctx, p.TenantID, se.Key)
	if err != nil {
		return store.Session{}, err
	}
	defer unlock()
	var ended store.Session
	err = audit.Do(ctx, s.audit, audit.By(p), sessionEvent(audit.SessionEnded, se, map[string]any{"reason": "ended"}), func() error {
		var err error
		ended, err = s.st.EndSession(ctx, p.TenantID, id, s.opts.Now().UTC().Truncate(time.Microsecond), "ended")
		return err
	})
	if errors.Is(err, store.ErrNotFound) {
		return store.Session{}, apperr.New(apperr.Conflict, "the session has already ended")
	}
	return ended, err
}

// ExpireIdle ends every active session, of every tenant, whose last message
// is older than the idle timeout, recording SessionEnded with reason
// "idle". It returns how many it ended.
func (s *Service) ExpireIdle(ctx context.Context) (int, error) {
	if s.opts.IdleTimeout <= 0 {
		return 0, nil
	}
	tenants, err := s.st.ListTenants(ctx)
	if err != nil {
		return 0, err
	}
	now := s.opts.Now().UTC().Truncate(time.Microsecond)
	cutoff := now.Add(-s.opts.IdleTimeout)
	n := 0
	for _, t := range tenants {
		for {
			idle, err := s.st.IdleSessions(ctx, t.ID, cutoff, 100)
			if err != nil {
				return n, err
			}
			ended := 0
			for _, se := range idle {
				ok, err := s.expire(ctx, se, cutoff, now)
				if err != nil {
					return n, err
				}
				if ok {
					ended++
				}
			}
			n += ended
			if len(idle) < 100 || ended == 0 {
				break
			}
		}
	}
	return n, nil
}

// expire ends one idle session under its key's locks, after checking that
// no message arrived while it waited for them.
func (s *Service) expire(ctx context.Context, se store.Session, cutoff, now time.Time) (bool, error) {
	unlock, err := s.lockKey(ctx, se.TenantID, se.Key)
	if err != nil {
		return false, err
	}
	defer unlock()
	cur, err := s.st.GetSession(ctx, se.TenantID, se.ID)
	if errors.Is(err, store.ErrNotFound) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	if cur.EndedAt != nil || !cur.LastMessageAt.Before(cutoff) {
		return false, nil
	}
	// The platform ends it: the entry has no actor.
	err = audit.Do(ctx, s.audit, audit.Actor{}, sessionEvent(audit.SessionEnded, se, map[string]any{"reason": "idle"}), func() error {
		_, err := s.st.EndSession(ctx, se.TenantID, se.ID, now, "idle")
		return err
	})
	if errors.Is(err, store.ErrNotFound) {
		return false, nil
	}
	return err == nil, err
}

// lockKey takes a session key's locks: the FIFO lock of this process, then
// the store's (a PostgreSQL advisory lock, shared by every replica). Every
// change to a session (a message, an end, an idle expiry) holds them.
func (s *Service) lockKey(ctx context.Context, tenantID, key string) (func(), error) {
	unlock, err := s.locks.lock(ctx, tenantID+"\x00"+key)
	if err != nil {
		return nil, apperr.Wrap(err, apperr.Unavailable, "the session is busy; try again")
	}
	dbUnlock, err := s.st.LockSession(ctx, tenantID, key)
	if err != nil {
		unlock()
		return nil, apperr.Wrap(err, apperr.Unavailable, "the session is busy; try again")
	}
	return func() { dbUnlock(); unlock() }, nil
}

// RunExpiry calls ExpireIdle every interval until ctx ends.
func (s *Service) RunExpiry(ctx context.Context, interval time.Duration) {
	if s.opts.IdleTimeout <= 0 || interval <= 0 {
		return
	}
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			if n, err := s.ExpireIdle(ctx); err != nil {
				s.log.ErrorContext(ctx, "idle session expiry failed", "err", err)
			} else if n > 0 {
				s.log.InfoContext(ctx, "ended idle sessions", "count", n)
			}
		}
	}
}
