package storetest

import (
	"testing"
	"time"

	"github.com/komand-ai/komand/internal/store"
)

var apiKeyTests = []test{
	{"CreateAndAuthenticate", testAPIKeyAuthenticate},
	{"Conflicts", testAPIKeyConflicts},
	{"List", testAPIKeyList},
	{"Revoke", testAPIKeyRevoke},
	{"GetAndListTenant", testAPIKeyGetAndListTenant},
	{"Touch", testAPIKeyTouch},
	{"CrossTenant", testAPIKeyCrossTenant},
}

func testAPIKeyGetAndListTenant(t *testing.T, s store.Store) {
	ctx := t.Context()
	a := mkTenant(t, s, "acme")
	b := mkTenant(t, s, "globex")
	u1 := mkUser(t, s, a.ID, "ada@example.com", "owner")
	u2 := mkUser(t, s, a.ID, "bob@example.com", "member")
	ub := mkUser(t, s, b.ID, "eve@globex.example", "owner")
	k1 := mkAPIKey(t, s, u1, "ci")
	k2 := mkAPIKey(t, s, u2, "laptop")
	k3 := mkAPIKey(t, s, u1, "deploy")
	mkAPIKey(t, s, ub, "globex key")
	isErr(t, "RevokeAPIKey", s.RevokeAPIKey(ctx, a.ID, k2.ID, t0.Add(time.Hour)), nil)

	got, err := s.GetAPIKey(ctx, a.ID, k1.ID)
	isErr(t, "GetAPIKey", err, nil)
	equal(t, "GetAPIKey", got, k1)
	got, err = s.GetAPIKey(ctx, a.ID, k2.ID)
	isErr(t, "GetAPIKey(revoked)", err, nil)
	if got.RevokedAt == nil || !got.RevokedAt.Equal(t0.Add(time.Hour)) {
		t.Errorf("GetAPIKey(revoked).RevokedAt = %v", got.RevokedAt)
	}
	_, err = s.GetAPIKey(ctx, a.ID, newID())
	isErr(t, "GetAPIKey(unknown)", err, store.ErrNotFound)

	all, total, err := s.ListTenantAPIKeys(ctx, a.ID, store.APIKeyFilter{}, store.Page{Page: 1, PageSize: 10})
	isErr(t, "ListTenantAPIKeys", err, nil)
	if total != 3 || len(all) != 3 {
		t.Fatalf("ListTenantAPIKeys: %d keys, total %d, want 3 (none of globex)", len(all), total)
	}
	ids := map[string]bool{}
	for _, k := range all {
		ids[k.ID] = true
		if k.TenantID != a.ID {
			t.Errorf("ListTenantAPIKeys returned key %s of tenant %s", k.ID, k.TenantID)
		}
	}
	if !ids[k1.ID] || !ids[k2.ID] || !ids[k3.ID] {
		t.Errorf("ListTenantAPIKeys: got %v", ids)
	}
	page2, total, err := s.ListTenantAPIKeys(ctx, a.ID, store.APIKeyFilter{}, store.Page{Page: 2, PageSize: 2})
	isErr(t, "ListTenantAPIKeys page 2", err, nil)
	if total != 3 || len(page2) != 1 || page2[0].ID != all[2].ID {
		t.Errorf("page 2: %d keys (total %d), want the third of %v", len(page2), total, all)
	}
	mine, total, err := s.ListTenantAPIKeys(ctx, a.ID, store.APIKeyFilter{UserID: u1.ID}, store.Page{Page: 1, PageSize: 10})
	isErr(t, "ListTenantAPIKeys(u1)", err, nil)
	if total != 2 || len(mine) != 2 || mine[0].UserID != u1.ID || mine[1].UserID != u1.ID {
		t.Errorf("ListTenantAPIKeys(u1): %+v (total %d)", mine, total)
	}
	// A user of another tenant filters to nothing.
	none, total, err := s.ListTenantAPIKeys(ctx, a.ID, store.APIKeyFilter{UserID: ub.ID}, store.Page{Page: 1, PageSize: 10})
	isErr(t, "ListTenantAPIKeys(other tenant's user)", err, nil)
	if total != 0 || len(none) != 0 {
		t.Errorf("ListTenantAPIKeys(other tenant's user): %d keys", len(none))
	}
}

func testAPIKeyTouch(t *testing.T, s store.Store) {
	ctx := t.Context()
	a := mkTenant(t, s, "acme")
	u := mkUser(t, s, a.ID, "ada@example.com", "owner")
	k := mkAPIKey(t, s, u, "ci")
	at := t0.Add(time.Hour)
	isErr(t, "TouchAPIKey", s.TouchAPIKey(ctx, a.ID, k.ID, at), nil)
	got, _ := s.GetAPIKey(ctx, a.ID, k.ID)
	if got.LastUsedAt == nil || !got.LastUsedAt.Equal(at) {
		t.Fatalf("LastUsedAt = %v, want %v", got.LastUsedAt, at)
	}
	// Never backwards (a replica with a slow clock).
	isErr(t, "TouchAPIKey(earlier)", s.TouchAPIKey(ctx, a.ID, k.ID, at.Add(-time.Minute)), nil)
	got, _ = s.GetAPIKey(ctx, a.ID, k.ID)
	if !got.LastUsedAt.Equal(at) {
		t.Fatalf("LastUsedAt moved back to %v", got.LastUsedAt)
	}
	isErr(t, "TouchAPIKey(unknown)", s.TouchAPIKey(ctx, a.ID, newID(), at), store.ErrNotFound)
}

// testAPIKeyCrossTenant: another tenant's ID reaches none of a key's
// operations, and nothing of the key changes.
func testAPIKeyCrossTenant(t *testing.T, s store.Store) {
	ctx := t.Context()
	a := mkTenant(t, s, "acme")
	b := mkTenant(t, s, "globex")
	u := mkUser(t, s, a.ID, "ada@example.com", "owner")
	mkUser(t, s, b.ID, "eve@globex.example", "owner")
	k := mkAPIKey(t, s, u, "ci")
	at := t0.Add(time.Hour)
	_, err := s.GetAPIKey(ctx, b.ID, k.ID)
	isErr(t, "GetAPIKey(other tenant)", err, store.ErrNotFound)
	isErr(t, "RevokeAPIKey(other tenant)", s.RevokeAPIKey(ctx, b.ID, k.ID, at), store.ErrNotFound)
	isErr(t, "TouchAPIKey(other tenant)", s.TouchAPIKey(ctx, b.ID, k.ID, at), store.ErrNotFound)
	list, total, err := s.ListTenantAPIKeys(ctx, b.ID, store.APIKeyFilter{UserID: u.ID}, store.Page{Page: 1, PageSize: 10})
	isErr(t, "ListTenantAPIKeys(other tenant)", err, nil)
	if total != 0 || len(list) != 0 {
		t.Errorf("tenant b lists %d of a's keys", len(list))
	}
	got, err := s.GetAPIKey(ctx, a.ID, k.ID)
	isErr(t, "GetAPIKey", err, nil)
	equal(t, "key after cross-tenant attempts", got, k)
}

func testAPIKeyAuthenticate(t *testing.T, s store.Store) {
	ctx := t.Context()
	a := mkTenant(t, s, "acme")
	u := mkUser(t, s, a.ID, "ada@example.com", "owner")
	in := store.APIKey{
		ID: newID(), TenantID: a.ID, UserID: u.ID, Name: "ci", Prefix: "kmd_ab12",
		Hash: newHash(), CreatedAt: time.Date(2025, 2, 3, 4, 5, 6, 7008009, east),
		LastUsedAt: ptr(time.Date(2025, 2, 4, 0, 0, 0, 1, east)),
	}
	isErr(t, "CreateAPIKey", s.CreateAPIKey(ctx, in), nil)
	want := in
	want.CreatedAt, want.LastUsedAt = norm(in.CreatedAt), normPtr(in.LastUsedAt)

	gotKey, gotUser, err := s.AuthenticateAPIKey(ctx, a.ID, in.Hash)
	isErr(t, "AuthenticateAPIKey", err, nil)
	equal(t, "AuthenticateAPIKey key", gotKey, want)
	equal(t, "AuthenticateAPIKey user", gotUser, u)

	id, err := s.TenantIDByAPIKeyHash(ctx, in.Hash)
	isErr(t, "TenantIDByAPIKeyHash", err, nil)
	if id != a.ID {
		t.Errorf("TenantIDByAPIKeyHash: got %q, want %q", id, a.ID)
	}
	_, err = s.TenantIDByAPIKeyHash(ctx, newHash())
	isErr(t, "TenantIDByAPIKeyHash unknown", err, store.ErrNotFound)
	_, _, err = s.AuthenticateAPIKey(ctx, a.ID, newHash())
	isErr(t, "AuthenticateAPIKey unknown", err, store.ErrNotFound)
}

func testAPIKeyConflicts(t *testing.T, s store.Store) {
	ctx := t.Context()
	a := mkTenant(t, s, "acme")
	b := mkTenant(t, s, "globex")
	ua := mkUser(t, s, a.ID, "ada@example.com", "owner")
	ub := mkUser(t, s, b.ID, "bob@example.com", "owner")
	orig := mkAPIKey(t, s, ua, "ci")
	tests := []struct {
		name string
		k    store.APIKey
	}{
		{"SameHash", store.APIKey{ID: newID(), TenantID: a.ID, UserID: ua.ID, Name: "x", Prefix: "p", Hash: orig.Hash, CreatedAt: t0}},
		{"SameHashOtherTenant", store.APIKey{ID: newID(), TenantID: b.ID, UserID: ub.ID, Name: "x", Prefix: "p", Hash: orig.Hash, CreatedAt: t0}},
		{"SameID", store.APIKey{ID: orig.ID, TenantID: a.ID, UserID: ua.ID, Name: "x", Prefix: "p", Hash: newHash(), CreatedAt: t0}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			isErr(t, "CreateAPIKey", s.CreateAPIKey(ctx, tc.k), store.ErrConflict)
		})
	}
	gotKey, _, err := s.AuthenticateAPIKey(ctx, a.ID, orig.Hash)
	isErr(t, "AuthenticateAPIKey", err, nil)
	equal(t, "key after conflicts", gotKey, orig)
}

func testAPIKeyList(t *testing.T, s store.Store) {
	ctx := t.Context()
	a := mkTenant(t, s, "acme")
	u1 := mkUser(t, s, a.ID, "ada@example.com", "owner")
	u2 := mkUser(t, s, a.ID, "bob@example.com", "member")
	k1 := mkAPIKey(t, s, u1, "ci")
	k2 := mkAPIKey(t, s, u1, "laptop")
	k3 := mkAPIKey(t, s, u2, "other")
	isErr(t, "RevokeAPIKey", s.RevokeAPIKey(ctx, a.ID, k2.ID, t0.Add(time.Hour)), nil)

	got, err := s.ListAPIKeys(ctx, a.ID, u1.ID)
	isErr(t, "ListAPIKeys", err, nil)
	ids := map[string]store.APIKey{}
	for _, k := range got {
		ids[k.ID] = k
	}
	if len(got) != 2 || ids[k1.ID].ID == "" || ids[k2.ID].ID == "" {
		t.Fatalf("ListAPIKeys(u1): got %+v, want exactly %s and %s", got, k1.ID, k2.ID)
	}
	equal(t, "listed k1", ids[k1.ID], k1)
	if ids[k2.ID].RevokedAt == nil {
		t.Errorf("listed revoked key: got RevokedAt nil, want set")
	}
	if _, ok := ids[k3.ID]; ok {
		t.Errorf("ListAPIKeys(u1) contains u2's key %s", k3.ID)
	}
	got, err = s.ListAPIKeys(ctx, a.ID, newID())
	isErr(t, "ListAPIKeys(unknown user)", err, nil)
	if len(got) != 0 {
		t.Errorf("ListAPIKeys(unknown user): got %d keys, want 0", len(got))
	}
}

func testAPIKeyRevoke(t *testing.T, s store.Store) {
	ctx := t.Context()
	a := mkTenant(t, s, "acme")
	u := mkUser(t, s, a.ID, "ada@example.com", "owner")
	k := mkAPIKey(t, s, u, "ci")
	other := mkAPIKey(t, s, u, "other")
	now := t0.Add(time.Hour)

	isErr(t, "RevokeAPIKey", s.RevokeAPIKey(ctx, a.ID, k.ID, now), nil)
	_, _, err := s.AuthenticateAPIKey(ctx, a.ID, k.Hash)
	isErr(t, "AuthenticateAPIKey revoked", err, store.ErrNotFound)
	_, _, err = s.AuthenticateAPIKey(ctx, a.ID, other.Hash)
	isErr(t, "AuthenticateAPIKey other", err, nil)

	list, err := s.ListAPIKeys(ctx, a.ID, u.ID)
	isErr(t, "ListAPIKeys", err, nil)
	for _, got := range list {
		if got.ID == k.ID && (got.RevokedAt == nil || !got.RevokedAt.Equal(now)) {
			t.Errorf("revoked key RevokedAt: got %v, want %v", got.RevokedAt, now)
		}
	}
	isErr(t, "RevokeAPIKey unknown", s.RevokeAPIKey(ctx, a.ID, newID(), now), store.ErrNotFound)
}

var refreshTests = []test{
	{"Rotate", testRefreshRotate},
	{"Reuse", testRefreshReuse},
	{"Expired", testRefreshExpired},
	{"RevokedFamily", testRefreshRevoked},
	{"Unknown", testRefreshUnknown},
	{"Conflicts", testRefreshConflicts},
	{"SessionOfOtherUser", testRefreshOtherUser},
}

func testRefreshRotate(t *testing.T, s store.Store) {
	ctx := t.Context()
	a := mkTenant(t, s, "acme")
	u := mkUser(t, s, a.ID, "ada@example.com", "owner")
	in := store.RefreshToken{
		Hash: newHash(), TenantID: a.ID, UserID: u.ID, FamilyID: newID(),
		CreatedAt: t0.In(east).Add(123 * time.Nanosecond), ExpiresAt: t0.Add(24 * time.Hour),
	}
	isErr(t, "CreateRefreshToken", s.CreateRefreshToken(ctx, in), nil)

	got, err := s.UserForSession(ctx, a.ID, u.ID, in.FamilyID, t0.Add(time.Minute))
	isErr(t, "UserForSession", err, nil)
	equal(t, "UserForSession", got, u)

	at1 := t0.Add(time.Hour)
	t2 := nextToken(in, at1)
	spent, err := s.RotateRefreshToken(ctx, a.ID, in.Hash, t2, at1)
	isErr(t, "RotateRefreshToken 1", err, nil)
	want := in
	want.CreatedAt = norm(in.CreatedAt)
	equal(t, "spent token", spent, want)

	at2 := at1.Add(time.Hour)
	t3 := nextToken(t2, at2)
	spent, err = s.RotateRefreshToken(ctx, a.ID, t2.Hash, t3, at2)
	isErr(t, "RotateRefreshToken 2", err, nil)
	equal(t, "second spent token", spent, t2)

	_, err = s.UserForSession(ctx, a.ID, u.ID, in.FamilyID, at2)
	isErr(t, "UserForSession after rotations", err, nil)
	// The family lives as long as its newest token, not its first one.
	_, err = s.UserForSession(ctx, a.ID, u.ID, in.FamilyID, in.ExpiresAt.Add(time.Minute))
	isErr(t, "UserForSession after first token's expiry", err, nil)

	// Every token of the family, spent or not, resolves to its tenant:
	// reuse detection needs the tenant of a replayed token.
	for _, h := range []string{in.Hash, t2.Hash, t3.Hash} {
		id, err := s.TenantIDByRefreshHash(ctx, h)
		isErr(t, "TenantIDByRefreshHash", err, nil)
		if id != a.ID {
			t.Errorf("TenantIDByRefreshHash: got %q, want %q", id, a.ID)
		}
	}
}

func testRefreshReuse(t *testing.T, s store.Store) {
	ctx := t.Context()
	a := mkTenant(t, s, "acme")
	u := mkUser(t, s, a.ID, "ada@example.com", "owner")
	t1 := mkRefresh(t, s, u)
	other := mkRefresh(t, s, u) // a second session of the same user
	at := t0.Add(time.Hour)
	t2 := nextToken(t1, at)
	_, err := s.RotateRefreshToken(ctx, a.ID, t1.Hash, t2, at)
	isErr(t, "RotateRefreshToken", err, nil)

	// An attacker replays t1.
	replay := nextToken(t1, at.Add(time.Minute))
	spent, err := s.RotateRefreshToken(ctx, a.ID, t1.Hash, replay, at.Add(time.Minute))
	isErr(t, "RotateRefreshToken(spent)", err, store.ErrTokenReused)
	if spent.FamilyID != t1.FamilyID || spent.UserID != u.ID || spent.Hash != t1.Hash {
		t.Fatalf("RotateRefreshToken(spent) returned %+v, want the spent token of family %s", spent, t1.FamilyID)
	}

	later := at.Add(2 * time.Minute)
	_, err = s.UserForSession(ctx, a.ID, u.ID, t1.FamilyID, later)
	isErr(t, "UserForSession(family after reuse)", err, store.ErrNotFound)
	_, err = s.RotateRefreshToken(ctx, a.ID, t2.Hash, nextToken(t2, later), later)
	isErr(t, "RotateRefreshToken(token issued before reuse)", err, store.ErrNotFound)
	_, err = s.TenantIDByRefreshHash(ctx, replay.Hash)
	isErr(t, "TenantIDByRefreshHash(replay's next token)", err, store.ErrNotFound)
	// Presenting the spent token again still fails.
	_, err = s.RotateRefreshToken(ctx, a.ID, t1.Hash, nextToken(t1, later), later)
	if err == nil {
		t.Fatalf("RotateRefreshToken(spent, again): got nil error, want ErrTokenReused or ErrNotFound")
	}

	// The user's other session is a different family and lives on.
	_, err = s.UserForSession(ctx, a.ID, u.ID, other.FamilyID, later)
	isErr(t, "UserForSession(other family)", err, nil)
}

func testRefreshExpired(t *testing.T, s store.Store) {
	ctx := t.Context()
	a := mkTenant(t, s, "acme")
	u := mkUser(t, s, a.ID, "ada@example.com", "owner")
	rt := mkRefresh(t, s, u)
	after := rt.ExpiresAt.Add(time.Second)

	_, err := s.UserForSession(ctx, a.ID, u.ID, rt.FamilyID, after)
	isErr(t, "UserForSession(expired)", err, store.ErrNotFound)
	_, err = s.RotateRefreshToken(ctx, a.ID, rt.Hash, nextToken(rt, after), after)
	isErr(t, "RotateRefreshToken(expired)", err, store.ErrNotFound)

	// Still usable before expiry: the failed rotation spent nothing.
	before := rt.ExpiresAt.Add(-time.Second)
	_, err = s.RotateRefreshToken(ctx, a.ID, rt.Hash, nextToken(rt, before), before)
	isErr(t, "RotateRefreshToken(before expiry)", err, nil)
}

func testRefreshRevoked(t *testing.T, s store.Store) {
	ctx := t.Context()
	a := mkTenant(t, s, "acme")
	u := mkUser(t, s, a.ID, "ada@example.com", "owner")
	rt := mkRefresh(t, s, u)
	now := t0.Add(time.Hour)

	isErr(t, "RevokeRefreshFamily", s.RevokeRefreshFamily(ctx, a.ID, rt.FamilyID, now), nil)
	_, err := s.UserForSession(ctx, a.ID, u.ID, rt.FamilyID, now)
	isErr(t, "UserForSession(revoked)", err, store.ErrNotFound)
	_, err = s.RotateRefreshToken(ctx, a.ID, rt.Hash, nextToken(rt, now), now)
	isErr(t, "RotateRefreshToken(revoked)", err, store.ErrNotFound)

	isErr(t, "RevokeRefreshFamily again", s.RevokeRefreshFamily(ctx, a.ID, rt.FamilyID, now), nil)
	isErr(t, "RevokeRefreshFamily unknown", s.RevokeRefreshFamily(ctx, a.ID, newID(), now), nil)
}

func testRefreshUnknown(t *testing.T, s store.Store) {
	ctx := t.Context()
	a := mkTenant(t, s, "acme")
	u := mkUser(t, s, a.ID, "ada@example.com", "owner")
	mkRefresh(t, s, u)
	unknown := store.RefreshToken{Hash: newHash(), TenantID: a.ID, UserID: u.ID, FamilyID: newID(), CreatedAt: t0, ExpiresAt: t0.Add(time.Hour)}

	_, err := s.RotateRefreshToken(ctx, a.ID, newHash(), unknown, t0)
	isErr(t, "RotateRefreshToken(unknown)", err, store.ErrNotFound)
	_, err = s.TenantIDByRefreshHash(ctx, unknown.Hash)
	isErr(t, "TenantIDByRefreshHash(next of failed rotation)", err, store.ErrNotFound)
	_, err = s.UserForSession(ctx, a.ID, u.ID, newID(), t0)
	isErr(t, "UserForSession(unknown family)", err, store.ErrNotFound)
}

func testRefreshConflicts(t *testing.T, s store.Store) {
	ctx := t.Context()
	a := mkTenant(t, s, "acme")
	u := mkUser(t, s, a.ID, "ada@example.com", "owner")
	rt := mkRefresh(t, s, u)

	dupHash := rt
	dupHash.FamilyID = newID()
	isErr(t, "CreateRefreshToken(same hash)", s.CreateRefreshToken(ctx, dupHash), store.ErrConflict)
	dupFamily := rt
	dupFamily.Hash = newHash()
	isErr(t, "CreateRefreshToken(same family)", s.CreateRefreshToken(ctx, dupFamily), store.ErrConflict)

	// A rotation whose next token reuses an existing hash fails and spends
	// nothing.
	now := t0.Add(time.Hour)
	other := mkRefresh(t, s, u)
	next := nextToken(rt, now)
	next.Hash = other.Hash
	_, err := s.RotateRefreshToken(ctx, a.ID, rt.Hash, next, now)
	isErr(t, "RotateRefreshToken(next hash taken)", err, store.ErrConflict)
	_, err = s.RotateRefreshToken(ctx, a.ID, rt.Hash, nextToken(rt, now), now)
	isErr(t, "RotateRefreshToken after failed rotation", err, nil)
}

func testRefreshOtherUser(t *testing.T, s store.Store) {
	ctx := t.Context()
	a := mkTenant(t, s, "acme")
	u := mkUser(t, s, a.ID, "ada@example.com", "owner")
	v := mkUser(t, s, a.ID, "bob@example.com", "member")
	rt := mkRefresh(t, s, u)
	// An access token naming v with u's family must not give v a session.
	_, err := s.UserForSession(ctx, a.ID, v.ID, rt.FamilyID, t0)
	isErr(t, "UserForSession(other user's family)", err, store.ErrNotFound)
}
