package config

import (
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"
)

func writeFile(t *testing.T, dir, name, content string) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestLoadNothingIsDefault(t *testing.T) {
	cfg, err := Load(LoadOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(cfg, Default()) {
		t.Fatalf("Load with no sources = %+v, want Default()", cfg)
	}
	if err := cfg.Validate(); err != nil {
		t.Fatalf("Default() does not validate: %v", err)
	}
}

func TestDefaults(t *testing.T) {
	c := Default()
	checks := []struct {
		name      string
		got, want any
	}{
		{"Environment", c.Environment, Production},
		{"Addr", c.Server.Addr, "127.0.0.1:5000"},
		{"DataDir", c.Server.DataDir, "./komand-data"},
		{"TrustedProxies", len(c.Server.TrustedProxies), 0},
		{"MaxBodyBytes", c.Server.MaxBodyBytes, int64(1 << 20)},
		{"ShutdownTimeout", c.Server.ShutdownTimeout, 30 * time.Second},
		{"Komand", c.ConnectionStrings.Komand, ""},
		{"Redis", c.ConnectionStrings.Redis, ""},
		{"AllowedOrigins", len(c.Cors.AllowedOrigins), 0},
		{"ApiPermitLimit", c.RateLimits.ApiPermitLimit, 100},
		{"ApiWindowSeconds", c.RateLimits.ApiWindowSeconds, 60},
		{"ChatPermitLimit", c.RateLimits.ChatPermitLimit, 30},
		{"ChatWindowSeconds", c.RateLimits.ChatWindowSeconds, 60},
		{"MaxKeys", c.RateLimits.MaxKeys, 100_000},
		{"MaxToolIterations", c.Agents.MaxToolIterations, 10},
		{"TurnTimeout", c.Agents.TurnTimeout, 2 * time.Minute},
		{"SessionIdleTimeout", c.Agents.SessionIdleTimeout, 24 * time.Hour},
		{"MaxAgents", c.Limits.MaxAgents, 1000},
		{"MaxActiveSessions", c.Limits.MaxActiveSessions, 10_000},
		{"MaxCredentials", c.Limits.MaxCredentials, 1000},
		{"MaxSkills", c.Limits.MaxSkills, 10_000},
		{"SecretKey", c.Jwt.SecretKey, ""},
		{"Issuer", c.Jwt.Issuer, "komand.ai"},
		{"Audience", c.Jwt.Audience, "komand.ai"},
		{"ExpirationMinutes", c.Jwt.ExpirationMinutes, 60},
		{"RefreshExpirationDays", c.Jwt.RefreshExpirationDays, 7},
		{"Level", c.Log.Level, "info"},
		{"Format", c.Log.Format, "json"},
		{"ApiWindow", c.RateLimits.ApiWindow(), time.Minute},
		{"ChatWindow", c.RateLimits.ChatWindow(), time.Minute},
		{"AccessTokenTTL", c.Jwt.AccessTokenTTL(), time.Hour},
		{"RefreshTokenTTL", c.Jwt.RefreshTokenTTL(), 7 * 24 * time.Hour},
	}
	for _, ch := range checks {
		if !reflect.DeepEqual(ch.got, ch.want) {
			t.Errorf("%s = %v, want %v", ch.name, ch.got, ch.want)
		}
	}
}

const fullFile = `{
  "Environment": "Development",
  "Server": {"Addr": "0.0.0.0:8080", "DataDir": "/var/lib/komand", "TrustedProxies": ["10.0.0.0/8", "192.0.2.1"],
             "MaxBodyBytes": 2097152, "ShutdownTimeout": "45s"},
  "ConnectionStrings": {"Komand": "postgres://u:p@db/komand", "Redis": "redis://cache:6379/0"},
  "Cors": {"AllowedOrigins": ["https://a.example", " https://b.example "]},
  "RateLimits": {"ApiPermitLimit": 200, "ApiWindowSeconds": "30", "ChatPermitLimit": 10, "ChatWindowSeconds": 120, "MaxKeys": 5000},
  "Agents": {"MaxToolIterations": 4, "TurnTimeout": "90s", "SessionIdleTimeout": "1h"},
  "Limits": {"MaxAgents": 50, "MaxActiveSessions": "500", "MaxCredentials": 20, "MaxSkills": 30},
  "Injection": {"ClassifierUrl": "https://guard.internal/v1/classify", "ClassifierTimeout": "300ms"},
  "Jwt": {"SecretKey": "0123456789abcdef0123456789abcdef", "Issuer": "iss", "Audience": "aud",
          "ExpirationMinutes": 15, "RefreshExpirationDays": 30},
  "Log": {"Level": "debug", "Format": "text"}
}`

func TestLoad(t *testing.T) {
	dir := t.TempDir()
	full := writeFile(t, dir, "full.json", fullFile)
	partial := writeFile(t, dir, "partial.json", `{"Cors":{"AllowedOrigins":["https://file.example"]},"RateLimits":{"ApiPermitLimit":7},"Jwt":null}`)
	bom := writeFile(t, dir, "bom.json", "\xef\xbb\xbf{\"Log\":{\"Level\":\"warn\"}}")
	secret := writeFile(t, dir, "secret", "s3cret-from-file-0123456789abcdef\n")
	crlf := writeFile(t, dir, "crlf", "postgres://u:p@db/x\r\n")
	twoNewlines := writeFile(t, dir, "two", "key-with-newline\n\n")

	tests := []struct {
		name  string
		opts  LoadOptions
		check func(t *testing.T, c Config)
	}{
		{
			name: "full file",
			opts: LoadOptions{File: full},
			check: func(t *testing.T, c Config) {
				want := Config{
					Environment: "Development",
					Server: ServerConfig{Addr: "0.0.0.0:8080", DataDir: "/var/lib/komand",
						TrustedProxies: []string{"10.0.0.0/8", "192.0.2.1"}, MaxBodyBytes: 2 << 20, ShutdownTimeout: 45 * time.Second},
					ConnectionStrings: ConnectionStringsConfig{Komand: "postgres://u:p@db/komand", Redis: "redis://cache:6379/0"},
					Cors:              CorsConfig{AllowedOrigins: []string{"https://a.example", "https://b.example"}},
					RateLimits:        RateLimitsConfig{ApiPermitLimit: 200, ApiWindowSeconds: 30, ChatPermitLimit: 10, ChatWindowSeconds: 120, MaxKeys: 5000},
					Agents:            AgentsConfig{MaxToolIterations: 4, TurnTimeout: 90 * time.Second, SessionIdleTimeout: time.Hour},
					Limits:            LimitsConfig{MaxAgents: 50, MaxActiveSessions: 500, MaxCredentials: 20, MaxSkills: 30},
					Injection:         InjectionConfig{ClassifierUrl: "https://guard.internal/v1/classify", ClassifierTimeout: 300 * time.Millisecond},
					Sandbox:           SandboxConfig{MaxMemoryMb: 1024, MaxConcurrent: 64},
					Channels:          ChannelsConfig{WebChat: WebChatConfig{VisitorTokenMinutes: 60}, Delivery: DefaultDelivery},
					Jwt: JwtConfig{SecretKey: "0123456789abcdef0123456789abcdef", Issuer: "iss", Audience: "aud",
						ExpirationMinutes: 15, RefreshExpirationDays: 30},
					Log: LogConfig{Level: "debug", Format: "text"},
				}
				if !reflect.DeepEqual(c, want) {
					t.Errorf("got  %#v\nwant %#v", c.Redacted(), want.Redacted())
				}
				if c.Jwt.SecretKey != want.Jwt.SecretKey || c.ConnectionStrings != want.ConnectionStrings {
					t.Errorf("secrets differ")
				}
			},
		},
		{
			name: "file from KOMAND_CONFIG",
			opts: LoadOptions{Env: []string{"KOMAND_CONFIG=" + partial}},
			check: func(t *testing.T, c Config) {
				if got := c.Cors.AllowedOrigins; !reflect.DeepEqual(got, []string{"https://file.example"}) {
					t.Errorf("AllowedOrigins = %q", got)
				}
				if c.RateLimits.ApiPermitLimit != 7 || c.RateLimits.ChatPermitLimit != 30 {
					t.Errorf("RateLimits = %+v", c.RateLimits)
				}
				if c.Jwt != Default().Jwt {
					t.Errorf("null section changed Jwt: %+v", c.Jwt)
				}
			},
		},
		{
			name: "opts.File wins over KOMAND_CONFIG",
			opts: LoadOptions{File: bom, Env: []string{"KOMAND_CONFIG=" + partial}},
			check: func(t *testing.T, c Config) {
				if c.Log.Level != "warn" || c.RateLimits.ApiPermitLimit != 100 {
					t.Errorf("wrong file read: %+v", c)
				}
			},
		},
		{
			name: "env overrides file",
			opts: LoadOptions{File: partial, Env: []string{
				"Cors__AllowedOrigins=https://env1.example, https://env2.example,,",
				"RateLimits__ApiPermitLimit= 42 ",
				"RateLimits__ApiWindowSeconds=10",
				"RateLimits__ChatPermitLimit=5",
				"RateLimits__ChatWindowSeconds=20",
				"RateLimits__MaxKeys=1000",
				"Agents__MaxToolIterations=3",
				"Agents__TurnTimeout=30s",
				"Agents__SessionIdleTimeout=0",
				"Limits__MaxAgents=7",
				"Limits__MaxActiveSessions=8",
				"Limits__MaxCredentials=9",
				"Limits__MaxSkills=10",
				"Channels__WebChat__VisitorTokenMinutes=15",
				"Channels__Delivery__MaxAttempts=4",
				"Channels__Delivery__MaxBackoff=90s",
				"Injection__ClassifierApiKey=guard-token",
				"Jwt__SecretKey=env-secret-0123456789abcdef0123456789",
				"Jwt__Issuer=env-iss",
				"Jwt__Audience=env-aud",
				"Jwt__ExpirationMinutes=5",
				"Jwt__RefreshExpirationDays=2",
				"Server__Addr=:9000",
				"Server__DataDir=/data",
				"Server__TrustedProxies=10.1.0.0/16,::1",
				"Server__MaxBodyBytes=4096",
				"Server__ShutdownTimeout=5",
				"ConnectionStrings__Komand=postgresql://a:b@h/d",
				"ConnectionStrings__Redis=rediss://r:6380",
				"Log__Level=error",
				"Log__Format=text",
				"KOMAND_ENVIRONMENT=development",
			}},
			check: func(t *testing.T, c Config) {
				want := Config{
					Environment: "development",
					Server: ServerConfig{Addr: ":9000", DataDir: "/data", TrustedProxies: []string{"10.1.0.0/16", "::1"},
						MaxBodyBytes: 4096, ShutdownTimeout: 5 * time.Second},
					ConnectionStrings: ConnectionStringsConfig{Komand: "postgresql://a:b@h/d", Redis: "rediss://r:6380"},
					Cors:              CorsConfig{AllowedOrigins: []string{"https://env1.example", "https://env2.example"}},
					RateLimits:        RateLimitsConfig{42, 10, 5, 20, 1000},
					Sandbox:           SandboxConfig{MaxMemoryMb: 1024, MaxConcurrent: 64},
					Agents:            AgentsConfig{3, 30 * time.Second, 0},
					Limits:            LimitsConfig{7, 8, 9, 10},
					Channels: ChannelsConfig{WebChat: WebChatConfig{VisitorTokenMinutes: 15}, Delivery: DeliveryConfig{MaxAttempts: 4,
						MaxAge: time.Hour, InitialBackoff: 2 * time.Second, MaxBackoff: 90 * time.Second, PollInterval: time.Second}},
					Injection: InjectionConfig{ClassifierApiKey: "guard-token", ClassifierTimeout: 500 * time.Millisecond},
					Jwt:       JwtConfig{"env-secret-0123456789abcdef0123456789", "env-iss", "env-aud", 5, 2},
					Log:       LogConfig{"error", "text"},
				}
				if !reflect.DeepEqual(c, want) {
					t.Errorf("got  %+v\nwant %+v", c, want)
				}
			},
		},
		{
			name: "indexed arrays in index order, gaps allowed",
			opts: LoadOptions{File: partial, Env: []string{
				"Cors__AllowedOrigins__10=https://c.example",
				"Cors__AllowedOrigins__0=https://a.example",
				"Cors__AllowedOrigins__2=https://b.example",
				"Cors__AllowedOrigins__3=",
				"Server__TrustedProxies__0=10.0.0.1",
				"Server__TrustedProxies__1=10.0.0.2",
			}},
			check: func(t *testing.T, c Config) {
				if got, want := c.Cors.AllowedOrigins, []string{"https://a.example", "https://b.example", "https://c.example"}; !reflect.DeepEqual(got, want) {
					t.Errorf("AllowedOrigins = %q, want %q", got, want)
				}
				if got, want := c.Server.TrustedProxies, []string{"10.0.0.1", "10.0.0.2"}; !reflect.DeepEqual(got, want) {
					t.Errorf("TrustedProxies = %q, want %q", got, want)
				}
			},
		},
		{
			name: "empty variables count as unset",
			opts: LoadOptions{File: full, Env: []string{"Jwt__SecretKey=", "Cors__AllowedOrigins=", "RateLimits__ApiPermitLimit=", "Jwt__SecretKey_FILE="}},
			check: func(t *testing.T, c Config) {
				if c.Jwt.SecretKey != "0123456789abcdef0123456789abcdef" || len(c.Cors.AllowedOrigins) != 2 || c.RateLimits.ApiPermitLimit != 200 {
					t.Errorf("empty variables changed the file's values: %+v", c.Redacted())
				}
			},
		},
		{
			name: "_FILE secrets, one trailing newline trimmed",
			opts: LoadOptions{Env: []string{
				"Jwt__SecretKey_FILE=" + secret,
				"ConnectionStrings__Komand_FILE=" + crlf,
				"ConnectionStrings__Redis_FILE=" + twoNewlines,
			}},
			check: func(t *testing.T, c Config) {
				if c.Jwt.SecretKey != "s3cret-from-file-0123456789abcdef" {
					t.Errorf("SecretKey = %q", c.Jwt.SecretKey)
				}
				if c.ConnectionStrings.Komand != "postgres://u:p@db/x" {
					t.Errorf("Komand = %q", c.ConnectionStrings.Komand)
				}
				if c.ConnectionStrings.Redis != "key-with-newline\n" {
					t.Errorf("Redis = %q (only one newline should be trimmed)", c.ConnectionStrings.Redis)
				}
			},
		},
		{
			name: "_FILE overrides the file's secret",
			opts: LoadOptions{File: full, Env: []string{"Jwt__SecretKey_FILE=" + secret}},
			check: func(t *testing.T, c Config) {
				if c.Jwt.SecretKey != "s3cret-from-file-0123456789abcdef" {
					t.Errorf("SecretKey = %q", c.Jwt.SecretKey)
				}
			},
		},
		{
			name: "KOMAND_ENVIRONMENT wins over Environment",
			opts: LoadOptions{Env: []string{"Environment=Development", "KOMAND_ENVIRONMENT=Production"}},
			check: func(t *testing.T, c Config) {
				if c.Environment != "Production" {
					t.Errorf("Environment = %q", c.Environment)
				}
			},
		},
		{
			name: "Environment alone",
			opts: LoadOptions{Env: []string{"Environment=Development"}},
			check: func(t *testing.T, c Config) {
				if !c.IsDevelopment() {
					t.Errorf("Environment = %q", c.Environment)
				}
			},
		},
		{
			name: "last duplicate wins; unrelated variables ignored",
			opts: LoadOptions{Env: []string{"RateLimits__MaxKeys=1", "RateLimits__MaxKeys=2", "PATH=/bin", "ENVIRONMENT=staging", "Other__Thing=1", "=C:=C:\\"}},
			check: func(t *testing.T, c Config) {
				if c.RateLimits.MaxKeys != 2 || c.Environment != Production {
					t.Errorf("got %+v", c)
				}
			},
		},
		{
			name: "durations",
			opts: LoadOptions{Env: []string{"Server__ShutdownTimeout=1m30s"}},
			check: func(t *testing.T, c Config) {
				if c.Server.ShutdownTimeout != 90*time.Second {
					t.Errorf("ShutdownTimeout = %v", c.Server.ShutdownTimeout)
				}
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := Load(tt.opts)
			if err != nil {
				t.Fatalf("Load: %v", err)
			}
			tt.check(t, c)
		})
	}
}

func TestLoadErrors(t *testing.T) {
	dir := t.TempDir()
	secret := writeFile(t, dir, "secret", "s3cret\n")
	empty := writeFile(t, dir, "empty", "\n")
	file := func(content string) string {
		return writeFile(t, t.TempDir(), "appsettings.json", content)
	}

	tests := []struct {
		name string
		opts LoadOptions
		want []string // substrings of the error
	}{
		{"missing file", LoadOptions{File: filepath.Join(dir, "nope.json")}, []string{"nope.json"}},
		{"missing KOMAND_CONFIG file", LoadOptions{Env: []string{"KOMAND_CONFIG=" + filepath.Join(dir, "gone.json")}}, []string{"gone.json"}},
		{"bad JSON", LoadOptions{File: file(`{"Cors": `)}, []string{"config file"}},
		{"not an object", LoadOptions{File: file(`[1]`)}, []string{"config file"}},
		{"null document", LoadOptions{File: file(`null`)}, []string{"want a JSON object"}},
		{"trailing data", LoadOptions{File: file(`{} {}`)}, []string{"unexpected data"}},
		{"unknown top-level key", LoadOptions{File: file(`{"Logging":{}}`)}, []string{`unknown key "Logging"`}},
		{"unknown section key", LoadOptions{File: file(`{"Cors":{"AllowedOrigin":["x"]}}`)}, []string{`unknown key "Cors:AllowedOrigin"`}},
		{"wrong-case key hints", LoadOptions{File: file(`{"jwt":{"secretKey":"x"}}`)}, []string{`unknown key "jwt"`, `did you mean "Jwt"`}},
		{"wrong-case inner key hints", LoadOptions{File: file(`{"Jwt":{"secretKey":"x"}}`)}, []string{`unknown key "Jwt:secretKey"`, `did you mean "Jwt:SecretKey"`}},
		{"all unknown keys reported", LoadOptions{File: file(`{"A":1,"Jwt":{"B":1},"Log":{"C":1}}`)}, []string{`"A"`, `"Jwt:B"`, `"Log:C"`}},
		{"section not an object", LoadOptions{File: file(`{"Jwt":"x"}`)}, []string{"Jwt: want an object"}},
		{"string for number ok, text not", LoadOptions{File: file(`{"RateLimits":{"ApiPermitLimit":"lots"}}`)}, []string{"RateLimits:ApiPermitLimit", "want an integer"}},
		{"fraction", LoadOptions{File: file(`{"RateLimits":{"MaxKeys":1.5}}`)}, []string{"RateLimits:MaxKeys"}},
		{"bool for int", LoadOptions{File: file(`{"Jwt":{"ExpirationMinutes":true}}`)}, []string{"Jwt:ExpirationMinutes"}},
		{"number for string", LoadOptions{File: file(`{"Server":{"Addr":5000}}`)}, []string{"Server:Addr", "want a string"}},
		{"string for list", LoadOptions{File: file(`{"Cors":{"AllowedOrigins":"https://a.example"}}`)}, []string{"Cors:AllowedOrigins", "array"}},
		{"bad duration", LoadOptions{File: file(`{"Server":{"ShutdownTimeout":"soon"}}`)}, []string{"Server:ShutdownTimeout"}},
		{"bad env int", LoadOptions{Env: []string{"RateLimits__ApiPermitLimit=100x"}}, []string{"RateLimits__ApiPermitLimit", `"100x"`}},
		{"bad env int64", LoadOptions{Env: []string{"Server__MaxBodyBytes=1MiB"}}, []string{"Server__MaxBodyBytes"}},
		{"int overflow", LoadOptions{Env: []string{"RateLimits__MaxKeys=99999999999999999999999"}}, []string{"RateLimits__MaxKeys"}},
		{"bad env duration", LoadOptions{Env: []string{"Server__ShutdownTimeout=later"}}, []string{"Server__ShutdownTimeout"}},
		{"every bad number reported", LoadOptions{Env: []string{"Jwt__ExpirationMinutes=a", "Jwt__RefreshExpirationDays=b"}}, []string{"Jwt__ExpirationMinutes", "Jwt__RefreshExpirationDays"}},
		{"secret and _FILE both set", LoadOptions{Env: []string{"Jwt__SecretKey=x", "Jwt__SecretKey_FILE=" + secret}}, []string{"Jwt__SecretKey", "Jwt__SecretKey_FILE", "both set"}},
		{"DSN and _FILE both set", LoadOptions{Env: []string{"ConnectionStrings__Komand=postgres://h/d", "ConnectionStrings__Komand_FILE=" + secret}}, []string{"ConnectionStrings__Komand_FILE"}},
		{"Redis and _FILE both set", LoadOptions{Env: []string{"ConnectionStrings__Redis=redis://h", "ConnectionStrings__Redis_FILE=" + secret}}, []string{"ConnectionStrings__Redis_FILE"}},
		{"missing _FILE", LoadOptions{Env: []string{"Jwt__SecretKey_FILE=" + filepath.Join(dir, "missing")}}, []string{"Jwt__SecretKey_FILE", "missing"}},
		{"empty _FILE", LoadOptions{Env: []string{"ConnectionStrings__Komand_FILE=" + empty}}, []string{"ConnectionStrings__Komand_FILE", "empty"}},
		{"comma and indexed forms both", LoadOptions{Env: []string{"Cors__AllowedOrigins=https://a.example", "Cors__AllowedOrigins__0=https://b.example"}}, []string{"Cors__AllowedOrigins", "both set"}},
		{"bad index", LoadOptions{Env: []string{"Cors__AllowedOrigins__first=https://a.example"}}, []string{"Cors__AllowedOrigins__first", "not an array index"}},
		{"negative index", LoadOptions{Env: []string{"Server__TrustedProxies__-1=10.0.0.1"}}, []string{"Server__TrustedProxies__-1"}},
		{"wrong case variable", LoadOptions{Env: []string{"JWT__SECRETKEY=0123456789abcdef0123456789abcdef"}}, []string{"JWT__SECRETKEY", "did you mean Jwt__SecretKey"}},
		{"wrong case indexed variable", LoadOptions{Env: []string{"cors__allowedorigins__0=https://a.example"}}, []string{"did you mean Cors__AllowedOrigins__0"}},
		{"wrong case _FILE variable", LoadOptions{Env: []string{"Jwt__SecretKey_file=" + secret}}, []string{"did you mean Jwt__SecretKey_FILE"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Load(tt.opts)
			if err == nil {
				t.Fatal("Load succeeded, want an error")
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not contain %q", err, w)
				}
			}
		})
	}
}

func TestLoadErrorsDoNotLeakSecrets(t *testing.T) {
	dir := t.TempDir()
	secret := writeFile(t, dir, "secret", "hunter2-hunter2-hunter2-hunter2-hunter2\n")
	_, err := Load(LoadOptions{Env: []string{"Jwt__SecretKey=hunter2-hunter2-hunter2-hunter2-hunter2", "Jwt__SecretKey_FILE=" + secret}})
	if err == nil || strings.Contains(err.Error(), "hunter2") {
		t.Fatalf("error = %v", err)
	}
}

func TestLoadProviders(t *testing.T) {
	dir := t.TempDir()
	file := writeFile(t, dir, "p.json", `{"Providers":{"OpenAI":{"BaseUrl":"http://127.0.0.1:11434/v1","ApiKey":"sk-from-file"}}}`)
	keyFile := writeFile(t, dir, "key", "sk-from-secret-file\n")

	c, err := Load(LoadOptions{File: file})
	if err != nil {
		t.Fatal(err)
	}
	if c.Providers.OpenAI.BaseUrl != "http://127.0.0.1:11434/v1" || c.Providers.OpenAI.ApiKey != "sk-from-file" || !c.Providers.OpenAI.Configured() {
		t.Fatalf("file: %+v", c.Providers)
	}
	if strings.Contains(c.String(), "sk-from-file") || !strings.Contains(c.String(), "Providers__OpenAI__ApiKey="+Redaction) {
		t.Errorf("dump does not redact the provider key:\n%s", c.String())
	}

	c, err = Load(LoadOptions{File: file, Env: []string{"Providers__OpenAI__ApiKey_FILE=" + keyFile,
		"Providers__OpenAI__BaseUrl=https://llm.internal.example/v1"}})
	if err != nil {
		t.Fatal(err)
	}
	if c.Providers.OpenAI.ApiKey != "sk-from-secret-file" || c.Providers.OpenAI.BaseUrl != "https://llm.internal.example/v1" {
		t.Fatalf("env: %+v", c.Providers)
	}

	for _, bad := range []string{`{"Providers":{"OpenAI":{"Model":"x"}}}`, `{"Providers":{"OpenAI":"x"}}`, `{"Providers":{"Anthropicc":{}}}`} {
		if _, err := Load(LoadOptions{File: writeFile(t, dir, "bad.json", bad)}); err == nil {
			t.Errorf("%s: accepted", bad)
		}
	}
	for _, u := range []string{"ftp://x/v1", "https://user:pw@x/v1", "/v1", "https://x/v1?key=abc"} {
		c := Default()
		c.Providers.OpenAI.BaseUrl = u
		if err := c.Validate(); err == nil || strings.Contains(err.Error(), "pw") || strings.Contains(err.Error(), "abc") {
			t.Errorf("BaseUrl %q: %v", u, err)
		}
	}
	if Default().Providers.OpenAI.Configured() {
		t.Errorf("no provider should be configured by default")
	}
}
