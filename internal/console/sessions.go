package console

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"sync"
	"time"
)

// consoleSession is one signed-in browser. The cookie holds an opaque random ID;
// the table is keyed by its SHA-256, so a dump of memory or logs of keys
// does not yield a usable cookie. The API credentials of the login (an
// access token bound to a server-side refresh family in the store) stay on
// the server and are checked on every request, so a logout, a revoked
// family or a deactivated user ends the console session too.
type consoleSession struct {
	mu        sync.Mutex
	tenantID  string
	userID    string
	access    string
	refresh   string
	accessExp time.Time
	family    string // the refresh family in the store (the principal's SessionID)
	csrf      string
	created   time.Time
	lastSeen  time.Time
}

// sessions is the in-process session table.
type sessions struct {
	mu sync.Mutex
	m  map[string]*consoleSession
}

func newSessions() *sessions { return &sessions{m: map[string]*consoleSession{}} }

func hashID(id string) string {
	sum := sha256.Sum256([]byte(id))
	return hex.EncodeToString(sum[:])
}

func randomToken() string {
	b := make([]byte, 32)
	_, _ = rand.Read(b) // crypto/rand.Read never fails (Go ≥ 1.24)
	return base64.RawURLEncoding.EncodeToString(b)
}

// create stores s under a new random ID and returns the ID (the cookie).
func (t *sessions) create(s *consoleSession) string {
	id := randomToken()
	t.mu.Lock()
	t.m[hashID(id)] = s
	t.mu.Unlock()
	return id
}

func (t *sessions) get(id string) (*consoleSession, bool) {
	if id == "" || len(id) > 128 {
		return nil, false
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	s, ok := t.m[hashID(id)]
	return s, ok
}

func (t *sessions) delete(id string) {
	t.mu.Lock()
	delete(t.m, hashID(id))
	t.mu.Unlock()
}

// deleteUser removes every session of the user and returns them.
func (t *sessions) deleteUser(tenantID, userID string) []*consoleSession {
	t.mu.Lock()
	defer t.mu.Unlock()
	var out []*consoleSession
	for k, s := range t.m {
		if s.tenantID == tenantID && s.userID == userID {
			out = append(out, s)
			delete(t.m, k)
		}
	}
	return out
}

// sweep drops sessions past their timeouts.
func (t *sessions) sweep(now time.Time, idle, absolute time.Duration) {
	t.mu.Lock()
	defer t.mu.Unlock()
	for k, s := range t.m {
		s.mu.Lock()
		dead := now.Sub(s.lastSeen) >= idle || now.Sub(s.created) >= absolute
		s.mu.Unlock()
		if dead {
			delete(t.m, k)
		}
	}
}
