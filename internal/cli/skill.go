package cli

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/komand-ai/komand/internal/app"
	"github.com/komand-ai/komand/internal/apperr"
	"github.com/komand-ai/komand/internal/authn"
	"github.com/komand-ai/komand/internal/authz"
	"github.com/komand-ai/komand/internal/egress"
	"github.com/komand-ai/komand/internal/sandbox"
	"github.com/komand-ai/komand/internal/skill"
	"github.com/komand-ai/komand/internal/store"
)

// actAs returns the principal of an active user of a tenant, for the
// commands that act through the services (and their authorization).
func actAs(ctx context.Context, a *app.App, tenantSlug, email string) (authz.Principal, error) {
	t, err := a.Tenants.BySlug(ctx, tenantSlug)
	if err != nil {
		return authz.Principal{}, err
	}
	u, err := a.Store.GetUserByEmail(ctx, t.ID, authn.NormalizeEmail(email))
	if errors.Is(err, store.ErrNotFound) || (err == nil && !u.Active) {
		return authz.Principal{}, apperr.New(apperr.NotFound, "no active user with this email in the tenant")
	} else if err != nil {
		return authz.Principal{}, err
	}
	return authz.Principal{TenantID: t.ID, UserID: u.ID, Email: u.Email, Name: u.Name, Role: authz.Role(u.Role)}, nil
}

// actorFlags are --tenant and --email.
type actorFlags struct{ tenant, email *string }

func registerActor(fs *flag.FlagSet) actorFlags {
	return actorFlags{tenant: fs.String("tenant", "", "tenant slug (required)"),
		email: fs.String("email", "", "email of the user the command acts as (required)")}
}

// skillKeygen writes a new publisher signing key.
func skillKeygen(e *env, args []string) int {
	fs := flagSet(e, "skill keygen", "skill keygen --out <private key file> --publisher <publisherId>")
	out := fs.String("out", "", "file for the private key (written with mode 0600; required)")
	// No default: a default would print a line trusting the new key as
	// that publisher, and an operator pasting it would trust their own
	// key for someone else's (komand-official's) packages.
	publisher := fs.String("publisher", "", "publisher ID the key signs for, as in the contracts' publisherId; for the configuration line printed (required)")
	_, code, ok := parseComplete(e, fs, args, 0, 0, "")
	if !ok {
		return code
	}
	pub, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return fail(e, err)
	}
	f, err := os.OpenFile(*out, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return fail(e, err)
	}
	_, err = fmt.Fprintln(f, base64.StdEncoding.EncodeToString(priv.Seed()))
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fail(e, err)
	}
	pk := base64.StdEncoding.EncodeToString(pub)
	line := fmt.Sprintf("Skills__TrustedPublishers=%s=%s\n", *publisher, pk)
	if err := os.WriteFile(*out+".pub", []byte(line), 0o644); err != nil {
		return fail(e, err)
	}
	fmt.Fprintf(e.stderr, "wrote private key %s (keep it secret) and %s.pub; key ID %s\ntrust it on the server with:\n", *out, *out, skill.KeyID(pub))
	fmt.Fprint(e.stdout, line)
	return exitOK
}

func readPrivateKey(path string) (ed25519.PrivateKey, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	seed, err := base64.StdEncoding.DecodeString(strings.TrimSpace(string(b)))
	if err != nil || len(seed) != ed25519.SeedSize {
		return nil, fmt.Errorf("%s is not a key written by komand skill keygen", path)
	}
	return ed25519.NewKeyFromSeed(seed), nil
}

func readPackage(path string) (*skill.Package, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	return skill.DecodePackage(b)
}

func writePackage(path string, p *skill.Package) error {
	b, err := json.Marshal(p)
	if err != nil {
		return err
	}
	return os.WriteFile(path, append(b, '\n'), 0o644)
}

// checkedWASM is a sandbox runtime for the CLI: the server's runtime with
// the server's defaults.
func checkedWASM(ctx context.Context, e *env) (*sandbox.WASM, error) {
	return sandbox.NewWASM(ctx, sandbox.Options{CacheDir: e.wasmCacheDir, Egress: egress.New(egress.Options{})})
}

// skillPack builds a package from a contract and a module, signed when a
// key is given.
func skillPack(e *env, args []string) int {
	fs := flagSet(e, "skill pack", "skill pack --contract skill.json --module skill.wasm --out skill.kskill [--key publisher.key]")
	contract := fs.String("contract", "", "contract JSON file (required)")
	module := fs.String("module", "", "WebAssembly module (required)")
	out := fs.String("out", "", "package file to write (required)")
	key := fs.String("key", "", "private key to sign with (komand skill keygen)")
	_, code, ok := parseComplete(e, fs, args, 0, 0, "")
	if !ok {
		return code
	}
	c, err := os.ReadFile(*contract)
	if err != nil {
		return fail(e, err)
	}
	m, err := os.ReadFile(*module)
	if err != nil {
		return fail(e, err)
	}
	parsed, err := skill.ParseContract(c)
	if err != nil {
		return fail(e, err)
	}
	ctx := context.Background()
	w, err := checkedWASM(ctx, e)
	if err != nil {
		return fail(e, err)
	}
	defer w.Close(ctx)
	if parsed.Runtime == skill.RuntimeContainer {
		err = skill.CheckProgram(m)
	} else {
		_, err = skill.Prepare(ctx, skill.Sandboxes{WASM: w}, parsed, m, false)
	}
	if err != nil {
		return fail(e, err)
	}
	var compact bytes.Buffer
	if err := json.Compact(&compact, c); err != nil { // the form that is signed and stored
		return fail(e, err)
	}
	p := &skill.Package{Format: skill.PackageFormat, Contract: compact.Bytes(), Module: m}
	if *key != "" {
		k, err := readPrivateKey(*key)
		if err != nil {
			return fail(e, err)
		}
		if err := skill.Sign(p, k); err != nil {
			return fail(e, err)
		}
	}
	if err := writePackage(*out, p); err != nil {
		return fail(e, err)
	}
	d, _ := skill.Digest(p.Contract, p.Module)
	signed := "unsigned"
	if p.Signature != nil {
		signed = "signed by " + p.Signature.KeyID
	}
	fmt.Fprintf(e.stdout, "packed %s %s (%d bytes of module) into %s: %s, %s\n", parsed.SkillID, parsed.Version, len(m), *out, skill.SignatureHash(d), signed)
	return exitOK
}

// skillSign signs an existing package in place.
func skillSign(e *env, args []string) int {
	fs := flagSet(e, "skill sign", "skill sign --key publisher.key <package> [--out <file>]")
	key := fs.String("key", "", "private key (required)")
	out := fs.String("out", "", "write the signed package here instead of in place")
	pos, code, ok := parseComplete(e, fs, args, 1, 1, "the <package> file")
	if !ok {
		return code
	}
	p, err := readPackage(pos[0])
	if err != nil {
		return fail(e, err)
	}
	k, err := readPrivateKey(*key)
	if err != nil {
		return fail(e, err)
	}
	if err := skill.Sign(p, k); err != nil {
		return fail(e, err)
	}
	dst := pos[0]
	if *out != "" {
		dst = *out
	}
	if err := writePackage(dst, p); err != nil {
		return fail(e, err)
	}
	fmt.Fprintf(e.stdout, "signed %s with %s\n", dst, p.Signature.KeyID)
	return exitOK
}

// skillVerify checks a package against trusted keys; exit 1 unless it
// verifies.
func skillVerify(e *env, args []string) int {
	fs := flagSet(e, "skill verify", "skill verify <package> [--trusted publisherId=<base64 key>,…] (default: Skills__TrustedPublishers)")
	trusted := fs.String("trusted", "", "trusted publisher keys, as Skills__TrustedPublishers")
	pos, code, ok := parseComplete(e, fs, args, 1, 1, "the <package> file")
	if !ok {
		return code
	}
	spec := *trusted
	if spec == "" {
		for _, kv := range e.environ {
			if v, ok := strings.CutPrefix(kv, "Skills__TrustedPublishers="); ok {
				spec = v
			}
		}
	}
	keys, err := skill.ParseTrustedKeys(spec)
	if err != nil {
		return fail(e, err)
	}
	p, err := readPackage(pos[0])
	if err != nil {
		return fail(e, err)
	}
	c, err := skill.ParseContract(p.Contract)
	if err != nil {
		return fail(e, err)
	}
	v, err := keys.Verify(p, c.PublisherID)
	fmt.Fprintf(e.stdout, "%s %s by %s\nsignatureHash %s\n", c.SkillID, c.Version, c.PublisherID, v.SignatureHash)
	if err != nil {
		return fail(e, err)
	}
	if !v.Verified {
		fmt.Fprintln(e.stdout, "NOT VERIFIED: not signed by a key trusted for this publisher")
		return exitFail
	}
	fmt.Fprintf(e.stdout, "verified: signed by %s\n", v.KeyID)
	return exitOK
}

// multi is a repeatable string flag.
type multi []string

func (m *multi) String() string     { return strings.Join(*m, ",") }
func (m *multi) Set(v string) error { *m = append(*m, v); return nil }

// parseBytes reads 64MiB, 64MB, 512KiB or a plain number of bytes.
func parseBytes(s string) (uint64, error) {
	units := []struct {
		suffix string
		mult   uint64
	}{{"GiB", 1 << 30}, {"MiB", 1 << 20}, {"KiB", 1 << 10}, {"GB", 1e9}, {"MB", 1e6}, {"KB", 1e3}, {"B", 1}}
	for _, u := range units {
		if n, ok := strings.CutSuffix(s, u.suffix); ok {
			v, err := strconv.ParseUint(strings.TrimSpace(n), 10, 64)
			return v * u.mult, err
		}
	}
	return strconv.ParseUint(s, 10, 64)
}

// skillRun runs one execution of a module or package in the server's
// sandbox and prints the output, or the reason it failed (exit 1).
func skillRun(e *env, args []string) int {
	fs := flagSet(e, "skill run", "skill run <module.wasm | package> --input '<json>' [--permission network:outbound --allow-host api.example.com] [--setting k=v] [--timeout 5s] [--memory 64MiB]")
	input := fs.String("input", "{}", "the skill's JSON input")
	var perms, hosts, cfgs multi
	fs.Var(&perms, "permission", "a permission to grant (repeatable), e.g. crm:read or network:outbound:api.example.com")
	fs.Var(&hosts, "allow-host", "a host the skill may reach (repeatable; grants network:outbound:<host>)")
	fs.Var(&cfgs, "setting", "an installation setting key=value (repeatable)")
	timeout := fs.Duration("timeout", 0, "wall-clock limit (default the contract's, or 30s; at most 30m)")
	memory := fs.String("memory", "", "memory limit, e.g. 64MiB (default the contract's, or 64MiB)")
	pos, code, ok := parseComplete(e, fs, args, 1, 1, "the <package> file")
	if !ok {
		return code
	}
	var memBytes uint64
	if *memory != "" {
		v, err := parseBytes(*memory)
		if err != nil || v == 0 {
			fmt.Fprintln(e.stderr, "komand: --memory must be a size like 64MiB")
			return exitUsage
		}
		memBytes = v
	}
	// "network:outbound" alone is the flag form of the example; its
	// hosts come with --allow-host.
	perms = slices.DeleteFunc(perms, func(p string) bool { return p == "network:outbound" })
	grant, gerr := parsePermissions("--permission", append(perms, prefixed("network:outbound:", hosts)...))
	config, cerr := parseSettings(cfgs)
	if err := errors.Join(gerr, cerr); err != nil {
		fmt.Fprintf(e.stderr, "komand: %v\n", err)
		return exitUsage
	}
	raw, err := os.ReadFile(pos[0])
	if err != nil {
		return fail(e, err)
	}
	// A package brings its contract; a bare module runs with any-object
	// schemas and only the permissions given here.
	c := skill.Contract{SkillID: strings.TrimSuffix(filepath.Base(pos[0]), filepath.Ext(pos[0])),
		InputSchema: json.RawMessage(`{"type":"object"}`), OutputSchema: json.RawMessage(`true`)}
	module := raw
	if skill.CheckProgram(raw) == nil {
		c.Runtime = skill.RuntimeContainer // a bare native program or script
	}
	if p, perr := skill.DecodePackage(raw); perr == nil {
		if c, err = skill.ParseContract(p.Contract); err != nil {
			return fail(e, err)
		}
		module = p.Module
		if missing := skill.Missing(c.RequiredPermissions, grant); len(missing) > 0 {
			fmt.Fprintf(e.stderr, "komand: the skill requires permissions that were not granted (as an installer would): %s\n", strings.Join(missing, ", "))
			return exitUsage
		}
	}
	ctx := context.Background()
	w, err := checkedWASM(ctx, e)
	if err != nil {
		return fail(e, err)
	}
	defer w.Close(ctx)
	sb := skill.Sandboxes{WASM: w}
	if c.Runtime == skill.RuntimeContainer {
		if sb.Container, err = sandbox.NewContainer(sandbox.ContainerOptions{Egress: egress.New(egress.Options{})}); err != nil {
			return fail(e, err)
		}
	}
	prep, err := skill.Prepare(ctx, sb, c, module, false)
	if err != nil {
		return fail(e, err)
	}
	log := slog.New(slog.NewTextHandler(e.stderr, nil))
	ex := prep.Execute(ctx, sb, c.SkillID, json.RawMessage(*input), skill.RunOptions{Grant: grant, Config: config,
		Host: cliHost{log: log}, Timeout: *timeout, MemoryBytes: memBytes})
	if len(ex.Stderr) > 0 {
		fmt.Fprintf(e.stderr, "stderr: %s\n", ex.Stderr)
	}
	usage, _ := json.Marshal(ex.Usage)
	if ex.Reason != "" {
		fmt.Fprintf(e.stderr, "skill failed: %s: %s\nusage: %s\n", ex.Reason, ex.Message, usage)
		return exitFail
	}
	fmt.Fprintln(e.stdout, string(ex.Data))
	fmt.Fprintf(e.stderr, "usage: %s\n", usage)
	return exitOK
}

// parsePermissions reads permission flags in their string form.
func parsePermissions(flagName string, vs []string) ([]skill.Permission, error) {
	out := []skill.Permission{}
	for _, v := range vs {
		p, err := skill.ParsePermission(v)
		if err != nil {
			return nil, fmt.Errorf("%s %q: %w", flagName, v, err)
		}
		out = append(out, p)
	}
	return out, nil
}

// parseSettings reads --setting key=value flags.
func parseSettings(vs []string) (map[string]string, error) {
	out := map[string]string{}
	for _, kv := range vs {
		k, v, ok := strings.Cut(kv, "=")
		if !ok {
			return nil, errors.New("--setting takes key=value")
		}
		out[k] = v
	}
	return out, nil
}

func prefixed(prefix string, vs []string) []string {
	out := make([]string, len(vs))
	for i, v := range vs {
		out[i] = prefix + v
	}
	return out
}

// cliHost serves a local run: no vault (credentials are refused; the
// server grants them per agent), no platform tools, logs to stderr.
type cliHost struct{ log *slog.Logger }

func (h cliHost) Credential(ctx context.Context, name, host string) (string, error) {
	return "", sandbox.Denied("credential not available to this skill (komand skill run has no vault)")
}

func (h cliHost) Tool(ctx context.Context, name string, args []byte) ([]byte, error) {
	return nil, sandbox.Denied("platform tools are not available to komand skill run")
}

func (h cliHost) Log(ctx context.Context, level int, msg string) {
	h.log.Info("skill log", "level", level, "msg", msg)
}

// skillRegister adds a package to a tenant's registry.
func skillRegister(e *env, args []string) int {
	fs := flagSet(e, "skill register", "skill register <package> --tenant <slug> --email <admin email> [store flags]")
	var sf storeFlags
	sf.register(fs)
	who := registerActor(fs)
	pos, code, ok := parseComplete(e, fs, args, 1, 1, "the <package> file")
	if !ok {
		return code
	}
	raw, err := os.ReadFile(pos[0])
	if err != nil {
		return fail(e, err)
	}
	return withApp(e, &sf, func(ctx context.Context, a *app.App) error {
		p, err := actAs(ctx, a, *who.tenant, *who.email)
		if err != nil {
			return err
		}
		k, err := a.Skills.Register(ctx, p, raw)
		if err != nil {
			return err
		}
		fmt.Fprintf(e.stdout, "registered %s %s (verified: %t, %s)\n", k.SkillID, k.Version, k.IsVerified, k.SignatureHash)
		return nil
	})
}

// skillSearch lists the tenant's skills matching a query.
func skillSearch(e *env, args []string) int {
	fs := flagSet(e, "skill search", `skill search "<query>" --tenant <slug> --email <user email> [--verified-only] [store flags]`)
	var sf storeFlags
	sf.register(fs)
	who := registerActor(fs)
	verified := fs.Bool("verified-only", false, "only skills signed by a trusted publisher key")
	pos, code, ok := parseComplete(e, fs, args, 0, 1, "one <query>")
	if !ok {
		return code
	}
	q := ""
	if len(pos) == 1 {
		q = pos[0]
	}
	return withApp(e, &sf, func(ctx context.Context, a *app.App) error {
		p, err := actAs(ctx, a, *who.tenant, *who.email)
		if err != nil {
			return err
		}
		ks, total, err := a.Skills.List(ctx, p, store.SkillFilter{Query: q, VerifiedOnly: *verified}, store.Page{Page: 1, PageSize: 100})
		if err != nil {
			return err
		}
		for _, k := range ks {
			mark := " "
			if k.IsVerified {
				mark = "✓"
			}
			fmt.Fprintf(e.stdout, "%s %-28s %-9s %-18s %s\n", mark, k.SkillID, k.Version, k.PublisherID, truncateLine(k.Description, 70))
		}
		fmt.Fprintf(e.stderr, "%d of %d skills (✓ verified)\n", len(ks), total)
		return nil
	})
}

func truncateLine(s string, n int) string {
	r := []rune(strings.ReplaceAll(s, "\n", " "))
	if len(r) <= n {
		return string(r)
	}
	return string(r[:n-1]) + "…"
}

// skillInfo prints one skill's contract and trust.
func skillInfo(e *env, args []string) int {
	fs := flagSet(e, "skill info", "skill info <skillId> --tenant <slug> --email <user email> [--version x.y.z] [store flags]")
	var sf storeFlags
	sf.register(fs)
	who := registerActor(fs)
	version := fs.String("version", "", "a version (default the newest)")
	pos, code, ok := parseComplete(e, fs, args, 1, 1, "the <skillId>")
	if !ok {
		return code
	}
	return withApp(e, &sf, func(ctx context.Context, a *app.App) error {
		p, err := actAs(ctx, a, *who.tenant, *who.email)
		if err != nil {
			return err
		}
		k, err := a.Skills.Get(ctx, p, pos[0], *version)
		if err != nil {
			return err
		}
		b, _ := json.MarshalIndent(k, "", "  ")
		fmt.Fprintln(e.stdout, string(b))
		return nil
	})
}

// skillInstall installs a skill on an agent. Without --grant it shows the
// consent (the permissions asked for) and stops; the installer then
// grants each permission explicitly.
func skillInstall(e *env, args []string) int {
	fs := flagSet(e, "skill install", "skill install <skillId> --agent <agentId> --tenant <slug> --email <admin email> [--version x.y.z] [--grant <permission>]... [--setting k=v]... [store flags]")
	var sf storeFlags
	sf.register(fs)
	who := registerActor(fs)
	agentID := fs.String("agent", "", "agent to install on (required)")
	version := fs.String("version", "", "version (default the newest)")
	var grants, cfgs multi
	fs.Var(&grants, "grant", "a permission the skill asks for, granted explicitly (repeatable)")
	fs.Var(&cfgs, "setting", "an installation setting key=value (repeatable)")
	noGrants := fs.Bool("no-permissions", false, "install a skill that asks for no permission")
	pos, code, ok := parseComplete(e, fs, args, 1, 1, "the <skillId>")
	if !ok {
		return code
	}
	grant, gerr := parsePermissions("--grant", grants)
	cfg, cerr := parseSettings(cfgs)
	if err := errors.Join(gerr, cerr); err != nil {
		fmt.Fprintf(e.stderr, "komand: %v\n", err)
		return exitUsage
	}
	return withApp(e, &sf, func(ctx context.Context, a *app.App) error {
		p, err := actAs(ctx, a, *who.tenant, *who.email)
		if err != nil {
			return err
		}
		c, err := a.Skills.Consent(ctx, p, *agentID, pos[0], *version)
		if err != nil {
			return err
		}
		fmt.Fprintf(e.stdout, "%s %s (verified: %t, %s) asks for:\n", c.SkillID, c.Version, c.IsVerified, c.SignatureHash)
		if len(c.RequiredPermissions) == 0 {
			fmt.Fprintln(e.stdout, "  no permissions")
		}
		for _, rp := range c.RequiredPermissions {
			fmt.Fprintf(e.stdout, "  %s\n", rp)
		}
		if c.InstalledVersion != "" {
			fmt.Fprintf(e.stdout, "installed now: %s; new: %s; no longer needed: %s\n", c.InstalledVersion, permList(c.Added), permList(c.Removed))
		}
		if len(grant) == 0 && !*noGrants {
			return apperr.New(apperr.Invalid, "nothing installed: grant each permission with --grant (or pass --no-permissions for a skill that asks for none)")
		}
		in, _, _, err := a.Skills.Install(ctx, p, skill.InstallInput{AgentID: *agentID, SkillID: pos[0], Version: c.Version, Grant: grant, Config: cfg})
		if err != nil {
			return err
		}
		fmt.Fprintf(e.stdout, "installed %s %s on agent %s at %s\n", in.SkillID, in.Version, in.AgentID, in.UpdatedAt.Format(time.RFC3339))
		return nil
	})
}

func permList(ps []skill.Permission) string {
	if len(ps) == 0 {
		return "none"
	}
	s := make([]string, len(ps))
	for i, p := range ps {
		s[i] = p.String()
	}
	return strings.Join(s, ", ")
}
