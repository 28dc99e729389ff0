package sandbox

import "context"

// DockerContainers counts the engine's sandbox containers, running or not.
func DockerContainers(d *Docker) (int, error) { return d.sandboxContainers(context.Background()) }

// DockerImage is the root image the backend runs containers from.
func DockerImage(d *Docker) string { return d.image }

// Docker labels, for tests that plant containers.
const (
	DockerLabel         = dockerLabel
	DockerDeadlineLabel = dockerDeadlineLabel
)
