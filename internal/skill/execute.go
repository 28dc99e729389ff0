package skill

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/santhosh-tekuri/jsonschema/v6"

	"github.com/komand-ai/komand/internal/apperr"
	"github.com/komand-ai/komand/internal/egress"
	"github.com/komand-ai/komand/internal/sandbox"
)

// Bounds of one execution, the same on the server and in `komand skill run`.
const (
	MaxArgumentBytes = 128 * 1024 // a tool call's JSON arguments
	MaxResultBytes   = 64 << 10   // a skill's output as the model sees it
)

// Prepared is one skill version ready to run: its contract, compiled
// schemas and compiled module. The server (tool.Runtime) and `komand skill run`
// both execute through it, so a skill author sees exactly what the server
// does.
type Prepared struct {
	Contract Contract
	Verified bool
	in, out  *jsonschema.Schema
	mod      *sandbox.Module // wasm
	program  []byte          // container
}

// Sandboxes are the runtimes a skill may run in; Container (bubblewrap or
// Docker) is nil when the deployment did not enable it (Sandbox__Container).
type Sandboxes struct {
	WASM      *sandbox.WASM
	Container sandbox.ContainerRuntime
}

// ErrContainerDisabled refuses container skills on a server without the
// container runtime.
var ErrContainerDisabled = apperr.New(apperr.Invalid, "container skills are not enabled on this server (Sandbox__Container)")

// CheckProgram refuses a container program that is neither an ELF
// executable nor a script with a #! line.
func CheckProgram(b []byte) error {
	if len(b) == 0 || len(b) > sandbox.MaxModuleBytes {
		return apperr.New(apperr.Invalid, "the skill program is empty or too large")
	}
	if !bytes.HasPrefix(b, []byte("\x7fELF")) && !bytes.HasPrefix(b, []byte("#!/")) {
		return apperr.New(apperr.Invalid, "a container skill is a Linux executable (ELF) or a script starting with #!/")
	}
	return nil
}

// Prepare compiles c's schemas and module (or checks its program).
func Prepare(ctx context.Context, sb Sandboxes, c Contract, module []byte, verified bool) (*Prepared, error) {
	p := &Prepared{Contract: c, Verified: verified}
	var err error
	if p.in, err = compileSchema(c.InputSchema); err != nil {
		return nil, fmt.Errorf("inputSchema: %w", err)
	}
	if p.out, err = compileSchema(c.OutputSchema); err != nil {
		return nil, fmt.Errorf("outputSchema: %w", err)
	}
	if c.Runtime == RuntimeContainer {
		if sb.Container == nil {
			return nil, ErrContainerDisabled
		}
		if err := CheckProgram(module); err != nil {
			return nil, err
		}
		p.program = module
		return p, nil
	}
	if p.mod, err = sb.WASM.Compile(ctx, module); err != nil {
		var ie *sandbox.ErrInvalidModule
		if errors.As(err, &ie) {
			return nil, apperr.New(apperr.Invalid, ie.Error())
		}
		return nil, err
	}
	return p, nil
}

// RunOptions are one execution's grants and settings.
type RunOptions struct {
	Grant  []Permission
	Config map[string]string
	Host   sandbox.Host
	// Scrub removes the credential values the run read (Context.Scrub).
	Scrub func([]byte) []byte
	// Timeout and MemoryBytes override the contract's limits (komand skill run).
	Timeout     time.Duration
	MemoryBytes uint64
}

// Execution is one run's outcome. On success Output is what the model
// sees (the data, wrapped) and Data the validated output itself; on
// failure Reason and Message say why (Message is safe to show).
type Execution struct {
	Output  []byte
	Data    []byte
	Reason  string
	Message string
	Usage   map[string]any
	Stderr  []byte
	Sandbox sandbox.Outcome
}

// Execute validates args, runs the module once in a fresh sandbox and
// checks its output.
func (p *Prepared) Execute(ctx context.Context, sb Sandboxes, skillID string, args json.RawMessage, o RunOptions) Execution {
	scrub := o.Scrub
	if scrub == nil {
		scrub = func(b []byte) []byte { return b }
	}
	if len(bytes.TrimSpace(args)) == 0 {
		args = json.RawMessage(`{}`)
	}
	if len(args) > MaxArgumentBytes {
		return Execution{Reason: "schema", Message: "the arguments are too large"}
	}
	inst, err := jsonschema.UnmarshalJSON(bytes.NewReader(args))
	if err != nil {
		return Execution{Reason: "schema", Message: "the arguments are not valid JSON"}
	}
	if err := p.in.Validate(inst); err != nil {
		return Execution{Reason: "schema", Message: "the arguments do not match the skill's input schema: " + schemaProblem(err)}
	}
	timeout := time.Duration(p.Contract.Limits.TimeoutSeconds) * time.Second
	if o.Timeout > 0 {
		timeout = o.Timeout
	}
	if timeout <= 0 {
		timeout = DefaultTimeout * time.Second
	}
	memory := uint64(p.Contract.Limits.MemoryMB) << 20
	if o.MemoryBytes > 0 {
		memory = o.MemoryBytes
	}
	sx := sandbox.Exec{Input: args, Timeout: timeout, MemoryBytes: memory,
		AllowedHosts: AllowedHosts(o.Grant), Config: o.Config, Host: o.Host}
	var out sandbox.Outcome
	if p.program != nil {
		if sb.Container == nil {
			return Execution{Reason: "crash", Message: "container skills are not enabled on this server"}
		}
		out = sb.Container.Run(ctx, p.program, sx, sandbox.ContainerLimits{CPUs: p.Contract.Limits.CPUs, MaxPIDs: p.Contract.Limits.MaxProcesses})
	} else {
		out = sb.WASM.Run(ctx, p.mod, sx)
	}
	ex := Execution{Sandbox: out, Usage: map[string]any{"durationMs": out.Duration.Milliseconds(), "peakMemoryBytes": out.PeakMemory,
		"hostCalls": out.HostCalls, "network": networkDetails(out.Network)}}
	if len(out.Stderr) > 0 {
		ex.Stderr = scrub(CleanText(out.Stderr, 2048))
	}
	if out.Failed() {
		ex.Reason, ex.Message = string(out.Reason), out.Message
		if out.Reason == sandbox.ReasonExit {
			if m := skillMessage(out.Output); m != "" {
				ex.Message = "the skill failed: " + string(scrub([]byte(m)))
			}
			ex.Usage["exitCode"] = out.ExitCode
		}
		return ex
	}
	ex.Data, ex.Reason, ex.Message = p.check(out.Output, scrub)
	if ex.Reason != "" {
		return ex
	}
	// The agent's tool loop hands it to the model inside a data block
	// with a random boundary (injection.WrapData), like every tool output.
	ex.Output = ex.Data
	return ex
}

// check turns a skill's raw output into clean data, or a failure reason
// and message: one JSON value, control characters stripped, credential
// values scrubbed, matching outputSchema, within MaxResultBytes.
func (p *Prepared) check(raw []byte, scrub func([]byte) []byte) ([]byte, string, string) {
	var v any
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	if err := dec.Decode(&v); err != nil || dec.More() {
		return nil, "invalid_output", "the skill's output is not one JSON value"
	}
	v = stripControl(v)
	clean, _ := json.Marshal(v)
	// Scrub before validating, so a schema error message cannot echo a
	// credential either.
	clean = scrub(clean)
	inst, err := jsonschema.UnmarshalJSON(bytes.NewReader(clean))
	if err != nil {
		return nil, "invalid_output", "the skill's output is not valid JSON"
	}
	if err := p.out.Validate(inst); err != nil {
		return nil, "schema", "the skill's output does not match its output schema"
	}
	if len(clean) > MaxResultBytes {
		return nil, "output_limit", fmt.Sprintf("the skill's output is larger than %d bytes", MaxResultBytes)
	}
	return clean, "", ""
}

func networkDetails(calls []egress.Call) []map[string]any {
	out := make([]map[string]any, 0, len(calls))
	for _, c := range calls {
		m := map[string]any{"method": c.Method, "host": c.Host}
		if c.Status != 0 {
			m["status"] = c.Status
		}
		if c.Bytes != 0 {
			m["bytes"] = c.Bytes
		}
		if c.Denied != "" {
			m["denied"] = c.Denied
		}
		if c.Redirect {
			m["redirect"] = true
		}
		out = append(out, m)
	}
	return out
}

// skillMessage is the "error" of a failed skill's {"error": "..."} output.
func skillMessage(out []byte) string {
	var e struct {
		Error string `json:"error"`
	}
	if json.Unmarshal(out, &e) != nil {
		return ""
	}
	return string(CleanText([]byte(e.Error), 300))
}

// CleanText is b as valid UTF-8 without control or invisible format
// characters (newlines and tabs become spaces), at most n bytes.
func CleanText(b []byte, n int) []byte {
	s := strings.ToValidUTF8(string(b), "\uFFFD")
	s = strings.Map(func(r rune) rune {
		switch {
		case r == '\n' || r == '\t' || r == '\r':
			return ' '
		case unicode.IsControl(r) || unicode.Is(unicode.Cf, r):
			return -1
		}
		return r
	}, s)
	if len(s) > n {
		s = s[:n]
		for !utf8.ValidString(s) {
			s = s[:len(s)-1]
		}
	}
	return []byte(s)
}

// stripControl removes control and invisible format characters (zero
// width, bidi overrides) from every string, keys and values, of a decoded
// JSON value; newlines and tabs stay.
func stripControl(v any) any {
	clean := func(s string) string {
		return strings.Map(func(r rune) rune {
			if r == '\n' || r == '\t' {
				return r
			}
			if unicode.IsControl(r) || unicode.Is(unicode.Cf, r) {
				return -1
			}
			return r
		}, s)
	}
	switch x := v.(type) {
	case string:
		return clean(x)
	case []any:
		for i := range x {
			x[i] = stripControl(x[i])
		}
		return x
	case map[string]any:
		out := make(map[string]any, len(x))
		for k, e := range x {
			out[clean(k)] = stripControl(e)
		}
		return out
	}
	return v
}

// schemaProblem is a short description of a validation error, without the
// offending value.
func schemaProblem(err error) string {
	var ve *jsonschema.ValidationError
	if errors.As(err, &ve) {
		for len(ve.Causes) > 0 {
			ve = ve.Causes[0]
		}
		return truncate("at /"+strings.Join(ve.InstanceLocation, "/"), 120)
	}
	return "invalid"
}
