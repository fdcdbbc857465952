package auth

import (
	"io"
	"log/slog"
	"net/http/httptest"
	"path/filepath"
	"testing"

	"github.com/iisbridge/iisbridge/config"
)

// BenchmarkAuthorize is the cost the resource server adds per request
// (not per resource): parse and verify an ES256 access token, look up the
// client, build the Principal.
func BenchmarkAuthorize(b *testing.B) {
	dir := b.TempDir()
	cfg, err := config.Parse(filepath.Join(dir, "c.yaml"), []byte(`data_dir: `+dir+`
auth:
  clients:
    - client_id: bench
      jwks_url: https://keys.example.org/jwks.json
      scopes: [system/*.rs]
      system_export: true
`))
	if err != nil {
		b.Fatal(err)
	}
	s, err := Open(Options{Config: cfg, DataDir: filepath.Join(dir, "auth"), BaseURL: "https://iis.example.org/fhir",
		TokenURL: "https://iis.example.org/fhir/auth/token", Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	tok, err := s.issue("bench", "system/*.rs")
	if err != nil {
		b.Fatal(err)
	}
	r := httptest.NewRequest("GET", "https://iis.example.org/fhir/bulkstatus/x", nil)
	r.Header.Set("Authorization", "Bearer "+tok)
	b.ReportAllocs()
	for b.Loop() {
		if p, err := s.Authorize(r); err != nil || p.ClientID != "bench" {
			b.Fatal(p, err)
		}
	}
}
