package injection

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"slices"
	"strings"

	"github.com/komand-ai/komand/internal/validate"
)

// Actions a policy takes on a detection.
const (
	// ActionBlock keeps the text from the model: a user gets a neutral
	// refusal, a tool output is replaced by an error the model sees.
	ActionBlock = "block"
	// ActionWarn lets the text through, flagged in the history and the
	// audit trail.
	ActionWarn = "warn"
	// ActionEscalate holds the turn for an Admin to approve or reject; the
	// sender gets a holding reply.
	ActionEscalate = "escalate"
)

// PolicyRule is an action, a threshold and a warn threshold; a field left
// out inherits. A field that is present must be valid: an action among
// block, warn and escalate, thresholds in (0, 1] (0 is no threshold, not
// "inherit").
//
// A score at or above Threshold takes Action; a score at or above
// WarnThreshold but below Threshold is a warning (ActionWarn: the text goes
// on, audited, flagged in the history, with a caution the model sees);
// below both, nothing. A WarnThreshold at or above Threshold leaves no
// warning band. Without a policy each source has calibrated defaults
// (DefaultThresholds).
type PolicyRule struct {
	Action        *string  `json:"action,omitempty"`
	Threshold     *float64 `json:"threshold,omitempty"`
	WarnThreshold *float64 `json:"warnThreshold,omitempty"`
}

// SourceRules are rules per source.
type SourceRules struct {
	User     *PolicyRule `json:"user,omitempty"`
	Skill    *PolicyRule `json:"skill,omitempty"`
	External *PolicyRule `json:"external,omitempty"`
}

func (s *SourceRules) rule(src Source) *PolicyRule {
	if s == nil {
		return nil
	}
	switch src {
	case SourceSkill:
		return s.Skill
	case SourceExternal:
		return s.External
	}
	return s.User
}

// AgentPolicy overrides the tenant's policy for one agent.
type AgentPolicy struct {
	PolicyRule
	Sources *SourceRules `json:"sources,omitempty"`
	// AllowConsequentialTools lets the model call skills with write or
	// network permissions in a turn that already holds untrusted content
	// without an Admin's approval. Off unless set here, per agent.
	AllowConsequentialTools bool `json:"allowConsequentialTools,omitempty"`
}

// Policy is a tenant's prompt-injection policy: a default rule, rules per
// source, and overrides per agent (which may again be per source). The
// most specific rule that sets a field wins, field by field: agent and
// source, then agent, then source, then tenant, then the built-in default
// (block at the source's default threshold, warn from its default warn
// threshold: DefaultThresholds).
type Policy struct {
	PolicyRule
	Sources *SourceRules            `json:"sources,omitempty"`
	Agents  map[string]*AgentPolicy `json:"agents,omitempty"`
}

// Decision is the resolved rule for one agent and source.
type Decision struct {
	Action    string
	Threshold float64
	// WarnThreshold starts the warning band below Threshold (none when
	// it is at or above Threshold).
	WarnThreshold           float64
	AllowConsequentialTools bool
}

// Act is what a decision does with a score: Action at or above
// Threshold, ActionWarn in the warning band, "" (nothing) below.
func (d Decision) Act(score float64) string {
	switch {
	case score >= d.Threshold:
		return d.Action
	case d.WarnThreshold < d.Threshold && score >= d.WarnThreshold:
		return ActionWarn
	}
	return ""
}

// Resolve returns the rule for agentID and src.
func (p *Policy) Resolve(agentID string, src Source) Decision {
	var chain []*PolicyRule
	allow := false
	if p != nil {
		if a := p.Agents[agentID]; a != nil {
			chain = append(chain, a.Sources.rule(src), &a.PolicyRule)
			allow = a.AllowConsequentialTools
		}
		chain = append(chain, p.Sources.rule(src), &p.PolicyRule)
	}
	d := Decision{AllowConsequentialTools: allow}
	for _, r := range chain {
		if r == nil {
			continue
		}
		if d.Action == "" && r.Action != nil {
			d.Action = *r.Action
		}
		if d.Threshold == 0 && r.Threshold != nil {
			d.Threshold = *r.Threshold
		}
		if d.WarnThreshold == 0 && r.WarnThreshold != nil {
			d.WarnThreshold = *r.WarnThreshold
		}
	}
	warn, block := DefaultThresholds(src)
	if d.Action == "" {
		d.Action = ActionBlock
	}
	if d.Threshold == 0 {
		d.Threshold = block
	}
	if d.WarnThreshold == 0 {
		d.WarnThreshold = warn
	}
	return d
}

// Effective returns a copy of p (nil: no policy) with the tenant-wide
// action set to what applies when the document leaves it out, and each
// source's action, threshold and warn threshold set to what applies to
// it (Resolve for no agent): what the tenant's texts are screened under
// unless an agent says otherwise. The thresholds are per source because
// the defaults are.
func (p *Policy) Effective() *Policy {
	out := &Policy{}
	if p != nil {
		*out = *p
	}
	action := ActionBlock
	if out.Action != nil {
		action = *out.Action
	}
	out.Action = &action
	src := &SourceRules{}
	for _, s := range []Source{SourceUser, SourceSkill, SourceExternal} {
		d := p.Resolve("", s)
		r := &PolicyRule{Action: &d.Action, Threshold: &d.Threshold, WarnThreshold: &d.WarnThreshold}
		switch s {
		case SourceUser:
			src.User = r
		case SourceSkill:
			src.Skill = r
		default:
			src.External = r
		}
	}
	out.Sources = src
	return out
}

// PolicyError is a policy document's error: the field it is about (a
// dotted path such as "sources.user.threshold" or "agents.sales.action",
// empty for the document as a whole) and a message safe to show, which
// does not repeat the field.
type PolicyError struct {
	Field   string
	Message string
}

func (e *PolicyError) Error() string {
	if e.Field == "" {
		return e.Message
	}
	return e.Field + ": " + e.Message
}

func policyErr(field, format string, args ...any) error {
	return &PolicyError{Field: field, Message: fmt.Sprintf(format, args...)}
}

// Limits on a policy document.
const (
	MaxPolicyBytes  = 64 << 10
	MaxPolicyAgents = 1000
)

// ParsePolicy decodes and validates a policy document: unknown fields,
// wrong types, null for a field that is present,
// unknown actions, thresholds outside (0, 1], agent IDs that are not
// slugs and more than MaxPolicyAgents agents are errors (*PolicyError,
// messages safe to show).
func ParsePolicy(doc []byte) (*Policy, error) {
	if len(doc) > MaxPolicyBytes {
		return nil, policyErr("", "the policy must be at most %d bytes", MaxPolicyBytes)
	}
	if err := checkShape(doc); err != nil {
		return nil, err
	}
	dec := json.NewDecoder(bytes.NewReader(doc))
	dec.DisallowUnknownFields()
	var p Policy
	if err := dec.Decode(&p); err != nil {
		// checkShape has named every unknown field and wrong type; what
		// is left is a number out of range (1e400).
		return nil, policyErr("", "the policy must be a JSON object with action, threshold, sources and agents")
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, policyErr("", "the policy must be one JSON object")
	}
	if err := p.validate(); err != nil {
		return nil, err
	}
	return &p, nil
}

func (p *Policy) validate() error {
	// join names a field under prefix ("" at the top of the document).
	join := func(prefix, name string) string {
		if prefix == "" {
			return name
		}
		return prefix + "." + name
	}
	check := func(where string, r *PolicyRule) error {
		if r == nil {
			return nil
		}
		if r.Action != nil {
			switch *r.Action {
			case ActionBlock, ActionWarn, ActionEscalate:
			default:
				return policyErr(join(where, "action"), "must be block, warn or escalate")
			}
		}
		// NaN fails both comparisons, so it is refused too (JSON has none).
		if r.Threshold != nil && !(*r.Threshold > 0 && *r.Threshold <= 1) {
			return policyErr(join(where, "threshold"), "must be greater than 0 and at most 1")
		}
		if r.WarnThreshold != nil && !(*r.WarnThreshold > 0 && *r.WarnThreshold <= 1) {
			return policyErr(join(where, "warnThreshold"), "must be greater than 0 and at most 1")
		}
		return nil
	}
	sources := func(where string, s *SourceRules) error {
		if s == nil {
			return nil
		}
		for _, src := range []Source{SourceUser, SourceSkill, SourceExternal} {
			if err := check(join(where, "sources."+string(src)), s.rule(src)); err != nil {
				return err
			}
		}
		return nil
	}
	if err := check("", &p.PolicyRule); err != nil {
		return err
	}
	if err := sources("", p.Sources); err != nil {
		return err
	}
	if len(p.Agents) > MaxPolicyAgents {
		return policyErr("agents", "may name at most %d agents", MaxPolicyAgents)
	}
	for _, id := range slices.Sorted(maps.Keys(p.Agents)) {
		a := p.Agents[id]
		if validate.Slug("agentId", id, 128) != nil {
			return policyErr("agents", "an agent ID must be 1 to 128 lowercase letters, digits and hyphens")
		}
		where := "agents." + id
		if a == nil {
			return policyErr(where, "must be an object")
		}
		if err := check(where, &a.PolicyRule); err != nil {
			return err
		}
		if err := sources(where, a.Sources); err != nil {
			return err
		}
	}
	return nil
}

// checkShape walks doc (one JSON value) along the policy's schema before
// it is decoded, so that an unknown field, a value of the wrong type or an
// explicit null is refused naming its path ("sources.admin",
// "agents.sales.threshold"), which encoding/json's errors do not. A field
// that is present must not be null: leaving it out is how a rule
// inherits, and null would say the same thing a second way.
func checkShape(doc []byte) error {
	top, err := shapeObject(doc, "")
	if err != nil {
		return err
	}
	return shapeRule(top, "", map[string]func(json.RawMessage, string) error{
		"sources": shapeSources,
		"agents":  shapeAgents,
	})
}

// shapeObject decodes raw as an object, the field where (the document
// when "").
func shapeObject(raw []byte, where string) (map[string]json.RawMessage, error) {
	var m map[string]json.RawMessage
	switch kind := firstByte(raw); {
	case kind == '{' && json.Unmarshal(raw, &m) == nil:
		return m, nil
	case where == "" && kind == '{':
		return nil, policyErr("", "the policy is not valid JSON")
	case where == "":
		return nil, policyErr("", "the policy must be a JSON object with action, threshold, sources and agents")
	case kind == 'n':
		return nil, policyErr(where, "must not be null (leave it out to inherit)")
	}
	return nil, policyErr(where, "must be an object")
}

// shapeRule checks a rule's action and threshold, the fields in more, and
// refuses any other.
func shapeRule(m map[string]json.RawMessage, where string, more map[string]func(json.RawMessage, string) error) error {
	for _, k := range slices.Sorted(maps.Keys(m)) {
		v, field := m[k], joinField(where, safeKey(k))
		if firstByte(v) == 'n' {
			return policyErr(field, "must not be null (leave it out to inherit)")
		}
		var err error
		switch f, ok := more[k]; {
		case k == "action" && firstByte(v) != '"':
			err = policyErr(field, "must be block, warn or escalate")
		case (k == "threshold" || k == "warnThreshold") && !isNumber(v):
			err = policyErr(field, "must be a number")
		case k == "action", k == "threshold", k == "warnThreshold":
		case ok:
			err = f(v, field)
		default:
			err = policyErr(field, "is not a known field")
		}
		if err != nil {
			return err
		}
	}
	return nil
}

func shapeSources(raw json.RawMessage, where string) error {
	m, err := shapeObject(raw, where)
	if err != nil {
		return err
	}
	for _, k := range slices.Sorted(maps.Keys(m)) {
		field := joinField(where, safeKey(k))
		switch Source(k) {
		case SourceUser, SourceSkill, SourceExternal:
		default:
			return policyErr(field, "is not a known source (user, skill or external)")
		}
		r, err := shapeObject(m[k], field)
		if err != nil {
			return err
		}
		if err := shapeRule(r, field, nil); err != nil {
			return err
		}
	}
	return nil
}

func shapeAgents(raw json.RawMessage, where string) error {
	m, err := shapeObject(raw, where)
	if err != nil {
		return err
	}
	for _, id := range slices.Sorted(maps.Keys(m)) {
		if validate.Slug("agentId", id, 128) != nil {
			return policyErr(where, "an agent ID must be 1 to 128 lowercase letters, digits and hyphens")
		}
		field := where + "." + id
		a, err := shapeObject(m[id], field)
		if err != nil {
			return err
		}
		if err := shapeRule(a, field, map[string]func(json.RawMessage, string) error{
			"sources": shapeSources,
			"allowConsequentialTools": func(v json.RawMessage, field string) error {
				if b := firstByte(v); b != 't' && b != 'f' {
					return policyErr(field, "must be true or false")
				}
				return nil
			},
		}); err != nil {
			return err
		}
	}
	return nil
}

func joinField(prefix, name string) string {
	if prefix == "" {
		return name
	}
	return prefix + "." + name
}

// firstByte is the first byte of a JSON value, which tells its type.
func firstByte(raw []byte) byte {
	raw = bytes.TrimLeft(raw, " \t\r\n")
	if len(raw) == 0 {
		return 0
	}
	return raw[0]
}

func isNumber(raw []byte) bool {
	b := firstByte(raw)
	return b == '-' || b >= '0' && b <= '9'
}

// safeKey keeps a client's field name printable and short for a message:
// letters, digits, '_' and '-' as they are, anything else '?'.
func safeKey(k string) string {
	var b strings.Builder
	for _, r := range k {
		if b.Len() >= 64 {
			b.WriteString("…")
			break
		}
		if r == '_' || r == '-' || r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' {
			b.WriteRune(r)
		} else {
			b.WriteByte('?')
		}
	}
	if b.Len() == 0 {
		return "?"
	}
	return b.String()
}
