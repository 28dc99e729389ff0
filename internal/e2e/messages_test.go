package e2e_test

import (
	"crypto/ed25519"
	"crypto/rand"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"testing"
)

// The plain-words error texts of issue 15, defect 9, at the HTTP level (the
// chat page's side is in messages_browser_test.go).

// TestViewerDenialSaysWhatTheRoleLacks: a Viewer sending a chat message is
// told, in plain words, that its role does not allow sending messages and
// which role does, and nothing of the matrix's internal names.
func TestViewerDenialSaysWhatTheRoleLacks(t *testing.T) {
	w := newProviderWorld(t, "sqlite", nil, textReply("hi"))
	viewer := w.env.APIKey(w.tenant, w.env.User(w.tenant, "viewer@example.com", "viewer"))
	for _, path := range []string{"/api/webchat/message", "/api/webchat/message/stream"} {
		r := w.env.Do("POST", path, viewer, map[string]any{"senderId": "v", "text": "hello"})
		expectError(t, r, 403, "forbidden")
		want := "Your role (viewer) does not allow sending messages to agents; the operator role or higher does."
		if *r.Error != want {
			t.Fatalf("%s: %q, want %q", path, *r.Error, want)
		}
	}
	// Another denial, another sentence.
	r := w.env.Do("DELETE", "/api/agents/default", viewer, nil)
	expectError(t, r, 403, "forbidden")
	if *r.Error != "Your role (viewer) does not allow deleting agents; the admin role or higher does." {
		t.Fatalf("delete: %q", *r.Error)
	}
}

// TestVisitorCommandRefusalIsASentence: a widget visitor's slash command is
// refused with a sentence, not a field error ("text: …").
func TestVisitorCommandRefusalIsASentence(t *testing.T) {
	w := newProviderWorld(t, "sqlite", nil)
	v := startVisitor(t, w, map[string]any{"widgetId": newWidget(t, w, "site").ID})
	for _, path := range []string{"/api/webchat/message", "/api/webchat/message/stream"} {
		r := w.env.Do("POST", path, v.Token, map[string]any{"text": "/memory get plan"})
		expectError(t, r, 400, "validation_failed")
		if strings.HasPrefix(*r.Error, "text:") || !strings.HasPrefix(*r.Error, "Commands (messages that start with /) are not available in this chat.") {
			t.Fatalf("%s: %q", path, *r.Error)
		}
	}
}

// TestProviderRefusingTheKeyIsMisconfigured: a provider answering 401 (or
// 403, 404) is reported as misconfigured, without detail and without
// retries; the log has the status with the request ID, and nothing of the
// provider's answer.
func TestProviderRefusingTheKeyIsMisconfigured(t *testing.T) {
	for _, status := range []int{http.StatusUnauthorized, http.StatusForbidden, http.StatusNotFound} {
		w := newProviderWorld(t, "sqlite", nil, func(w http.ResponseWriter, _ map[string]any) {
			http.Error(w, `{"error":{"message":"Incorrect API key provided: sk-upstream-echo"}}`, status)
		})
		r := w.send(t, "Hello?")
		expectError(t, r, 503, "unavailable")
		if !strings.Contains(*r.Error, "misconfigured") || strings.Contains(*r.Error, "not answering") ||
			strings.Contains(string(r.Body), "upstream-echo") || strings.Contains(*r.Error, strconv.Itoa(status)) {
			t.Fatalf("%d: %s", status, r.Body)
		}
		if w.fake.calls() != 1 {
			t.Errorf("%d: %d attempts, want 1 (retrying cannot help)", status, w.fake.calls())
		}
		line := logLine(w.env.Logs(), `"request_id":"`+r.ReqID+`"`, `"msg":"request failed"`)
		if !strings.Contains(line, "refused the configured key") || !strings.Contains(line, fmt.Sprintf("HTTP %d", status)) {
			t.Fatalf("%d: the log lacks the detail: %q", status, line)
		}
		if strings.Contains(w.env.Logs(), "upstream-echo") {
			t.Fatalf("%d: the provider's answer reached the log", status)
		}
	}
}

// TestUnverifiedSkillNamesTheSetting: registering a package that does not
// verify, where unsigned skills are not allowed, names the setting that
// would change it: Skills__TrustedPublishers when it is not set or lacks
// the publisher, the tenant's skill policy for an unsigned package.
func TestUnverifiedSkillNamesTheSetting(t *testing.T) {
	w := newProviderWorld(t, "sqlite", nil) // Skills__TrustedPublishers not set
	_, priv, _ := ed25519.GenerateKey(rand.Reader)
	module := []byte("\x00asm\x01\x00\x00\x00") // never compiled: refused before
	signed := pack(t, "examples/skills/quote-builder/skill.json", nil, module, priv)
	r := w.env.Do("POST", "/api/skills/", w.admin, signed)
	expectError(t, r, 400, "validation_failed")
	if !strings.Contains(*r.Error, "Skills__TrustedPublishers is not set") || strings.Contains(*r.Error, "not signed") {
		t.Fatalf("signed, nothing trusted: %q", *r.Error)
	}
	unsigned := pack(t, "examples/skills/quote-builder/skill.json", nil, module, nil)
	r = w.env.Do("POST", "/api/skills/", w.admin, unsigned)
	expectError(t, r, 400, "validation_failed")
	if !strings.Contains(*r.Error, "not signed") || !strings.Contains(*r.Error, "skill policy") {
		t.Fatalf("unsigned: %q", *r.Error)
	}

	// A deployment that trusts keys, none of them this publisher's.
	sw := newSkillWorld(t, "sqlite")
	other := pack(t, "examples/skills/quote-builder/skill.json", func(c map[string]any) { c["publisherId"] = "acme" }, module, priv)
	r = sw.env.Do("POST", "/api/skills/", sw.admin, other)
	expectError(t, r, 400, "validation_failed")
	if !strings.Contains(*r.Error, "Skills__TrustedPublishers has no key for publisher acme") {
		t.Fatalf("signed, publisher not trusted: %q", *r.Error)
	}
}
