package gateway

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"time"
	"unicode"

	"github.com/komand-ai/komand/internal/apperr"
	"github.com/komand-ai/komand/internal/authz"
	"github.com/komand-ai/komand/internal/channel"
	"github.com/komand-ai/komand/internal/session"
	"github.com/komand-ai/komand/internal/store"
	"github.com/komand-ai/komand/internal/validate"
)

// turnDeadline is how long a WebChat request may take to write its answer:
// the turn budget plus a margin. It replaces the server's WriteTimeout for
// these requests only.
const turnDeadline = session.DefaultTurnTimeout + 30*time.Second

type webchatRequest struct {
	SenderID    opt[string]       `json:"senderId"`
	Text        opt[string]       `json:"text"`
	DisplayName opt[string]       `json:"displayName"`
	AccountID   opt[string]       `json:"accountId"`
	SessionID   opt[string]       `json:"sessionId"`
	Metadata    map[string]string `json:"metadata"`
}

type webchatResponse struct {
	SessionID string    `json:"sessionId"`
	Text      string    `json:"text"`
	Timestamp time.Time `json:"timestamp"`
}

// decodeWebchat reads a WebChat message body into an InboundMessage. For
// a widget visitor v the token fixes the account and the sender: a body
// that names others is refused.
func decodeWebchat(r *http.Request, v *channel.Visitor) (channel.InboundMessage, string, error) {
	var q webchatRequest
	if err := decode(r, &q); err != nil {
		return channel.InboundMessage{}, "", err
	}
	for _, f := range []struct {
		name string
		null bool
	}{{"senderId", q.SenderID.null}, {"text", q.Text.null}, {"accountId", q.AccountID.null}} {
		if f.null {
			return channel.InboundMessage{}, "", apperr.Field(f.name, "must not be null")
		}
	}
	m := channel.InboundMessage{
		Channel: channel.WebChat, ChannelAccountID: "default", SenderID: q.SenderID.v,
		SenderDisplayName: q.DisplayName.v, Text: q.Text.v, Metadata: q.Metadata,
	}
	if q.AccountID.set {
		m.ChannelAccountID = q.AccountID.v
	}
	if v != nil {
		if q.SenderID.set && q.SenderID.v != v.SenderID {
			return channel.InboundMessage{}, "", apperr.Field("senderId", "is set by the visitor token")
		}
		if q.AccountID.set && q.AccountID.v != v.AccountID {
			return channel.InboundMessage{}, "", apperr.Field("accountId", "is set by the visitor token")
		}
		m.SenderID, m.ChannelAccountID = v.SenderID, v.AccountID
		// Slash commands (/memory, /tool) run a tool directly, without
		// the model, with arguments the sender chose: a staff member's
		// tool, never an anonymous visitor's.
		if strings.HasPrefix(strings.TrimLeftFunc(m.Text, unicode.IsSpace), "/") {
			// A plain sentence for the visitor, not a field error.
			return channel.InboundMessage{}, "", &apperr.Error{Kind: apperr.Invalid, Field: "text",
				Message: "Commands (messages that start with /) are not available in this chat. Please write your message as text."}
		}
	}
	sessionID := ""
	if q.SessionID.set && !q.SessionID.null {
		sessionID = q.SessionID.v
		if err := validate.UUID("sessionId", sessionID); err != nil {
			return channel.InboundMessage{}, "", err
		}
	}
	return m, sessionID, nil
}

func (s *Server) webchatMessage(w http.ResponseWriter, r *http.Request, p authz.Principal, v *channel.Visitor) error {
	m, sessionID, err := decodeWebchat(r, v)
	if err != nil {
		return err
	}
	_ = http.NewResponseController(w).SetWriteDeadline(time.Now().Add(turnDeadline))
	reply, err := s.deps.Sessions.Handle(r.Context(), p, m, sessionID, session.Hooks{})
	if err != nil {
		return err
	}
	return ok(w, http.StatusOK, webchatResponse{SessionID: reply.SessionID, Text: reply.Text, Timestamp: reply.Timestamp})
}

// webchatStream is the Server-Sent Events form: an event "typing" at once,
// "delta" events with the reply's text as the model streams it, then one
// "message" event with the same body as the JSON endpoint's data, or one
// "error" event with the envelope's error fields. Errors found before the
// stream starts (validation, authorization, rate limit) are ordinary JSON
// error responses.
func (s *Server) webchatStream(w http.ResponseWriter, r *http.Request, p authz.Principal, v *channel.Visitor) error {
	m, sessionID, err := decodeWebchat(r, v)
	if err != nil {
		return err
	}
	rc := http.NewResponseController(w)
	_ = rc.SetWriteDeadline(time.Now().Add(turnDeadline))
	h := w.Header()
	h.Set("Content-Type", "text/event-stream; charset=utf-8")
	h.Set("X-Accel-Buffering", "no")
	started := false
	start := func() {
		if !started {
			started = true
			w.WriteHeader(http.StatusOK)
		}
	}
	send := func(event string, v any) {
		start()
		b, _ := json.Marshal(v)
		fmt.Fprintf(w, "event: %s\ndata: %s\n\n", event, b)
		_ = rc.Flush()
	}
	reply, err := s.deps.Sessions.Handle(r.Context(), p, m, sessionID, session.Hooks{
		OnStart: func() { send("typing", map[string]any{"typing": true}) },
		OnDelta: func(text string) { send("delta", map[string]string{"text": text}) },
	})
	if err != nil && !started {
		// Refused before the turn began: a plain JSON error.
		h.Del("Content-Type")
		h.Del("X-Accel-Buffering")
		return err
	}
	if err != nil {
		pe := logError(r, s.log, err)
		send("error", map[string]string{"error": pe.Message, "code": pe.Kind.Code(), "requestId": requestIDOf(r)})
		return nil
	}
	send("message", webchatResponse{SessionID: reply.SessionID, Text: reply.Text, Timestamp: reply.Timestamp})
	return nil
}

// Visitor tokens per client address: a public widget's page asks for one
// when it opens and once an hour after, so this is generous for people
// and tight for a script minting visitor IDs.
const (
	visitorStartLimit  = 30
	visitorStartWindow = 10 * time.Minute
)

// startVisitor gives an anonymous visitor of a public chat widget a token
// for the WebChat message endpoints (channel.Service.StartVisitor).
func (s *Server) startVisitor(w http.ResponseWriter, r *http.Request) error {
	if !s.limitN(w, r, "widget:ip:"+clientNet(r, s.opts.TrustedProxies), visitorStartLimit, visitorStartWindow) {
		return nil
	}
	var b struct {
		WidgetID      string `json:"widgetId"`
		PreviousToken string `json:"previousToken"`
	}
	if err := decode(r, &b); err != nil {
		return err
	}
	if err := validate.First(validate.UUID("widgetId", b.WidgetID), validate.MaxLen("previousToken", b.PreviousToken, 4096)); err != nil {
		return err
	}
	t, err := s.deps.Channels.StartVisitor(r.Context(), b.WidgetID, b.PreviousToken)
	if err != nil {
		return err
	}
	return ok(w, http.StatusOK, map[string]any{"token": t.Token, "visitorId": t.VisitorID, "accountId": t.AccountID,
		"expiresAt": t.ExpiresAt})
}

type sessionResponse struct {
	SessionID        string            `json:"sessionId"`
	Key              string            `json:"key"`
	Channel          string            `json:"channel"`
	ChannelAccountID string            `json:"channelAccountId"`
	SenderID         string            `json:"senderId"`
	AgentID          string            `json:"agentId"`
	Metadata         map[string]string `json:"metadata"`
	MessageCount     int               `json:"messageCount"`
	FirstMessageAt   time.Time         `json:"firstMessageAt"`
	LastMessageAt    time.Time         `json:"lastMessageAt"`
	Status           string            `json:"status"`
	EndedAt          *time.Time        `json:"endedAt"`
	EndReason        *string           `json:"endReason"`
}

func sessionJSON(se store.Session) sessionResponse {
	out := sessionResponse{
		SessionID: se.ID, Key: se.Key, Channel: se.Channel, ChannelAccountID: se.ChannelAccountID,
		SenderID: se.SenderID, AgentID: se.AgentID, Metadata: se.Metadata, MessageCount: se.MessageCount,
		FirstMessageAt: se.FirstMessageAt, LastMessageAt: se.LastMessageAt, Status: "active", EndedAt: se.EndedAt,
	}
	if out.Metadata == nil {
		out.Metadata = map[string]string{}
	}
	if se.EndedAt != nil {
		out.Status = "ended"
		reason := se.EndReason
		out.EndReason = &reason
	}
	return out
}

type turnResponse struct {
	Seq        int64           `json:"seq"`
	Role       string          `json:"role"`
	Text       string          `json:"text"`
	ToolCalls  json.RawMessage `json:"toolCalls"`
	ToolCallID *string         `json:"toolCallId"`
	ToolName   *string         `json:"toolName"`
	IsError    bool            `json:"isError"`
	// Flag is what prompt-injection screening made of the turn: "",
	// "warn", "blocked", "held", "rejected", or "notice" (a reply Komand
	// wrote itself).
	Flag      string    `json:"flag"`
	RequestID string    `json:"requestId"`
	Timestamp time.Time `json:"timestamp"`
}

func turnJSON(t store.Turn) turnResponse {
	out := turnResponse{Seq: t.Seq, Role: t.Role, Text: t.Text, IsError: t.IsError, Flag: t.Flag, RequestID: t.RequestID, Timestamp: t.CreatedAt}
	if len(t.ToolCalls) > 0 && json.Valid(t.ToolCalls) {
		out.ToolCalls = t.ToolCalls
	} else {
		out.ToolCalls = json.RawMessage("null")
	}
	if t.ToolCallID != "" {
		out.ToolCallID, out.ToolName = &t.ToolCallID, &t.ToolName
	}
	return out
}

func (s *Server) listSessions(w http.ResponseWriter, r *http.Request, p authz.Principal) error {
	pg, err := pagination(r)
	if err != nil {
		return err
	}
	q := r.URL.Query()
	f := store.SessionFilter{AgentID: q.Get("agentId"), Channel: q.Get("channel"), Key: q.Get("key"), Status: q.Get("status")}
	if err := validate.First(validate.MaxLen("agentId", f.AgentID, validate.MaxIDLen),
		validate.MaxLen("channel", f.Channel, validate.MaxIDLen),
		validate.MaxLen("key", f.Key, 2*validate.MaxNameLen+validate.MaxIDLen)); err != nil {
		return err
	}
	ss, total, err := s.deps.Sessions.List(r.Context(), p, f, pg)
	if err != nil {
		return err
	}
	out := make([]sessionResponse, len(ss))
	for i, se := range ss {
		out[i] = sessionJSON(se)
	}
	return okList(w, out, total, pg, store.Next(p.TenantID, pg, ss))
}

func (s *Server) getSession(w http.ResponseWriter, r *http.Request, p authz.Principal) error {
	id, err := pathUUID(r, "sessionId")
	if err != nil {
		return err
	}
	se, err := s.deps.Sessions.Get(r.Context(), p, id)
	if err != nil {
		return err
	}
	return ok(w, http.StatusOK, sessionJSON(se))
}

func (s *Server) sessionHistory(w http.ResponseWriter, r *http.Request, p authz.Principal) error {
	id, err := pathUUID(r, "sessionId")
	if err != nil {
		return err
	}
	pg, err := pagination(r)
	if err != nil {
		return err
	}
	ts, total, err := s.deps.Sessions.History(r.Context(), p, id, pg)
	if err != nil {
		return err
	}
	out := make([]turnResponse, len(ts))
	for i, t := range ts {
		out[i] = turnJSON(t)
	}
	return okList(w, out, total, pg, store.Next(p.TenantID, pg, ts))
}

func (s *Server) endSession(w http.ResponseWriter, r *http.Request, p authz.Principal) error {
	id, err := pathUUID(r, "sessionId")
	if err != nil {
		return err
	}
	se, err := s.deps.Sessions.End(r.Context(), p, id)
	if err != nil {
		return err
	}
	return ok(w, http.StatusOK, sessionJSON(se))
}

type memoryResponse struct {
	Key        string    `json:"key"`
	Value      string    `json:"value"`
	Provenance string    `json:"provenance"`
	CreatedAt  time.Time `json:"createdAt"`
	UpdatedAt  time.Time `json:"updatedAt"`
}

func memoryJSON(e store.MemoryEntry) memoryResponse {
	return memoryResponse{Key: e.Key, Value: e.Value, Provenance: store.MemoryProvenance(e.Provenance),
		CreatedAt: e.CreatedAt, UpdatedAt: e.UpdatedAt}
}

// memoryPath reads agentId and key from the route.
func memoryPath(r *http.Request) (agentID, key string, err error) {
	if agentID, err = pathSlug(r, "agentId"); err != nil {
		return "", "", err
	}
	return agentID, r.PathValue("key"), nil
}

func (s *Server) listMemory(w http.ResponseWriter, r *http.Request, p authz.Principal) error {
	agentID, err := pathSlug(r, "agentId")
	if err != nil {
		return err
	}
	pg, err := pagination(r)
	if err != nil {
		return err
	}
	es, total, err := s.deps.Memory.List(r.Context(), p, agentID, pg)
	if err != nil {
		return err
	}
	out := make([]memoryResponse, len(es))
	for i, e := range es {
		out[i] = memoryJSON(e)
	}
	return okList(w, out, total, pg, store.Next(p.TenantID, pg, es))
}

func (s *Server) getMemory(w http.ResponseWriter, r *http.Request, p authz.Principal) error {
	agentID, key, err := memoryPath(r)
	if err != nil {
		return err
	}
	e, err := s.deps.Memory.Get(r.Context(), p, agentID, key)
	if err != nil {
		return err
	}
	return ok(w, http.StatusOK, memoryJSON(e))
}

func (s *Server) putMemory(w http.ResponseWriter, r *http.Request, p authz.Principal) error {
	agentID, key, err := memoryPath(r)
	if err != nil {
		return err
	}
	var q struct {
		Value opt[string] `json:"value"`
	}
	if err := decode(r, &q); err != nil {
		return err
	}
	if !q.Value.set || q.Value.null {
		return apperr.Field("value", "is required")
	}
	e, created, err := s.deps.Memory.Put(r.Context(), p, agentID, key, q.Value.v)
	if err != nil {
		return err
	}
	status := http.StatusOK
	if created {
		status = http.StatusCreated
	}
	return ok(w, status, memoryJSON(e))
}

func (s *Server) deleteMemory(w http.ResponseWriter, r *http.Request, p authz.Principal) error {
	agentID, key, err := memoryPath(r)
	if err != nil {
		return err
	}
	if err := s.deps.Memory.Delete(r.Context(), p, agentID, key); err != nil {
		return err
	}
	return ok(w, http.StatusOK, map[string]bool{"deleted": true})
}
