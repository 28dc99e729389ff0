package authn

import (
	"context"
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"runtime"
	"strconv"
	"strings"
	"unicode/utf8"

	"golang.org/x/crypto/argon2"

	"github.com/komand-ai/komand/internal/apperr"
)

// Password policy. Following NIST SP 800-63B, length is the only rule: no
// composition rules, and long passphrases are welcome. The upper bounds only
// keep a single request from feeding megabytes into the hash.
const (
	MinPasswordChars = 12
	MaxPasswordChars = 1024
	MaxPasswordBytes = 4096
)

// Params are the argon2id cost parameters of new hashes. Existing hashes
// carry their own parameters in the PHC string and keep verifying after
// Params change.
type Params struct {
	Memory  uint32 // KiB
	Time    uint32 // passes
	Threads uint8  // lanes
	SaltLen uint32 // bytes
	KeyLen  uint32 // bytes
}

// DefaultParams are OWASP's recommended argon2id settings (Password Storage
// Cheat Sheet: m=19 MiB, t=2, p=1), with a 128-bit salt and a 256-bit key.
var DefaultParams = Params{Memory: 19456, Time: 2, Threads: 1, SaltLen: 16, KeyLen: 32}

// Bounds on parameters, both for new hashes and for hashes read back from
// the store. A stored hash is attacker-influenced data (a restored backup, a
// compromised admin tool, an SQL injection elsewhere): without caps a planted
// "$argon2id$v=19$m=4294967295,t=4294967295,p=255$…" would make each login
// attempt for that account allocate 4 TiB or spin for hours. With the caps
// the worst case is maxMemoryKiB per concurrent hash, and the number of
// concurrent hashes is bounded by hashSlots.
const (
	minMemoryKiB = 8       // argon2's own minimum is 8 KiB per lane
	maxMemoryKiB = 1 << 16 // 64 MiB
	minTime      = 1
	maxTime      = 16
	minThreads   = 1
	maxThreads   = 16
	minSaltLen   = 8 // RFC 9106 recommends 16; 8 is the PHC minimum
	maxSaltLen   = 64
	minKeyLen    = 16
	maxKeyLen    = 64
	// maxEncodedLen bounds the PHC string before any parsing, so a huge
	// value costs nothing but a length check.
	maxEncodedLen = 256
)

// ErrInvalidHash is returned (wrapped) for a stored hash that is not a
// well-formed argon2id PHC string within the parameter caps.
var ErrInvalidHash = errors.New("authn: invalid password hash")

// phcB64 is the PHC string format's base64: standard alphabet, no padding.
// Strict rejects non-canonical encodings (non-zero trailing bits), so one
// hash has exactly one textual form.
var phcB64 = base64.RawStdEncoding.Strict()

// hashSlots bounds the number of argon2 computations running at once in the
// process. Each one allocates Params.Memory KiB; without a bound a login
// flood (or a burst of throttle-passing requests from many IPs) would
// allocate memory linearly in the number of concurrent requests and could
// get the process OOM-killed. 2×GOMAXPROCS keeps every CPU busy while
// capping memory at 2×GOMAXPROCS×Memory; extra requests wait their turn (or
// give up when their context ends).
var hashSlots = make(chan struct{}, 2*runtime.GOMAXPROCS(0))

func acquireHashSlot(ctx context.Context) error {
	select {
	case hashSlots <- struct{}{}:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

func releaseHashSlot() { <-hashSlots }

// Validate reports whether p is within the accepted bounds.
func (p Params) Validate() error {
	switch {
	case p.Memory < minMemoryKiB || p.Memory > maxMemoryKiB:
		return fmt.Errorf("authn: argon2 memory %d KiB outside [%d, %d]", p.Memory, minMemoryKiB, maxMemoryKiB)
	case p.Memory < 8*uint32(p.Threads):
		return fmt.Errorf("authn: argon2 memory %d KiB below 8 KiB per thread", p.Memory)
	case p.Time < minTime || p.Time > maxTime:
		return fmt.Errorf("authn: argon2 time %d outside [%d, %d]", p.Time, minTime, maxTime)
	case p.Threads < minThreads || p.Threads > maxThreads:
		return fmt.Errorf("authn: argon2 threads %d outside [%d, %d]", p.Threads, minThreads, maxThreads)
	case p.SaltLen < minSaltLen || p.SaltLen > maxSaltLen:
		return fmt.Errorf("authn: argon2 salt length %d outside [%d, %d]", p.SaltLen, minSaltLen, maxSaltLen)
	case p.KeyLen < minKeyLen || p.KeyLen > maxKeyLen:
		return fmt.Errorf("authn: argon2 key length %d outside [%d, %d]", p.KeyLen, minKeyLen, maxKeyLen)
	}
	return nil
}

// CheckPasswordPolicy returns an apperr.Field("password", …) error when pw
// may not be set as a password.
func CheckPasswordPolicy(pw string) error {
	// Byte length first: it is O(1) and bounds the rune count below.
	if len(pw) > MaxPasswordBytes {
		return apperr.Field("password", fmt.Sprintf("must be at most %d bytes", MaxPasswordBytes))
	}
	if !utf8.ValidString(pw) {
		// Invalid UTF-8 cannot be typed back reliably on another device.
		return apperr.Field("password", "must be valid UTF-8 text")
	}
	n := utf8.RuneCountInString(pw)
	if n < MinPasswordChars {
		return apperr.Field("password", fmt.Sprintf("must be at least %d characters", MinPasswordChars))
	}
	if n > MaxPasswordChars {
		return apperr.Field("password", fmt.Sprintf("must be at most %d characters", MaxPasswordChars))
	}
	return nil
}

// Hasher hashes and verifies passwords with one set of Params.
type Hasher struct {
	params Params
	// dummy is a hash of a random, forgotten password with params, used by
	// DummyVerify. It is built once, at construction.
	dummy string
}

// NewHasher returns a Hasher for p.
func NewHasher(p Params) (*Hasher, error) {
	if err := p.Validate(); err != nil {
		return nil, err
	}
	h := &Hasher{params: p}
	// The dummy is a well-formed PHC string with the current parameters
	// whose salt and key are random bytes: verifying against it costs
	// exactly one argon2id derivation, like a real hash, yet no password
	// can match it (that would need a preimage of a random 256-bit key).
	// Building it costs nothing, so start-up does not pay for a hash.
	salt := make([]byte, p.SaltLen)
	key := make([]byte, p.KeyLen)
	_, _ = rand.Read(salt)
	_, _ = rand.Read(key)
	dummy := fmt.Sprintf("$argon2id$v=%d$m=%d,t=%d,p=%d$%s$%s",
		argon2.Version, p.Memory, p.Time, p.Threads,
		phcB64.EncodeToString(salt), phcB64.EncodeToString(key))
	h.dummy = dummy
	return h, nil
}

// Params returns the parameters of new hashes.
func (h *Hasher) Params() Params { return h.params }

// Hash checks pw against the password policy and returns its argon2id hash
// in PHC string form.
func (h *Hasher) Hash(ctx context.Context, pw string) (string, error) {
	if err := CheckPasswordPolicy(pw); err != nil {
		return "", err
	}
	return h.hash(ctx, pw)
}

func (h *Hasher) hash(ctx context.Context, pw string) (string, error) {
	// A fresh random salt per hash: equal passwords get unrelated hashes and
	// precomputed tables are useless.
	salt := make([]byte, h.params.SaltLen)
	_, _ = rand.Read(salt) // crypto/rand.Read never returns an error (Go ≥ 1.24)
	key, err := computeKey(ctx, pw, salt, h.params.Time, h.params.Memory, h.params.Threads, h.params.KeyLen)
	if err != nil {
		return "", err
	}
	return fmt.Sprintf("$argon2id$v=%d$m=%d,t=%d,p=%d$%s$%s",
		argon2.Version, h.params.Memory, h.params.Time, h.params.Threads,
		phcB64.EncodeToString(salt), phcB64.EncodeToString(key)), nil
}

// Verify reports whether pw matches the PHC string encoded. The parameters
// are read from encoded (within the caps), so hashes made with older
// Params keep verifying. A malformed or out-of-bounds hash returns an error
// wrapping ErrInvalidHash; ctx ending while waiting for a hashing slot
// returns ctx.Err().
func (h *Hasher) Verify(ctx context.Context, pw, encoded string) (bool, error) {
	ph, err := parsePHC(encoded)
	if err != nil {
		return false, err
	}
	key, err := computeKey(ctx, pw, ph.salt, ph.time, ph.memory, ph.threads, uint32(len(ph.key)))
	if err != nil {
		return false, err
	}
	// Constant-time comparison: the time taken must not depend on how many
	// leading bytes of the derived key match, or a remote attacker could
	// learn the stored hash byte by byte.
	return subtle.ConstantTimeCompare(key, ph.key) == 1, nil
}

// DummyVerify spends the same work as Verify with the current Params and
// always fails. Login calls it when no usable hash exists (unknown email,
// broken stored hash), so the response time does not reveal whether an
// account exists (caddy's basicauth does the same with a fake hash).
func (h *Hasher) DummyVerify(ctx context.Context, pw string) {
	_, _ = h.Verify(ctx, pw, h.dummy)
}

func computeKey(ctx context.Context, pw string, salt []byte, t, m uint32, p uint8, keyLen uint32) ([]byte, error) {
	if err := acquireHashSlot(ctx); err != nil {
		return nil, err
	}
	defer releaseHashSlot()
	return argon2.IDKey([]byte(pw), salt, t, m, p, keyLen), nil
}

type phc struct {
	memory  uint32
	time    uint32
	threads uint8
	salt    []byte
	key     []byte
}

// parsePHC parses "$argon2id$v=19$m=<m>,t=<t>,p=<p>$<salt>$<hash>" strictly:
// only argon2id (not argon2i/argon2d, which are weaker against side-channel
// or GPU attacks), only version 19, parameters in this exact order and within
// the caps, canonical unpadded base64.
func parsePHC(s string) (phc, error) {
	var out phc
	if len(s) > maxEncodedLen {
		return out, fmt.Errorf("%w: too long", ErrInvalidHash)
	}
	parts := strings.Split(s, "$")
	// "", "argon2id", "v=19", "m=…,t=…,p=…", salt, hash
	if len(parts) != 6 || parts[0] != "" {
		return out, fmt.Errorf("%w: not a PHC string", ErrInvalidHash)
	}
	if parts[1] != "argon2id" {
		return out, fmt.Errorf("%w: algorithm is not argon2id", ErrInvalidHash)
	}
	if parts[2] != "v="+strconv.Itoa(argon2.Version) {
		return out, fmt.Errorf("%w: unsupported version", ErrInvalidHash)
	}
	kv := strings.Split(parts[3], ",")
	if len(kv) != 3 {
		return out, fmt.Errorf("%w: bad parameters", ErrInvalidHash)
	}
	m, err := phcParam(kv[0], "m=", minMemoryKiB, maxMemoryKiB)
	if err != nil {
		return out, err
	}
	t, err := phcParam(kv[1], "t=", minTime, maxTime)
	if err != nil {
		return out, err
	}
	p, err := phcParam(kv[2], "p=", minThreads, maxThreads)
	if err != nil {
		return out, err
	}
	if m < 8*p {
		return out, fmt.Errorf("%w: memory below 8 KiB per lane", ErrInvalidHash)
	}
	// Check encoded lengths before decoding, so decoding never allocates
	// more than the caps allow.
	if len(parts[4]) > phcB64.EncodedLen(maxSaltLen) || len(parts[5]) > phcB64.EncodedLen(maxKeyLen) {
		return out, fmt.Errorf("%w: salt or hash too long", ErrInvalidHash)
	}
	salt, err := phcB64.DecodeString(parts[4])
	if err != nil || len(salt) < minSaltLen {
		return out, fmt.Errorf("%w: bad salt", ErrInvalidHash)
	}
	key, err := phcB64.DecodeString(parts[5])
	if err != nil || len(key) < minKeyLen {
		return out, fmt.Errorf("%w: bad hash", ErrInvalidHash)
	}
	out.memory, out.time, out.threads = uint32(m), uint32(t), uint8(p)
	out.salt, out.key = salt, key
	return out, nil
}

// phcParam parses "<name><decimal>" and checks lo ≤ value ≤ hi. Only plain
// ASCII digits are accepted (no sign, no spaces), at most 10 of them.
func phcParam(s, name string, lo, hi uint64) (uint64, error) {
	digits, ok := strings.CutPrefix(s, name)
	if !ok || digits == "" || len(digits) > 10 {
		return 0, fmt.Errorf("%w: bad parameter %q", ErrInvalidHash, strings.TrimSuffix(name, "="))
	}
	for i := 0; i < len(digits); i++ {
		if digits[i] < '0' || digits[i] > '9' {
			return 0, fmt.Errorf("%w: bad parameter %q", ErrInvalidHash, strings.TrimSuffix(name, "="))
		}
	}
	v, err := strconv.ParseUint(digits, 10, 64)
	if err != nil || v < lo || v > hi {
		return 0, fmt.Errorf("%w: parameter %q out of range", ErrInvalidHash, strings.TrimSuffix(name, "="))
	}
	return v, nil
}
