package sign

import (
	"bytes"
	"crypto"
	"crypto/sha256"
	"crypto/x509"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"fmt"
	"os"
	"strings"

	"github.com/secure-systems-lab/go-securesystemslib/dsse"
	"github.com/sigstore/cosign/v2/pkg/cosign"
	"github.com/sigstore/sigstore/pkg/cryptoutils"
	"github.com/sigstore/sigstore/pkg/signature"
	sigdsse "github.com/sigstore/sigstore/pkg/signature/dsse"
)

// ErrWrongPassword is wrapped by the error of a private key that does not
// decrypt with the password given.
var ErrWrongPassword = errors.New("wrong password")

// GenerateKeyPair returns a new ECDSA P-256 key pair as cosign writes it:
// the private key in cosign's encrypted PEM format (scrypt and
// NaCl secretbox over PKCS #8, "ENCRYPTED SIGSTORE PRIVATE KEY"),
// encrypted with password, and the public key in PKIX PEM.
func GenerateKeyPair(password []byte) (privPEM, pubPEM []byte, err error) {
	pass := bytes.Clone(password)
	if pass == nil {
		pass = []byte{}
	}
	kb, err := cosign.GenerateKeyPair(func(bool) ([]byte, error) { return pass, nil })
	if err != nil {
		return nil, nil, fmt.Errorf("generating a key pair: %w", err)
	}
	return kb.PrivateBytes, kb.PublicBytes, nil
}

// Signer signs with a private key. Its methods are safe for concurrent use.
type Signer struct {
	sv  signature.SignerVerifier
	pub *PublicKey
}

// NewSigner decrypts a private key in cosign's encrypted PEM format. name
// names the key in errors (its file).
func NewSigner(name string, privPEM, password []byte) (*Signer, error) {
	block, _ := pem.Decode(privPEM)
	switch {
	case block == nil:
		return nil, fmt.Errorf("key %s: not a PEM-encoded key", name)
	case block.Type == "PUBLIC KEY":
		return nil, fmt.Errorf("key %s: a public key; signing needs the private key (the .key file)", name)
	case block.Type != cosign.CosignPrivateKeyPemType && block.Type != cosign.SigstorePrivateKeyPemType:
		return nil, fmt.Errorf("key %s: a PEM block of type %q, not a cosign private key (%q)", name, block.Type, cosign.SigstorePrivateKeyPemType)
	}
	if password == nil {
		password = []byte{}
	}
	sv, err := cosign.LoadPrivateKey(privPEM, password, nil)
	if err != nil {
		if strings.Contains(err.Error(), "decryption failed") {
			return nil, fmt.Errorf("key %s: %w, or the key is corrupt", name, ErrWrongPassword)
		}
		return nil, fmt.Errorf("key %s: %w", name, err)
	}
	pub, err := sv.PublicKey()
	if err != nil {
		return nil, fmt.Errorf("key %s: %w", name, err)
	}
	pk, err := newPublicKey(name, pub)
	if err != nil {
		return nil, err
	}
	return &Signer{sv: sv, pub: pk}, nil
}

// LoadPrivateKey reads and decrypts a private key file in cosign's
// encrypted format.
func LoadPrivateKey(path string, password []byte) (*Signer, error) {
	raw, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("reading private key: %w", err)
	}
	return NewSigner(path, raw, password)
}

// KeyID is the key's id: "sha256:" and the hex SHA-256 of its public key
// in PKIX DER.
func (s *Signer) KeyID() string { return s.pub.id }

// PublicKey returns the signer's public key.
func (s *Signer) PublicKey() *PublicKey { return s.pub }

// PublicKey is a key that verifies signatures.
type PublicKey struct {
	// Name is where the key came from (its file), for messages.
	Name     string
	id       string
	key      crypto.PublicKey
	verifier signature.Verifier
	// envelopes verifies DSSE envelopes, as sigstore's dsse.WrapVerifier
	// does, without decoding the envelope again.
	envelopes *dsse.EnvelopeVerifier
}

// ParsePublicKey reads a PEM-encoded public key (PKIX, as "cosign
// public-key" writes it). name names it in errors.
func ParsePublicKey(name string, pubPEM []byte) (*PublicKey, error) {
	block, _ := pem.Decode(pubPEM)
	switch {
	case block == nil:
		return nil, fmt.Errorf("key %s: not a PEM-encoded key", name)
	case strings.Contains(block.Type, "PRIVATE KEY"):
		return nil, fmt.Errorf("key %s: a private key; verifying needs the public key (the .pub file)", name)
	}
	pub, err := cryptoutils.UnmarshalPEMToPublicKey(pubPEM)
	if err != nil {
		return nil, fmt.Errorf("key %s: not a public key: %w", name, err)
	}
	return newPublicKey(name, pub)
}

// LoadPublicKeys reads public key files, in order. A key given twice
// counts once.
func LoadPublicKeys(paths ...string) ([]*PublicKey, error) {
	var (
		keys []*PublicKey
		seen = map[string]bool{}
	)
	for _, p := range paths {
		raw, err := os.ReadFile(p)
		if err != nil {
			return nil, fmt.Errorf("reading public key: %w", err)
		}
		k, err := ParsePublicKey(p, raw)
		if err != nil {
			return nil, err
		}
		if !seen[k.id] {
			seen[k.id] = true
			keys = append(keys, k)
		}
	}
	return keys, nil
}

func newPublicKey(name string, pub crypto.PublicKey) (*PublicKey, error) {
	der, err := x509.MarshalPKIXPublicKey(pub)
	if err != nil {
		return nil, fmt.Errorf("key %s: %w", name, err)
	}
	// SHA-256 for every key type, as "cosign verify --key" does.
	v, err := signature.LoadVerifier(pub, crypto.SHA256)
	if err != nil {
		return nil, fmt.Errorf("key %s: %w", name, err)
	}
	// Any key id is accepted, as in sigstore's dsse.WrapVerifier: cosign
	// writes none.
	ev, err := dsse.NewEnvelopeVerifier(&sigdsse.VerifierAdapter{SignatureVerifier: v, Pub: pub})
	if err != nil {
		return nil, fmt.Errorf("key %s: %w", name, err)
	}
	sum := sha256.Sum256(der)
	return &PublicKey{Name: name, id: "sha256:" + hex.EncodeToString(sum[:]), key: pub, verifier: v, envelopes: ev}, nil
}

// KeyID is the key's id: "sha256:" and the hex SHA-256 of the key in PKIX
// DER.
func (k *PublicKey) KeyID() string { return k.id }

// PEM returns the key in PKIX PEM.
func (k *PublicKey) PEM() ([]byte, error) { return cryptoutils.MarshalPublicKeyToPEM(k.key) }
