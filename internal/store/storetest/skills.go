package storetest

import (
	"fmt"
	"sync"
	"testing"

	"github.com/komand-ai/komand/internal/store"
)

var skillTests = []test{
	{"RegistryRoundTripAndTenancy", testSkillRegistry},
	{"Limits", testSkillLimits},
	{"ConcurrentLimit", testSkillConcurrentLimit},
	{"Installs", testSkillInstalls},
	{"Policy", testSkillPolicy},
}

func mkSkill(tenantID, skillID, version, key string) store.Skill {
	return store.Skill{TenantID: tenantID, SkillID: skillID, Version: version, VersionKey: key, Name: "Skill " + skillID,
		Description: "Looks up " + skillID, PublisherID: "komand-official", Category: "crm",
		Contract: []byte(`{"skillId":"` + skillID + `"}`), Module: []byte("\x00asm-" + skillID + version),
		ModuleDigest: "sha256:" + newHash(), SignatureHash: "sha256:" + newHash(), SignatureKeyID: "key-1",
		IsVerified: true, CreatedBy: newID(), CreatedAt: t0}
}

func testSkillRegistry(t *testing.T, s store.Store) {
	ctx := t.Context()
	a, b := mkTenant(t, s, "alpha"), mkTenant(t, s, "beta")
	v1 := mkSkill(a.ID, "crm-lookup", "1.2.0", "0000000001.0000000002.0000000000")
	v2 := mkSkill(a.ID, "crm-lookup", "1.10.0", "0000000001.0000000010.0000000000")
	other := mkSkill(a.ID, "quote-builder", "0.1.0", "0000000000.0000000001.0000000000")
	other.IsVerified, other.SignatureKeyID, other.PublisherID, other.Category = false, "", "acme", "sales"
	for _, k := range []store.Skill{v1, v2, other} {
		isErr(t, "create "+k.SkillID+"@"+k.Version, s.CreateSkill(ctx, k, 10, 10), nil)
	}
	isErr(t, "duplicate version", s.CreateSkill(ctx, v1, 10, 10), store.ErrConflict)

	strip := func(k store.Skill) store.Skill { k.Module = nil; return k }
	got, err := s.GetSkill(ctx, a.ID, "crm-lookup", "1.2.0")
	isErr(t, "get", err, nil)
	equal(t, "get", got, strip(v1))
	got, err = s.GetSkill(ctx, a.ID, "crm-lookup", "")
	isErr(t, "get newest", err, nil)
	equal(t, "get newest (1.10.0 sorts after 1.2.0)", got.Version, "1.10.0")
	m, err := s.SkillModule(ctx, a.ID, "crm-lookup", "1.10.0")
	isErr(t, "module", err, nil)
	equal(t, "module", m, v2.Module)

	list, total, err := s.ListSkills(ctx, a.ID, store.SkillFilter{}, store.Page{Page: 1, PageSize: 10})
	isErr(t, "list", err, nil)
	if total != 2 || len(list) != 2 || list[0].Version != "1.10.0" || list[1].SkillID != "quote-builder" {
		t.Fatalf("list: total %d %+v", total, list)
	}
	for _, tc := range []struct {
		f    store.SkillFilter
		want int
	}{
		{store.SkillFilter{VerifiedOnly: true}, 1},
		{store.SkillFilter{PublisherID: "acme"}, 1},
		{store.SkillFilter{Category: "crm"}, 1},
		{store.SkillFilter{Query: "QUOTE"}, 1},
		{store.SkillFilter{Query: "looks up"}, 2},
		{store.SkillFilter{Query: "%"}, 0},
		{store.SkillFilter{Query: "_"}, 0},
		{store.SkillFilter{Query: "crm-lookup' OR 1=1 --"}, 0},
	} {
		_, n, err := s.ListSkills(ctx, a.ID, tc.f, store.Page{Page: 1, PageSize: 10})
		isErr(t, "filter", err, nil)
		if n != tc.want {
			t.Fatalf("filter %+v: %d, want %d", tc.f, n, tc.want)
		}
	}
	page2, total, err := s.ListSkills(ctx, a.ID, store.SkillFilter{}, store.Page{Page: 2, PageSize: 1})
	isErr(t, "page 2", err, nil)
	if total != 2 || len(page2) != 1 || page2[0].SkillID != "quote-builder" {
		t.Fatalf("page 2: %d %+v", total, page2)
	}
	vs, err := s.ListSkillVersions(ctx, a.ID, "crm-lookup")
	isErr(t, "versions", err, nil)
	if len(vs) != 2 || vs[0].Version != "1.10.0" || vs[1].Version != "1.2.0" || vs[0].Module != nil {
		t.Fatalf("versions: %+v", vs)
	}

	// Tenant B sees none of it.
	_, err = s.GetSkill(ctx, b.ID, "crm-lookup", "")
	isErr(t, "other tenant get", err, store.ErrNotFound)
	_, err = s.SkillModule(ctx, b.ID, "crm-lookup", "1.2.0")
	isErr(t, "other tenant module", err, store.ErrNotFound)
	_, n, err := s.ListSkills(ctx, b.ID, store.SkillFilter{}, store.Page{Page: 1, PageSize: 10})
	isErr(t, "other tenant list", err, nil)
	if n != 0 {
		t.Fatalf("tenant B lists %d skills", n)
	}
	isErr(t, "other tenant delete", s.DeleteSkillVersion(ctx, b.ID, "crm-lookup", ""), store.ErrNotFound)
	// B may register the same ID as its own.
	isErr(t, "same ID in tenant B", s.CreateSkill(ctx, mkSkill(b.ID, "crm-lookup", "1.2.0", v1.VersionKey), 10, 10), nil)

	isErr(t, "delete version", s.DeleteSkillVersion(ctx, a.ID, "crm-lookup", "1.10.0"), nil)
	got, err = s.GetSkill(ctx, a.ID, "crm-lookup", "")
	isErr(t, "newest after delete", err, nil)
	equal(t, "newest after delete", got.Version, "1.2.0")
	isErr(t, "delete all", s.DeleteSkillVersion(ctx, a.ID, "crm-lookup", ""), nil)
	_, err = s.GetSkill(ctx, a.ID, "crm-lookup", "")
	isErr(t, "deleted", err, store.ErrNotFound)
	isErr(t, "delete missing", s.DeleteSkillVersion(ctx, a.ID, "crm-lookup", ""), store.ErrNotFound)
	_, err = s.GetSkill(ctx, b.ID, "crm-lookup", "1.2.0")
	isErr(t, "tenant B's copy survives", err, nil)
}

func testSkillLimits(t *testing.T, s store.Store) {
	ctx := t.Context()
	a := mkTenant(t, s, "alpha")
	for i := range 3 {
		isErr(t, "create", s.CreateSkill(ctx, mkSkill(a.ID, fmt.Sprintf("skill-%d", i), "1.0.0", "1"), 3, 2), nil)
	}
	isErr(t, "fourth skill", s.CreateSkill(ctx, mkSkill(a.ID, "skill-3", "1.0.0", "1"), 3, 2), store.ErrLimit)
	// A new version of an existing skill is not a new skill...
	isErr(t, "second version", s.CreateSkill(ctx, mkSkill(a.ID, "skill-0", "1.0.1", "2"), 3, 2), nil)
	// ...but versions are capped too.
	isErr(t, "third version", s.CreateSkill(ctx, mkSkill(a.ID, "skill-0", "1.0.2", "3"), 3, 2), store.ErrLimit)
}

func testSkillConcurrentLimit(t *testing.T, s store.Store) {
	ctx := t.Context()
	a := mkTenant(t, s, "alpha")
	const writers, limit = 12, 5
	var wg sync.WaitGroup
	errs := make([]error, writers)
	for i := range writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[i] = s.CreateSkill(ctx, mkSkill(a.ID, fmt.Sprintf("skill-%02d", i), "1.0.0", "1"), limit, 10)
		}()
	}
	wg.Wait()
	ok := 0
	for _, err := range errs {
		if err == nil {
			ok++
		} else {
			isErr(t, "over the limit", err, store.ErrLimit)
		}
	}
	_, total, err := s.ListSkills(ctx, a.ID, store.SkillFilter{}, store.Page{Page: 1, PageSize: 50})
	isErr(t, "list", err, nil)
	if ok != limit || total != limit {
		t.Fatalf("%d writers succeeded, %d stored, want %d", ok, total, limit)
	}
}

func testSkillInstalls(t *testing.T, s store.Store) {
	ctx := t.Context()
	a, b := mkTenant(t, s, "alpha"), mkTenant(t, s, "beta")
	mkAgent(t, s, a.ID, "sales", "")
	mkAgent(t, s, b.ID, "sales", "")
	isErr(t, "skill", s.CreateSkill(ctx, mkSkill(a.ID, "crm-lookup", "1.0.0", "1"), 10, 10), nil)
	isErr(t, "skill v2", s.CreateSkill(ctx, mkSkill(a.ID, "crm-lookup", "2.0.0", "2"), 10, 10), nil)
	in := store.SkillInstall{TenantID: a.ID, AgentID: "sales", SkillID: "crm-lookup", Version: "1.0.0",
		Granted: []byte(`[{"resource":"crm","access":"read","scope":null}]`), Config: []byte(`{"region":"eu"}`),
		InstalledBy: newID(), InstalledAt: t0, UpdatedAt: t0}
	created, err := s.PutSkillInstall(ctx, in)
	isErr(t, "install", err, nil)
	if !created {
		t.Fatal("first install not reported as created")
	}
	got, err := s.GetSkillInstall(ctx, a.ID, "sales", "crm-lookup")
	isErr(t, "get install", err, nil)
	equal(t, "get install", got, in)

	up := in
	up.Version, up.Granted, up.UpdatedAt = "2.0.0", []byte(`[]`), t0.Add(1e9)
	created, err = s.PutSkillInstall(ctx, up)
	isErr(t, "upgrade", err, nil)
	if created {
		t.Fatal("upgrade reported as created")
	}
	got, _ = s.GetSkillInstall(ctx, a.ID, "sales", "crm-lookup")
	equal(t, "upgraded (installer and install time kept)", got, up)

	for name, bad := range map[string]store.SkillInstall{
		"unknown version":      {TenantID: a.ID, AgentID: "sales", SkillID: "crm-lookup", Version: "9.9.9", Granted: []byte(`[]`), Config: []byte(`{}`), InstalledAt: t0, UpdatedAt: t0},
		"unknown agent":        {TenantID: a.ID, AgentID: "ghost", SkillID: "crm-lookup", Version: "1.0.0", Granted: []byte(`[]`), Config: []byte(`{}`), InstalledAt: t0, UpdatedAt: t0},
		"other tenant's skill": {TenantID: b.ID, AgentID: "sales", SkillID: "crm-lookup", Version: "1.0.0", Granted: []byte(`[]`), Config: []byte(`{}`), InstalledAt: t0, UpdatedAt: t0},
	} {
		_, err := s.PutSkillInstall(ctx, bad)
		isErr(t, name, err, store.ErrNotFound)
	}
	list, err := s.ListSkillInstalls(ctx, a.ID, "sales")
	isErr(t, "list installs", err, nil)
	if len(list) != 1 {
		t.Fatalf("installs: %+v", list)
	}
	list, err = s.ListSkillInstalls(ctx, b.ID, "sales")
	isErr(t, "list other tenant", err, nil)
	if len(list) != 0 {
		t.Fatalf("tenant B sees installs: %+v", list)
	}
	_, err = s.GetSkillInstall(ctx, b.ID, "sales", "crm-lookup")
	isErr(t, "get other tenant", err, store.ErrNotFound)

	// An installed version cannot be deleted.
	isErr(t, "delete installed version", s.DeleteSkillVersion(ctx, a.ID, "crm-lookup", "2.0.0"), store.ErrConflict)
	isErr(t, "delete installed skill", s.DeleteSkillVersion(ctx, a.ID, "crm-lookup", ""), store.ErrConflict)
	isErr(t, "delete uninstalled version", s.DeleteSkillVersion(ctx, a.ID, "crm-lookup", "1.0.0"), nil)

	isErr(t, "uninstall other tenant", s.DeleteSkillInstall(ctx, b.ID, "sales", "crm-lookup"), store.ErrNotFound)
	isErr(t, "uninstall", s.DeleteSkillInstall(ctx, a.ID, "sales", "crm-lookup"), nil)
	isErr(t, "uninstall again", s.DeleteSkillInstall(ctx, a.ID, "sales", "crm-lookup"), store.ErrNotFound)

	// Installs go with their agent.
	_, err = s.PutSkillInstall(ctx, up)
	isErr(t, "reinstall", err, nil)
	isErr(t, "delete agent", s.DeleteAgent(ctx, a.ID, "sales"), nil)
	_, err = s.GetSkillInstall(ctx, a.ID, "sales", "crm-lookup")
	isErr(t, "install after agent deleted", err, store.ErrNotFound)
}

func testSkillPolicy(t *testing.T, s store.Store) {
	ctx := t.Context()
	a, b := mkTenant(t, s, "alpha"), mkTenant(t, s, "beta")
	p, err := s.GetSkillPolicy(ctx, a.ID)
	isErr(t, "default policy", err, nil)
	equal(t, "default policy", p, store.SkillPolicy{TenantID: a.ID})
	want := store.SkillPolicy{TenantID: a.ID, AllowUnsigned: true, UpdatedBy: newID(), UpdatedAt: t0}
	isErr(t, "put", s.PutSkillPolicy(ctx, want), nil)
	p, _ = s.GetSkillPolicy(ctx, a.ID)
	equal(t, "put", p, want)
	want.AllowUnsigned = false
	isErr(t, "put again", s.PutSkillPolicy(ctx, want), nil)
	p, _ = s.GetSkillPolicy(ctx, a.ID)
	equal(t, "put again", p, want)
	p, _ = s.GetSkillPolicy(ctx, b.ID)
	equal(t, "other tenant", p, store.SkillPolicy{TenantID: b.ID})
}
