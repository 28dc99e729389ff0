package sandbox

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/komand-ai/komand/internal/egress"
)

// Container runs skills shipped as native programs or scripts in a
// bubblewrap sandbox (Debian's bubblewrap package): new user, PID, mount,
// IPC, UTS, cgroup and network namespaces (only a loopback interface),
// uid/gid 65534, every capability dropped, no_new_privs, a seccomp filter
// (seccomp_linux_amd64.go), a read-only root made of the host's /usr (no
// /etc, no /home, no /root, no /var), the program read-only at
// /skill/main, and only a fresh per-execution /tmp writable. Memory, CPU
// and process count are capped by a cgroup per execution (v1 or v2,
// whichever the host has; no cgroups means no container runtime: it fails
// closed). The platform's services are an HTTP+JSON broker on a unix
// socket at $KOMAND_SOCKET (/run/komand/komand.sock), the same services as
// the WASM host module (POST /v1/log, /v1/config, /v1/credential,
// /v1/http, /v1/tool; errors are {"error": "..."} with 403, 404, 400, 502
// or 429), so network access exists only through the same egress broker.
// The program reads its JSON input on stdin and writes its JSON output on
// stdout, as a WASM skill does.
type Container struct {
	maxMem  uint64
	bwrap   string
	cg      cgroups
	egress  *egress.Broker
	tempDir string
	sem     chan struct{}
	filter  []byte
}

// ContainerOptions configure the container runtime.
type ContainerOptions struct {
	Bwrap         string // path of bwrap; default looked up in PATH
	CgroupRoot    string // default /sys/fs/cgroup
	TempDir       string
	MaxConcurrent int
	Egress        *egress.Broker
	// MaxMemory is the platform maximum per execution (default 1 GiB).
	MaxMemory uint64
}

// ErrContainerUnavailable says this host cannot run the container
// sandbox (and why); the runtime refuses rather than run unconfined.
type ErrContainerUnavailable struct{ Reason string }

func (e *ErrContainerUnavailable) Error() string { return "container sandbox unavailable: " + e.Reason }

// NewContainer checks the host and returns the runtime.
func NewContainer(o ContainerOptions) (*Container, error) {
	bw := o.Bwrap
	if bw == "" {
		p, err := exec.LookPath("bwrap")
		if err != nil {
			return nil, &ErrContainerUnavailable{Reason: "bwrap not installed (apt-get install bubblewrap)"}
		}
		bw = p
	}
	root := o.CgroupRoot
	if root == "" {
		root = "/sys/fs/cgroup"
	}
	cg, err := detectCgroups(root)
	if err != nil {
		return nil, &ErrContainerUnavailable{Reason: err.Error()}
	}
	filter, err := seccompFilter()
	if err != nil {
		return nil, &ErrContainerUnavailable{Reason: "seccomp filter: " + err.Error()}
	}
	if err := containerDefaults(&o.MaxConcurrent, &o.TempDir); err != nil {
		return nil, err
	}
	if o.MaxMemory == 0 {
		o.MaxMemory = DefaultMaxMemory
	}
	return &Container{maxMem: o.MaxMemory, bwrap: bw, cg: cg, egress: o.Egress, tempDir: o.TempDir, sem: make(chan struct{}, o.MaxConcurrent), filter: filter}, nil
}

// CgroupVersion is "v1" or "v2".
func (c *Container) CgroupVersion() string { return c.cg.version() }

// Describe names the backend.
func (c *Container) Describe() string { return "bubblewrap, cgroups " + c.cg.version() }

// ContainerLimits are a container execution's CPU and process limits
// (memory and time come with Exec).
type ContainerLimits struct {
	CPUs    float64 // default 1
	MaxPIDs int     // default 32
}

// containerDefaults fills in both backends' defaults (16 executions at
// once, the system's temp dir) and checks that the sandbox user can reach
// the temp dir, where every execution's directory is made.
func containerDefaults(maxConcurrent *int, tempDir *string) error {
	if *maxConcurrent <= 0 {
		*maxConcurrent = 16
	}
	if *tempDir == "" {
		*tempDir = os.TempDir()
	}
	if err := reachableByNobody(*tempDir); err != nil {
		return &ErrContainerUnavailable{Reason: err.Error()}
	}
	return nil
}

// sandboxUID is the user a skill runs as (nobody).
const sandboxUID = 65534

// Run executes program once with ex's input and limits.
func (c *Container) Run(ctx context.Context, program []byte, ex Exec, lim ContainerLimits) Outcome {
	return timed(func() Outcome { return c.run(ctx, program, ex, lim) })
}

func (c *Container) run(ctx context.Context, program []byte, ex Exec, lim ContainerLimits) Outcome {
	r, end, refusal := beginContainerRun(ctx, c.sem, program, ex, lim, c.maxMem)
	if refusal != nil {
		return *refusal
	}
	defer end()
	ctx, cancel, lim := r.ctx, r.cancel, r.lim
	timeout, mem, maxOut, maxErr := r.timeout, r.mem, r.maxOut, r.maxErr
	fail := startFailure

	x, err := newExecDir(ctx, c.tempDir, program, ex, c.egress)
	if err != nil {
		return fail(err)
	}
	defer x.remove()
	skillDir, runDir := x.skillDir, x.runDir

	id := randomID()
	cgDir, err := c.cg.create(id, mem, lim.CPUs, lim.MaxPIDs)
	if err != nil {
		return fail(err)
	}
	defer c.cg.remove(cgDir)

	filterR, filterW, err := os.Pipe()
	if err != nil {
		return fail(err)
	}
	go func() {
		filterW.Write(c.filter)
		filterW.Close()
	}()
	defer filterR.Close()

	args := []string{
		// --unshare-all alone only tries the user and cgroup namespaces;
		// ask for them so bwrap fails rather than skip one.
		"--unshare-all", "--unshare-user", "--unshare-cgroup", "--disable-userns",
		"--die-with-parent", "--new-session", "--cap-drop", "ALL",
		"--hostname", "skill",
		"--ro-bind", "/usr", "/usr",
		"--symlink", "usr/bin", "/bin", "--symlink", "usr/sbin", "/sbin",
		"--symlink", "usr/lib", "/lib", "--symlink", "usr/lib64", "/lib64",
		"--proc", "/proc", "--dev", "/dev",
		// /tmp is a tmpfs of at most the memory limit, charged to the
		// execution's memory cgroup: writing it full is running out of
		// memory, not filling the host's disk.
		"--perms", "1777", "--size", strconv.FormatUint(mem, 10), "--tmpfs", "/tmp",
		"--ro-bind", skillDir, "/skill",
		"--bind", runDir, "/run/komand",
		"--clearenv", "--setenv", "PATH", "/usr/bin:/bin", "--setenv", "HOME", "/tmp", "--setenv", "TMPDIR", "/tmp",
		"--setenv", "KOMAND_SOCKET", "/run/komand/komand.sock",
		"--chdir", "/tmp",
		"--seccomp", "3",
		"--remount-ro", "/",
		"/skill/main",
	}
	// bwrap runs as the host's nobody (not as root mapped to nobody), so
	// even a kernel bug that lets the skill out of its namespaces finds an
	// unprivileged user. It starts inside the execution's cgroup: on v2
	// by clone3(CLONE_INTO_CGROUP); on v1 a fixed shell line moves itself
	// into the cgroup before it becomes bwrap. Either way no process of
	// the skill ever runs outside it.
	var cmd *exec.Cmd
	attr := &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL,
		Credential: &syscall.Credential{Uid: sandboxUID, Gid: sandboxUID, Groups: []uint32{}}}
	if fd, ok := c.cg.cgroupFD(cgDir); ok {
		defer syscall.Close(fd)
		attr.UseCgroupFD, attr.CgroupFD = true, fd
		cmd = exec.Command(c.bwrap, args...)
	} else {
		procs := c.cg.procsFiles(cgDir)
		for _, f := range procs {
			if err := os.Chown(f, sandboxUID, sandboxUID); err != nil {
				return fail(err)
			}
		}
		wrapper := append([]string{"-c", `while [ "$1" != "--" ]; do echo $$ > "$1" || exit 125; shift; done; shift; exec "$@"`, "komand-cgroup"}, procs...)
		cmd = exec.Command("/bin/sh", append(append(wrapper, "--", c.bwrap), args...)...)
	}
	cmd.Env = []string{} // nothing of the host's environment, not even its working directory
	cmd.Dir = "/"
	cmd.Stdin = bytes.NewReader(ex.Input)
	stdout := &cappedWriter{max: maxOut, onOverflow: func() { cancel() }}
	stderr := &cappedWriter{max: maxErr, drop: true}
	cmd.Stdout, cmd.Stderr = stdout, stderr
	cmd.ExtraFiles = []*os.File{filterR}
	cmd.SysProcAttr = attr
	if err := cmd.Start(); err != nil {
		return fail(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	var runErr error
	select {
	case runErr = <-done:
	case <-ctx.Done():
		// Kill the whole process group, then everything left in the
		// cgroup (a process that escaped the group cannot escape that).
		syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
		c.cg.killAll(cgDir)
		runErr = <-done
	}
	c.cg.killAll(cgDir)
	hostCalls, network := x.closeBroker()
	out := Outcome{Output: stdout.bytes(), Stderr: stderr.bytes(), PeakMemory: c.cg.peakMemory(cgDir),
		HostCalls: hostCalls, Network: network}
	if !out.limited(context.Cause(ctx), stdout.overflow, c.cg.oomKilled(cgDir), maxOut, mem, timeout) && runErr != nil {
		var ee *exec.ExitError
		if errors.As(runErr, &ee) {
			out.ExitCode = uint32(ee.ExitCode())
			if ws, ok := ee.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
				out.Reason, out.Message = ReasonCrash, "the skill was killed by signal "+ws.Signal().String()
			} else {
				out.Reason, out.Message = ReasonExit, fmt.Sprintf("the skill exited with status %d", ee.ExitCode())
			}
		} else {
			out.Reason, out.Message = ReasonCrash, "the skill crashed"
		}
	}
	if out.Failed() && out.Reason != ReasonExit {
		out.Output = nil
	}
	return out
}

// reachableByNobody checks that the sandbox user can traverse dir and its
// parents (the per-execution directories are bound from there).
func reachableByNobody(dir string) error {
	abs, err := filepath.Abs(dir)
	if err != nil {
		return err
	}
	for p := abs; ; p = filepath.Dir(p) {
		fi, err := os.Stat(p)
		if err != nil {
			return err
		}
		if fi.Mode().Perm()&0o001 == 0 {
			return fmt.Errorf("temp dir %s is not reachable by the sandbox user (%s lacks o+x)", abs, p)
		}
		if p == filepath.Dir(p) {
			return nil
		}
	}
}

// execDir is one execution's host side, shared by both container
// runtimes: the program read-only in skill/ (bound at /skill) and the
// broker's socket in run/ (bound at /run/komand). Only the sandbox user
// (and root) may connect to the socket (it is theirs, 0600): another local
// user connecting to it would get the skill's credentials.
type execDir struct {
	dir, skillDir, runDir string
	st                    *execState
	srv                   *http.Server
	open                  bool
}

// newExecDir makes the directories under tempDir and starts the broker,
// which serves until closeBroker or remove.
func newExecDir(ctx context.Context, tempDir string, program []byte, ex Exec, egress *egress.Broker) (*execDir, error) {
	dir, err := os.MkdirTemp(tempDir, "komand-ctr-")
	if err != nil {
		return nil, err
	}
	x := &execDir{dir: dir, skillDir: filepath.Join(dir, "skill"), runDir: filepath.Join(dir, "run")}
	if err := x.prepare(ctx, program, ex, egress); err != nil {
		x.remove()
		return nil, err
	}
	return x, nil
}

func (x *execDir) prepare(ctx context.Context, program []byte, ex Exec, egress *egress.Broker) error {
	for _, d := range []string{x.skillDir, x.runDir} {
		if err := os.Mkdir(d, 0o755); err != nil {
			return err
		}
	}
	if err := os.Chmod(x.dir, 0o755); err != nil {
		return err
	}
	// run/ stays root's (0711): the skill can reach its socket but not
	// write beside it, which would fill the host's disk past /tmp's cap.
	if err := os.Chmod(x.runDir, 0o711); err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(x.skillDir, "main"), program, 0o555); err != nil {
		return err
	}
	// The broker: the execution's platform services on a unix socket.
	x.st = &execState{ex: ex, egress: egress}
	sock := filepath.Join(x.runDir, "komand.sock")
	ln, err := net.Listen("unix", sock)
	if err != nil {
		return err
	}
	if err := errors.Join(os.Chown(sock, sandboxUID, sandboxUID), os.Chmod(sock, 0o600)); err != nil {
		ln.Close()
		return err
	}
	x.srv = &http.Server{Handler: brokerHandler(x.st), ReadHeaderTimeout: 5 * time.Second,
		BaseContext: func(net.Listener) context.Context { return ctx }}
	x.open = true
	go x.srv.Serve(ln)
	return nil
}

// closeBroker stops the broker (no handler appends to the network log
// after it) and returns the execution's platform calls and network log.
func (x *execDir) closeBroker() (hostCalls int, network []egress.Call) {
	if x.open {
		x.srv.Close()
		x.open = false
	}
	if x.st == nil {
		return 0, nil
	}
	x.st.mu.Lock()
	defer x.st.mu.Unlock()
	return int(x.st.calls.Load()), append([]egress.Call(nil), x.st.network...)
}

// remove stops the broker and deletes the directories.
func (x *execDir) remove() {
	x.closeBroker()
	os.RemoveAll(x.dir)
}

func randomID() string {
	var b [8]byte
	rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// brokerHandler serves the execution's platform services over HTTP.
func brokerHandler(st *execState) http.Handler {
	mux := http.NewServeMux()
	call := func(fn func(ctx context.Context, body []byte) (int, []byte)) http.HandlerFunc {
		return func(w http.ResponseWriter, r *http.Request) {
			if r.Method != http.MethodPost {
				http.Error(w, `{"error":"POST only"}`, http.StatusMethodNotAllowed)
				return
			}
			if st.calls.Add(1) > maxHostCalls {
				writeBroker(w)(errBody(codeLimit, "too many platform calls"))
				return
			}
			body, err := io.ReadAll(io.LimitReader(r.Body, maxHostArgs+1))
			if err != nil || len(body) > maxHostArgs {
				writeBroker(w)(errBody(codeInvalid, "request too large"))
				return
			}
			writeBroker(w)(fn(r.Context(), body))
		}
	}
	field := func(body []byte, name string) ([]byte, bool) {
		var m map[string]json.RawMessage
		if json.Unmarshal(body, &m) != nil {
			return nil, false
		}
		var s string
		if json.Unmarshal(m[name], &s) != nil {
			return nil, false
		}
		return []byte(s), true
	}
	mux.Handle("/v1/log", call(func(ctx context.Context, b []byte) (int, []byte) {
		var in struct {
			Level int    `json:"level"`
			Msg   string `json:"msg"`
		}
		if json.Unmarshal(b, &in) != nil {
			return errBody(codeInvalid, `log takes {"level": 0-3, "msg": "..."}`)
		}
		st.log(ctx, in.Level, []byte(in.Msg))
		return 0, []byte(`{}`)
	}))
	mux.Handle("/v1/config", call(func(ctx context.Context, b []byte) (int, []byte) {
		k, ok := field(b, "key")
		if !ok || len(k) > 256 {
			return errBody(codeInvalid, `config takes {"key": "..."}`)
		}
		code, v := st.config(k)
		if code < 0 {
			return code, v
		}
		out, _ := json.Marshal(map[string]string{"value": string(v)})
		return 0, out
	}))
	mux.Handle("/v1/credential", call(func(ctx context.Context, b []byte) (int, []byte) {
		n, ok := field(b, "name")
		if !ok || len(n) > 256 {
			return errBody(codeInvalid, `credential takes {"name": "..."}`)
		}
		code, v := st.credential(ctx, n)
		if code < 0 {
			return code, v
		}
		out, _ := json.Marshal(map[string]string{"value": string(v)})
		return 0, out
	}))
	mux.Handle("/v1/http", call(func(ctx context.Context, b []byte) (int, []byte) { return st.httpRequest(ctx, b) }))
	mux.Handle("/v1/tool", call(func(ctx context.Context, b []byte) (int, []byte) {
		var in struct {
			Name string          `json:"name"`
			Args json.RawMessage `json:"args"`
		}
		if json.Unmarshal(b, &in) != nil || len(in.Name) > 64 {
			return errBody(codeInvalid, `tool takes {"name": "...", "args": {...}}`)
		}
		return st.tool(ctx, []byte(in.Name), in.Args)
	}))
	return mux
}

func writeBroker(w http.ResponseWriter) func(code int, body []byte) {
	return func(code int, body []byte) { writeBrokerReply(w, code, body) }
}

func writeBrokerReply(w http.ResponseWriter, code int, body []byte) {
	w.Header().Set("Content-Type", "application/json")
	status := http.StatusOK
	switch code {
	case codeDenied:
		status = http.StatusForbidden
	case codeNotFound:
		status = http.StatusNotFound
	case codeInvalid:
		status = http.StatusBadRequest
	case codeLimit:
		status = http.StatusTooManyRequests
	case codeFailed:
		status = http.StatusBadGateway
	}
	w.WriteHeader(status)
	w.Write(body)
}

// cgroups is one execution's resource control, v1 or v2.
type cgroups interface {
	version() string
	create(id string, mem uint64, cpus float64, pids int) (string, error)
	procsFiles(dir string) []string
	// cgroupFD opens the cgroup for clone3(CLONE_INTO_CGROUP) (v2 only).
	cgroupFD(dir string) (int, bool)
	killAll(dir string)
	peakMemory(dir string) uint64
	oomKilled(dir string) bool
	remove(dir string)
}

func detectCgroups(root string) (cgroups, error) {
	if _, err := os.Stat(filepath.Join(root, "cgroup.controllers")); err == nil {
		ctrl, _ := os.ReadFile(filepath.Join(root, "cgroup.controllers"))
		for _, need := range []string{"memory", "pids", "cpu"} {
			if !strings.Contains(" "+string(ctrl)+" ", " "+need+" ") && !strings.Contains(string(ctrl), need) {
				return nil, fmt.Errorf("cgroup v2 without the %s controller", need)
			}
		}
		// Managing cgroups must be possible now, not fail at the first
		// execution: make our parent group and delegate the controllers.
		parent := filepath.Join(root, "komand")
		if err := os.MkdirAll(parent, 0o755); err != nil {
			return nil, fmt.Errorf("cannot create cgroups (%v): run as root or delegate a cgroup", err)
		}
		os.WriteFile(filepath.Join(root, "cgroup.subtree_control"), []byte("+memory +pids +cpu"), 0o644)
		if err := os.WriteFile(filepath.Join(parent, "cgroup.subtree_control"), []byte("+memory +pids +cpu"), 0o644); err != nil {
			return nil, fmt.Errorf("cannot enable the memory, pids and cpu controllers for %s (%v)", parent, err)
		}
		return &cgroupV2{root: root}, nil
	}
	for _, c := range []string{"memory", "pids", "cpu"} {
		if _, err := os.Stat(filepath.Join(root, c, "cgroup.procs")); err != nil {
			return nil, fmt.Errorf("no cgroup v1 %s controller at %s", c, root)
		}
	}
	v := &cgroupV1{root: root}
	// Creating our parent group proves we may manage cgroups.
	for _, c := range []string{"memory", "pids", "cpu"} {
		if err := os.MkdirAll(filepath.Join(root, c, "komand"), 0o755); err != nil {
			return nil, fmt.Errorf("cannot create cgroups (%v): run as root or delegate a cgroup", err)
		}
	}
	return v, nil
}

// cgroupV1 puts an execution in komand/<id> under the memory, pids and cpu
// hierarchies.
type cgroupV1 struct{ root string }

func (c *cgroupV1) version() string { return "v1" }

func (c *cgroupV1) path(ctrl, id string) string { return filepath.Join(c.root, ctrl, "komand", id) }

func (c *cgroupV1) create(id string, mem uint64, cpus float64, pids int) (string, error) {
	for _, ctrl := range []string{"memory", "pids", "cpu"} {
		if err := os.Mkdir(c.path(ctrl, id), 0o755); err != nil {
			c.remove(id)
			return "", err
		}
	}
	writes := []struct{ ctrl, file, val string }{
		{"memory", "memory.limit_in_bytes", strconv.FormatUint(mem, 10)},
		{"memory", "memory.swappiness", "0"},
		{"pids", "pids.max", strconv.Itoa(pids)},
		{"cpu", "cpu.cfs_period_us", "100000"},
		{"cpu", "cpu.cfs_quota_us", strconv.Itoa(int(cpus * 100000))},
	}
	for _, w := range writes {
		if err := os.WriteFile(filepath.Join(c.path(w.ctrl, id), w.file), []byte(w.val), 0o644); err != nil {
			if w.file == "memory.swappiness" {
				continue // not every kernel has it per group
			}
			c.remove(id)
			return "", fmt.Errorf("cgroup %s: %w", w.file, err)
		}
	}
	// Without swap accounting a limit on memory+swap may not exist; when it
	// does, it must match, or the skill could swap past its limit.
	if f := filepath.Join(c.path("memory", id), "memory.memsw.limit_in_bytes"); fileExists(f) {
		os.WriteFile(f, []byte(strconv.FormatUint(mem, 10)), 0o644)
	}
	return id, nil
}

func (c *cgroupV1) procsFiles(id string) []string {
	return []string{filepath.Join(c.path("memory", id), "cgroup.procs"), filepath.Join(c.path("pids", id), "cgroup.procs"),
		filepath.Join(c.path("cpu", id), "cgroup.procs")}
}

func (c *cgroupV1) cgroupFD(string) (int, bool) { return 0, false }

func (c *cgroupV1) killAll(id string) { killProcs(filepath.Join(c.path("pids", id), "cgroup.procs")) }

func (c *cgroupV1) peakMemory(id string) uint64 {
	return readUint(filepath.Join(c.path("memory", id), "memory.max_usage_in_bytes"))
}

func (c *cgroupV1) oomKilled(id string) bool {
	b, _ := os.ReadFile(filepath.Join(c.path("memory", id), "memory.oom_control"))
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "oom_kill "); ok && strings.TrimSpace(v) != "0" {
			return true
		}
	}
	return readUint(filepath.Join(c.path("memory", id), "memory.failcnt")) > 0
}

func (c *cgroupV1) remove(id string) {
	for _, ctrl := range []string{"memory", "pids", "cpu"} {
		removeCgroup(c.path(ctrl, id))
	}
}

// cgroupV2 puts an execution in komand/<id> of the unified hierarchy.
type cgroupV2 struct{ root string }

func (c *cgroupV2) version() string { return "v2" }

func (c *cgroupV2) create(id string, mem uint64, cpus float64, pids int) (string, error) {
	dir := filepath.Join(c.root, "komand", id)
	if err := os.Mkdir(dir, 0o755); err != nil {
		return "", err
	}
	for _, w := range [][2]string{{"memory.max", strconv.FormatUint(mem, 10)}, {"memory.swap.max", "0"},
		{"pids.max", strconv.Itoa(pids)}, {"cpu.max", fmt.Sprintf("%d 100000", int(cpus*100000))}} {
		if err := os.WriteFile(filepath.Join(dir, w[0]), []byte(w[1]), 0o644); err != nil && w[0] != "memory.swap.max" {
			removeCgroup(dir)
			return "", fmt.Errorf("cgroup %s: %w", w[0], err)
		}
	}
	return dir, nil
}

func (c *cgroupV2) procsFiles(dir string) []string {
	return []string{filepath.Join(dir, "cgroup.procs")}
}

func (c *cgroupV2) cgroupFD(dir string) (int, bool) {
	fd, err := syscall.Open(dir, syscall.O_DIRECTORY|syscall.O_RDONLY|syscall.O_CLOEXEC, 0)
	return fd, err == nil
}

func (c *cgroupV2) killAll(dir string) {
	if os.WriteFile(filepath.Join(dir, "cgroup.kill"), []byte("1"), 0o644) != nil {
		killProcs(filepath.Join(dir, "cgroup.procs"))
	}
}

func (c *cgroupV2) peakMemory(dir string) uint64 { return readUint(filepath.Join(dir, "memory.peak")) }

func (c *cgroupV2) oomKilled(dir string) bool {
	b, _ := os.ReadFile(filepath.Join(dir, "memory.events"))
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "oom_kill "); ok && strings.TrimSpace(v) != "0" {
			return true
		}
	}
	return false
}

func (c *cgroupV2) remove(dir string) { removeCgroup(dir) }

func killProcs(procs string) {
	for range 50 {
		b, err := os.ReadFile(procs)
		if err != nil || len(bytes.TrimSpace(b)) == 0 {
			return
		}
		for _, f := range strings.Fields(string(b)) {
			if pid, err := strconv.Atoi(f); err == nil && pid > 1 {
				syscall.Kill(pid, syscall.SIGKILL)
			}
		}
		time.Sleep(2 * time.Millisecond)
	}
}

func removeCgroup(dir string) {
	for range 100 {
		if err := os.Remove(dir); err == nil || errors.Is(err, os.ErrNotExist) {
			return
		}
		killProcs(filepath.Join(dir, "cgroup.procs"))
		time.Sleep(5 * time.Millisecond)
	}
}

func readUint(path string) uint64 {
	b, err := os.ReadFile(path)
	if err != nil {
		return 0
	}
	v, _ := strconv.ParseUint(strings.TrimSpace(string(b)), 10, 64)
	return v
}

func fileExists(p string) bool {
	_, err := os.Stat(p)
	return err == nil
}
