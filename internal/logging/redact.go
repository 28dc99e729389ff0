package logging

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"io"
	"strconv"
	"strings"
	"sync"
)

// Redaction replaces a known secret value in a log line.
const Redaction = "[REDACTED]"

// MinSecretLen is the shortest value Secrets redacts: shorter values would
// match ordinary text (and are no secret worth the name).
const MinSecretLen = 8

// maxSecrets bounds the values remembered; the oldest are forgotten first.
const maxSecrets = 4096

// Secrets is the set of secret values that must never reach a log: the
// platform's keys at start-up and every credential value the vault stores
// or hands to a skill. Its Writer replaces each of them, in raw, JSON- and
// Go-quoted form (and JSON of Go-quoted), by [Redaction] in every line before it is written. The
// scan costs one map lookup per byte of the line, whatever the number of
// secrets (it indexes them by their first 8 bytes).
//
// It is a safety net: Komand's code does not log secret values in the
// first place.
type Secrets struct {
	mu     sync.RWMutex
	byHead map[uint64][][]byte
	order  [][]byte // evictable entries in insertion order
	n      int      // evictable entries
}

// NewSecrets returns an empty set.
func NewSecrets() *Secrets { return &Secrets{byHead: map[uint64][][]byte{}} }

func head(b []byte) uint64 { return binary.LittleEndian.Uint64(b[:8]) }

// Add remembers value (and its quoted forms); values shorter than
// MinSecretLen are ignored. A nil *Secrets ignores everything. Past
// maxSecrets entries the oldest added values are forgotten.
func (s *Secrets) Add(value string) { s.add(value, false) }

// Pin remembers value for good: the platform's own keys, which no number
// of credential values may push out.
func (s *Secrets) Pin(value string) { s.add(value, true) }

func (s *Secrets) add(value string, pinned bool) {
	if s == nil || len(value) < MinSecretLen {
		return
	}
	forms := EncodedForms(value)
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, f := range forms {
		b := []byte(f)
		h := head(b)
		dup := false
		for _, e := range s.byHead[h] {
			dup = dup || bytes.Equal(e, b)
		}
		if dup {
			continue
		}
		s.byHead[h] = append(s.byHead[h], b)
		if !pinned {
			s.order = append(s.order, b)
			s.n++
		}
	}
	for s.n > maxSecrets {
		old := s.order[0]
		s.order = s.order[1:]
		h := head(old)
		list := s.byHead[h]
		for i, e := range list {
			if bytes.Equal(e, old) {
				list = append(list[:i], list[i+1:]...)
				break
			}
		}
		if len(list) == 0 {
			delete(s.byHead, h)
		} else {
			s.byHead[h] = list
		}
		s.n--
	}
}

// EncodedForms are the ways a secret value can appear in output: raw, as
// a JSON string with and without HTML escaping (encoding/json escapes <, >
// and &; slog does not), Go-quoted (the text handler, %q), and a
// %q-formatted value inside a JSON string. Skills' output scrubbing uses
// the same list.
func EncodedForms(value string) []string {
	q := strconv.Quote(value)
	q = q[1 : len(q)-1]
	html, _ := json.Marshal(value)
	forms := []string{value, jsonString(value), string(html[1 : len(html)-1]), q, jsonString(q)}
	out := forms[:0]
	for i, f := range forms {
		dup := false
		for _, g := range forms[:i] {
			dup = dup || f == g
		}
		if !dup {
			out = append(out, f)
		}
	}
	return out
}

// jsonString is s as encoded inside a JSON string by slog's JSON handler.
func jsonString(s string) string {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	_ = enc.Encode(s)
	j := bytes.TrimSpace(b.Bytes())
	return string(j[1 : len(j)-1])
}

// Redact returns line with every known secret replaced (line itself when
// there is none).
func (s *Secrets) Redact(line []byte) []byte {
	if s == nil || len(line) < MinSecretLen {
		return line
	}
	s.mu.RLock()
	defer s.mu.RUnlock()
	if len(s.byHead) == 0 {
		return line
	}
	var out []byte
	last := 0
	for i := 0; i+MinSecretLen <= len(line); {
		match := 0
		for _, e := range s.byHead[head(line[i:])] {
			if len(e) > match && bytes.HasPrefix(line[i:], e) {
				match = len(e)
			}
		}
		if match == 0 {
			i++
			continue
		}
		out = append(out, line[last:i]...)
		out = append(out, Redaction...)
		i += match
		last = i
	}
	if out == nil {
		return line
	}
	return append(out, line[last:]...)
}

// Writer returns w with every line redacted. slog's handlers write one
// whole record per Write call.
func (s *Secrets) Writer(w io.Writer) io.Writer { return redactingWriter{w: w, s: s} }

type redactingWriter struct {
	w io.Writer
	s *Secrets
}

func (r redactingWriter) Write(p []byte) (int, error) {
	if _, err := r.w.Write(r.s.Redact(p)); err != nil {
		return 0, err
	}
	return len(p), nil
}

// sensitiveKey reports whether an attribute key names a secret, whatever
// its value: password, secret, token, api key, authorization, cookie.
func sensitiveKey(k string) bool {
	k = strings.ToLower(k)
	switch k {
	case "password", "passwd", "secret", "token", "authorization", "cookie", "set-cookie",
		"apikey", "api_key", "value_plaintext":
		return true
	}
	for _, suf := range []string{"_password", "_secret", "_token", "_apikey", "_api_key", "-token", "-secret"} {
		if strings.HasSuffix(k, suf) {
			return true
		}
	}
	return false
}
