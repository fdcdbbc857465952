package auth

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"

	"github.com/iisbridge/iisbridge/server"
	"github.com/iisbridge/iisbridge/storage"
)

func TestCacheTTL(t *testing.T) {
	for cc, want := range map[string]time.Duration{
		"":                         defaultJWKSCache,
		"max-age=60":               time.Minute,
		"public, max-age=120":      2 * time.Minute,
		"no-store":                 0,
		"max-age=600, no-cache":    0,
		"max-age=99999999":         maxJWKSCache,
		"max-age=junk":             0,
		"must-revalidate, private": defaultJWKSCache,
	} {
		if got := cacheTTL(cc); got != want {
			t.Errorf("cacheTTL(%q) = %v, want %v", cc, got, want)
		}
	}
}

func TestFetchJWKSLimits(t *testing.T) {
	k, _ := ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	good, _ := json.Marshal(jose.JSONWebKeySet{Keys: []jose.JSONWebKey{{Key: &k.PublicKey, KeyID: "k"}}})
	mux := http.NewServeMux()
	mux.HandleFunc("/good", func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Accept") != "application/json" {
			t.Errorf("Accept %q", r.Header.Get("Accept"))
		}
		w.Write(good)
	})
	mux.HandleFunc("/redirect", func(w http.ResponseWriter, r *http.Request) { http.Redirect(w, r, "/good", http.StatusFound) })
	mux.HandleFunc("/huge", func(w http.ResponseWriter, r *http.Request) {
		w.Write(bytes.Repeat([]byte(" "), maxJWKSBytes+1))
	})
	mux.HandleFunc("/slow", func(w http.ResponseWriter, r *http.Request) { time.Sleep(300 * time.Millisecond); w.Write(good) })
	ts := httptest.NewServer(mux)
	defer ts.Close()
	hc := &http.Client{Timeout: 100 * time.Millisecond, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	ctx := context.Background()
	if keys, _, err := fetchJWKS(ctx, hc, ts.URL+"/good", true); err != nil || len(keys) != 1 {
		t.Fatalf("good: %v %v", keys, err)
	}
	for _, c := range []struct {
		path     string
		insecure bool
	}{{"/good", false}, {"/redirect", true}, {"/huge", true}, {"/slow", true}} {
		if _, _, err := fetchJWKS(ctx, hc, ts.URL+c.path, c.insecure); err == nil {
			t.Errorf("%s (insecure %v): fetched", c.path, c.insecure)
		}
	}
}

func TestAuditLogRotates(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "audit.log")
	a, err := openAuditLog(p, 1000, 2)
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 40; i++ {
		a.write(server.AuditEvent{Event: "token", ClientID: "c", Outcome: "ok"})
	}
	a.Close()
	for _, name := range []string{"audit.log", "audit.log.1", "audit.log.2"} {
		fi, err := os.Stat(filepath.Join(dir, name))
		if err != nil || fi.Size() > 1000 || fi.Size() == 0 {
			t.Errorf("%s: %v %v", name, fi, err)
		}
	}
	if _, err := os.Stat(p + ".3"); err == nil {
		t.Error("more rotated files kept than asked")
	}
	b, _ := os.ReadFile(p)
	if !strings.HasPrefix(string(b), `{"time":`) {
		t.Errorf("audit line %q", b)
	}
}

// A URL signed before RotateURLKey still verifies after it (the previous
// key is kept), and new URLs use the new key.
func TestRotateURLKey(t *testing.T) {
	dir := t.TempDir()
	now := func() time.Time { return time.Unix(1_800_000_000, 0) }
	old, err := openURLSigner(dir, now)
	if err != nil {
		t.Fatal(err)
	}
	f := storage.SignedFile{Job: "j1", File: "output/Patient.ndjson", Client: "c", Expires: now().Add(time.Minute)}
	u1, _ := old.signer.Sign("https://h/fhir/bulkfiles", f)
	if err := RotateURLKey(dir); err != nil {
		t.Fatal(err)
	}
	cur, err := openURLSigner(dir, now)
	if err != nil {
		t.Fatal(err)
	}
	u2, _ := cur.signer.Sign("https://h/fhir/bulkfiles", f)
	if u1 == u2 {
		t.Error("same signature after rotation")
	}
	for _, u := range []string{u1, u2} {
		pu, _ := url.Parse(u)
		if c, err := cur.signer.Verify("j1", "output/Patient.ndjson", pu.Query(), now()); err != nil || c != "c" {
			t.Errorf("%s: %q %v", u, c, err)
		}
	}
	if !strings.HasPrefix(u1, "https://h/fhir/bulkfiles/j1/output/Patient.ndjson?") {
		t.Errorf("URL %s", u1)
	}
}
