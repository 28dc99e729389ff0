package storetest

import (
	"bytes"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/komand-ai/komand/internal/store"
)

var vaultTests = []test{
	{"DataKeys", testDataKeys},
	{"CredentialRoundTrip", testCredentialRoundTrip},
	{"CredentialNamesAndList", testCredentialList},
	{"CredentialTenancy", testCredentialTenancy},
	{"Grants", testCredentialGrants},
	{"Reencrypt", testCredentialReencrypt},
}

func mkDataKey(t *testing.T, s store.Store, tenantID string, version int, kek string) store.DataKey {
	t.Helper()
	k := store.DataKey{TenantID: tenantID, Version: version, KEKID: kek,
		Wrapped: []byte(fmt.Sprintf("wrapped-%d-\x00\xff", version)), CreatedAt: t0.Add(time.Duration(version) * time.Second)}
	isErr(t, "CreateDataKey", s.CreateDataKey(t.Context(), k), nil)
	return k
}

func mkCredential(t *testing.T, s store.Store, tenantID, name string, version int) store.Credential {
	t.Helper()
	c := store.Credential{TenantID: tenantID, ID: newID(), Name: name, Type: "api_key", Source: "hashicorp_vault", KeyVersion: version,
		Ciphertext: []byte("\x01ciphertext\x00" + name), CreatedBy: newID(), CreatedAt: t0, UpdatedAt: t0}
	isErr(t, "CreateCredential "+name, s.CreateCredential(t.Context(), c, 1000), nil)
	return c
}

func testDataKeys(t *testing.T, s store.Store) {
	ctx := t.Context()
	a, b := mkTenant(t, s, "alpha"), mkTenant(t, s, "beta")
	ks, err := s.DataKeys(ctx, a.ID)
	isErr(t, "DataKeys empty", err, nil)
	if len(ks) != 0 {
		t.Fatalf("DataKeys of a new tenant: %d", len(ks))
	}
	k1 := mkDataKey(t, s, a.ID, 1, "kek-a")
	k2 := mkDataKey(t, s, a.ID, 2, "kek-a")
	mkDataKey(t, s, b.ID, 1, "kek-a")
	dup := k1
	dup.Wrapped = []byte("other")
	isErr(t, "CreateDataKey duplicate version", s.CreateDataKey(ctx, dup), store.ErrConflict)
	ks, err = s.DataKeys(ctx, a.ID)
	isErr(t, "DataKeys", err, nil)
	equal(t, "DataKeys newest first", ks, []store.DataKey{k2, k1})

	n, err := s.RewrapDataKeys(ctx, []store.DataKeyRewrap{
		{TenantID: a.ID, Version: 1, OldKEKID: "kek-a", NewKEKID: "kek-b", Wrapped: []byte("rewrapped")},
		{TenantID: a.ID, Version: 1, OldKEKID: "kek-a", NewKEKID: "kek-c", Wrapped: []byte("x")}, // stale: skipped
		{TenantID: b.ID, Version: 2, OldKEKID: "kek-a", NewKEKID: "kek-b", Wrapped: []byte("x")}, // B has no version 2
		{TenantID: a.ID, Version: 9, OldKEKID: "kek-a", NewKEKID: "kek-b", Wrapped: []byte("x")}, // no such version
	})
	isErr(t, "RewrapDataKeys", err, nil)
	if n != 1 {
		t.Fatalf("RewrapDataKeys replaced %d, want 1", n)
	}
	if n, err := s.RewrapDataKeys(ctx, nil); err != nil || n != 0 {
		t.Fatalf("RewrapDataKeys(nil): %d %v", n, err)
	}
	ks, _ = s.DataKeys(ctx, a.ID)
	if ks[1].KEKID != "kek-b" || !bytes.Equal(ks[1].Wrapped, []byte("rewrapped")) || ks[0].KEKID != "kek-a" {
		t.Fatalf("after rewrap: %+v", ks)
	}
	kb, _ := s.DataKeys(ctx, b.ID)
	if len(kb) != 1 || kb[0].KEKID != "kek-a" {
		t.Fatalf("tenant B's keys changed: %+v", kb)
	}
}

func testCredentialRoundTrip(t *testing.T, s store.Store) {
	ctx := t.Context()
	a := mkTenant(t, s, "alpha")
	mkDataKey(t, s, a.ID, 1, "kek")
	mkDataKey(t, s, a.ID, 2, "kek")
	c := mkCredential(t, s, a.ID, "stripe", 1)
	got, err := s.GetCredential(ctx, a.ID, c.ID)
	isErr(t, "GetCredential", err, nil)
	equal(t, "GetCredential", got, c)
	got, err = s.GetCredentialByName(ctx, a.ID, "stripe")
	isErr(t, "GetCredentialByName", err, nil)
	equal(t, "GetCredentialByName", got, c)

	c.Name, c.Type, c.KeyVersion, c.Ciphertext, c.UpdatedAt = "stripe-live", "token", 2, []byte("new"), t0.Add(time.Hour).In(east)
	isErr(t, "UpdateCredential", s.UpdateCredential(ctx, c, true), nil)
	used := t0.Add(2 * time.Hour)
	isErr(t, "TouchCredential", s.TouchCredential(ctx, a.ID, c.ID, used), nil)
	got, _ = s.GetCredential(ctx, a.ID, c.ID)
	c.UpdatedAt, c.LastUsedAt = norm(c.UpdatedAt), &used
	equal(t, "after update", got, c)
	_, err = s.GetCredentialByName(ctx, a.ID, "stripe")
	isErr(t, "old name", err, store.ErrNotFound)

	bad := c
	bad.ID, bad.Name, bad.KeyVersion = newID(), "no-such-key", 9
	if err := s.CreateCredential(ctx, bad, 1000); err == nil {
		t.Fatal("CreateCredential accepted a data key version that does not exist")
	}
	isErr(t, "DeleteCredential", s.DeleteCredential(ctx, a.ID, c.ID), nil)
	isErr(t, "DeleteCredential again", s.DeleteCredential(ctx, a.ID, c.ID), store.ErrNotFound)
	_, err = s.GetCredential(ctx, a.ID, c.ID)
	isErr(t, "GetCredential deleted", err, store.ErrNotFound)
	isErr(t, "UpdateCredential deleted", s.UpdateCredential(ctx, c, true), store.ErrNotFound)
	isErr(t, "TouchCredential deleted", s.TouchCredential(ctx, a.ID, c.ID, used), store.ErrNotFound)
}

func testCredentialList(t *testing.T, s store.Store) {
	ctx := t.Context()
	a := mkTenant(t, s, "alpha")
	mkDataKey(t, s, a.ID, 1, "kek")
	var want []store.Credential
	for _, n := range []string{"c-3", "c-1", "c-2"} {
		want = append(want, mkCredential(t, s, a.ID, n, 1))
	}
	dup := want[0]
	dup.ID = newID()
	isErr(t, "CreateCredential duplicate name", s.CreateCredential(ctx, dup, 1000), store.ErrConflict)
	other := want[1]
	other.Name = "c-3"
	isErr(t, "UpdateCredential to a taken name", s.UpdateCredential(ctx, other, false), store.ErrConflict)

	page, total, err := s.ListCredentials(ctx, a.ID, store.Page{Page: 1, PageSize: 2})
	isErr(t, "ListCredentials", err, nil)
	if total != 3 || len(page) != 2 || page[0].Name != "c-1" || page[1].Name != "c-2" {
		t.Fatalf("page 1: total %d, %+v", total, page)
	}
	page, _, _ = s.ListCredentials(ctx, a.ID, store.Page{Page: 2, PageSize: 2})
	if len(page) != 1 || page[0].Name != "c-3" {
		t.Fatalf("page 2: %+v", page)
	}
}

func testCredentialTenancy(t *testing.T, s store.Store) {
	ctx := t.Context()
	a, b := mkTenant(t, s, "alpha"), mkTenant(t, s, "beta")
	mkDataKey(t, s, a.ID, 1, "kek")
	mkDataKey(t, s, b.ID, 1, "kek")
	c := mkCredential(t, s, a.ID, "stripe", 1)
	// The same name in another tenant is a different credential.
	mkCredential(t, s, b.ID, "stripe", 1)
	_, err := s.GetCredential(ctx, b.ID, c.ID)
	isErr(t, "B gets A's credential", err, store.ErrNotFound)
	moved := c
	moved.TenantID = b.ID
	isErr(t, "B updates A's credential", s.UpdateCredential(ctx, moved, true), store.ErrNotFound)
	isErr(t, "B touches A's credential", s.TouchCredential(ctx, b.ID, c.ID, t0), store.ErrNotFound)
	isErr(t, "B deletes A's credential", s.DeleteCredential(ctx, b.ID, c.ID), store.ErrNotFound)
	list, total, _ := s.ListCredentials(ctx, b.ID, store.Page{Page: 1, PageSize: 10})
	if total != 1 || list[0].ID == c.ID {
		t.Fatalf("B's list: %+v", list)
	}
	got, err := s.GetCredential(ctx, a.ID, c.ID)
	isErr(t, "A's credential after B's attempts", err, nil)
	equal(t, "A's credential unchanged", got, c)
	// A credential cannot point at another tenant's data key.
	mkDataKey(t, s, b.ID, 2, "kek")
	cross := store.Credential{TenantID: a.ID, ID: newID(), Name: "cross", Type: "api_key", KeyVersion: 2,
		Ciphertext: []byte("x"), CreatedAt: t0, UpdatedAt: t0}
	if err := s.CreateCredential(ctx, cross, 1000); err == nil {
		t.Fatal("a credential of A was stored under B's data key version")
	}
}

func testCredentialGrants(t *testing.T, s store.Store) {
	ctx := t.Context()
	a, b := mkTenant(t, s, "alpha"), mkTenant(t, s, "beta")
	mkDataKey(t, s, a.ID, 1, "kek")
	mkDataKey(t, s, b.ID, 1, "kek")
	mkAgent(t, s, a.ID, "sales", "")
	mkAgent(t, s, a.ID, "support", "")
	mkAgent(t, s, b.ID, "sales", "")
	c := mkCredential(t, s, a.ID, "stripe", 1)
	other := mkCredential(t, s, a.ID, "hubspot", 1)
	bc := mkCredential(t, s, b.ID, "stripe", 1)
	grant := func(tenant, cred, agent, skill string) error {
		return s.GrantCredential(ctx, store.CredentialGrant{TenantID: tenant, CredentialID: cred, AgentID: agent,
			SkillID: skill, CreatedBy: "u", CreatedAt: t0})
	}
	isErr(t, "grant", grant(a.ID, c.ID, "sales", "billing"), nil)
	isErr(t, "grant again", grant(a.ID, c.ID, "sales", "billing"), store.ErrConflict)
	isErr(t, "grant to an unknown agent", grant(a.ID, c.ID, "ghost", "billing"), store.ErrNotFound)
	isErr(t, "grant of an unknown credential", grant(a.ID, newID(), "sales", "billing"), store.ErrNotFound)
	isErr(t, "grant of A's credential in B", grant(b.ID, c.ID, "sales", "billing"), store.ErrNotFound)

	got, hosts, err := s.GrantedCredential(ctx, a.ID, "sales", "billing", "stripe")
	isErr(t, "GrantedCredential", err, nil)
	equal(t, "GrantedCredential", got, c)
	if len(hosts) != 0 {
		t.Fatalf("an unbound grant has hosts %v", hosts)
	}
	for _, q := range []struct{ tenant, agent, skill, name string }{
		{a.ID, "sales", "other-skill", "stripe"},  // another skill of the agent
		{a.ID, "support", "billing", "stripe"},    // the skill on another agent
		{a.ID, "sales", "billing", "hubspot"},     // another credential
		{a.ID, "sales", "billing", "nonexistent"}, // no such name
		{b.ID, "sales", "billing", "stripe"},      // same names in another tenant
	} {
		_, _, err := s.GrantedCredential(ctx, q.tenant, q.agent, q.skill, q.name)
		isErr(t, "GrantedCredential without a grant", err, store.ErrNotFound)
	}
	isErr(t, "grant B", grant(b.ID, bc.ID, "sales", "billing"), nil)
	if got, _, _ := s.GrantedCredential(ctx, b.ID, "sales", "billing", "stripe"); got.ID != bc.ID {
		t.Fatalf("B's grant resolved to %s, want B's credential", got.ID)
	}
	// A grant bound to hosts keeps them, in order.
	bound := []string{"*.stripe.com", "api.stripe.com"}
	isErr(t, "second grant, bound", s.GrantCredential(ctx, store.CredentialGrant{TenantID: a.ID, CredentialID: c.ID,
		AgentID: "support", SkillID: "billing", Hosts: bound, CreatedBy: "u", CreatedAt: t0}), nil)
	if _, hosts, err := s.GrantedCredential(ctx, a.ID, "support", "billing", "stripe"); err != nil || !slices.Equal(hosts, bound) {
		t.Fatalf("bound grant's hosts: %v %v", hosts, err)
	}
	gs, err := s.CredentialGrants(ctx, a.ID, c.ID)
	isErr(t, "CredentialGrants", err, nil)
	if len(gs) != 2 || gs[0].AgentID != "sales" || gs[1].AgentID != "support" || gs[0].CreatedAt != t0 ||
		len(gs[0].Hosts) != 0 || !slices.Equal(gs[1].Hosts, bound) {
		t.Fatalf("grants: %+v", gs)
	}
	if gs, _ := s.CredentialGrants(ctx, b.ID, c.ID); len(gs) != 0 {
		t.Fatalf("B sees A's grants: %+v", gs)
	}
	isErr(t, "revoke from B", s.RevokeCredential(ctx, b.ID, c.ID, "sales", "billing"), store.ErrNotFound)
	isErr(t, "revoke", s.RevokeCredential(ctx, a.ID, c.ID, "sales", "billing"), nil)
	isErr(t, "revoke again", s.RevokeCredential(ctx, a.ID, c.ID, "sales", "billing"), store.ErrNotFound)
	_, _, err = s.GrantedCredential(ctx, a.ID, "sales", "billing", "stripe")
	isErr(t, "after revoke", err, store.ErrNotFound)

	// Grants go with their agent and with their credential.
	isErr(t, "grant other", grant(a.ID, other.ID, "support", "crm"), nil)
	isErr(t, "DeleteAgent", s.DeleteAgent(ctx, a.ID, "support"), nil)
	if gs, _ := s.CredentialGrants(ctx, a.ID, other.ID); len(gs) != 0 {
		t.Fatalf("grants survived their agent: %+v", gs)
	}
	isErr(t, "DeleteCredential with grants", s.DeleteCredential(ctx, b.ID, bc.ID), nil)
	if gs, _ := s.CredentialGrants(ctx, b.ID, bc.ID); len(gs) != 0 {
		t.Fatalf("grants survived their credential: %+v", gs)
	}
}

func testCredentialReencrypt(t *testing.T, s store.Store) {
	ctx := t.Context()
	a, b := mkTenant(t, s, "alpha"), mkTenant(t, s, "beta")
	mkDataKey(t, s, a.ID, 1, "kek")
	mkDataKey(t, s, a.ID, 2, "kek")
	mkDataKey(t, s, b.ID, 1, "kek")
	var old []store.Credential
	for _, n := range []string{"x", "y", "z"} {
		old = append(old, mkCredential(t, s, a.ID, n, 1))
	}
	mkCredential(t, s, b.ID, "x", 1)
	cs, err := s.CredentialsBelowVersion(ctx, a.ID, 2, 2)
	isErr(t, "CredentialsBelowVersion", err, nil)
	if len(cs) != 2 {
		t.Fatalf("below version: %d, want the limit of 2", len(cs))
	}
	isErr(t, "Reencrypt", s.ReencryptCredential(ctx, a.ID, old[0].ID, old[0].Ciphertext, 2, []byte("new")), nil)
	isErr(t, "Reencrypt from a stale ciphertext", s.ReencryptCredential(ctx, a.ID, old[0].ID, old[0].Ciphertext, 2, []byte("x")), store.ErrConflict)
	isErr(t, "Reencrypt another tenant's", s.ReencryptCredential(ctx, b.ID, old[1].ID, old[1].Ciphertext, 2, []byte("x")), store.ErrConflict)
	// A value replaced under the old key version (a replica that has not
	// seen the rotation) is not overwritten by the pass's stale read.
	replaced := old[1]
	replaced.Ciphertext, replaced.UpdatedAt = []byte("replaced under v1"), t0.Add(time.Hour)
	isErr(t, "replace", s.UpdateCredential(ctx, replaced, true), nil)
	isErr(t, "Reencrypt of a replaced value", s.ReencryptCredential(ctx, a.ID, old[1].ID, old[1].Ciphertext, 2, []byte("stale A")), store.ErrConflict)
	// A rename does not write the value back.
	renamed := old[2]
	renamed.Name, renamed.Ciphertext = "renamed", []byte("must not be written")
	isErr(t, "rename", s.UpdateCredential(ctx, renamed, false), nil)
	if got, _ := s.GetCredential(ctx, a.ID, old[2].ID); got.Name != "renamed" || string(got.Ciphertext) != string(old[2].Ciphertext) {
		t.Fatalf("a rename changed the value: %+v", got)
	}
	got, _ := s.GetCredential(ctx, a.ID, old[0].ID)
	if got.KeyVersion != 2 || string(got.Ciphertext) != "new" || got.UpdatedAt != old[0].UpdatedAt {
		t.Fatalf("after reencrypt: %+v", got)
	}
	cs, _ = s.CredentialsBelowVersion(ctx, a.ID, 2, 10)
	if len(cs) != 2 {
		t.Fatalf("below version after one move: %d, want 2", len(cs))
	}
	if cs, _ := s.CredentialsBelowVersion(ctx, b.ID, 2, 10); len(cs) != 1 {
		t.Fatalf("B below version: %d", len(cs))
	}
}
