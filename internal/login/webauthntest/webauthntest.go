// Package webauthntest is a software WebAuthn authenticator for tests: an
// ES256 key per credential, the authenticator data and the client data a
// browser would send, "none" attestation. It answers the options a relying
// party gives for navigator.credentials.create and .get with the JSON a
// browser's script posts back. It is what a security key does, minus the
// hardware; the browser tests use Chromium's own virtual authenticator.
package webauthntest

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
)

// Authenticator flags (WebAuthn §6.1).
const (
	flagUP = 0x01
	flagUV = 0x04
	flagBE = 0x08
	flagBS = 0x10
	flagAT = 0x40
)

// Authenticator holds one credential (made by Create).
type Authenticator struct {
	// Origin is the origin the browser runs on ("http://localhost:8080").
	Origin string
	// BackupEligible makes a synced passkey (the BE and BS flags).
	BackupEligible bool
	// NoUV leaves user verification out (a key without a PIN).
	NoUV bool
	// Counter is the signature counter: each Get adds one first, unless
	// FrozenCounter (an authenticator without a counter keeps 0).
	Counter       uint32
	FrozenCounter bool
	// ID, when set before Create, is the credential id Create uses (a
	// test may register one id twice); otherwise a random one.
	ID []byte

	key    *ecdsa.PrivateKey
	id     []byte
	rpID   string
	userID []byte
}

// CredentialID is the credential's id (nil before Create).
func (a *Authenticator) CredentialID() []byte { return a.id }

var b64 = base64.RawURLEncoding

// decodeB64 reads base64url, with or without padding.
func decodeB64(s string) ([]byte, error) {
	if b, err := b64.DecodeString(s); err == nil {
		return b, nil
	}
	return base64.URLEncoding.DecodeString(s)
}

type creation struct {
	PublicKey struct {
		Challenge string `json:"challenge"`
		RP        struct {
			ID string `json:"id"`
		} `json:"rp"`
		User struct {
			ID string `json:"id"`
		} `json:"user"`
	} `json:"publicKey"`
}

type assertion struct {
	PublicKey struct {
		Challenge        string `json:"challenge"`
		RPID             string `json:"rpId"`
		AllowCredentials []struct {
			ID string `json:"id"`
		} `json:"allowCredentials"`
	} `json:"publicKey"`
}

func (a *Authenticator) flags() byte {
	f := byte(flagUP)
	if !a.NoUV {
		f |= flagUV
	}
	if a.BackupEligible {
		f |= flagBE | flagBS
	}
	return f
}

func clientData(typ string, challenge, origin string) []byte {
	b, _ := json.Marshal(map[string]any{"type": typ, "challenge": challenge, "origin": origin, "crossOrigin": false})
	return b
}

// Create makes a new credential for the options of
// navigator.credentials.create ({"publicKey": …}) and returns the
// browser's answer, as JSON.
func (a *Authenticator) Create(options []byte) (string, error) {
	var o creation
	if err := json.Unmarshal(options, &o); err != nil {
		return "", err
	}
	if o.PublicKey.Challenge == "" || o.PublicKey.RP.ID == "" {
		return "", errors.New("webauthntest: the creation options lack a challenge or an RP id")
	}
	uid, err := decodeB64(o.PublicKey.User.ID)
	if err != nil {
		return "", fmt.Errorf("webauthntest: user id: %w", err)
	}
	if a.key, err = ecdsa.GenerateKey(elliptic.P256(), rand.Reader); err != nil {
		return "", err
	}
	a.id = a.ID
	if a.id == nil {
		a.id = make([]byte, 32)
		if _, err := rand.Read(a.id); err != nil {
			return "", err
		}
	}
	a.rpID, a.userID = o.PublicKey.RP.ID, uid

	rpHash := sha256.Sum256([]byte(a.rpID))
	auth := append([]byte{}, rpHash[:]...)
	auth = append(auth, a.flags()|flagAT)
	auth = binary.BigEndian.AppendUint32(auth, a.Counter)
	auth = append(auth, make([]byte, 16)...) // AAGUID: none
	auth = binary.BigEndian.AppendUint16(auth, uint16(len(a.id)))
	auth = append(auth, a.id...)
	auth = append(auth, coseKey(&a.key.PublicKey)...)

	var att []byte
	att = cborHead(att, 5, 3)
	att = cborText(att, "fmt")
	att = cborText(att, "none")
	att = cborText(att, "attStmt")
	att = cborHead(att, 5, 0)
	att = cborText(att, "authData")
	att = cborBytes(att, auth)

	cd := clientData("webauthn.create", o.PublicKey.Challenge, a.Origin)
	out, err := json.Marshal(map[string]any{
		"id": b64.EncodeToString(a.id), "rawId": b64.EncodeToString(a.id), "type": "public-key",
		"response": map[string]any{
			"clientDataJSON": b64.EncodeToString(cd), "attestationObject": b64.EncodeToString(att), "transports": []string{"usb"},
		},
		"clientExtensionResults": map[string]any{}, "authenticatorAttachment": "cross-platform",
	})
	return string(out), err
}

// Get signs the challenge of the options of navigator.credentials.get
// with the credential, and returns the browser's answer, as JSON.
func (a *Authenticator) Get(options []byte) (string, error) {
	if a.key == nil {
		return "", errors.New("webauthntest: no credential yet")
	}
	var o assertion
	if err := json.Unmarshal(options, &o); err != nil {
		return "", err
	}
	allowed := len(o.PublicKey.AllowCredentials) == 0
	for _, c := range o.PublicKey.AllowCredentials {
		if id, err := decodeB64(c.ID); err == nil && string(id) == string(a.id) {
			allowed = true
		}
	}
	if !allowed {
		return "", errors.New("webauthntest: the credential is not among the allowed ones")
	}
	if !a.FrozenCounter {
		a.Counter++
	}
	cd := clientData("webauthn.get", o.PublicKey.Challenge, a.Origin)
	return a.Sign(cd)
}

// Sign makes an assertion over clientDataJSON as given (a test may forge
// it: another origin, another challenge).
func (a *Authenticator) Sign(clientDataJSON []byte) (string, error) {
	rpHash := sha256.Sum256([]byte(a.rpID))
	auth := append([]byte{}, rpHash[:]...)
	auth = append(auth, a.flags())
	auth = binary.BigEndian.AppendUint32(auth, a.Counter)
	cdHash := sha256.Sum256(clientDataJSON)
	digest := sha256.Sum256(append(append([]byte{}, auth...), cdHash[:]...))
	sig, err := ecdsa.SignASN1(rand.Reader, a.key, digest[:])
	if err != nil {
		return "", err
	}
	out, err := json.Marshal(map[string]any{
		"id": b64.EncodeToString(a.id), "rawId": b64.EncodeToString(a.id), "type": "public-key",
		"response": map[string]any{
			"clientDataJSON": b64.EncodeToString(clientDataJSON), "authenticatorData": b64.EncodeToString(auth),
			"signature": b64.EncodeToString(sig), "userHandle": b64.EncodeToString(a.userID),
		},
		"clientExtensionResults": map[string]any{}, "authenticatorAttachment": "cross-platform",
	})
	return string(out), err
}

// Challenge reads the challenge of creation or request options.
func Challenge(options []byte) (string, error) {
	var o struct {
		PublicKey struct {
			Challenge string `json:"challenge"`
		} `json:"publicKey"`
	}
	if err := json.Unmarshal(options, &o); err != nil {
		return "", err
	}
	return o.PublicKey.Challenge, nil
}

// ClientData is the clientDataJSON a browser makes, for forging tests.
func ClientData(typ, challenge, origin string) []byte { return clientData(typ, challenge, origin) }

// coseKey is an ES256 public key as COSE_Key (RFC 9053): kty EC2, alg
// ES256, crv P-256, x, y.
func coseKey(k *ecdsa.PublicKey) []byte {
	raw, _ := k.Bytes() // 0x04 || x || y
	var b []byte
	b = cborHead(b, 5, 5)
	b = cborInt(b, 1)
	b = cborInt(b, 2)
	b = cborInt(b, 3)
	b = cborInt(b, -7)
	b = cborInt(b, -1)
	b = cborInt(b, 1)
	b = cborInt(b, -2)
	b = cborBytes(b, raw[1:33])
	b = cborInt(b, -3)
	b = cborBytes(b, raw[33:65])
	return b
}

// A little CBOR (RFC 8949): what the attestation object and a COSE key
// need.
func cborHead(b []byte, major byte, n uint64) []byte {
	m := major << 5
	switch {
	case n < 24:
		return append(b, m|byte(n))
	case n < 1<<8:
		return append(b, m|24, byte(n))
	case n < 1<<16:
		return binary.BigEndian.AppendUint16(append(b, m|25), uint16(n))
	default:
		return binary.BigEndian.AppendUint32(append(b, m|26), uint32(n))
	}
}

func cborInt(b []byte, v int64) []byte {
	if v >= 0 {
		return cborHead(b, 0, uint64(v))
	}
	return cborHead(b, 1, uint64(-1-v))
}

func cborBytes(b, v []byte) []byte { return append(cborHead(b, 2, uint64(len(v))), v...) }

func cborText(b []byte, s string) []byte { return append(cborHead(b, 3, uint64(len(s))), s...) }
