package session

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"math/big"
	"regexp"
	"slices"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/google/uuid"

	"github.com/komand-ai/komand/internal/audit"
	"github.com/komand-ai/komand/internal/authz"
	"github.com/komand-ai/komand/internal/channel"
	"github.com/komand-ai/komand/internal/llm"
	"github.com/komand-ai/komand/internal/requestid"
	"github.com/komand-ai/komand/internal/store"
)

// In-channel confirmation (issue 16). A consequential tool call that the
// model asks for while untrusted content is in its context (see
// historyContext) never runs on the model's say-so. When the sender is a
// Komand user acting for themselves (an API key or a login) the turn stops
// with ConfirmReply: the exact calls, rendered by Komand from the held
// assistant turn (not a summary the model wrote), and a one-time code.
// The same user's next message in the same session, "CONFIRM <code>", runs
// exactly those calls once and the turn continues as an approved review's
// does. Everything else is refused with a plain reply and
// ToolCallConfirmationRefused: a wrong code (the third cancels the call),
// a code replayed or for a call no longer waiting, an expired one, another
// user's, one sent in another session or after the session ended, and any
// confirmation from a sender who is not a Komand user (a public widget
// visitor, an unmapped Telegram user or Slack member, a webhook), whose
// held calls go to the Admin review queue instead. A Slack member or
// Telegram user mapped to a Komand user (channel/identities.go) is that
// user and confirms like them.
//
// The code is 6 digits from crypto/rand, stored only as a hash with the
// confirmation's ID; it is bound to the tenant, the session, the user, the
// held turn and the SHA-256 of the calls' canonical form (CallHash), which
// is checked again against the stored turn before it runs. The stored
// notice shows the code masked.

// Confirmation limits.
const (
	ConfirmTTL         = 10 * time.Minute
	MaxConfirmAttempts = 3
	// maskedCode stands for the code in the stored history.
	maskedCode = "••••••"
	// Rendering bounds: a value longer than maxRenderedValue characters
	// is clipped (the code is bound to the whole call), at most
	// maxRenderedArgs arguments of a call are shown.
	maxRenderedValue = 200
	maxRenderedArgs  = 12
)

// Replies to a confirmation message.
const (
	ConfirmNotUserReply   = "Only a signed-in Komand user can confirm actions in this conversation."
	ConfirmNoneReply      = "There is no action waiting for your confirmation in this conversation."
	ConfirmExpiredReply   = "That confirmation has expired, so the action was not run. Ask again if you still want it done."
	ConfirmOtherUserReply = "Only the person who asked for this action can confirm it."
	ConfirmWrongReply     = "That code does not match the action waiting for confirmation. Check the code and try again."
	ConfirmTooManyReply   = "Too many wrong codes: the action was cancelled and will not run."
	ConfirmObsoleteReply  = "That action is no longer waiting for confirmation, so it was not run."
)

// ConfirmReply is the reply that asks the sender to confirm calls with
// code. Its first line is exactly "Reply CONFIRM <code> to run: <calls>".
func ConfirmReply(code string, calls []llm.ToolCall) string {
	return "Reply CONFIRM " + code + " to run: " + RenderCalls(calls) + "\n" +
		"I stopped before doing this because this conversation contains content from outside " +
		"(a web page, a tool result, a webhook message or an untrusted memory) that could be steering me. " +
		"The code works once, only for this exact action, for 10 minutes. Reply with anything else to leave it undone."
}

var confirmPattern = regexp.MustCompile(`(?i)^\s*confirm\s+([0-9]{1,12})\s*[.!]?\s*$`)

// parseConfirm reads a confirmation message, "CONFIRM <digits>" (any case).
func parseConfirm(text string) (string, bool) {
	m := confirmPattern.FindStringSubmatch(text)
	if m == nil {
		return "", false
	}
	return m[1], true
}

// newCode returns a fresh 6-digit code.
func newCode() string {
	n, err := rand.Int(rand.Reader, big.NewInt(1_000_000))
	if err != nil {
		panic("crypto/rand: " + err.Error()) // never, per crypto/rand
	}
	return fmt.Sprintf("%06d", n.Int64())
}

// codeHash is the stored form of a confirmation's code.
func codeHash(id, code string) string {
	sum := sha256.Sum256([]byte("komand-confirm\x00" + id + "\x00" + code))
	return hex.EncodeToString(sum[:])
}

// CallHash is the hex SHA-256 of calls in canonical form: each call's name
// and arguments (JSON re-encoded with sorted keys, numbers as written),
// length-prefixed, in order.
func CallHash(calls []llm.ToolCall) string {
	h := sha256.New()
	var n [8]byte
	put := func(s string) {
		binary.BigEndian.PutUint64(n[:], uint64(len(s)))
		h.Write(n[:])
		h.Write([]byte(s))
	}
	binary.BigEndian.PutUint64(n[:], uint64(len(calls)))
	h.Write(n[:])
	for _, c := range calls {
		put(c.Name)
		v, ok := parseArgs(c.Arguments)
		if !ok {
			put("raw:" + string(c.Arguments))
			continue
		}
		var b strings.Builder
		canon(&b, v, false)
		put("json:" + b.String())
	}
	return hex.EncodeToString(h.Sum(nil))
}

// parseArgs decodes a call's arguments (empty: {}), keeping numbers as
// written.
func parseArgs(raw json.RawMessage) (any, bool) {
	if len(strings.TrimSpace(string(raw))) == 0 {
		return map[string]any{}, true
	}
	dec := json.NewDecoder(strings.NewReader(string(raw)))
	dec.UseNumber()
	var v any
	if dec.Decode(&v) != nil || dec.More() {
		return nil, false
	}
	return v, true
}

// RenderCalls renders calls for a person to judge: name and arguments of
// each, "; then " between them. Every string is quoted, with quotes,
// backslashes, control, format and invisible characters, markup (<, >,
// &, `) and line breaks escaped, so no argument can end its quotes, start
// a line, or imitate Komand's own text; long values are clipped.
func RenderCalls(calls []llm.ToolCall) string {
	parts := make([]string, 0, len(calls))
	for _, c := range calls {
		parts = append(parts, renderCall(c))
	}
	return strings.Join(parts, "; then ")
}

var simpleName = regexp.MustCompile(`^[A-Za-z0-9_.-]{1,64}$`)

func renderName(s string) string {
	if simpleName.MatchString(s) {
		return s
	}
	var b strings.Builder
	quote(&b, clipRunes(s, maxRenderedValue), true)
	return b.String()
}

func renderCall(c llm.ToolCall) string {
	var b strings.Builder
	b.WriteString(renderName(c.Name))
	v, ok := parseArgs(c.Arguments)
	if !ok {
		b.WriteString(" arguments=")
		renderValue(&b, string(c.Arguments))
		return b.String()
	}
	obj, isObj := v.(map[string]any)
	if !isObj {
		b.WriteString(" arguments=")
		renderValue(&b, v)
		return b.String()
	}
	if len(obj) == 0 {
		b.WriteString(" (no arguments)")
		return b.String()
	}
	keys := make([]string, 0, len(obj))
	for k := range obj {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for i, k := range keys {
		if i == maxRenderedArgs {
			fmt.Fprintf(&b, " …(%d more arguments)", len(keys)-i)
			break
		}
		b.WriteString(" ")
		b.WriteString(renderName(k))
		b.WriteString("=")
		renderValue(&b, obj[k])
	}
	return b.String()
}

// renderValue writes v, clipped to maxRenderedValue characters.
func renderValue(b *strings.Builder, v any) {
	if s, ok := v.(string); ok {
		quote(b, clipRunes(s, maxRenderedValue), true)
		if n := utf8.RuneCountInString(s); n > maxRenderedValue {
			fmt.Fprintf(b, "…(%d characters in all)", n)
		}
		return
	}
	var c strings.Builder
	canon(&c, v, true)
	out := c.String()
	if n := utf8.RuneCountInString(out); n > maxRenderedValue {
		out = clipRunes(out, maxRenderedValue) + fmt.Sprintf("…(%d characters in all)", n)
	}
	b.WriteString(out)
}

func clipRunes(s string, n int) string {
	if utf8.RuneCountInString(s) <= n {
		return s
	}
	return string([]rune(s)[:n])
}

// canon writes v as JSON with sorted keys; display also escapes what a
// person could misread (see quote).
func canon(b *strings.Builder, v any, display bool) {
	switch x := v.(type) {
	case nil:
		b.WriteString("null")
	case bool:
		if x {
			b.WriteString("true")
		} else {
			b.WriteString("false")
		}
	case json.Number:
		b.WriteString(x.String())
	case string:
		quote(b, x, display)
	case []any:
		b.WriteByte('[')
		for i, e := range x {
			if i > 0 {
				b.WriteByte(',')
			}
			canon(b, e, display)
		}
		b.WriteByte(']')
	case map[string]any:
		keys := make([]string, 0, len(x))
		for k := range x {
			keys = append(keys, k)
		}
		slices.Sort(keys)
		b.WriteByte('{')
		for i, k := range keys {
			if i > 0 {
				b.WriteByte(',')
			}
			quote(b, k, display)
			b.WriteByte(':')
			canon(b, x[k], display)
		}
		b.WriteByte('}')
	}
}

// quote writes s as a JSON string. For display, every character that is
// not plainly visible (controls, format characters such as bidi overrides
// and zero-width joiners, separators other than the space, invalid UTF-8)
// and markup characters are written as \u escapes.
func quote(b *strings.Builder, s string, display bool) {
	b.WriteByte('"')
	for i, r := range s {
		switch {
		case r == '"':
			b.WriteString(`\"`)
		case r == '\\':
			b.WriteString(`\\`)
		case r == '\n':
			b.WriteString(`\n`)
		case r == '\r':
			b.WriteString(`\r`)
		case r == '\t':
			b.WriteString(`\t`)
		case r < 0x20 || r == 0x7f:
			fmt.Fprintf(b, `\u%04x`, r)
		case r == utf8.RuneError && !strings.HasPrefix(s[i:], "\uFFFD"):
			b.WriteString(`\ufffd`) // invalid UTF-8
		case display && (r == '<' || r == '>' || r == '&' || r == '`' || !unicode.IsPrint(r) || unicode.Is(unicode.Cf, r)):
			if r > 0xFFFF {
				fmt.Fprintf(b, `\U%08x`, r)
			} else {
				fmt.Fprintf(b, `\u%04x`, r)
			}
		default:
			b.WriteRune(r)
		}
	}
	b.WriteByte('"')
}

// komandUser reports whether p is a Komand user acting for themselves (an
// API key, a login, or a Slack member or Telegram user an Admin mapped to
// a Komand user), the only sender who may confirm a held call: not a
// public sender (a widget visitor, an unmapped Telegram user) and not a
// channel account's principal (a webhook, an unmapped Slack member).
func komandUser(p authz.Principal) bool {
	return !p.Public && p.UserID != "" && !channel.IsAccountActor(p.UserID)
}

// openConfirmation stores the pending confirmation of out's held call for
// p and records ToolCallConfirmationRequested.
func (s *Service) openConfirmation(ctx context.Context, p authz.Principal, work *audit.Unit, se store.Session, out TurnOutput) error {
	h := out.Hold
	now := s.opts.Now().UTC().Truncate(time.Microsecond)
	c := store.Confirmation{TenantID: se.TenantID, ID: uuid.NewString(), SessionID: se.ID, AgentID: se.AgentID,
		UserID: p.UserID, TurnSeq: out.Turns[h.Turn].Seq, CallHash: CallHash(h.Calls), ToolNames: h.ToolName,
		Status: store.ConfirmationPending, RequestID: requestid.From(ctx), CreatedAt: now, ExpiresAt: now.Add(ConfirmTTL)}
	c.CodeHash = codeHash(c.ID, h.Code)
	if err := s.st.CreateConfirmation(ctx, c); err != nil {
		return err
	}
	return s.add(ctx, work, p, audit.ToolCallConfirmationRequested, se, map[string]any{
		"confirmationId": c.ID, "tools": c.ToolNames, "turnSeq": c.TurnSeq, "callHash": c.CallHash,
		"expiresAt": c.ExpiresAt,
	})
}

// heldCall returns the held assistant turn seq of history when it is still
// the session's latest turn (only notices and confirmation messages after
// it) and its calls hash to callHash.
func heldCall(history []store.Turn, seq int64, callHash string) (store.Turn, bool) {
	for i := len(history) - 1; i >= 0; i-- {
		t := history[i]
		if t.Flag == store.FlagNotice || (t.Role == store.RoleUser && t.Flag == store.FlagConfirm) {
			continue
		}
		if t.Seq != seq || t.Role != store.RoleAssistant || t.Flag != store.FlagHeld {
			return store.Turn{}, false
		}
		var calls []llm.ToolCall
		if json.Unmarshal(t.ToolCalls, &calls) != nil || len(calls) == 0 || CallHash(calls) != callHash {
			return store.Turn{}, false
		}
		return t, true
	}
	return store.Turn{}, false
}

// confirm answers a confirmation message "CONFIRM <code>" of p in session
// se: it runs the session's pending call once, or refuses. The message is
// stored flagged FlagConfirm (never shown to the model).
func (s *Service) confirm(ctx context.Context, p authz.Principal, work *audit.Unit, m channel.InboundMessage, se store.Session, history []store.Turn, code string) (channel.Reply, error) {
	fail := func(err error) (channel.Reply, error) {
		_ = work.Wait(context.WithoutCancel(ctx))
		return channel.Reply{}, err
	}
	now := s.opts.Now().UTC().Truncate(time.Microsecond)
	// The message is stored with its code masked, as the request's notice
	// is: a code another user typed (or one still pending) never rests in
	// the history.
	user := store.Turn{Role: store.RoleUser, Text: "CONFIRM " + maskedCode, Flag: store.FlagConfirm, RequestID: requestid.From(ctx), CreatedAt: now}
	sent := sentDetails(m)
	sent["via"] = "confirmation"
	refuse := func(reason, reply string, c *store.Confirmation) (channel.Reply, error) {
		d := map[string]any{"reason": reason}
		if c != nil {
			d["confirmationId"], d["tools"], d["attempts"], d["status"] = c.ID, c.ToolNames, c.Attempts, c.Status
		}
		if err := s.add(ctx, work, p, audit.ToolCallConfirmationRefused, se, d); err != nil {
			return fail(err)
		}
		notice := store.Turn{Role: store.RoleAssistant, Text: reply, Flag: store.FlagNotice, RequestID: user.RequestID, CreatedAt: now}
		return s.finish(ctx, p, work, se, sent, TurnOutput{Turns: []store.Turn{user, notice}, Reply: reply,
			Stop: "confirmation_refused"}, nil)
	}
	// attempt counts a refused try on c (the last allowed one cancels it).
	attempt := func(c store.Confirmation, reason, reply string) (channel.Reply, error) {
		got, err := s.st.FailConfirmation(ctx, p.TenantID, c.ID, MaxConfirmAttempts, now)
		switch {
		case errors.Is(err, store.ErrConflict), errors.Is(err, store.ErrNotFound):
			return refuse("none_pending", ConfirmNoneReply, nil)
		case err != nil:
			return fail(err)
		case got.Status == store.ConfirmationCancelled:
			return refuse("too_many_attempts", ConfirmTooManyReply, &got)
		}
		return refuse(reason, reply, &got)
	}
	if !komandUser(p) {
		return refuse("not_a_user", ConfirmNotUserReply, nil)
	}
	c, err := s.st.PendingConfirmation(ctx, p.TenantID, se.ID)
	if errors.Is(err, store.ErrNotFound) {
		return refuse("none_pending", ConfirmNoneReply, nil)
	}
	if err != nil {
		return fail(err)
	}
	if !now.Before(c.ExpiresAt) {
		if err := s.st.CloseConfirmation(ctx, p.TenantID, c.ID, store.ConfirmationExpired, now); err != nil && !errors.Is(err, store.ErrConflict) {
			return fail(err)
		}
		c.Status = store.ConfirmationExpired
		return refuse("expired", ConfirmExpiredReply, &c)
	}
	if c.UserID != p.UserID {
		return attempt(c, "other_user", ConfirmOtherUserReply)
	}
	if subtle.ConstantTimeCompare([]byte(codeHash(c.ID, code)), []byte(c.CodeHash)) != 1 {
		return attempt(c, "wrong_code", ConfirmWrongReply)
	}
	held, ok := heldCall(history, c.TurnSeq, c.CallHash)
	if !ok {
		// The conversation went on (or the call is not the one the code
		// was given for): the code no longer names what would run.
		if err := s.st.CloseConfirmation(ctx, p.TenantID, c.ID, store.ConfirmationCancelled, now); err != nil && !errors.Is(err, store.ErrConflict) {
			return fail(err)
		}
		c.Status = store.ConfirmationCancelled
		return refuse("superseded", ConfirmObsoleteReply, &c)
	}
	switch err := s.st.ConsumeConfirmation(ctx, p.TenantID, c.ID, now); {
	case errors.Is(err, store.ErrConflict), errors.Is(err, store.ErrNotFound):
		return refuse("replayed", ConfirmNoneReply, &c) // another use won
	case err != nil:
		return fail(err)
	}
	// Awaited before the calls run: a confirmation that cannot be recorded
	// runs nothing.
	if err := work.Record(ctx, event(p, audit.ToolCallConfirmed, se, map[string]any{
		"confirmationId": c.ID, "tools": c.ToolNames, "turnSeq": c.TurnSeq, "callHash": c.CallHash,
	})); err != nil {
		return channel.Reply{}, err
	}
	if _, err := s.st.AppendTurns(ctx, p.TenantID, se.ID, []store.Turn{user}); err != nil {
		return fail(err)
	}
	if err := s.st.SetTurnFlag(ctx, p.TenantID, se.ID, held.Seq, ""); err != nil {
		return fail(err)
	}
	return s.resume(ctx, p, work, se, true, sent)
}
