package audit

import (
	"context"
	"errors"
	"maps"

	"github.com/komand-ai/komand/internal/authz"
)

// Actor is who an event is attributed to: an authenticated principal (By)
// or a caller acting for one (an agent's tool call, a channel account).
type Actor struct {
	TenantID string
	UserID   string
	APIKeyID string // set when the principal authenticated with an API key
}

// By returns the actor of an authenticated principal.
func By(p authz.Principal) Actor {
	return Actor{TenantID: p.TenantID, UserID: p.UserID, APIKeyID: p.APIKeyID}
}

// Event returns ev attributed to a: its tenant (unless ev names one) and
// actor, and the "apiKeyId" detail when a authenticated with an API key.
// ev's details are copied, never changed.
func (a Actor) Event(ev Event) Event {
	if ev.TenantID == "" {
		ev.TenantID = a.TenantID
	}
	ev.ActorID = a.UserID
	if a.APIKeyID != "" {
		ev.Details = with(ev.Details, "apiKeyId", a.APIKeyID)
	}
	return ev
}

// Record records ev attributed to a (see Actor.Event).
func Record(ctx context.Context, rec Recorder, a Actor, ev Event) error {
	return rec.Record(ctx, a.Event(ev))
}

// Do is the audit protocol of a change: record ev attributed to a, then
// apply the change (act), and if act fails record ev again with the detail
// "outcome": "failed".
//
// It fails closed: if ev cannot be stored act does not run and that error
// is returned. The failed entry is best effort (its own error is dropped,
// and it is written even if ctx has been cancelled, since the first entry
// was), so the trail never shows a change that was not made without saying
// so. Do returns act's error unchanged, except that Fail's outcome is
// unwrapped.
func Do(ctx context.Context, rec Recorder, a Actor, ev Event, act func() error) error {
	ev = a.Event(ev)
	if err := rec.Record(ctx, ev); err != nil {
		return err
	}
	err := act()
	if err == nil {
		return nil
	}
	outcome := "failed"
	var f *failure
	if errors.As(err, &f) {
		outcome, err = f.outcome, f.err
	}
	ev.Details = with(ev.Details, "outcome", outcome)
	_ = rec.Record(context.WithoutCancel(ctx), ev)
	return err
}

// Fail marks an error returned by Do's action with the outcome its failed
// entry records instead of "failed" (for example "limit"). Do returns err
// itself.
func Fail(outcome string, err error) error {
	if err == nil {
		return nil
	}
	return &failure{outcome: outcome, err: err}
}

type failure struct {
	outcome string
	err     error
}

func (f *failure) Error() string { return f.err.Error() }
func (f *failure) Unwrap() error { return f.err }

// with returns a copy of d with k set to v.
func with(d map[string]any, k string, v any) map[string]any {
	out := make(map[string]any, len(d)+1)
	maps.Copy(out, d)
	out[k] = v
	return out
}

// Denials returns the authz.DenialSink that records each denial as a
// PermissionDenied entry through rec: verb, resource, role and reason, the
// target's ID when set, the path it came by (via) when set, and the
// principal's API key.
func Denials(rec Recorder) authz.DenialSink { return denials{rec} }

type denials struct{ rec Recorder }

func (d denials) RecordDenial(ctx context.Context, dn authz.Denial) error {
	details := map[string]any{
		"verb":     string(dn.Verb),
		"resource": string(dn.Resource),
		"role":     string(dn.Principal.Role),
		"reason":   dn.Reason,
	}
	if dn.Target.ID != "" {
		details["targetId"] = dn.Target.ID
	}
	if dn.Via != "" {
		details["via"] = dn.Via
	}
	return Record(ctx, d.rec, By(dn.Principal), Event{
		Action:    PermissionDenied,
		AgentID:   dn.Target.AgentID,
		SessionID: dn.Target.SessionID,
		SkillID:   dn.Target.SkillID,
		Details:   details,
	})
}
