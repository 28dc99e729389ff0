package sandbox

import (
	"context"
	"time"
)

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

// containerRun is one container execution's context and limits.
type containerRun struct {
	ctx            context.Context // ends at the execution's timeout
	cancel         context.CancelFunc
	timeout        time.Duration
	mem            uint64
	maxOut, maxErr int
	lim            ContainerLimits
}

// beginContainerRun is how every container execution starts, on either
// backend: program checked, limits resolved (defaults for what ex and lim
// leave unset, maxMem at most), the deadline set and one of sem's slots
// taken. A non-nil refusal is the outcome to return at once; otherwise
// end must be called when the execution is over.
func beginContainerRun(ctx context.Context, sem chan struct{}, program []byte, ex Exec, lim ContainerLimits, maxMem uint64) (r containerRun, end func(), refusal *Outcome) {
	r.timeout, r.mem, r.maxOut, r.maxErr = ex.limits(maxMem)
	if lim.CPUs <= 0 {
		lim.CPUs = 1
	}
	if lim.MaxPIDs <= 0 {
		lim.MaxPIDs = 32
	}
	r.lim = lim
	if len(program) == 0 || len(program) > MaxModuleBytes {
		return r, nil, &Outcome{Reason: ReasonInvalidModule, Message: "the skill program is empty or too large"}
	}
	r.ctx, r.cancel = context.WithTimeoutCause(ctx, r.timeout, errTimeout)
	select {
	case sem <- struct{}{}:
	case <-r.ctx.Done():
		r.cancel()
		return r, nil, &Outcome{Reason: ReasonBusy, Message: "the sandbox is busy"}
	}
	return r, func() { <-sem; r.cancel() }, nil
}

// startFailure is the outcome of an execution the platform could not
// start (the cause goes to the log through Stderr, never to the skill).
func startFailure(err error) Outcome {
	return Outcome{Reason: ReasonCrash, Message: "the sandbox could not start", Stderr: []byte(err.Error())}
}

// timed runs run and sets the outcome's duration.
func timed(run func() Outcome) Outcome {
	start := time.Now()
	out := run()
	out.Duration = time.Since(start)
	return out
}
