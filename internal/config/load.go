package config

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"os"
	"slices"
	"strconv"
	"strings"
	"time"
)

// LoadOptions says where [Load] reads the configuration from.
type LoadOptions struct {
	// File is the path of an appsettings-style JSON file. When empty, the
	// KOMAND_CONFIG variable in Env names it; when that is empty too, no
	// file is read (there is no implicit default file).
	File string

	// Env holds the environment in os.Environ form ("NAME=value"). Load
	// does not read the process environment itself: main passes
	// os.Environ(), tests pass their own. When a name occurs more than once
	// the last occurrence wins.
	Env []string
}

// FilePath is the configuration file Load reads: File, or else the
// KOMAND_CONFIG variable of Env, or "" for none.
func (o LoadOptions) FilePath() string {
	if o.File != "" {
		return o.File
	}
	return strings.TrimSpace(envMap(o.Env)["KOMAND_CONFIG"])
}

// Load builds a Config from, in increasing order of precedence, [Default],
// the JSON file (if any) and the environment variables. It reports every
// problem it finds (errors.Join): unknown keys in the file, values of the
// wrong type, malformed numbers, unreadable secret files, and a secret set
// both directly and through its _FILE variable. Load does not check the
// values themselves: the caller applies its flags and then calls
// [Config.Validate].
func Load(opts LoadOptions) (Config, error) {
	cfg := Default()
	env := envMap(opts.Env)

	if path := opts.FilePath(); path != "" {
		if err := cfg.loadFile(path); err != nil {
			return Config{}, err
		}
	}
	if err := cfg.loadEnv(env); err != nil {
		return Config{}, err
	}
	return cfg, nil
}

// kind is the type of a setting's field.
type kind int

const (
	kindString kind = iota
	kindInt
	kindInt64
	kindList
	kindDuration
)

// setting describes one configuration key. The table below drives the file
// parser, the environment parser and the dumps, so that they cannot drift
// apart.
type setting struct {
	section string // "" for the top-level Environment key
	name    string
	kind    kind
	secret  bool // may be set through NAME_FILE; redacted in dumps
	field   func(*Config) any
}

// key is the hierarchical name used in messages, as in .NET configuration:
// "Jwt:SecretKey".
func (s setting) key() string {
	if s.section == "" {
		return s.name
	}
	return s.section + ":" + s.name
}

// envName is the environment variable: "Jwt__SecretKey".
// envName joins the key's parts with "__"; a name may itself have two
// parts ("OpenAI:BaseUrl" → Providers__OpenAI__BaseUrl).
func (s setting) envName() string {
	return strings.ReplaceAll(s.key(), ":", "__")
}

var settings = []setting{
	{"", "Environment", kindString, false, func(c *Config) any { return &c.Environment }},

	{"Server", "Addr", kindString, false, func(c *Config) any { return &c.Server.Addr }},
	{"Server", "DataDir", kindString, false, func(c *Config) any { return &c.Server.DataDir }},
	{"Server", "TrustedProxies", kindList, false, func(c *Config) any { return &c.Server.TrustedProxies }},
	{"Server", "MaxBodyBytes", kindInt64, false, func(c *Config) any { return &c.Server.MaxBodyBytes }},
	{"Server", "ShutdownTimeout", kindDuration, false, func(c *Config) any { return &c.Server.ShutdownTimeout }},

	{"ConnectionStrings", "Komand", kindString, true, func(c *Config) any { return &c.ConnectionStrings.Komand }},
	{"ConnectionStrings", "Redis", kindString, true, func(c *Config) any { return &c.ConnectionStrings.Redis }},

	{"Cors", "AllowedOrigins", kindList, false, func(c *Config) any { return &c.Cors.AllowedOrigins }},

	{"RateLimits", "ApiPermitLimit", kindInt, false, func(c *Config) any { return &c.RateLimits.ApiPermitLimit }},
	{"RateLimits", "ApiWindowSeconds", kindInt, false, func(c *Config) any { return &c.RateLimits.ApiWindowSeconds }},
	{"RateLimits", "ChatPermitLimit", kindInt, false, func(c *Config) any { return &c.RateLimits.ChatPermitLimit }},
	{"RateLimits", "ChatWindowSeconds", kindInt, false, func(c *Config) any { return &c.RateLimits.ChatWindowSeconds }},
	{"RateLimits", "MaxKeys", kindInt, false, func(c *Config) any { return &c.RateLimits.MaxKeys }},

	{"Agents", "MaxToolIterations", kindInt, false, func(c *Config) any { return &c.Agents.MaxToolIterations }},
	{"Agents", "TurnTimeout", kindDuration, false, func(c *Config) any { return &c.Agents.TurnTimeout }},
	{"Agents", "SessionIdleTimeout", kindDuration, false, func(c *Config) any { return &c.Agents.SessionIdleTimeout }},

	{"Limits", "MaxAgents", kindInt, false, func(c *Config) any { return &c.Limits.MaxAgents }},
	{"Limits", "MaxActiveSessions", kindInt, false, func(c *Config) any { return &c.Limits.MaxActiveSessions }},
	{"Limits", "MaxCredentials", kindInt, false, func(c *Config) any { return &c.Limits.MaxCredentials }},
	{"Limits", "MaxSkills", kindInt, false, func(c *Config) any { return &c.Limits.MaxSkills }},

	{"Injection", "ClassifierUrl", kindString, false, func(c *Config) any { return &c.Injection.ClassifierUrl }},
	{"Injection", "ClassifierApiKey", kindString, true, func(c *Config) any { return &c.Injection.ClassifierApiKey }},
	{"Injection", "ClassifierTimeout", kindDuration, false, func(c *Config) any { return &c.Injection.ClassifierTimeout }},

	{"Providers", "Anthropic:BaseUrl", kindString, false, func(c *Config) any { return &c.Providers.Anthropic.BaseUrl }},
	{"Providers", "Anthropic:ApiKey", kindString, true, func(c *Config) any { return &c.Providers.Anthropic.ApiKey }},
	{"Providers", "OpenAI:BaseUrl", kindString, false, func(c *Config) any { return &c.Providers.OpenAI.BaseUrl }},
	{"Providers", "OpenAI:ApiKey", kindString, true, func(c *Config) any { return &c.Providers.OpenAI.ApiKey }},

	{"Channels", "Telegram:ApiBaseUrl", kindString, false, func(c *Config) any { return &c.Channels.Telegram.ApiBaseUrl }},
	{"Channels", "Slack:ApiBaseUrl", kindString, false, func(c *Config) any { return &c.Channels.Slack.ApiBaseUrl }},
	{"Channels", "WebChat:VisitorTokenMinutes", kindInt, false, func(c *Config) any { return &c.Channels.WebChat.VisitorTokenMinutes }},
	{"Channels", "Delivery:MaxAttempts", kindInt, false, func(c *Config) any { return &c.Channels.Delivery.MaxAttempts }},
	{"Channels", "Delivery:MaxAge", kindDuration, false, func(c *Config) any { return &c.Channels.Delivery.MaxAge }},
	{"Channels", "Delivery:InitialBackoff", kindDuration, false, func(c *Config) any { return &c.Channels.Delivery.InitialBackoff }},
	{"Channels", "Delivery:MaxBackoff", kindDuration, false, func(c *Config) any { return &c.Channels.Delivery.MaxBackoff }},
	{"Channels", "Delivery:PollInterval", kindDuration, false, func(c *Config) any { return &c.Channels.Delivery.PollInterval }},

	{"Skills", "TrustedPublishers", kindString, false, func(c *Config) any { return &c.Skills.TrustedPublishers }},

	{"Sandbox", "CacheDir", kindString, false, func(c *Config) any { return &c.Sandbox.CacheDir }},
	{"Sandbox", "MaxMemoryMb", kindInt, false, func(c *Config) any { return &c.Sandbox.MaxMemoryMb }},
	{"Sandbox", "MaxConcurrent", kindInt, false, func(c *Config) any { return &c.Sandbox.MaxConcurrent }},
	{"Sandbox", "EgressAllowPrivate", kindList, false, func(c *Config) any { return &c.Sandbox.EgressAllowPrivate }},
	{"Sandbox", "Container", kindString, false, func(c *Config) any { return &c.Sandbox.Container }},
	{"Sandbox", "DockerHost", kindString, false, func(c *Config) any { return &c.Sandbox.DockerHost }},
	{"Sandbox", "TempDir", kindString, false, func(c *Config) any { return &c.Sandbox.TempDir }},
	{"Sandbox", "EgressCaFile", kindString, false, func(c *Config) any { return &c.Sandbox.EgressCaFile }},

	{"Jwt", "SecretKey", kindString, true, func(c *Config) any { return &c.Jwt.SecretKey }},
	{"Jwt", "Issuer", kindString, false, func(c *Config) any { return &c.Jwt.Issuer }},
	{"Jwt", "Audience", kindString, false, func(c *Config) any { return &c.Jwt.Audience }},
	{"Jwt", "ExpirationMinutes", kindInt, false, func(c *Config) any { return &c.Jwt.ExpirationMinutes }},
	{"Jwt", "RefreshExpirationDays", kindInt, false, func(c *Config) any { return &c.Jwt.RefreshExpirationDays }},

	{"Vault", "Kek", kindString, true, func(c *Config) any { return &c.Vault.Kek }},
	{"Vault", "PreviousKeks", kindString, true, func(c *Config) any { return &c.Vault.PreviousKeks }},

	{"SecretManagers", "HashiCorpVault:Address", kindString, false, func(c *Config) any { return &c.SecretManagers.HashiCorpVault.Address }},
	{"SecretManagers", "HashiCorpVault:Token", kindString, true, func(c *Config) any { return &c.SecretManagers.HashiCorpVault.Token }},
	{"SecretManagers", "HashiCorpVault:RoleId", kindString, false, func(c *Config) any { return &c.SecretManagers.HashiCorpVault.RoleId }},
	{"SecretManagers", "HashiCorpVault:SecretId", kindString, true, func(c *Config) any { return &c.SecretManagers.HashiCorpVault.SecretId }},

	{"SecretManagers", "AwsSecretsManager:Region", kindString, false, func(c *Config) any { return &c.SecretManagers.AwsSecretsManager.Region }},
	{"SecretManagers", "AwsSecretsManager:Endpoint", kindString, false, func(c *Config) any { return &c.SecretManagers.AwsSecretsManager.Endpoint }},
	{"SecretManagers", "AwsSecretsManager:AccessKeyId", kindString, false, func(c *Config) any { return &c.SecretManagers.AwsSecretsManager.AccessKeyId }},
	{"SecretManagers", "AwsSecretsManager:SecretAccessKey", kindString, true, func(c *Config) any { return &c.SecretManagers.AwsSecretsManager.SecretAccessKey }},
	{"SecretManagers", "AwsSecretsManager:SessionToken", kindString, true, func(c *Config) any { return &c.SecretManagers.AwsSecretsManager.SessionToken }},

	{"SecretManagers", "AzureKeyVault:VaultUrl", kindString, false, func(c *Config) any { return &c.SecretManagers.AzureKeyVault.VaultUrl }},
	{"SecretManagers", "AzureKeyVault:TenantId", kindString, false, func(c *Config) any { return &c.SecretManagers.AzureKeyVault.TenantId }},
	{"SecretManagers", "AzureKeyVault:ClientId", kindString, false, func(c *Config) any { return &c.SecretManagers.AzureKeyVault.ClientId }},
	{"SecretManagers", "AzureKeyVault:ClientSecret", kindString, true, func(c *Config) any { return &c.SecretManagers.AzureKeyVault.ClientSecret }},
	{"SecretManagers", "AzureKeyVault:AuthorityHost", kindString, false, func(c *Config) any { return &c.SecretManagers.AzureKeyVault.AuthorityHost }},
	{"SecretManagers", "AzureKeyVault:TenantPrefix", kindString, false, func(c *Config) any { return &c.SecretManagers.AzureKeyVault.TenantPrefix }},
	{"SecretManagers", "AwsSecretsManager:TenantPrefix", kindString, false, func(c *Config) any { return &c.SecretManagers.AwsSecretsManager.TenantPrefix }},
	{"SecretManagers", "HashiCorpVault:TenantPrefix", kindString, false, func(c *Config) any { return &c.SecretManagers.HashiCorpVault.TenantPrefix }},

	{"Log", "Level", kindString, false, func(c *Config) any { return &c.Log.Level }},
	{"Log", "Format", kindString, false, func(c *Config) any { return &c.Log.Format }},
}

// lookup finds the setting section:name (exact, case-sensitive).
func lookup(section, name string) (setting, bool) {
	for _, s := range settings {
		if s.section == section && s.name == name {
			return s, true
		}
	}
	return setting{}, false
}

func isSection(name string) bool {
	for _, s := range settings {
		if s.section != "" && s.section == name {
			return true
		}
	}
	return false
}

// didYouMean returns a hint when want matches a known key except for case.
func didYouMean(section, name string) string {
	for _, s := range settings {
		if name == "" {
			if s.section != "" && strings.EqualFold(s.section, section) {
				return fmt.Sprintf(" (did you mean %q? keys are case-sensitive)", s.section)
			}
			if s.section == "" && strings.EqualFold(s.name, section) {
				return fmt.Sprintf(" (did you mean %q? keys are case-sensitive)", s.name)
			}
			continue
		}
		if s.section == section && strings.EqualFold(s.name, name) {
			return fmt.Sprintf(" (did you mean %q? keys are case-sensitive)", s.key())
		}
	}
	return ""
}

// ---------------------------------------------------------------- file ---

const maxConfigFileSize = 1 << 20

// loadFile applies the JSON file at path to c.
func (c *Config) loadFile(path string) error {
	data, err := readLimited(path, maxConfigFileSize)
	if err != nil {
		return fmt.Errorf("config file: %w", err)
	}
	data = bytes.TrimPrefix(data, []byte("\xef\xbb\xbf")) // editors on Windows add a BOM

	fail := func(err error) error { return fmt.Errorf("config file %s: %w", path, err) }

	var top map[string]json.RawMessage
	dec := json.NewDecoder(bytes.NewReader(data))
	if err := dec.Decode(&top); err != nil {
		return fail(err)
	}
	if top == nil {
		return fail(errors.New("want a JSON object"))
	}
	if _, err := dec.Token(); err != io.EOF {
		return fail(errors.New("unexpected data after the JSON object"))
	}

	var errs []error
	for _, name := range sortedKeys(top) {
		raw := top[name]
		if s, ok := lookup("", name); ok {
			if err := s.setJSON(c, raw); err != nil {
				errs = append(errs, fail(err))
			}
			continue
		}
		if !isSection(name) {
			errs = append(errs, fail(fmt.Errorf("unknown key %q%s", name, didYouMean(name, ""))))
			continue
		}
		if isNull(raw) {
			continue
		}
		var section map[string]json.RawMessage
		if err := json.Unmarshal(raw, &section); err != nil {
			errs = append(errs, fail(fmt.Errorf("%s: want an object", name)))
			continue
		}
		for _, key := range sortedKeys(section) {
			s, ok := lookup(name, key)
			if !ok && isSubsection(name, key) {
				errs = append(errs, c.loadSubsection(path, name, key, section[key])...)
				continue
			}
			if !ok {
				errs = append(errs, fail(fmt.Errorf("unknown key %q%s", name+":"+key, didYouMean(name, key))))
				continue
			}
			if err := s.setJSON(c, section[key]); err != nil {
				errs = append(errs, fail(err))
			}
		}
	}
	return errors.Join(errs...)
}

// isSubsection reports whether section has keys named sub:….
func isSubsection(section, sub string) bool {
	for _, s := range settings {
		if s.section == section && strings.HasPrefix(s.name, sub+":") {
			return true
		}
	}
	return false
}

// loadSubsection applies a nested object such as Providers.OpenAI.
func (c *Config) loadSubsection(path, section, sub string, raw json.RawMessage) []error {
	fail := func(err error) error { return fmt.Errorf("config file %s: %w", path, err) }
	if isNull(raw) {
		return nil
	}
	var m map[string]json.RawMessage
	if err := json.Unmarshal(raw, &m); err != nil {
		return []error{fail(fmt.Errorf("%s:%s: want an object", section, sub))}
	}
	var errs []error
	for _, key := range sortedKeys(m) {
		s, ok := lookup(section, sub+":"+key)
		if !ok {
			errs = append(errs, fail(fmt.Errorf("unknown key %q", section+":"+sub+":"+key)))
			continue
		}
		if err := s.setJSON(c, m[key]); err != nil {
			errs = append(errs, fail(err))
		}
	}
	return errs
}

func sortedKeys(m map[string]json.RawMessage) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

func isNull(raw json.RawMessage) bool {
	return string(bytes.TrimSpace(raw)) == "null"
}

func isJSONString(raw json.RawMessage) bool {
	raw = bytes.TrimSpace(raw)
	return len(raw) > 0 && raw[0] == '"'
}

// setJSON decodes one file value into c. A JSON null leaves the current
// value alone. Numbers may also be given as strings ("100"), as .NET's
// configuration binder accepts both.
func (s setting) setJSON(c *Config, raw json.RawMessage) error {
	if isNull(raw) {
		return nil
	}
	switch p := s.field(c).(type) {
	case *string:
		var v string
		if err := json.Unmarshal(raw, &v); err != nil {
			return fmt.Errorf("%s: want a string", s.key())
		}
		if !s.secret {
			v = strings.TrimSpace(v)
		}
		*p = v
	case *int:
		n, err := jsonInt(raw, strconv.IntSize)
		if err != nil {
			return fmt.Errorf("%s: want an integer, got %s", s.key(), bytes.TrimSpace(raw))
		}
		*p = int(n)
	case *int64:
		n, err := jsonInt(raw, 64)
		if err != nil {
			return fmt.Errorf("%s: want an integer, got %s", s.key(), bytes.TrimSpace(raw))
		}
		*p = n
	case *[]string:
		var v []string
		if err := json.Unmarshal(raw, &v); err != nil {
			return fmt.Errorf("%s: want an array of strings", s.key())
		}
		*p = cleanList(v)
	case *time.Duration:
		if isJSONString(raw) {
			var v string
			_ = json.Unmarshal(raw, &v)
			d, err := parseDuration(v)
			if err != nil {
				return fmt.Errorf("%s: %w", s.key(), err)
			}
			*p = d
			return nil
		}
		n, err := jsonInt(raw, 64)
		if err != nil || n > maxDurationSeconds || n < -maxDurationSeconds {
			return fmt.Errorf("%s: want a duration such as \"30s\" or a whole number of seconds, got %s", s.key(), bytes.TrimSpace(raw))
		}
		*p = time.Duration(n) * time.Second
	}
	return nil
}

// jsonInt reads a JSON number or a JSON string holding a decimal integer.
func jsonInt(raw json.RawMessage, bits int) (int64, error) {
	text := string(bytes.TrimSpace(raw))
	if isJSONString(raw) {
		if err := json.Unmarshal(raw, &text); err != nil {
			return 0, err
		}
		text = strings.TrimSpace(text)
	}
	return strconv.ParseInt(text, 10, bits)
}

// ----------------------------------------------------------------- env ---

// envMap turns os.Environ-style entries into a map; the last occurrence of
// a name wins, as with os/exec.
func envMap(env []string) map[string]string {
	m := make(map[string]string, len(env))
	for _, kv := range env {
		k, v, ok := strings.Cut(kv, "=")
		if !ok || k == "" {
			continue
		}
		m[k] = v
	}
	return m
}

// loadEnv applies the environment variables to c. An empty variable counts
// as unset, so "Jwt__SecretKey=" in an env file does not blank a value
// from the JSON file.
func (c *Config) loadEnv(env map[string]string) error {
	var errs []error

	// The environment: KOMAND_ENVIRONMENT wins over the generic .NET-style
	// "Environment", which other software may also set.
	if v := strings.TrimSpace(env["KOMAND_ENVIRONMENT"]); v != "" {
		c.Environment = v
	} else if v := strings.TrimSpace(env["Environment"]); v != "" {
		c.Environment = v
	}

	for _, s := range settings {
		if s.section == "" {
			continue
		}
		name := s.envName()
		v, set := env[name]
		set = set && v != ""

		if s.secret {
			fileVar := name + "_FILE"
			if path := env[fileVar]; path != "" {
				if set {
					errs = append(errs, fmt.Errorf("environment variables %s and %s are both set; set only one", name, fileVar))
					continue
				}
				secret, err := readSecretFile(path)
				if err != nil {
					errs = append(errs, fmt.Errorf("environment variable %s: %w", fileVar, err))
					continue
				}
				v, set = secret, true
			}
		}

		if s.kind == kindList {
			items, indexed, err := indexedList(env, name)
			if err != nil {
				errs = append(errs, err)
				continue
			}
			if indexed {
				if set {
					errs = append(errs, fmt.Errorf("environment variables %s and %s__0, %s__1… are both set; use one form", name, name, name))
					continue
				}
				if len(items) > 0 {
					*s.field(c).(*[]string) = items
				}
				continue
			}
		}

		if !set {
			continue
		}
		if err := s.setEnv(c, v); err != nil {
			errs = append(errs, fmt.Errorf("environment variable %s: %w", name, err))
		}
	}

	errs = append(errs, caseMistakes(env)...)
	errs = append(errs, unknownEnv(env)...)
	return errors.Join(errs...)
}

// unknownEnv reports variables Section__Key… whose section is one of
// Komand's but whose key path is not a key of it
// ("Channels__Delivery__MaxAtempts"), as the file loader reports an
// unknown key of a known section: silently ignored, the setting would keep
// its default. Names are compared without regard to case, so a name that
// differs from a key only in case is left to caseMistakes. Variables of
// any other section (PATH, GOFLAGS, Foo__Bar) may belong to other software
// and are not Komand's to judge. An empty variable counts as unset.
func unknownEnv(env map[string]string) []error {
	known := make(map[string]bool)
	lists := make(map[string]bool)
	sections := make(map[string]bool)
	for _, s := range settings {
		if s.section == "" {
			continue
		}
		name := strings.ToLower(s.envName())
		sections[strings.ToLower(s.section)] = true
		known[name] = true
		if s.secret {
			known[name+"_file"] = true
		}
		if s.kind == kindList {
			lists[name] = true
		}
	}
	var errs []error
	for _, k := range slices.Sorted(maps.Keys(env)) {
		section, _, found := strings.Cut(k, "__")
		if env[k] == "" || !found || !sections[strings.ToLower(section)] {
			continue
		}
		name := strings.ToLower(k)
		if i := strings.LastIndex(name, "__"); i >= 0 && lists[name[:i]] {
			continue // NAME__0 of a list; indexedList refuses a bad index
		}
		if !known[name] {
			errs = append(errs, fmt.Errorf("environment variable %s: unknown key %q", k, strings.ReplaceAll(k, "__", ":")))
		}
	}
	return errs
}

// setEnv parses one environment value into c.
func (s setting) setEnv(c *Config, v string) error {
	switch p := s.field(c).(type) {
	case *string:
		if !s.secret {
			v = strings.TrimSpace(v)
		}
		*p = v
	case *int:
		n, err := strconv.Atoi(strings.TrimSpace(v))
		if err != nil {
			return fmt.Errorf("%q is not an integer", v)
		}
		*p = n
	case *int64:
		n, err := strconv.ParseInt(strings.TrimSpace(v), 10, 64)
		if err != nil {
			return fmt.Errorf("%q is not an integer", v)
		}
		*p = n
	case *[]string:
		if items := cleanList(strings.Split(v, ",")); len(items) > 0 {
			*p = items
		}
	case *time.Duration:
		d, err := parseDuration(v)
		if err != nil {
			return err
		}
		*p = d
	}
	return nil
}

// indexedList collects .NET's indexed array form NAME__0, NAME__1, … in
// index order (gaps are allowed, as in .NET). indexed reports whether any
// such variable holds a non-empty value.
func indexedList(env map[string]string, name string) (items []string, indexed bool, err error) {
	type item struct {
		i int
		v string
	}
	var found []item
	var errs []error
	prefix := name + "__"
	for k, v := range env {
		suffix, ok := strings.CutPrefix(k, prefix)
		if !ok {
			continue
		}
		i, convErr := strconv.Atoi(suffix)
		if convErr != nil || i < 0 || !isDigits(suffix) {
			errs = append(errs, fmt.Errorf("environment variable %s: %q is not an array index; use %s__0, %s__1, …", k, suffix, name, name))
			continue
		}
		if v == "" {
			continue
		}
		found = append(found, item{i, v})
	}
	if len(errs) > 0 {
		slices.SortFunc(errs, func(a, b error) int { return strings.Compare(a.Error(), b.Error()) })
		return nil, false, errors.Join(errs...)
	}
	slices.SortFunc(found, func(a, b item) int { return a.i - b.i })
	vals := make([]string, len(found))
	for j, it := range found {
		vals[j] = it.v
	}
	items = cleanList(vals)
	return items, len(items) > 0, nil
}

// caseMistakes reports variables that name a Komand key with the wrong
// case ("JWT__SECRETKEY"). .NET would accept them; silently ignoring one
// could, for example, leave a deployment without the key its operator set,
// so they are errors.
func caseMistakes(env map[string]string) []error {
	known := make(map[string]string)
	for _, s := range settings {
		if s.section == "" {
			continue
		}
		known[strings.ToLower(s.envName())] = s.envName()
		if s.secret {
			known[strings.ToLower(s.envName()+"_FILE")] = s.envName() + "_FILE"
		}
	}
	var errs []error
	for _, k := range slices.Sorted(maps.Keys(env)) {
		if env[k] == "" || !strings.Contains(k, "__") {
			continue
		}
		base, suffix := k, ""
		if i := strings.LastIndex(k, "__"); i >= 0 && isDigits(k[i+2:]) {
			base, suffix = k[:i], k[i:]
		}
		if want, ok := known[strings.ToLower(base)]; ok && want != base {
			errs = append(errs, fmt.Errorf("environment variable %s: did you mean %s? names are case-sensitive", k, want+suffix))
		}
	}
	return errs
}

const maxSecretFileSize = 64 << 10

// readSecretFile reads a secret named by a _FILE variable, without one
// trailing newline (LF or CRLF). An empty file is an error: silently
// falling back (for example to SQLite, or to a generated key) because a
// mounted secret is empty would hide a deployment mistake.
func readSecretFile(path string) (string, error) {
	data, err := readLimited(path, maxSecretFileSize)
	if err != nil {
		return "", err
	}
	s := string(data)
	if t, ok := strings.CutSuffix(s, "\n"); ok {
		s = strings.TrimSuffix(t, "\r")
	}
	if s == "" {
		return "", fmt.Errorf("%s is empty", path)
	}
	return s, nil
}

// readLimited reads at most limit bytes of path and fails if it is larger.
func readLimited(path string, limit int64) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, limit+1))
	if err != nil {
		return nil, err
	}
	if int64(len(data)) > limit {
		return nil, fmt.Errorf("%s is larger than %d bytes", path, limit)
	}
	return data, nil
}

// cleanList trims the items and drops empty ones.
func cleanList(in []string) []string {
	out := make([]string, 0, len(in))
	for _, s := range in {
		if s = strings.TrimSpace(s); s != "" {
			out = append(out, s)
		}
	}
	return out
}

func isDigits(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

const maxDurationSeconds = int64(1<<63-1) / int64(time.Second)

// parseDuration accepts a Go duration ("30s", "1m30s") or a whole number of
// seconds ("30").
func parseDuration(v string) (time.Duration, error) {
	v = strings.TrimSpace(v)
	if isDigits(v) {
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil || n > maxDurationSeconds {
			return 0, fmt.Errorf("%q is out of range", v)
		}
		return time.Duration(n) * time.Second, nil
	}
	d, err := time.ParseDuration(v)
	if err != nil {
		return 0, fmt.Errorf("%q is not a duration such as \"30s\" or a whole number of seconds", v)
	}
	return d, nil
}
