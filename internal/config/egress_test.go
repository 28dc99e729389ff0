package config

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestEgressCaFile(t *testing.T) {
	dir := t.TempDir()
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "Acme internal CA"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour), IsCA: true, BasicConstraintsValid: true,
		KeyUsage: x509.KeyUsageCertSign}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	good := filepath.Join(dir, "ca.pem")
	notPEM := filepath.Join(dir, "ca.txt")
	os.WriteFile(good, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600)
	os.WriteFile(notPEM, []byte("not a certificate"), 0o600)

	c := Default()
	if pool, err := c.EgressRootCAs(); pool != nil || err != nil {
		t.Fatalf("unset: %v %v", pool, err)
	}
	c.Sandbox.EgressCaFile = good
	pool, err := c.EgressRootCAs()
	if err != nil || pool == nil {
		t.Fatalf("good file: %v", err)
	}
	cert, _ := x509.ParseCertificate(der)
	if _, err := cert.Verify(x509.VerifyOptions{Roots: pool}); err != nil {
		t.Fatalf("the file's CA is not trusted: %v", err)
	}
	if err := c.Validate(); err != nil {
		t.Fatalf("validate good: %v", err)
	}
	for _, bad := range []string{notPEM, filepath.Join(dir, "missing.pem"), dir} {
		c.Sandbox.EgressCaFile = bad
		err := c.Validate()
		if err == nil || !strings.Contains(err.Error(), "Sandbox:EgressCaFile") {
			t.Errorf("%s: %v", bad, err)
		}
	}
}
