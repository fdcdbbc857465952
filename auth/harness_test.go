package auth_test

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"

	"github.com/iisbridge/iisbridge/auth"
	"github.com/iisbridge/iisbridge/config"
	"github.com/iisbridge/iisbridge/fhirout"
	"github.com/iisbridge/iisbridge/pipeline"
	"github.com/iisbridge/iisbridge/server"
)

// fakeExporter serves four Patients with one Immunization each.
type fakeExporter struct{}

func (fakeExporter) ResourceTypes() []string { return []string{"Patient", "Immunization"} }

func (fakeExporter) Export(ctx context.Context, q pipeline.Query, sink pipeline.Sink) error {
	for _, id := range []string{"p1", "p2", "p3", "p4"} {
		if q.PatientIDs != nil && !slices.Contains(q.PatientIDs, id) {
			continue
		}
		if slices.Contains(q.Types, "Patient") {
			p := fhirout.NewResource("Patient")
			p.Set("id", id)
			p.Set("gender", "female")
			if err := sink.Resource(p); err != nil {
				return err
			}
		}
		if slices.Contains(q.Types, "Immunization") {
			im := fhirout.NewResource("Immunization")
			im.Set("id", "i-"+id)
			im.Set("status", "completed")
			im.Child("patient").Set("reference", "Patient/"+id)
			if err := sink.Resource(im); err != nil {
				return err
			}
		}
	}
	return nil
}

type syncBuf struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuf) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuf) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// env is a real server with real authorization over HTTP, three clients:
//   - ehr-rsa: inline RS384 key "rsa1", system/*.read, system and Patient export
//   - ehr-ec:  ES384 key "ec1" at a jwks_url, Patient and Immunization, Patient export
//   - clinic:  inline ES384 key "c1", system/*.rs, Group riverside only, signed file URLs
type env struct {
	t                *testing.T
	dir, cfgPath     string
	base, tokenURL   string
	svc              *auth.Service
	srv              *server.Server
	ts, jwks         *httptest.Server
	rsaKey           *rsa.PrivateKey
	ecKey, clinicKey *ecdsa.PrivateKey
	offset           atomic.Int64 // added to the auth clock
	log              *syncBuf
	jwksFetches      atomic.Int64
	jwksBody         atomic.Value // []byte
	tokens           []string     // every access token handed out
}

var (
	keysOnce  sync.Once
	rsaShared *rsa.PrivateKey
	ecShared  *ecdsa.PrivateKey
	ecClinic  *ecdsa.PrivateKey
)

func genKeys(t *testing.T) {
	keysOnce.Do(func() {
		var err error
		if rsaShared, err = rsa.GenerateKey(rand.Reader, 2048); err != nil {
			t.Fatal(err)
		}
		ecShared, _ = ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
		ecClinic, _ = ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	})
}

func publicJWKS(t *testing.T, keys ...jose.JSONWebKey) string {
	b, err := json.Marshal(jose.JSONWebKeySet{Keys: keys})
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

const cfgTemplate = `base_url: %s
data_dir: %s
auth:
  audit_log: %s
  clients:
    - client_id: ehr-rsa
      jwks: %s
      scopes: [system/*.read]
      system_export: true
      patient_export: true
    - client_id: ehr-ec
      jwks_url: %s
      insecure_jwks_url: true
      scopes: [system/Patient.rs, system/Immunization.rs]
      patient_export: true
    - client_id: clinic
      jwks: %s
      scopes: [system/*.rs]
      groups: [riverside]
      file_urls: signed
%s`

func (e *env) writeConfig(extra string) {
	e.t.Helper()
	body := fmt.Sprintf(cfgTemplate, e.base, filepath.Join(e.dir, "data"), filepath.Join(e.dir, "audit.log"),
		publicJWKS(e.t, jose.JSONWebKey{Key: &e.rsaKey.PublicKey, KeyID: "rsa1"}),
		e.jwks.URL+"/jwks.json",
		publicJWKS(e.t, jose.JSONWebKey{Key: &e.clinicKey.PublicKey, KeyID: "c1"}), extra)
	if err := os.WriteFile(e.cfgPath, []byte(body), 0o600); err != nil {
		e.t.Fatal(err)
	}
}

// reload re-reads the config file and applies its clients, as the serve
// loop does on a change or SIGHUP (config.Load, then auth's hook).
func (e *env) reload() error {
	cfg, err := config.Load(e.cfgPath)
	if err != nil {
		return err
	}
	return e.svc.ReloadClients(cfg)
}

func newEnv(t *testing.T) *env {
	t.Helper()
	genKeys(t)
	e := &env{t: t, dir: t.TempDir(), rsaKey: rsaShared, ecKey: ecShared, clinicKey: ecClinic, log: &syncBuf{}}
	e.jwksBody.Store([]byte(publicJWKS(t, jose.JSONWebKey{Key: &e.ecKey.PublicKey, KeyID: "ec1"})))
	e.jwks = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		e.jwksFetches.Add(1)
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("Cache-Control", "max-age=600")
		w.Write(e.jwksBody.Load().([]byte))
	}))
	t.Cleanup(e.jwks.Close)
	e.ts = httptest.NewUnstartedServer(nil)
	e.base = "http://" + e.ts.Listener.Addr().String() + "/fhir"
	e.tokenURL = server.TokenURL(e.base)
	os.MkdirAll(filepath.Join(e.dir, "data"), 0o700)
	e.cfgPath = filepath.Join(e.dir, "iisbridge.yaml")
	e.writeConfig("")
	e.open()
	e.ts.Start()
	t.Cleanup(e.close)
	return e
}

func (e *env) now() time.Time { return time.Now().Add(time.Duration(e.offset.Load())) }

func (e *env) open() {
	e.t.Helper()
	cfg, err := config.Load(e.cfgPath)
	if err != nil {
		e.t.Fatal(err)
	}
	log := slog.New(slog.NewTextHandler(e.log, &slog.HandlerOptions{Level: slog.LevelDebug}))
	e.svc, err = auth.Open(auth.Options{Config: cfg, DataDir: filepath.Join(cfg.DataDir, "auth"), BaseURL: e.base,
		TokenURL: e.tokenURL, Logger: log, Now: e.now})
	if err != nil {
		e.t.Fatal(err)
	}
	e.srv, err = server.New(server.Options{
		Exporter: fakeExporter{}, DataDir: filepath.Join(cfg.DataDir, "export"), BaseURL: e.base,
		Authorizer: e.svc, TokenURL: e.tokenURL, TokenEndpoint: e.svc.TokenHandler(),
		URLSigner: e.svc, URLVerifier: e.svc, Auditor: e.svc,
		RetryAfter: time.Second, MinPollSpacing: time.Millisecond, PerClient: 3,
		StaticGroups: []server.StaticGroup{
			{ID: "riverside", Name: "Riverside Pediatrics", Members: []string{"p1", "p2"}},
			{ID: "lakeside", Name: "Lakeside Clinic", Members: []string{"p3"}},
		},
		Logger: log,
	})
	if err != nil {
		e.t.Fatal(err)
	}
	e.ts.Config.Handler = e.srv.Handler()
}

func (e *env) close() {
	if e.srv == nil {
		return
	}
	e.ts.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	e.srv.Close(ctx)
	e.svc.Close()
	e.srv = nil
}

// claims are the claims of a good assertion for client id.
func (e *env) claims(id string) map[string]any {
	var jti [12]byte
	rand.Read(jti[:])
	return map[string]any{"iss": id, "sub": id, "aud": e.tokenURL, "exp": e.now().Add(4 * time.Minute).Unix(),
		"jti": hex.EncodeToString(jti[:])}
}

// sign makes a compact JWS of claims. kid "" leaves the kid out; hdr adds
// header fields.
func sign(t *testing.T, alg jose.SignatureAlgorithm, key any, kid string, claims map[string]any, hdr map[string]any) string {
	t.Helper()
	opts := (&jose.SignerOptions{}).WithType("JWT")
	for k, v := range hdr {
		opts.WithHeader(jose.HeaderKey(k), v)
	}
	sk := jose.SigningKey{Algorithm: alg, Key: key}
	if kid != "" {
		sk.Key = jose.JSONWebKey{Key: key, KeyID: kid}
	}
	s, err := jose.NewSigner(sk, opts)
	if err != nil {
		t.Fatal(err)
	}
	payload, _ := json.Marshal(claims)
	obj, err := s.Sign(payload)
	if err != nil {
		t.Fatal(err)
	}
	out, err := obj.CompactSerialize()
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// unsigned makes an alg "none" JWT.
func unsigned(claims map[string]any, kid string) string {
	h, _ := json.Marshal(map[string]any{"alg": "none", "typ": "JWT", "kid": kid})
	c, _ := json.Marshal(claims)
	return base64.RawURLEncoding.EncodeToString(h) + "." + base64.RawURLEncoding.EncodeToString(c) + "."
}

// assertion is a good assertion for a client, signed with its own key.
func (e *env) assertion(id string) string {
	switch id {
	case "ehr-rsa":
		return sign(e.t, jose.RS384, e.rsaKey, "rsa1", e.claims(id), nil)
	case "ehr-ec":
		return sign(e.t, jose.ES384, e.ecKey, "ec1", e.claims(id), nil)
	case "clinic":
		return sign(e.t, jose.ES384, e.clinicKey, "c1", e.claims(id), nil)
	}
	e.t.Fatalf("no client %s", id)
	return ""
}

func tokenForm(assertion, scope string) url.Values {
	return url.Values{"grant_type": {"client_credentials"},
		"client_assertion_type": {"urn:ietf:params:oauth:client-assertion-type:jwt-bearer"},
		"client_assertion":      {assertion}, "scope": {scope}}
}

// postToken sends a token request and decodes the JSON answer.
func (e *env) postToken(form url.Values) (*http.Response, map[string]any) {
	e.t.Helper()
	resp, err := http.Post(e.tokenURL, "application/x-www-form-urlencoded", strings.NewReader(form.Encode()))
	if err != nil {
		e.t.Fatal(err)
	}
	defer resp.Body.Close()
	var m map[string]any
	b, _ := io.ReadAll(resp.Body)
	if err := json.Unmarshal(b, &m); err != nil {
		e.t.Fatalf("token answer is not JSON: %s", b)
	}
	if at, ok := m["access_token"].(string); ok {
		e.tokens = append(e.tokens, at)
	}
	return resp, m
}

// token gets an access token for a client.
func (e *env) token(id, scope string) string {
	e.t.Helper()
	resp, m := e.postToken(tokenForm(e.assertion(id), scope))
	if resp.StatusCode != 200 {
		e.t.Fatalf("token for %s: %d %v", id, resp.StatusCode, m)
	}
	return m["access_token"].(string)
}

// do sends a request with an optional bearer token and header pairs.
func (e *env) do(method, u, token string, hdr ...string) (*http.Response, string) {
	e.t.Helper()
	req, _ := http.NewRequest(method, u, nil)
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	resp, err := http.DefaultTransport.RoundTrip(req)
	if err != nil {
		e.t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	return resp, string(b)
}

var kick = []string{"Accept", "application/fhir+json", "Prefer", "respond-async"}

// export kicks off and waits for the manifest.
func (e *env) export(token, path string) (statusURL string, m manifest) {
	e.t.Helper()
	resp, b := e.do("GET", e.base+path, token, kick...)
	if resp.StatusCode != 202 {
		e.t.Fatalf("kick-off %s: %d %s", path, resp.StatusCode, b)
	}
	statusURL = resp.Header.Get("Content-Location")
	deadline := time.Now().Add(10 * time.Second)
	for {
		resp, b := e.do("GET", statusURL, token, "Accept", "application/json")
		switch resp.StatusCode {
		case 200:
			if err := json.Unmarshal([]byte(b), &m); err != nil {
				e.t.Fatal(err)
			}
			return statusURL, m
		case 202, 429:
			if time.Now().After(deadline) {
				e.t.Fatal("export did not finish")
			}
			time.Sleep(20 * time.Millisecond)
		default:
			e.t.Fatalf("status: %d %s", resp.StatusCode, b)
		}
	}
}

type manifest struct {
	RequiresAccessToken bool `json:"requiresAccessToken"`
	Output              []struct {
		Type  string `json:"type"`
		URL   string `json:"url"`
		Count int    `json:"count"`
	} `json:"output"`
}

func (m manifest) types() []string {
	var ts []string
	for _, o := range m.Output {
		ts = append(ts, o.Type)
	}
	slices.Sort(ts)
	return ts
}

func (m manifest) url(typ string) string {
	for _, o := range m.Output {
		if o.Type == typ {
			return o.URL
		}
	}
	return ""
}

func readFile(p string) ([]byte, error) { return os.ReadFile(p) }

// audit returns the audit log's lines, decoded.
func (e *env) audit() []map[string]any {
	e.t.Helper()
	b, err := os.ReadFile(filepath.Join(e.dir, "audit.log"))
	if err != nil {
		e.t.Fatal(err)
	}
	var out []map[string]any
	for _, l := range strings.Split(strings.TrimSpace(string(b)), "\n") {
		var m map[string]any
		if err := json.Unmarshal([]byte(l), &m); err != nil {
			e.t.Fatalf("audit line %q: %v", l, err)
		}
		out = append(out, m)
	}
	return out
}

func (e *env) lastAudit() map[string]any {
	a := e.audit()
	return a[len(a)-1]
}
