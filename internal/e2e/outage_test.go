package e2e_test

import (
	"context"
	"fmt"
	"net/url"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/komand-ai/komand/internal/app/apptest"
	"github.com/komand-ai/komand/internal/store/pgtest"
	"github.com/komand-ai/komand/internal/store/sqlite"
)

// logLine returns the first log line that has every one of parts.
func logLine(logs string, parts ...string) string {
	for _, l := range strings.Split(logs, "\n") {
		all := true
		for _, p := range parts {
			all = all && strings.Contains(l, p)
		}
		if all {
			return l
		}
	}
	return ""
}

// TestStoreOutageIs503 (issue 15, defect 13): when the database cannot be
// reached, an API request is answered 503 unavailable with Retry-After in
// the envelope, not 500; the log has the real cause with the request ID,
// and does not call it an unknown API key. On PostgreSQL the database is
// dropped under the running server (its connections terminated); on
// SQLite both pools are closed.
func TestStoreOutageIs503(t *testing.T) {
	forEachStore(t, func(t *testing.T, kind string) {
		env := apptest.New(t, kind, nil)
		ten := env.Tenant("acme")
		key := env.APIKey(ten, env.User(ten, "admin@example.com", "admin"))
		var cause string
		switch kind {
		case "sqlite":
			if err := env.App.Store.(*sqlite.Store).Close(); err != nil {
				t.Fatal(err)
			}
			cause = "database is closed"
		case "postgres":
			u, err := url.Parse(env.App.Config.ConnectionStrings.Komand)
			if err != nil {
				t.Fatal(err)
			}
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			c, err := pgx.Connect(ctx, os.Getenv(pgtest.EnvDSN))
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close(ctx)
			if _, err := c.Exec(ctx, "DROP DATABASE "+pgx.Identifier{strings.TrimPrefix(u.Path, "/")}.Sanitize()+" WITH (FORCE)"); err != nil {
				t.Fatal(err)
			}
			cause = "SQLSTATE" // the server's own words: terminated, or the database does not exist
		}
		// The key was never used, so authentication asks the store; then
		// a second request whose authentication is not the only thing
		// failing.
		for i, path := range []string{"/api/agents/", "/api/users/"} {
			reqID := fmt.Sprintf("outage-%d-%d", len(kind), i)
			r := env.Do("GET", path, key, nil, "X-Request-Id", reqID)
			expectError(t, r, 503, "unavailable")
			if r.Header.Get("Retry-After") != "5" {
				t.Fatalf("%s: Retry-After %q, want 5", path, r.Header.Get("Retry-After"))
			}
			if *r.Error != "service temporarily unavailable; retry later" || r.ReqID != reqID {
				t.Fatalf("%s: %s", path, r.Body)
			}
			line := logLine(env.Logs(), `"request_id":"`+reqID+`"`, `"msg":"request failed"`, `"status":503`)
			if line == "" || !strings.Contains(line, "store: unavailable") || !strings.Contains(line, cause) {
				t.Fatalf("%s: no log line with the request ID and the real cause (%q):\n%s", path, cause, env.Logs())
			}
		}
		if strings.Contains(env.Logs(), "unknown API key") {
			t.Fatalf("a store outage is logged as an unknown API key:\n%s", env.Logs())
		}
		r := env.Do("GET", "/ready", "", nil)
		expectError(t, r, 503, "unavailable")
		if r := env.Do("GET", "/health", "", nil); r.Status != 200 {
			t.Fatalf("health during the outage: %d", r.Status)
		}
	})
}

// TestReadyReflectsWritability (issue 15, defect 13): /ready on SQLite
// answers 503 when the database cannot grow (every insert fails with
// SQLITE_FULL, here through max_page_count), though it still answers
// queries, and such a failed write is a 503 as well.
func TestReadyReflectsWritability(t *testing.T) {
	env := apptest.New(t, "sqlite", nil)
	ten := env.Tenant("acme")
	key := env.APIKey(ten, env.User(ten, "admin@example.com", "admin"))
	if r := env.Do("GET", "/ready", "", nil); r.Status != 200 {
		t.Fatalf("ready: %d %s", r.Status, r.Body)
	}
	db := env.App.Store.(*sqlite.Store).DB()
	var pages int64
	if err := db.QueryRow("PRAGMA page_count").Scan(&pages); err != nil {
		t.Fatal(err)
	}
	if _, err := db.Exec(fmt.Sprintf("PRAGMA max_page_count = %d", pages)); err != nil {
		t.Fatal(err)
	}
	var r *apptest.Response
	for i := range 500 {
		r = env.Do("POST", "/api/agents/", key, map[string]any{"agentId": fmt.Sprintf("a%d", i), "name": strings.Repeat("n", 90)})
		if r.Status != 201 {
			break
		}
	}
	if r.Status != 503 {
		t.Log(env.Logs())
	}
	expectError(t, r, 503, "unavailable")
	if r.Header.Get("Retry-After") == "" {
		t.Fatalf("no Retry-After: %v", r.Header)
	}
	// The readiness answer is cached for a second: poll until it changes.
	deadline := time.Now().Add(10 * time.Second)
	for {
		r = env.Do("GET", "/ready", "", nil)
		if r.Status != 200 || time.Now().After(deadline) {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	expectError(t, r, 503, "unavailable")
	if r := env.Do("GET", "/api/agents/", key, nil); r.Status != 200 {
		t.Fatalf("reads while full: %d %s", r.Status, r.Body)
	}
}
