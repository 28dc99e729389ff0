package e2e_test

import (
	"strings"
	"testing"

	"github.com/chromedp/chromedp"
)

// TestChatPageSaysWhy (issue 15, defect 9) drives the /chat page in
// headless Chromium: a refused key returns to the sign-in form with a
// message saying so; a Viewer's message is answered with what its role
// lacks; a widget visitor's slash command with a plain sentence.
func TestChatPageSaysWhy(t *testing.T) {
	ctx := browser(t)
	w := newProviderWorld(t, "sqlite", nil)
	env := w.env
	viewer := env.APIKey(w.tenant, env.User(w.tenant, "viewer@example.com", "viewer"))
	fail := func(step string, err error) {
		t.Helper()
		if err != nil {
			t.Fatalf("browser, %s: %v\nserver log:\n%s", step, err, env.Logs())
		}
	}
	signInAndSend := func(key string, then ...chromedp.Action[chromedp.Void]) []chromedp.Action[chromedp.Void] {
		return append([]chromedp.Action[chromedp.Void]{
			chromedp.Navigate(env.Server.URL + "/chat"),
			chromedp.Evaluate[chromedp.Void](`sessionStorage.clear()`),
			chromedp.Reload(),
			chromedp.WaitVisible(chromedp.CSS("#login")),
			chromedp.SendKeys(chromedp.CSS("#token"), key),
			chromedp.SendKeys(chromedp.CSS("#sender"), "ada"),
			chromedp.Click(chromedp.CSS("#login button")),
			chromedp.WaitVisible(chromedp.CSS("#composer")),
			chromedp.SendKeys(chromedp.CSS("#text"), "Hello there"),
			chromedp.Click(chromedp.CSS("#composer button")),
		}, then...)
	}

	// A wrong key: back at the sign-in form, with the reason.
	fail("wrong key", chromedp.Do(ctx, signInAndSend("kmd_this-key-does-not-exist",
		chromedp.WaitVisible(chromedp.CSS("#login-error")))...))
	msg, err := chromedp.Run(ctx, chromedp.Text(chromedp.CSS("#login-error")))
	fail("read the sign-in error", err)
	composer, err := chromedp.Run(ctx, chromedp.Evaluate[bool](`document.getElementById('conversation').hidden`))
	fail("conversation hidden", err)
	if !strings.Contains(msg, "refused this key") || !composer {
		t.Fatalf("after a wrong key: message %q, conversation hidden %v", msg, composer)
	}
	// Signing in again hides the message.
	fail("sign in again", chromedp.Do(ctx,
		chromedp.SendKeys(chromedp.CSS("#token"), viewer),
		chromedp.Click(chromedp.CSS("#login button")),
		chromedp.WaitVisible(chromedp.CSS("#composer")),
	))
	hidden, err := chromedp.Run(ctx, chromedp.Evaluate[bool](`document.getElementById('login-error').hidden`))
	fail("sign-in error hidden", err)
	if !hidden {
		t.Fatal("the sign-in error stays after signing in again")
	}

	// A Viewer: told what the role lacks.
	fail("viewer", chromedp.Do(ctx, signInAndSend(viewer,
		chromedp.Poll[chromedp.Void](`document.querySelectorAll('#messages li.error').length > 0`))...))
	msg, err = chromedp.Run(ctx, chromedp.Text(chromedp.CSS("#messages li.error")))
	fail("read the viewer's error", err)
	if msg != "Your role (viewer) does not allow sending messages to agents; the operator role or higher does." {
		t.Fatalf("viewer: %q", msg)
	}

	// A widget visitor's slash command: a sentence.
	page := newWidget(t, w, "site").ChatPagePath
	fail("visitor command", chromedp.Do(ctx,
		chromedp.Navigate(env.Server.URL+page),
		chromedp.WaitVisible(chromedp.CSS("#composer")),
		chromedp.SendKeys(chromedp.CSS("#text"), "/memory get plan"),
		chromedp.Click(chromedp.CSS("#composer button")),
		chromedp.Poll[chromedp.Void](`document.querySelectorAll('#messages li.error').length > 0`)))
	msg, err = chromedp.Run(ctx, chromedp.Text(chromedp.CSS("#messages li.error")))
	fail("read the visitor's error", err)
	if strings.HasPrefix(msg, "text:") || !strings.HasPrefix(msg, "Commands (messages that start with /) are not available in this chat.") {
		t.Fatalf("visitor: %q", msg)
	}
}
