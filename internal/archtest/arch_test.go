// Package archtest holds tests that keep the architecture honest: every
// package is documented, and layers import only what they should (the
// idea of tailscale's deptest and pkgdoc_test).
package archtest

import (
	"go/ast"
	"go/parser"
	"go/token"
	"os"
	"path/filepath"
	"slices"
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
	"internal/agent":  {"database/sql", "github.com/jackc/pgx", "modernc.org/sqlite", "net/http", module + "internal/store/sqlite", module + "internal/store/postgres"},
	"internal/user":   {"database/sql", "github.com/jackc/pgx", "modernc.org/sqlite", "net/http", module + "internal/store/sqlite", module + "internal/store/postgres"},
	"internal/tenant": {"database/sql", "github.com/jackc/pgx", "modernc.org/sqlite", "net/http", module + "internal/store/sqlite", module + "internal/store/postgres"},
	"internal/crm":    {"net/http"},
	// authz is below audit and store: both may import it, it imports neither.
	"internal/authz": {"database/sql", "net/http", module + "internal/store", module + "internal/audit"},
	"internal/authn": {"database/sql", "net/http", module + "internal/store/sqlite", module + "internal/store/postgres"},
	"internal/audit": {"database/sql", "github.com/jackc/pgx", "modernc.org/sqlite", "net/http", module + "internal/store/sqlite", module + "internal/store/postgres"},
	// The skill package format and registry sit below the tool runtime and
	// write no agent row (they enable skills through agent.Service, by
	// interface); the runtime serves no HTTP and runs no turn.
	"internal/skill": {"database/sql", "github.com/jackc/pgx", "modernc.org/sqlite", "net/http", module + "internal/store/sqlite", module + "internal/store/postgres",
		module + "internal/tool", module + "internal/agent", module + "internal/session", module + "internal/gateway"},
	"internal/tool": {"database/sql", "github.com/jackc/pgx", "modernc.org/sqlite", "net/http", module + "internal/store/sqlite", module + "internal/store/postgres",
		module + "internal/session", module + "internal/gateway"},
	// The SSRF broker is an HTTP client, nothing more (see onlyInternal).
	"internal/egress": {"database/sql", "github.com/jackc/pgx", "modernc.org/sqlite", "net/http/httptest"},
	// The store contract knows nothing of HTTP or of services above it.
	"internal/store": {"net/http", module + "internal/gateway", module + "internal/authz", module + "internal/authn"},
	// Leaves stay leaves.
	"internal/ratelimit": {module + "internal/"},
	"internal/config":    {module + "internal/"},
	"internal/requestid": {module + "internal/"},
}

// services are the domain service packages: they validate, authorize and
// audit, over the store's interfaces. Each gets the rules of
// serviceForbidden on top of its entry in forbidden, if any.
var services = []string{
	"internal/agent", "internal/audit", "internal/authn", "internal/authz", "internal/channel",
	"internal/crm", "internal/injection", "internal/llm", "internal/session", "internal/skill",
	"internal/tenant", "internal/user", "internal/vault",
}

// serviceForbidden is what no service imports: a database or cache
// driver or a store implementation (services hold the store's
// interfaces), the layers above them (gateway, wiring, CLI, commands),
// test helpers, and the server side of net/http (its client is allowed:
// channels answer Slack and Telegram, the vault reads external secret
// managers, injection calls its classifier; serverIdents covers the
// server half of net/http itself).
var serviceForbidden = []string{
	"database/sql", "github.com/jackc/pgx", "modernc.org/sqlite", "github.com/redis/go-redis",
	module + "internal/store/sqlite", module + "internal/store/postgres",
	module + "internal/gateway", module + "internal/app", module + "internal/cli", module + "internal/e2e", module + "cmd/",
	"testing", module + "internal/servicetest", module + "internal/store/storetest", module + "internal/store/pgtest",
	module + "internal/sandbox/sandboxtest",
	"net/http/httptest", "net/http/httputil", "net/http/pprof", "net/http/cgi", "net/http/fcgi",
}

// serverIdents are net/http's server-side names: a service that uses one
// is serving HTTP itself, which is the gateway's job.
var serverIdents = map[string]bool{
	"ResponseWriter": true, "Handler": true, "HandlerFunc": true, "ServeMux": true, "NewServeMux": true,
	"Server": true, "ListenAndServe": true, "ListenAndServeTLS": true, "Serve": true, "ServeTLS": true,
	"Hijacker": true, "Flusher": true, "Pusher": true, "ServeContent": true, "ServeFile": true, "FileServer": true,
	"StripPrefix": true, "TimeoutHandler": true, "Redirect": true, "NotFound": true, "NotFoundHandler": true,
	"Error": true, "SetCookie": true, "AllowQuerySemicolons": true, "MaxBytesHandler": true,
}

func TestServicesLayering(t *testing.T) {
	pkgs := packages(t)
	for _, svc := range services {
		files, ok := pkgs[svc]
		if !ok {
			t.Errorf("service package %s not found: update services", svc)
			continue
		}
		for _, f := range files {
			af, err := parser.ParseFile(token.NewFileSet(), f, nil, 0)
			if err != nil {
				t.Fatal(err)
			}
			httpName := ""
			for _, imp := range af.Imports {
				path, _ := strconv.Unquote(imp.Path.Value)
				for _, b := range serviceForbidden {
					if path == b || strings.HasPrefix(path, b+"/") || (strings.HasSuffix(b, "/") && strings.HasPrefix(path, b)) {
						t.Errorf("%s imports %s", f, path)
					}
				}
				if path == "net/http" {
					httpName = "http"
					if imp.Name != nil {
						httpName = imp.Name.Name
					}
				}
			}
			if httpName == "" {
				continue
			}
			ast.Inspect(af, func(n ast.Node) bool {
				if sel, ok := n.(*ast.SelectorExpr); ok {
					if x, ok := sel.X.(*ast.Ident); ok && x.Name == httpName && serverIdents[sel.Sel.Name] {
						t.Errorf("%s uses net/http's server side (%s.%s): serving HTTP is the gateway's job", f, x.Name, sel.Sel.Name)
					}
				}
				return true
			})
		}
	}
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

// onlyInternal maps a package to the only packages of this module it may
// import.
var onlyInternal = map[string][]string{
	"internal/egress": {module + "internal/validate"},
}

func TestOnlyInternal(t *testing.T) {
	pkgs := packages(t)
	for dir, allowed := range onlyInternal {
		files, ok := pkgs[dir]
		if !ok {
			t.Fatalf("package walk did not find %s", dir)
		}
		for _, f := range files {
			af, err := parser.ParseFile(token.NewFileSet(), f, nil, parser.ImportsOnly)
			if err != nil {
				t.Fatal(err)
			}
			for _, imp := range af.Imports {
				path, _ := strconv.Unquote(imp.Path.Value)
				if strings.HasPrefix(path, module) && !slices.Contains(allowed, path) {
					t.Errorf("%s imports %s (may import only %v of this module)", f, path, allowed)
				}
			}
		}
	}
}

// TestOneAgentWriter: the agent row has one writer, agent.Service; no other
// package creates, updates or deletes agents through the store.
func TestOneAgentWriter(t *testing.T) {
	for dir, files := range packages(t) {
		if dir == "internal/agent" || strings.HasPrefix(dir, "internal/store") {
			continue
		}
		for _, f := range files {
			b, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			for _, call := range []string{".CreateAgent(", ".UpdateAgent(", ".DeleteAgent("} {
				if strings.Contains(string(b), call) {
					t.Errorf("%s calls %s: agent rows are written by agent.Service only", f, strings.Trim(call, ".("))
				}
			}
		}
	}
}
