// Package pgtest gives tests a fresh PostgreSQL database. Tests that use it
// are skipped unless KOMAND_TEST_POSTGRES_DSN names a server where the user
// may create databases (CI always sets it).
package pgtest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net/url"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

// EnvDSN is the environment variable that enables PostgreSQL tests.
const EnvDSN = "KOMAND_TEST_POSTGRES_DSN"

// Enabled reports whether PostgreSQL tests can run.
func Enabled() bool { return os.Getenv(EnvDSN) != "" }

// FreshDSN creates an empty database for this test, drops it when the test
// ends, and returns its DSN. The test is skipped when EnvDSN is unset.
func FreshDSN(t testing.TB) string {
	t.Helper()
	return fresh(t, "")
}

// FreshDSNFrom is FreshDSN on a copy of a template database: prepare runs
// once per test process and key, on a database of its own (migrating it,
// say), and every call then gets a fresh copy of the result, which costs a
// CREATE DATABASE … TEMPLATE instead of prepare's work. A test package
// that uses it calls DropTemplates from its TestMain.
func FreshDSNFrom(t testing.TB, key string, prepare func(ctx context.Context, dsn string) error) string {
	t.Helper()
	if !Enabled() {
		t.Skip("PostgreSQL tests are disabled; set " + EnvDSN + " (e.g. postgres://root@127.0.0.1:5432/test?sslmode=disable)")
	}
	templatesMu.Lock()
	tp, ok := templates[key]
	if !ok {
		tp = &template{}
		templates[key] = tp
	}
	templatesMu.Unlock()
	tp.once.Do(func() { tp.name, tp.err = makeTemplate(prepare) })
	if tp.err != nil {
		t.Fatalf("pgtest: template %s: %v", key, tp.err)
	}
	return fresh(t, tp.name)
}

type template struct {
	once sync.Once
	name string
	err  error
}

var (
	templatesMu sync.Mutex
	templates   = map[string]*template{}
)

// makeTemplate creates a database, runs prepare on it and closes it to
// connections, so that it can be copied (a template may have none).
func makeTemplate(prepare func(ctx context.Context, dsn string) error) (string, error) {
	base := os.Getenv(EnvDSN)
	name := randomName("komand_tpl_")
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	if err := exec(ctx, base, "CREATE DATABASE "+pgx.Identifier{name}.Sanitize()); err != nil {
		return "", err
	}
	dsn, err := withDatabase(base, name)
	if err == nil {
		err = prepare(ctx, dsn)
	}
	if err == nil {
		err = exec(ctx, base, "ALTER DATABASE "+pgx.Identifier{name}.Sanitize()+" WITH ALLOW_CONNECTIONS false",
			"SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = '"+name+"' AND pid <> pg_backend_pid()")
	}
	if err != nil {
		_ = exec(ctx, base, "DROP DATABASE IF EXISTS "+pgx.Identifier{name}.Sanitize()+" WITH (FORCE)")
		return "", err
	}
	return name, nil
}

// DropTemplates drops the templates FreshDSNFrom made in this process.
func DropTemplates() {
	templatesMu.Lock()
	defer templatesMu.Unlock()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	for key, tp := range templates {
		if tp.name != "" {
			_ = exec(ctx, os.Getenv(EnvDSN), "DROP DATABASE IF EXISTS "+pgx.Identifier{tp.name}.Sanitize()+" WITH (FORCE)")
		}
		delete(templates, key)
	}
}

// fresh creates a database (a copy of template when it is not ""), drops
// it when the test ends and returns its DSN.
func fresh(t testing.TB, template string) string {
	t.Helper()
	base := os.Getenv(EnvDSN)
	if base == "" {
		t.Skip("PostgreSQL tests are disabled; set " + EnvDSN + " (e.g. postgres://root@127.0.0.1:5432/test?sslmode=disable)")
	}
	name := randomName("komand_t_")
	create := "CREATE DATABASE " + pgx.Identifier{name}.Sanitize()
	if template != "" {
		create += " TEMPLATE " + pgx.Identifier{template}.Sanitize()
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := exec(ctx, base, create); err != nil {
		t.Fatalf("pgtest: create database: %v", err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if err := exec(ctx, base, "DROP DATABASE IF EXISTS "+pgx.Identifier{name}.Sanitize()+" WITH (FORCE)"); err != nil {
			t.Logf("pgtest: drop: %v", err)
		}
	})
	dsn, err := withDatabase(base, name)
	if err != nil {
		t.Fatalf("pgtest: %v", err)
	}
	return dsn
}

func randomName(prefix string) string {
	var b [6]byte
	_, _ = rand.Read(b[:])
	return prefix + hex.EncodeToString(b[:])
}

func withDatabase(base, name string) (string, error) {
	u, err := url.Parse(base)
	if err != nil {
		return "", fmt.Errorf("%s is not a URL: %w", EnvDSN, err)
	}
	u.Path = "/" + name
	return u.String(), nil
}

// exec runs sqls on a connection of its own to the server's base DSN.
func exec(ctx context.Context, base string, sqls ...string) error {
	c, err := pgx.Connect(ctx, base)
	if err != nil {
		return fmt.Errorf("connect: %w", err)
	}
	defer c.Close(context.WithoutCancel(ctx))
	for _, q := range sqls {
		if _, err := c.Exec(ctx, q); err != nil {
			return err
		}
	}
	return nil
}
