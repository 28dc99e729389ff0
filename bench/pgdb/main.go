// Command pgdb creates and drops the throw-away PostgreSQL databases of
// bench/run.sh, on the server KOMAND_TEST_POSTGRES_DSN names.
//
//	pgdb create        prints the DSN of a new, empty komand_bench_* database
//	pgdb drop <dsn>    drops that database (only komand_bench_* names)
package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net/url"
	"os"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
)

const prefix = "komand_bench_"

func main() {
	if err := run(os.Args[1:]); err != nil {
		fmt.Fprintln(os.Stderr, "pgdb:", err)
		os.Exit(1)
	}
}

func run(args []string) error {
	base := os.Getenv("KOMAND_TEST_POSTGRES_DSN")
	if base == "" {
		return fmt.Errorf("KOMAND_TEST_POSTGRES_DSN is not set")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	switch {
	case len(args) == 1 && args[0] == "create":
		var b [6]byte
		_, _ = rand.Read(b[:])
		name := prefix + hex.EncodeToString(b[:])
		if err := exec(ctx, base, "CREATE DATABASE "+pgx.Identifier{name}.Sanitize()); err != nil {
			return err
		}
		u, err := url.Parse(base)
		if err != nil {
			return err
		}
		u.Path = "/" + name
		fmt.Println(u.String())
		return nil
	case len(args) == 2 && args[0] == "drop":
		u, err := url.Parse(args[1])
		if err != nil {
			return err
		}
		name := strings.TrimPrefix(u.Path, "/")
		if !strings.HasPrefix(name, prefix) {
			return fmt.Errorf("refusing to drop %q: not a %s* database", name, prefix)
		}
		return exec(ctx, base, "DROP DATABASE IF EXISTS "+pgx.Identifier{name}.Sanitize()+" WITH (FORCE)")
	}
	return fmt.Errorf("usage: pgdb create | pgdb drop <dsn>")
}

func exec(ctx context.Context, dsn, sql string) error {
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		return err
	}
	defer conn.Close(ctx)
	_, err = conn.Exec(ctx, sql)
	return err
}
