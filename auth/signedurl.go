package auth

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"time"

	"iisbridge/server"
)

// urlKeyFile holds the HMAC key of signed file URLs.
const urlKeyFile = "url-signing.key"

// Query parameters of a signed file URL.
const (
	qClient  = "client_id"
	qExpires = "expires"
	qSig     = "signature"
)

type urlSigner struct {
	key []byte
	now func() time.Time
}

func openURLSigner(dir string, now func() time.Time) (*urlSigner, error) {
	path := filepath.Join(dir, urlKeyFile)
	key, err := os.ReadFile(path)
	if os.IsNotExist(err) {
		key = make([]byte, 32)
		rand.Read(key)
		err = writeSecret(path, key)
	}
	if err != nil {
		return nil, fmt.Errorf("auth: URL signing key: %w", err)
	}
	if len(key) < 32 {
		return nil, fmt.Errorf("auth: URL signing key %s is shorter than 32 bytes", path)
	}
	return &urlSigner{key: key, now: now}, nil
}

func (u *urlSigner) mac(f server.FileRef, expires int64) string {
	h := hmac.New(sha256.New, u.key)
	// Length-prefixed fields: no two (job, file, client, expiry) tuples
	// share an input.
	for _, v := range []string{f.Job, f.Kind, f.Name, f.Client, strconv.FormatInt(expires, 10)} {
		fmt.Fprintf(h, "%d:%s", len(v), v)
	}
	return base64.RawURLEncoding.EncodeToString(h.Sum(nil))
}

// SignFileURL appends client, expiry and signature to a file URL
// (server.FileURLSigner).
func (s *Service) SignFileURL(fileURL string, f server.FileRef) (string, error) {
	exp := s.urls.now().Add(SignedURLTTL).Unix()
	q := url.Values{}
	q.Set(qClient, f.Client)
	q.Set(qExpires, strconv.FormatInt(exp, 10))
	q.Set(qSig, s.urls.mac(f, exp))
	return fileURL + "?" + q.Encode(), nil
}

// VerifyFileURL checks a signed file URL (server.FileURLVerifier).
func (s *Service) VerifyFileURL(r *http.Request, f server.FileRef) (string, bool, error) {
	q := r.URL.Query()
	if !q.Has(qSig) && !q.Has(qExpires) {
		return "", false, nil
	}
	f.Client = q.Get(qClient)
	exp, err := strconv.ParseInt(q.Get(qExpires), 10, 64)
	if err != nil || f.Client == "" || q.Get(qSig) == "" {
		return "", true, errors.New("malformed signed URL: fetch the manifest again for fresh links")
	}
	want := s.urls.mac(f, exp)
	if !hmac.Equal([]byte(want), []byte(q.Get(qSig))) {
		return "", true, errors.New("the URL's signature does not match this file: use the links of the manifest as given")
	}
	if !s.urls.now().Before(time.Unix(exp, 0)) {
		return "", true, errors.New("this signed URL has expired: fetch the manifest again for fresh links")
	}
	if s.lookup(f.Client) == nil {
		return "", true, errors.New("the client of this signed URL is no longer registered")
	}
	return f.Client, true, nil
}
