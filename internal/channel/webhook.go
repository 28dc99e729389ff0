package channel

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"strconv"
	"strings"
	"time"
)

// Webhook is the generic signed-webhook channel's name.
const Webhook = "Webhook"

// Headers of a signed webhook delivery.
const (
	TimestampHeader = "X-Komand-Timestamp" // unix seconds
	SignatureHeader = "X-Komand-Signature" // "v1=" + hex HMAC-SHA256
)

// ReplayWindow is how far a delivery's timestamp may be from now, either
// way; a signature is remembered for as long, so a replay within the
// window is refused too.
const ReplayWindow = 5 * time.Minute

// Reasons a delivery is refused (the audit entry's reason; the client
// only learns that the signature is invalid).
var (
	ErrNoSignature  = errors.New("missing timestamp or signature")
	ErrBadSignature = errors.New("signature does not match")
	ErrStale        = errors.New("timestamp outside the replay window")
)

// Sign returns the v1 signature of a delivery: HMAC-SHA256 with the
// account's secret over "v1:" + timestamp + ":" + body, hex-encoded, with
// the "v1=" prefix. Senders compute the same.
func Sign(secret []byte, timestamp string, body []byte) string {
	return sign("v1", secret, timestamp, body)
}

// sign is the scheme Komand's webhook shares with Slack's request signing
// (version "v0"): HMAC-SHA256 over version:timestamp:body.
func sign(version string, secret []byte, timestamp string, body []byte) string {
	m := hmac.New(sha256.New, secret)
	m.Write([]byte(version + ":" + timestamp + ":"))
	m.Write(body)
	return version + "=" + hex.EncodeToString(m.Sum(nil))
}

// ReplayKey names a delivery for replay protection: SHA-256 over its
// timestamp and body, whatever the signature header held (a header with
// extra or repeated entries is the same delivery).
func ReplayKey(timestamp string, body []byte) string {
	h := sha256.New()
	h.Write([]byte(timestamp + ":"))
	h.Write(body)
	return "d:" + hex.EncodeToString(h.Sum(nil))
}

// replayRetention is how long a delivery is remembered after its
// timestamp: twice the window, so a replica whose clock runs ahead does not
// forget a delivery another, behind, would still accept.
const replayRetention = 2 * ReplayWindow

// maxSignatures bounds the entries of a signature header (a current and a
// next secret during rotation).
const maxSignatures = 2

// Verify checks a delivery's timestamp (within ReplayWindow of now) and
// signature (constant-time), and returns the timestamp.
func Verify(secret []byte, timestamp, signature string, body []byte, now time.Time) (time.Time, error) {
	return verify("v1", secret, timestamp, signature, body, now)
}

func verify(version string, secret []byte, timestamp, signature string, body []byte, now time.Time) (time.Time, error) {
	if timestamp == "" || signature == "" || len(timestamp) > 20 || len(signature) > 200 {
		return time.Time{}, ErrNoSignature
	}
	secs, err := strconv.ParseInt(timestamp, 10, 64)
	if err != nil {
		return time.Time{}, ErrNoSignature
	}
	ts := time.Unix(secs, 0)
	if d := now.Sub(ts); d > ReplayWindow || d < -ReplayWindow {
		return time.Time{}, ErrStale
	}
	want := sign(version, secret, timestamp, body)
	// Up to two signatures may be sent (secret rotation): "v1=…,v1=…".
	parts := strings.Split(signature, ",")
	if len(parts) > maxSignatures {
		return time.Time{}, ErrBadSignature
	}
	for _, got := range parts {
		if hmac.Equal([]byte(strings.TrimSpace(got)), []byte(want)) {
			return ts, nil
		}
	}
	return time.Time{}, ErrBadSignature
}
