// Package pii protects personal data (phone, ID number): it encrypts values
// for storage, derives a blind index so exact lookups work without
// decrypting, and masks values for display (张*三, 138****1234).
// It is pure: no database, no HTTP.
package pii

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/hkdf"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
)

// keyVersion prefixes ciphertexts so keys can be rotated later.
const keyVersion = "v1:"

// Vault encrypts and indexes personal data with keys derived from one
// master secret.
type Vault struct {
	aead     cipher.AEAD
	indexKey []byte
}

// DeriveKey derives a purpose-bound 32-byte key from the master secret.
// Every subsystem that needs a key (tokens, codes, this vault) uses its own
// purpose string, so one leaked derived key does not expose the others.
func DeriveKey(master []byte, purpose string) []byte {
	k, err := hkdf.Key(sha256.New, master, nil, purpose, 32)
	if err != nil {
		panic(err) // only for lengths hkdf cannot produce; 32 is always fine
	}
	return k
}

// NewVault builds a Vault from the master secret (at least 32 bytes).
func NewVault(master []byte) (*Vault, error) {
	if len(master) < 32 {
		return nil, errors.New("pii: master secret must be at least 32 bytes")
	}
	block, err := aes.NewCipher(DeriveKey(master, "pii-encryption"))
	if err != nil {
		return nil, err
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		return nil, err
	}
	return &Vault{aead: aead, indexKey: DeriveKey(master, "pii-blind-index")}, nil
}

// Seal encrypts a value; the empty string stays empty.
func (v *Vault) Seal(plain string) string {
	if plain == "" {
		return ""
	}
	nonce := make([]byte, v.aead.NonceSize())
	if _, err := rand.Read(nonce); err != nil {
		panic(err) // crypto/rand never fails on supported platforms
	}
	out := v.aead.Seal(nonce, nonce, []byte(plain), nil)
	return keyVersion + base64.RawStdEncoding.EncodeToString(out)
}

// Open decrypts a value made by Seal.
func (v *Vault) Open(sealed string) (string, error) {
	if sealed == "" {
		return "", nil
	}
	raw, ok := strings.CutPrefix(sealed, keyVersion)
	if !ok {
		return "", fmt.Errorf("pii: unknown key version")
	}
	b, err := base64.RawStdEncoding.DecodeString(raw)
	if err != nil || len(b) < v.aead.NonceSize() {
		return "", fmt.Errorf("pii: malformed ciphertext")
	}
	n := v.aead.NonceSize()
	plain, err := v.aead.Open(nil, b[:n], b[n:], nil)
	if err != nil {
		return "", fmt.Errorf("pii: decrypt: %w", err)
	}
	return string(plain), nil
}

// Index returns the blind index of a normalised value, for equality lookups.
func (v *Vault) Index(plain string) string {
	if plain == "" {
		return ""
	}
	m := hmac.New(sha256.New, v.indexKey)
	m.Write([]byte(plain))
	return hex.EncodeToString(m.Sum(nil))
}
