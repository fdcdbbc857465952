package bulkclient

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	jose "github.com/go-jose/go-jose/v4"
)

// The two signing algorithms SMART Backend Services asks servers to
// support (client-confidential-asymmetric).
const (
	RS384 = "RS384"
	ES384 = "ES384"
)

// Key is a client's private signing key with the kid and alg it is
// registered under.
type Key struct {
	Private crypto.Signer
	KID     string
	Alg     string // RS384 or ES384, fixed by the key type
}

// GenerateKey makes a new signing key for alg: RSA 3072 for RS384, P-384
// for ES384. Its kid is the RFC 7638 thumbprint of the public key.
func GenerateKey(alg string) (*Key, error) {
	var priv crypto.Signer
	var err error
	switch alg {
	case RS384:
		priv, err = rsa.GenerateKey(rand.Reader, 3072)
	case ES384:
		priv, err = ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	default:
		return nil, fmt.Errorf("unsupported key algorithm %q: want RS384 or ES384", alg)
	}
	if err != nil {
		return nil, fmt.Errorf("generating the %s key: %w", alg, err)
	}
	return newKey(priv, "")
}

// newKey fixes alg from the key type and kid from the thumbprint when
// none is given.
func newKey(priv crypto.Signer, kid string) (*Key, error) {
	k := &Key{Private: priv, KID: kid}
	switch p := priv.(type) {
	case *rsa.PrivateKey:
		if p.N.BitLen() < 2048 {
			return nil, fmt.Errorf("RSA key of %d bits: at least 2048 are needed", p.N.BitLen())
		}
		k.Alg = RS384
	case *ecdsa.PrivateKey:
		if p.Curve != elliptic.P384() {
			return nil, fmt.Errorf("EC key on curve %s: ES384 needs P-384", p.Curve.Params().Name)
		}
		k.Alg = ES384
	default:
		return nil, fmt.Errorf("unsupported key type %T: want RSA (RS384) or EC P-384 (ES384)", priv)
	}
	if k.KID == "" {
		kid, err := Thumbprint(priv.Public())
		if err != nil {
			return nil, err
		}
		k.KID = kid
	}
	return k, nil
}

// Thumbprint is the RFC 7638 SHA-256 JWK thumbprint of a public key,
// base64url without padding: the kid keygen registers.
func Thumbprint(pub crypto.PublicKey) (string, error) {
	jwk := jose.JSONWebKey{Key: pub}
	tp, err := jwk.Thumbprint(crypto.SHA256)
	if err != nil {
		return "", fmt.Errorf("key thumbprint: %w", err)
	}
	return base64.RawURLEncoding.EncodeToString(tp), nil
}

// PublicJWKS is the JWK Set to register with a server: the public key
// with kid, alg and use "sig".
func (k *Key) PublicJWKS() ([]byte, error) {
	set := jose.JSONWebKeySet{Keys: []jose.JSONWebKey{{
		Key: k.Private.Public(), KeyID: k.KID, Algorithm: k.Alg, Use: "sig",
	}}}
	return json.MarshalIndent(set, "", "  ")
}

// PEM is the private key as a PKCS#8 PEM block.
func (k *Key) PEM() ([]byte, error) {
	der, err := x509.MarshalPKCS8PrivateKey(k.Private)
	if err != nil {
		return nil, fmt.Errorf("encoding the private key: %w", err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}), nil
}

// WriteKeyFiles writes DIR/private.pem (mode 0600) and DIR/jwks.json, the
// layout the server's registration guide documents. Existing files are
// not overwritten: replacing a registered key by accident locks a client
// out.
func WriteKeyFiles(k *Key, dir string) (privPath, jwksPath string, err error) {
	pemBytes, err := k.PEM()
	if err != nil {
		return "", "", err
	}
	jwks, err := k.PublicJWKS()
	if err != nil {
		return "", "", err
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", "", err
	}
	privPath, jwksPath = filepath.Join(dir, "private.pem"), filepath.Join(dir, "jwks.json")
	for _, p := range []string{privPath, jwksPath} {
		if _, err := os.Stat(p); err == nil {
			return "", "", fmt.Errorf("%s exists: refusing to overwrite a key (choose another --out)", p)
		}
	}
	if err := writeNew(privPath, pemBytes, 0o600); err != nil {
		return "", "", err
	}
	if err := writeNew(jwksPath, append(jwks, '\n'), 0o644); err != nil {
		return "", "", err
	}
	return privPath, jwksPath, nil
}

func writeNew(path string, data []byte, mode os.FileMode) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, mode)
	if err != nil {
		return err
	}
	if _, err := f.Write(data); err != nil {
		f.Close()
		return fmt.Errorf("writing %s: %w", path, err)
	}
	return f.Close()
}

// LoadKey reads a private key: PEM (PKCS#8, PKCS#1 "RSA PRIVATE KEY" or
// SEC1 "EC PRIVATE KEY"), or a private JWK / JWK Set with exactly one
// private key, as other Bulk Data clients keep them. kid, when not
// empty, overrides the key's own (a JWK's kid, else the thumbprint).
func LoadKey(path, kid string) (*Key, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("reading the key: %w", err)
	}
	k, err := ParseKey(data, kid)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return k, nil
}

// ParseKey is LoadKey on the file's bytes.
func ParseKey(data []byte, kid string) (*Key, error) {
	if s := strings.TrimSpace(string(data)); strings.HasPrefix(s, "{") {
		return parseJWK([]byte(s), kid)
	}
	block, _ := pem.Decode(data)
	if block == nil {
		return nil, errors.New("no PEM block and no JWK: not a private key")
	}
	var parsed any
	var err error
	switch block.Type {
	case "PRIVATE KEY":
		parsed, err = x509.ParsePKCS8PrivateKey(block.Bytes)
	case "RSA PRIVATE KEY":
		parsed, err = x509.ParsePKCS1PrivateKey(block.Bytes)
	case "EC PRIVATE KEY":
		parsed, err = x509.ParseECPrivateKey(block.Bytes)
	default:
		return nil, fmt.Errorf("PEM block %q is not a private key (want PRIVATE KEY, RSA PRIVATE KEY or EC PRIVATE KEY)", block.Type)
	}
	if err != nil {
		return nil, fmt.Errorf("PEM %s: %w", block.Type, err)
	}
	return signerKey(parsed, kid)
}

func signerKey(parsed any, kid string) (*Key, error) {
	s, ok := parsed.(crypto.Signer)
	if !ok {
		return nil, fmt.Errorf("unsupported key type %T", parsed)
	}
	return newKey(s, kid)
}

func parseJWK(data []byte, kid string) (*Key, error) {
	var set jose.JSONWebKeySet
	if err := json.Unmarshal(data, &set); err == nil && len(set.Keys) > 0 {
		var priv []jose.JSONWebKey
		for _, k := range set.Keys {
			if !k.IsPublic() {
				priv = append(priv, k)
			}
		}
		if len(priv) != 1 {
			return nil, fmt.Errorf("JWK Set holds %d private keys, want exactly 1", len(priv))
		}
		return jwkKey(priv[0], kid)
	}
	var k jose.JSONWebKey
	if err := json.Unmarshal(data, &k); err != nil {
		return nil, fmt.Errorf("JWK: %w", err)
	}
	if k.IsPublic() {
		return nil, errors.New("the JWK is a public key: the client needs the private one")
	}
	return jwkKey(k, kid)
}

func jwkKey(k jose.JSONWebKey, kid string) (*Key, error) {
	if kid == "" {
		kid = k.KeyID
	}
	key, err := signerKey(k.Key, kid)
	if err != nil {
		return nil, err
	}
	if k.Algorithm != "" && k.Algorithm != key.Alg {
		return nil, fmt.Errorf("JWK alg %q does not fit its key type (want %s)", k.Algorithm, key.Alg)
	}
	return key, nil
}
