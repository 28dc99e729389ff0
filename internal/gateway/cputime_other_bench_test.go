//go:build !unix

package gateway_test

import "time"

// processCPU is not available here; benchmarks then report no CPU metric.
func processCPU() time.Duration { return 0 }
