package bulkclient_test

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
	"os"
	"path/filepath"
	"strings"
	"testing"

	jose "github.com/go-jose/go-jose/v4"

	"github.com/iisbridge/iisbridge/bulkclient"
)

// keygen's files load back, and what the private key signs the
// registered JWKS verifies, found by kid.
func TestKeyFilesRoundTrip(t *testing.T) {
	for _, alg := range []string{bulkclient.RS384, bulkclient.ES384} {
		t.Run(alg, func(t *testing.T) {
			k, err := bulkclient.GenerateKey(alg)
			if err != nil {
				t.Fatal(err)
			}
			dir := filepath.Join(t.TempDir(), "keys")
			privPath, jwksPath, err := bulkclient.WriteKeyFiles(k, dir)
			if err != nil {
				t.Fatal(err)
			}
			if privPath != filepath.Join(dir, "private.pem") || jwksPath != filepath.Join(dir, "jwks.json") {
				t.Errorf("files %s, %s", privPath, jwksPath)
			}
			if fi, err := os.Stat(privPath); err != nil || fi.Mode().Perm() != 0o600 {
				t.Errorf("private.pem mode: %v %v", fi.Mode(), err)
			}
			pemBytes, _ := os.ReadFile(privPath)
			if b, _ := pem.Decode(pemBytes); b == nil || b.Type != "PRIVATE KEY" {
				t.Fatalf("private.pem is not a PKCS#8 PEM block")
			} else if _, err := x509.ParsePKCS8PrivateKey(b.Bytes); err != nil {
				t.Fatalf("private.pem: %v", err)
			}
			loaded, err := bulkclient.LoadKey(privPath, "")
			if err != nil {
				t.Fatal(err)
			}
			if loaded.KID != k.KID || loaded.Alg != alg {
				t.Errorf("loaded kid %s alg %s, generated %s %s", loaded.KID, loaded.Alg, k.KID, alg)
			}

			raw, _ := os.ReadFile(jwksPath)
			var set jose.JSONWebKeySet
			if err := json.Unmarshal(raw, &set); err != nil {
				t.Fatal(err)
			}
			keys := set.Key(k.KID)
			if len(set.Keys) != 1 || len(keys) != 1 {
				t.Fatalf("jwks.json: %d keys, %d with kid %s", len(set.Keys), len(keys), k.KID)
			}
			pub := keys[0]
			if !pub.IsPublic() || pub.Algorithm != alg || pub.Use != "sig" {
				t.Errorf("registered key: public %v alg %q use %q", pub.IsPublic(), pub.Algorithm, pub.Use)
			}
			tp, _ := pub.Thumbprint(crypto.SHA256)
			if base64.RawURLEncoding.EncodeToString(tp) != k.KID {
				t.Errorf("kid %s is not the RFC 7638 thumbprint of the registered key", k.KID)
			}
			if strings.Contains(string(raw), `"d"`) {
				t.Error("jwks.json holds private key material")
			}

			signer, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.SignatureAlgorithm(loaded.Alg), Key: loaded.Private}, nil)
			if err != nil {
				t.Fatal(err)
			}
			jws, _ := signer.Sign([]byte("payload"))
			compact, _ := jws.CompactSerialize()
			parsed, err := jose.ParseSignedCompact(compact, []jose.SignatureAlgorithm{jose.SignatureAlgorithm(alg)})
			if err != nil {
				t.Fatal(err)
			}
			if got, err := parsed.Verify(pub); err != nil || string(got) != "payload" {
				t.Errorf("signature does not verify with the registered key: %v", err)
			}

			if _, _, err := bulkclient.WriteKeyFiles(k, dir); err == nil || !strings.Contains(err.Error(), "refusing to overwrite") {
				t.Errorf("second keygen into the same directory: %v", err)
			}
		})
	}
}

func TestParseKeyFormats(t *testing.T) {
	rsaKey, _ := rsa.GenerateKey(rand.Reader, 2048)
	ecKey, _ := ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	p256, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	small, _ := rsa.GenerateKey(rand.Reader, 1024)
	sec1, _ := x509.MarshalECPrivateKey(ecKey)
	p256der, _ := x509.MarshalECPrivateKey(p256)
	privJWK, _ := json.Marshal(jose.JSONWebKey{Key: ecKey, KeyID: "my-kid"})
	pubJWK, _ := json.Marshal(jose.JSONWebKey{Key: ecKey.Public(), KeyID: "my-kid"})
	jwkSet, _ := json.Marshal(jose.JSONWebKeySet{Keys: []jose.JSONWebKey{{Key: rsaKey, KeyID: "rsa-1", Algorithm: "RS384"}}})
	pemOf := func(typ string, der []byte) []byte { return pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der}) }
	for _, tc := range []struct {
		name    string
		data    []byte
		kid     string
		wantAlg string
		wantKID string
		wantErr string
	}{
		{name: "PKCS#1", data: pemOf("RSA PRIVATE KEY", x509.MarshalPKCS1PrivateKey(rsaKey)), wantAlg: "RS384"},
		{name: "SEC1", data: pemOf("EC PRIVATE KEY", sec1), wantAlg: "ES384"},
		{name: "kid override", data: pemOf("EC PRIVATE KEY", sec1), kid: "given", wantAlg: "ES384", wantKID: "given"},
		{name: "private JWK", data: privJWK, wantAlg: "ES384", wantKID: "my-kid"},
		{name: "JWK Set", data: jwkSet, wantAlg: "RS384", wantKID: "rsa-1"},
		{name: "public JWK", data: pubJWK, wantErr: "public key"},
		{name: "P-256", data: pemOf("EC PRIVATE KEY", p256der), wantErr: "needs P-384"},
		{name: "RSA 1024", data: pemOf("RSA PRIVATE KEY", x509.MarshalPKCS1PrivateKey(small)), wantErr: "at least 2048"},
		{name: "certificate", data: pemOf("CERTIFICATE", []byte{1}), wantErr: "not a private key"},
		{name: "garbage", data: []byte("hello"), wantErr: "not a private key"},
	} {
		k, err := bulkclient.ParseKey(tc.data, tc.kid)
		if tc.wantErr != "" {
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Errorf("%s: error %v, want %q", tc.name, err, tc.wantErr)
			}
			continue
		}
		if err != nil {
			t.Errorf("%s: %v", tc.name, err)
			continue
		}
		want := tc.wantKID
		if want == "" {
			want, _ = bulkclient.Thumbprint(k.Private.Public())
		}
		if k.Alg != tc.wantAlg || k.KID != want {
			t.Errorf("%s: alg %s kid %s, want %s %s", tc.name, k.Alg, k.KID, tc.wantAlg, want)
		}
	}
}
