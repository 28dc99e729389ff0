package sandbox

// Running is the number of executions holding a module's compiled code
// (tests wait on it instead of sleeping).
func Running(w *WASM) int {
	w.mu.Lock()
	defer w.mu.Unlock()
	n := 0
	for _, m := range w.compiled {
		n += m.refs
	}
	return n
}
