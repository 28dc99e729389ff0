// Package archtest holds tests that keep the architecture honest: every
// package is documented, and layers import only what they should (the
// idea of tailscale's deptest and pkgdoc_test).
package archtest

import (
	"go/parser"
	"go/token"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

const module = "github.com/komand-ai/komand/"

// packages returns every package directory under internal/ and cmd/, with
// its non-test files parsed (imports and comments).
func packages(t *testing.T) map[string][]string {
	t.Helper()
	root := filepath.Join("..", "..")
	dirs := map[string][]string{}
	for _, top := range []string{"internal", "cmd"} {
		err := filepath.WalkDir(filepath.Join(root, top), func(p string, d os.DirEntry, err error) error {
			if err != nil {
				return err
			}
			if d.IsDir() && (d.Name() == "testdata" || strings.HasPrefix(d.Name(), ".")) {
				return filepath.SkipDir
			}
			if !d.IsDir() && strings.HasSuffix(p, ".go") && !strings.HasSuffix(p, "_test.go") {
				rel, _ := filepath.Rel(root, filepath.Dir(p))
				dirs[filepath.ToSlash(rel)] = append(dirs[filepath.ToSlash(rel)], p)
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	return dirs
}

func TestEveryPackageHasADocComment(t *testing.T) {
	pkgs := packages(t)
	for _, want := range []string{"internal/gateway", "internal/store/sqlite", "cmd/komand"} {
		if _, ok := pkgs[want]; !ok {
			t.Fatalf("package walk did not find %s", want)
		}
	}
	for dir, files := range pkgs {
		documented := false
		for _, f := range files {
			af, err := parser.ParseFile(token.NewFileSet(), f, nil, parser.PackageClauseOnly|parser.ParseComments)
			if err != nil {
				t.Fatal(err)
			}
			if af.Doc != nil && strings.TrimSpace(af.Doc.Text()) != "" {
				documented = true
			}
		}
		if !documented {
			t.Errorf("package %s has no doc comment", dir)
		}
	}
}

// forbidden maps a package directory prefix to imports it must not use.
var forbidden = map[string][]string{
	// Handlers hold no SQL: the gateway talks to services, never to a driver.
	"internal/gateway": {"database/sql", "github.com/jackc/pgx", "modernc.org/sqlite",
		module + "internal/store/sqlite", module + "internal/store/postgres"},
	// Domain services depend on the store interfaces, not on a database.
	"internal/agent":    {"database/sql", "github.com/jackc/pgx", "modernc.org/sqlite", "net/http", module + "internal/store/sqlite", module + "internal/store/postgres"},
	"internal/user":     {"database/sql", "github.com/jackc/pgx", "modernc.org/sqlite", "net/http", module + "internal/store/sqlite", module + "internal/store/postgres"},
	"internal/tenant":   {"database/sql", "github.com/jackc/pgx", "modernc.org/sqlite", "net/http", module + "internal/store/sqlite", module + "internal/store/postgres"},
	"internal/auditlog": {"database/sql", "github.com/jackc/pgx", "modernc.org/sqlite", "net/http"},
	"internal/authz":    {"database/sql", "net/http", module + "internal/store"},
	"internal/authn":    {"database/sql", "net/http", module + "internal/store/sqlite", module + "internal/store/postgres"},
	"internal/audit":    {"database/sql", "net/http", module + "internal/store/sqlite", module + "internal/store/postgres"},
	// The store contract knows nothing of HTTP or of services above it.
	"internal/store": {"net/http", module + "internal/gateway", module + "internal/authz", module + "internal/authn"},
	// Leaves stay leaves.
	"internal/ratelimit": {module + "internal/"},
	"internal/config":    {module + "internal/"},
	"internal/requestid": {module + "internal/"},
}

func TestLayering(t *testing.T) {
	for dir, files := range packages(t) {
		for prefix, bad := range forbidden {
			if dir != prefix && !strings.HasPrefix(dir, prefix+"/") {
				continue
			}
			if prefix == "internal/store" && strings.HasPrefix(dir, "internal/store/") {
				continue // implementations may use drivers; the rule is for the contract
			}
			for _, f := range files {
				af, err := parser.ParseFile(token.NewFileSet(), f, nil, parser.ImportsOnly)
				if err != nil {
					t.Fatal(err)
				}
				for _, imp := range af.Imports {
					path, _ := strconv.Unquote(imp.Path.Value)
					for _, b := range bad {
						if path == b || strings.HasPrefix(path, b+"/") || (strings.HasSuffix(b, "/") && strings.HasPrefix(path, b)) {
							t.Errorf("%s imports %s", f, path)
						}
					}
				}
			}
		}
	}
}
