package saml

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/hex"
	"encoding/pem"
	"fmt"
	"math/big"
	"strconv"
	"sync"
	"time"

	"github.com/gatehouse-id/gatehouse/internal/directory"
)

// Signing keys.
//
// The identity provider signs with RSA-SHA256. Its keys and their
// self-signed certificates are kept in the database (saml_keys), like the
// ES256 keys of the access tokens (internal/auth/oauth.go), and loaded again
// whenever the credentials version moves. Service providers pin the
// certificate (GitBook and Alibaba Cloud take one PEM), so a key is not
// rotated behind their backs: the first key is made on first use, and a
// rotation is asked for (gatehouse saml keys rotate), optionally with a
// delay during which the new certificate is published beside the one that
// signs. Every stored key is in the metadata: at most the one that signs
// and either the one waiting to sign or the one it replaced.

// DefaultKeyBits is the size of the RSA keys Gatehouse makes unless told
// otherwise: 2048 bits keeps a response (two RSA signatures) under 5 ms of
// CPU (docs/benchmarks.md) and is acceptable until 2030 (NIST SP 800-57);
// 3072 bits (about twice the signing cost) may be asked for.
const DefaultKeyBits = 2048

// minKeyBits is the smallest RSA key Gatehouse signs with.
const minKeyBits = 2048

// certLifetime is how long a certificate is valid. Service providers
// rarely check it (saml-metadata: keys in metadata are trusted as such), but
// some warn about expired certificates.
const certLifetime = 10 * 365 * 24 * time.Hour

// loadedKey is a key ready to sign.
type loadedKey struct {
	rec  *Key
	priv *rsa.PrivateKey
	cert *x509.Certificate
}

// keyring caches the keys, loaded from the store when the credentials
// version moves.
type keyring struct {
	store   Store
	now     func() time.Time
	mu      sync.Mutex
	version int64
	keys    []*loadedKey // the latest to activate first
	loaded  bool
}

func (k *keyring) load(ctx context.Context) error {
	v, err := k.store.CredentialsVersion(ctx)
	if err != nil {
		return err
	}
	if k.loaded && v == k.version {
		return nil
	}
	recs, err := k.store.SAMLKeys(ctx)
	if err != nil {
		return err
	}
	keys := make([]*loadedKey, 0, len(recs))
	for _, r := range recs {
		lk, err := parseKey(r)
		if err != nil {
			return err
		}
		keys = append(keys, lk)
	}
	k.keys, k.version, k.loaded = keys, v, true
	return nil
}

// parseKey reads a stored key. Errors name the key, never its content.
func parseKey(r *Key) (*loadedKey, error) {
	block, _ := pem.Decode(r.PrivatePEM)
	if block == nil {
		return nil, fmt.Errorf("SAML key %s: the private key is not PEM", r.ID)
	}
	key, err := x509.ParsePKCS8PrivateKey(block.Bytes)
	if err != nil {
		return nil, fmt.Errorf("SAML key %s: the private key cannot be read", r.ID)
	}
	priv, ok := key.(*rsa.PrivateKey)
	if !ok || priv.N.BitLen() < minKeyBits {
		return nil, fmt.Errorf("SAML key %s: not an RSA key of %d bits or more", r.ID, minKeyBits)
	}
	cert, err := parseCertPEM(r.CertPEM)
	if err != nil {
		return nil, fmt.Errorf("SAML key %s: %w", r.ID, err)
	}
	if pub, ok := cert.PublicKey.(*rsa.PublicKey); !ok || !pub.Equal(&priv.PublicKey) {
		return nil, fmt.Errorf("SAML key %s: the certificate is not the key's", r.ID)
	}
	return &loadedKey{rec: r, priv: priv, cert: cert}, nil
}

func parseCertPEM(b []byte) (*x509.Certificate, error) {
	block, _ := pem.Decode(b)
	if block == nil || block.Type != "CERTIFICATE" {
		return nil, fmt.Errorf("not a PEM certificate")
	}
	return x509.ParseCertificate(block.Bytes)
}

// signing returns the key that signs at now (nil if none does yet) and the
// other published keys.
func (k *keyring) signing(now time.Time) (*loadedKey, []*loadedKey) {
	var cur *loadedKey
	var others []*loadedKey
	for _, lk := range k.keys {
		if cur == nil && !lk.rec.Activates.After(now) {
			cur = lk
			continue
		}
		others = append(others, lk)
	}
	return cur, others
}

// current returns the key that signs now and the other published keys,
// making the first key if there is none.
func (k *keyring) current(ctx context.Context) (*loadedKey, []*loadedKey, error) {
	k.mu.Lock()
	defer k.mu.Unlock()
	if err := k.load(ctx); err != nil {
		return nil, nil, err
	}
	now := k.now()
	if cur, others := k.signing(now); cur != nil {
		return cur, others, nil
	}
	if _, err := k.rotate(ctx, directory.Actor{Kind: "system", RequestID: "saml-key"}, 0, DefaultKeyBits); err != nil {
		return nil, nil, err
	}
	cur, others := k.signing(now)
	if cur == nil {
		return nil, nil, fmt.Errorf("no SAML signing key")
	}
	return cur, others, nil
}

// rotate makes a new key that signs from now+delay, keeps the key that
// signs now and deletes the others. A key already waiting to sign makes it
// a conflict: activate or replace it first (rotate again once it signs).
// Called with k.mu held.
func (k *keyring) rotate(ctx context.Context, actor directory.Actor, delay time.Duration, bits int) (*Key, error) {
	if delay < 0 {
		return nil, directory.Errorf(directory.ErrInvalid, "delay", "the delay cannot be negative")
	}
	if bits != 2048 && bits != 3072 && bits != 4096 {
		return nil, directory.Errorf(directory.ErrInvalid, "bits", "an RSA key has 2048, 3072 or 4096 bits")
	}
	now := k.now().UTC().Truncate(time.Second)
	cur, others := k.signing(now)
	for _, o := range others {
		if o.rec.Activates.After(now) {
			return nil, directory.Errorf(directory.ErrConflict, "key", "key %s is already waiting to sign from %s", o.rec.ID, o.rec.Activates.Format(time.RFC3339))
		}
	}
	rec, err := newKey(now, now.Add(delay), bits)
	if err != nil {
		return nil, err
	}
	err = k.store.WriteSAML(ctx, func(tx Tx) error {
		for _, o := range others {
			if err := tx.DeleteSAMLKey(ctx, o.rec.ID); err != nil {
				return err
			}
		}
		if err := tx.InsertSAMLKey(ctx, rec); err != nil {
			return err
		}
		after := map[string]string{"id": rec.ID, "activates": rec.Activates.Format(time.RFC3339), "sha256": Fingerprint(rec.CertPEM), "bits": strconv.Itoa(bits)}
		if cur != nil {
			after["replaces"] = cur.rec.ID
		}
		return tx.AppendAudit(ctx, &directory.AuditEntry{Time: now, Actor: actor, Action: "sso.saml.key.rotate",
			ResourceType: "SAMLKey", ResourceID: rec.ID, After: mustJSON(after)})
	})
	if err != nil {
		return nil, err
	}
	k.loaded = false
	if err := k.load(ctx); err != nil {
		return nil, err
	}
	return rec, nil
}

// newKey makes an RSA key and its self-signed certificate.
func newKey(created, activates time.Time, bits int) (*Key, error) {
	priv, err := rsa.GenerateKey(rand.Reader, bits)
	if err != nil {
		return nil, err
	}
	der, err := x509.MarshalPKCS8PrivateKey(priv)
	if err != nil {
		return nil, err
	}
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 127))
	if err != nil {
		return nil, err
	}
	id := "s" + created.Format("20060102") + "-" + randomHex(4)
	tmpl := &x509.Certificate{
		SerialNumber:          serial,
		Subject:               pkix.Name{CommonName: "Gatehouse SAML signing " + id},
		NotBefore:             created.Add(-time.Hour),
		NotAfter:              created.Add(certLifetime),
		KeyUsage:              x509.KeyUsageDigitalSignature,
		BasicConstraintsValid: true,
	}
	certDER, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &priv.PublicKey, priv)
	if err != nil {
		return nil, err
	}
	return &Key{
		ID:         id,
		PrivatePEM: pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}),
		CertPEM:    pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: certDER}),
		Created:    created,
		Activates:  activates,
	}, nil
}

// Fingerprint is the SHA-256 of a PEM certificate's DER, in hex with
// colons, as service providers show it ("" if b is not a certificate).
func Fingerprint(certPEM []byte) string {
	block, _ := pem.Decode(certPEM)
	if block == nil {
		return ""
	}
	sum := sha256.Sum256(block.Bytes)
	out := make([]byte, 0, len(sum)*3)
	for i, b := range sum {
		if i > 0 {
			out = append(out, ':')
		}
		out = append(out, hex.EncodeToString([]byte{b})...)
	}
	return string(out)
}

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// KeyInfo is what may be shown of a key: never its private part.
type KeyInfo struct {
	ID          string    `json:"id"`
	Created     time.Time `json:"created"`
	Activates   time.Time `json:"activates"`
	State       string    `json:"state"` // "signing", "next" or "previous"
	Fingerprint string    `json:"sha256"`
	Bits        int       `json:"bits"`
	NotAfter    time.Time `json:"notAfter"`
	CertPEM     string    `json:"certificate"`
}

func keyInfos(cur *loadedKey, others []*loadedKey, now time.Time) []KeyInfo {
	var out []KeyInfo
	add := func(lk *loadedKey, state string) {
		out = append(out, KeyInfo{ID: lk.rec.ID, Created: lk.rec.Created, Activates: lk.rec.Activates, State: state,
			Fingerprint: Fingerprint(lk.rec.CertPEM), Bits: lk.priv.N.BitLen(), NotAfter: lk.cert.NotAfter.UTC(), CertPEM: string(lk.rec.CertPEM)})
	}
	if cur != nil {
		add(cur, "signing")
	}
	for _, o := range others {
		if o.rec.Activates.After(now) {
			add(o, "next")
		} else {
			add(o, "previous")
		}
	}
	return out
}
