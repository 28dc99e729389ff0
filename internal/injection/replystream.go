package injection

import "strings"

// ReplyStream sanitises a reply that is streamed to a client while the
// model writes it. A delta once sent cannot be taken back, so the stream
// sends only what SanitizeReply makes of the text received so far, a line
// at a time: at each newline (and at Flush) the whole text so far is
// sanitised, and the part of the result beyond what was already sent goes
// out. Should the result ever disagree with what was sent (a later line
// turned an earlier one into markup that is removed, or the turn became
// tainted), the stream sends nothing more: what it sent was safe under
// the rules that held when it was sent, and the final reply — stored and
// returned whole, sanitised — is the authoritative text. Everything a
// client receives as deltas is therefore a prefix of the sanitised form
// of a prefix of the model's text: never an image, never a line of the
// system prompt (a partial line of it under MinPromptRun characters can
// precede a stop).
//
// One ReplyStream follows the whole turn, across model calls, since the
// client concatenates every delta of the turn.
type ReplyStream struct {
	opts    ReplyOptions
	emit    func(string)
	buf     strings.Builder
	sent    string
	checked int // buf length at the last check
	stopped bool
}

// streamCheckBytes is how much new text a newline must follow before the
// stream sanitises again (bounding the work on long replies).
const streamCheckBytes = 256

// NewReplyStream returns a stream that passes the sanitised text to emit.
func NewReplyStream(opts ReplyOptions, emit func(string)) *ReplyStream {
	return &ReplyStream{opts: opts, emit: emit}
}

// SetTainted changes the taint the rest of the stream is sanitised under.
func (s *ReplyStream) SetTainted(t bool) { s.opts.Tainted = t }

// Write takes a delta of the model's text.
func (s *ReplyStream) Write(delta string) {
	s.buf.WriteString(delta)
	if s.stopped || strings.IndexByte(delta, '\n') < 0 || s.buf.Len()-s.checked < streamCheckBytes && s.checked > 0 {
		return
	}
	text := s.buf.String()
	s.release(text[:strings.LastIndexByte(text, '\n')+1])
}

// Flush releases what is left at the end of a model call.
func (s *ReplyStream) Flush() {
	if !s.stopped {
		s.release(s.buf.String())
	}
}

// Stopped reports that the stream stopped sending.
func (s *ReplyStream) Stopped() bool { return s.stopped }

func (s *ReplyStream) release(prefix string) {
	s.checked = s.buf.Len()
	out, _ := SanitizeReply(prefix, s.opts)
	if !strings.HasPrefix(out, s.sent) {
		s.stopped = true
		return
	}
	if d := out[len(s.sent):]; d != "" {
		s.sent = out
		s.emit(d)
	}
}
