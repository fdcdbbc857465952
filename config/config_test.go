package config

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func write(t *testing.T, name, body string) string {
	t.Helper()
	dir := t.TempDir()
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestDefaults(t *testing.T) {
	c, err := Parse("empty.yaml", nil)
	if err != nil {
		t.Fatal(err)
	}
	if c.Listen != "127.0.0.1:8080" || c.BaseURL != "http://127.0.0.1:8080/fhir" || c.Manifest != "stu2" {
		t.Errorf("defaults: %+v", c)
	}
	if c.Jobs.Expiry.Duration != time.Hour || c.Jobs.RetryAfter.Duration != 2*time.Second || c.Jobs.Concurrency != 2 {
		t.Errorf("job defaults: %+v", c.Jobs)
	}
	if c.AuthEnabled() {
		t.Error("auth enabled without clients")
	}
}

func TestLoadFull(t *testing.T) {
	c, err := Load("testdata/full.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if c.Listen != "0.0.0.0:9443" || c.BaseURL != "https://iis.example.org/fhir" {
		t.Errorf("listen/base: %q %q", c.Listen, c.BaseURL)
	}
	abs, _ := filepath.Abs("testdata")
	if got := c.DataDir; got != filepath.Join("testdata", "data") && got != filepath.Join(abs, "data") {
		t.Errorf("data dir not resolved against the config: %q", got)
	}
	if len(c.Sources) != 1 || c.Sources[0].Kind != "v2archive" || c.Sources[0].Paths[0] != filepath.Join("testdata", "archive", "*.hl7") {
		t.Errorf("sources: %+v", c.Sources)
	}
	if c.Identity.Kind == 0 || len(c.Identity.Content) == 0 {
		t.Errorf("identity section not kept as a node: %+v", c.Identity)
	}
	if c.Jobs.Expiry.Duration != 30*time.Minute || c.Jobs.RetryAfter.Duration != 3*time.Second || c.Jobs.MaxResources != 5000 {
		t.Errorf("jobs: %+v", c.Jobs)
	}
	if len(c.Auth.Clients) != 2 || c.Auth.Clients[1].JWKS == nil || c.ManifestFor("ehr-b") != "stu4" || c.ManifestFor("plan-a") != "stu2" {
		t.Errorf("clients: %+v", c.Auth.Clients)
	}
	if len(c.Groups.Static) != 1 || c.Groups.Static[0].ID != "riverside-pediatrics" || len(c.Groups.Static[0].Members) != 2 {
		t.Errorf("groups: %+v", c.Groups)
	}
}

func TestProblemsHavePositions(t *testing.T) {
	p := write(t, "bad.yaml", `listen: 127.0.0.1:8080
colour: blue
jobs:
  expiry: soon
  retry_after: 1500ms
  concurency: 3
sources:
  - name: a
    kind: sql
    paths: [nowhere/*.hl7]
auth:
  clients:
    - client_id: c1
      scopes: [system/*.rs]
`)
	_, err := Load(p)
	var ce *Error
	if !errors.As(err, &ce) {
		t.Fatalf("want *Error, got %v", err)
	}
	want := []string{
		"bad.yaml:2:1: unknown key \"colour\"",
		"bad.yaml:6:3: unknown key \"concurency\" in jobs",
	}
	msg := err.Error()
	for _, w := range want {
		if !strings.Contains(msg, w) {
			t.Errorf("missing %q in:\n%s", w, msg)
		}
	}
	// Unknown keys stop value checks; fix them and look again.
	p = write(t, "bad2.yaml", `jobs:
  expiry: soon
  retry_after: 1500ms
  group_inactive_after: 1h
sources:
  - name: a
    kind: kafka
    paths: [nowhere/*.hl7]
auth:
  clients:
    - client_id: c1
      scopes: [system/*.rs]
`)
	_, err = Load(p)
	msg = err.Error()
	for _, w := range []string{
		"bad2.yaml:2:11: jobs.expiry: \"soon\" is not a duration",
		"bad2.yaml:3:16: jobs.retry_after: want whole seconds",
		"bad2.yaml:4:25: jobs.group_inactive_after: want at least 24h0m0s, not 1h0m0s",
		"bad2.yaml:7:11: sources[0]: kind \"kafka\" is not supported (want v2archive or sql)",
		"bad2.yaml:8:13: sources[0].paths[0]: no file matches",
		"bad2.yaml:11:7: auth.clients[0]: give exactly one of jwks_url and jwks",
	} {
		if !strings.Contains(msg, w) {
			t.Errorf("missing %q in:\n%s", w, msg)
		}
	}
}

func TestTypeErrorsReported(t *testing.T) {
	p := write(t, "t.yaml", "jobs:\n  concurrency: many\n")
	_, err := Load(p)
	if err == nil || !strings.Contains(err.Error(), "t.yaml:2:1:") {
		t.Fatalf("want a positioned type error, got %v", err)
	}
}

func TestSlug(t *testing.T) {
	for in, want := range map[string]string{"Riverside Pediatrics": "riverside-pediatrics", "  A&B  clinic ": "a-b-clinic", "ÉCOLE": "cole"} {
		if got := Slug(in); got != want {
			t.Errorf("Slug(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestBaseURLRequiredOnAllInterfaces(t *testing.T) {
	_, err := Parse("c.yaml", []byte("listen: 0.0.0.0:8080\n"))
	if err == nil || !strings.Contains(err.Error(), "c.yaml:1:9: base_url is required") {
		t.Fatalf("got %v", err)
	}
	c, err := Parse("c.yaml", []byte("listen: 0.0.0.0:8080\nbase_url: https://iis.example.org/fhir\n"))
	if err != nil || c.BaseURL != "https://iis.example.org/fhir" {
		t.Fatalf("got %v, %v", c, err)
	}
}

func TestAuthClientProblems(t *testing.T) {
	p := write(t, "a.yaml", `auth:
  file_urls: sometimes
  metrics: public
  clients:
    - client_id: plain-http
      jwks_url: http://keys.example.org/jwks.json
      scopes: [system/*.rs]
    - client_id: granular
      jwks_url: https://keys.example.org/jwks.json
      scopes: ["system/Immunization.rs?status=completed", patient/*.read]
    - client_id: bad-keys
      jwks:
        keys:
          - {kty: EC, crv: P-384, x: p03hh9kzKTwBpfxJXAZJN5HMzoikChqfcqjeuj8QTWgMCsy8c09h8F9SUXimFmHi, y: -vl7WUlfpdqjHFSTwKTdtZVvQufCKNpxrw42fxt_f1w0U4EUN6QCRc421jn8TgSM}
          - {kty: oct, kid: s, k: c2VjcmV0}
      scopes: [system/*.read]
      groups: [riverside]
      system_export: true
      file_urls: maybe
    - client_id: insecure-inline
      insecure_jwks_url: true
      jwks: {keys: []}
      scopes: [system/*.read]
`)
	_, err := Load(p)
	if err == nil {
		t.Fatal("accepted")
	}
	msg := err.Error()
	for _, w := range []string{
		"a.yaml:2:14: auth.file_urls: want bearer or signed",
		"a.yaml:3:12: auth.metrics: want token or open",
		"a.yaml:6:17: auth.clients[0].jwks_url: want https (insecure_jwks_url: true allows http",
		"a.yaml:10:16: auth.clients[1].scopes[0]: scope \"system/Immunization.rs?status=completed\": granular scopes",
		"a.yaml:10:59: auth.clients[1].scopes[1]: scope \"patient/*.read\": only system/ scopes",
		"a.yaml:14:13: auth.clients[2].jwks.keys[0]: kid is required",
		"a.yaml:15:13: auth.clients[2].jwks.keys[1]: holds private key material",
		"a.yaml:11:7: auth.clients[2]: system_export and patient_export reach every patient",
		"a.yaml:19:18: auth.clients[2].file_urls: want bearer or signed",
		"a.yaml:21:26: auth.clients[3].insecure_jwks_url: only meaningful with jwks_url",
	} {
		if !strings.Contains(msg, w) {
			t.Errorf("missing %q in:\n%s", w, msg)
		}
	}
}

func TestOnUnreadable(t *testing.T) {
	c, err := Parse("x.yaml", nil)
	if err != nil || c.Jobs.OnUnreadable != "fail" {
		t.Fatalf("default on_unreadable: %q %v", c.Jobs.OnUnreadable, err)
	}
	c, err = Parse("x.yaml", []byte("jobs:\n  on_unreadable: warn\n"))
	if err != nil || c.Jobs.OnUnreadable != "warn" {
		t.Fatalf("on_unreadable: warn: %+v %v", c, err)
	}
	_, err = Parse("x.yaml", []byte("jobs:\n  on_unreadable: ignore\n"))
	if err == nil || !strings.Contains(err.Error(), "x.yaml:2:18: jobs.on_unreadable: want fail or warn") {
		t.Fatalf("bad on_unreadable: %v", err)
	}
}

func TestHTTPLimits(t *testing.T) {
	c, err := Parse("h.yaml", []byte("http:\n  read_timeout: 20s\n  write_timeout: 2m\n  idle_timeout: 45s\n  max_conns_per_client: 8\n"))
	if err != nil {
		t.Fatal(err)
	}
	h := c.HTTP
	if h.ReadTimeout.Duration != 20*time.Second || h.WriteTimeout.Duration != 2*time.Minute || h.IdleTimeout.Duration != 45*time.Second ||
		h.ReadHeaderTimeout.Duration != 0 || h.MaxConnsPerClient == nil || *h.MaxConnsPerClient != 8 {
		t.Errorf("http: %+v", h)
	}
	_, err = Parse("h.yaml", []byte("http:\n  write_timeout: 10ms\n  idle_timeout: forever\n  max_conns_per_client: 0\n  max_conn: 3\n"))
	if err == nil || !strings.Contains(err.Error(), `h.yaml:5:3: unknown key "max_conn" in http`) {
		t.Fatalf("got %v", err)
	}
	_, err = Parse("h.yaml", []byte("http:\n  write_timeout: 10ms\n  idle_timeout: forever\n  max_conns_per_client: 0\n"))
	for _, w := range []string{
		"h.yaml:2:18: http.write_timeout: want 1s..1h0m0s, not 10ms",
		"h.yaml:3:17: http.idle_timeout: \"forever\" is not a duration",
		"h.yaml:4:25: http.max_conns_per_client: want 1..100000, not 0",
	} {
		if err == nil || !strings.Contains(err.Error(), w) {
			t.Errorf("missing %q in %v", w, err)
		}
	}
}
