package skill

import (
	"bytes"
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"strings"

	"github.com/komand-ai/komand/internal/apperr"
)

// PackageFormat names the package layout.
const PackageFormat = "komand-skill/v1"

// Package is a skill as published: its contract, its WebAssembly module
// and the publisher's signature. On disk (komand skill pack) and on the
// wire (POST /api/skills/) it is one JSON document; the module is base64.
type Package struct {
	Format    string          `json:"format"`
	Contract  json.RawMessage `json:"contract"`
	Module    []byte          `json:"module"`
	Signature *Signature      `json:"signature,omitempty"`
}

// Signature is an Ed25519 signature over the package digest.
type Signature struct {
	Algorithm string `json:"algorithm"` // "ed25519"
	KeyID     string `json:"keyId"`     // fingerprint of the public key (a hint; verification tries the trusted keys)
	Value     []byte `json:"value"`
}

// Digest is what a publisher signs: SHA-256 over a domain label, the
// length of the compacted contract JSON, the contract and the module.
// The length prefix keeps the contract/module boundary unambiguous.
func Digest(contract, module []byte) ([32]byte, error) {
	var c bytes.Buffer
	if err := json.Compact(&c, contract); err != nil {
		return [32]byte{}, err
	}
	h := sha256.New()
	h.Write([]byte(PackageFormat + "\n"))
	var n [8]byte
	binary.BigEndian.PutUint64(n[:], uint64(c.Len()))
	h.Write(n[:])
	h.Write(c.Bytes())
	h.Write(module)
	var out [32]byte
	copy(out[:], h.Sum(nil))
	return out, nil
}

// SignatureHash is the package's integrity string, "sha256:<hex>".
func SignatureHash(d [32]byte) string { return "sha256:" + hex.EncodeToString(d[:]) }

// KeyID is a public key's fingerprint.
func KeyID(pub ed25519.PublicKey) string {
	sum := sha256.Sum256(pub)
	return "ed25519:" + hex.EncodeToString(sum[:8])
}

// Sign signs pkg in place with priv.
func Sign(pkg *Package, priv ed25519.PrivateKey) error {
	d, err := Digest(pkg.Contract, pkg.Module)
	if err != nil {
		return fmt.Errorf("contract is not JSON: %w", err)
	}
	pkg.Signature = &Signature{Algorithm: "ed25519", KeyID: KeyID(priv.Public().(ed25519.PublicKey)), Value: ed25519.Sign(priv, d[:])}
	return nil
}

// TrustedKeys are the publisher keys a deployment trusts, by publisher ID.
type TrustedKeys map[string][]ed25519.PublicKey

// ParseTrustedKeys reads Skills__TrustedPublishers: entries
// "publisherId=<base64 Ed25519 public key>" separated by commas or
// semicolons (a publisher may have several keys).
func ParseTrustedKeys(s string) (TrustedKeys, error) {
	out := TrustedKeys{}
	for _, e := range strings.FieldsFunc(s, func(r rune) bool { return r == ',' || r == ';' || r == '\n' }) {
		e = strings.TrimSpace(e)
		if e == "" {
			continue
		}
		pub, key, ok := strings.Cut(e, "=")
		pub = strings.TrimSpace(pub)
		if !ok || !publisherRe.MatchString(pub) {
			return nil, fmt.Errorf("Skills__TrustedPublishers: entry %q is not publisherId=<base64 key>", truncate(e, 40))
		}
		k, err := ParsePublicKey(strings.TrimSpace(key))
		if err != nil {
			return nil, fmt.Errorf("Skills__TrustedPublishers: publisher %s: %w", pub, err)
		}
		out[pub] = append(out[pub], k)
	}
	return out, nil
}

// ParsePublicKey reads a base64 (standard or URL) Ed25519 public key,
// optionally prefixed "ed25519:".
func ParsePublicKey(s string) (ed25519.PublicKey, error) {
	s = strings.TrimPrefix(s, "ed25519:")
	for _, enc := range []*base64.Encoding{base64.StdEncoding, base64.RawStdEncoding, base64.URLEncoding, base64.RawURLEncoding} {
		if b, err := enc.DecodeString(s); err == nil && len(b) == ed25519.PublicKeySize {
			return ed25519.PublicKey(b), nil
		}
	}
	return nil, fmt.Errorf("not a base64 Ed25519 public key")
}

// Verification is the outcome of checking a package's signature.
type Verification struct {
	Digest        [32]byte
	SignatureHash string
	Verified      bool   // signed by a key trusted for the contract's publisher
	KeyID         string // that key
	// PublisherHasKeys says the deployment trusts keys for the contract's
	// publisher: such a package must verify, unsigned or not.
	PublisherHasKeys bool
}

// Verify checks pkg's signature against the keys trusted for publisher.
// A signature that is present but does not verify against a trusted key
// of that publisher is an error (tampered, or signed by someone else).
func (t TrustedKeys) Verify(pkg *Package, publisher string) (Verification, error) {
	d, err := Digest(pkg.Contract, pkg.Module)
	if err != nil {
		return Verification{}, apperr.New(apperr.Invalid, "the skill contract is not valid JSON")
	}
	v := Verification{Digest: d, SignatureHash: SignatureHash(d), PublisherHasKeys: len(t[publisher]) > 0}
	if pkg.Signature == nil {
		return v, nil
	}
	if pkg.Signature.Algorithm != "ed25519" || len(pkg.Signature.Value) != ed25519.SignatureSize {
		return v, apperr.New(apperr.Invalid, "the package signature is not an Ed25519 signature")
	}
	for _, k := range t[publisher] {
		if ed25519.Verify(k, d[:], pkg.Signature.Value) {
			v.Verified, v.KeyID = true, KeyID(k)
			return v, nil
		}
	}
	if v.PublisherHasKeys {
		return v, apperr.New(apperr.Invalid, "the package signature does not verify against the publisher's trusted keys")
	}
	// Signed, but by a key this deployment does not trust: unverified.
	return v, nil
}

// DecodePackage reads a package document strictly.
func DecodePackage(raw []byte) (*Package, error) {
	var p Package
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&p); err != nil {
		return nil, apperr.New(apperr.Invalid, "the skill package is not valid: "+jsonProblem(err))
	}
	if dec.More() {
		return nil, apperr.New(apperr.Invalid, "the skill package must be one JSON object")
	}
	if p.Format != PackageFormat {
		return nil, apperr.New(apperr.Invalid, "the skill package format must be "+PackageFormat)
	}
	if len(p.Contract) == 0 || len(p.Module) == 0 {
		return nil, apperr.New(apperr.Invalid, "the skill package needs a contract and a module")
	}
	return &p, nil
}
