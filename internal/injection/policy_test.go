package injection

import (
	"strings"
	"testing"
)

func TestPolicyResolve(t *testing.T) {
	var none *Policy
	if d := none.Resolve("any", SourceUser); d.Action != ActionBlock || d.Threshold != DefaultThreshold || d.AllowConsequentialTools {
		t.Fatalf("defaults: %+v", d)
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
