package auth_test

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha512"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"
)

// TestEndToEnd drives the real server over HTTP with real RS384 and ES384
// keys: the positive paths first, then one negative case per rule.
func TestEndToEnd(t *testing.T) {
	e := newEnv(t)

	// Discovery and metadata need no token and describe what is enforced.
	resp, b := e.do("GET", e.base+"/.well-known/smart-configuration", "")
	if resp.StatusCode != 200 || resp.Header.Get("Content-Type") != "application/json" {
		t.Fatalf("smart-configuration: %d %s", resp.StatusCode, b)
	}
	var sc map[string]any
	json.Unmarshal([]byte(b), &sc)
	if sc["token_endpoint"] != e.tokenURL || !strings.Contains(b, `"RS384"`) || !strings.Contains(b, `"ES384"`) ||
		!strings.Contains(b, "client-confidential-asymmetric") || !strings.Contains(b, "private_key_jwt") {
		t.Errorf("smart-configuration: %s", b)
	}
	resp, b = e.do("GET", e.base+"/metadata", "")
	if resp.StatusCode != 200 || !strings.Contains(b, `"valueUri":"`+e.tokenURL+`"`) || !strings.Contains(b, "SMART-on-FHIR") {
		t.Errorf("metadata: %d %s", resp.StatusCode, b)
	}
	if resp, _ := e.do("GET", strings.TrimSuffix(e.base, "/fhir")+"/healthz", ""); resp.StatusCode != 200 {
		t.Errorf("healthz %d", resp.StatusCode)
	}

	// RS384 with an inline key: token response per the IG.
	resp, tr := e.postToken(tokenForm(e.assertion("ehr-rsa"), "system/*.read"))
	if resp.StatusCode != 200 || tr["token_type"] != "bearer" || tr["scope"] != "system/*.read" ||
		tr["expires_in"].(float64) > 300 || resp.Header.Get("Cache-Control") != "no-store" {
		t.Fatalf("token: %d %v %v", resp.StatusCode, tr, resp.Header)
	}
	rsaTok := tr["access_token"].(string)
	_, m := e.export(rsaTok, "/$export")
	if !m.RequiresAccessToken || !slices.Equal(m.types(), []string{"Group", "Immunization", "Patient"}) {
		t.Errorf("system export manifest: %+v", m)
	}
	if resp, _ := e.do("GET", m.url("Patient"), rsaTok); resp.StatusCode != 200 {
		t.Errorf("download with token: %d", resp.StatusCode)
	}
	rsaJob, _ := e.export(rsaTok, "/Patient/$export?_type=Patient")
	rsaJobID := rsaJob[strings.LastIndex(rsaJob, "/")+1:]

	// ES384 with keys from a jwks_url: only the granted types by default.
	ecTok := e.token("ehr-ec", "system/Patient.rs system/Immunization.rs system/Group.rs")
	_, m = e.export(ecTok, "/Patient/$export")
	if !slices.Equal(m.types(), []string{"Immunization", "Patient"}) {
		t.Errorf("ehr-ec types: %v", m.types())
	}
	narrowTok := e.token("ehr-ec", "system/Patient.rs")
	_, m = e.export(narrowTok, "/Patient/$export")
	if !slices.Equal(m.types(), []string{"Patient"}) {
		t.Errorf("no _type → only granted types, got %v", m.types())
	}

	// The clinic: its Group only, signed file URLs, a bearer header ignored.
	clinicTok := e.token("clinic", "system/*.rs")
	_, b = e.do("GET", e.base+"/Group", clinicTok)
	if !strings.Contains(b, `"id":"riverside"`) || strings.Contains(b, "lakeside") {
		t.Errorf("GET Group for the clinic: %s", b)
	}
	clinicStatus, cm := e.export(clinicTok, "/Group/riverside/$export")
	if cm.RequiresAccessToken || !strings.Contains(cm.url("Patient"), "signature=") {
		t.Fatalf("signed manifest: %+v", cm)
	}
	signed := cm.url("Patient")
	if resp, b := e.do("GET", signed, ""); resp.StatusCode != 200 || strings.Count(b, "\n") != 2 {
		t.Errorf("signed download: %d %q", resp.StatusCode, b)
	}
	if resp, _ := e.do("GET", signed, "not-a-token"); resp.StatusCode != 200 {
		t.Errorf("signed download with a bogus bearer header: %d, want 200 (header ignored)", resp.StatusCode)
	}
	_, otherCM := e.export(clinicTok, "/Group/riverside/$export?_type=Immunization")

	// Assertions within the documented skew are accepted.
	skewed := e.claims("ehr-rsa")
	skewed["exp"] = e.now().Add(-30 * time.Second).Unix()
	if resp, m := e.postToken(tokenForm(sign(t, jose.RS384, e.rsaKey, "rsa1", skewed, nil), "system/*.read")); resp.StatusCode != 200 {
		t.Errorf("exp 30 s ago (inside the 60 s skew): %d %v", resp.StatusCode, m)
	}

	replayed := e.assertion("ehr-rsa")
	if resp, _ := e.postToken(tokenForm(replayed, "system/*.read")); resp.StatusCode != 200 {
		t.Fatal("first use of an assertion refused")
	}
	otherEC, _ := ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	hs := sign(t, jose.HS256, []byte("0123456789abcdef0123456789abcdef"), "rsa1", e.claims("ehr-rsa"), nil)
	with := func(id string, mod func(map[string]any)) map[string]any {
		c := e.claims(id)
		mod(c)
		return c
	}
	rsaSigned := func(c map[string]any) string { return sign(t, jose.RS384, e.rsaKey, "rsa1", c, nil) }
	form := func(a string) url.Values { return tokenForm(a, "system/*.read") }
	edit := func(f url.Values, k, v string) url.Values {
		if v == "" {
			f.Del(k)
		} else {
			f.Set(k, v)
		}
		return f
	}

	tokenCases := []struct {
		name   string
		form   url.Values
		status int
		code   string
		reason string // the audit log's reason code: which rule refused it
	}{
		{"grant_type missing", edit(form(e.assertion("ehr-rsa")), "grant_type", ""), 400, "invalid_request", "missing_grant_type"},
		{"grant_type password", edit(form(e.assertion("ehr-rsa")), "grant_type", "password"), 400, "unsupported_grant_type", "unsupported_grant_type"},
		{"client_assertion_type wrong", edit(form(e.assertion("ehr-rsa")), "client_assertion_type", "urn:ietf:params:oauth:client-assertion-type:saml2-bearer"), 400, "invalid_request", "bad_assertion_type"},
		{"client_assertion missing", edit(form(e.assertion("ehr-rsa")), "client_assertion", ""), 400, "invalid_request", "missing_assertion"},
		{"scope missing", edit(form(e.assertion("ehr-rsa")), "scope", ""), 400, "invalid_request", "missing_scope"},
		{"parameter repeated", func() url.Values { f := form(e.assertion("ehr-rsa")); f.Add("scope", "system/*.rs"); return f }(), 400, "invalid_request", "repeated_parameter"},
		{"assertion not a JWS", form("not.a.jwt"), 401, "invalid_client", "malformed_assertion"},
		{"alg none", form(unsigned(e.claims("ehr-rsa"), "rsa1")), 401, "invalid_client", "bad_alg"},
		{"alg HS256", form(hs), 401, "invalid_client", "bad_alg"},
		{"alg RS256", form(sign(t, jose.RS256, e.rsaKey, "rsa1", e.claims("ehr-rsa"), nil)), 401, "invalid_client", "bad_alg"},
		{"iss unknown", form(rsaSigned(with("ehr-rsa", func(c map[string]any) { c["iss"], c["sub"] = "mallory", "mallory" }))), 401, "invalid_client", "unknown_client"},
		{"sub differs from iss", form(rsaSigned(with("ehr-rsa", func(c map[string]any) { c["sub"] = "clinic" }))), 401, "invalid_client", "sub_mismatch"},
		{"kid missing", form(sign(t, jose.RS384, e.rsaKey, "", e.claims("ehr-rsa"), nil)), 401, "invalid_client", "missing_kid"},
		{"kid unknown", form(sign(t, jose.RS384, e.rsaKey, "rsa9", e.claims("ehr-rsa"), nil)), 401, "invalid_client", "unknown_kid"},
		{"key type does not fit alg", form(sign(t, jose.ES384, e.ecKey, "rsa1", e.claims("ehr-rsa"), nil)), 401, "invalid_client", "key_type_mismatch"},
		{"ES384 signature DER-encoded, not R‖S", form(derSigned(t, e.ecKey, "ec1", e.claims("ehr-ec"))), 401, "invalid_client", "bad_signature"},
		{"signed by another key", form(sign(t, jose.ES384, otherEC, "c1", e.claims("clinic"), nil)), 401, "invalid_client", "bad_signature"},
		{"aud the FHIR base", form(rsaSigned(with("ehr-rsa", func(c map[string]any) { c["aud"] = e.base }))), 401, "invalid_client", "bad_aud"},
		{"aud not exact", form(rsaSigned(with("ehr-rsa", func(c map[string]any) { c["aud"] = e.tokenURL + "/" }))), 401, "invalid_client", "bad_aud"},
		{"exp missing", form(rsaSigned(with("ehr-rsa", func(c map[string]any) { delete(c, "exp") }))), 401, "invalid_client", "missing_exp"},
		{"exp past", form(rsaSigned(with("ehr-rsa", func(c map[string]any) { c["exp"] = e.now().Add(-2 * time.Minute).Unix() }))), 401, "invalid_client", "expired"},
		{"exp over 5 min ahead", form(rsaSigned(with("ehr-rsa", func(c map[string]any) { c["exp"] = e.now().Add(10 * time.Minute).Unix() }))), 401, "invalid_client", "exp_too_far"},
		{"nbf in the future", form(rsaSigned(with("ehr-rsa", func(c map[string]any) { c["nbf"] = e.now().Add(3 * time.Minute).Unix() }))), 401, "invalid_client", "not_yet_valid"},
		{"jti missing", form(rsaSigned(with("ehr-rsa", func(c map[string]any) { delete(c, "jti") }))), 401, "invalid_client", "missing_jti"},
		{"jti replayed", form(replayed), 401, "invalid_client", "replayed_jti"},
		{"jku not the registered URL", form(sign(t, jose.ES384, e.ecKey, "ec1", e.claims("ehr-ec"), map[string]any{"jku": "https://attacker.example/jwks.json"})), 401, "invalid_client", "jku_mismatch"},
		{"jku on an inline-key client", form(sign(t, jose.RS384, e.rsaKey, "rsa1", e.claims("ehr-rsa"), map[string]any{"jku": e.jwks.URL + "/jwks.json"})), 401, "invalid_client", "jku_mismatch"},
		{"typ not JWT", form(sign(t, jose.RS384, e.rsaKey, "rsa1", e.claims("ehr-rsa"), map[string]any{"typ": "JOSE+JSON"})), 401, "invalid_client", "bad_typ"},
		{"client_id not the assertion's iss", edit(form(e.assertion("ehr-rsa")), "client_id", "clinic"), 401, "invalid_client", "client_id_mismatch"},
		{"scope not registered", tokenForm(e.assertion("ehr-ec"), "system/Observation.rs"), 400, "invalid_scope", "no_scope_granted"},
		{"scope granular", tokenForm(e.assertion("ehr-rsa"), "system/Immunization.rs?status=completed"), 400, "invalid_scope", "granular_scope"},
		{"scope not a system scope", tokenForm(e.assertion("ehr-rsa"), "patient/*.read"), 400, "invalid_scope", "no_scope_granted"},
	}
	for _, c := range tokenCases {
		resp, m := e.postToken(c.form)
		if resp.StatusCode != c.status || m["error"] != c.code {
			t.Errorf("token, %s: %d %v; want %d %s", c.name, resp.StatusCode, m, c.status, c.code)
		}
		if d, _ := m["error_description"].(string); d == "" || strings.Contains(d, c.form.Get("client_assertion")) && c.form.Get("client_assertion") != "" {
			t.Errorf("token, %s: error_description %q", c.name, d)
		}
		if resp.Header.Get("Cache-Control") != "no-store" {
			t.Errorf("token, %s: Cache-Control %q", c.name, resp.Header.Get("Cache-Control"))
		}
		if last := e.lastAudit(); last["event"] != "token" || last["outcome"] != "refused" || last["reason"] != c.reason {
			t.Errorf("token, %s: audit %v, want reason %s", c.name, last, c.reason)
		}
	}
	// A non-form body.
	r2, err := http.Post(e.tokenURL, "application/json", strings.NewReader(`{"grant_type":"client_credentials"}`))
	if err != nil {
		t.Fatal(err)
	}
	r2.Body.Close()
	if r2.StatusCode != 400 {
		t.Errorf("JSON token request: %d, want 400", r2.StatusCode)
	}

	// Access tokens this server never issued properly.
	parts := strings.Split(rsaTok, ".")
	sig := []byte(parts[2])
	sig[5] ^= 1
	if sig[5] == '.' {
		sig[5] = 'A'
	}
	tampered := parts[0] + "." + parts[1] + "." + string(sig)
	forged := sign(t, jose.ES384, e.ecKey, "ec1", map[string]any{"iss": e.tokenURL, "sub": "ehr-rsa", "aud": e.base,
		"exp": e.now().Add(time.Minute).Unix(), "scope": "system/*.read"}, nil)
	wrongAud := e.serverSigned(map[string]any{"iss": e.tokenURL, "sub": "ehr-rsa", "aud": "https://other.example/fhir",
		"exp": e.now().Add(time.Minute).Unix(), "scope": "system/*.read"})
	expired := e.serverSigned(map[string]any{"iss": e.tokenURL, "sub": "ehr-rsa", "aud": e.base,
		"exp": e.now().Add(-time.Second).Unix(), "scope": "system/*.read"})
	sigURL, _ := url.Parse(signed)
	q := sigURL.Query()
	tamper := func(k, v string) string {
		u := *sigURL
		q2 := url.Values{}
		for kk, vv := range q {
			q2[kk] = vv
		}
		q2.Set(k, v)
		u.RawQuery = q2.Encode()
		return u.String()
	}
	// the Immunization file of another job of the same client
	crossJob := cm.url("Patient")
	other := otherCM.url("Immunization")
	crossJob = other[:strings.Index(other, "?")] + crossJob[strings.Index(crossJob, "?"):]
	crossFile := strings.Replace(signed, "/Patient", "/Immunization", 1)

	resCases := []struct {
		name, method, url, token string
		hdr                      []string
		status                   int
		code                     string // OperationOutcome issue code
	}{
		{"no token", "GET", e.base + "/Patient/$export", "", kick, 401, "login"},
		{"garbage token", "GET", e.base + "/Patient/$export", "abc.def.ghi", kick, 401, "login"},
		{"tampered signature", "GET", e.base + "/Patient/$export", tampered, kick, 401, "login"},
		{"forged by a client key", "GET", e.base + "/Patient/$export", forged, kick, 401, "login"},
		{"wrong audience", "GET", e.base + "/Patient/$export", wrongAud, kick, 401, "login"},
		{"expired token", "GET", e.base + "/Patient/$export", expired, kick, 401, "login"},
		{"Basic scheme", "GET", e.base + "/Group", "", []string{"Authorization", "Basic ZWhyOnNlY3JldA=="}, 401, "login"},
		{"no token on a file", "GET", m.url("Patient"), "", nil, 401, "login"},
		{"no token on metrics", "GET", strings.TrimSuffix(e.base, "/fhir") + "/metrics", "", nil, 401, "login"},
		{"_type outside the grant", "GET", e.base + "/Patient/$export?_type=Immunization", narrowTok, kick, 403, "forbidden"},
		{"_typeFilter on an ungranted type", "GET", e.base + "/Patient/$export?_typeFilter=" + url.QueryEscape("Immunization?status=completed"), narrowTok, kick, 403, "forbidden"},
		{"system level without grant", "GET", e.base + "/$export", ecTok, kick, 403, "forbidden"},
		{"Patient level by a Group-bound client", "GET", e.base + "/Patient/$export", clinicTok, kick, 403, "forbidden"},
		{"Group outside the client's", "GET", e.base + "/Group/lakeside/$export", clinicTok, kick, 404, "not-found"},
		{"Group read outside the client's", "GET", e.base + "/Group/lakeside", clinicTok, nil, 404, "not-found"},
		{"Group search without Group scope", "GET", e.base + "/Group", narrowTok, nil, 403, "forbidden"},
		{"status of another client's job", "GET", rsaJob, ecTok, nil, 404, "not-found"},
		{"DELETE of another client's job", "DELETE", rsaJob, clinicTok, nil, 404, "not-found"},
		{"file of another client's job", "GET", e.base + "/bulkfiles/" + rsaJobID + "/output/Patient.000.ndjson", ecTok, nil, 404, "not-found"},
		{"file of a type outside the token", "GET", e.mustURL(rsaTok, "Immunization"), narrowTokFor(e, "ehr-rsa"), nil, 403, "forbidden"},
		{"signed URL tampered", "GET", tamper("signature", strings.Repeat("A", 43)), "", nil, 403, "forbidden"},
		{"signed URL expiry changed", "GET", tamper("expires", "99999999999"), "", nil, 403, "forbidden"},
		{"signed URL client changed", "GET", tamper("client_id", "ehr-rsa"), "", nil, 403, "forbidden"},
		{"signed URL on another job", "GET", crossJob, "", nil, 403, "forbidden"},
		{"signed URL on another file", "GET", crossFile, "", nil, 403, "forbidden"},
		{"signed URL with a valid bearer of another client", "GET", tamper("signature", "x"), rsaTok, nil, 403, "forbidden"},
	}
	for _, c := range resCases {
		resp, b := e.do(c.method, c.url, c.token, c.hdr...)
		if resp.StatusCode != c.status || !strings.Contains(b, `"code":"`+c.code+`"`) || !strings.Contains(b, `"resourceType":"OperationOutcome"`) {
			t.Errorf("%s: %d %s; want %d %s", c.name, resp.StatusCode, b, c.status, c.code)
		}
		if c.status == 401 && resp.Header.Get("WWW-Authenticate") != `Bearer realm="iisbridge", error="invalid_token"` {
			t.Errorf("%s: WWW-Authenticate %q", c.name, resp.Header.Get("WWW-Authenticate"))
		}
	}
	if n := len(tokenCases) + len(resCases); n < 30 {
		t.Errorf("only %d negative cases", n)
	}

	// Expired signed URL (clock moved past its 5 minutes).
	e.offset.Store(int64(6 * time.Minute))
	if resp, b := e.do("GET", signed, ""); resp.StatusCode != 403 || !strings.Contains(b, "expired") {
		t.Errorf("expired signed URL: %d %s", resp.StatusCode, b)
	}
	// ...and the access tokens issued 6 minutes "ago" with it.
	if resp, _ := e.do("GET", e.base+"/Group", clinicTok); resp.StatusCode != 401 {
		t.Errorf("token past its 300 s: %d", resp.StatusCode)
	}
	e.offset.Store(0)

	// A fresh manifest poll signs fresh URLs; the owner can DELETE.
	if resp, _ := e.do("DELETE", clinicStatus, clinicTok); resp.StatusCode != 202 {
		t.Errorf("DELETE own job: %d", resp.StatusCode)
	}
	if resp, _ := e.do("GET", signed, ""); resp.StatusCode != 404 {
		t.Errorf("signed URL of a deleted job: %d, want 404", resp.StatusCode)
	}
}

// narrowTokFor gets a Patient-only token for a client.
func narrowTokFor(e *env, id string) string { return e.token(id, "system/Patient.read") }

// mustURL exports Patient and Immunization as ehr-rsa and returns the url
// of typ's file.
func (e *env) mustURL(tok, typ string) string {
	_, m := e.export(tok, "/Patient/$export")
	return m.url(typ)
}

// serverSigned signs claims with the server's own current token key, as
// read from its data dir.
func (e *env) serverSigned(claims map[string]any) string {
	e.t.Helper()
	b, err := readFile(e.dir + "/data/auth/token-keys.json")
	if err != nil {
		e.t.Fatal(err)
	}
	var set jose.JSONWebKeySet
	if err := json.Unmarshal(b, &set); err != nil {
		e.t.Fatal(err)
	}
	k := set.Keys[0]
	s, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.ES256, Key: k}, (&jose.SignerOptions{}).WithType("JWT"))
	if err != nil {
		e.t.Fatal(err)
	}
	out, err := jwt.Signed(s).Claims(claims).Serialize()
	if err != nil {
		e.t.Fatal(err)
	}
	return out
}

// derSigned signs an ES384 JWS with an ASN.1 DER signature instead of the
// 96-byte R‖S that JWS requires.
func derSigned(t *testing.T, key *ecdsa.PrivateKey, kid string, claims map[string]any) string {
	h, _ := json.Marshal(map[string]any{"alg": "ES384", "typ": "JWT", "kid": kid})
	c, _ := json.Marshal(claims)
	input := base64.RawURLEncoding.EncodeToString(h) + "." + base64.RawURLEncoding.EncodeToString(c)
	sum := sha512.Sum384([]byte(input))
	sig, err := ecdsa.SignASN1(rand.Reader, key, sum[:])
	if err != nil {
		t.Fatal(err)
	}
	return input + "." + base64.RawURLEncoding.EncodeToString(sig)
}
