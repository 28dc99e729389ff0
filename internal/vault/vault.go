package vault

import (
	"context"
	"crypto/cipher"
	"crypto/rand"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/komand-ai/komand/internal/store"
)

// Vault encrypts and decrypts credential values with the tenants' data
// keys. Unwrapped data keys are cached in memory (one AEAD per tenant and
// version), so a warm decryption reads no key from the database.
type Vault struct {
	st   store.Vault
	ring *Keyring
	now  func() time.Time

	mu       sync.RWMutex
	deks     map[dekRef]cipher.AEAD
	current  map[string]int       // tenant → newest version
	loadedAt map[string]time.Time // tenant → when its keys were read
	create   sync.Mutex           // serialises key creation in this process
}

// currentTTL is how long this process seals with the newest data key it
// knows before it looks again (another replica may have rotated).
const currentTTL = time.Minute

type dekRef struct {
	tenant  string
	version int
}

// New returns a Vault over st with the KEKs of ring.
func New(st store.Vault, ring *Keyring, now func() time.Time) *Vault {
	if now == nil {
		now = time.Now
	}
	return &Vault{st: st, ring: ring, now: now, deks: map[dekRef]cipher.AEAD{}, current: map[string]int{}, loadedAt: map[string]time.Time{}}
}

// CurrentKEKID is the ID of the KEK that wraps new data keys.
func (v *Vault) CurrentKEKID() string { return v.ring.CurrentID() }

// Seal encrypts a credential's value under the tenant's newest data key
// (created on first use) and returns the key version and the ciphertext.
func (v *Vault) Seal(ctx context.Context, tenantID, credentialID string, value []byte) (int, []byte, error) {
	version, a, err := v.currentKey(ctx, tenantID)
	if err != nil {
		return 0, nil, err
	}
	ct, err := seal(a, value, credentialAD(tenantID, credentialID, version))
	return version, ct, err
}

// Open decrypts a credential's value. Any mismatch (key, tenant,
// credential, version, tampering) is ErrDecrypt.
func (v *Vault) Open(ctx context.Context, tenantID, credentialID string, version int, ciphertext []byte) ([]byte, error) {
	a, err := v.key(ctx, tenantID, version)
	if err != nil {
		return nil, err
	}
	return open(a, ciphertext, credentialAD(tenantID, credentialID, version))
}

// currentKey returns the tenant's newest data key, creating version 1 when
// the tenant has none.
func (v *Vault) currentKey(ctx context.Context, tenantID string) (int, cipher.AEAD, error) {
	v.mu.RLock()
	version, ok := v.current[tenantID]
	a := v.deks[dekRef{tenantID, version}]
	fresh := v.now().Sub(v.loadedAt[tenantID]) < currentTTL
	v.mu.RUnlock()
	if ok && a != nil && fresh {
		return version, a, nil
	}
	if err := v.load(ctx, tenantID); err != nil {
		return 0, nil, err
	}
	v.mu.RLock()
	version, ok = v.current[tenantID]
	a = v.deks[dekRef{tenantID, version}]
	v.mu.RUnlock()
	if ok && a != nil {
		return version, a, nil
	}
	if err := v.createFirst(ctx, tenantID); err != nil {
		return 0, nil, err
	}
	v.mu.RLock()
	defer v.mu.RUnlock()
	version = v.current[tenantID]
	if a = v.deks[dekRef{tenantID, version}]; a == nil {
		return 0, nil, errors.New("vault: data key not available after creation")
	}
	return version, a, nil
}

// key returns one data key version of the tenant.
func (v *Vault) key(ctx context.Context, tenantID string, version int) (cipher.AEAD, error) {
	v.mu.RLock()
	a := v.deks[dekRef{tenantID, version}]
	v.mu.RUnlock()
	if a != nil {
		return a, nil
	}
	if err := v.load(ctx, tenantID); err != nil {
		return nil, err
	}
	v.mu.RLock()
	defer v.mu.RUnlock()
	if a = v.deks[dekRef{tenantID, version}]; a == nil {
		return nil, ErrDecrypt
	}
	return a, nil
}

// load reads and unwraps every data key of the tenant into the cache.
func (v *Vault) load(ctx context.Context, tenantID string) error {
	ks, err := v.st.DataKeys(ctx, tenantID)
	if err != nil {
		return err
	}
	unwrapped := make(map[dekRef]cipher.AEAD, len(ks))
	for _, k := range ks {
		if !v.ring.Has(k.KEKID) {
			// Re-wrapped under a KEK this process does not hold yet (a
			// rotation with the generated key file, before this server's
			// restart): a key already cached stays usable, others are not
			// loaded, and nothing else of the tenant is affected.
			v.mu.RLock()
			cached := v.deks[dekRef{tenantID, k.Version}]
			v.mu.RUnlock()
			if cached != nil {
				unwrapped[dekRef{tenantID, k.Version}] = cached
			}
			continue
		}
		dek, err := v.ring.unwrap(tenantID, k.Version, k.KEKID, k.Wrapped)
		if err != nil {
			return err
		}
		a, err := newAEAD(dek)
		clear(dek)
		if err != nil {
			return err
		}
		unwrapped[dekRef{tenantID, k.Version}] = a
	}
	v.mu.Lock()
	defer v.mu.Unlock()
	for ref, a := range unwrapped {
		v.deks[ref] = a
	}
	// Only ever raise the current version: a slow load that read the keys
	// before a rotation must not lower it.
	for ref := range unwrapped {
		if ref.version > v.current[tenantID] {
			v.current[tenantID] = ref.version
		}
	}
	v.loadedAt[tenantID] = v.now()
	return nil
}

// RotateDataKey creates the tenant's next data key version, wrapped by the
// current KEK, and makes it the key new values are sealed with in this
// process (other replicas pick it up within currentTTL). Existing
// ciphertexts stay readable; Reencrypt moves them to it.
func (v *Vault) RotateDataKey(ctx context.Context, tenantID string) (int, error) {
	v.create.Lock()
	defer v.create.Unlock()
	for attempt := 0; attempt < 3; attempt++ {
		ks, err := v.st.DataKeys(ctx, tenantID)
		if err != nil {
			return 0, err
		}
		next := 1
		if len(ks) > 0 {
			next = ks[0].Version + 1
		}
		dek := make([]byte, KeySize)
		if _, err := rand.Read(dek); err != nil {
			return 0, fmt.Errorf("vault: data key: %w", err)
		}
		kekID, wrapped, err := v.ring.wrap(tenantID, next, dek)
		clear(dek)
		if err != nil {
			return 0, err
		}
		err = v.st.CreateDataKey(ctx, store.DataKey{TenantID: tenantID, Version: next, KEKID: kekID, Wrapped: wrapped,
			CreatedAt: v.now().UTC().Truncate(time.Microsecond)})
		if errors.Is(err, store.ErrConflict) {
			continue // another replica rotated at the same moment: take the next number
		}
		if err != nil {
			return 0, err
		}
		return next, v.load(ctx, tenantID)
	}
	return 0, errors.New("vault: data key rotation kept conflicting; try again")
}

// Reencrypt moves every credential of the tenant that is under a data key
// older than newest to newest, and reports how many it moved. A credential
// whose value is replaced meanwhile is skipped (the store compares the
// ciphertext it read). It can be interrupted and run again.
func (v *Vault) Reencrypt(ctx context.Context, tenantID string, newest int) (int, error) {
	n := 0
	for {
		cs, err := v.st.CredentialsBelowVersion(ctx, tenantID, newest, 100)
		if err != nil || len(cs) == 0 {
			return n, err
		}
		moved := 0
		for _, c := range cs {
			pt, err := v.Open(ctx, tenantID, c.ID, c.KeyVersion, c.Ciphertext)
			if err != nil {
				return n, fmt.Errorf("vault: credential %s: %w", c.ID, err)
			}
			a, err := v.key(ctx, tenantID, newest)
			if err != nil {
				clear(pt)
				return n, err
			}
			ct, err := seal(a, pt, credentialAD(tenantID, c.ID, newest))
			clear(pt)
			if err != nil {
				return n, err
			}
			err = v.st.ReencryptCredential(ctx, tenantID, c.ID, c.Ciphertext, newest, ct)
			if errors.Is(err, store.ErrConflict) {
				continue
			}
			if err != nil {
				return n, err
			}
			n++
			moved++
		}
		if moved == 0 {
			// Everything left changed under us; the next run picks it up.
			return n, nil
		}
	}
}

// createFirst creates the tenant's first data key. Another process may
// create it at the same moment: the store's uniqueness decides, and the
// loser loads the winner's key.
func (v *Vault) createFirst(ctx context.Context, tenantID string) error {
	v.create.Lock()
	defer v.create.Unlock()
	v.mu.RLock()
	_, done := v.current[tenantID]
	v.mu.RUnlock()
	if done {
		return nil
	}
	dek := make([]byte, KeySize)
	if _, err := rand.Read(dek); err != nil {
		return fmt.Errorf("vault: data key: %w", err)
	}
	defer clear(dek)
	kekID, wrapped, err := v.ring.wrap(tenantID, 1, dek)
	if err != nil {
		return err
	}
	err = v.st.CreateDataKey(ctx, store.DataKey{TenantID: tenantID, Version: 1, KEKID: kekID, Wrapped: wrapped,
		CreatedAt: v.now().UTC().Truncate(time.Microsecond)})
	if err != nil && !errors.Is(err, store.ErrConflict) {
		return err
	}
	return v.load(ctx, tenantID)
}

// RotateKEK re-wraps every data key of the given tenants that is not
// wrapped by the current KEK, and reports how many it re-wrapped.
// Credentials' ciphertexts are not touched. It can run while servers are
// serving: a key re-wrapped under their feet is still in their cache, and
// their keyring holds the new KEK (configure it everywhere first). Writes
// go in transactions of rotateBatch keys; a key re-wrapped concurrently by
// another run is skipped.
func (v *Vault) RotateKEK(ctx context.Context, tenantIDs []string) (int, error) {
	n := 0
	batch := make([]store.DataKeyRewrap, 0, rotateBatch)
	flush := func() error {
		if len(batch) == 0 {
			return nil
		}
		k, err := v.st.RewrapDataKeys(ctx, batch)
		n += k
		batch = batch[:0]
		return err
	}
	for _, t := range tenantIDs {
		ks, err := v.st.DataKeys(ctx, t)
		if err != nil {
			return n, err
		}
		for _, k := range ks {
			if k.KEKID == v.ring.CurrentID() {
				continue
			}
			dek, err := v.ring.unwrap(t, k.Version, k.KEKID, k.Wrapped)
			if err != nil {
				return n, err
			}
			kekID, wrapped, err := v.ring.wrap(t, k.Version, dek)
			clear(dek)
			if err != nil {
				return n, err
			}
			batch = append(batch, store.DataKeyRewrap{TenantID: t, Version: k.Version, OldKEKID: k.KEKID, NewKEKID: kekID, Wrapped: wrapped})
			if len(batch) == rotateBatch {
				if err := flush(); err != nil {
					return n, err
				}
			}
		}
	}
	return n, flush()
}

// rotateBatch is the number of data keys re-wrapped per transaction.
const rotateBatch = 500
