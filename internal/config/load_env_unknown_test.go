package config

import (
	"strings"
	"testing"
)

// TestLoadEnvUnknownKeys: a variable Section__Key… of one of Komand's
// sections whose key path is not a key is refused, naming the variable,
// as the same typo in the file is; variables of other sections are left
// alone (they may be other software's). Channels__Delivery__MaxAtempts=3
// used to be ignored, the setting keeping its default of 10.
func TestLoadEnvUnknownKeys(t *testing.T) {
	secret := writeFile(t, t.TempDir(), "jwt", "0123456789abcdef0123456789abcdef0123456789abcdef\n")
	cases := []struct {
		env  string
		want string // "" = loads
	}{
		// Known keys, in every form the loader takes.
		{"Channels__Delivery__MaxAttempts=3", ""},
		{"Server__Addr=127.0.0.1:1", ""},
		{"Providers__OpenAI__BaseUrl=http://127.0.0.1:1/v1", ""},
		{"Jwt__SecretKey_FILE=" + secret, ""},
		{"ConnectionStrings__Komand_FILE=" + secret, ""},
		{"Cors__AllowedOrigins__0=https://a.example", ""},
		{"Server__TrustedProxies__12=10.0.0.1", ""},
		{"SecretManagers__HashiCorpVault__TenantPrefix=kv/{tenant}/", ""},
		{"Channels__Delivery__MaxAtempts=", ""}, // empty counts as unset
		// Other software's variables.
		{"PATH=/usr/bin", ""},
		{"HOME=/root", ""},
		{"GOFLAGS=-mod=mod", ""},
		{"Foo__Bar=1", ""},
		{"Logging__LogLevel__Default=Debug", ""},
		{"KOMAND_CONFIG_X=1", ""},
		{"KOMAND_TEST_POSTGRES_DSN=postgres://x", ""},
		{"Environment=Development", ""},
		{"Channels=1", ""},
		// Typos in a known section.
		{"Channels__Delivery__MaxAtempts=3", `environment variable Channels__Delivery__MaxAtempts: unknown key "Channels:Delivery:MaxAtempts"`},
		{"CHANNELS__Delivery__MaxAtempts=3", `environment variable CHANNELS__Delivery__MaxAtempts: unknown key "CHANNELS:Delivery:MaxAtempts"`},
		{"Server__Adr=127.0.0.1:1", `environment variable Server__Adr: unknown key "Server:Adr"`},
		{"Jwt__SecretKey_FIEL=x", `environment variable Jwt__SecretKey_FIEL: unknown key "Jwt:SecretKey_FIEL"`},
		{"Jwt__Issuer_FILE=/x", `environment variable Jwt__Issuer_FILE: unknown key "Jwt:Issuer_FILE"`},
		{"Cors__AllowedOrigins__first=https://a.example", `environment variable Cors__AllowedOrigins__first: "first" is not an array index`},
		{"Server__Addr__0=127.0.0.1:1", `environment variable Server__Addr__0: unknown key "Server:Addr:0"`},
		{"Providers__OpenAl__BaseUrl=http://x", `environment variable Providers__OpenAl__BaseUrl: unknown key "Providers:OpenAl:BaseUrl"`},
		{"Log__Level__Extra=x", `environment variable Log__Level__Extra: unknown key "Log:Level:Extra"`},
		{"Limits__=1", `environment variable Limits__: unknown key "Limits:"`},
		// A name that differs from a key only in case keeps its own message.
		{"JWT__SECRETKEY=x", "did you mean Jwt__SecretKey? names are case-sensitive"},
	}
	for _, c := range cases {
		t.Run(c.env, func(t *testing.T) {
			_, err := Load(LoadOptions{Env: []string{c.env}})
			switch {
			case c.want == "" && err != nil:
				t.Fatalf("refused: %v", err)
			case c.want != "" && err == nil:
				t.Fatalf("loaded, want %q", c.want)
			case c.want != "" && !strings.Contains(err.Error(), c.want):
				t.Fatalf("%v, want %q", err, c.want)
			case c.want != "" && strings.Count(err.Error(), "\n") > 0:
				t.Fatalf("more than one error: %v", err)
			}
		})
	}
	// The file refuses the same typo alike.
	dir := t.TempDir()
	_, err := Load(LoadOptions{File: writeFile(t, dir, "a.json", `{"Channels":{"Delivery":{"MaxAtempts":3}}}`)})
	if err == nil || !strings.Contains(err.Error(), `unknown key "Channels:Delivery:MaxAtempts"`) {
		t.Fatalf("file: %v", err)
	}
}
