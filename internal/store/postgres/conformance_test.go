package postgres

import (
	"context"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/komand-ai/komand/internal/store"
	"github.com/komand-ai/komand/internal/store/storetest"
)

func TestMain(m *testing.M) {
	code := m.Run()
	dropMigratedTemplate()
	os.Exit(code)
}

// TestConformance runs the shared store suite, each test on a fresh
// database (a copy of one migrated once; the migrations themselves are
// tested on empty databases by TestMigrationsIdempotent and
// TestNonSuperuserOwner).
func TestConformance(t *testing.T) {
	baseDSN(t)
	storetest.Run(t, func(t *testing.T) store.Store {
		s, err := Open(t.Context(), freshMigrated(t))
		if err != nil {
			t.Fatalf("Open: %v", err)
		}
		return s
	})
}

var migrated struct {
	once sync.Once
	name string // "" until made
}

// freshMigrated is freshDatabase(t, "") on a copy of a database migrated
// once per test process: a CREATE DATABASE … TEMPLATE per test instead of
// the migrations. The template takes no connections (a template being
// copied may have none); TestMain drops it.
func freshMigrated(t testing.TB) string {
	t.Helper()
	base := baseDSN(t)
	migrated.once.Do(func() {
		name := randomName("komand_tpl_")
		ident := pgx.Identifier{name}.Sanitize()
		adminExec(t, "CREATE DATABASE "+ident)
		s, err := Open(context.Background(), withDatabase(t, base, name, ""))
		if err != nil {
			adminExec(t, "DROP DATABASE IF EXISTS "+ident+" WITH (FORCE)")
			t.Fatalf("migrating the template: %v", err)
		}
		s.Close()
		adminExec(t, "ALTER DATABASE "+ident+" WITH ALLOW_CONNECTIONS false",
			"SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = '"+name+"' AND pid <> pg_backend_pid()")
		migrated.name = name
	})
	if migrated.name == "" {
		t.Fatal("the migrated template database could not be made (see the first test that asked for it)")
	}
	name := randomName("komand_t_")
	ident := pgx.Identifier{name}.Sanitize()
	adminExec(t, "CREATE DATABASE "+ident+" TEMPLATE "+pgx.Identifier{migrated.name}.Sanitize())
	t.Cleanup(func() { adminExec(t, "DROP DATABASE IF EXISTS "+ident+" WITH (FORCE)") })
	return withDatabase(t, base, name, "")
}

func dropMigratedTemplate() {
	if migrated.name == "" {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	c, err := pgx.Connect(ctx, os.Getenv(dsnEnv))
	if err != nil {
		return
	}
	defer c.Close(ctx)
	_, _ = c.Exec(ctx, "DROP DATABASE IF EXISTS "+pgx.Identifier{migrated.name}.Sanitize()+" WITH (FORCE)")
}
