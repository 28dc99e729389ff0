package storetest

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/komand-ai/komand/internal/store"
)

var listingTests = []test{
	{"CursorWalkEveryList", testCursorWalk},
	{"CursorTiesStableOrder", testCursorTies},
	{"CursorDeletedBetweenPages", testCursorDeleted},
	{"CursorRefused", testCursorRefused},
	{"TotalBounded", testTotalBounded},
}

// walk follows a list's cursors from the first page to the end with pages
// of size rows, checks every page's total, and returns the rows in order.
func walk[T store.Keyed](t *testing.T, name, tenantID string, size, total int, list func(store.Page) ([]T, int, error)) []T {
	t.Helper()
	out := []T{}
	p := store.Page{Page: 1, PageSize: size}
	for range 1000 {
		got, n, err := list(p)
		isErr(t, name+" page", err, nil)
		if n != total {
			t.Errorf("%s: total %d on a cursor page, want %d", name, n, total)
		}
		if len(got) > size {
			t.Fatalf("%s: %d rows on a page of %d", name, len(got), size)
		}
		out = append(out, got...)
		if p.Cursor = store.Next(tenantID, p, got); p.Cursor == "" {
			return out
		}
	}
	t.Fatalf("%s: the walk does not end", name)
	return nil
}

// checkWalk compares the cursor walk of a list, in pages of 2 and of 3,
// with one page holding every row.
func checkWalk[T store.Keyed](t *testing.T, name, tenantID string, n int, list func(store.Page) ([]T, int, error)) {
	t.Helper()
	all, total, err := list(store.Page{Page: 1, PageSize: 100})
	isErr(t, name, err, nil)
	if len(all) != n || total != n {
		t.Fatalf("%s: %d rows, total %d, want %d", name, len(all), total, n)
	}
	for _, size := range []int{2, 3} {
		equal(t, fmt.Sprintf("%s walked by %d", name, size), walk(t, name, tenantID, size, n, list), all)
	}
	// Page numbers and cursors agree.
	page2, _, err := list(store.Page{Page: 2, PageSize: 2})
	isErr(t, name+" page 2", err, nil)
	equal(t, name+" page 2", page2, all[2:4])
}

// testCursorWalk walks every listing of a tenant that has five rows in each
// (and a second tenant with rows of its own, which never appear).
func testCursorWalk(t *testing.T, s store.Store) {
	ctx := t.Context()
	for _, slug := range []string{"beta", "alpha"} { // alpha is seeded last, so it is not first in any table
		tn := mkTenant(t, s, slug)
		o := mkUser(t, s, tn.ID, "owner@"+slug+".example.com", "owner")
		mkDataKey(t, s, tn.ID, 1, "kek")
		const n = 5
		var se store.Session
		for i := range n - 1 {
			mkUser(t, s, tn.ID, fmt.Sprintf("user%d@%s.example.com", (i*3)%n, slug), "member")
		}
		for i := range n {
			k := (i * 3) % n // not in key order
			mkAgent(t, s, tn.ID, fmt.Sprintf("agent%02d", k), o.ID)
			se = mkSession(t, s, tn.ID, "agent00", fmt.Sprintf("sender-%d", k), t0.Add(time.Duration(k)*time.Second))
			mkCredential(t, s, tn.ID, fmt.Sprintf("cred-%d", k), 1)
			isErr(t, "CreateContact", s.CreateContact(ctx, store.Contact{TenantID: tn.ID, ID: newID(),
				Name: fmt.Sprintf("Contact %d", k), CreatedAt: t0, UpdatedAt: t0}, 100), nil)
			_, err := s.PutMemory(ctx, mkMemory(fmt.Sprintf("key-%d", k), "v", tn.ID, "agent00", t0), 100)
			isErr(t, "PutMemory", err, nil)
			isErr(t, "CreateSkill", s.CreateSkill(ctx, mkSkill(tn.ID, fmt.Sprintf("skill-%d", k), "1.0.0", "1"), 100, 10), nil)
			isErr(t, "CreateSkill v2", s.CreateSkill(ctx, mkSkill(tn.ID, fmt.Sprintf("skill-%d", k), "1.1.0", "2"), 100, 10), nil)
			isErr(t, "CreateChannelAccount", s.CreateChannelAccount(ctx, store.ChannelAccount{TenantID: tn.ID, ID: newID(),
				Channel: []string{"Slack", "Webhook"}[k%2], AccountID: fmt.Sprintf("acct-%d", k), AgentID: "agent00",
				CreatedAt: t0, UpdatedAt: t0}), nil)
			isErr(t, "AppendAudit", s.AppendAudit(ctx, []store.AuditEntry{entry(tn.ID, "agent.created", t0)}, seal), nil)
			mkReview(t, s, se, store.ReviewMessage, t0.Add(time.Duration(k)*time.Minute), nil)
			mkAPIKey(t, s, o, fmt.Sprintf("key-%d", k))
		}
		turns := make([]store.Turn, n)
		for i := range turns {
			turns[i] = store.Turn{Role: store.RoleUser, Text: fmt.Sprint(i), CreatedAt: t0}
		}
		_, err := s.AppendTurns(ctx, tn.ID, se.ID, turns)
		isErr(t, "AppendTurns", err, nil)
		if slug == "beta" {
			continue
		}
		id := tn.ID
		t.Run("Agents", func(t *testing.T) {
			checkWalk(t, "agents", id, n, func(p store.Page) ([]store.Agent, int, error) { return s.ListAgents(ctx, id, p) })
		})
		t.Run("Sessions", func(t *testing.T) {
			checkWalk(t, "sessions", id, n, func(p store.Page) ([]store.Session, int, error) {
				return s.ListSessions(ctx, id, store.SessionFilter{}, p)
			})
			checkWalk(t, "active sessions of agent00", id, n, func(p store.Page) ([]store.Session, int, error) {
				return s.ListSessions(ctx, id, store.SessionFilter{AgentID: "agent00", Status: "active"}, p)
			})
		})
		t.Run("Turns", func(t *testing.T) {
			checkWalk(t, "turns", id, n, func(p store.Page) ([]store.Turn, int, error) { return s.ListTurns(ctx, id, se.ID, p) })
		})
		t.Run("Memory", func(t *testing.T) {
			checkWalk(t, "memory", id, n, func(p store.Page) ([]store.MemoryEntry, int, error) {
				return s.ListMemory(ctx, id, "agent00", p)
			})
		})
		t.Run("Users", func(t *testing.T) {
			checkWalk(t, "users", id, n, func(p store.Page) ([]store.User, int, error) { return s.ListUsers(ctx, id, p) })
		})
		t.Run("Skills", func(t *testing.T) {
			checkWalk(t, "skills", id, n, func(p store.Page) ([]store.Skill, int, error) {
				return s.ListSkills(ctx, id, store.SkillFilter{}, p)
			})
		})
		t.Run("Contacts", func(t *testing.T) {
			checkWalk(t, "contacts", id, n, func(p store.Page) ([]store.Contact, int, error) { return s.ListContacts(ctx, id, "", p) })
		})
		t.Run("Reviews", func(t *testing.T) {
			checkWalk(t, "reviews", id, n, func(p store.Page) ([]store.Review, int, error) {
				return s.ListReviews(ctx, id, store.ReviewFilter{}, p)
			})
			checkWalk(t, "pending reviews", id, n, func(p store.Page) ([]store.Review, int, error) {
				return s.ListReviews(ctx, id, store.ReviewFilter{Status: store.ReviewPending}, p)
			})
		})
		t.Run("Credentials", func(t *testing.T) {
			checkWalk(t, "credentials", id, n, func(p store.Page) ([]store.Credential, int, error) { return s.ListCredentials(ctx, id, p) })
		})
		t.Run("Audit", func(t *testing.T) {
			checkWalk(t, "audit", id, n, func(p store.Page) ([]store.AuditEntry, int, error) {
				return s.ListAudit(ctx, id, store.AuditFilter{}, p)
			})
			checkWalk(t, "audit by action", id, n, func(p store.Page) ([]store.AuditEntry, int, error) {
				return s.ListAudit(ctx, id, store.AuditFilter{Action: "agent.created"}, p)
			})
		})
		t.Run("APIKeys", func(t *testing.T) {
			checkWalk(t, "api keys", id, n, func(p store.Page) ([]store.APIKey, int, error) {
				return s.ListTenantAPIKeys(ctx, id, store.APIKeyFilter{}, p)
			})
			checkWalk(t, "api keys of the owner", id, n, func(p store.Page) ([]store.APIKey, int, error) {
				return s.ListTenantAPIKeys(ctx, id, store.APIKeyFilter{UserID: o.ID}, p)
			})
		})
		t.Run("ChannelAccounts", func(t *testing.T) {
			checkWalk(t, "channel accounts", id, n, func(p store.Page) ([]store.ChannelAccount, int, error) {
				return s.ListChannelAccounts(ctx, id, p)
			})
		})
	}
}

// testCursorTies: rows with the same sort value (sessions active at the
// same microsecond, reviews created at the same time, contacts of the same
// name) come in one stable order, by id, and a cursor between two of them
// neither repeats nor skips a row.
func testCursorTies(t *testing.T, s store.Store) {
	ctx := t.Context()
	a := mkTenant(t, s, "acme")
	mkAgent(t, s, a.ID, "sales", "")
	const n = 7
	var sessions []store.Session
	var contacts []store.Contact
	var reviews []store.Review
	for i := range n {
		se := mkSession(t, s, a.ID, "sales", fmt.Sprintf("sender-%d", i), t0)
		sessions = append(sessions, se)
		c := store.Contact{TenantID: a.ID, ID: newID(), Name: "Same Name", CreatedAt: t0, UpdatedAt: t0}
		isErr(t, "CreateContact", s.CreateContact(ctx, c, 100), nil)
		c.CreatedAt, c.UpdatedAt = norm(t0), norm(t0)
		contacts = append(contacts, c)
		reviews = append(reviews, mkReview(t, s, sessions[0], store.ReviewMessage, t0, nil))
	}
	// Newest first, ties by id descending; contacts by name, then id.
	sort.Slice(sessions, func(i, j int) bool { return sessions[i].ID > sessions[j].ID })
	sort.Slice(reviews, func(i, j int) bool { return reviews[i].ID > reviews[j].ID })
	sort.Slice(contacts, func(i, j int) bool { return contacts[i].ID < contacts[j].ID })
	got := walk(t, "sessions", a.ID, 2, n, func(p store.Page) ([]store.Session, int, error) {
		return s.ListSessions(ctx, a.ID, store.SessionFilter{}, p)
	})
	for i := range got {
		if got[i].ID != sessions[i].ID {
			t.Fatalf("sessions with one lastMessageAt: got order %v, want by id descending %v", ids(got), ids(sessions)) // by sender
		}
	}
	gotR := walk(t, "reviews", a.ID, 3, n, func(p store.Page) ([]store.Review, int, error) {
		return s.ListReviews(ctx, a.ID, store.ReviewFilter{}, p)
	})
	equal(t, "reviews with one createdAt", gotR, reviews)
	gotC := walk(t, "contacts", a.ID, 2, n, func(p store.Page) ([]store.Contact, int, error) {
		return s.ListContacts(ctx, a.ID, "", p)
	})
	equal(t, "contacts with one name", gotC, contacts)
}

// testCursorDeleted: a cursor is a position, not a row. Deleting the row it
// names, or the next one, between two pages neither fails the next page nor
// repeats a row; a row created before the position is not returned again
// and one created after it is.
func testCursorDeleted(t *testing.T, s store.Store) {
	ctx := t.Context()
	a := mkTenant(t, s, "acme")
	for _, id := range []string{"agent01", "agent03", "agent05", "agent07", "agent09"} {
		mkAgent(t, s, a.ID, id, "")
	}
	p := store.Page{Page: 1, PageSize: 2}
	first, _, err := s.ListAgents(ctx, a.ID, p)
	isErr(t, "page 1", err, nil)
	p.Cursor = store.Next(a.ID, p, first)
	isErr(t, "delete the cursor's row", s.DeleteAgent(ctx, a.ID, "agent03"), nil)
	isErr(t, "delete the next row", s.DeleteAgent(ctx, a.ID, "agent05"), nil)
	mkAgent(t, s, a.ID, "agent00", "") // before the position
	mkAgent(t, s, a.ID, "agent04", "") // after it
	second, total, err := s.ListAgents(ctx, a.ID, p)
	isErr(t, "page 2 after deletes", err, nil)
	if total != 5 {
		t.Errorf("total after two deletes and two creates: %d, want 5", total)
	}
	var got []string
	for _, ag := range second {
		got = append(got, ag.AgentID)
	}
	equal(t, "page after the cursor", got, []string{"agent04", "agent07"})
}

// testCursorRefused: a cursor that this store did not issue for this list
// and tenant is refused with ErrBadCursor, whatever was changed in it, and
// a tenant's cursor never shows another tenant's rows.
func testCursorRefused(t *testing.T, s store.Store) {
	ctx := t.Context()
	a, b := mkTenant(t, s, "alpha"), mkTenant(t, s, "beta")
	for _, tn := range []string{a.ID, b.ID} {
		mkDataKey(t, s, tn, 1, "kek")
		for i := range 3 {
			mkAgent(t, s, tn, fmt.Sprintf("agent%d", i), "")
			mkCredential(t, s, tn, fmt.Sprintf("cred-%d", i), 1)
		}
	}
	p := store.Page{Page: 1, PageSize: 1}
	page, _, err := s.ListAgents(ctx, a.ID, p)
	isErr(t, "ListAgents", err, nil)
	good := store.Next(a.ID, p, page)
	if good == "" {
		t.Fatal("no cursor after a full page")
	}
	raw, err := base64.RawURLEncoding.DecodeString(good)
	if err != nil {
		t.Fatalf("the cursor is not base64url: %v", err)
	}
	if strings.Contains(string(raw), a.ID) {
		t.Errorf("the cursor carries the tenant ID: %s", raw)
	}
	var fields map[string]json.RawMessage
	if err := json.Unmarshal(raw, &fields); err != nil {
		t.Fatalf("cursor content: %v", err)
	}
	rebuild := func(change func(map[string]json.RawMessage)) string {
		m := map[string]json.RawMessage{}
		for k, v := range fields {
			m[k] = v
		}
		change(m)
		b, _ := json.Marshal(m)
		return base64.RawURLEncoding.EncodeToString(b)
	}
	bad := map[string]string{
		"another tenant's":   store.Next(b.ID, p, page),
		"another list's":     store.EncodeCursor(a.ID, store.CredentialList, "agent0"),
		"not base64":         "*" + good,
		"padded base64":      good + "==",
		"truncated":          good[:len(good)-3],
		"too long":           good + strings.Repeat("A", 2000),
		"not JSON":           base64.RawURLEncoding.EncodeToString([]byte("agent0")),
		"trailing JSON":      base64.RawURLEncoding.EncodeToString(append(raw, []byte(`{}`)...)),
		"unknown field":      rebuild(func(m map[string]json.RawMessage) { m["x"] = json.RawMessage(`1`) }),
		"other version":      rebuild(func(m map[string]json.RawMessage) { m["v"] = json.RawMessage(`2`) }),
		"a number key":       rebuild(func(m map[string]json.RawMessage) { m["k"] = json.RawMessage(`[7]`) }),
		"a null key":         rebuild(func(m map[string]json.RawMessage) { m["k"] = json.RawMessage(`[null]`) }),
		"two keys":           rebuild(func(m map[string]json.RawMessage) { m["k"] = json.RawMessage(`["a","b"]`) }),
		"no key":             rebuild(func(m map[string]json.RawMessage) { delete(m, "k") }),
		"no tenant tag":      rebuild(func(m map[string]json.RawMessage) { delete(m, "t") }),
		"a forged tag":       rebuild(func(m map[string]json.RawMessage) { m["t"] = json.RawMessage(`"AAAAAAAAAAAAAAAA"`) }),
		"a string for seq":   store.EncodeCursor(a.ID, store.AuditList, "9"),
		"a fraction for seq": rebuildList(a.ID, store.AuditList, `[1.5]`),
	}
	for name, c := range bad {
		list := func(p store.Page) error { _, _, err := s.ListAgents(ctx, a.ID, p); return err }
		if strings.Contains(name, "seq") {
			list = func(p store.Page) error { _, _, err := s.ListAudit(ctx, a.ID, store.AuditFilter{}, p); return err }
		}
		isErr(t, name+" cursor", list(store.Page{Page: 1, PageSize: 10, Cursor: c}), store.ErrBadCursor)
	}
	// The good cursor works, and B's own cursor shows B's rows only.
	rest, _, err := s.ListAgents(ctx, a.ID, store.Page{Page: 1, PageSize: 10, Cursor: good})
	isErr(t, "good cursor", err, nil)
	for _, ag := range rest {
		if ag.TenantID != a.ID {
			t.Fatalf("A's cursor page holds a row of %s", ag.TenantID)
		}
	}
	if len(rest) != 2 {
		t.Fatalf("after the first agent: %d agents, want 2", len(rest))
	}
	// A cursor forged by tenant B with A's agent IDs positions B within
	// its own rows: it is only a position.
	forged := store.EncodeCursor(b.ID, store.AgentList, "agent0")
	bs, _, err := s.ListAgents(ctx, b.ID, store.Page{Page: 1, PageSize: 10, Cursor: forged})
	isErr(t, "B's forged cursor", err, nil)
	for _, ag := range bs {
		if ag.TenantID != b.ID {
			t.Fatalf("B's cursor page holds a row of %s", ag.TenantID)
		}
	}
}

// rebuildList makes a cursor of list l for tenantID with key JSON k, as a
// client could.
func rebuildList(tenantID string, l store.List, k string) string {
	var m map[string]json.RawMessage
	raw, _ := base64.RawURLEncoding.DecodeString(store.EncodeCursor(tenantID, l, int64(0)))
	_ = json.Unmarshal(raw, &m)
	m["k"] = json.RawMessage(k)
	b, _ := json.Marshal(m)
	return base64.RawURLEncoding.EncodeToString(b)
}

// testTotalBounded: a total is exact up to store.CountLimit and reported as
// CountLimit+1 beyond it (counting stops there), on both a page number and
// a cursor page, and with a filter.
func testTotalBounded(t *testing.T, s store.Store) {
	ctx := t.Context()
	a := mkTenant(t, s, "acme")
	batch := make([]store.AuditEntry, store.CountLimit)
	for i := range batch {
		batch[i] = entry(a.ID, "agent.created", t0)
	}
	isErr(t, "AppendAudit", s.AppendAudit(ctx, batch, seal), nil)
	total := func(f store.AuditFilter, p store.Page) int {
		t.Helper()
		_, n, err := s.ListAudit(ctx, a.ID, f, p)
		isErr(t, "ListAudit", err, nil)
		return n
	}
	if n := total(store.AuditFilter{}, store.Page{Page: 1, PageSize: 10}); n != store.CountLimit {
		t.Fatalf("total of exactly CountLimit rows: %d, want %d", n, store.CountLimit)
	}
	more := []store.AuditEntry{entry(a.ID, "agent.created", t0), entry(a.ID, "agent.created", t0), entry(a.ID, "login", t0)}
	isErr(t, "AppendAudit", s.AppendAudit(ctx, more, seal), nil)
	p := store.Page{Page: 1, PageSize: 10}
	if n := total(store.AuditFilter{}, p); n != store.CountLimit+1 {
		t.Errorf("total past CountLimit: %d, want %d", n, store.CountLimit+1)
	}
	if shown, capped := store.TotalCapped(total(store.AuditFilter{}, p)); shown != store.CountLimit || !capped {
		t.Errorf("TotalCapped: %d %v", shown, capped)
	}
	if n := total(store.AuditFilter{Action: "login"}, p); n != 1 {
		t.Errorf("filtered total: %d, want 1", n)
	}
	first, _, err := s.ListAudit(ctx, a.ID, store.AuditFilter{}, p)
	isErr(t, "ListAudit", err, nil)
	p.Cursor = store.Next(a.ID, p, first)
	if n := total(store.AuditFilter{}, p); n != store.CountLimit+1 {
		t.Errorf("total on a cursor page: %d, want %d", n, store.CountLimit+1)
	}
	// The deepest page a number reaches still answers, in the same order.
	deep, _, err := s.ListAudit(ctx, a.ID, store.AuditFilter{}, store.Page{Page: store.CountLimit / 10, PageSize: 10})
	isErr(t, "deep page", err, nil)
	if len(deep) != 10 || deep[0].Seq != int64(store.CountLimit+3-(store.CountLimit-10)) {
		t.Errorf("page %d: %d rows starting at seq %d", store.CountLimit/10, len(deep), deep[0].Seq)
	}
}
