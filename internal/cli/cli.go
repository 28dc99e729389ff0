// Package cli is the komand command line: serve, and the administrative
// commands that work against the same data dir or DSN (tenants, users,
// apikeys, audit verify), plus healthcheck and version. Every command has
// --help. Passwords are read from standard input, never from arguments
// (which other local users can see in the process list).
package cli

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"runtime/debug"
	"sort"
	"strings"

	"github.com/komand-ai/komand/internal/app"
	"github.com/komand-ai/komand/internal/apperr"
	"github.com/komand-ai/komand/internal/config"
	"github.com/komand-ai/komand/internal/logging"
)

// Version is set at build time with -ldflags "-X github.com/komand-ai/komand/internal/cli.Version=…";
// otherwise the module version from the build info is used.
var Version = ""

// version returns the build's version string.
func version() string {
	if Version != "" {
		return Version
	}
	if bi, ok := debug.ReadBuildInfo(); ok && bi.Main.Version != "" && bi.Main.Version != "(devel)" {
		return bi.Main.Version
	}
	return "dev"
}

// Exit codes.
const (
	exitOK    = 0
	exitFail  = 1
	exitUsage = 2
)

// env is what a command runs with.
type env struct {
	stdin   io.Reader
	stdout  io.Writer
	stderr  io.Writer
	environ []string
	// onReady, when set, is called by serve once it listens (tests).
	onReady func(addr string)
	// signals, when set, replaces the SIGINT/SIGTERM context (tests).
	ctx context.Context
	// wasmCacheDir, when set, is where the skill commands keep compiled
	// modules (tests share one across runs; the commands compile afresh).
	wasmCacheDir string
}

// command is one entry of the command table: a command that runs, or a
// group of subcommands (subs), dispatched by subcommand.
type command struct {
	name    string
	summary string
	run     func(e *env, args []string) int
	subs    map[string]func(e *env, args []string) int
}

func commands() []command {
	return []command{
		{"serve", "run the Komand server", serve, nil},
		{"tenants", "manage tenants (create, list)", nil, map[string]func(*env, []string) int{"create": tenantsCreate, "list": tenantsList}},
		{"users", "manage users (create, reactivate)", nil, map[string]func(*env, []string) int{"create": usersCreate, "reactivate": usersReactivate}},
		{"apikeys", "manage API keys (create, list, revoke)", nil, map[string]func(*env, []string) int{"create": apikeysCreate, "list": apikeysList, "revoke": apikeysRevoke}},
		{"audit", "audit trail tools (verify)", nil, map[string]func(*env, []string) int{"verify": auditVerify}},
		{"config", "configuration tools (check: plaintext secrets, key file permissions)", nil, map[string]func(*env, []string) int{"check": configCheck}},
		{"credentials", "manage vault credentials (create)", nil, map[string]func(*env, []string) int{"create": credentialsCreate}},
		{"vault", "credential vault keys (rotate-kek)", nil, map[string]func(*env, []string) int{"rotate-kek": vaultRotateKEK}},
		{"skill", "skills (keygen, pack, sign, verify, run, register, search, info, install)", nil, map[string]func(*env, []string) int{
			"keygen": skillKeygen, "pack": skillPack, "sign": skillSign, "verify": skillVerify, "run": skillRun,
			"register": skillRegister, "search": skillSearch, "info": skillInfo, "install": skillInstall,
		}},
		{"screen", "screen JSON Lines {text, source} for prompt injection", screenCmd, nil},
		{"healthcheck", "exit 0 when the server's /health answers", healthcheck, nil},
		{"version", "print the version", versionCmd, nil},
	}
}

// Main runs the CLI with args (without the program name) and returns the
// exit code.
func Main(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	return run(&env{stdin: stdin, stdout: stdout, stderr: stderr, environ: os.Environ()}, args)
}

func run(e *env, args []string) int {
	if len(args) == 0 || args[0] == "-h" || args[0] == "--help" || args[0] == "help" {
		usage(e.stderr)
		if len(args) == 0 {
			return exitUsage
		}
		return exitOK
	}
	for _, c := range commands() {
		if c.name == args[0] && c.subs != nil {
			return subcommand(e, c.name, args[1:], c.subs)
		}
		if c.name == args[0] {
			return c.run(e, args[1:])
		}
	}
	fmt.Fprintf(e.stderr, "komand: unknown command %q\n\n", args[0])
	usage(e.stderr)
	return exitUsage
}

func usage(w io.Writer) {
	fmt.Fprintln(w, "Usage: komand <command> [flags]")
	fmt.Fprintln(w, "\nCommands:")
	for _, c := range commands() {
		fmt.Fprintf(w, "  %-12s %s\n", c.name, c.summary)
	}
	fmt.Fprintln(w, "\nRun 'komand <command> --help' for a command's flags.")
}

// flagSet returns a FlagSet that prints its usage to e.stderr.
func flagSet(e *env, name, synopsis string) *flag.FlagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(e.stderr)
	fs.Usage = func() {
		fmt.Fprintf(e.stderr, "Usage: komand %s\n\nFlags:\n", synopsis)
		fs.PrintDefaults()
	}
	return fs
}

// usageError prints what is wrong with the command line, then the
// command's usage, and returns exitUsage.
func usageError(e *env, fs *flag.FlagSet, msg string) int {
	fmt.Fprintf(e.stderr, "komand %s: %s\n\n", fs.Name(), msg)
	fs.Usage()
	return exitUsage
}

// complete checks a parsed command line: between minArgs and maxArgs
// positional arguments (named argName in the message) and a value for
// every required flag: one whose usage ends in "required)", so that what
// --help tells and what is checked are one thing. If something is missing
// or extra it says what, prints the usage and returns exitUsage with ok
// false. Every command checks its command line with it.
func complete(e *env, fs *flag.FlagSet, pos []string, minArgs, maxArgs int, argName string) (code int, ok bool) {
	var problems []string
	var missing []string
	fs.VisitAll(func(f *flag.Flag) {
		if strings.HasSuffix(f.Usage, "required)") && (f.Value.String() == "" || f.Value.String() == "false") {
			missing = append(missing, "--"+f.Name)
		}
	})
	if len(missing) > 0 {
		problems = append(problems, "missing required flag "+strings.Join(missing, ", "))
	}
	switch {
	case len(pos) < minArgs:
		problems = append(problems, "missing "+argName)
	case len(pos) > maxArgs && maxArgs == 0:
		problems = append(problems, fmt.Sprintf("unexpected argument %q", pos[0]))
	case len(pos) > maxArgs:
		problems = append(problems, fmt.Sprintf("unexpected argument %q (only %s)", pos[maxArgs], argName))
	}
	if len(problems) == 0 {
		return 0, true
	}
	return usageError(e, fs, strings.Join(problems, "; ")), false
}

// parse parses flags that may come before or after positional arguments
// and returns the positionals. ok is false when the command should exit
// with code (0 for --help).
func parse(fs *flag.FlagSet, args []string) (pos []string, code int, ok bool) {
	for {
		if err := fs.Parse(args); err != nil {
			if errors.Is(err, flag.ErrHelp) {
				return nil, exitOK, false
			}
			return nil, exitUsage, false
		}
		args = fs.Args()
		if len(args) == 0 {
			return pos, 0, true
		}
		if args[0] == "--" {
			return append(pos, args[1:]...), 0, true
		}
		pos = append(pos, args[0])
		args = args[1:]
	}
}

// parseComplete is parse then complete: the positional arguments, or the
// exit code and ok false when the command line is not one to run.
func parseComplete(e *env, fs *flag.FlagSet, args []string, minArgs, maxArgs int, argName string) (pos []string, code int, ok bool) {
	pos, code, ok = parse(fs, args)
	if !ok {
		return nil, code, false
	}
	if code, ok := complete(e, fs, pos, minArgs, maxArgs, argName); !ok {
		return nil, code, false
	}
	return pos, 0, true
}

// storeFlags are the flags of every command that opens the store.
type storeFlags struct {
	configFile string
	dataDir    string
	dsn        string
}

func (s *storeFlags) register(fs *flag.FlagSet) {
	fs.StringVar(&s.configFile, "config", "", "configuration file (appsettings-style JSON; also KOMAND_CONFIG)")
	fs.StringVar(&s.dataDir, "data-dir", "", "data directory for the embedded database and keys (default ./komand-data)")
	fs.StringVar(&s.dsn, "dsn", "", "PostgreSQL URL; overrides ConnectionStrings__Komand (prefer the environment: arguments are visible to other users)")
}

// loadConfig builds, validates and completes the configuration.
func (s *storeFlags) loadConfig(e *env, log *slog.Logger) (config.Config, error) {
	cfg, err := config.Load(config.LoadOptions{File: s.configFile, Env: e.environ})
	if err != nil {
		return cfg, err
	}
	if s.dataDir != "" {
		cfg.Server.DataDir = s.dataDir
	}
	if s.dsn != "" {
		cfg.ConnectionStrings.Komand = s.dsn
	}
	if err := cfg.Validate(); err != nil {
		return cfg, err
	}
	if err := cfg.LoadKeys(log); err != nil {
		return cfg, err
	}
	return cfg, nil
}

// openApp loads the configuration and wires the app for an administrative
// command, logging warnings and errors only.
func (s *storeFlags) openApp(e *env) (*app.App, error) {
	log := logging.New(e.stderr, "warn", "text")
	cfg, err := s.loadConfig(e, log)
	if err != nil {
		return nil, err
	}
	return app.New(context.Background(), cfg, log, app.Options{})
}

// fail prints err for a person and returns exitFail. Public messages of
// apperr values are shown as they are; others are shown in full, since the
// operator running the CLI owns the machine.
func fail(e *env, err error) int {
	if pe, ok := apperr.As(err); ok && pe.Err == nil {
		fmt.Fprintf(e.stderr, "komand: %s\n", pe.Message)
	} else {
		fmt.Fprintf(e.stderr, "komand: %v\n", err)
	}
	return exitFail
}

func versionCmd(e *env, args []string) int {
	fs := flagSet(e, "version", "version")
	if _, code, ok := parse(fs, args); !ok {
		return code
	}
	fmt.Fprintf(e.stdout, "komand %s\n", version())
	return exitOK
}

func subcommand(e *env, group string, args []string, subs map[string]func(*env, []string) int) int {
	names := make([]string, 0, len(subs))
	for n := range subs {
		names = append(names, n)
	}
	sort.Strings(names)
	if len(args) == 0 || args[0] == "-h" || args[0] == "--help" || args[0] == "help" {
		fmt.Fprintf(e.stderr, "Usage: komand %s <subcommand> [flags]\n\nSubcommands:\n", group)
		for _, n := range names {
			fmt.Fprintf(e.stderr, "  %-10s %s\n", n, subSummaries[group+" "+n])
		}
		fmt.Fprintf(e.stderr, "\nRun 'komand %s <subcommand> --help' for its flags.\n", group)
		if len(args) == 0 {
			return exitUsage
		}
		return exitOK
	}
	if f, ok := subs[args[0]]; ok {
		return f(e, args[1:])
	}
	fmt.Fprintf(e.stderr, "komand %s: unknown subcommand %q (want %s)\n", group, args[0], strings.Join(names, ", "))
	return exitUsage
}

// subSummaries are the one-line summaries group help lists, by "group
// subcommand". Every subcommand has one (TestGroupHelpListsSubcommands).
var subSummaries = map[string]string{
	"tenants create":     "create a tenant",
	"tenants list":       "list the tenants",
	"users create":       "create a user in a tenant (the first owner, for example)",
	"users reactivate":   "reactivate a deactivated user (an Owner's decision; audited)",
	"apikeys create":     "create an API key acting as a user",
	"apikeys list":       "list a tenant's API keys (metadata only, never the key)",
	"apikeys revoke":     "revoke an API key by its ID",
	"audit verify":       "verify the audit trail's hash chain",
	"config check":       "check a configuration file for plaintext secrets and key file permissions",
	"credentials create": "store a credential in the vault, the value read from standard input",
	"vault rotate-kek":   "re-wrap the vault's data keys under a new key-encryption key",
	"skill keygen":       "create a publisher's Ed25519 signing key",
	"skill pack":         "pack a contract and a WebAssembly module into a skill package",
	"skill sign":         "sign a skill package",
	"skill verify":       "verify a package's signature against trusted publisher keys",
	"skill run":          "run a skill package locally in the sandbox",
	"skill register":     "register a skill package in a tenant's registry",
	"skill search":       "search a tenant's skill registry",
	"skill info":         "show a registered skill and its versions",
	"skill install":      "install a registered skill on an agent",
}
