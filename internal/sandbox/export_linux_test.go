package sandbox

import (
	"context"
	"time"
)

// DockerContainers counts the engine's sandbox containers, running or not.
func DockerContainers(d *Docker) (int, error) { return d.sandboxContainers(context.Background()) }

// DockerImage is the root image the backend runs containers from.
func DockerImage(d *Docker) string { return d.image }

// Docker labels, for tests that plant containers.
const (
	DockerLabel         = dockerLabel
	DockerDeadlineLabel = dockerDeadlineLabel
)

// NewDockerRecordingRemovals is NewDocker that records in at, instead of
// scheduling, the removals of sandbox containers it found running: by
// container ID, the time each would be removed.
func NewDockerRecordingRemovals(ctx context.Context, o DockerOptions, at map[string]time.Time) (*Docker, error) {
	o.removeAt = func(_ *Docker, id string, when time.Time) { at[id] = when }
	return NewDocker(ctx, o)
}
