package e2e_test

import (
	"encoding/json"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/komand-ai/komand/internal/app"
	"github.com/komand-ai/komand/internal/app/apptest"
	"github.com/komand-ai/komand/internal/store"
)

type apiKeyData struct {
	ID         string     `json:"id"`
	Name       string     `json:"name"`
	Prefix     string     `json:"prefix"`
	UserID     string     `json:"userId"`
	CreatedAt  time.Time  `json:"createdAt"`
	LastUsedAt *time.Time `json:"lastUsedAt"`
	RevokedAt  *time.Time `json:"revokedAt"`
	Key        string     `json:"key"`
}

func createKey(t *testing.T, env *apptest.Env, token string, body map[string]any) apiKeyData {
	t.Helper()
	r := env.Do("POST", "/api/apikeys/", token, body)
	if r.Status != 201 {
		t.Fatalf("create key %v: %d %s", body, r.Status, r.Body)
	}
	var k apiKeyData
	if err := json.Unmarshal(r.Data, &k); err != nil {
		t.Fatal(err)
	}
	return k
}

func listKeys(t *testing.T, env *apptest.Env, token string) ([]apiKeyData, *apptest.Response) {
	t.Helper()
	r := env.Do("GET", "/api/apikeys/?pageSize=100", token, nil)
	if r.Status != 200 {
		t.Fatalf("list keys: %d %s", r.Status, r.Body)
	}
	var ks []apiKeyData
	if err := json.Unmarshal(r.Data, &ks); err != nil {
		t.Fatal(err)
	}
	return ks, r
}

func meStatus(env *apptest.Env, key string) int {
	return env.Do("GET", "/api/auth/me", key, nil).Status
}

// TestAPIKeysOverHTTP: the Owner issues keys (for itself or another user),
// shown once; listings show metadata only, the Owner's every key of the
// tenant, anyone else's its own; the Owner revokes any key, a user its own,
// and a revoked key is refused everywhere. Hostile requests change nothing.
func TestAPIKeysOverHTTP(t *testing.T) {
	t.Parallel()
	forEachStore(t, func(t *testing.T, kind string) {
		w := newWorld(t, kind)
		owner := w.keys["a/owner"]

		created := auditCount(t, w, w.tenA, "APIKeyCreated")
		k := createKey(t, w.env, owner, map[string]any{"name": "ci"})
		if !strings.HasPrefix(k.Key, "kmd_") || k.Prefix != k.Key[:12] || k.UserID != w.ids["a/owner"] || k.Name != "ci" || k.RevokedAt != nil {
			t.Fatalf("created key %+v", k)
		}
		if n := auditCount(t, w, w.tenA, "APIKeyCreated"); n != created+1 {
			t.Fatalf("APIKeyCreated %d → %d", created, n)
		}
		r := w.env.Do("GET", "/api/auth/me", k.Key, nil)
		if r.Status != 200 || !strings.Contains(string(r.Data), k.ID) {
			t.Fatalf("me with the new key: %d %s", r.Status, r.Body)
		}
		forOp := createKey(t, w.env, owner, map[string]any{"name": "for the operator", "userId": w.ids["a/operator"]})
		if r := w.env.Do("GET", "/api/auth/me", forOp.Key, nil); r.Status != 200 || !strings.Contains(string(r.Data), `"role":"operator"`) {
			t.Fatalf("me with the operator's new key: %d %s", r.Status, r.Body)
		}

		// Only the Owner issues keys (security.md: user management is the
		// Owner's), and the refusal is audited.
		for _, role := range []string{"admin", "operator", "viewer"} {
			denied := auditCount(t, w, w.tenA, "PermissionDenied")
			expectError(t, w.env.Do("POST", "/api/apikeys/", w.keys["a/"+role], map[string]any{"name": "mine"}), 403, "forbidden")
			if n := auditCount(t, w, w.tenA, "PermissionDenied"); n != denied+1 {
				t.Fatalf("%s create: PermissionDenied %d → %d", role, denied, n)
			}
		}
		// Hostile bodies.
		before, _ := listKeys(t, w.env, owner)
		for _, tc := range []struct {
			name   string
			body   any
			status int
			code   string
		}{
			{"empty_name", map[string]any{"name": ""}, 400, "validation_failed"},
			{"blank_name", map[string]any{"name": "   "}, 400, "validation_failed"},
			{"oversized_name", map[string]any{"name": strings.Repeat("n", 101)}, 400, "validation_failed"},
			{"huge_name", map[string]any{"name": strings.Repeat("n", 100000)}, 400, "validation_failed"},
			{"nul", map[string]any{"name": "a\u0000b"}, 400, "validation_failed"},
			{"newline", map[string]any{"name": "ci\nadmin key"}, 400, "validation_failed"},
			{"bidi_override", map[string]any{"name": "\u202eyek nimda"}, 400, "validation_failed"},
			{"zero_width_space", map[string]any{"name": "c\u200bi"}, 400, "validation_failed"},
			{"name_not_string", map[string]any{"name": 7}, 400, "validation_failed"},
			{"bad_user_id", map[string]any{"name": "x", "userId": "../../etc"}, 400, "validation_failed"},
			{"unknown_user", map[string]any{"name": "x", "userId": "00000000-0000-0000-0000-000000000000"}, 404, "not_found"},
			{"other_tenants_user", map[string]any{"name": "x", "userId": w.ids["b/viewer"]}, 404, "not_found"},
			{"unknown_field", map[string]any{"name": "x", "role": "owner"}, 400, "validation_failed"},
		} {
			t.Run(tc.name, func(t *testing.T) {
				r := w.env.Do("POST", "/api/apikeys/", owner, tc.body)
				expectError(t, r, tc.status, tc.code)
			})
		}
		after, _ := listKeys(t, w.env, owner)
		if len(after) != len(before) {
			t.Fatalf("hostile creates added %d keys", len(after)-len(before))
		}

		// The Owner lists every key of its tenant, none of another's, and
		// never a key or a hash.
		ks, lr := listKeys(t, w.env, owner)
		ids := map[string]apiKeyData{}
		for _, x := range ks {
			ids[x.ID] = x
			if x.Key != "" {
				t.Fatalf("listing shows a key: %+v", x)
			}
		}
		if _, ok := ids[k.ID]; !ok {
			t.Fatalf("owner's listing lacks %s", k.ID)
		}
		if _, ok := ids[forOp.ID]; !ok {
			t.Fatalf("owner's listing lacks the operator's key %s", forOp.ID)
		}
		bKeys, _, _ := w.env.App.Store.ListTenantAPIKeys(t.Context(), w.tenB, store.APIKeyFilter{}, store.Page{Page: 1, PageSize: 100})
		body := string(lr.Body)
		for _, bk := range bKeys {
			if strings.Contains(body, bk.ID) {
				t.Fatalf("owner of A lists B's key %s", bk.ID)
			}
		}
		aKeys, _, _ := w.env.App.Store.ListTenantAPIKeys(t.Context(), w.tenA, store.APIKeyFilter{}, store.Page{Page: 1, PageSize: 100})
		for _, ak := range aKeys {
			if strings.Contains(body, ak.Hash) {
				t.Fatal("listing shows a key hash")
			}
		}
		for _, secret := range []string{k.Key, forOp.Key, owner} {
			if strings.Contains(body, secret) {
				t.Fatal("listing shows a key")
			}
		}
		if len(ks) != len(aKeys) {
			t.Fatalf("owner lists %d keys, tenant has %d", len(ks), len(aKeys))
		}
		if ids[k.ID].LastUsedAt == nil {
			t.Fatalf("lastUsedAt of a used key is null: %+v", ids[k.ID])
		}
		// Anyone else lists its own keys only.
		for _, role := range []string{"admin", "operator", "viewer"} {
			mine, _ := listKeys(t, w.env, w.keys["a/"+role])
			for _, x := range mine {
				if x.UserID != w.ids["a/"+role] {
					t.Fatalf("%s lists another user's key %+v", role, x)
				}
			}
			want := 1
			if role == "operator" {
				want = 2 // its test key and forOp
			}
			if len(mine) != want {
				t.Fatalf("%s lists %d keys, want %d", role, len(mine), want)
			}
		}

		// Revocation. A key the caller may not see is 404, and the
		// attempt is recorded; another tenant's key is 404.
		denied := auditCount(t, w, w.tenA, "PermissionDenied")
		expectError(t, w.env.Do("DELETE", "/api/apikeys/"+forOp.ID, w.keys["a/viewer"], nil), 404, "not_found")
		expectError(t, w.env.Do("DELETE", "/api/apikeys/"+forOp.ID, w.keys["a/admin"], nil), 404, "not_found")
		if n := auditCount(t, w, w.tenA, "PermissionDenied"); n != denied+2 {
			t.Fatalf("PermissionDenied %d → %d, want +2", denied, n)
		}
		expectError(t, w.env.Do("DELETE", "/api/apikeys/"+forOp.ID, w.keys["b/owner"], nil), 404, "not_found")
		expectError(t, w.env.Do("DELETE", "/api/apikeys/00000000-0000-0000-0000-000000000000", owner, nil), 404, "not_found")
		expectError(t, w.env.Do("DELETE", "/api/apikeys/not-a-uuid", owner, nil), 400, "validation_failed")
		expectError(t, w.env.Do("DELETE", "/api/apikeys/"+forOp.ID, "", nil), 401, "unauthorized")
		if meStatus(w.env, forOp.Key) != 200 {
			t.Fatal("a refused revocation revoked the key")
		}

		// A user revokes its own key.
		viewerKey := w.keys["a/viewer"]
		mine, _ := listKeys(t, w.env, viewerKey)
		r = w.env.Do("DELETE", "/api/apikeys/"+mine[0].ID, viewerKey, nil)
		if r.Status != 200 || !strings.Contains(string(r.Data), `"revokedAt":"`) {
			t.Fatalf("viewer revokes its own key: %d %s", r.Status, r.Body)
		}
		// The Owner revokes another user's key; it is audited once, and
		// revoking again is answered as it is.
		revoked := auditCount(t, w, w.tenA, "APIKeyRevoked")
		r = w.env.Do("DELETE", "/api/apikeys/"+forOp.ID, owner, nil)
		if r.Status != 200 {
			t.Fatalf("owner revokes: %d %s", r.Status, r.Body)
		}
		r2 := w.env.Do("DELETE", "/api/apikeys/"+forOp.ID, owner, nil)
		if r2.Status != 200 || string(r2.Data) != string(r.Data) {
			t.Fatalf("revoke again: %d %s (first %s)", r2.Status, r2.Data, r.Data)
		}
		if n := auditCount(t, w, w.tenA, "APIKeyRevoked"); n != revoked+1 {
			t.Fatalf("APIKeyRevoked %d → %d, want +1", revoked, n)
		}

		// A revoked key is 401 on every endpoint.
		for _, key := range []string{viewerKey, forOp.Key} {
			for _, ep := range []struct{ method, path string }{
				{"GET", "/api/auth/me"}, {"GET", "/api/apikeys/"}, {"POST", "/api/apikeys/"},
				{"DELETE", "/api/apikeys/" + forOp.ID}, {"GET", "/api/agents/"}, {"GET", "/api/users/"},
				{"GET", "/api/sessions/"}, {"GET", "/api/audit/"}, {"POST", "/api/webchat/message"},
				{"POST", "/api/users/" + w.ids["a/viewer"] + "/reactivate"},
			} {
				expectError(t, w.env.Do(ep.method, ep.path, key, map[string]any{"name": "x"}), 401, "unauthorized")
			}
		}
		if meStatus(w.env, k.Key) != 200 {
			t.Fatal("an unrelated key stopped working")
		}
	})
}

// TestAPIKeyRevocationAcrossReplicas: two replicas on one PostgreSQL
// database. A key revoked on one stops at once there, and on the other
// within the authentication cache's TTL: the other replica's clock is
// moved past it, no sleep.
func TestAPIKeyRevocationAcrossReplicas(t *testing.T) {
	t.Parallel()
	if !slices.Contains(apptest.Kinds(), "postgres") {
		t.Skip("KOMAND_TEST_POSTGRES_DSN not set: PostgreSQL replicas not tested")
	}
	cfg := apptest.Config(t, "postgres")
	c1 := newTestClock()
	c2 := newTestClock()
	r1 := apptest.Start(t, cfg, app.Options{Now: c1.Now})
	r2 := apptest.Start(t, cfg, app.Options{Now: c2.Now})
	tn := r1.Tenant("acme")
	owner := r1.APIKey(tn, r1.User(tn, "owner@example.com", "owner"))
	k := createKey(t, r1, owner, map[string]any{"name": "ci"})

	if meStatus(r2, k.Key) != 200 {
		t.Fatal("new key refused on replica 2")
	}
	if r := r1.Do("DELETE", "/api/apikeys/"+k.ID, owner, nil); r.Status != 200 {
		t.Fatalf("revoke: %d %s", r.Status, r.Body)
	}
	if s := meStatus(r1, k.Key); s != 401 {
		t.Fatalf("revoked key on the revoking replica: %d, want 401 at once", s)
	}
	// Replica 2 authenticated the key a moment ago and may reuse that for
	// less than the cache TTL: that is the documented bound.
	c2.Add(app.DefaultAuthCacheTTL - time.Millisecond)
	if s := meStatus(r2, k.Key); s != 200 {
		t.Fatalf("replica 2 within the TTL: %d (the cache is not in play, so the test proves nothing)", s)
	}
	c2.Add(time.Millisecond)
	if s := meStatus(r2, k.Key); s != 401 {
		t.Fatalf("revoked key on replica 2 after the TTL: %d, want 401", s)
	}
	for _, env := range []*apptest.Env{r1, r2} {
		expectError(t, env.Do("GET", "/api/agents/", k.Key, nil), 401, "unauthorized")
	}
}
