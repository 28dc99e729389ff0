package vault

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/komand-ai/komand/internal/store"
	"github.com/komand-ai/komand/internal/store/sqlite"
)

func randomKey(t testing.TB) []byte {
	t.Helper()
	k := make([]byte, KeySize)
	if _, err := rand.Read(k); err != nil {
		t.Fatal(err)
	}
	return k
}

func openStore(t testing.TB, tenants ...string) *sqlite.Store {
	t.Helper()
	st, err := sqlite.Open(context.Background(), filepath.Join(t.TempDir(), "k.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	for i, id := range tenants {
		if err := st.CreateTenant(context.Background(), store.Tenant{ID: id, Slug: "t" + string(rune('a'+i)), Name: "T", CreatedAt: time.Now()}); err != nil {
			t.Fatal(err)
		}
	}
	return st
}

func TestKeyringRejectsBadKeys(t *testing.T) {
	for _, n := range []int{0, 16, 31, 33, 64} {
		if _, err := NewKeyring(make([]byte, n)); err == nil {
			t.Errorf("a %d-byte KEK was accepted", n)
		}
	}
	if _, err := NewKeyring(randomKey(t), make([]byte, 8)); err == nil {
		t.Error("a short previous KEK was accepted")
	}
	k := randomKey(t)
	r, err := NewKeyring(k)
	if err != nil || r.CurrentID() != KEKID(k) || len(r.CurrentID()) != 16 {
		t.Fatalf("keyring: %v %q", err, r.CurrentID())
	}
	if KEKID(k) == KEKID(randomKey(t)) {
		t.Fatal("two keys share an ID")
	}
}

// TestSealBindsPlace: a ciphertext opens only at its own tenant,
// credential and key version, and any flipped byte is rejected.
func TestSealBindsPlace(t *testing.T) {
	ctx := context.Background()
	ta, tb := uuid.NewString(), uuid.NewString()
	st := openStore(t, ta, tb)
	ring, _ := NewKeyring(randomKey(t))
	v := New(st, ring, nil)
	secret := []byte("sk_live_4242424242424242")
	ca, cb := uuid.NewString(), uuid.NewString()
	ver, ct, err := v.Seal(ctx, ta, ca, secret)
	if err != nil || ver != 1 {
		t.Fatalf("Seal: %d %v", ver, err)
	}
	if bytes.Contains(ct, secret) {
		t.Fatal("ciphertext contains the plaintext")
	}
	got, err := v.Open(ctx, ta, ca, ver, ct)
	if err != nil || !bytes.Equal(got, secret) {
		t.Fatalf("Open: %q %v", got, err)
	}
	if _, _, err := v.Seal(ctx, tb, cb, []byte("b's")); err != nil {
		t.Fatal(err)
	}
	for name, open := range map[string]func() ([]byte, error){
		"other tenant":     func() ([]byte, error) { return v.Open(ctx, tb, ca, ver, ct) },
		"other credential": func() ([]byte, error) { return v.Open(ctx, ta, cb, ver, ct) },
		"other version":    func() ([]byte, error) { return v.Open(ctx, ta, ca, 2, ct) },
		"truncated":        func() ([]byte, error) { return v.Open(ctx, ta, ca, ver, ct[:10]) },
		"empty":            func() ([]byte, error) { return v.Open(ctx, ta, ca, ver, nil) },
	} {
		if pt, err := open(); !errors.Is(err, ErrDecrypt) || pt != nil {
			t.Errorf("%s: got %q, %v; want ErrDecrypt", name, pt, err)
		}
	}
	for i := range ct {
		bad := bytes.Clone(ct)
		bad[i] ^= 0x01
		if _, err := v.Open(ctx, ta, ca, ver, bad); !errors.Is(err, ErrDecrypt) {
			t.Fatalf("byte %d flipped: %v", i, err)
		}
	}
	// Two seals of one value differ (fresh nonces).
	_, ct2, _ := v.Seal(ctx, ta, ca, secret)
	if bytes.Equal(ct, ct2) {
		t.Fatal("two seals produced the same ciphertext")
	}
}

// TestWrongKEK: a vault with another KEK cannot read the data keys, and a
// wrapped data key copied to another tenant does not unwrap.
func TestWrongKEK(t *testing.T) {
	ctx := context.Background()
	ta, tb := uuid.NewString(), uuid.NewString()
	st := openStore(t, ta, tb)
	ring, _ := NewKeyring(randomKey(t))
	c := uuid.NewString()
	ver, ct, err := New(st, ring, nil).Seal(ctx, ta, c, []byte("v"))
	if err != nil {
		t.Fatal(err)
	}
	other, _ := NewKeyring(randomKey(t))
	if _, err := New(st, other, nil).Open(ctx, ta, c, ver, ct); err == nil {
		t.Fatal("a vault without the KEK decrypted a credential")
	}
	ks, _ := st.DataKeys(ctx, ta)
	if err := st.CreateDataKey(ctx, store.DataKey{TenantID: tb, Version: 1, KEKID: ks[0].KEKID, Wrapped: ks[0].Wrapped, CreatedAt: time.Now()}); err != nil {
		t.Fatal(err)
	}
	if _, err := New(st, ring, nil).Open(ctx, tb, c, ver, ct); err == nil {
		t.Fatal("A's data key, copied to B, decrypted A's credential as B")
	}
}

// TestRotateKEK: after rotation every data key is under the new KEK, the
// old KEK is no longer needed, and every credential still opens.
func TestRotateKEK(t *testing.T) {
	ctx := context.Background()
	tenants := []string{uuid.NewString(), uuid.NewString(), uuid.NewString()}
	st := openStore(t, tenants...)
	oldKey, newKey := randomKey(t), randomKey(t)
	oldRing, _ := NewKeyring(oldKey)
	type sealed struct {
		tenant, id string
		ver        int
		ct         []byte
	}
	var all []sealed
	v := New(st, oldRing, nil)
	for _, tn := range tenants {
		for range 3 {
			id := uuid.NewString()
			ver, ct, err := v.Seal(ctx, tn, id, []byte("secret-"+id))
			if err != nil {
				t.Fatal(err)
			}
			all = append(all, sealed{tn, id, ver, ct})
		}
	}
	bothRing, _ := NewKeyring(newKey, oldKey)
	n, err := New(st, bothRing, nil).RotateKEK(ctx, tenants)
	if err != nil || n != len(tenants) {
		t.Fatalf("RotateKEK: %d %v, want %d", n, err, len(tenants))
	}
	if n, _ := New(st, bothRing, nil).RotateKEK(ctx, tenants); n != 0 {
		t.Fatalf("second rotation re-wrapped %d keys", n)
	}
	newOnly, _ := NewKeyring(newKey)
	fresh := New(st, newOnly, nil)
	for _, s := range all {
		got, err := fresh.Open(ctx, s.tenant, s.id, s.ver, s.ct)
		if err != nil || string(got) != "secret-"+s.id {
			t.Fatalf("after rotation: %q %v", got, err)
		}
	}
	if _, err := New(st, oldRing, nil).Open(ctx, all[0].tenant, all[0].id, all[0].ver, all[0].ct); err == nil {
		t.Fatal("the retired KEK still unwraps the data keys")
	}
}

// TestFirstKeyRace: many concurrent first seals of a tenant, in two
// vaults over one store, agree on one data key.
func TestFirstKeyRace(t *testing.T) {
	ctx := context.Background()
	tn := uuid.NewString()
	st := openStore(t, tn)
	ring, _ := NewKeyring(randomKey(t))
	v1, v2 := New(st, ring, nil), New(st, ring, nil)
	type res struct {
		id  string
		ver int
		ct  []byte
		err error
	}
	out := make(chan res, 20)
	for i := range 20 {
		v := v1
		if i%2 == 1 {
			v = v2
		}
		go func() {
			id := uuid.NewString()
			ver, ct, err := v.Seal(ctx, tn, id, []byte("x"))
			out <- res{id, ver, ct, err}
		}()
	}
	for range 20 {
		r := <-out
		if r.err != nil {
			t.Fatalf("Seal: %v", r.err)
		}
		for _, v := range []*Vault{v1, v2, New(st, ring, nil)} {
			if _, err := v.Open(ctx, tn, r.id, r.ver, r.ct); err != nil {
				t.Fatalf("a value sealed in the race does not open: %v", err)
			}
		}
	}
	if ks, _ := st.DataKeys(ctx, tn); len(ks) != 1 {
		t.Fatalf("%d data keys after the race, want 1", len(ks))
	}
}

// TestDataKeyRotation: after a rotation new values use the new key, the
// re-encryption moves every old credential to it (same values), a value
// replaced meanwhile is not overwritten, and old ciphertexts are rejected
// under the new version.
func TestDataKeyRotation(t *testing.T) {
	ctx := context.Background()
	tn := uuid.NewString()
	st := openStore(t, tn)
	ring, _ := NewKeyring(randomKey(t))
	v := New(st, ring, nil)
	ids := map[string]string{}
	for i := range 250 {
		id := uuid.NewString()
		val := "value-" + id
		ver, ct, err := v.Seal(ctx, tn, id, []byte(val))
		if err != nil {
			t.Fatal(err)
		}
		if err := st.CreateCredential(ctx, store.Credential{TenantID: tn, ID: id, Name: "c" + strconv.Itoa(i), Type: "api_key",
			KeyVersion: ver, Ciphertext: ct, CreatedAt: time.Now(), UpdatedAt: time.Now()}, 1000); err != nil {
			t.Fatal(err)
		}
		ids[id] = val
	}
	next, err := v.RotateDataKey(ctx, tn)
	if err != nil || next != 2 {
		t.Fatalf("RotateDataKey: %d %v", next, err)
	}
	if ver, _, _ := v.Seal(ctx, tn, uuid.NewString(), []byte("x")); ver != 2 {
		t.Fatalf("new values sealed with version %d, want 2", ver)
	}
	n, err := v.Reencrypt(ctx, tn, next)
	if err != nil || n != 250 {
		t.Fatalf("Reencrypt: %d %v", n, err)
	}
	if left, _ := st.CredentialsBelowVersion(ctx, tn, 2, 10); len(left) != 0 {
		t.Fatalf("%d credentials left on the old key", len(left))
	}
	fresh := New(st, ring, nil)
	for id, val := range ids {
		c, _ := st.GetCredential(ctx, tn, id)
		got, err := fresh.Open(ctx, tn, id, c.KeyVersion, c.Ciphertext)
		if err != nil || string(got) != val || c.KeyVersion != 2 {
			t.Fatalf("after re-encryption: %q %v (version %d)", got, err, c.KeyVersion)
		}
		if _, err := fresh.Open(ctx, tn, id, 1, c.Ciphertext); err == nil {
			t.Fatal("a version-2 ciphertext opened as version 1")
		}
	}
	if n, _ := v.Reencrypt(ctx, tn, next); n != 0 {
		t.Fatalf("second pass moved %d", n)
	}
	// A replacement racing with the pass wins: the store refuses to
	// overwrite a credential whose version changed.
	var some string
	for id := range ids {
		some = id
		break
	}
	c, _ := st.GetCredential(ctx, tn, some)
	if err := st.ReencryptCredential(ctx, tn, some, []byte("an older ciphertext"), 2, []byte("stale")); !errors.Is(err, store.ErrConflict) {
		t.Fatalf("re-encrypting a credential no longer on version 1: %v", err)
	}
	if got, _ := st.GetCredential(ctx, tn, some); !bytes.Equal(got.Ciphertext, c.Ciphertext) {
		t.Fatal("a stale re-encryption overwrote the credential")
	}
}
