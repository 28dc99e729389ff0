package cli

import (
	"bufio"
	"context"
	"crypto/rand"
	"fmt"
	"io"
	"log/slog"
	"strings"

	"github.com/komand-ai/komand/internal/app"
	"github.com/komand-ai/komand/internal/config"
	"github.com/komand-ai/komand/internal/logging"
	"github.com/komand-ai/komand/internal/vault"
)

// vaultRotateKEK re-wraps every tenant's data keys under the current KEK.
//
// With Vault__Kek configured, the operator has already made the new key
// current and listed the old one in Vault__PreviousKeks, on every server;
// this re-wraps what the old key still wraps. With the generated key file
// (nothing configured), it first generates a new KEK into
// DataDir/vault.kek, keeping the old one in vault.kek.previous, then
// re-wraps. Credentials' ciphertexts are never touched.
func vaultRotateKEK(e *env, args []string) int {
	fs := flagSet(e, "vault rotate-kek", "vault rotate-kek [store flags]")
	var sf storeFlags
	sf.register(fs)
	_, code, ok := parseComplete(e, fs, args, 0, 0, "")
	if !ok {
		return code
	}
	log := logging.New(e.stderr, "warn", "text")
	cfg, err := sf.loadConfig(e, log)
	if err != nil {
		return fail(e, err)
	}
	generated := configuredKEK(e, &sf) == ""
	if generated {
		cur, prev, err := cfg.Vault.KEKs()
		if err != nil {
			return fail(e, err)
		}
		next := make([]byte, vault.KeySize)
		if _, err := rand.Read(next); err != nil {
			return fail(e, err)
		}
		if err := config.WriteKEKs(cfg.Server.DataDir, next, append([][]byte{cur}, prev...)); err != nil {
			return fail(e, err)
		}
		fmt.Fprintf(e.stderr, "generated a new key-encryption key %s in %s (the previous one is kept in %s)\n",
			vault.KEKID(next), cfg.Server.DataDir, config.VaultPreviousKekFile)
		// Reload, so the app's keyring is the new one.
		if cfg, err = sf.loadConfig(e, log); err != nil {
			return fail(e, err)
		}
	}
	return withConfiguredApp(e, cfg, log, func(ctx context.Context, a *app.App) error {
		ts, err := a.Store.ListTenants(ctx)
		if err != nil {
			return err
		}
		ids := make([]string, len(ts))
		for i, t := range ts {
			ids[i] = t.ID
		}
		n, err := a.Vault.RotateKEK(ctx, ids)
		if err != nil {
			return fmt.Errorf("re-wrapped %d data keys, then: %w (run the command again once the cause is fixed)", n, err)
		}
		fmt.Fprintf(e.stdout, "re-wrapped %d data keys of %d tenants under key-encryption key %s\n", n, len(ts), a.Vault.CurrentKEKID())
		if generated {
			fmt.Fprintf(e.stdout, "restart every Komand server on this data directory, run `komand vault rotate-kek` once more "+
				"(it re-wraps keys a server created meanwhile), then %s may be deleted\n", config.VaultPreviousKekFile)
		} else {
			fmt.Fprintln(e.stdout, "every data key is now wrapped by Vault__Kek; the keys in Vault__PreviousKeks may be removed from the configuration")
		}
		return nil
	})
}

// configuredKEK returns the KEK set by the environment or the
// configuration file (not the generated file).
func configuredKEK(e *env, sf *storeFlags) string {
	cfg, err := config.Load(config.LoadOptions{File: sf.configFile, Env: e.environ})
	if err != nil {
		return ""
	}
	return cfg.Vault.Kek
}

// withConfiguredApp is withApp over an already loaded configuration.
func withConfiguredApp(e *env, cfg config.Config, log *slog.Logger, f func(context.Context, *app.App) error) int {
	a, err := app.New(context.Background(), cfg, log, app.Options{})
	if err != nil {
		return fail(e, err)
	}
	return runWithApp(e, a, f)
}

// credentialsCreate stores a credential as a user of the tenant (whose
// role must allow it), reading the value from standard input.
func credentialsCreate(e *env, args []string) int {
	fs := flagSet(e, "credentials create", "credentials create --tenant <slug> --email <user email> --name <name> --type api_key|token|password|certificate|other --value-stdin [store flags]")
	var sf storeFlags
	sf.register(fs)
	tenantSlug := fs.String("tenant", "", "tenant slug (required)")
	email := fs.String("email", "", "email of the Owner or Admin the credential is created as (required)")
	name := fs.String("name", "", "credential name, as skills ask for it (required)")
	typ := fs.String("type", "", "api_key, token, password, certificate or other (required)")
	_ = fs.Bool("value-stdin", false, "read the value from standard input, all of it (never from an argument; required)")
	_, code, ok := parseComplete(e, fs, args, 0, 0, "")
	if !ok {
		return code
	}
	raw, err := io.ReadAll(io.LimitReader(bufio.NewReader(e.stdin), vault.MaxValueBytes+2))
	if err != nil {
		return fail(e, err)
	}
	value := strings.TrimSuffix(strings.TrimSuffix(string(raw), "\n"), "\r")
	return withApp(e, &sf, func(ctx context.Context, a *app.App) error {
		p, err := actAs(ctx, a, *tenantSlug, *email)
		if err != nil {
			return err
		}
		c, err := a.Secrets.Create(ctx, p, *name, *typ, value)
		if err != nil {
			return err
		}
		fmt.Fprintf(e.stdout, "created credential %s (id %s, type %s) in tenant %s\n", c.Name, c.ID, c.Type, *tenantSlug)
		return nil
	})
}
