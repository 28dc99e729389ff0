package sandbox

import (
	"archive/tar"
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"

	cerrdefs "github.com/containerd/errdefs"
	"github.com/komand-ai/komand/internal/egress"
	"github.com/moby/moby/api/pkg/stdcopy"
	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/api/types/mount"
	"github.com/moby/moby/client"
)

// Docker runs container skills through a Docker Engine, with the same
// confinement as the bubblewrap runtime (Container), each rule set
// through the Engine API when the container is created:
//
//   - No network: NetworkMode "none" (a network namespace with only lo).
//     The platform's services and brokered egress are the same
//     per-execution broker, a unix socket bind-mounted at /run/komand and
//     reachable only by the sandbox user.
//   - User 65534:65534, CapDrop ALL, no-new-privileges, and a seccomp
//     profile of the same deny list as the bubblewrap filter
//     (seccompProfile); not privileged, no devices added.
//   - A read-only root: an image of empty mount points (imported once
//     from a tar made here, never pulled), the host's /usr bound
//     read-only, the program read-only at /skill/main, /sys masked, and
//     only /tmp writable: a tmpfs (nosuid, nodev, noexec) of at most the
//     memory limit, charged to the container's memory cgroup.
//   - Private PID, IPC (without /dev/shm), UTS and cgroup namespaces.
//   - Memory = MemorySwap = the execution's limit (no swap; an OOM kill is
//     "memory"), NanoCPUs from limits.cpus, PidsLimit from
//     limits.maxProcesses, core dumps off, no log driver (the skill's
//     output is never written to the engine's disk).
//   - The wall-clock timeout and the stdout cap kill the container; every
//     container is removed on every path (exit, timeout, kill, error).
//     Each carries a deadline label, and start-up removes containers past
//     theirs, left by a server that died mid-execution, and schedules the
//     others' removal at theirs (a container outlives its server).
//
// The engine must run on this host (Sandbox__DockerHost is a unix
// socket): the program and the broker are bind-mounted from TempDir. An
// engine that remaps users (userns-remap, rootless) is refused, since
// uid 65534 inside would not be the owner of the broker's socket.
//
// The client is the engine's own Go module (github.com/moby/moby/client),
// which negotiates the API version (1.41 for Engine 20.10); it brings
// OpenTelemetry's HTTP instrumentation with it, which stays a no-op here.
// The engine's PID namespace makes the skill PID 1 (no init process);
// peak memory is not reported (the engine removes the cgroup at exit).
type Docker struct {
	cli     *client.Client
	host    string
	image   string
	engine  string
	maxMem  uint64
	egress  *egress.Broker
	tempDir string
	sem     chan struct{}
	seccomp string
	// instance labels this backend's containers, so that what one
	// process counts as its own is not another's (several servers or
	// test processes may share an engine).
	instance string

	// removeAt schedules the removal of a container another process left
	// running (removeLater; tests record the calls instead).
	removeAt func(id string, at time.Time)
	mu       sync.Mutex
	closed   bool
	timers   []*time.Timer
}

// DockerOptions configure the Docker backend.
type DockerOptions struct {
	Host          string // default DefaultDockerHost
	TempDir       string // reachable (o+x) by uid 65534; bind-mounted from
	MaxConcurrent int
	Egress        *egress.Broker
	// MaxMemory is the platform maximum per execution (default 1 GiB).
	MaxMemory uint64

	removeAt func(d *Docker, id string, at time.Time) // tests; default Docker.removeLater
}

// DefaultDockerHost is the engine's usual socket.
const DefaultDockerHost = "unix:///var/run/docker.sock"

const (
	dockerLabel         = "komand.sandbox"
	dockerDeadlineLabel = "komand.deadline"
	dockerInstanceLabel = "komand.instance"
	dockerImageRepo     = "komand/sandbox-root"
	// dockerGrace bounds the engine calls around an execution (create,
	// kill, inspect, remove) beyond its own timeout.
	dockerGrace = 30 * time.Second
)

// NewDocker connects to the engine, checks it can run the sandbox and
// prepares its root image. An engine that cannot be reached or used is an
// ErrContainerUnavailable saying why.
func NewDocker(ctx context.Context, o DockerOptions) (*Docker, error) {
	if o.Host == "" {
		o.Host = DefaultDockerHost
	}
	unavailable := func(format string, a ...any) error {
		return &ErrContainerUnavailable{Reason: "Docker engine at " + o.Host + ": " + fmt.Sprintf(format, a...)}
	}
	if !strings.HasPrefix(o.Host, "unix:///") {
		return nil, unavailable("must be a local unix socket (unix:///path): the program and the broker are bind-mounted from this host")
	}
	profile, err := seccompProfile()
	if err != nil {
		return nil, &ErrContainerUnavailable{Reason: "seccomp profile: " + err.Error()}
	}
	if err := containerDefaults(&o.MaxConcurrent, &o.TempDir); err != nil {
		return nil, err
	}
	// Each execution hands its broker directory to the sandbox user, which
	// takes root: fail now rather than at every execution.
	probe, err := os.MkdirTemp(o.TempDir, "komand-ctr-")
	if err != nil {
		return nil, &ErrContainerUnavailable{Reason: err.Error()}
	}
	err = os.Chown(probe, sandboxUID, sandboxUID)
	os.Remove(probe)
	if err != nil {
		return nil, &ErrContainerUnavailable{Reason: fmt.Sprintf("cannot give uid %d its broker directory (%v): run as root", sandboxUID, err)}
	}
	if o.MaxMemory == 0 {
		o.MaxMemory = DefaultMaxMemory
	}
	cli, err := client.New(client.WithHost(o.Host))
	if err != nil {
		return nil, unavailable("%v", err)
	}
	ctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	fail := func(err error) (*Docker, error) {
		cli.Close()
		return nil, err
	}
	if _, err := cli.Ping(ctx, client.PingOptions{NegotiateAPIVersion: true}); err != nil {
		return fail(unavailable("not reachable: %v", err))
	}
	info, err := cli.Info(ctx, client.InfoOptions{})
	if err != nil {
		return fail(unavailable("%v", err))
	}
	if info.Info.OSType != "linux" {
		return fail(unavailable("runs %s containers, not linux", info.Info.OSType))
	}
	for _, opt := range info.Info.SecurityOptions {
		if strings.Contains(opt, "name=userns") || strings.Contains(opt, "name=rootless") {
			return fail(unavailable("remaps users (%s): uid 65534 in the container would not own the broker's socket", opt))
		}
	}
	d := &Docker{cli: cli, host: o.Host, maxMem: o.MaxMemory, egress: o.Egress, tempDir: o.TempDir,
		sem: make(chan struct{}, o.MaxConcurrent), seccomp: profile, instance: rand.Text(),
		engine: fmt.Sprintf("Docker Engine %s, API %s", info.Info.ServerVersion, cli.ClientVersion())}
	d.removeAt = d.removeLater
	if o.removeAt != nil {
		d.removeAt = func(id string, at time.Time) { o.removeAt(d, id, at) }
	}
	if d.image, err = ensureRootImage(ctx, cli); err != nil {
		return fail(unavailable("root image: %v", err))
	}
	if err := d.sweep(ctx); err != nil {
		return fail(unavailable("removing expired sandbox containers: %v", err))
	}
	return d, nil
}

// Describe names the backend.
func (d *Docker) Describe() string { return d.engine + " at " + d.host }

// Close stops the scheduled removals and releases the client's
// connections.
func (d *Docker) Close() error {
	d.mu.Lock()
	d.closed = true
	for _, t := range d.timers {
		t.Stop()
	}
	d.timers = nil
	d.mu.Unlock()
	return d.cli.Close()
}

// removeLater removes container id at time at (see sweep).
func (d *Docker) removeLater(id string, at time.Time) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.closed {
		return
	}
	d.timers = append(d.timers, time.AfterFunc(time.Until(at), func() { d.remove(id) }))
}

// rootImageTar is the container's root: the mount points of the
// bubblewrap layout and its /bin, /sbin, /lib, /lib64 links into /usr, no
// files. It is the same bytes every time, so its digest names the image.
func rootImageTar() []byte {
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	epoch := time.Unix(0, 0)
	for _, d := range []string{"dev", "etc", "proc", "run", "run/komand", "skill", "sys", "tmp", "usr"} {
		mode := int64(0o755)
		if d == "tmp" {
			mode = 0o1777 // the engine gives the tmpfs the image's mode
		}
		tw.WriteHeader(&tar.Header{Typeflag: tar.TypeDir, Name: d + "/", Mode: mode, ModTime: epoch, Format: tar.FormatPAX})
	}
	for _, l := range [][2]string{{"bin", "usr/bin"}, {"sbin", "usr/sbin"}, {"lib", "usr/lib"}, {"lib64", "usr/lib64"}} {
		tw.WriteHeader(&tar.Header{Typeflag: tar.TypeSymlink, Name: l[0], Linkname: l[1], Mode: 0o777, ModTime: epoch, Format: tar.FormatPAX})
	}
	tw.Close()
	return buf.Bytes()
}

// ensureRootImage imports the root image unless the engine has it; no
// registry is ever asked.
func ensureRootImage(ctx context.Context, cli *client.Client) (string, error) {
	root := rootImageTar()
	sum := sha256.Sum256(root)
	ref := dockerImageRepo + ":" + hex.EncodeToString(sum[:8])
	if _, err := cli.ImageInspect(ctx, ref); err == nil {
		return ref, nil
	} else if !cerrdefs.IsNotFound(err) {
		return "", err
	}
	res, err := cli.ImageImport(ctx, client.ImageImportSource{Source: bytes.NewReader(root), SourceName: "-"}, ref, client.ImageImportOptions{})
	if err != nil {
		return "", err
	}
	defer res.Close()
	// The reply is a stream of JSON messages; a failure is one of them.
	dec := json.NewDecoder(io.LimitReader(res, 1<<20))
	for {
		var m struct {
			Error string `json:"error"`
		}
		if err := dec.Decode(&m); err == io.EOF {
			break
		} else if err != nil {
			return "", err
		}
		if m.Error != "" {
			return "", errors.New(m.Error)
		}
	}
	if _, err := cli.ImageInspect(ctx, ref); err != nil {
		return "", err
	}
	return ref, nil
}

// sweep removes sandbox containers past their deadline: left behind by a
// server that stopped mid-execution. One whose deadline is ahead is
// another replica's execution, or one of a server that stopped moments
// ago (a restart): unlike bubblewrap's, a container does not die with the
// process that started it, and no later sweep would see it, so it is
// removed at its deadline, by when a live owner has removed it itself.
func (d *Docker) sweep(ctx context.Context) error {
	list, err := d.cli.ContainerList(ctx, client.ContainerListOptions{All: true, Filters: make(client.Filters).Add("label", dockerLabel)})
	if err != nil {
		return err
	}
	now := time.Now().Unix()
	for _, c := range list.Items {
		dl, err := strconv.ParseInt(c.Labels[dockerDeadlineLabel], 10, 64)
		if err == nil && dl >= now {
			d.removeAt(c.ID, time.Unix(dl, 0))
			continue
		}
		if _, err := d.cli.ContainerRemove(ctx, c.ID, client.ContainerRemoveOptions{Force: true}); err != nil && !cerrdefs.IsNotFound(err) {
			return err
		}
	}
	return nil
}

// maskedPaths are the engine's default masked paths plus all of /sys and
// /etc (the bubblewrap layout has neither; the engine's /etc/hosts,
// /etc/hostname and /etc/resolv.conf, the host's name servers, are
// hidden with it).
var maskedPaths = []string{"/proc/asound", "/proc/acpi", "/proc/kcore", "/proc/keys", "/proc/latency_stats",
	"/proc/timer_list", "/proc/timer_stats", "/proc/sched_debug", "/proc/scsi", "/sys", "/etc"}

// createRequest is the container's configuration: the whole confinement.
func (d *Docker) createRequest(x *execDir, mem uint64, lim ContainerLimits, deadline time.Time) (*container.Config, *container.HostConfig) {
	pids := int64(lim.MaxPIDs)
	cfg := &container.Config{
		Image:        d.image,
		Cmd:          []string{"/skill/main"},
		User:         fmt.Sprintf("%d:%d", sandboxUID, sandboxUID),
		Hostname:     "skill",
		WorkingDir:   "/tmp",
		Env:          []string{"PATH=/usr/bin:/bin", "HOME=/tmp", "TMPDIR=/tmp", "KOMAND_SOCKET=/run/komand/komand.sock"},
		AttachStdin:  true,
		AttachStdout: true,
		AttachStderr: true,
		OpenStdin:    true,
		StdinOnce:    true,
		Labels: map[string]string{dockerLabel: "skill", dockerDeadlineLabel: strconv.FormatInt(deadline.Unix(), 10),
			dockerInstanceLabel: d.instance},
	}
	hc := &container.HostConfig{
		NetworkMode:    "none",
		LogConfig:      container.LogConfig{Type: "none"},
		RestartPolicy:  container.RestartPolicy{Name: container.RestartPolicyDisabled},
		CapDrop:        []string{"ALL"},
		SecurityOpt:    []string{"no-new-privileges:true", "seccomp=" + d.seccomp},
		Privileged:     false,
		ReadonlyRootfs: true,
		IpcMode:        container.IPCModeNone,
		CgroupnsMode:   container.CgroupnsModePrivate,
		Init:           new(bool),
		Mounts: []mount.Mount{
			{Type: mount.TypeBind, Source: "/usr", Target: "/usr", ReadOnly: true, BindOptions: &mount.BindOptions{Propagation: mount.PropagationRPrivate}},
			{Type: mount.TypeBind, Source: x.skillDir, Target: "/skill", ReadOnly: true, BindOptions: &mount.BindOptions{Propagation: mount.PropagationRPrivate}},
			{Type: mount.TypeBind, Source: x.runDir, Target: "/run/komand", BindOptions: &mount.BindOptions{Propagation: mount.PropagationRPrivate}},
		},
		Tmpfs:       map[string]string{"/tmp": fmt.Sprintf("rw,nosuid,nodev,noexec,size=%d,mode=1777", mem)},
		MaskedPaths: maskedPaths,
		Resources: container.Resources{
			Memory:     int64(mem),
			MemorySwap: int64(mem),
			NanoCPUs:   int64(lim.CPUs * 1e9),
			PidsLimit:  &pids,
			Ulimits:    []*container.Ulimit{{Name: "core", Soft: 0, Hard: 0}},
		},
	}
	return cfg, hc
}

// Run executes program once with ex's input and limits.
func (d *Docker) Run(ctx context.Context, program []byte, ex Exec, lim ContainerLimits) Outcome {
	return timed(func() Outcome { return d.run(ctx, program, ex, lim) })
}

func (d *Docker) run(ctx context.Context, program []byte, ex Exec, lim ContainerLimits) Outcome {
	r, end, refusal := beginContainerRun(ctx, d.sem, program, ex, lim, d.maxMem)
	if refusal != nil {
		return *refusal
	}
	defer end()
	ctx, cancel, lim := r.ctx, r.cancel, r.lim
	timeout, mem, maxOut, maxErr := r.timeout, r.mem, r.maxOut, r.maxErr
	fail := startFailure
	// Engine calls that must happen whatever became of ctx (kill, wait,
	// inspect, remove) use ctl, which outlives it by the grace period.
	ctl, ctlCancel := context.WithTimeout(context.WithoutCancel(ctx), timeout+dockerGrace)
	defer ctlCancel()

	x, err := newExecDir(ctx, d.tempDir, program, ex, d.egress)
	if err != nil {
		return fail(err)
	}
	defer x.remove()

	cfg, hc := d.createRequest(x, mem, lim, time.Now().Add(timeout+2*dockerGrace))
	created, err := d.cli.ContainerCreate(ctl, client.ContainerCreateOptions{Config: cfg, HostConfig: hc, Name: "komand-skill-" + randomID()})
	if err != nil {
		return fail(err)
	}
	id := created.ID
	defer d.remove(id)

	att, err := d.cli.ContainerAttach(ctl, id, client.ContainerAttachOptions{Stream: true, Stdin: true, Stdout: true, Stderr: true})
	if err != nil {
		return fail(err)
	}
	defer att.Close()
	wait := d.cli.ContainerWait(ctl, id, client.ContainerWaitOptions{Condition: container.WaitConditionNextExit})

	stdout := &cappedWriter{max: maxOut, onOverflow: func() { cancel() }}
	stderr := &cappedWriter{max: maxErr, drop: true}
	copied := make(chan struct{})
	go func() {
		// Returns at the end of the stream, or at once past the stdout
		// cap (cappedWriter fails the write and cancels ctx).
		stdcopy.StdCopy(stdout, stderr, att.Reader)
		close(copied)
	}()
	if _, err := d.cli.ContainerStart(ctx, id, client.ContainerStartOptions{}); err != nil {
		out := Outcome{}
		if out.limited(context.Cause(ctx), false, false, maxOut, mem, timeout) {
			return out
		}
		return fail(err)
	}
	go func() {
		att.Conn.Write(ex.Input)
		att.CloseWrite() // the skill sees the end of its input
	}()

	var status int64
	var waitErr error
	select {
	case r := <-wait.Result:
		status = r.StatusCode
	case waitErr = <-wait.Error:
	case <-ctx.Done():
		// Timeout, stdout cap or cancellation: kill, then take the exit.
		// Hang up first: the engine does not report the exit while it is
		// still trying to pass on output nobody reads any more.
		att.Close()
		d.cli.ContainerKill(ctl, id, client.ContainerKillOptions{Signal: "KILL"})
		select {
		case r := <-wait.Result:
			status = r.StatusCode
		case waitErr = <-wait.Error:
		}
	}
	// The stream ends once the engine has passed on all the output; do not
	// wait on an engine that does not end it.
	select {
	case <-copied:
	case <-time.After(5 * time.Second):
	}
	att.Close()
	<-copied

	oom := false
	if st, err := d.cli.ContainerInspect(ctl, id, client.ContainerInspectOptions{}); err == nil && st.Container.State != nil {
		oom = st.Container.State.OOMKilled
	}
	hostCalls, network := x.closeBroker()
	out := Outcome{Output: stdout.bytes(), Stderr: stderr.bytes(), HostCalls: hostCalls, Network: network}
	if !out.limited(context.Cause(ctx), stdout.overflow, oom, maxOut, mem, timeout) {
		switch {
		case waitErr != nil:
			out.Reason, out.Message = ReasonCrash, "the skill crashed"
		case status != 0:
			out.ExitCode = uint32(status)
			out.Reason, out.Message = ReasonExit, fmt.Sprintf("the skill exited with status %d", status)
		}
	}
	if out.Failed() && out.Reason != ReasonExit {
		out.Output = nil
	}
	return out
}

// remove deletes the container (killing it if it still runs), whatever
// happened to the execution; a failure leaves it to the next start-up's
// sweep.
func (d *Docker) remove(id string) {
	ctx, cancel := context.WithTimeout(context.Background(), dockerGrace)
	defer cancel()
	for range 3 {
		_, err := d.cli.ContainerRemove(ctx, id, client.ContainerRemoveOptions{Force: true})
		if err == nil || cerrdefs.IsNotFound(err) || ctx.Err() != nil {
			return
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// sandboxContainers counts this backend's sandbox containers (tests).
func (d *Docker) sandboxContainers(ctx context.Context) (int, error) {
	list, err := d.cli.ContainerList(ctx, client.ContainerListOptions{All: true,
		Filters: make(client.Filters).Add("label", dockerLabel).Add("label", dockerInstanceLabel+"="+d.instance)})
	if err != nil {
		return 0, err
	}
	return len(list.Items), nil
}
