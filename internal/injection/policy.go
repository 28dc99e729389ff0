package injection

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"slices"

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

// PolicyRule is an action and a threshold; a field left out inherits. A
// field that is present must be valid: an action among block, warn and
// escalate, a threshold in (0, 1] (0 is no threshold, not "inherit").
type PolicyRule struct {
	Action    *string  `json:"action,omitempty"`
	Threshold *float64 `json:"threshold,omitempty"`
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
// (block at DefaultThreshold).
type Policy struct {
	PolicyRule
	Sources *SourceRules            `json:"sources,omitempty"`
	Agents  map[string]*AgentPolicy `json:"agents,omitempty"`
}

// Decision is the resolved rule for one agent and source.
type Decision struct {
	Action                  string
	Threshold               float64
	AllowConsequentialTools bool
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
	}
	if d.Action == "" {
		d.Action = ActionBlock
	}
	if d.Threshold == 0 {
		d.Threshold = DefaultThreshold
	}
	return d
}

// Effective returns a copy of p (nil: no policy) with the tenant-wide
// action and threshold set to what applies when the document leaves them
// out: what the tenant's texts are screened under unless a source or an
// agent says otherwise.
func (p *Policy) Effective() *Policy {
	out := &Policy{}
	if p != nil {
		*out = *p
	}
	action, threshold := ActionBlock, DefaultThreshold
	if out.Action != nil {
		action = *out.Action
	}
	if out.Threshold != nil {
		threshold = *out.Threshold
	}
	out.Action, out.Threshold = &action, &threshold
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
// unknown actions, thresholds outside (0, 1], agent IDs that are not
// slugs and more than MaxPolicyAgents agents are errors (*PolicyError,
// messages safe to show).
func ParsePolicy(doc []byte) (*Policy, error) {
	if len(doc) > MaxPolicyBytes {
		return nil, policyErr("", "the policy must be at most %d bytes", MaxPolicyBytes)
	}
	dec := json.NewDecoder(bytes.NewReader(doc))
	dec.DisallowUnknownFields()
	var p Policy
	if err := dec.Decode(&p); err != nil {
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
