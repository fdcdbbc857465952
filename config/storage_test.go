package config

import (
	"strings"
	"testing"
	"time"
)

func TestStorage(t *testing.T) {
	t.Setenv("IISB_TEST_S3_SECRET", "s3cr3t-value-never-shown")
	c, err := Parse("s.yaml", []byte(`storage:
  kind: s3
  bucket: exports
  endpoint: http://127.0.0.1:7070
  path_style: true
  access_key_id: AKID
  secret_access_key: ${IISB_TEST_S3_SECRET}
  file_urls: redirect
  url_ttl: 10m
  retry_base: 100ms
`))
	if err != nil {
		t.Fatal(err)
	}
	s := c.Storage
	if !s.Object() || s.Kind != "s3" || s.Bucket != "exports" || !s.PathStyle || s.FileURLs != "redirect" ||
		s.URLTTL.Duration != 10*time.Minute || s.RetryBase != 100*time.Millisecond || s.SecretAccessKey != "${IISB_TEST_S3_SECRET}" {
		t.Errorf("storage %+v", s)
	}
	if strings.Contains(s.String(), "IISB_TEST") || strings.Contains(s.String(), "s3cr3t") {
		t.Errorf("String shows the secret: %s", s.String())
	}
}

func TestStorageProblems(t *testing.T) {
	_, err := Parse("s.yaml", []byte(`storage:
  kind: s4
  file_urls: sometimes
  url_ttl: 30d
  part_size: 100
`))
	if err == nil {
		t.Fatal("no error")
	}
	msg := err.Error()
	for _, want := range []string{
		`s.yaml:2:9: storage.kind: want local, s3, azblob or gcs, not "s4"`,
		`s.yaml:3:14: storage.file_urls: want presigned or redirect`,
		`s.yaml:4:12: storage.url_ttl: "30d" is not a duration`,
		`s.yaml:5:14: storage.part_size: want`,
	} {
		if !strings.Contains(msg, want) {
			t.Errorf("missing %q in:\n%s", want, msg)
		}
	}
	_, err = Parse("s.yaml", []byte("auth:\n  clients:\n    - storage: {bucket_name: x}\n"))
	if err == nil || !strings.Contains(err.Error(), `s.yaml:3:17: unknown key "bucket_name" in auth.clients[0].storage`) {
		t.Errorf("unknown key: %v", err)
	}
	_, err = Parse("s.yaml", []byte(`auth:
  clients:
    - client_id: a
      jwks_url: https://keys.example.org/jwks.json
      scopes: [system/*.rs]
      storage:
        kind: azblob
        account_key: ${IISB_TEST_UNSET_VARIABLE}
`))
	msg = err.Error()
	for _, want := range []string{
		"s.yaml:7:9: auth.clients[0].storage.account: required for kind azblob",
		"s.yaml:8:22: auth.clients[0].storage.account_key: environment variable IISB_TEST_UNSET_VARIABLE is not set",
	} {
		if !strings.Contains(msg, want) {
			t.Errorf("missing %q in:\n%s", want, msg)
		}
	}
}

// A secret given literally never appears in a problem.
func TestStorageProblemsHideSecrets(t *testing.T) {
	_, err := Parse("s.yaml", []byte(`storage:
  kind: azblob
  account_key: literal-secret-account-key
  url_ttl: 1s
`))
	if err == nil || strings.Contains(err.Error(), "literal-secret") {
		t.Fatalf("got %v", err)
	}
}
