package app

import (
	"runtime/debug"
	"strings"
)

// DefaultGCPercent is the garbage collector's target that `komand serve`
// sets unless the GOGC environment variable is present.
//
// Go's default (100) starts a collection whenever the heap has grown by its
// live size, with a 4 MB floor. Komand's live heap is a few megabytes and a
// request allocates a few kilobytes, so at the default a collection starts
// every few hundred requests and the requests that overlap its mark phase
// carry its cost: on the benchmark machine that is the whole p99 of the
// middleware chain (66 µs at 100, 12 µs at 400; see bench/README.md). At
// 400 the heap may grow to five times its live size before a collection,
// tens of megabytes for this server. Operators who need a hard ceiling set
// GOMEMLIMIT, which the runtime honours alongside this target.
const DefaultGCPercent = 400

// TuneGC applies DefaultGCPercent unless environ (KEY=value pairs, as from
// os.Environ) sets GOGC, in which case the runtime has already applied the
// operator's value. It reports the percent in effect and whether Komand set
// it.
func TuneGC(environ []string) (percent int, set bool) {
	for _, kv := range environ {
		if strings.HasPrefix(kv, "GOGC=") {
			// The runtime read GOGC at start; read the value back without
			// changing it.
			p := debug.SetGCPercent(-1)
			debug.SetGCPercent(p)
			return p, false
		}
	}
	debug.SetGCPercent(DefaultGCPercent)
	return DefaultGCPercent, true
}
