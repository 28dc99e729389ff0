package authn

import (
	"context"
	"errors"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/komand-ai/komand/internal/apperr"
)

func newTestHasher(t *testing.T) *Hasher {
	t.Helper()
	h, err := NewHasher(cheapParams)
	if err != nil {
		t.Fatalf("NewHasher: %v", err)
	}
	return h
}

func TestHashAndVerify(t *testing.T) {
	h := newTestHasher(t)
	ctx := t.Context()
	enc, err := h.Hash(ctx, testPassword)
	if err != nil {
		t.Fatalf("Hash: %v", err)
	}
	phcRE := regexp.MustCompile(`^\$argon2id\$v=19\$m=64,t=1,p=1\$[A-Za-z0-9+/]{22}\$[A-Za-z0-9+/]{43}$`)
	if !phcRE.MatchString(enc) {
		t.Fatalf("hash %q is not in the expected PHC form", enc)
	}
	again, _ := h.Hash(ctx, testPassword)
	if again == enc {
		t.Fatal("two hashes of one password are equal: salt is not random")
	}
	tests := []struct {
		name string
		pw   string
		want bool
	}{
		{"correct", testPassword, true},
		{"wrong", testPassword + "!", false},
		{"case_differs", strings.ToUpper(testPassword), false},
		{"empty", "", false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ok, err := h.Verify(ctx, tc.pw, enc)
			if err != nil {
				t.Fatalf("Verify: %v", err)
			}
			if ok != tc.want {
				t.Fatalf("Verify = %v, want %v", ok, tc.want)
			}
		})
	}
}

func TestDefaultParamsHash(t *testing.T) {
	if testing.Short() {
		t.Skip("OWASP parameters are slow")
	}
	h, err := NewHasher(DefaultParams)
	if err != nil {
		t.Fatalf("NewHasher: %v", err)
	}
	enc, err := h.Hash(t.Context(), testPassword)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(enc, "$argon2id$v=19$m=19456,t=2,p=1$") {
		t.Fatalf("hash %q does not carry the OWASP parameters", enc)
	}
	if ok, err := h.Verify(t.Context(), testPassword, enc); !ok || err != nil {
		t.Fatalf("Verify = %v, %v", ok, err)
	}
}

// Hashes made with older parameters keep verifying: the parameters come
// from the stored string, not from the Hasher.
func TestVerifyUsesStoredParams(t *testing.T) {
	old, err := NewHasher(Params{Memory: 128, Time: 3, Threads: 2, SaltLen: 8, KeyLen: 16})
	if err != nil {
		t.Fatal(err)
	}
	enc, err := old.Hash(t.Context(), testPassword)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(enc, "$argon2id$v=19$m=128,t=3,p=2$") {
		t.Fatalf("unexpected hash %q", enc)
	}
	cur := newTestHasher(t)
	for _, tc := range []struct {
		name string
		pw   string
		want bool
	}{{"right", testPassword, true}, {"wrong", "not the password", false}} {
		t.Run(tc.name, func(t *testing.T) {
			ok, err := cur.Verify(t.Context(), tc.pw, enc)
			if err != nil || ok != tc.want {
				t.Fatalf("Verify = %v, %v; want %v", ok, err, tc.want)
			}
		})
	}
}

func TestPasswordPolicy(t *testing.T) {
	tests := []struct {
		name string
		pw   string
		ok   bool
	}{
		{"empty", "", false},
		{"eleven_chars", strings.Repeat("a", 11), false},
		{"twelve_chars", strings.Repeat("a", 12), true},
		{"twelve_runes_multibyte", strings.Repeat("é", 12), true},
		{"eleven_runes_22_bytes", strings.Repeat("é", 11), false},
		{"max_chars", strings.Repeat("a", MaxPasswordChars), true},
		{"too_many_chars", strings.Repeat("a", MaxPasswordChars+1), false},
		{"max_runes_4_bytes_each", strings.Repeat("😀", MaxPasswordChars), true},
		{"too_many_bytes", strings.Repeat("a", MaxPasswordBytes+1), false},
		{"invalid_utf8", strings.Repeat("a", 12) + "\xff", false},
		{"spaces_allowed", "a passphrase with spaces", true},
	}
	h := newTestHasher(t)
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := CheckPasswordPolicy(tc.pw)
			if tc.ok {
				if err != nil {
					t.Fatalf("CheckPasswordPolicy: %v", err)
				}
				return
			}
			e := wantKind(t, err, apperr.Invalid, "")
			if e.Field != "password" {
				t.Fatalf("Field = %q, want password", e.Field)
			}
			// Hash enforces the same policy.
			if _, err := h.Hash(t.Context(), tc.pw); err == nil {
				t.Fatal("Hash accepted a password the policy rejects")
			}
		})
	}
}

func TestParseHostilePHC(t *testing.T) {
	h := newTestHasher(t)
	good, err := h.Hash(t.Context(), testPassword)
	if err != nil {
		t.Fatal(err)
	}
	parts := strings.Split(good, "$")
	salt, key := parts[4], parts[5]
	with := func(alg, ver, params, s, k string) string {
		return "$" + alg + "$" + ver + "$" + params + "$" + s + "$" + k
	}
	tests := []struct {
		name string
		enc  string
	}{
		{"empty", ""},
		{"bcrypt", "$2a$10$N9qo8uLOickgx2ZMRZoMyeIjZAgcfl7p92ldGxad68LJZdL17lhWy"},
		{"argon2i", with("argon2i", "v=19", "m=64,t=1,p=1", salt, key)},
		{"argon2d", with("argon2d", "v=19", "m=64,t=1,p=1", salt, key)},
		{"alg_case", with("Argon2id", "v=19", "m=64,t=1,p=1", salt, key)},
		{"version_16", with("argon2id", "v=16", "m=64,t=1,p=1", salt, key)},
		{"no_version", "$argon2id$m=64,t=1,p=1$" + salt + "$" + key},
		{"missing_hash", with("argon2id", "v=19", "m=64,t=1,p=1", salt, "")[:len(good)-len(key)-1]},
		{"extra_field", good + "$x"},
		{"no_leading_dollar", strings.TrimPrefix(good, "$")},
		{"params_reordered", with("argon2id", "v=19", "t=1,m=64,p=1", salt, key)},
		{"params_extra", with("argon2id", "v=19", "m=64,t=1,p=1,keyid=x", salt, key)},
		{"params_missing", with("argon2id", "v=19", "m=64,t=1", salt, key)},
		{"huge_memory", with("argon2id", "v=19", "m=4294967295,t=1,p=1", salt, key)},
		{"memory_above_cap", with("argon2id", "v=19", "m=65537,t=1,p=1", salt, key)},
		{"memory_overflow", with("argon2id", "v=19", "m=99999999999999999999,t=1,p=1", salt, key)},
		{"huge_time", with("argon2id", "v=19", "m=64,t=4294967295,p=1", salt, key)},
		{"time_above_cap", with("argon2id", "v=19", "m=64,t=17,p=1", salt, key)},
		{"huge_threads", with("argon2id", "v=19", "m=4096,t=1,p=255", salt, key)},
		{"zero_memory", with("argon2id", "v=19", "m=0,t=1,p=1", salt, key)},
		{"zero_time", with("argon2id", "v=19", "m=64,t=0,p=1", salt, key)},
		{"zero_threads", with("argon2id", "v=19", "m=64,t=1,p=0", salt, key)},
		{"memory_below_8_per_lane", with("argon2id", "v=19", "m=8,t=1,p=2", salt, key)},
		{"negative", with("argon2id", "v=19", "m=-64,t=1,p=1", salt, key)},
		{"plus_sign", with("argon2id", "v=19", "m=+64,t=1,p=1", salt, key)},
		{"space", with("argon2id", "v=19", "m= 64,t=1,p=1", salt, key)},
		{"hex", with("argon2id", "v=19", "m=0x40,t=1,p=1", salt, key)},
		{"salt_bad_base64", with("argon2id", "v=19", "m=64,t=1,p=1", "!!!!notbase64!!!!", key)},
		{"salt_padded", with("argon2id", "v=19", "m=64,t=1,p=1", salt+"==", key)},
		{"salt_urlsafe_alphabet", with("argon2id", "v=19", "m=64,t=1,p=1", "-_-_-_-_-_-_-_-_-_-_-_", key)},
		{"salt_too_short", with("argon2id", "v=19", "m=64,t=1,p=1", "AAAA", key)},
		{"salt_too_long", with("argon2id", "v=19", "m=64,t=1,p=1", strings.Repeat("A", 200), key)},
		{"hash_too_short", with("argon2id", "v=19", "m=64,t=1,p=1", salt, "AAAAAAAA")},
		{"hash_bad_base64", with("argon2id", "v=19", "m=64,t=1,p=1", salt, strings.Repeat("*", 43))},
		{"huge_string", good + strings.Repeat("A", 1<<20)},
	}
	// Rejection happens before any hashing: with every hashing slot taken
	// and the context already ended, a Verify that tried to hash would
	// return the context's error instead (the control below does).
	n := cap(hashSlots)
	for range n {
		hashSlots <- struct{}{}
	}
	ended, cancel := context.WithCancel(t.Context())
	cancel()
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ok, err := h.Verify(ended, testPassword, tc.enc)
			if ok || !errors.Is(err, ErrInvalidHash) {
				t.Fatalf("Verify(%.60q) = %v, %v; want ErrInvalidHash without hashing", tc.enc, ok, err)
			}
		})
	}
	t.Run("control_good_hash_would_hash", func(t *testing.T) {
		if ok, err := h.Verify(ended, testPassword, good); ok || !errors.Is(err, context.Canceled) {
			t.Fatalf("Verify of a well-formed hash with no slot = %v, %v; want context.Canceled", ok, err)
		}
	})
	for range n {
		<-hashSlots
	}
	t.Run("control_good_hash_verifies", func(t *testing.T) {
		if ok, err := h.Verify(t.Context(), testPassword, good); !ok || err != nil {
			t.Fatalf("Verify = %v, %v", ok, err)
		}
	})
}

func TestParamsValidate(t *testing.T) {
	tests := []struct {
		name string
		p    Params
		ok   bool
	}{
		{"default", DefaultParams, true},
		{"cheap", cheapParams, true},
		{"zero", Params{}, false},
		{"memory_too_big", Params{Memory: 1 << 20, Time: 1, Threads: 1, SaltLen: 16, KeyLen: 32}, false},
		{"time_too_big", Params{Memory: 64, Time: 100, Threads: 1, SaltLen: 16, KeyLen: 32}, false},
		{"short_salt", Params{Memory: 64, Time: 1, Threads: 1, SaltLen: 4, KeyLen: 32}, false},
		{"short_key", Params{Memory: 64, Time: 1, Threads: 1, SaltLen: 16, KeyLen: 8}, false},
		{"memory_per_lane", Params{Memory: 16, Time: 1, Threads: 4, SaltLen: 16, KeyLen: 32}, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.p.Validate()
			if (err == nil) != tc.ok {
				t.Fatalf("Validate = %v, want ok=%v", err, tc.ok)
			}
			if _, err := NewHasher(tc.p); (err == nil) != tc.ok {
				t.Fatalf("NewHasher = %v, want ok=%v", err, tc.ok)
			}
		})
	}
}

func TestDummyVerify(t *testing.T) {
	h := newTestHasher(t)
	if !strings.HasPrefix(h.dummy, "$argon2id$v=19$m=64,t=1,p=1$") {
		t.Fatalf("dummy hash %q does not use the hasher's parameters", h.dummy)
	}
	for _, pw := range []string{"", testPassword, strings.Repeat("x", MaxPasswordBytes)} {
		h.DummyVerify(t.Context(), pw) // must neither panic nor succeed
		if ok, _ := h.Verify(t.Context(), pw, h.dummy); ok {
			t.Fatalf("dummy hash matched %.20q", pw)
		}
	}
}

// The hashing semaphore makes a waiting Verify give up when its context
// ends instead of queueing forever.
func TestHashSlotsRespectContext(t *testing.T) {
	h := newTestHasher(t)
	enc, _ := h.Hash(t.Context(), testPassword)
	// Occupy every slot.
	n := cap(hashSlots)
	for range n {
		hashSlots <- struct{}{}
	}
	ctx, cancel := context.WithTimeout(t.Context(), 20*time.Millisecond)
	defer cancel()
	_, err := h.Verify(ctx, testPassword, enc)
	for range n {
		<-hashSlots
	}
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Verify with full slots = %v, want deadline exceeded", err)
	}
	if ok, err := h.Verify(t.Context(), testPassword, enc); !ok || err != nil {
		t.Fatalf("Verify after release = %v, %v", ok, err)
	}
}
