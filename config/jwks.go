package config

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rsa"
	"encoding/json"
	"fmt"

	jose "github.com/go-jose/go-jose/v4"
)

// CheckJWKS checks a client's inline JWK Set (as decoded from YAML or
// JSON) and returns the problems by key index. Each key needs a unique
// kid and public material usable for RS384 (RSA, at least 2048 bits) or
// ES384 (EC P-384); private keys are refused, so a mistaken paste of the
// client's secret is caught rather than stored.
func CheckJWKS(set map[string]any) map[int]string {
	keys, _ := set["keys"].([]any)
	out := map[int]string{}
	kids := map[string]bool{}
	for i, raw := range keys {
		b, err := json.Marshal(raw)
		if err != nil {
			out[i] = "not a JSON object"
			continue
		}
		var k jose.JSONWebKey
		if err := k.UnmarshalJSON(b); err != nil {
			out[i] = fmt.Sprintf("not a usable JWK: %v", err)
			continue
		}
		if msg := CheckKey(&k); msg != "" {
			out[i] = msg
			continue
		}
		if kids[k.KeyID] {
			out[i] = fmt.Sprintf("duplicate kid %q", k.KeyID)
		}
		kids[k.KeyID] = true
	}
	return out
}

// CheckKey says what makes a client's JWK unusable ("" when usable).
func CheckKey(k *jose.JSONWebKey) string {
	if k.KeyID == "" {
		return "kid is required (assertions select their key by kid)"
	}
	if !k.IsPublic() {
		return "holds private key material: register the public key only"
	}
	switch pk := k.Key.(type) {
	case *rsa.PublicKey:
		if pk.N.BitLen() < 2048 {
			return "RSA key shorter than 2048 bits"
		}
		if k.Algorithm != "" && k.Algorithm != "RS384" {
			return fmt.Sprintf("alg %q: RSA keys are accepted for RS384 only", k.Algorithm)
		}
	case *ecdsa.PublicKey:
		if pk.Curve != elliptic.P384() {
			return fmt.Sprintf("EC key on %s: ES384 needs P-384", pk.Curve.Params().Name)
		}
		if k.Algorithm != "" && k.Algorithm != "ES384" {
			return fmt.Sprintf("alg %q: EC P-384 keys are accepted for ES384 only", k.Algorithm)
		}
	default:
		return "kty must be RSA (RS384) or EC (ES384)"
	}
	return ""
}
