//go:build linux

package sandbox

import (
	"strings"
	"testing"
	"time"
)

// TestDockerCreateRequest checks the limits reach the container's
// configuration as the contract states them; the CPU quota has no
// behavioural test (that would be a timing assertion), so this is where
// it is checked.
func TestDockerCreateRequest(t *testing.T) {
	d := &Docker{image: "komand/sandbox-root:test", seccomp: `{"defaultAction":"SCMP_ACT_ALLOW"}`}
	x := &execDir{skillDir: "/t/skill", runDir: "/t/run"}
	cfg, hc := d.createRequest(x, 128<<20, ContainerLimits{CPUs: 0.5, MaxPIDs: 8}, time.Unix(1000, 0))
	if hc.NanoCPUs != 5e8 || hc.PidsLimit == nil || *hc.PidsLimit != 8 || hc.Memory != 128<<20 || hc.MemorySwap != 128<<20 {
		t.Fatalf("resources: %+v", hc.Resources)
	}
	if !strings.Contains(hc.Tmpfs["/tmp"], "size=134217728") || hc.NetworkMode != "none" || !hc.ReadonlyRootfs || hc.Privileged ||
		len(hc.Devices) != 0 || len(hc.CapAdd) != 0 || cfg.User != "65534:65534" || cfg.Labels[dockerDeadlineLabel] != "1000" {
		t.Fatalf("config %+v host config %+v", cfg, hc)
	}
}
