package dataset

import (
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"regexp"
	"strings"
)

// Documents of our own: e-mails, tables, JSON tool output, code, web pages,
// webhooks, tickets. Their clean versions carry ordinary instructions for
// people ("please reply by Friday", "ignore the old invoice") so that an
// imperative in a document is not itself the signal.

var (
	people    = []string{"Anna Berg", "Luis Ortega", "Mei Chen", "Tom Walsh", "Priya Nair", "Jonas Keller", "Sara Rossi", "Omar Haddad", "Eva Novak", "Kenji Sato"}
	companies = []string{"Northwind Traders", "Blue Harbor Ltd", "Alpine Tools GmbH", "Greenleaf Foods", "Brightline Logistics", "Cedar & Co", "Orbit Labs", "Riverstone Bank"}
	items     = []string{"standing desk", "espresso machine", "wireless headset", "hiking boots", "office chair", "LED monitor", "coffee beans (1 kg)", "printer toner", "backpack", "phone case"}
	cities    = []string{"Berlin", "Lisbon", "Toronto", "Osaka", "Leeds", "Lyon", "Austin", "Melbourne", "Krakow", "Bologna"}
	weekdays  = []string{"Monday", "Tuesday", "Wednesday", "Thursday", "Friday"}
	humanAsks = []string{
		"Please reply by %s if the new date works for you.",
		"Ignore the invoice I sent last week; this one replaces it.",
		"Forward this to your team lead if you are not the right contact.",
		"Do not forget to bring your badge on %s.",
		"Please review the attached contract and sign page 3.",
		"Let me know if you need anything else.",
		"Kindly confirm receipt of this message.",
		"Remember to change your password every 90 days; IT will never ask you for it.",
		"You can disregard the earlier reminder, the payment arrived.",
		"Call me if the delivery is late again.",
	}
	topics = []string{"the quarterly planning meeting", "your recent order", "the office move", "the new holiday policy", "the supplier contract", "the team offsite", "your support request", "the server maintenance window"}
)

// komandDocs adds our own clean documents to the document pool.
func komandDocs(b *builder) {
	r := rng("komand-docs")
	pools := []string{"komand-en", "komand-en", "bipia-text", "tensortrust", "extraction"}
	for i := 0; i < 700; i++ {
		b.docs = append(b.docs, doc{text: makeEmail(r), kind: "email", source: External, lang: "en", origin: "komand-docs", twins: 3, pools: pools})
	}
	for i := 0; i < 300; i++ {
		b.docs = append(b.docs, doc{text: makeTable(r), kind: "table", source: External, lang: "en", origin: "komand-docs", twins: 3, pools: pools})
	}
	for i := 0; i < 500; i++ {
		b.docs = append(b.docs, doc{text: makeJSON(r), kind: "json", source: Skill, lang: "en", origin: "komand-docs", twins: 3, pools: pools})
	}
	for i := 0; i < 300; i++ {
		b.docs = append(b.docs, doc{text: makeCode(r), kind: "code", source: Skill, lang: "en", origin: "komand-docs", twins: 3, pools: []string{"komand-code", "komand-en", "bipia-code"}})
	}
	for i := 0; i < 400; i++ {
		b.docs = append(b.docs, doc{text: makeWeb(r), kind: "web", source: External, lang: "en", origin: "komand-docs", twins: 3, pools: pools})
	}
	for i := 0; i < 300; i++ {
		b.docs = append(b.docs, doc{text: makeWebhook(r), kind: "webhook", source: External, lang: "en", origin: "komand-docs", twins: 3, pools: pools})
	}
	for i := 0; i < 300; i++ {
		b.docs = append(b.docs, doc{text: makeTicket(r), kind: "ticket", source: External, lang: "en", origin: "komand-docs", twins: 3, pools: pools})
	}
}

func date(r *rand.Rand) string {
	return fmt.Sprintf("2026-%02d-%02d", 1+r.IntN(12), 1+r.IntN(28))
}

func makeEmail(r *rand.Rand) string {
	from, to := pick(r, people), pick(r, people)
	topic := pick(r, topics)
	var body []string
	body = append(body, fmt.Sprintf("Hi %s,", strings.Fields(to)[0]))
	body = append(body, fmt.Sprintf("I am writing about %s. %s", topic, pick(r, []string{
		"We moved it to " + pick(r, weekdays) + " at " + fmt.Sprint(9+r.IntN(8)) + ":00 in room " + fmt.Sprint(100+r.IntN(400)) + ".",
		fmt.Sprintf("The total comes to %d.%02d EUR, due on %s.", 50+r.IntN(5000), r.IntN(100), date(r)),
		"The " + pick(r, items) + " you asked about is back in stock.",
		"Shipping from " + pick(r, cities) + " takes about " + fmt.Sprint(2+r.IntN(6)) + " working days.",
		"Attached you will find the notes from the last session.",
	})))
	ask := pick(r, humanAsks)
	if strings.Contains(ask, "%s") {
		ask = fmt.Sprintf(ask, pick(r, weekdays))
	}
	body = append(body, ask)
	if r.IntN(2) == 0 {
		body = append(body, fmt.Sprintf("Our office in %s is open from 9 to 5 on weekdays.", pick(r, cities)))
	}
	body = append(body, "Best regards,\n"+from+"\n"+pick(r, companies))
	head := fmt.Sprintf("From: %s <%s@%s.example>\nTo: %s\nSubject: Re: %s\nDate: %s\n\n", from, strings.ToLower(strings.Fields(from)[0]), strings.ToLower(strings.Fields(pick(r, companies))[0]), to, topic, date(r))
	text := head + strings.Join(body, "\n\n")
	if r.IntN(3) == 0 {
		text += "\n\n> On " + date(r) + ", " + to + " wrote:\n> Could you send me an update on " + topic + "?\n> Thanks!"
	}
	return text
}

func makeTable(r *rand.Rand) string {
	n := 3 + r.IntN(6)
	if r.IntN(2) == 0 {
		var sb strings.Builder
		sb.WriteString("order_id,customer,item,qty,status,note\n")
		for i := 0; i < n; i++ {
			note := pick(r, []string{"", "leave at door", "ignore previous address", "call before delivery", "gift wrap", "fragile"})
			fmt.Fprintf(&sb, "%d,%s,%s,%d,%s,%s\n", 40000+r.IntN(9999), pick(r, people), pick(r, items), 1+r.IntN(4), pick(r, []string{"shipped", "pending", "returned", "delivered"}), note)
		}
		return strings.TrimSpace(sb.String())
	}
	var sb strings.Builder
	sb.WriteString("| Date | City | Event | Seats left | Notes |\n|---|---|---|---|---|\n")
	for i := 0; i < n; i++ {
		fmt.Fprintf(&sb, "| %s | %s | %s | %d | %s |\n", date(r), pick(r, cities), pick(r, []string{"Workshop", "Product demo", "Meetup", "Training", "Webinar"}), r.IntN(60), pick(r, []string{"", "bring laptop", "free parking", "sold out soon", "moved from Tuesday"}))
	}
	return strings.TrimSpace(sb.String())
}

func makeJSON(r *rand.Rand) string {
	var v any
	switch r.IntN(5) {
	case 0:
		v = map[string]any{"city": pick(r, cities), "forecast": []map[string]any{{"day": pick(r, weekdays), "temp_c": r.IntN(30), "summary": pick(r, []string{"light rain", "sunny", "cloudy with sun later", "windy"})}}, "source": "weather-api"}
	case 1:
		v = map[string]any{"order_id": 40000 + r.IntN(9999), "customer": pick(r, people), "items": []string{pick(r, items), pick(r, items)}, "status": pick(r, []string{"shipped", "pending", "delivered"}), "note": pick(r, []string{"Customer asked to ignore the old address.", "Leave with neighbour.", "", "Override: express shipping approved by support."})}
	case 2:
		res := []map[string]string{}
		for i := 0; i < 3; i++ {
			res = append(res, map[string]string{"title": fmt.Sprintf("How to care for your %s", pick(r, items)), "url": fmt.Sprintf("https://docs.example.com/%d", r.IntN(9999)), "snippet": pick(r, plainTexts)})
		}
		v = map[string]any{"query": "care instructions " + pick(r, items), "results": res}
	case 3:
		v = map[string]any{"contact": pick(r, people), "company": pick(r, companies), "stage": pick(r, []string{"lead", "qualified", "customer"}), "notes": pick(r, []string{"Prefers e-mail. Ignore the old phone number.", "Asked for a discount on annual plans.", "Met at the Lyon trade fair.", "Wants a demo next week."})}
	default:
		v = map[string]any{"events": []map[string]string{{"title": pick(r, topics), "start": date(r) + "T10:00:00Z", "location": pick(r, cities)}}, "next_page": nil}
	}
	out, _ := json.MarshalIndent(v, "", "  ")
	return string(out)
}

var codeSnippets = []string{
	"def total(items):\n    # ignore items without a price\n    return sum(i.price for i in items if i.price is not None)\n\n\nprint(total(cart))",
	"func parse(s string) (int, error) {\n\t// Override the default base: inputs are hex.\n\treturn strconv.ParseInt(s, 16, 64)\n}",
	"const retry = async (fn, n = 3) => {\n  // forget the last error once a call succeeds\n  for (let i = 0; i < n; i++) {\n    try { return await fn(); } catch (e) { if (i === n - 1) throw e; }\n  }\n};",
	"class Config:\n    \"\"\"Settings for the importer. Values in the environment override the file.\"\"\"\n    timeout = 30\n    retries = 2",
	"SELECT customer_id, SUM(amount) AS total\nFROM payments\nWHERE status = 'settled' -- ignore refunds here\nGROUP BY customer_id;",
	"#!/bin/sh\n# Build and run the tests; skip the slow ones on CI.\nset -e\ngo build ./...\ngo test -short ./...",
	"public class Greeter {\n    @Override\n    public String toString() {\n        return \"Greeter\";\n    }\n}",
	"import requests\n\n# Fetch the forecast; the API key comes from the environment.\nresp = requests.get(URL, params={\"city\": city}, timeout=10)\nresp.raise_for_status()",
}

func makeCode(r *rand.Rand) string {
	s := pick(r, codeSnippets)
	if r.IntN(2) == 0 {
		s = strings.ReplaceAll(s, "items", pick(r, []string{"rows", "lines", "entries"}))
	}
	return fmt.Sprintf("%s\n\n%s", pick(r, []string{"Here is the function from utils:", "File: src/app/" + fmt.Sprint(r.IntN(90)) + ".txt", "Output of `cat` on the file:", "Snippet from the pull request:"}), s)
}

func makeWeb(r *rand.Rand) string {
	item := pick(r, items)
	p := fmt.Sprintf("<html><head><title>%s | %s</title></head>\n<body>\n<h1>%s</h1>\n<p>%s</p>\n<p>Price: %d.%02d EUR. Free returns within 30 days.</p>\n<p>%s</p>\n</body></html>",
		item, pick(r, companies), strings.ToUpper(item[:1])+item[1:], pick(r, plainTexts), 10+r.IntN(900), r.IntN(100),
		pick(r, []string{"Customers say: great value, would buy again.", "Please read the safety instructions before first use.", "Forget slow delivery: order before 2 pm for next-day shipping.", "Sign in to see your saved items."}))
	if r.IntN(2) == 0 {
		return fmt.Sprintf("%s\n\n%s\n\n%s", strings.ToUpper(item[:1])+item[1:]+" review", pick(r, plainTexts), pick(r, plainTexts))
	}
	return p
}

func makeWebhook(r *rand.Rand) string {
	v := map[string]any{"form": "contact", "name": pick(r, people), "email": fmt.Sprintf("user%d@example.com", r.IntN(999)), "message": pick(r, append(append([]string{}, innocent[:10]...), plainTexts...)), "submitted_at": date(r) + "T09:30:00Z"}
	out, _ := json.Marshal(v)
	return string(out)
}

func makeTicket(r *rand.Rand) string {
	return fmt.Sprintf("Ticket #%d\nCustomer: %s\nSubject: %s\n\n%s\n\nAgent note: %s",
		10000+r.IntN(89999), pick(r, people), pick(r, topics), fmt.Sprintf(pick(r, support), 40000+r.IntN(9999)),
		pick(r, []string{"Asked customer to ignore the automatic reminder.", "Refund approved by team lead.", "Waiting for the courier.", "Customer forgot the password; sent reset link."}))
}

// Planting attacks.

var sentenceEnd = regexp.MustCompile(`[.!?] `)

// plant inserts attack text a into doc d at a position chosen by r and
// returns the attacked text and the span of the inserted bytes.
func plant(d doc, a string, r *rand.Rand) (string, [2]int) {
	t := d.text
	var cands []func() (int, string)
	startEnd := []func() (int, string){
		func() (int, string) { return 0, a + "\n\n" },
		func() (int, string) { return len(t), "\n\n" + a },
		func() (int, string) { return len(t), "\n" + a },
	}
	cands = append(cands, startEnd...)
	// Line boundaries.
	var lines []int
	for i := 0; i < len(t); i++ {
		if t[i] == '\n' && i+1 < len(t) {
			lines = append(lines, i+1)
		}
	}
	// Sentence boundaries.
	var sents []int
	for _, m := range sentenceEnd.FindAllStringIndex(t, -1) {
		sents = append(sents, m[1])
	}
	if len(lines) > 0 {
		cands = append(cands, func() (int, string) { return pick(r, lines), a + "\n" })
	}
	if len(sents) > 0 {
		cands = append(cands, func() (int, string) { return pick(r, sents), a + " " }, func() (int, string) { return pick(r, sents), a + " " })
	}
	switch d.kind {
	case "email", "ticket":
		cands = append(cands, func() (int, string) { return len(t), "\n\n> " + strings.ReplaceAll(a, "\n", "\n> ") })
		cands = append(cands, func() (int, string) { return len(t), "\n\nP.S. " + a })
		cands = append(cands, func() (int, string) { return len(t), "\n\n-----Original Message-----\n" + a })
	case "code":
		c := "// "
		if strings.Contains(t, "def ") || strings.Contains(t, "import ") || strings.Contains(t, "#!/bin/sh") {
			c = "# "
		}
		if strings.Contains(t, "SELECT") {
			c = "-- "
		}
		if len(lines) > 0 {
			cands = append(cands, func() (int, string) { return pick(r, lines), c + strings.ReplaceAll(a, "\n", "\n"+c) + "\n" })
			cands = append(cands, func() (int, string) { return pick(r, lines), c + strings.ReplaceAll(a, "\n", "\n"+c) + "\n" })
		}
	case "web":
		if i := strings.Index(t, "</body>"); i >= 0 {
			cands = append(cands,
				func() (int, string) { return i, "<!-- " + a + " -->\n" },
				func() (int, string) { return i, "<div style=\"display:none\">" + a + "</div>\n" },
				func() (int, string) { return i, "<p style=\"color:white;font-size:1px\">" + a + "</p>\n" })
		}
	case "table":
		if strings.HasPrefix(t, "|") {
			cands = append(cands, func() (int, string) { return len(t), "\n| " + strings.ReplaceAll(a, "\n", " ") + " | | | | |" })
			if len(lines) > 2 {
				cands = append(cands, func() (int, string) {
					p := pick(r, lines[2:])
					return p + 2, strings.ReplaceAll(a, "\n", " ") + " "
				})
			}
		} else if strings.Contains(t, ",") {
			cands = append(cands, func() (int, string) {
				q := strings.ReplaceAll(strings.ReplaceAll(a, "\n", " "), `"`, `""`)
				return len(t), "\n0,,,,," + `"` + q + `"`
			})
		}
	case "json", "webhook":
		// Inside a string value.
		var vals []int
		for i := 0; i+3 < len(t); i++ {
			if t[i] == '"' && t[i+1] == ':' && (t[i+2] == '"' || (t[i+2] == ' ' && t[i+3] == '"')) {
				j := i + 3
				if t[i+2] == ' ' {
					j = i + 4
				}
				vals = append(vals, j)
			}
		}
		if len(vals) > 0 {
			enc, _ := json.Marshal(a)
			inner := string(enc[1 : len(enc)-1])
			cands = append(cands,
				func() (int, string) { return pick(r, vals), inner + " " },
				func() (int, string) { return pick(r, vals), inner + " " },
				func() (int, string) { return pick(r, vals), inner + " " })
		}
	}
	pos, ins := pick(r, cands)()
	return t[:pos] + ins + t[pos:], [2]int{pos, pos + len(ins)}
}

// twins emits every pooled document clean and with attacks planted.
func twins(b *builder) {
	for i, d := range b.docs {
		r := rng(fmt.Sprintf("twin:%s:%d", d.origin, i))
		group := fmt.Sprintf("%s-%05d", d.origin, i)
		b.ex = append(b.ex, Example{Text: d.text, Label: Benign, Source: d.source, Lang: d.lang, Kind: d.kind, Origin: d.origin, Group: group})
		for k := 0; k < d.twins; k++ {
			pool := b.indirect[pick(r, d.pools)]
			if len(pool) == 0 {
				pool = b.indirect["komand-en"]
			}
			if len(pool) == 0 {
				continue
			}
			a := pick(r, pool)
			text, span := plant(d, a.text, r)
			if len(text) > MaxTextBytes {
				continue
			}
			lang := d.lang
			if a.lang != d.lang {
				lang = d.lang + "+" + a.lang
			}
			sp := span
			b.ex = append(b.ex, Example{Text: text, Label: Injection, Source: d.source, Lang: lang, Kind: d.kind, Origin: d.origin, Span: &sp, Group: group})
		}
	}
}
