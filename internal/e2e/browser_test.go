package e2e_test

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/komand-ai/komand/internal/app/apptest"
	"github.com/komand-ai/komand/internal/session"
)

// chromiumEnv names the Chromium binary for the browser tests; CI (.ci/run)
// installs Debian's chromium and sets it.
const chromiumEnv = "KOMAND_TEST_CHROMIUM"

func browser(t *testing.T) context.Context {
	t.Helper()
	bin := os.Getenv(chromiumEnv)
	if bin == "" {
		t.Skip(chromiumEnv + " is not set; set it to a Chromium binary (apt-get install chromium; /usr/bin/chromium) to run the browser tests")
	}
	opts := append(chromedp.DefaultExecAllocatorOptions[:], chromedp.ExecPath(bin),
		chromedp.Flag("headless", true), chromedp.NoSandbox, chromedp.Flag("disable-gpu", true))
	actx, cancel := chromedp.NewExecAllocator(context.Background(), opts...)
	t.Cleanup(cancel)
	ctx, cancel2 := chromedp.NewContext(actx)
	t.Cleanup(cancel2)
	ctx, cancel3 := context.WithTimeout(ctx, 60*time.Second)
	t.Cleanup(cancel3)
	return ctx
}

// TestChatPageInBrowser drives the embedded /chat page in headless
// Chromium: sign in with an API key, send a message, see the agent's
// answer streamed back; markup in a message stays text (no element is
// created from it), and the credential is not kept beyond sessionStorage.
func TestChatPageInBrowser(t *testing.T) {
	t.Parallel()
	ctx := browser(t)
	env := apptest.New(t, "sqlite", nil)
	tn := env.Tenant("acme")
	key := env.APIKey(tn, env.User(tn, "op@example.com", "operator"))
	admin := env.APIKey(tn, env.User(tn, "admin@example.com", "admin"))
	if r := env.Do("POST", "/api/agents/", admin, map[string]any{"agentId": "default", "name": "Front desk",
		"allowedChannels": []string{"WebChat"}}); r.Status != 201 {
		t.Fatalf("agent: %d %s", r.Status, r.Body)
	}
	hostile := `<img src=x onerror="document.title='pwned'">`
	fail := func(step string, err error) {
		t.Helper()
		if err != nil {
			t.Fatalf("browser, %s: %v\nserver log:\n%s", step, err, env.Logs())
		}
	}
	fail("sign in and send", chromedp.Do(ctx,
		chromedp.Navigate(env.Server.URL+"/chat"),
		chromedp.WaitVisible(chromedp.CSS("#login")),
		chromedp.SendKeys(chromedp.CSS("#token"), key),
		chromedp.SendKeys(chromedp.CSS("#sender"), "ada"),
		chromedp.Click(chromedp.CSS("#login button")),
		chromedp.WaitVisible(chromedp.CSS("#composer")),
		chromedp.SendKeys(chromedp.CSS("#text"), "Hello there"),
		chromedp.Click(chromedp.CSS("#composer button")),
		chromedp.Poll[chromedp.Void](`(() => { const a = document.querySelectorAll('#messages li.agent'); return a.length > 0 && a[a.length-1].textContent.length > 0 })()`),
	))
	answer, err := chromedp.Run(ctx, chromedp.Text(chromedp.CSS("#messages li.agent")))
	fail("read the answer", err)
	fail("send markup", chromedp.Do(ctx,
		chromedp.SendKeys(chromedp.CSS("#text"), hostile),
		chromedp.Click(chromedp.CSS("#composer button")),
		chromedp.Poll[chromedp.Void](`document.querySelectorAll('#messages li.agent').length >= 2`),
	))
	echoed, err := chromedp.Run(ctx, chromedp.Evaluate[string](`document.querySelectorAll('#messages li.user')[1].textContent`))
	fail("read the echo", err)
	imgs, err := chromedp.Run(ctx, chromedp.Evaluate[int](`document.querySelectorAll('#messages img').length`))
	fail("count images", err)
	title, err := chromedp.Run(ctx, chromedp.Evaluate[string](`document.title`))
	fail("title", err)
	local, err := chromedp.Run(ctx, chromedp.Evaluate[string](`JSON.stringify(localStorage)`))
	fail("localStorage", err)
	if !strings.Contains(answer, strings.Split(session.NoProviderReply, ".")[0]) {
		t.Fatalf("the agent's answer in the page: %q", answer)
	}
	if echoed != hostile || imgs != 0 || title == "pwned" {
		t.Fatalf("markup in a message was rendered: text %q, %d img elements, title %q", echoed, imgs, title)
	}
	if strings.Contains(local, key) {
		t.Fatal("the API key was written to localStorage")
	}
	// The turns the page sent are in the session's history.
	r := env.Do("GET", "/api/sessions/?status=active", admin, nil)
	if r.Status != 200 || r.Meta.Total != 1 {
		t.Fatalf("sessions after the browser chat: %d %s", r.Status, r.Body)
	}
}

// TestChatWidgetInBrowser opens a public chat widget's page as an
// anonymous visitor: no sign-in, a visitor token fetched by the page, an
// answer streamed back in a session of the widget's account, and a token
// that stopped working renewed by the page without losing the message.
func TestChatWidgetInBrowser(t *testing.T) {
	t.Parallel()
	ctx := browser(t)
	env := apptest.New(t, "sqlite", nil)
	tn := env.Tenant("acme")
	admin := env.APIKey(tn, env.User(tn, "admin@example.com", "admin"))
	if r := env.Do("POST", "/api/agents/", admin, map[string]any{"agentId": "default", "name": "Front desk",
		"allowedChannels": []string{"WebChat"}}); r.Status != 201 {
		t.Fatalf("agent: %d %s", r.Status, r.Body)
	}
	r := env.Do("POST", "/api/channels/accounts/", admin, map[string]any{"channel": "WebChat", "accountId": "site", "agentId": "default"})
	if r.Status != 201 {
		t.Fatalf("widget: %d %s", r.Status, r.Body)
	}
	page := decodeData[widgetAccountView](t, r).ChatPagePath
	fail := func(step string, err error) {
		t.Helper()
		if err != nil {
			t.Fatalf("browser, %s: %v\nserver log:\n%s", step, err, env.Logs())
		}
	}
	answered := func(n int) chromedp.Action[chromedp.Void] {
		return chromedp.Poll[chromedp.Void](fmt.Sprintf(`(() => { const a = document.querySelectorAll('#messages li.agent:not(.error)'); return a.length >= %d && a[a.length-1].textContent.length > 0 })()`, n))
	}
	fail("open and send", chromedp.Do(ctx,
		chromedp.Navigate(env.Server.URL+page),
		chromedp.WaitVisible(chromedp.CSS("#composer")),
		chromedp.SendKeys(chromedp.CSS("#text"), "Hello from the website"),
		chromedp.Click(chromedp.CSS("#composer button")),
		answered(1),
	))
	login, err := chromedp.Run(ctx, chromedp.Evaluate[bool](`document.getElementById('login').hidden`))
	fail("login form", err)
	if !login {
		t.Fatal("the widget page asked an anonymous visitor to sign in")
	}
	// The stored token stops working (as when it expires): the page gets a
	// new one and the message still goes through.
	fail("broken token", chromedp.Do(ctx,
		chromedp.Evaluate[chromedp.Void](`Object.keys(sessionStorage).forEach(k => { if (k.startsWith('komand.visitor.')) sessionStorage.setItem(k, 'kvt_expired.x.y') })`),
		chromedp.Reload(),
		chromedp.WaitVisible(chromedp.CSS("#composer")),
		chromedp.SendKeys(chromedp.CSS("#text"), "Still there?"),
		chromedp.Click(chromedp.CSS("#composer button")),
		answered(1),
	))
	errs, err := chromedp.Run(ctx, chromedp.Evaluate[int](`document.querySelectorAll('#messages li.error').length`))
	fail("errors", err)
	local, err := chromedp.Run(ctx, chromedp.Evaluate[string](`JSON.stringify(localStorage)`))
	fail("localStorage", err)
	if errs != 0 || strings.Contains(local, "kvt_") {
		t.Fatalf("%d errors shown; localStorage %s", errs, local)
	}
	r = env.Do("GET", "/api/sessions/?status=active", admin, nil)
	var ss []sessionView
	if err := json.Unmarshal(r.Data, &ss); err != nil || r.Status != 200 || len(ss) != 2 {
		t.Fatalf("sessions after the widget chat: %d %s", r.Status, r.Body)
	}
	for _, s := range ss {
		if !strings.HasPrefix(s.Key, "WebChat:site:visitor-") || s.MessageCount != 2 { // one message and its answer
			t.Fatalf("widget session %+v", s)
		}
	}
}
