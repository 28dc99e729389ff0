package cli

import (
	"strings"
	"testing"
)

// TestMissingFlagsAreNamed (issue 15, defect 9): a command line without a
// required flag or argument says which, then prints the usage, and exits 2.
func TestMissingFlagsAreNamed(t *testing.T) {
	cases := []struct {
		args []string
		want string
	}{
		{[]string{"users", "create", "--tenant", "acme"}, "missing required flag --email, --password-stdin, --role"},
		{[]string{"apikeys", "create", "--email", "a@example.com", "--name", "k"}, "missing required flag --tenant"},
		{[]string{"credentials", "create", "--tenant", "acme", "--email", "a@example.com", "--name", "n"}, "missing required flag --type"},
		{[]string{"tenants", "create"}, "missing the tenant's <slug>"},
		{[]string{"tenants", "create", "a", "b"}, `unexpected argument "b"`},
		{[]string{"skill", "pack", "--contract", "c.json"}, "missing required flag --module, --out"},
		{[]string{"skill", "sign", "--key", "k"}, "missing the <package> file"},
		{[]string{"skill", "register", "p.kskill"}, "missing required flag --email, --tenant"},
		{[]string{"skill", "install", "s", "--tenant", "acme", "--email", "a@example.com"}, "missing required flag --agent"},
		{[]string{"skill", "keygen"}, "missing required flag --out, --publisher"},
		// No default publisher: the printed line would have an operator's
		// own key trusted as komand-official.
		{[]string{"skill", "keygen", "--out", "k"}, "missing required flag --publisher"},
		{[]string{"vault", "rotate-kek", "extra"}, `unexpected argument "extra"`},
	}
	for _, c := range cases {
		t.Run(strings.Join(c.args, "_"), func(t *testing.T) {
			code, _, errs := runCLI(t, "", c.args...)
			if code != exitUsage {
				t.Fatalf("exit %d, want %d: %q", code, exitUsage, errs)
			}
			msg, usage, found := strings.Cut(errs, "\n\n")
			if !found || !strings.Contains(msg, c.want) || !strings.HasPrefix(usage, "Usage: komand "+c.args[0]) {
				t.Fatalf("stderr %q: want %q first, then the usage", errs, c.want)
			}
		})
	}
}

// TestGroupHelpListsSubcommands (issue 15, defect 9): every command group's
// help lists each of its subcommands with a one-line summary.
func TestGroupHelpListsSubcommands(t *testing.T) {
	groups := map[string][]string{
		"tenants": {"create", "list"}, "users": {"create", "reactivate"}, "apikeys": {"create", "list", "revoke"}, "audit": {"verify"},
		"config": {"check"}, "credentials": {"create"}, "vault": {"rotate-kek"},
		"skill": {"keygen", "pack", "sign", "verify", "run", "register", "search", "info", "install"},
	}
	for g, subs := range groups {
		t.Run(g, func(t *testing.T) {
			code, _, errs := runCLI(t, "", g, "--help")
			if code != exitOK || !strings.Contains(errs, "Subcommands:") {
				t.Fatalf("%s --help: %d %q", g, code, errs)
			}
			listed := 0
			for _, line := range strings.Split(errs, "\n") {
				f := strings.Fields(line)
				if len(f) == 0 || !strings.HasPrefix(line, "  ") {
					continue
				}
				listed++
				if len(f) < 3 {
					t.Errorf("%s %s: no summary in %q", g, f[0], line)
				}
			}
			if listed != len(subs) {
				t.Errorf("%s --help lists %d subcommands, want %d:\n%s", g, listed, len(subs), errs)
			}
			for _, s := range subs {
				if !strings.Contains(errs, "  "+s+" ") {
					t.Errorf("%s --help does not list %s:\n%s", g, s, errs)
				}
			}
		})
	}
	// Without arguments: the same list, exit 2.
	if code, _, errs := runCLI(t, "", "users"); code != exitUsage || !strings.Contains(errs, "create") || !strings.Contains(errs, subSummaries["users create"]) {
		t.Fatalf("users: %d %q", code, errs)
	}
}

// requiredFlags returns the flags a command's --help marks required
// (their usage ends in "required)").
func requiredFlags(help string) []string {
	var req []string
	lines := strings.Split(help, "\n")
	for i, line := range lines {
		if !strings.HasPrefix(line, "  -") {
			continue
		}
		name := strings.Fields(strings.TrimPrefix(line, "  -"))[0]
		usage := line
		for j := i + 1; j < len(lines) && strings.HasPrefix(lines[j], "    \t"); j++ {
			usage = lines[j]
		}
		if strings.HasSuffix(strings.TrimSpace(usage), "required)") {
			req = append(req, name)
		}
	}
	return req
}

// TestEverySubcommandNamesWhatIsMissing: every subcommand of every group
// in the command table, run without flags, exits 2 naming each flag its
// help marks required ("missing required flag --tenant, --email") before
// the usage; and a subcommand that exits 2 always says why first.
func TestEverySubcommandNamesWhatIsMissing(t *testing.T) {
	n := 0
	for _, c := range commands() {
		for sub := range c.subs {
			n++
			t.Run(c.name+"_"+sub, func(t *testing.T) {
				code, _, help := runCLI(t, "", c.name, sub, "--help")
				if code != exitOK {
					t.Fatalf("--help: exit %d", code)
				}
				req := requiredFlags(help)
				e, _, errb := testEnv(t, "")
				e.environ = append(e.environ, "Server__DataDir="+t.TempDir())
				code = run(e, []string{c.name, sub})
				errs := errb.String()
				if len(req) > 0 && code != exitUsage {
					t.Fatalf("without %v: exit %d, want %d: %q", req, code, exitUsage, errs)
				}
				if code != exitUsage {
					return
				}
				msg, usage, found := strings.Cut(errs, "\n\n")
				if !found || !strings.HasPrefix(msg, "komand "+c.name+" "+sub+": ") || !strings.HasPrefix(usage, "Usage: komand "+c.name+" "+sub) {
					t.Fatalf("stderr %q: want what is missing first, then the usage", errs)
				}
				for _, f := range req {
					if !strings.Contains(msg, "missing required flag ") || !strings.Contains(msg, "--"+f) {
						t.Errorf("%q does not name the missing --%s", msg, f)
					}
				}
			})
		}
	}
	if n < 20 {
		t.Fatalf("the command table has %d subcommands; the table is not being read", n)
	}
}
