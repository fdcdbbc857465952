package main

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"

	"github.com/iisbridge/iisbridge/config"
	"github.com/iisbridge/iisbridge/server"
)

// TestServeWithAuth: serve with auth.clients uses SMART Backend Services:
// no token is 401, a token from the token endpoint exports, and the
// manifest's counts match the files.
func TestServeWithAuth(t *testing.T) {
	dir := t.TempDir()
	_, _, cfg := genWorld(t, dir)
	key, _ := ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	jwk, _ := json.Marshal(jose.JSONWebKey{Key: &key.PublicKey, KeyID: "k1"})
	var jm map[string]any
	json.Unmarshal(jwk, &jm)
	cfg.Auth.Clients = []config.Client{{ClientID: "registry-reporting", JWKS: map[string]any{"keys": []any{jm}},
		Scopes: []string{"system/*.rs"}, SystemExport: true}}
	br, c, _ := startBridge(t, cfg, false)
	get := func(u, tok string, hdr ...string) (*http.Response, string) {
		req, _ := http.NewRequest("GET", u, nil)
		if tok != "" {
			req.Header.Set("Authorization", "Bearer "+tok)
		}
		for i := 0; i+1 < len(hdr); i += 2 {
			req.Header.Set(hdr[i], hdr[i+1])
		}
		resp, err := c.hc.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		return resp, string(b)
	}
	kick := []string{"Accept", "application/fhir+json", "Prefer", "respond-async"}
	if resp, _ := get(c.base+"/$export", "", kick...); resp.StatusCode != 401 {
		t.Fatalf("no token: %d", resp.StatusCode)
	}
	tokenURL := c.base + "/auth/token"
	signer, _ := jose.NewSigner(jose.SigningKey{Algorithm: jose.ES384, Key: jose.JSONWebKey{Key: key, KeyID: "k1"}}, (&jose.SignerOptions{}).WithType("JWT"))
	assertion, err := jwt.Signed(signer).Claims(jwt.Claims{Issuer: "registry-reporting", Subject: "registry-reporting",
		Audience: jwt.Audience{tokenURL}, Expiry: jwt.NewNumericDate(time.Now().Add(4 * time.Minute)), ID: "once"}).Serialize()
	if err != nil {
		t.Fatal(err)
	}
	resp, err := c.hc.PostForm(tokenURL, url.Values{"grant_type": {"client_credentials"}, "scope": {"system/*.rs"},
		"client_assertion_type": {"urn:ietf:params:oauth:client-assertion-type:jwt-bearer"}, "client_assertion": {assertion}})
	if err != nil {
		t.Fatal(err)
	}
	var tr struct {
		AccessToken string `json:"access_token"`
	}
	json.NewDecoder(resp.Body).Decode(&tr)
	resp.Body.Close()
	if resp.StatusCode != 200 || tr.AccessToken == "" {
		t.Fatalf("token: %d", resp.StatusCode)
	}
	resp, b := get(c.base+"/$export?_type=Patient,Immunization", tr.AccessToken, kick...)
	if resp.StatusCode != 202 {
		t.Fatalf("kick-off: %d %s", resp.StatusCode, b)
	}
	status := resp.Header.Get("Content-Location")
	var m manifest
	for deadline := time.Now().Add(60 * time.Second); ; time.Sleep(200 * time.Millisecond) {
		resp, b := get(status, tr.AccessToken)
		if resp.StatusCode == 200 {
			json.Unmarshal([]byte(b), &m)
			break
		}
		if resp.StatusCode != 202 && resp.StatusCode != 429 || time.Now().After(deadline) {
			t.Fatalf("status: %d %s", resp.StatusCode, b)
		}
	}
	if m.RequiresAccessToken == nil || !*m.RequiresAccessToken || len(m.Output) == 0 {
		t.Fatalf("manifest: %+v", m)
	}
	for _, f := range m.Output {
		if resp, _ := get(f.URL, ""); resp.StatusCode != 401 {
			t.Errorf("file without token: %d", resp.StatusCode)
		}
		resp, b := get(f.URL, tr.AccessToken)
		if n := strings.Count(b, "\n"); resp.StatusCode != 200 || n != f.Count {
			t.Errorf("%s: %d, %d lines, manifest %d", f.URL, resp.StatusCode, n, f.Count)
		}
	}
	if _, err := os.Stat(filepath.Join(cfg.DataDir, "auth", "audit.log")); err != nil {
		t.Errorf("default audit log: %v", err)
	}
	// Clients follow a reloaded configuration through the one reload
	// loop's auth hook: a removed client's tokens stop working at once.
	next := *cfg
	next.Auth.Clients = []config.Client{{ClientID: "another", JWKS: cfg.Auth.Clients[0].JWKS, Scopes: []string{"system/*.rs"}, SystemExport: true}}
	ran := false
	for _, h := range br.hooks {
		if h.name == "auth clients" {
			if err := h.fn(context.Background(), &next); err != nil {
				t.Fatal(err)
			}
			ran = true
		}
	}
	if !ran {
		t.Fatal("no auth hook in the reload loop")
	}
	if resp, _ := get(c.base+"/$export?_type=Patient", tr.AccessToken, kick...); resp.StatusCode != 401 {
		t.Errorf("token of a removed client after reload: %d", resp.StatusCode)
	}
}

func TestAuthRotateKeyCommand(t *testing.T) {
	dir := t.TempDir()
	for i := 0; i < 3; i++ {
		if code := runAuthRotateKey([]string{"--data", dir}); code != 0 {
			t.Fatalf("exit %d", code)
		}
	}
	b, err := os.ReadFile(filepath.Join(dir, "auth", "token-keys.json"))
	if err != nil {
		t.Fatal(err)
	}
	var set jose.JSONWebKeySet
	if err := json.Unmarshal(b, &set); err != nil || len(set.Keys) != 2 {
		t.Errorf("keys after three rotations: %d, %v (want the current and the previous)", len(set.Keys), err)
	}
	if code := runAuthRotateKey([]string{"--data", dir, "extra"}); code != 2 {
		t.Errorf("extra argument: exit %d", code)
	}
}

// `iisbridge client export` against `iisbridge serve` with auth on, keys
// from `client keygen`: system and Patient level by an RS384 client with
// bearer file URLs, Group level by an ES384 client bound to its Group with
// signed file URLs; every file's lines equal the manifest's count.
func TestClientExportWithAuthOn(t *testing.T) {
	t.Parallel()
	_, truth, cfg := genWorld(t, t.TempDir())
	members := map[string]int{}
	for _, l := range truth.Links {
		members[l.OrgKey]++
	}
	org := ""
	for k, n := range members {
		if org == "" || n > members[org] || n == members[org] && k < org {
			org = k
		}
	}
	group := server.OrgGroupID(org)
	keys := t.TempDir()
	jwks := func(alg string) map[string]any {
		dir := filepath.Join(keys, alg)
		var out, errb bytes.Buffer
		if code := clientKeygen([]string{"--alg", alg, "--out", dir}, &out, &errb); code != 0 {
			t.Fatalf("keygen %s: %s", alg, errb.String())
		}
		b, _ := os.ReadFile(filepath.Join(dir, "jwks.json"))
		var m map[string]any
		if err := json.Unmarshal(b, &m); err != nil {
			t.Fatal(err)
		}
		return m
	}
	cfg.Auth.Clients = []config.Client{
		{ClientID: "state-program", JWKS: jwks("RS384"), Scopes: []string{"system/*.read"}, SystemExport: true, PatientExport: true},
		{ClientID: "clinic", JWKS: jwks("ES384"), Scopes: []string{"system/*.rs"}, Groups: []string{group}, FileURLs: "signed"},
	}
	_, c, _ := startBridge(t, cfg, false)
	for _, tc := range []struct {
		client, alg string
		level       []string
		signed      bool
	}{
		{"state-program", "RS384", []string{"--system"}, false},
		{"state-program", "RS384", []string{"--patient-level", "--type", "Patient,Immunization"}, false},
		{"clinic", "ES384", []string{"--group", group}, true},
	} {
		t.Run(tc.level[0], func(t *testing.T) {
			out := filepath.Join(t.TempDir(), "out")
			code, sum, stderr := runExport(t, append([]string{"--server", c.base, "--client-id", tc.client,
				"--key", filepath.Join(keys, tc.alg, "private.pem"), "--out", out}, tc.level...)...)
			if code != 0 {
				t.Fatalf("exit %d: %s", code, stderr)
			}
			var m struct {
				RequiresAccessToken bool `json:"requiresAccessToken"`
				Output              []struct {
					Type  string `json:"type"`
					URL   string `json:"url"`
					Count int64  `json:"count"`
				} `json:"output"`
			}
			raw, err := os.ReadFile(filepath.Join(out, "manifest.json"))
			if err != nil || json.Unmarshal(raw, &m) != nil {
				t.Fatalf("manifest.json: %v", err)
			}
			if m.RequiresAccessToken == tc.signed || len(m.Output) == 0 {
				t.Errorf("requiresAccessToken %v with signed URLs %v", m.RequiresAccessToken, tc.signed)
			}
			want := map[string]int64{}
			for _, f := range m.Output {
				want[f.Type] += f.Count
				if strings.Contains(f.URL, "signature=") != tc.signed {
					t.Errorf("file URL %s (signed %v)", f.URL, tc.signed)
				}
			}
			got := sum.Resources()
			for typ, n := range want {
				if got[typ] != n {
					t.Errorf("%s: %d lines, manifest %d", typ, got[typ], n)
				}
			}
			if got["Patient"] == 0 || got["Immunization"] == 0 || sum.Tokens == 0 {
				t.Errorf("resources %v, tokens %d", got, sum.Tokens)
			}
		})
	}
}

// A download broken midway resumes with auth on too: Range requests on
// signed file URLs (no token) and on bearer ones.
func TestClientExportResumesWithAuthOn(t *testing.T) {
	t.Parallel()
	_, _, cfg := genWorld(t, t.TempDir())
	keys := filepath.Join(t.TempDir(), "keys")
	var out, errb bytes.Buffer
	if code := clientKeygen([]string{"--alg", "ES384", "--out", keys}, &out, &errb); code != 0 {
		t.Fatalf("keygen: %s", errb.String())
	}
	b, _ := os.ReadFile(filepath.Join(keys, "jwks.json"))
	var jwks map[string]any
	json.Unmarshal(b, &jwks)
	for _, mode := range []string{"signed", "bearer"} {
		t.Run(mode, func(t *testing.T) {
			cfg := *cfg
			cfg.DataDir = filepath.Join(t.TempDir(), "data")
			cfg.Auth.Clients = []config.Client{{ClientID: "c", JWKS: jwks, Scopes: []string{"system/*.rs"}, SystemExport: true, FileURLs: mode}}
			startBreakingFirstDownloads(t, &cfg)
			code, sum, stderr := runExport(t, "--server", cfg.BaseURL, "--system", "--client-id", "c",
				"--key", filepath.Join(keys, "private.pem"), "--out", filepath.Join(t.TempDir(), "out"))
			if code != 0 {
				t.Fatalf("exit %d: %s", code, stderr)
			}
			if len(sum.Files) == 0 {
				t.Fatal("no files")
			}
			for _, f := range sum.Files {
				if f.Resumes != 1 || f.Count == nil || f.Lines != *f.Count {
					t.Errorf("%s %s: resumed %d×, %d lines, count %v", f.Kind, f.Type, f.Resumes, f.Lines, f.Count)
				}
			}
		})
	}
}
