package injection

import (
	"errors"
	"strings"
	"testing"
)

func TestPolicyResolve(t *testing.T) {
	var none *Policy
	for _, src := range sources {
		warn, block := DefaultThresholds(src)
		if d := none.Resolve("any", src); d.Action != ActionBlock || d.Threshold != block || d.WarnThreshold != warn || d.AllowConsequentialTools {
			t.Fatalf("defaults for %s: %+v, want block at %v, warn from %v", src, d, block, warn)
		}
		if !(warn > 0 && warn <= block && block <= 1) {
			t.Errorf("%s: default warn %v, block %v: want 0 < warn <= block <= 1", src, warn, block)
		}
	}
	p, err := ParsePolicy([]byte(`{"action":"warn","threshold":0.7,
		"sources":{"skill":{"action":"escalate"}},
		"agents":{"sales":{"threshold":0.9,"sources":{"user":{"action":"block"}},"allowConsequentialTools":true}}}`))
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		agent  string
		src    Source
		action string
		thr    float64
		allow  bool
	}{
		{"support", SourceUser, ActionWarn, 0.7, false},
		{"support", SourceSkill, ActionEscalate, 0.7, false},
		{"support", SourceExternal, ActionWarn, 0.7, false},
		{"sales", SourceUser, ActionBlock, 0.9, true},
		{"sales", SourceSkill, ActionEscalate, 0.9, true},
		{"sales", SourceExternal, ActionWarn, 0.9, true},
	} {
		d := p.Resolve(c.agent, c.src)
		if d.Action != c.action || d.Threshold != c.thr || d.AllowConsequentialTools != c.allow {
			t.Errorf("%s/%s: %+v, want %s %.1f %v", c.agent, c.src, d, c.action, c.thr, c.allow)
		}
	}
}

func TestParsePolicyRejects(t *testing.T) {
	for name, doc := range map[string]string{
		"malformed":        `{"action":`,
		"not an object":    `["block"]`,
		"two objects":      `{} {}`,
		"unknown field":    `{"action":"block","mode":"strict"}`,
		"unknown action":   `{"action":"allow"}`,
		"off is no action": `{"sources":{"user":{"action":"off"}}}`,
		"threshold > 1":    `{"threshold":1.5}`,
		"threshold < 0":    `{"threshold":-0.1}`,
		"threshold 0":      `{"threshold":0}`,
		"source thr 0":     `{"sources":{"skill":{"threshold":0}}}`,
		"empty action":     `{"action":""}`,
		"action null type": `{"action":1}`,
		"agent bad action": `{"agents":{"a":{"action":"ignore"}}}`,
		"agent null":       `{"agents":{"a":null}}`,
		"empty agent id":   `{"agents":{"":{"action":"warn"}}}`,
		"long agent id":    `{"agents":{"` + strings.Repeat("a", 129) + `":{}}}`,
		"agent id markup":  `{"agents":{"<script>":{}}}`,
		"agent id newline": `{"agents":{"a\nb":{}}}`,
		"unknown source":   `{"sources":{"system":{"action":"warn"}}}`,
		"oversized":        `{"agents":{` + strings.Repeat(`"x":{},`, 12000) + `"y":{}}}`,
	} {
		if _, err := ParsePolicy([]byte(doc)); err == nil {
			t.Errorf("%s: accepted", name)
		} else if strings.Contains(err.Error(), "json:") {
			t.Errorf("%s: error leaks the decoder: %v", name, err)
		}
	}
	many := `{"agents":{`
	for i := range MaxPolicyAgents + 1 {
		if i > 0 {
			many += ","
		}
		many += `"a` + itoa(i) + `":{}`
	}
	if _, err := ParsePolicy([]byte(many + "}}")); err == nil {
		t.Error("more than MaxPolicyAgents agents accepted")
	}
}

func itoa(i int) string {
	if i == 0 {
		return "0"
	}
	var b []byte
	for ; i > 0; i /= 10 {
		b = append([]byte{byte('0' + i%10)}, b...)
	}
	return string(b)
}

// TestParsePolicyNamesField: each refusal names the offending field once,
// as a path from the document's top ("policy" is the caller's prefix, so
// it is never in the message), and an explicit 0 threshold, which used to
// be read as "inherit" and applied as 0.5, is refused.
func TestParsePolicyNamesField(t *testing.T) {
	for doc, field := range map[string]string{
		`{"threshold":0}`:                                              "threshold",
		`{"threshold":1.0000001}`:                                      "threshold",
		`{"action":"allow"}`:                                           "action",
		`{"action":""}`:                                                "action",
		`{"sources":{"user":{"threshold":0}}}`:                         "sources.user.threshold",
		`{"sources":{"skill":{"action":"off"}}}`:                       "sources.skill.action",
		`{"agents":{"sales":{"threshold":-1}}}`:                        "agents.sales.threshold",
		`{"agents":{"sales":{"sources":{"external":{"action":"x"}}}}}`: "agents.sales.sources.external.action",
		`{"agents":{"sales":null}}`:                                    "agents.sales",
		`{"agents":{"Sales!":{}}}`:                                     "agents",
	} {
		_, err := ParsePolicy([]byte(doc))
		var pe *PolicyError
		if !errors.As(err, &pe) {
			t.Errorf("%s: %v, want a PolicyError", doc, err)
			continue
		}
		if pe.Field != field {
			t.Errorf("%s: field %q, want %q", doc, pe.Field, field)
		}
		if strings.Contains(pe.Message, "policy") || strings.Contains(pe.Message, field+":") || pe.Message == "" {
			t.Errorf("%s: message %q repeats a field name", doc, pe.Message)
		}
		if got := err.Error(); strings.Count(got, field) != 1 {
			t.Errorf("%s: %q names %q other than once", doc, got, field)
		}
	}
	for _, doc := range []string{`{"threshold":1}`, `{"threshold":0.0001}`, `{"agents":{"a":{"threshold":1}}}`} {
		if _, err := ParsePolicy([]byte(doc)); err != nil {
			t.Errorf("%s refused: %v", doc, err)
		}
	}
}

// TestPolicyEffective: the effective policy is the document with the
// tenant-wide action and each source's action and thresholds the
// screening applies.
func TestPolicyEffective(t *testing.T) {
	var none *Policy
	e0 := none.Effective()
	if *e0.Action != ActionBlock || e0.Threshold != nil || e0.Agents != nil {
		t.Fatalf("defaults: %+v", e0)
	}
	for _, src := range sources {
		warn, block := DefaultThresholds(src)
		r := e0.Sources.rule(src)
		if *r.Action != ActionBlock || *r.Threshold != block || *r.WarnThreshold != warn {
			t.Fatalf("defaults for %s: %+v", src, r)
		}
	}
	p, err := ParsePolicy([]byte(`{"action":"warn","sources":{"user":{"threshold":0.9}},"agents":{"a":{"action":"escalate"}}}`))
	if err != nil {
		t.Fatal(err)
	}
	e := p.Effective()
	_, skillBlock := DefaultThresholds(SourceSkill)
	if *e.Action != ActionWarn || e.Threshold != nil || *e.Sources.User.Threshold != 0.9 || *e.Sources.Skill.Threshold != skillBlock || *e.Agents["a"].Action != ActionEscalate {
		t.Fatalf("effective: %+v", e)
	}
	if p.Threshold != nil || p.Sources.Skill != nil {
		t.Fatal("Effective changed the policy it was called on")
	}
	for _, agent := range []string{"a", "b"} {
		for _, src := range sources {
			if d, w := e.Resolve(agent, src), p.Resolve(agent, src); d != w {
				t.Fatalf("effective resolves %s/%s differently: %+v, document %+v", agent, src, d, w)
			}
		}
	}
}

// TestParsePolicyNamesUnknownAndMistyped: an unknown field, an unknown
// source, a value of the wrong type and an explicit null (for a field that
// is present: leaving it out is how a rule inherits) are refused naming
// the path, not with a message about the whole document.
func TestParsePolicyNamesUnknownAndMistyped(t *testing.T) {
	for doc, want := range map[string]string{
		`{"bogus":1}`: "bogus: is not a known field",
		`{"sources":{"admin":{"action":"warn"}}}`:            "sources.admin: is not a known source (user, skill or external)",
		`{"threshold":"0.5"}`:                                "threshold: must be a number",
		`{"threshold":null}`:                                 "threshold: must not be null (leave it out to inherit)",
		`{"action":null}`:                                    "action: must not be null (leave it out to inherit)",
		`{"action":1}`:                                       "action: must be block, warn or escalate",
		`{"sources":null}`:                                   "sources: must not be null (leave it out to inherit)",
		`{"sources":[]}`:                                     "sources: must be an object",
		`{"sources":{"user":{"mode":"x"}}}`:                  "sources.user.mode: is not a known field",
		`{"sources":{"user":{"threshold":true}}}`:            "sources.user.threshold: must be a number",
		`{"sources":{"user":null}}`:                          "sources.user: must not be null (leave it out to inherit)",
		`{"agents":{"sales":{"bogus":1}}}`:                   "agents.sales.bogus: is not a known field",
		`{"agents":{"sales":{"allowConsequentialTools":1}}}`: "agents.sales.allowConsequentialTools: must be true or false",
		`{"agents":{"sales":{"sources":{"x":{}}}}}`:          "agents.sales.sources.x: is not a known source (user, skill or external)",
		`{"agents":{"sales":{"threshold":"high"}}}`:          "agents.sales.threshold: must be a number",
		`{"agents":[]}`:                                      "agents: must be an object",
		`{"a\nb<script>":1}`:                                 "a?b?script?: is not a known field",
		`{"Action":"warn"}`:                                  "Action: is not a known field",
		`null`:                                               "the policy must be a JSON object with action, threshold, sources and agents",
	} {
		_, err := ParsePolicy([]byte(doc))
		if err == nil || err.Error() != want {
			t.Errorf("%s: %v, want %q", doc, err, want)
		}
	}
	if _, err := ParsePolicy([]byte(`{"action":"warn","threshold":0.5,"sources":{"user":{}},"agents":{"a":{"allowConsequentialTools":false,"sources":{"skill":{"threshold":1}}}}}`)); err != nil {
		t.Fatalf("a valid policy: %v", err)
	}
}

// TestDecisionAct: action at and above the threshold, warn in the band
// below it, nothing under the warn threshold; an explicit warnThreshold is
// validated and inherits like the other fields.
func TestDecisionAct(t *testing.T) {
	d := Decision{Action: ActionEscalate, Threshold: 0.8, WarnThreshold: 0.4}
	for _, c := range []struct {
		score float64
		want  string
	}{{0.95, ActionEscalate}, {0.8, ActionEscalate}, {0.79, ActionWarn}, {0.4, ActionWarn}, {0.39, ""}, {0, ""}} {
		if got := d.Act(c.score); got != c.want {
			t.Errorf("score %v: %q, want %q", c.score, got, c.want)
		}
	}
	if got := (Decision{Action: ActionBlock, Threshold: 0.5, WarnThreshold: 0.6}).Act(0.45); got != "" {
		t.Errorf("warn threshold above the threshold: %q, want no warning band", got)
	}
	p, err := ParsePolicy([]byte(`{"warnThreshold":0.3,"sources":{"external":{"warnThreshold":0.2}},"agents":{"x":{"threshold":0.9}}}`))
	if err != nil {
		t.Fatal(err)
	}
	if d := p.Resolve("x", SourceUser); d.WarnThreshold != 0.3 || d.Threshold != 0.9 {
		t.Errorf("user: %+v", d)
	}
	if d := p.Resolve("x", SourceExternal); d.WarnThreshold != 0.2 {
		t.Errorf("external: %+v", d)
	}
	for doc, field := range map[string]string{
		`{"warnThreshold":0}`:                                       "warnThreshold",
		`{"warnThreshold":1.5}`:                                     "warnThreshold",
		`{"warnThreshold":"0.3"}`:                                   "warnThreshold",
		`{"warnThreshold":null}`:                                    "warnThreshold",
		`{"sources":{"skill":{"warnThreshold":-1}}}`:                "sources.skill.warnThreshold",
		`{"agents":{"a":{"warnThreshold":2}}}`:                      "agents.a.warnThreshold",
		`{"agents":{"a":{"sources":{"user":{"warnThreshold":0}}}}}`: "agents.a.sources.user.warnThreshold",
	} {
		_, err := ParsePolicy([]byte(doc))
		var pe *PolicyError
		if !errors.As(err, &pe) || pe.Field != field {
			t.Errorf("%s: %v, want an error about %s", doc, err, field)
		}
	}
}
