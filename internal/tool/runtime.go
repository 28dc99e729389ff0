package tool

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"slices"
	"sync"
	"time"

	"github.com/komand-ai/komand/internal/audit"
	"github.com/komand-ai/komand/internal/authz"
	"github.com/komand-ai/komand/internal/llm"
	"github.com/komand-ai/komand/internal/sandbox"
	"github.com/komand-ai/komand/internal/skill"
	"github.com/komand-ai/komand/internal/store"
)

// Runtime is the Executor of an agent's tools: the built-in tools plus the
// registry skills installed on the agent, run in the WASM sandbox.
//
// A skill is offered to the model, and may run, only when it is installed
// on the agent, listed in the agent's enabledSkillIds, and every permission
// its contract requires was granted at installation. Its input is checked
// against inputSchema before the sandbox starts; its output must be JSON
// matching outputSchema, is capped, stripped of control characters,
// and scrubbed of the credential values it read. The agent's turn
// (session/turn.go) screens it for prompt injection and hands it to the
// model wrapped as data, as it does every tool's output.
type Runtime struct {
	builtins *Builtins
	st       store.Skills
	sb       skill.Sandboxes
	audit    audit.Recorder
	creds    CredentialSource
	log      *slog.Logger
	now      func() time.Time

	contacts ContactLookup

	mu     sync.Mutex
	loaded map[string]*loadedSkill // tenant/skill/version
}

type loadedSkill = skill.Prepared

// NewRuntime returns the agent tool executor.
func NewRuntime(builtins *Builtins, st store.Skills, sb skill.Sandboxes, rec audit.Recorder, creds CredentialSource, log *slog.Logger, now func() time.Time) *Runtime {
	if now == nil {
		now = time.Now
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Runtime{builtins: builtins, st: st, sb: sb, audit: rec, creds: creds, log: log, now: now,
		loaded: map[string]*loadedSkill{}}
}

// ContactLookup is the CRM read path of the "database" platform tool.
type ContactLookup interface {
	Lookup(ctx context.Context, tenantID, query string, limit int) ([]store.Contact, error)
}

// SetContacts connects the "database" platform tool to the CRM.
func (r *Runtime) SetContacts(c ContactLookup) { r.contacts = c }

// installs returns the agent's installations by skill ID.
func (r *Runtime) installs(ctx context.Context, inv Invocation) (map[string]store.SkillInstall, error) {
	ins, err := r.st.ListSkillInstalls(ctx, inv.TenantID, inv.AgentID)
	if err != nil {
		return nil, err
	}
	out := make(map[string]store.SkillInstall, len(ins))
	for _, in := range ins {
		out[in.SkillID] = in
	}
	return out, nil
}

// load returns the contract, schemas and compiled module of an
// installation's version. The cache key includes the installation's last
// change: a version can only be deleted (and its number registered again)
// while uninstalled, so a reinstalled number never finds the old module.
func (r *Runtime) load(ctx context.Context, in store.SkillInstall) (*loadedSkill, error) {
	tenantID, skillID, version := in.TenantID, in.SkillID, in.Version
	key := tenantID + "/" + skillID + "/" + version + "/" + in.UpdatedAt.Format(time.RFC3339Nano)
	r.mu.Lock()
	l, ok := r.loaded[key]
	r.mu.Unlock()
	if ok {
		return l, nil
	}
	k, err := r.st.GetSkill(ctx, tenantID, skillID, version)
	if err != nil {
		return nil, err
	}
	c, err := skill.ParseContract(k.Contract)
	if err != nil {
		return nil, err
	}
	mod, err := r.st.SkillModule(ctx, tenantID, skillID, version)
	if err != nil {
		return nil, err
	}
	if l, err = skill.Prepare(ctx, r.sb, c, mod, k.IsVerified); err != nil {
		return nil, err
	}
	r.mu.Lock()
	if len(r.loaded) > 4096 {
		clear(r.loaded) // bounded; a reload is a cache hit in the compiler
	}
	r.loaded[key] = l
	r.mu.Unlock()
	return l, nil
}

// granted says whether every required permission is in the grant.
func granted(c skill.Contract, in store.SkillInstall) bool {
	missing := skill.Missing(c.RequiredPermissions, skill.DecodeGrant(in.Granted))
	return len(missing) == 0
}

// Tools lists the built-in tools and the agent's runnable skills.
func (r *Runtime) Tools(ctx context.Context, inv Invocation) []llm.Tool {
	out := r.builtins.Tools(ctx, inv)
	act, err := r.installs(ctx, inv)
	if err != nil {
		r.log.WarnContext(ctx, "listing installed skills failed; offering built-in tools only", "agent", inv.AgentID, "err", err)
		return out
	}
	ids := make([]string, 0, len(act))
	for id := range act {
		if slices.Contains(inv.EnabledSkillIDs, id) {
			ids = append(ids, id)
		}
	}
	slices.Sort(ids)
	for _, id := range ids {
		in := act[id]
		l, err := r.load(ctx, in)
		if err != nil {
			r.log.WarnContext(ctx, "installed skill not loadable; not offered", "skill", id, "version", in.Version, "err", err)
			continue
		}
		if !granted(l.Contract, in) {
			continue
		}
		out = append(out, llm.Tool{Name: id, Description: l.Contract.Description, InputSchema: l.Contract.InputSchema})
	}
	return out
}

// Run runs one tool call.
func (r *Runtime) Run(ctx context.Context, inv Invocation, call llm.ToolCall) (Result, error) {
	if r.builtins.Has(call.Name) {
		return r.builtins.Run(ctx, inv, call)
	}
	if !skill.ValidID(call.Name) {
		// Not a name a skill can have: the built-ins answer "unknown tool".
		return r.builtins.Run(ctx, inv, call)
	}
	skillID := call.Name
	act, err := r.installs(ctx, inv)
	if err != nil {
		return Result{}, err
	}
	in, ok := act[skillID]
	if !ok {
		// Not installed on this agent: an unknown tool, like any other.
		return r.builtins.Run(ctx, inv, call)
	}
	ok = slices.Contains(inv.EnabledSkillIDs, skillID)
	var l *loadedSkill
	if ok {
		if l, err = r.load(ctx, in); err != nil {
			r.log.ErrorContext(ctx, "installed skill not loadable", "skill", skillID, "err", err)
			ok = false
		}
	}
	if !ok || !granted(l.Contract, in) {
		// Installed but disabled, or not every permission granted: it was
		// never offered, so the model (or a command) asking for it is
		// refused and the refusal recorded.
		if err := r.deny(ctx, inv, skillID); err != nil {
			return Result{}, err
		}
		return errorResult("this skill is not available to this agent"), nil
	}
	base := map[string]any{"tool": skillID, "version": in.Version, "callId": truncate(call.ID, 128), "via": inv.Via,
		"runtime": l.Contract.Runtime, "verified": l.Verified}
	if err := recordTool(ctx, r.audit, audit.ToolExecutionStarted, inv, skillID, base, true); err != nil {
		return Result{}, err
	}
	fail := func(reason, msg string, extra map[string]any) (Result, error) {
		d := merge(base, extra)
		d["reason"], d["error"] = reason, msg
		if err := recordTool(ctx, r.audit, audit.ToolExecutionFailed, inv, skillID, d, false); err != nil {
			return Result{}, err
		}
		return errorResult(msg), nil
	}

	sc := NewContext(inv, skillID, r.creds)
	grant := skill.DecodeGrant(in.Granted)
	cfg := map[string]string{}
	_ = json.Unmarshal(in.Config, &cfg)
	ex := l.Execute(ctx, r.sb, skillID, call.Arguments, skill.RunOptions{Grant: grant, Config: cfg, Scrub: sc.Scrub,
		Host: &skillHost{r: r, inv: inv, sc: sc, c: l.Contract, grant: grant, skillID: skillID}})
	if len(ex.Stderr) > 0 {
		r.log.InfoContext(ctx, "skill stderr", "skill", skillID, "agent", inv.AgentID, "stderr", string(ex.Stderr))
	}
	if ex.Reason != "" {
		return fail(ex.Reason, ex.Message, ex.Usage)
	}
	d := merge(base, ex.Usage)
	d["outputBytes"] = len(ex.Output)
	if err := recordTool(ctx, r.audit, audit.ToolExecutionCompleted, inv, skillID, d, false); err != nil {
		return Result{}, err
	}
	return Result{Output: ex.Output}, nil
}

// deny records the refusal of a skill the agent may not run, through authz
// like every denial, into the turn's unit of work when there is one. It returns
// nil once the refusal is stored.
func (r *Runtime) deny(ctx context.Context, inv Invocation, skillID string) error {
	var rec audit.Recorder = r.audit
	if inv.Audit != nil {
		rec = inv.Audit
	}
	err := authz.New(audit.Denials(rec)).Refuse(ctx, authz.Denial{
		Principal: authz.Principal{TenantID: inv.TenantID, UserID: inv.UserID, Role: inv.Role, APIKeyID: inv.APIKeyID},
		Verb:      authz.Execute, Resource: authz.Skills,
		Target: authz.Target{AgentID: inv.AgentID, SessionID: inv.SessionID, SkillID: skillID},
		Reason: "skill not enabled or not every permission granted", Via: inv.Via,
	})
	if errors.Is(err, authz.ErrDenied) {
		return nil
	}
	return err
}

func errorResult(msg string) Result {
	o, _ := json.Marshal(map[string]string{"error": msg})
	return Result{Output: o, IsError: true}
}

func merge(a, b map[string]any) map[string]any {
	out := make(map[string]any, len(a)+len(b))
	for k, v := range a {
		out[k] = v
	}
	for k, v := range b {
		out[k] = v
	}
	return out
}

// skillHost is the sandbox.Host of one execution: the skill's
// SkillContext.
type skillHost struct {
	r       *Runtime
	inv     Invocation
	sc      *Context
	c       skill.Contract
	grant   []skill.Permission
	skillID string
}

func (h *skillHost) Credential(ctx context.Context, name, host string) (string, error) {
	if len(name) == 0 || len(name) > 128 {
		return "", sandbox.Denied("credential not available to this skill")
	}
	v, err := h.sc.credential(ctx, name, host)
	if err != nil {
		// Every refusal looks the same (and the vault recorded it).
		return "", sandbox.Denied("credential not available to this skill")
	}
	return v, nil
}

func (h *skillHost) Tool(ctx context.Context, name string, args []byte) ([]byte, error) {
	need, known := skill.PlatformTools[name]
	if !known || !slices.Contains(h.c.DeclaredToolAccess, name) {
		return nil, sandbox.Denied("tool not declared by this skill")
	}
	if !slices.ContainsFunc(h.grant, func(p skill.Permission) bool { return p.Covers(need) }) {
		return nil, sandbox.Denied("tool not granted to this skill")
	}
	switch name {
	case "database":
		return h.database(ctx, args)
	}
	return nil, sandbox.NotFound("tool not available on this server")
}

// database serves the "database" platform tool: a read of the tenant's
// CRM contacts. Args {"query": "...", "limit": 1-20}; the tenant is the
// execution's.
func (h *skillHost) database(ctx context.Context, args []byte) ([]byte, error) {
	if h.r.contacts == nil {
		return nil, sandbox.NotFound("tool not available on this server")
	}
	var in struct {
		Query string `json:"query"`
		Limit int    `json:"limit"`
	}
	dec := json.NewDecoder(bytes.NewReader(args))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&in); err != nil || len(in.Query) > 200 || in.Limit < 0 || in.Limit > 20 {
		return nil, sandbox.Invalid(`database takes {"query": "<at most 200 characters>", "limit": 1-20}`)
	}
	cs, err := h.r.contacts.Lookup(ctx, h.inv.TenantID, in.Query, in.Limit)
	if err != nil {
		return nil, err
	}
	type contact struct {
		ID      string `json:"id"`
		Name    string `json:"name"`
		Email   string `json:"email,omitempty"`
		Phone   string `json:"phone,omitempty"`
		Company string `json:"company,omitempty"`
		Notes   string `json:"notes,omitempty"`
	}
	out := struct {
		Contacts []contact `json:"contacts"`
	}{Contacts: []contact{}}
	for _, c := range cs {
		out.Contacts = append(out.Contacts, contact{c.ID, c.Name, c.Email, c.Phone, c.Company, c.Notes})
	}
	return json.Marshal(out)
}

func (h *skillHost) Log(ctx context.Context, level int, msg string) {
	lv := []slog.Level{slog.LevelDebug, slog.LevelInfo, slog.LevelWarn, slog.LevelError}[level]
	h.r.log.Log(ctx, lv, "skill log", "skill", h.skillID, "agent", h.inv.AgentID, "session", h.inv.SessionID,
		"msg", string(h.sc.Scrub(skill.CleanText([]byte(msg), 4096))))
}

// ToolInfo is what the prompt-injection defense needs to know of a tool.
type ToolInfo struct {
	// Consequential: the tool changes something or reaches the network (a
	// registry skill granted write or network access, or the memory_store
	// built-in, which the agent reads back in later turns). Such a call in
	// a turn that holds untrusted content waits for an Admin.
	Consequential bool
	// External: the output carries content fetched from outside (the
	// skill was granted network:outbound); it is screened as external data
	// rather than as skill output.
	External bool
}

// Describer is an Executor that can describe its tools.
type Describer interface {
	Describe(ctx context.Context, inv Invocation, name string) ToolInfo
}

// consequentialBuiltins are the built-in tools that write.
var consequentialBuiltins = map[string]bool{"memory_store": true}

// Describe describes the built-in tool name (an unknown one is neither).
func (b *Builtins) Describe(_ context.Context, _ Invocation, name string) ToolInfo {
	return ToolInfo{Consequential: consequentialBuiltins[name]}
}

// Describe describes tool name as it would run for inv. When the agent's
// installations cannot be read the tool counts as consequential (it is
// held rather than run unchecked).
func (r *Runtime) Describe(ctx context.Context, inv Invocation, name string) ToolInfo {
	if r.builtins.Has(name) || !skill.ValidID(name) {
		return r.builtins.Describe(ctx, inv, name)
	}
	act, err := r.installs(ctx, inv)
	if err != nil {
		return ToolInfo{Consequential: true, External: true}
	}
	in, ok := act[name]
	if !ok {
		return ToolInfo{}
	}
	grant := skill.DecodeGrant(in.Granted)
	return ToolInfo{Consequential: skill.Consequential(grant),
		External: slices.ContainsFunc(grant, func(p skill.Permission) bool { return p.Resource == "network" })}
}
