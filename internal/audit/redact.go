package audit

import (
	"encoding/json"
	"regexp"
	"strings"
)

// Redacted replaces a secret-looking value in audit details.
const Redacted = "[REDACTED]"

// Limits on details, so that one event cannot bloat the log.
const (
	maxDetailString = 1024
	maxDetailDepth  = 8
	maxDetailBytes  = 16 << 10
)

// sensitiveKeys are substrings of detail keys whose values are never stored.
var sensitiveKeys = []string{
	"password", "passwd", "secret", "token", "apikey", "api_key", "api-key",
	"authorization", "cookie", "credential", "privatekey", "private_key", "dsn",
	"signature", "session_key", "kek",
}

// secretPatterns match values that look like credentials wherever they
// appear: JWTs, Komand API keys, refresh and invitation tokens, bearer
// headers, PEM private keys, and common vendor key formats.
var secretPatterns = regexp.MustCompile(strings.Join([]string{
	`eyJ[A-Za-z0-9_-]{5,}\.[A-Za-z0-9_-]{5,}\.[A-Za-z0-9_-]*`,     // JWT
	`kmd_[A-Za-z0-9_-]{16,}`,                                      // Komand API key
	`kmr_[A-Za-z0-9_-]{16,}`,                                      // Komand refresh token
	`kmi_[A-Za-z0-9_-]{16,}`,                                      // Komand invitation token
	`(?i)bearer\s+[A-Za-z0-9._~+/-]{8,}=*`,                        // bearer credentials
	`-----BEGIN [A-Z ]*PRIVATE KEY-----`,                          // PEM private key
	`AKIA[0-9A-Z]{16}`,                                            // AWS access key ID
	`sk-[A-Za-z0-9_-]{20,}`,                                       // OpenAI/Anthropic-style keys
	`xox[abpors]-[A-Za-z0-9-]{10,}`,                               // Slack tokens
	`gh[pousr]_[A-Za-z0-9]{20,}`,                                  // GitHub tokens
	`(?i)(postgres|postgresql|mysql|redis)://[^\s:@/]+:[^\s@/]+@`, // URL with password
}, "|"))

func sensitiveKey(k string) bool {
	k = strings.ToLower(k)
	// Identifiers and labels of credentials (apiKeyId, tokenPrefix,
	// secretName) are what an auditor needs and hold no secret; their
	// values are still screened by secretPatterns.
	for _, suffix := range []string{"id", "prefix", "name", "count", "type"} {
		if strings.HasSuffix(k, suffix) {
			return false
		}
	}
	for _, s := range sensitiveKeys {
		if strings.Contains(k, s) {
			return true
		}
	}
	return false
}

// redactValue returns v with secret-looking content replaced, strings
// truncated and nesting bounded.
func redactValue(v any, depth int) any {
	if depth > maxDetailDepth {
		return "[TRUNCATED]"
	}
	switch t := v.(type) {
	case map[string]any:
		out := make(map[string]any, len(t))
		for k, val := range t {
			if sensitiveKey(k) {
				out[k] = Redacted
				continue
			}
			out[k] = redactValue(val, depth+1)
		}
		return out
	case map[string]string:
		out := make(map[string]any, len(t))
		for k, val := range t {
			out[k] = val
		}
		return redactValue(out, depth)
	case []any:
		out := make([]any, len(t))
		for i, val := range t {
			out[i] = redactValue(val, depth+1)
		}
		return out
	case []string:
		out := make([]any, len(t))
		for i, val := range t {
			out[i] = redactValue(val, depth+1)
		}
		return out
	case string:
		s := t
		if mayHoldSecret(t) {
			s = secretPatterns.ReplaceAllString(t, Redacted)
		}
		if len(s) > maxDetailString {
			s = truncateUTF8(s, maxDetailString) + "…"
		}
		return s
	case nil, bool, int, int32, int64, uint, uint32, uint64, float32, float64, json.Number:
		return t
	default:
		// Unknown types go through JSON and are redacted in that form, so a
		// struct cannot smuggle a secret field past the key check.
		b, err := json.Marshal(t)
		if err != nil {
			return "[UNSERIALIZABLE]"
		}
		var generic any
		if err := json.Unmarshal(b, &generic); err != nil {
			return "[UNSERIALIZABLE]"
		}
		return redactValue(generic, depth)
	}
}

func truncateUTF8(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8Start(s[n]) {
		n--
	}
	return s[:n]
}

func utf8Start(b byte) bool { return b&0xC0 != 0x80 }

// CanonicalDetails redacts details and encodes them as canonical JSON (keys
// sorted, as encoding/json does for maps). Nil details become "{}".
func CanonicalDetails(details map[string]any) []byte {
	if len(details) == 0 {
		return []byte("{}")
	}
	clean := redactValue(details, 0)
	b, err := json.Marshal(clean)
	if err != nil {
		return []byte(`{"error":"details not serializable"}`)
	}
	if len(b) > maxDetailBytes {
		b, _ = json.Marshal(map[string]any{"truncated": true, "size": len(b)})
	}
	return b
}

// secretMarkers are literal substrings of which every secretPatterns match
// contains at least one; "bearer" is matched case-insensitively, as its
// pattern is. A string with none of them cannot match, so the (costly)
// regexp is skipped: most details are IDs and short words. TestRedaction
// keeps the two lists in step.
var secretMarkers = []string{"eyJ", "kmd_", "kmr_", "kmi_", "-----BEGIN", "AKIA", "sk-", "xox", "gh", "://"}

func mayHoldSecret(s string) bool {
	for _, m := range secretMarkers {
		if strings.Contains(s, m) {
			return true
		}
	}
	return containsFold(s, "bearer")
}

// containsFold reports whether s contains the lowercase ASCII word w, in
// any case, without allocating.
func containsFold(s, w string) bool {
	for i := 0; i+len(w) <= len(s); i++ {
		j := 0
		for ; j < len(w); j++ {
			c := s[i+j]
			if 'A' <= c && c <= 'Z' {
				c += 'a' - 'A'
			}
			if c != w[j] {
				break
			}
		}
		if j == len(w) {
			return true
		}
	}
	return false
}
