package sandbox

import (
	"context"
	"encoding/json"
	"errors"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/komand-ai/komand/internal/egress"
	"github.com/tetratelabs/wazero/api"
)

// The host module "komand" is the skill's SkillContext. Its ABI, for any
// language that targets wasip1 (all pointers and lengths are i32 offsets
// into the module's exported memory "memory"):
//
//	log(level i32, msg_ptr i32, msg_len i32)
//	    level 0 debug, 1 info, 2 warn, 3 error. At most 100 lines of
//	    4 KiB per execution; the rest is dropped.
//	config(key_ptr i32, key_len i32) -> i32
//	credential(name_ptr i32, name_len i32) -> i32
//	http_request(req_ptr i32, req_len i32) -> i32
//	    req is JSON {"method","url","headers":{},"body","auth":{"credential","header","scheme"}};
//	    the result is JSON {"status","headers":{},"body","truncated"}.
//	tool(name_ptr i32, name_len i32, args_ptr i32, args_len i32) -> i32
//	    a declared platform tool (declaredToolAccess); args and result JSON.
//	result(buf_ptr i32, buf_len i32) -> i32
//
// A call other than log and result returns n >= 0 when it succeeded: its
// result is n bytes long and waits for result(), which copies
// min(n, buf_len) bytes to buf and returns n (and forgets the result once
// it was copied whole; result(0, 0) only asks for the length). A
// negative return is an error: -1 denied, -2 not found, -3 invalid
// request, -4 failed, -5 limit reached; result() then returns the error's
// JSON {"error": "..."}, a message that is safe to show.
const hostModule = "komand"

var hostFuncs = map[string]bool{"log": true, "config": true, "credential": true, "http_request": true, "tool": true, "result": true}

// Error codes of the host ABI.
const (
	codeDenied   = -1
	codeNotFound = -2
	codeInvalid  = -3
	codeFailed   = -4
	codeLimit    = -5
)

// Per-execution host limits.
const (
	maxLogLines    = 100
	maxLogLine     = 4 << 10
	maxHostCalls   = 10000
	maxHTTPCalls   = 20
	maxHostArgs    = 1 << 20
	maxHostResult  = 4 << 20
	maxCredentials = 32
)

// Host serves what a skill may ask of the platform beyond its sandbox.
// The skill layer implements it per execution with the grants of that
// skill on that agent; every method must refuse what is not granted.
type Host interface {
	// Credential returns a granted credential's value: for the module
	// itself when host is "", or to be attached by reference to a request
	// to host (lower case, no port), when the grant allows that host.
	Credential(ctx context.Context, name, host string) (string, error)
	// Tool runs a declared platform tool.
	Tool(ctx context.Context, name string, args []byte) ([]byte, error)
	// Log takes one line of the skill's log.
	Log(ctx context.Context, level int, msg string)
}

// HostError is an error a Host returns with a code and a message safe to
// show the skill.
type HostError struct {
	Code int // codeDenied, codeNotFound, codeInvalid, codeFailed
	Msg  string
}

func (e *HostError) Error() string { return e.Msg }

// Denied, NotFound and Invalid build HostErrors for Host implementations.
func Denied(msg string) error   { return &HostError{Code: codeDenied, Msg: msg} }
func NotFound(msg string) error { return &HostError{Code: codeNotFound, Msg: msg} }
func Invalid(msg string) error  { return &HostError{Code: codeInvalid, Msg: msg} }

type execKey struct{}

// execState is one execution's host-side state. A wasip1 guest is single
// threaded, but a mutex keeps it safe regardless.
type execState struct {
	ex     Exec
	egress *egress.Broker

	calls atomic.Int64

	mu        sync.Mutex
	pending   []byte
	logs      int
	httpCalls int
	network   []egress.Call
	secrets   []string // credential values attached by reference, scrubbed from responses
	creds     int
}

func (w *WASM) instantiateHost(ctx context.Context) error {
	b := w.rt.NewHostModuleBuilder(hostModule)
	i32 := api.ValueTypeI32
	b.NewFunctionBuilder().WithGoModuleFunction(api.GoModuleFunc(hostLog), []api.ValueType{i32, i32, i32}, nil).Export("log")
	b.NewFunctionBuilder().WithGoModuleFunction(hostConfig, []api.ValueType{i32, i32}, []api.ValueType{i32}).Export("config")
	b.NewFunctionBuilder().WithGoModuleFunction(hostCredential, []api.ValueType{i32, i32}, []api.ValueType{i32}).Export("credential")
	b.NewFunctionBuilder().WithGoModuleFunction(hostHTTP, []api.ValueType{i32, i32}, []api.ValueType{i32}).Export("http_request")
	b.NewFunctionBuilder().WithGoModuleFunction(api.GoModuleFunc(hostTool), []api.ValueType{i32, i32, i32, i32}, []api.ValueType{i32}).Export("tool")
	b.NewFunctionBuilder().WithGoModuleFunction(api.GoModuleFunc(hostResult), []api.ValueType{i32, i32}, []api.ValueType{i32}).Export("result")
	_, err := b.Instantiate(ctx)
	return err
}

// state returns the execution's state, counting the call; nil when the
// execution made too many calls (or none is running: a bug).
func state(ctx context.Context) *execState {
	st, _ := ctx.Value(execKey{}).(*execState)
	if st == nil || st.calls.Add(1) > maxHostCalls {
		return nil
	}
	return st
}

// read copies n bytes at ptr out of guest memory; ok is false when the
// range is outside it or too long.
func read(m api.Module, ptr, n uint32, limit int) ([]byte, bool) {
	if int(n) > limit {
		return nil, false
	}
	b, ok := m.Memory().Read(ptr, n)
	if !ok {
		return nil, false
	}
	return append([]byte(nil), b...), true
}

// The platform services below are shared by both runtimes: the WASM host
// functions and the container's broker socket call them. Each returns a
// code (>= 0: success, the body is the result; < 0: an ABI error code, the
// body is {"error": "..."}) and a body.

func errBody(code int, msg string) (int, []byte) {
	b, _ := json.Marshal(map[string]string{"error": msg})
	return code, b
}

func errFrom(err error) (int, []byte) {
	var he *HostError
	if errors.As(err, &he) {
		return errBody(he.Code, he.Msg)
	}
	var de *egress.ErrDenied
	if errors.As(err, &de) {
		return errBody(codeDenied, de.Error())
	}
	return errBody(codeFailed, "the platform call failed")
}

func okBody(b []byte) (int, []byte) {
	if len(b) > maxHostResult {
		return errBody(codeLimit, "result too large")
	}
	return 0, b
}

func (st *execState) log(ctx context.Context, level int, msg []byte) {
	if st.ex.Host == nil {
		return
	}
	st.mu.Lock()
	st.logs++
	over := st.logs > maxLogLines
	st.mu.Unlock()
	if over {
		return
	}
	if len(msg) > maxLogLine {
		msg = msg[:maxLogLine]
	}
	st.ex.Host.Log(ctx, min(max(level, 0), 3), strings.ToValidUTF8(string(msg), "\uFFFD"))
}

func (st *execState) config(key []byte) (int, []byte) {
	v, found := st.ex.Config[string(key)]
	if !found {
		return errBody(codeNotFound, "no such configuration key")
	}
	return okBody([]byte(v))
}

func (st *execState) credential(ctx context.Context, name []byte) (int, []byte) {
	if st.ex.Host == nil {
		return errBody(codeDenied, "credential not available to this skill")
	}
	st.mu.Lock()
	st.creds++
	over := st.creds > maxCredentials
	st.mu.Unlock()
	if over {
		return errBody(codeLimit, "too many credential reads")
	}
	v, err := st.ex.Host.Credential(ctx, string(name), "")
	if err != nil {
		return errFrom(err)
	}
	return okBody([]byte(v))
}

func (st *execState) httpRequest(ctx context.Context, raw []byte) (int, []byte) {
	var req egress.Request
	if err := json.Unmarshal(raw, &req); err != nil {
		return errBody(codeInvalid, "request must be JSON")
	}
	st.mu.Lock()
	st.httpCalls++
	over := st.httpCalls > maxHTTPCalls
	st.mu.Unlock()
	if over {
		return errBody(codeLimit, "too many network requests")
	}
	if len(st.ex.AllowedHosts) == 0 || st.egress == nil {
		st.mu.Lock()
		st.network = append(st.network, egress.Call{Method: req.Method, Host: hostOf(req.URL), Denied: "no network permission"})
		st.mu.Unlock()
		return errBody(codeDenied, "network request refused: the skill has no network:outbound permission")
	}
	var auth *[2]string
	var secret string
	if req.Auth != nil {
		if st.ex.Host == nil {
			return errBody(codeDenied, "credential not available to this skill")
		}
		u, err := url.Parse(req.URL)
		if err != nil || u.Hostname() == "" {
			return errBody(codeInvalid, "invalid URL")
		}
		// The request's host: a grant bound to hosts is checked against it
		// (redirects to another host drop the credential, see Egress.Do).
		v, err := st.ex.Host.Credential(ctx, req.Auth.Credential, strings.ToLower(u.Hostname()))
		if err != nil {
			return errFrom(err)
		}
		h := req.Auth.Header
		if h == "" {
			h = "Authorization"
		}
		if !egress.HeaderAllowed(h) {
			return errBody(codeInvalid, "header not allowed")
		}
		val := v
		if req.Auth.Scheme != "" {
			val = req.Auth.Scheme + " " + v
		}
		auth, secret = &[2]string{h, val}, v
	}
	var calls []egress.Call
	resp, err := st.egress.Do(ctx, req, st.ex.AllowedHosts, auth, &calls)
	st.mu.Lock()
	st.network = append(st.network, calls...)
	st.mu.Unlock()
	if err != nil {
		return errFrom(err)
	}
	if secret != "" && len(secret) >= 4 {
		// The module never sees a credential attached by reference, even
		// when the server echoes it.
		resp.Body = strings.ReplaceAll(resp.Body, secret, "[REDACTED]")
		for k, v := range resp.Headers {
			resp.Headers[k] = strings.ReplaceAll(v, secret, "[REDACTED]")
		}
	}
	b, _ := json.Marshal(resp)
	return okBody(b)
}

func (st *execState) tool(ctx context.Context, name, args []byte) (int, []byte) {
	if st.ex.Host == nil {
		return errBody(codeDenied, "tool not declared by this skill")
	}
	out, err := st.ex.Host.Tool(ctx, string(name), args)
	if err != nil {
		return errFrom(err)
	}
	return okBody(out)
}

// reply makes a service result the pending result and returns the ABI's
// return value (the length, or the error code).
func (st *execState) reply(code int, body []byte) uint64 {
	st.mu.Lock()
	st.pending = body
	st.mu.Unlock()
	if code < 0 {
		return errCode(code)
	}
	return errCode(len(body))
}

func errCode(code int) uint64 { return uint64(uint32(int32(code))) }

func hostLog(ctx context.Context, m api.Module, stack []uint64) {
	st := state(ctx)
	if st == nil {
		return
	}
	n := min(uint32(stack[2]), maxLogLine)
	if b, ok := read(m, uint32(stack[1]), n, maxLogLine); ok {
		st.log(ctx, int(int32(stack[0])), b)
	}
}

// oneArg makes the host function of a service that takes one (ptr, len)
// argument of at most limit bytes.
func oneArg(limit int, bad string, fn func(st *execState, ctx context.Context, arg []byte) (int, []byte)) api.GoModuleFunc {
	return func(ctx context.Context, m api.Module, stack []uint64) {
		st := state(ctx)
		if st == nil {
			stack[0] = errCode(codeLimit)
			return
		}
		arg, ok := read(m, uint32(stack[0]), uint32(stack[1]), limit)
		if !ok {
			stack[0] = st.reply(errBody(codeInvalid, bad))
			return
		}
		stack[0] = st.reply(fn(st, ctx, arg))
	}
}

var (
	hostConfig     = oneArg(256, "bad key", func(st *execState, _ context.Context, key []byte) (int, []byte) { return st.config(key) })
	hostCredential = oneArg(256, "bad credential name", (*execState).credential)
	hostHTTP       = oneArg(maxHostArgs, "bad request", (*execState).httpRequest)
)

func hostTool(ctx context.Context, m api.Module, stack []uint64) {
	st := state(ctx)
	if st == nil {
		stack[0] = errCode(codeLimit)
		return
	}
	name, ok1 := read(m, uint32(stack[0]), uint32(stack[1]), 64)
	args, ok2 := read(m, uint32(stack[2]), uint32(stack[3]), maxHostArgs)
	if !ok1 || !ok2 {
		stack[0] = st.reply(errBody(codeInvalid, "bad tool call"))
		return
	}
	stack[0] = st.reply(st.tool(ctx, name, args))
}

func hostResult(ctx context.Context, m api.Module, stack []uint64) {
	st := state(ctx)
	if st == nil {
		stack[0] = errCode(codeLimit)
		return
	}
	ptr, n := uint32(stack[0]), uint32(stack[1])
	st.mu.Lock()
	p := st.pending
	if int(n) >= len(p) {
		st.pending = nil
	}
	st.mu.Unlock()
	if p == nil {
		stack[0] = errCode(codeNotFound)
		return
	}
	c := min(int(n), len(p))
	if c > 0 && !m.Memory().Write(ptr, p[:c]) {
		stack[0] = errCode(codeInvalid)
		return
	}
	stack[0] = uint64(uint32(int32(len(p))))
}

func hostOf(raw string) string {
	s := raw
	if i := strings.Index(s, "://"); i >= 0 {
		s = s[i+3:]
	}
	if i := strings.IndexAny(s, "/?#"); i >= 0 {
		s = s[:i]
	}
	if i := strings.LastIndex(s, "@"); i >= 0 {
		s = s[i+1:]
	}
	return truncateRunes(s, 100)
}

func truncateRunes(s string, n int) string {
	r := []rune(s)
	if len(r) <= n {
		return s
	}
	return string(r[:n])
}
