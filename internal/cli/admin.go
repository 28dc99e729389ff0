package cli

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/komand-ai/komand/internal/app"
	"github.com/komand-ai/komand/internal/apperr"
	"github.com/komand-ai/komand/internal/authn"
	"github.com/komand-ai/komand/internal/requestid"
	"github.com/komand-ai/komand/internal/store"
	"github.com/komand-ai/komand/internal/user"
)

func tenantsCreate(e *env, args []string) int {
	fs := flagSet(e, "tenants create", "tenants create <slug> [--name \"Display Name\"] [store flags]")
	var sf storeFlags
	sf.register(fs)
	name := fs.String("name", "", "display name (default: the slug)")
	pos, code, ok := parseComplete(e, fs, args, 1, 1, "the tenant's <slug>")
	if !ok {
		return code
	}
	return withApp(e, &sf, func(ctx context.Context, a *app.App) error {
		t, err := a.Tenants.Create(ctx, pos[0], *name)
		if err != nil {
			return err
		}
		fmt.Fprintf(e.stdout, "created tenant %s (id %s)\n", t.Slug, t.ID)
		return nil
	})
}

func tenantsList(e *env, args []string) int {
	fs := flagSet(e, "tenants list", "tenants list [store flags]")
	var sf storeFlags
	sf.register(fs)
	if _, code, ok := parse(fs, args); !ok {
		return code
	}
	return withApp(e, &sf, func(ctx context.Context, a *app.App) error {
		ts, err := a.Store.ListTenants(ctx)
		if err != nil {
			return err
		}
		for _, t := range ts {
			if t.ID == store.PlatformTenantID {
				continue
			}
			fmt.Fprintf(e.stdout, "%s\t%s\t%s\n", t.Slug, t.ID, t.Name)
		}
		return nil
	})
}

// usersReactivate lets a deactivated user log in again (audited as actor
// "cli"). Its old sessions and API keys stay revoked.
func usersReactivate(e *env, args []string) int {
	fs := flagSet(e, "users reactivate", "users reactivate --tenant <slug> --email <email> [store flags]")
	var sf storeFlags
	sf.register(fs)
	tenantSlug := fs.String("tenant", "", "tenant slug (required)")
	email := fs.String("email", "", "email of the deactivated user (required)")
	_, code, ok := parseComplete(e, fs, args, 0, 0, "")
	if !ok {
		return code
	}
	return withApp(e, &sf, func(ctx context.Context, a *app.App) error {
		t, err := a.Tenants.BySlug(ctx, *tenantSlug)
		if err != nil {
			return err
		}
		u, err := a.Users.ReactivateByEmail(ctx, t.ID, *email)
		if err != nil {
			return err
		}
		fmt.Fprintf(e.stdout, "user %s (id %s, role %s) in tenant %s is active\n", u.Email, u.ID, u.Role, t.Slug)
		return nil
	})
}

func usersCreate(e *env, args []string) int {
	fs := flagSet(e, "users create", "users create --tenant <slug> --email <email> --role owner|admin|operator|viewer --password-stdin [--name \"Name\"] [store flags]")
	var sf storeFlags
	sf.register(fs)
	tenantSlug := fs.String("tenant", "", "tenant slug (required)")
	email := fs.String("email", "", "email address (required)")
	role := fs.String("role", "", "owner, admin, operator or viewer (required)")
	name := fs.String("name", "", "display name")
	_ = fs.Bool("password-stdin", false, "read the password from the first line of standard input (never from an argument, which other users can see; required)")
	_, code, ok := parseComplete(e, fs, args, 0, 0, "")
	if !ok {
		return code
	}
	pw, err := readSecretLine(e)
	if err != nil {
		return fail(e, err)
	}
	return withApp(e, &sf, func(ctx context.Context, a *app.App) error {
		t, err := a.Tenants.BySlug(ctx, *tenantSlug)
		if err != nil {
			return err
		}
		u, err := a.Users.Bootstrap(ctx, t.ID, user.CreateInput{Email: *email, Name: *name, Role: *role, Password: pw})
		if err != nil {
			return err
		}
		fmt.Fprintf(e.stdout, "created user %s (id %s, role %s) in tenant %s\n", u.Email, u.ID, u.Role, t.Slug)
		return nil
	})
}

func readSecretLine(e *env) (string, error) {
	r := bufio.NewReaderSize(e.stdin, 4096)
	line, err := r.ReadString('\n')
	if err != nil && line == "" {
		return "", errors.New("no password on standard input")
	}
	return strings.TrimRight(line, "\r\n"), nil
}

// apikeysList prints the tenant's keys (or one user's), one a line: id,
// prefix, user email, name, created, last used, revoked. Never the key.
func apikeysList(e *env, args []string) int {
	fs := flagSet(e, "apikeys list", "apikeys list --tenant <slug> [--email <user email>] [store flags]")
	var sf storeFlags
	sf.register(fs)
	tenantSlug := fs.String("tenant", "", "tenant slug (required)")
	email := fs.String("email", "", "only this user's keys")
	_, code, ok := parseComplete(e, fs, args, 0, 0, "")
	if !ok {
		return code
	}
	return withApp(e, &sf, func(ctx context.Context, a *app.App) error {
		t, err := a.Tenants.BySlug(ctx, *tenantSlug)
		if err != nil {
			return err
		}
		userID := ""
		if *email != "" {
			u, err := a.Store.GetUserByEmail(ctx, t.ID, authn.NormalizeEmail(*email))
			if errors.Is(err, store.ErrNotFound) {
				return apperr.New(apperr.NotFound, "no user with this email in the tenant")
			} else if err != nil {
				return err
			}
			userID = u.ID
		}
		emails := map[string]string{}
		const pageSize = 100
		for page := 1; ; page++ {
			ks, total, err := a.APIKeys.ListFromCLI(ctx, t.ID, userID, store.Page{Page: page, PageSize: pageSize})
			if err != nil {
				return err
			}
			for _, k := range ks {
				if _, ok := emails[k.UserID]; !ok {
					if u, err := a.Store.GetUser(ctx, t.ID, k.UserID); err == nil {
						emails[k.UserID] = u.Email
					} else {
						emails[k.UserID] = k.UserID
					}
				}
				fmt.Fprintf(e.stdout, "%s\t%s\t%s\t%q\tcreated %s\tlast used %s\t%s\n",
					k.ID, k.Prefix, emails[k.UserID], k.Name, k.CreatedAt.Format(time.RFC3339),
					timeOr(k.LastUsedAt, "never"), revokedText(k.RevokedAt))
			}
			if page*pageSize >= total || len(ks) == 0 {
				return nil
			}
		}
	})
}

func timeOr(t *time.Time, none string) string {
	if t == nil {
		return none
	}
	return t.UTC().Format(time.RFC3339)
}

func revokedText(t *time.Time) string {
	if t == nil {
		return "active"
	}
	return "revoked " + t.UTC().Format(time.RFC3339)
}

// apikeysRevoke revokes one key of the tenant by ID (audited as actor
// "cli"). Revoking a revoked key is not an error.
func apikeysRevoke(e *env, args []string) int {
	fs := flagSet(e, "apikeys revoke", "apikeys revoke --tenant <slug> <key id> [store flags]")
	var sf storeFlags
	sf.register(fs)
	tenantSlug := fs.String("tenant", "", "tenant slug (required)")
	pos, code, ok := parseComplete(e, fs, args, 1, 1, "the <key id>")
	if !ok {
		return code
	}
	return withApp(e, &sf, func(ctx context.Context, a *app.App) error {
		t, err := a.Tenants.BySlug(ctx, *tenantSlug)
		if err != nil {
			return err
		}
		k, err := a.APIKeys.RevokeFromCLI(ctx, t.ID, pos[0])
		if err != nil {
			return err
		}
		fmt.Fprintf(e.stdout, "API key %s (%s, %q) %s\n", k.ID, k.Prefix, k.Name, revokedText(k.RevokedAt))
		return nil
	})
}

func apikeysCreate(e *env, args []string) int {
	fs := flagSet(e, "apikeys create", "apikeys create --tenant <slug> --email <user email> --name <key name> [store flags]")
	var sf storeFlags
	sf.register(fs)
	tenantSlug := fs.String("tenant", "", "tenant slug (required)")
	email := fs.String("email", "", "email of the user the key acts as (required)")
	name := fs.String("name", "", "a name for the key (required)")
	_, code, ok := parseComplete(e, fs, args, 0, 0, "")
	if !ok {
		return code
	}
	return withApp(e, &sf, func(ctx context.Context, a *app.App) error {
		t, err := a.Tenants.BySlug(ctx, *tenantSlug)
		if err != nil {
			return err
		}
		u, err := a.Store.GetUserByEmail(ctx, t.ID, authn.NormalizeEmail(*email))
		if errors.Is(err, store.ErrNotFound) {
			return apperr.New(apperr.NotFound, "no user with this email in the tenant")
		} else if err != nil {
			return err
		}
		key, k, err := a.Auth.CreateAPIKey(ctx, t.ID, u.ID, *name, "cli")
		if err != nil {
			return err
		}
		fmt.Fprintf(e.stderr, "created API key %q (id %s) for %s; it is shown once and stored only as a hash:\n", k.Name, k.ID, u.Email)
		fmt.Fprintln(e.stdout, key)
		return nil
	})
}

func auditVerify(e *env, args []string) int {
	fs := flagSet(e, "audit verify", "audit verify [--tenant <slug>] [store flags]")
	var sf storeFlags
	sf.register(fs)
	tenantSlug := fs.String("tenant", "", "verify only this tenant (default: every tenant)")
	if _, code, ok := parse(fs, args); !ok {
		return code
	}
	broken := false
	rc := withApp(e, &sf, func(ctx context.Context, a *app.App) error {
		var ts []store.Tenant
		if *tenantSlug != "" {
			t, err := a.Tenants.BySlug(ctx, *tenantSlug)
			if err != nil {
				return err
			}
			ts = []store.Tenant{t}
		} else {
			var err error
			if ts, err = a.Store.ListTenants(ctx); err != nil {
				return err
			}
		}
		for _, t := range ts {
			res, err := a.AuditLog.Verify(ctx, t.ID)
			if err != nil {
				return err
			}
			if res.OK {
				fmt.Fprintf(e.stdout, "%s: ok (%d entries)\n", t.Slug, res.Entries)
				continue
			}
			broken = true
			fmt.Fprintf(e.stdout, "%s: BROKEN at seq %d", t.Slug, res.BrokenAt)
			if res.EntryID != "" {
				fmt.Fprintf(e.stdout, " (entry %s)", res.EntryID)
			}
			fmt.Fprintf(e.stdout, ": %s\n", res.Reason)
		}
		return nil
	})
	if rc == exitOK && broken {
		return exitFail
	}
	return rc
}

// withApp opens the app for an administrative command, runs f and closes
// the app (draining audit entries) before returning the exit code.
func withApp(e *env, sf *storeFlags, f func(context.Context, *app.App) error) int {
	a, err := sf.openApp(e)
	if err != nil {
		return fail(e, err)
	}
	return runWithApp(e, a, f)
}

// runWithApp runs f on an open app and closes it.
func runWithApp(e *env, a *app.App, f func(context.Context, *app.App) error) int {
	// Entries written by this command share one request ID, so an auditor
	// can tell which CLI invocation did what.
	ctx := requestid.With(context.Background(), "cli-"+requestid.New())
	ferr := f(ctx, a)
	if cerr := a.Close(); cerr != nil && ferr == nil {
		ferr = cerr
	}
	if ferr != nil {
		return fail(e, ferr)
	}
	return exitOK
}
