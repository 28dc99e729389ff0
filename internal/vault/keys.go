// Package vault is Komand's credential vault: secrets encrypted at rest with
// AES-256-GCM envelope encryption, and the credential service that stores,
// lists, renames, replaces and deletes them (values are write-only).
//
// # Keys
//
// Each tenant has data-encryption keys (DEKs, 256-bit, crypto/rand), stored
// only wrapped (AES-256-GCM) by a key-encryption key (KEK) from platform
// configuration (Vault__Kek, or Vault__Kek_FILE) or, with nothing
// configured, generated on first start into Server:DataDir/vault.kek (mode
// 0600), as the core does for its JWT key. Every wrapped key records the ID
// of the KEK that wrapped it (KEKID: a SHA-256 fingerprint, never the key).
//
// Associated data binds every ciphertext to where it belongs: a wrapped DEK
// to its tenant and version, a credential's ciphertext to its tenant,
// credential ID and DEK version. A row copied to another tenant or another
// credential, or pointed at another key version, does not decrypt.
//
// # Rotation
//
// Rotating the KEK (`komand vault rotate-kek`) re-wraps every tenant's data
// keys under the current KEK; credentials' ciphertexts are not touched, and
// servers keep working throughout because a Keyring also holds the previous
// KEKs (Vault__PreviousKeks) and unwrapped DEKs are cached.
//
// Only the standard library's crypto/aes and crypto/cipher are used; there is
// no hand-made cryptography.
//
// # External secret managers
//
// A credential may instead reference a value kept in HashiCorp Vault (KV
// v2), AWS Secrets Manager or Azure Key Vault ([Reference], sealed like a
// value, resolved at run time with a 60 s cache). Each is reached with the
// credentials Komand's configuration names and nothing else: AWS with
// static keys and Azure with a service principal's client secret, never
// the SDKs' default credential chains, so Komand does not read instance
// metadata, a managed identity or the environment's cloud credentials on
// a skill's behalf. The managers' errors go to the log only.
package vault

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"strconv"
)

// KeySize is the size of every key: KEKs and DEKs are AES-256 keys.
const KeySize = 32

// format is the first byte of every sealed value: a version, so that the
// layout (format || 12-byte nonce || GCM ciphertext and tag) can change.
const format byte = 1

// ErrDecrypt means a value did not authenticate: a wrong key, a corrupted
// or tampered ciphertext, or a ciphertext moved to another place (tenant,
// credential, key version). It never says which.
var ErrDecrypt = errors.New("vault: value cannot be decrypted")

// KEKID returns the fingerprint that names a KEK in the store: the first 16
// hex digits of SHA-256 over a domain prefix and the key. It reveals nothing
// useful about the key.
func KEKID(key []byte) string {
	h := sha256.New()
	h.Write([]byte("komand vault kek id\x00"))
	h.Write(key)
	return hex.EncodeToString(h.Sum(nil))[:16]
}

// Keyring holds the KEKs: the current one wraps data keys, and every one
// (current and previous) unwraps them.
type Keyring struct {
	current string
	keks    map[string]cipher.AEAD
}

// NewKeyring returns a keyring whose current KEK is current; previous KEKs
// can still unwrap data keys they wrapped, until rotate-kek has re-wrapped
// them.
func NewKeyring(current []byte, previous ...[]byte) (*Keyring, error) {
	r := &Keyring{keks: map[string]cipher.AEAD{}}
	for i, k := range append([][]byte{current}, previous...) {
		if len(k) != KeySize {
			return nil, fmt.Errorf("vault: a key-encryption key must be %d bytes, got %d", KeySize, len(k))
		}
		a, err := newAEAD(k)
		if err != nil {
			return nil, err
		}
		id := KEKID(k)
		if i == 0 {
			r.current = id
		}
		if _, dup := r.keks[id]; !dup {
			r.keks[id] = a
		}
	}
	return r, nil
}

// CurrentID is the ID of the KEK that wraps new and re-wrapped data keys.
func (r *Keyring) CurrentID() string { return r.current }

// Has reports whether the keyring holds the KEK id.
func (r *Keyring) Has(id string) bool { _, ok := r.keks[id]; return ok }

func newAEAD(key []byte) (cipher.AEAD, error) {
	b, err := aes.NewCipher(key)
	if err != nil {
		return nil, fmt.Errorf("vault: %w", err)
	}
	return cipher.NewGCM(b)
}

// seal encrypts plaintext with a under ad, with a fresh random nonce.
func seal(a cipher.AEAD, plaintext, ad []byte) ([]byte, error) {
	out := make([]byte, 1+a.NonceSize(), 1+a.NonceSize()+len(plaintext)+a.Overhead())
	out[0] = format
	if _, err := rand.Read(out[1:]); err != nil {
		return nil, fmt.Errorf("vault: nonce: %w", err)
	}
	return a.Seal(out, out[1:1+a.NonceSize()], plaintext, ad), nil
}

// open decrypts what seal produced.
func open(a cipher.AEAD, sealed, ad []byte) ([]byte, error) {
	n := a.NonceSize()
	if len(sealed) < 1+n+a.Overhead() || sealed[0] != format {
		return nil, ErrDecrypt
	}
	pt, err := a.Open(nil, sealed[1:1+n], sealed[1+n:], ad)
	if err != nil {
		return nil, ErrDecrypt
	}
	return pt, nil
}

// dekAD is the associated data of a wrapped data key.
func dekAD(tenantID string, version int) []byte {
	return []byte("komand vault dek v1\x00" + tenantID + "\x00" + strconv.Itoa(version))
}

// credentialAD is the associated data of a credential's ciphertext.
func credentialAD(tenantID, credentialID string, version int) []byte {
	return []byte("komand vault credential v1\x00" + tenantID + "\x00" + credentialID + "\x00" + strconv.Itoa(version))
}

// wrap encrypts a data key under the current KEK.
func (r *Keyring) wrap(tenantID string, version int, dek []byte) (kekID string, wrapped []byte, err error) {
	wrapped, err = seal(r.keks[r.current], dek, dekAD(tenantID, version))
	return r.current, wrapped, err
}

// unwrap decrypts a data key wrapped by KEK kekID.
func (r *Keyring) unwrap(tenantID string, version int, kekID string, wrapped []byte) ([]byte, error) {
	a, ok := r.keks[kekID]
	if !ok {
		return nil, fmt.Errorf("vault: data key %d of tenant %s is wrapped by KEK %s, which is not configured "+
			"(add it to Vault__PreviousKeks until `komand vault rotate-kek` has run)", version, tenantID, kekID)
	}
	dek, err := open(a, wrapped, dekAD(tenantID, version))
	if err != nil {
		return nil, err
	}
	if len(dek) != KeySize {
		return nil, ErrDecrypt
	}
	return dek, nil
}
