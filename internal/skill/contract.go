// Package skill is the skill package format and its registry: the
// contract a skill declares (contract.go: input and output schemas,
// required permissions, runtime and limits), the signed package and the
// trusted publisher keys (pack.go), execution of one package against its
// contract in the sandbox (execute.go: Prepare and Execute, shared by the
// server and `komand skill run`), and the tenant's registry (registry.go:
// registration with signature verification, versions, and installation on
// agents with the installer's explicit grant).
//
// Running an agent's tools (the built-ins and the installed skills, with
// their audit) is package tool's. The registry does not write agent rows:
// enabling a skill on an agent goes through the Agents interface
// (agent.Service, wired by the app).
package skill

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"github.com/santhosh-tekuri/jsonschema/v6"

	"github.com/komand-ai/komand/internal/apperr"
	"github.com/komand-ai/komand/internal/validate"
)

// Contract is a skill's declaration (product.md's skill contract). It is
// what the publisher signs, the installer consents to and the sandbox
// enforces.
type Contract struct {
	SkillID             string          `json:"skillId"`
	Name                string          `json:"name"`
	Description         string          `json:"description"`
	Version             string          `json:"version"`
	PublisherID         string          `json:"publisherId"`
	Category            string          `json:"category,omitempty"`
	InputSchema         json.RawMessage `json:"inputSchema"`
	OutputSchema        json.RawMessage `json:"outputSchema"`
	RequiredPermissions []Permission    `json:"requiredPermissions"`
	DeclaredToolAccess  []string        `json:"declaredToolAccess"`
	Limits              Limits          `json:"limits"`
	// Runtime is "wasm" (the default: the module is a WASI command) or
	// "container" (the module is a native Linux executable or a script
	// with a #! line, run in the bubblewrap sandbox).
	Runtime string `json:"runtime,omitempty"`
}

// Runtimes of a skill.
const (
	RuntimeWASM      = "wasm"
	RuntimeContainer = "container"
)

// Limits are the resources a skill declares it needs; the platform caps
// them.
type Limits struct {
	TimeoutSeconds int     `json:"timeoutSeconds,omitempty"` // default 30, max 1800
	MemoryMB       int     `json:"memoryMb,omitempty"`       // default 64, max the platform's
	CPUs           float64 `json:"cpus,omitempty"`           // container: default 1, max 4
	MaxProcesses   int     `json:"maxProcesses,omitempty"`   // container: default 32, max 256
}

// Permission is one thing a skill asks to do: {resource, access, scope}.
// It is written either as that object or as a string "resource:access" or
// "resource:access:scope" (network:outbound:api.example.com). Stored and
// returned as the object.
type Permission struct {
	Resource string  `json:"resource"`
	Access   string  `json:"access"`
	Scope    *string `json:"scope"`
}

// ParsePermission reads the string form and validates it.
func ParsePermission(s string) (Permission, error) {
	var p Permission
	if err := p.UnmarshalJSON([]byte(strconv.Quote(s))); err != nil {
		return p, invalid("%s", err.Error())
	}
	return p, p.normalise()
}

// String is the permission's string form.
func (p Permission) String() string {
	s := p.Resource + ":" + p.Access
	if p.Scope != nil {
		s += ":" + *p.Scope
	}
	return s
}

// UnmarshalJSON accepts both forms.
func (p *Permission) UnmarshalJSON(b []byte) error {
	b = bytes.TrimSpace(b)
	if len(b) > 0 && b[0] == '"' {
		var s string
		if err := json.Unmarshal(b, &s); err != nil {
			return err
		}
		parts := strings.SplitN(s, ":", 3)
		if len(parts) < 2 {
			return fmt.Errorf("permission %q is not resource:access", truncate(s, 64))
		}
		*p = Permission{Resource: parts[0], Access: parts[1]}
		if len(parts) == 3 {
			p.Scope = &parts[2]
		}
		return nil
	}
	type plain Permission
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	var q plain
	if err := dec.Decode(&q); err != nil {
		return err
	}
	*p = Permission(q)
	return nil
}

// Limits of the contract.
const (
	MaxContractBytes = 256 << 10
	maxPermissions   = 32
	MaxTimeout       = 1800
	DefaultTimeout   = 30
	DefaultMemoryMB  = 64
)

// PlatformTools are the platform tools a skill may declare
// (declaredToolAccess) and the permission each needs.
var PlatformTools = map[string]Permission{
	"database": {Resource: "crm", Access: "read"},
}

var (
	skillIDRe   = regexp.MustCompile(`^[a-z0-9]+(-[a-z0-9]+)*$`)
	publisherRe = regexp.MustCompile(`^[a-z0-9]+([-.][a-z0-9]+)*$`)
	wordRe      = regexp.MustCompile(`^[a-z][a-z0-9_-]*$`)
	versionRe   = regexp.MustCompile(`^(0|[1-9][0-9]{0,8})\.(0|[1-9][0-9]{0,8})\.(0|[1-9][0-9]{0,8})$`)
)

// VersionKey is the sortable form of a major.minor.patch version.
func VersionKey(v string) string {
	m := versionRe.FindStringSubmatch(v)
	if m == nil {
		return ""
	}
	var b strings.Builder
	for i, part := range m[1:] {
		n, _ := strconv.Atoi(part)
		if i > 0 {
			b.WriteByte('.')
		}
		fmt.Fprintf(&b, "%010d", n)
	}
	return b.String()
}

func invalid(format string, args ...any) error {
	return apperr.New(apperr.Invalid, fmt.Sprintf(format, args...))
}

// ParseContract decodes and validates a contract strictly. The schemas
// are compiled, so an invalid one is refused here, not at run time.
func ParseContract(raw []byte) (Contract, error) {
	var c Contract
	if len(raw) > MaxContractBytes {
		return c, apperr.New(apperr.TooLarge, "the skill contract is too large")
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&c); err != nil {
		return c, invalid("the skill contract is not valid: %s", jsonProblem(err))
	}
	if dec.More() {
		return c, invalid("the skill contract must be one JSON object")
	}
	return c, c.validate()
}

// jsonProblem is a short, safe description of a decoding error.
func jsonProblem(err error) string {
	var ute *json.UnmarshalTypeError
	var se *json.SyntaxError
	switch {
	case strings.Contains(err.Error(), "unknown field"):
		return truncate(strings.TrimPrefix(err.Error(), "json: "), 120)
	case errors.As(err, &ute):
		return "field " + truncate(ute.Field, 64) + " has the wrong type"
	case errors.As(err, &se):
		return "malformed JSON"
	case strings.Contains(err.Error(), "permission"):
		return truncate(err.Error(), 120)
	}
	return "malformed JSON"
}

func (c *Contract) validate() error {
	switch {
	case len(c.SkillID) == 0 || len(c.SkillID) > 64 || !skillIDRe.MatchString(c.SkillID):
		return invalid("skillId must be lowercase letters and digits separated by single hyphens (at most 64)")
	case strings.TrimSpace(c.Name) == "" || len([]rune(c.Name)) > 100:
		return invalid("name is required (at most 100 characters)")
	case strings.TrimSpace(c.Description) == "" || len([]rune(c.Description)) > 2000:
		return invalid("description is required (at most 2000 characters)")
	case VersionKey(c.Version) == "":
		return invalid("version must be semver major.minor.patch")
	case len(c.PublisherID) == 0 || len(c.PublisherID) > 64 || !publisherRe.MatchString(c.PublisherID):
		return invalid("publisherId must be lowercase letters, digits, '-' and '.' (at most 64)")
	case len(c.Category) > 64 || (c.Category != "" && !skillIDRe.MatchString(c.Category)):
		return invalid("category must be lowercase with hyphens (at most 64)")
	}
	// The registry, the console and the model's tool list show these.
	for _, err := range []error{validate.Line("name", c.Name), validate.Prose("description", c.Description)} {
		if pe, ok := apperr.As(err); ok {
			return invalid("%s", pe.Message)
		}
	}
	if err := checkSchema("inputSchema", c.InputSchema, true); err != nil {
		return err
	}
	if err := checkSchema("outputSchema", c.OutputSchema, false); err != nil {
		return err
	}
	if len(c.RequiredPermissions) > maxPermissions {
		return invalid("at most %d permissions", maxPermissions)
	}
	if c.RequiredPermissions == nil {
		c.RequiredPermissions = []Permission{}
	}
	seen := map[string]bool{}
	for i := range c.RequiredPermissions {
		p := &c.RequiredPermissions[i]
		if err := p.normalise(); err != nil {
			return err
		}
		if seen[p.String()] {
			return invalid("permission %s is listed twice", p)
		}
		seen[p.String()] = true
	}
	if c.DeclaredToolAccess == nil {
		c.DeclaredToolAccess = []string{}
	}
	for _, t := range c.DeclaredToolAccess {
		need, ok := PlatformTools[t]
		if !ok {
			return invalid("declaredToolAccess: unknown platform tool %q", truncate(t, 64))
		}
		if !slices.ContainsFunc(c.RequiredPermissions, func(p Permission) bool { return p.Covers(need) }) {
			return invalid("declaredToolAccess %s needs the permission %s", t, need)
		}
	}
	if c.Limits.TimeoutSeconds < 0 || c.Limits.TimeoutSeconds > MaxTimeout {
		return invalid("limits.timeoutSeconds must be between 1 and %d", MaxTimeout)
	}
	if c.Limits.MemoryMB < 0 || c.Limits.MemoryMB > 4096 {
		return invalid("limits.memoryMb must be between 1 and 4096")
	}
	if c.Limits.CPUs < 0 || c.Limits.CPUs > 4 {
		return invalid("limits.cpus must be between 0.01 and 4")
	}
	if c.Limits.MaxProcesses < 0 || c.Limits.MaxProcesses > 256 {
		return invalid("limits.maxProcesses must be between 1 and 256")
	}
	switch c.Runtime {
	case "":
		c.Runtime = RuntimeWASM
	case RuntimeWASM, RuntimeContainer:
	default:
		return invalid("runtime must be wasm or container")
	}
	return nil
}

// normalise validates a permission and canonicalises its scope.
func (p *Permission) normalise() error {
	p.Resource, p.Access = strings.ToLower(p.Resource), strings.ToLower(p.Access)
	if len(p.Resource) > 32 || !wordRe.MatchString(p.Resource) || len(p.Access) > 32 || !wordRe.MatchString(p.Access) {
		return invalid("a permission's resource and access are lowercase words, like crm:read")
	}
	if p.Scope != nil && *p.Scope == "" {
		p.Scope = nil
	}
	if p.Resource == "network" {
		if p.Access != "outbound" {
			return invalid("the network permission is network:outbound:<host>")
		}
		if p.Scope == nil {
			return invalid("network:outbound needs a host scope, like network:outbound:api.example.com")
		}
		h, err := validate.NormalHost(*p.Scope)
		switch {
		case errors.Is(err, validate.ErrWildcardTLD):
			return invalid("network:outbound wildcard %q covers a whole top-level domain; name the domain (*.example.com)", truncate(*p.Scope, 64))
		case err != nil:
			return invalid("network:outbound scope %q is not a host name", truncate(*p.Scope, 64))
		}
		p.Scope = &h
	} else if p.Scope != nil && (len(*p.Scope) > 128 || hasControl(*p.Scope)) {
		return invalid("a permission's scope is at most 128 characters")
	}
	return nil
}

// Covers says whether p grants what need asks for (scope nil is any).
func (p Permission) Covers(need Permission) bool {
	return p.Resource == need.Resource && p.Access == need.Access &&
		(p.Scope == nil || (need.Scope != nil && *p.Scope == *need.Scope))
}

// Equal compares two permissions.
func (p Permission) Equal(q Permission) bool { return p.String() == q.String() }

// AllowedHosts are the hosts of the network:outbound permissions in ps.
func AllowedHosts(ps []Permission) []string {
	var out []string
	for _, p := range ps {
		if p.Resource == "network" && p.Access == "outbound" && p.Scope != nil {
			out = append(out, *p.Scope)
		}
	}
	return out
}

// Consequential says whether ps include write or network access (the
// injection defense holds such tools for approval in untrusted turns).
func Consequential(ps []Permission) bool {
	for _, p := range ps {
		switch p.Access {
		case "write", "outbound", "delete", "send", "create", "update":
			return true
		}
	}
	return false
}

func checkSchema(field string, raw json.RawMessage, mustObject bool) error {
	if len(bytes.TrimSpace(raw)) == 0 || string(bytes.TrimSpace(raw)) == "null" {
		return invalid("%s is required", field)
	}
	_, err := compileSchema(raw)
	if err != nil {
		return invalid("%s is not a valid JSON Schema", field)
	}
	if mustObject {
		var top struct {
			Type any `json:"type"`
		}
		if json.Unmarshal(raw, &top) != nil || top.Type != "object" {
			return invalid("%s must describe an object (\"type\": \"object\")", field)
		}
	}
	return nil
}

// compileSchema compiles one schema document. References to anything but
// the document itself are refused (no loading from files or the network).
func compileSchema(raw json.RawMessage) (*jsonschema.Schema, error) {
	doc, err := jsonschema.UnmarshalJSON(bytes.NewReader(raw))
	if err != nil {
		return nil, err
	}
	c := jsonschema.NewCompiler()
	c.UseLoader(noLoader{})
	if err := c.AddResource("komand:schema.json", doc); err != nil {
		return nil, err
	}
	return c.Compile("komand:schema.json")
}

type noLoader struct{}

func (noLoader) Load(url string) (any, error) {
	return nil, fmt.Errorf("external schema references are not allowed")
}

func hasControl(s string) bool {
	return strings.ContainsFunc(s, func(r rune) bool { return r < 0x20 || r == 0x7f || (r >= 0x80 && r < 0xa0) })
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n]
}
