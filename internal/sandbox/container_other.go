//go:build !linux

package sandbox

import (
	"context"

	"github.com/komand-ai/komand/internal/egress"
)

// Container is the bubblewrap runtime; it exists on Linux only.
type Container struct{}

// ContainerOptions configure the container runtime.
type ContainerOptions struct {
	Bwrap         string
	CgroupRoot    string
	TempDir       string
	MaxConcurrent int
	Egress        *egress.Broker
	MaxMemory     uint64
}

// ContainerLimits are a container execution's CPU and process limits.
type ContainerLimits struct {
	CPUs    float64
	MaxPIDs int
}

// ErrContainerUnavailable says this host cannot run the container sandbox.
type ErrContainerUnavailable struct{ Reason string }

func (e *ErrContainerUnavailable) Error() string { return "container sandbox unavailable: " + e.Reason }

// NewContainer reports that the container sandbox needs Linux.
func NewContainer(o ContainerOptions) (*Container, error) {
	return nil, &ErrContainerUnavailable{Reason: "needs Linux namespaces, seccomp and cgroups"}
}

// CgroupVersion is empty off Linux.
func (c *Container) CgroupVersion() string { return "" }

// Run never runs anything off Linux.
func (c *Container) Run(ctx context.Context, program []byte, ex Exec, lim ContainerLimits) Outcome {
	return Outcome{Reason: ReasonCrash, Message: "the container sandbox needs Linux"}
}

// Describe names the backend.
func (c *Container) Describe() string { return "bubblewrap" }

// Docker is the Docker Engine runtime; it exists on Linux only.
type Docker struct{}

// DockerOptions configure the Docker backend.
type DockerOptions struct {
	Host          string
	TempDir       string
	MaxConcurrent int
	Egress        *egress.Broker
	MaxMemory     uint64
}

// DefaultDockerHost is the engine's usual socket.
const DefaultDockerHost = "unix:///var/run/docker.sock"

// NewDocker reports that the Docker backend needs a Linux server.
func NewDocker(ctx context.Context, o DockerOptions) (*Docker, error) {
	return nil, &ErrContainerUnavailable{Reason: "the Docker backend needs a Linux server"}
}

// Describe names the backend.
func (d *Docker) Describe() string { return "Docker" }

// Close does nothing off Linux.
func (d *Docker) Close() error { return nil }

// Run never runs anything off Linux.
func (d *Docker) Run(ctx context.Context, program []byte, ex Exec, lim ContainerLimits) Outcome {
	return Outcome{Reason: ReasonCrash, Message: "the Docker backend needs Linux"}
}
