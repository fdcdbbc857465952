package auth_test

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"

	"github.com/iisbridge/iisbridge/auth"
	"github.com/iisbridge/iisbridge/config"
)

// TestReplayCacheSurvivesRestart: a jti used before a restart is still
// refused after it, while the assertion could otherwise be accepted.
func TestReplayCacheSurvivesRestart(t *testing.T) {
	e := newEnv(t)
	a := e.assertion("ehr-rsa")
	if resp, m := e.postToken(tokenForm(a, "system/*.read")); resp.StatusCode != 200 {
		t.Fatalf("first use: %d %v", resp.StatusCode, m)
	}
	e.close()
	cfg, err := config.Load(e.cfgPath)
	if err != nil {
		t.Fatal(err)
	}
	svc, err := auth.Open(auth.Options{Config: cfg, DataDir: filepath.Join(cfg.DataDir, "auth"), BaseURL: e.base, TokenURL: e.tokenURL})
	if err != nil {
		t.Fatal(err)
	}
	defer svc.Close()
	post := func(assertion string) (int, map[string]any) {
		req := httptest.NewRequest("POST", e.tokenURL, strings.NewReader(tokenForm(assertion, "system/*.read").Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		rec := httptest.NewRecorder()
		svc.TokenHandler().ServeHTTP(rec, req)
		var m map[string]any
		json.Unmarshal(rec.Body.Bytes(), &m)
		return rec.Code, m
	}
	if code, m := post(a); code != 401 || m["error"] != "invalid_client" || !strings.Contains(m["error_description"].(string), "jti") {
		t.Errorf("replay after restart: %d %v", code, m)
	}
	if code, m := post(e.assertion("ehr-rsa")); code != 200 {
		t.Errorf("fresh assertion after restart: %d %v", code, m)
	}
}

const lateClient = `    - client_id: late
      jwks: %s
      scopes: [system/Patient.rs]
      patient_export: true
`

// TestHotReload: clients come and go with the configuration the serve
// loop reloads (ReloadClients is its auth hook); a configuration that
// fails is refused, saying what and where, and the old clients stay.
func TestHotReload(t *testing.T) {
	e := newEnv(t)
	lateKey, _ := ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	late := func() (int, map[string]any) {
		resp, m := e.postToken(tokenForm(sign(t, jose.ES384, lateKey, "l1", e.claims("late"), nil), "system/Patient.rs"))
		return resp.StatusCode, m
	}
	if code, _ := late(); code != 401 {
		t.Fatalf("unregistered client got %d", code)
	}
	e.writeConfig(fmt.Sprintf(lateClient, publicJWKS(t, jose.JSONWebKey{Key: &lateKey.PublicKey, KeyID: "l1"})))
	if err := e.reload(); err != nil {
		t.Fatal(err)
	}
	_, lm := e.postToken(tokenForm(sign(t, jose.ES384, lateKey, "l1", e.claims("late"), nil), "system/Patient.rs"))
	lateTok, _ := lm["access_token"].(string)
	if resp, b := e.do("GET", e.base+"/Patient/$export?_type=Patient", lateTok, kick...); resp.StatusCode != 202 {
		t.Fatalf("late's token before removal: %d %s", resp.StatusCode, b)
	}
	e.writeConfig("    - client_id: broken\n      scopes: [system/*.rs]\n")
	if err := e.reload(); err == nil || !strings.Contains(err.Error(), "give exactly one of jwks_url and jwks") || !strings.Contains(err.Error(), "iisbridge.yaml:") {
		t.Errorf("the refusal does not say what and where: %v", err)
	}
	if code, m := late(); code != 200 {
		t.Errorf("old clients lost after a refused reload: %d %v", code, m)
	}
	// Removing a client revokes its tokens at once.
	e.writeConfig("")
	if err := e.reload(); err != nil {
		t.Fatal(err)
	}
	if code, _ := late(); code != 401 {
		t.Errorf("removed client got a token: %d", code)
	}
	if resp, _ := e.do("GET", e.base+"/Patient/$export", lateTok, kick...); resp.StatusCode != 401 {
		t.Errorf("token of a removed client: %d", resp.StatusCode)
	}
}

// TestRotateKey: after a rotation new tokens use the new key and tokens of
// the previous key stay valid; a second rotation retires the oldest.
func TestRotateKey(t *testing.T) {
	e := newEnv(t)
	tok1 := e.token("ehr-rsa", "system/*.read")
	dir := filepath.Join(e.dir, "data", "auth")
	kid2, err := auth.RotateKey(dir)
	if err != nil {
		t.Fatal(err)
	}
	tok2 := e.token("ehr-rsa", "system/*.read")
	if kidOf(t, tok2) != kid2 || kidOf(t, tok1) == kid2 {
		t.Errorf("new token signed by %s, want %s", kidOf(t, tok2), kid2)
	}
	for _, tok := range []string{tok1, tok2} {
		if resp, b := e.do("GET", e.base+"/Group", tok); resp.StatusCode != 200 {
			t.Errorf("token after one rotation: %d %s", resp.StatusCode, b)
		}
	}
	if fi, err := os.Stat(filepath.Join(dir, "token-keys.json")); err != nil || fi.Mode().Perm() != 0o600 {
		t.Errorf("key file mode %v %v", fi.Mode(), err)
	}
	if _, err := auth.RotateKey(dir); err != nil {
		t.Fatal(err)
	}
	time.Sleep(1100 * time.Millisecond) // the unknown-kid reload is once a second
	if resp, _ := e.do("GET", e.base+"/Group", tok1); resp.StatusCode != 401 {
		t.Errorf("token of a retired key: %d", resp.StatusCode)
	}
	if resp, _ := e.do("GET", e.base+"/Group", tok2); resp.StatusCode != 200 {
		t.Errorf("token of the previous key: %d", resp.StatusCode)
	}
}

func kidOf(t *testing.T, tok string) string {
	t.Helper()
	obj, err := jose.ParseSignedCompact(tok, []jose.SignatureAlgorithm{jose.ES256})
	if err != nil {
		t.Fatal(err)
	}
	return obj.Signatures[0].Header.KeyID
}

// TestJWKSURLFetching: cached per Cache-Control; an unknown kid refetches
// at most once a minute; a key rotated at the client is found then.
func TestJWKSURLFetching(t *testing.T) {
	e := newEnv(t)
	e.token("ehr-ec", "system/Patient.rs")
	e.token("ehr-ec", "system/Patient.rs")
	if n := e.jwksFetches.Load(); n != 1 {
		t.Errorf("fetches with max-age=600: %d, want 1", n)
	}
	newKey, _ := ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	e.jwksBody.Store([]byte(publicJWKS(t, jose.JSONWebKey{Key: &e.ecKey.PublicKey, KeyID: "ec1"}, jose.JSONWebKey{Key: &newKey.PublicKey, KeyID: "ec2"})))
	withNew := func() int {
		resp, _ := e.postToken(tokenForm(sign(t, jose.ES384, newKey, "ec2", e.claims("ehr-ec"), nil), "system/Patient.rs"))
		return resp.StatusCode
	}
	// The first fetch was under a minute ago: no refetch yet.
	if code := withNew(); code != 401 || e.jwksFetches.Load() != 1 {
		t.Errorf("unknown kid within a minute: %d, %d fetches", code, e.jwksFetches.Load())
	}
	e.offset.Store(int64(61 * time.Second))
	if code := withNew(); code != 200 || e.jwksFetches.Load() != 2 {
		t.Errorf("unknown kid after a minute: %d, %d fetches", code, e.jwksFetches.Load())
	}
	resp, _ := e.postToken(tokenForm(sign(t, jose.ES384, newKey, "ec9", e.claims("ehr-ec"), nil), "system/Patient.rs"))
	resp2, _ := e.postToken(tokenForm(sign(t, jose.ES384, newKey, "ec8", e.claims("ehr-ec"), nil), "system/Patient.rs"))
	if resp.StatusCode != 401 || resp2.StatusCode != 401 || e.jwksFetches.Load() != 2 {
		t.Errorf("unknown kids refetched: %d fetches", e.jwksFetches.Load())
	}
	// Past max-age the set is fetched again; a kid on two fitting keys
	// selects none.
	e.jwksBody.Store([]byte(publicJWKS(t, jose.JSONWebKey{Key: &e.ecKey.PublicKey, KeyID: "dup"}, jose.JSONWebKey{Key: &newKey.PublicKey, KeyID: "dup"})))
	e.offset.Store(int64(12 * time.Minute))
	resp, m := e.postToken(tokenForm(sign(t, jose.ES384, newKey, "dup", e.claims("ehr-ec"), nil), "system/Patient.rs"))
	if resp.StatusCode != 401 || e.jwksFetches.Load() != 3 || e.lastAudit()["reason"] != "ambiguous_kid" {
		t.Errorf("ambiguous kid after the cache expired: %d %v, %d fetches", resp.StatusCode, m, e.jwksFetches.Load())
	}
}

// TestAuditLog: one line per token, kick-off, completed poll, download
// and DELETE, with client, route, job and outcome; and no token, key,
// assertion, signature, query value or resource content in the audit log
// or the server log.
func TestAuditLog(t *testing.T) {
	e := newEnv(t)
	a := e.assertion("ehr-rsa")
	resp, m := e.postToken(tokenForm(a, "system/*.read"))
	if resp.StatusCode != 200 {
		t.Fatal(m)
	}
	tok := m["access_token"].(string)
	e.postToken(tokenForm(a, "system/*.read")) // replayed
	status, man := e.export(tok, "/Patient/$export?_typeFilter="+strings.ReplaceAll("Patient?gender=female", "=", "%3D"))
	if resp, _ := e.do("GET", man.url("Patient"), tok); resp.StatusCode != 200 {
		t.Fatal("download")
	}
	if resp, _ := e.do("DELETE", status, tok); resp.StatusCode != 202 {
		t.Fatal("delete")
	}
	e.do("GET", e.base+"/Group", "stolen-looking-token")
	clinic := e.token("clinic", "system/*.rs")
	_, cm := e.export(clinic, "/Group/riverside/$export")
	e.do("GET", cm.url("Patient"), "")

	job := status[strings.LastIndex(status, "/")+1:]
	want := []map[string]any{
		{"event": "token", "client_id": "ehr-rsa", "outcome": "ok"},
		{"event": "token", "client_id": "ehr-rsa", "outcome": "refused", "reason": "replayed_jti"},
		{"event": "export.kickoff", "client_id": "ehr-rsa", "route": "/fhir/Patient/$export", "job": job, "outcome": "ok"},
		{"event": "export.complete", "client_id": "ehr-rsa", "route": "/fhir/bulkstatus/{job}", "job": job, "outcome": "ok"},
		{"event": "file.download", "client_id": "ehr-rsa", "job": job, "file": "output/" + fileName(man.url("Patient")), "outcome": "ok"},
		{"event": "export.delete", "client_id": "ehr-rsa", "job": job, "outcome": "ok"},
		{"event": "access.refused", "route": "/fhir/Group", "outcome": "refused", "reason": "invalid_token"},
		{"event": "file.download", "client_id": "clinic", "outcome": "ok"},
	}
	lines := e.audit()
	i := 0
	for _, l := range lines {
		if i < len(want) && matches(l, want[i]) {
			i++
		}
		if _, err := time.Parse(time.RFC3339Nano, l["time"].(string)); err != nil {
			t.Errorf("audit time %v", l["time"])
		}
	}
	if i < len(want) {
		t.Errorf("audit log lacks %v (in order); it has:\n%v", want[i], lines)
	}
	raw, _ := os.ReadFile(filepath.Join(e.dir, "audit.log"))
	logs := string(raw) + e.log.String()
	keys, _ := os.ReadFile(filepath.Join(e.dir, "data", "auth", "token-keys.json"))
	var set struct{ Keys []map[string]any }
	json.Unmarshal(keys, &set)
	secrets := append([]string{a, set.Keys[0]["d"].(string), "gender", "female", "Bearer", "stolen-looking-token"}, e.tokens...)
	for _, o := range cm.Output {
		secrets = append(secrets, o.URL[strings.Index(o.URL, "signature=")+len("signature="):])
	}
	for _, s := range secrets {
		for _, part := range append([]string{s}, strings.Split(s, ".")...) {
			if len(part) >= 6 && strings.Contains(logs, part) {
				t.Errorf("logs contain a secret or a query value: %.20s…", part)
			}
		}
	}
}

func fileName(u string) string {
	u = u[strings.LastIndex(u, "/")+1:]
	if i := strings.Index(u, "?"); i >= 0 {
		u = u[:i]
	}
	return u
}

func matches(l, want map[string]any) bool {
	for k, v := range want {
		if l[k] != v {
			return false
		}
	}
	return true
}

// TestMetricsOpenSwitch: auth.metrics: open lets scrapers in without a
// token, and only there.
func TestMetricsOpenSwitch(t *testing.T) {
	e := newEnv(t)
	metrics := strings.TrimSuffix(e.base, "/fhir") + "/metrics"
	if resp, _ := e.do("GET", metrics, ""); resp.StatusCode != 401 {
		t.Errorf("metrics without token by default: %d", resp.StatusCode)
	}
	if resp, _ := e.do("GET", metrics, e.token("clinic", "system/*.rs")); resp.StatusCode != 200 {
		t.Errorf("metrics with a token: %d", resp.StatusCode)
	}
	cfg, err := config.Load(e.cfgPath)
	if err != nil {
		t.Fatal(err)
	}
	cfg.Auth.Metrics = "open"
	if err := e.svc.Apply(cfg); err != nil {
		t.Fatal(err)
	}
	if resp, _ := e.do("GET", metrics, ""); resp.StatusCode != 200 {
		t.Errorf("open metrics: %d", resp.StatusCode)
	}
	if resp, _ := e.do("GET", e.base+"/Group", ""); resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("open metrics opened another route: %d", resp.StatusCode)
	}
}
