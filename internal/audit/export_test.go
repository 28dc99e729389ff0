package audit

// Queued is the number of entries waiting for the writer (tests).
func Queued(w *Writer) int { return len(w.queue) }
