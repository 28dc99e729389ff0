package sandbox

import "context"

// ContainerRuntime runs container skills (native programs and scripts):
// Container is the bubblewrap backend, Docker the Docker Engine backend.
// Both enforce the same confinement and limits, serve the same broker and
// classify their outcomes alike, so a skill behaves the same on either.
type ContainerRuntime interface {
	Run(ctx context.Context, program []byte, ex Exec, lim ContainerLimits) Outcome
	// Describe names the backend and what it runs on, for the start-up log.
	Describe() string
}

var (
	_ ContainerRuntime = (*Container)(nil)
	_ ContainerRuntime = (*Docker)(nil)
)
