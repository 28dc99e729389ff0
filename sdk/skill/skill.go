// Package skill is the Go SDK for Komand skills. A skill is a WASI command
// built with the standard toolchain:
//
//	GOOS=wasip1 GOARCH=wasm go build -o skill.wasm .
//
// Its main calls Run with a handler; Run reads the JSON input from
// standard input, calls the handler, writes its result as JSON to standard
// output and exits 0, or writes {"error": "..."} and exits 1.
//
//	func main() {
//		skill.Run(func(c *skill.Context, in Input) (Output, error) { ... })
//	}
//
// The Context is the skill's SkillContext: credentials granted to this
// skill on this agent (Credential), a log (Log), brokered HTTP to granted
// hosts (HTTP), installation settings (Config) and declared platform
// tools (Tool). Nothing else of the platform is reachable: the sandbox has
// no file system but /tmp, no sockets, no environment.
//
// The ABI underneath (the host module "komand") is documented in
// internal/sandbox/host.go, so any language that targets wasip1 can
// write a skill without this SDK.
package skill

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
)

// Host ABI error codes.
const (
	codeDenied   = -1
	codeNotFound = -2
	codeInvalid  = -3
	codeFailed   = -4
	codeLimit    = -5
)

// Errors a platform call can return (wrapped with the platform's message).
var (
	ErrDenied   = errors.New("denied")
	ErrNotFound = errors.New("not found")
	ErrInvalid  = errors.New("invalid request")
	ErrFailed   = errors.New("failed")
	ErrLimit    = errors.New("limit reached")
)

// Context is what a running skill may reach of the platform.
type Context struct{}

// Log levels.
const (
	Debug = 0
	Info  = 1
	Warn  = 2
	Error = 3
)

// Log writes one line to the skill's log (at most 100 lines of 4 KiB).
func (c *Context) Log(level int, format string, args ...any) {
	abiLog(level, fmt.Sprintf(format, args...))
}

// Credential returns the credential called name, when this skill on this
// agent was granted it.
func (c *Context) Credential(name string) (string, error) {
	b, rc := abiCredential([]byte(name))
	if err := callErr(b, rc); err != nil {
		return "", err
	}
	return string(b), nil
}

// Config returns an installation setting.
func (c *Context) Config(key string) (string, bool) {
	b, rc := abiConfig([]byte(key))
	if rc < 0 {
		return "", false
	}
	return string(b), true
}

// Request is a brokered HTTP request. Auth attaches a credential by
// reference: the platform sets the header, the skill never sees the value.
type Request struct {
	Method  string            `json:"method"`
	URL     string            `json:"url"`
	Headers map[string]string `json:"headers,omitempty"`
	Body    string            `json:"body,omitempty"`
	Auth    *Auth             `json:"auth,omitempty"`
}

// Auth names a credential and the header it goes in.
type Auth struct {
	Credential string `json:"credential"`
	Header     string `json:"header,omitempty"`
	Scheme     string `json:"scheme,omitempty"`
}

// Response is a brokered HTTP response.
type Response struct {
	Status    int               `json:"status"`
	Headers   map[string]string `json:"headers"`
	Body      string            `json:"body"`
	Truncated bool              `json:"truncated"`
}

// HTTP sends req through the platform's egress broker: only to the hosts
// this skill was granted, never to private or metadata addresses.
func (c *Context) HTTP(req Request) (*Response, error) {
	raw, err := json.Marshal(req)
	if err != nil {
		return nil, err
	}
	b, rc := abiHTTP(raw)
	if err := callErr(b, rc); err != nil {
		return nil, err
	}
	var resp Response
	if err := json.Unmarshal(b, &resp); err != nil {
		return nil, fmt.Errorf("%w: bad response", ErrFailed)
	}
	return &resp, nil
}

// Tool calls a declared platform tool (declaredToolAccess) with args
// marshalled as JSON and unmarshals its result into out.
func (c *Context) Tool(name string, args, out any) error {
	raw, err := json.Marshal(args)
	if err != nil {
		return err
	}
	b, rc := abiTool([]byte(name), raw)
	if err := callErr(b, rc); err != nil {
		return err
	}
	if out == nil {
		return nil
	}
	return json.Unmarshal(b, out)
}

func callErr(b []byte, rc int32) error {
	if rc >= 0 {
		return nil
	}
	var e struct {
		Error string `json:"error"`
	}
	_ = json.Unmarshal(b, &e)
	var kind error
	switch rc {
	case codeDenied:
		kind = ErrDenied
	case codeNotFound:
		kind = ErrNotFound
	case codeInvalid:
		kind = ErrInvalid
	case codeLimit:
		kind = ErrLimit
	default:
		kind = ErrFailed
	}
	if e.Error == "" {
		return kind
	}
	return fmt.Errorf("%w: %s", kind, e.Error)
}

// Run runs a skill: In is decoded from standard input, Out encoded to
// standard output. It does not return.
func Run[In, Out any](h func(c *Context, in In) (Out, error)) {
	os.Exit(run(os.Stdin, os.Stdout, h))
}

func run[In, Out any](r io.Reader, w io.Writer, h func(c *Context, in In) (Out, error)) int {
	var in In
	dec := json.NewDecoder(io.LimitReader(r, 16<<20))
	if err := dec.Decode(&in); err != nil {
		writeError(w, "input is not valid JSON for this skill")
		return 1
	}
	out, err := h(&Context{}, in)
	if err != nil {
		writeError(w, err.Error())
		return 1
	}
	if err := json.NewEncoder(w).Encode(out); err != nil {
		return 1
	}
	return 0
}

func writeError(w io.Writer, msg string) {
	_ = json.NewEncoder(w).Encode(map[string]string{"error": msg})
}
